"""Sample ECGs a user can try without uploading anything.

For now the one real 12-lead ECG that ships with pydicom (a Mortara ELI 250 resting ECG of a healthy adult,
with the cart's own measurements); the virtual cohort adds one case per disease.
"""

from __future__ import annotations

from pathlib import Path

from pydicom.data import get_testdata_file


def sample_ecgs() -> dict[str, Path]:
    """Display name -> file path of each shipped sample ECG."""
    return {"Real resting ECG, healthy adult (Mortara, DICOM)": Path(get_testdata_file("waveform_ecg.dcm"))}

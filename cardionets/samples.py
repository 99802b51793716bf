"""Sample ECGs a user can try without uploading anything.

The real 12-lead ECG that ships with pydicom (a Mortara ELI 250 resting ECG of a healthy adult, with the cart's
own measurements), and the committed virtual-cohort cases in ``samples/`` (one per disease, each with its
ground truth in ``samples/manifest.csv``; rebuilt by ``python -m cardionets.sim samples``).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from pydicom.data import get_testdata_file

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "samples"
CASE_TITLES = {
    "healthy-a": "healthy", "healthy-b": "healthy", "hcm": "hypertrophic cardiomyopathy",
    "dcm": "dilated cardiomyopathy", "rcm": "restrictive (amyloid-like) cardiomyopathy",
    "ph": "pulmonary hypertension", "mi-anterior": "prior anterior infarction",
    "mi-inferior": "prior inferior infarction", "af": "atrial fibrillation",
}


def virtual_samples() -> pd.DataFrame:
    """The committed virtual cases: one row each, with file paths made absolute."""
    manifest = pd.read_csv(SAMPLES_DIR / "manifest.csv")
    for column in ("ecg_file", "sax_cine", "4ch_cine"):
        manifest[column] = [str(SAMPLES_DIR / path) for path in manifest[column]]
    return manifest


def sample_ecgs() -> dict[str, Path]:
    """Display name -> ECG file of each shipped sample."""
    samples = {"Real resting ECG, healthy adult (Mortara, DICOM)": Path(get_testdata_file("waveform_ecg.dcm"))}
    for row in virtual_samples().itertuples():
        title = CASE_TITLES.get(row.sample, row.sample)
        samples[f"Virtual subject: {title} ({row.ecg_format.upper()})"] = Path(row.ecg_file)
    return samples

"""The small committed sample set: one or two virtual subjects per disease, as files a user would upload.

``python -m cardionets.sim samples --out samples`` rebuilds it: each subject's ECG in one real format (formats
rotate so the app's samples exercise several readers), both cine views and their label maps as NIfTI, and
``manifest.csv`` with every ground-truth phenotype and label.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .cohort import CohortConfig, simulate_subject
from .diseases import DiseaseState
from .export import export_subject

SAMPLE_SEED = 2024
# (name, diagnosis, ECG format)
SAMPLE_CASES = (
    ("healthy-a", DiseaseState(), "dicom"),
    ("healthy-b", DiseaseState(), "wfdb"),
    ("hcm", DiseaseState(hcm=0.7), "muse"),
    ("dcm", DiseaseState(dcm=0.7), "dicom"),
    ("rcm", DiseaseState(rcm=0.7), "wfdb"),
    ("ph", DiseaseState(ph=0.8), "muse"),
    ("mi-anterior", DiseaseState(mi=0.8, mi_territory="LAD"), "dicom"),
    ("mi-inferior", DiseaseState(mi=0.7, mi_territory="RCA"), "wfdb"),
    ("af", DiseaseState(af=0.7), "muse"),
)


def write_samples(directory: Path) -> Path:
    directory = Path(directory)
    rows = []
    for index, (name, disease, ecg_format) in enumerate(SAMPLE_CASES):
        subject = simulate_subject(index, CohortConfig(seed=SAMPLE_SEED, sites=("cheadle",)), disease=disease)
        files = export_subject(subject, directory / name, formats=(ecg_format, "nifti"))
        ecg_file = files[ecg_format]
        rows.append({"sample": name, "ecg_file": str(ecg_file.relative_to(directory)), "ecg_format": ecg_format,
                     **{f"{view}_cine": str(files[f"nifti_{view}"].relative_to(directory)) for view in ("sax", "4ch")},
                     **subject.row})
    manifest = directory / "manifest.csv"
    pd.DataFrame(rows).to_csv(manifest, index=False)
    return manifest

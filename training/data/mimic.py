"""MIMIC-IV-ECG (PhysioNet) -> the prepared format: the large ECG-only set for pretraining the ECG encoder.

Layout, from the PhysioNet release (physionet.org/content/mimic-iv-ecg/1.0) and code that reads it:

    ROOT/record_list.csv   subject_id, study_id, file_name, ecg_time, path; one row per ECG (about 800,000)
    ROOT/files/p1000/p10000032/s40689238/40689238.hea  (+ .dat)
                           ``path`` gives each record without its extension: a folder per first four digits of
                           the subject_id, one per subject, one per study; WFDB, 12 leads, 500 Hz, 10 s

There is no CMR, so no cines and no phenotypes (left unknown). Labels, if any, come from a CSV the researcher
derives (e.g. from MIMIC-IV hospital diagnoses linked by subject_id and time), keyed by ``study_id``, which
identifies one ECG. A patient often has several ECGs: each is its own row, with the patient's MIMIC subject_id as
``subject_id`` (so splitting by subject keeps a patient's ECGs together) and the study_id as ``record_id``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cardionets.ecg import load, model_view

from .convert import Example, SourceError, convert, read_labels

RECORD_LIST = "record_list.csv"
RECORD_LIST_COLUMNS = ("subject_id", "study_id", "path")
SITE = "mimic-iv-ecg"  # one hospital (Beth Israel Deaconess Medical Center, Boston)


@dataclass(frozen=True)
class MimicRecord:
    subject_id: str  # the patient
    record_id: str  # the study_id: one ECG
    header: Path  # the record's .hea file


def prepare_mimic(root: Path, out_dir: Path, with_cine: bool = False, labels_csv: Path | None = None,
                  limit: int | None = None) -> Path:
    """Prepare the ECGs listed in ``root/record_list.csv`` (the first ``limit`` of them if given)."""
    if with_cine:
        raise SourceError("MIMIC-IV-ECG has no CMR images; prepare it without cines (with_cine=False)")
    root = Path(root)
    listing = _record_list(root)
    if limit is not None:
        listing = listing.head(limit)
    labels = read_labels(labels_csv, key="study_id")
    records = [MimicRecord(row.subject_id, row.study_id, root / f"{row.path}.hea")
               for row in listing.itertuples(index=False)]

    def read(record: MimicRecord) -> Example:
        return Example(record.subject_id, SITE, record.record_id, model_view(load(record.header)),
                       labels.of(record.record_id))

    notes = {"root": str(root), "records_listed": len(listing),
             "with_labels": labels.count_of(listing["study_id"])}
    return convert(records, read, out_dir, with_cine=False, source=f"MIMIC-IV-ECG {root}", notes=notes)


def _record_list(root: Path) -> pd.DataFrame:
    path = root / RECORD_LIST
    if not path.is_file():
        raise SourceError(f"No {RECORD_LIST} in {root}; point at the MIMIC-IV-ECG folder that holds it and files/")
    listing = pd.read_csv(path, dtype={column: str for column in RECORD_LIST_COLUMNS})
    missing = [column for column in RECORD_LIST_COLUMNS if column not in listing.columns]
    if missing:
        raise SourceError(f"{path} lacks column(s) {missing}; MIMIC-IV-ECG's record list has subject_id, study_id, "
                          "file_name, ecg_time and path")
    return listing.dropna(subset=list(RECORD_LIST_COLUMNS))

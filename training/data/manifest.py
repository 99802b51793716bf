"""Any other paired data -> the prepared format, through a manifest CSV the researcher writes.

    ecg_path          an ECG in any format `cardionets.ecg.load` reads (a WFDB record by its .hea); required
    sax_cine_path     mid-ventricular short-axis cine as NIfTI          } required when preparing cines
    4ch_cine_path     four-chamber cine as NIfTI                        }
    subject_id        optional; defaults to ecg_path without its suffix
    site              optional; defaults to the manifest's file name
    lvedv_ml ... label_af   any phenotype and label columns by the prepared format's names (blank = unknown)

Paths are relative to the manifest's folder (absolute paths work too). A cine NIfTI holds one slice over time as
(X, Y, 1, T) or (X, Y, T), x along image columns, as DICOM converters (dcm2niix, the UK Biobank cardiac pipeline)
and `cardionets.sim.export` write it; a whole stack (X, Y, Z, T) gives its middle slice. Its voxel size places the
crop (training/data/cine.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd

from cardionets.ecg import load, model_view

from .cine import crop_to_field_of_view
from .convert import Example, SourceError, UnusableSubject, convert, read_table, target_columns, targets_of

CINE_COLUMNS = {"sax": "sax_cine_path", "4ch": "4ch_cine_path"}
TEXT_COLUMNS = ("ecg_path", *CINE_COLUMNS.values(), "subject_id", "site")


@dataclass(frozen=True)
class ManifestRecord:
    position: int  # data row of the manifest
    subject_id: str
    record_id: str  # the ecg_path as written in the manifest


def prepare_manifest(manifest_csv: Path, out_dir: Path, with_cine: bool = True) -> Path:
    """Prepare every row of ``manifest_csv``; returns ``out_dir``."""
    manifest_csv = Path(manifest_csv)
    table = read_table(manifest_csv, text_columns=TEXT_COLUMNS)
    required = ["ecg_path", *(CINE_COLUMNS.values() if with_cine else ())]
    missing = [column for column in required if column not in table.columns]
    if missing:
        raise SourceError(f"{manifest_csv} lacks column(s) {missing}"
                          + ("; without cines, prepare with --no-cine" if with_cine else ""))
    folder, columns = manifest_csv.parent, target_columns(table)
    records = [
        ManifestRecord(position, _text(row.get("subject_id")) or str(Path(str(row["ecg_path"])).with_suffix("")),
                       str(row["ecg_path"]))
        for position, row in table.iterrows()
    ]

    def read(record: ManifestRecord) -> Example:
        row = table.loc[record.position]
        ecg_view = model_view(load(_resolve(folder, row["ecg_path"], "ecg_path")))
        cines = {view: load_cine_nifti(_resolve(folder, row[column], column))
                 for view, column in CINE_COLUMNS.items()} if with_cine else None
        site = _text(row.get("site")) or manifest_csv.stem
        return Example(record.subject_id, site, record.record_id, ecg_view, targets_of(row, columns), cines)

    return convert(records, read, out_dir, with_cine, source=f"manifest {manifest_csv}",
                   notes={"manifest": str(manifest_csv)})


def load_cine_nifti(path: Path) -> np.ndarray:
    """A cine NIfTI -> (T, 96, 96) float32, cropped as every real cine is."""
    try:
        image = nib.load(path)
        volume = np.asarray(image.get_fdata(dtype=np.float32))  # applies the stored scale factor
    except Exception as error:  # nibabel raises many types for damaged files
        raise UnusableSubject(f"{Path(path).name} is not a readable NIfTI ({type(error).__name__}: {error})") \
            from error
    if volume.ndim == 4:
        volume = volume[:, :, volume.shape[2] // 2, :]
    if volume.ndim != 3:
        raise UnusableSubject(f"{Path(path).name} has shape {volume.shape}; a cine is (X, Y, T) or (X, Y, Z, T)")
    column_mm, row_mm = (float(size) for size in image.header.get_zooms()[:2])
    return crop_to_field_of_view(volume.transpose(2, 1, 0), row_mm, column_mm)  # (X, Y, T) -> (T, rows, columns)


def _resolve(folder: Path, value, column: str) -> Path:
    text = _text(value)
    if not text:
        raise UnusableSubject(f"no {column} given")
    return folder / text  # an absolute path stays as it is


def _text(value) -> str:
    return "" if value is None or pd.isna(value) else str(value).strip()

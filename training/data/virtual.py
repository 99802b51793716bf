"""The virtual cohort (a folder made by ``python -m cardionets.sim make``) -> the prepared format.

The cohort already holds what the prepared format needs: canonical ECGs, 96 x 96 cines around the heart with their
label maps, and the ground-truth phenotypes and labels measured on each simulated heart. Each site's scanner has
its own pixel size (`cardionets.sim.sites`), so cines and label maps are cut to the field of view every prepared
cine shares (`training.data.cine`), as a real cine is: a generated cine then has one known scale, whatever site
its training examples came from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cardionets.ecg import ECG, STANDARD_LEADS, ECGMetadata, model_view
from cardionets.sim.dataset import VirtualCohort, shard_name
from cardionets.sim.sites import SITES

from .cine import crop_to_field_of_view
from .convert import Example, SourceError, convert, target_columns, targets_of
from .prepared import VIEWS

# The cohort stores every subject's canonical ECG at the simulator's own rate (cardionets.sim.sites), whatever
# rate the site's cart would record at.
VIRTUAL_ECG_FS_HZ = 500.0
VIRTUAL_ECG_META = ECGMetadata(source_format="virtual cohort", original_fs_hz=VIRTUAL_ECG_FS_HZ,
                               original_leads=STANDARD_LEADS)


@dataclass(frozen=True)
class VirtualRecord:
    position: int  # row of the cohort manifest
    subject_id: str
    record_id: str  # shard and row, where the arrays hold this subject


def prepare_virtual(cohort_dir: Path, out_dir: Path, with_cine: bool = True, workers: int = 1) -> Path:
    """Prepare every subject of the cohort in ``cohort_dir`` (``workers`` processes reading); returns ``out_dir``."""
    cohort_dir = Path(cohort_dir)
    if not (cohort_dir / "cohort.json").is_file():
        raise SourceError(f"{cohort_dir} is not a virtual cohort (no cohort.json); make one with "
                          "`python -m cardionets.sim make`")
    cohort = VirtualCohort(cohort_dir)
    if with_cine and not json.loads((cohort_dir / "cohort.json").read_text())["config"]["with_cmr"]:
        raise SourceError(f"{cohort_dir} was made without CMR (--no-cmr); prepare it with --no-cine")
    manifest = patient_columns(cohort.manifest)
    columns = target_columns(manifest)
    records = [
        VirtualRecord(position, str(row.subject_id), f"{shard_name(int(row.shard))} row {int(row.shard_row)}")
        for position, row in enumerate(manifest.itertuples(index=False))
    ]

    def read(record: VirtualRecord) -> Example:
        row = manifest.iloc[record.position]
        ecg = ECG(cohort.ecg(record.position), VIRTUAL_ECG_FS_HZ, VIRTUAL_ECG_META)
        cines = masks = None
        if with_cine:
            pixel_mm = SITES[str(row["site"])].scanner.pixel_mm
            cines = {view: crop_to_field_of_view(cohort.cine(record.position, view), pixel_mm, pixel_mm)
                     for view in VIEWS}
            masks = {view: crop_to_field_of_view(cohort.labels(record.position, view), pixel_mm, pixel_mm, labels=True)
                     for view in VIEWS}
        return Example(record.subject_id, str(row["site"]), record.record_id, model_view(ecg),
                       targets_of(row, columns), cines, masks)

    return convert(records, read, out_dir, with_cine, source=f"virtual cohort {cohort_dir}",
                   notes={"cohort": str(cohort_dir)}, with_masks=with_cine, workers=workers)


def patient_columns(manifest: pd.DataFrame) -> pd.DataFrame:
    """The cohort's table with the prepared format's patient columns (its "age" in years, "sex" as M / F)."""
    return manifest.assign(age_years=manifest["age"], male=(manifest["sex"] == "M").astype(float))

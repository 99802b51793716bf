"""UK Biobank -> the prepared format: the resting ECG (field 20205), the four-chamber and mid short-axis cines
(fields 20208, 20209), the imaging-derived phenotypes (fields 24100-24157) and labels the researcher derives.

Expected inputs (bulk files keep the names UK Biobank's ukbfetch gives them, ``<eid>_<field>_<instance>_0``, in
any folder layout under ROOT, e.g. one folder per field):

    ROOT/**/<eid>_20205_2_0.xml   resting 12-lead ECG at the imaging visit (GE CardioSoft XML); every subject
                                  needs one
    ROOT/**/<eid>_20208_2_0.zip   long-axis cines (DICOM), for the four-chamber view   } only when preparing
    ROOT/**/<eid>_20209_2_0.zip   short-axis stack (DICOM), for the mid slice          } cines
    phenotypes CSV                an extract with column ``eid`` and fields 24100-24157 of the same instance,
                                  named as ukbconv writes them (``24100-2.0``) or as the Research Analysis
                                  Platform does (``p24100_i2``); field 54 (assessment centre) too, if present,
                                  becomes the site
    labels CSV                    ``eid`` plus any of label_hcm, label_dcm, label_rcm, label_ph, label_mi,
                                  label_af (1, 0 or blank); deriving them (e.g. from ICD-10 codes in field
                                  41270) is the researcher's job, see docs/training.md

Instance 2 is the first imaging visit and 3 the repeat imaging visit; the ECG, the images and the phenotypes are
all taken from the same one.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from cardionets.ecg import load, model_view

from .convert import (
    Example,
    SourceError,
    UnusableSubject,
    check_targets,
    convert,
    read_labels,
    target_columns,
    targets_of,
)
from .ukbiobank_cmr import four_chamber_cine, mid_short_axis_cine

ECG_FIELD = 20205  # ECG at rest, 12-lead
LONG_AXIS_FIELD = 20208  # Long axis heart images - DICOM
SHORT_AXIS_FIELD = 20209  # Short axis heart images - DICOM
CENTRE_FIELD = 54  # UK Biobank assessment centre (at an imaging visit, the imaging centre)
IMAGING_VISIT = 2
DEFAULT_SITE = "ukbiobank"

# Imaging-derived phenotypes of UK Biobank Showcase category 157, produced by Bai et al.'s automated pipeline
# (fields 24100-24181, in Showcase order: the 18 chamber measures, 6 aortic ones, then per AHA segment and global
# wall thickness, circumferential strain, radial strain and longitudinal strain). Units match ours: ml, %, L/min,
# g, mm; circumferential strain is negative (shortening), as ours. Not used: 24118-24123 (aortic areas and
# distensibility), 24158-24174 (radial strain), 24175-24181 (longitudinal strain) - CardioNets predicts none of
# them. Field titles as the Showcase gives them:
PHENOTYPE_FIELDS: dict[int, str] = {
    24100: "lvedv_ml",  # LV end diastolic volume
    24101: "lvesv_ml",  # LV end systolic volume
    24102: "lvsv_ml",  # LV stroke volume
    24103: "lvef_pct",  # LV ejection fraction
    24104: "lvco_l_min",  # LV cardiac output
    24105: "lvm_g",  # LV myocardial mass
    24106: "rvedv_ml",  # RV end diastolic volume
    24107: "rvesv_ml",  # RV end systolic volume
    24108: "rvsv_ml",  # RV stroke volume
    24109: "rvef_pct",  # RV ejection fraction
    24110: "lav_max_ml",  # LA maximum volume
    24111: "lav_min_ml",  # LA minimum volume
    24112: "lasv_ml",  # LA stroke volume
    24113: "laef_pct",  # LA ejection fraction
    24114: "rav_max_ml",  # RA maximum volume
    24115: "rav_min_ml",  # RA minimum volume
    24116: "rasv_ml",  # RA stroke volume
    24117: "raef_pct",  # RA ejection fraction
    24124: "wt_aha1_mm",  # LV mean myocardial wall thickness AHA 1
    24125: "wt_aha2_mm",  # LV mean myocardial wall thickness AHA 2
    24126: "wt_aha3_mm",  # LV mean myocardial wall thickness AHA 3
    24127: "wt_aha4_mm",  # LV mean myocardial wall thickness AHA 4
    24128: "wt_aha5_mm",  # LV mean myocardial wall thickness AHA 5
    24129: "wt_aha6_mm",  # LV mean myocardial wall thickness AHA 6
    24130: "wt_aha7_mm",  # LV mean myocardial wall thickness AHA 7
    24131: "wt_aha8_mm",  # LV mean myocardial wall thickness AHA 8
    24132: "wt_aha9_mm",  # LV mean myocardial wall thickness AHA 9
    24133: "wt_aha10_mm",  # LV mean myocardial wall thickness AHA 10
    24134: "wt_aha11_mm",  # LV mean myocardial wall thickness AHA 11
    24135: "wt_aha12_mm",  # LV mean myocardial wall thickness AHA 12
    24136: "wt_aha13_mm",  # LV mean myocardial wall thickness AHA 13
    24137: "wt_aha14_mm",  # LV mean myocardial wall thickness AHA 14
    24138: "wt_aha15_mm",  # LV mean myocardial wall thickness AHA 15
    24139: "wt_aha16_mm",  # LV mean myocardial wall thickness AHA 16
    24140: "wt_global_mm",  # LV mean myocardial wall thickness global
    24141: "ecc_aha1_pct",  # LV circumferential strain AHA 1
    24142: "ecc_aha2_pct",  # LV circumferential strain AHA 2
    24143: "ecc_aha3_pct",  # LV circumferential strain AHA 3
    24144: "ecc_aha4_pct",  # LV circumferential strain AHA 4
    24145: "ecc_aha5_pct",  # LV circumferential strain AHA 5
    24146: "ecc_aha6_pct",  # LV circumferential strain AHA 6
    24147: "ecc_aha7_pct",  # LV circumferential strain AHA 7
    24148: "ecc_aha8_pct",  # LV circumferential strain AHA 8
    24149: "ecc_aha9_pct",  # LV circumferential strain AHA 9
    24150: "ecc_aha10_pct",  # LV circumferential strain AHA 10
    24151: "ecc_aha11_pct",  # LV circumferential strain AHA 11
    24152: "ecc_aha12_pct",  # LV circumferential strain AHA 12
    24153: "ecc_aha13_pct",  # LV circumferential strain AHA 13
    24154: "ecc_aha14_pct",  # LV circumferential strain AHA 14
    24155: "ecc_aha15_pct",  # LV circumferential strain AHA 15
    24156: "ecc_aha16_pct",  # LV circumferential strain AHA 16
    24157: "ecc_global_pct",  # LV circumferential strain global
}


@dataclass(frozen=True)
class UkbRecord:
    subject_id: str  # the eid
    record_id: str  # the ECG file's name
    ecg_path: Path
    long_axis_zip: Path | None
    short_axis_zip: Path | None


def prepare_ukbiobank(root: Path, out_dir: Path, with_cine: bool = True, phenotypes_csv: Path | None = None,
                      labels_csv: Path | None = None, instance: int = IMAGING_VISIT) -> Path:
    """Prepare every participant with an ECG file under ``root``; returns ``out_dir``."""
    root = Path(root)
    ecgs = bulk_files(root, ECG_FIELD, instance, "xml")
    if not ecgs:
        raise SourceError(f"No ECG files named <eid>_{ECG_FIELD}_{instance}_0.xml under {root}")
    long_axis = bulk_files(root, LONG_AXIS_FIELD, instance, "zip") if with_cine else {}
    short_axis = bulk_files(root, SHORT_AXIS_FIELD, instance, "zip") if with_cine else {}
    phenotypes = read_phenotype_fields(phenotypes_csv, instance) if phenotypes_csv else pd.DataFrame()
    labels = read_labels(labels_csv, key="eid")
    phenotype_columns = target_columns(phenotypes)
    records = [UkbRecord(eid, path.name, path, long_axis.get(eid), short_axis.get(eid))
               for eid, path in sorted(ecgs.items())]

    def read(record: UkbRecord) -> Example:
        ecg_view = model_view(load(record.ecg_path))
        targets, site = {}, DEFAULT_SITE
        if record.subject_id in phenotypes.index:
            row = phenotypes.loc[record.subject_id]
            targets.update(targets_of(row, phenotype_columns))
            site = row.get("site", DEFAULT_SITE)
        targets.update(labels.of(record.subject_id))
        cines = _cines(record) if with_cine else None
        return Example(record.subject_id, site, record.record_id, ecg_view, targets, cines)

    notes = {"root": str(root), "instance": instance, "ecg_files": len(ecgs),
             "with_phenotypes": int(phenotypes.index.isin(list(ecgs)).sum()),
             "with_labels": labels.count_of(ecgs)}
    return convert(records, read, out_dir, with_cine, source=f"UK Biobank {root}", notes=notes)


def _cines(record: UkbRecord) -> dict:
    if record.long_axis_zip is None:
        raise UnusableSubject(f"no long-axis CMR zip (<eid>_{LONG_AXIS_FIELD}_..._0.zip) for {record.subject_id}")
    if record.short_axis_zip is None:
        raise UnusableSubject(f"no short-axis CMR zip (<eid>_{SHORT_AXIS_FIELD}_..._0.zip) for {record.subject_id}")
    return {"4ch": four_chamber_cine(record.long_axis_zip).cropped(),
            "sax": mid_short_axis_cine(record.short_axis_zip).cropped()}


def bulk_files(root: Path, field: int, instance: int, suffix: str) -> dict[str, Path]:
    """eid -> path of every ``<eid>_<field>_<instance>_0.<suffix>`` under ``root``."""
    name = re.compile(rf"(\d+)_{field}_{instance}_0\.{suffix}", re.IGNORECASE)
    found = {}
    for path in sorted(root.rglob(f"*_{field}_{instance}_0.*")):
        match = name.fullmatch(path.name)
        if match:
            found[match.group(1)] = path
    return found


def field_column(columns: Collection[str], field: int, instance: int) -> str | None:
    """The column holding ``field`` at ``instance`` (array index 0) in either export style, or None."""
    for name in (f"{field}-{instance}.0", f"p{field}_i{instance}"):
        if name in columns:
            return name
    return None


def read_phenotype_fields(path: Path, instance: int) -> pd.DataFrame:
    """The imaging-derived phenotypes of ``instance`` in a UK Biobank extract, renamed to our columns and indexed
    by eid; with a ``site`` column when the extract has field 54."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"No such phenotype extract: {path}")
    header = pd.read_csv(path, nrows=0).columns
    if "eid" not in header:
        raise SourceError(f"{path} has no 'eid' column")
    renamed = {column: name for field, name in PHENOTYPE_FIELDS.items()
               if (column := field_column(header, field, instance)) is not None}
    if not renamed:
        raise SourceError(f"{path} holds none of fields 24100-24157 at instance {instance} "
                          f"(columns named like 24100-{instance}.0 or p24100_i{instance})")
    centre = field_column(header, CENTRE_FIELD, instance)
    table = pd.read_csv(path, usecols=["eid", *renamed, *([centre] if centre else [])], dtype={"eid": str})
    table = check_targets(table.rename(columns=renamed), path)
    if table["eid"].duplicated().any():
        raise SourceError(f"{path}: eid {table['eid'][table['eid'].duplicated()].iloc[0]} appears more than once")
    if centre:
        codes = pd.to_numeric(table.pop(centre), errors="coerce")
        table["site"] = [DEFAULT_SITE if pd.isna(code) else f"ukb-centre-{int(code)}" for code in codes]
    return table.set_index("eid")

"""The real ECG sets in one table: PTB-XL, LUDB and the PhysioNet/CinC 2021 samples, each folder holding its
WFDB records and a ``labels.csv`` built from the set's own metadata (see ``../shared/data/README.md``).

    table = real_ecg_table(Path("../shared/data/real-ecg"))   # one row per record, the same columns for every set
    beats = ludb_reference_beats(Path(".../ludb/data/1"))      # the cardiologists' boundaries, per beat

Every row says which set it comes from, the patient (records of one patient share it: group by it when you
cross-validate), age, sex and the labels every set can say something about, 1 / 0 (or missing where a set
cannot tell). A healthy adult is 18 or older with a normal ECG and none of the other labels.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

SETS = ("ptbxl", "ludb", "cinc2021")
LABELS = ("healthy", "af", "mi", "lvh", "lbbb", "rbbb", "paced")
ADULT_YEARS = 18
PTBXL_AGE_CAP = 90  # PTB-XL stores every age above 89 as 300 (de-identification); read as 90


def real_ecg_table(root: Path, sets: tuple[str, ...] = SETS) -> pd.DataFrame:
    """One row per record of the sets found under ``root``: set, record (the .hea path), patient, age_years,
    sex ("M"/"F"), sampling_rate_hz and the LABELS (float: 1, 0, or NaN where the set cannot say)."""
    readers = {"ptbxl": _ptbxl, "ludb": _ludb, "cinc2021": _cinc2021}
    frames = []
    for name in sets:
        labels = Path(root) / name / "labels.csv"
        if labels.is_file():
            frame = readers[name](pd.read_csv(labels), labels.parent)
            frames.append(frame.assign(set=name))
    if not frames:
        raise FileNotFoundError(f"No real ECG set (a folder among {', '.join(SETS)} with a labels.csv) under {root}")
    table = pd.concat(frames, ignore_index=True)
    adult = table["age_years"] >= ADULT_YEARS
    table["healthy"] = (table["healthy"] == 1) & adult & (table[list(LABELS[1:])].fillna(0).sum(axis=1) == 0)
    table["healthy"] = table["healthy"].astype(float)
    return table[["set", "record", "patient", "age_years", "sex", "sampling_rate_hz", *LABELS]]


def _ptbxl(labels: pd.DataFrame, folder: Path) -> pd.DataFrame:
    age = pd.to_numeric(labels["age"], errors="coerce")
    return pd.DataFrame({
        "record": [str(folder / f"{path}.hea") for path in labels["record_path"]],
        "patient": [f"ptbxl-{int(p)}" for p in labels["patient_id"]],
        "age_years": age.where(age < 150, PTBXL_AGE_CAP),
        "sex": labels["sex"].map(_sex), "sampling_rate_hz": labels["sampling_rate_hz"].astype(float),
        "healthy": labels["NORM"], "af": labels["AFIB"], "mi": labels["MI"], "lvh": labels["LVH"],
        "lbbb": labels["LBBB"], "rbbb": labels["RBBB"],
        "paced": labels["scp_codes"].str.contains('"PACE"', regex=False).astype(int),
    }).astype({label: float for label in ("healthy", "af", "mi", "lvh", "lbbb", "rbbb", "paced")})


def _ludb(labels: pd.DataFrame, folder: Path) -> pd.DataFrame:
    conduction = labels["conduction"].fillna("").str.lower()
    return pd.DataFrame({
        "record": [str(folder / f"{path}.hea") for path in labels["record_path"]],
        "patient": [f"ludb-{int(r)}" for r in labels["record_id"]],  # one record per person
        "age_years": pd.to_numeric(labels["age"], errors="coerce"), "sex": labels["sex"].map(_sex),
        "sampling_rate_hz": labels["sampling_rate_hz"].astype(float),
        "healthy": labels["NORMAL_like"], "af": labels["AF"], "mi": labels["MI_or_scar"], "lvh": labels["LVH"],
        "lbbb": conduction.str.contains("left bundle branch block").astype(int),
        "rbbb": conduction.str.contains("right bundle branch block").astype(int), "paced": labels["PACED"],
    }).astype({label: float for label in LABELS})


def _cinc2021(labels: pd.DataFrame, folder: Path) -> pd.DataFrame:
    codes = labels["dx_abbrev"].fillna("").str.split(";")
    return pd.DataFrame({
        "record": [str(folder / f"{path}.hea") for path in labels["record_path"]],
        "patient": [f"cinc2021-{Path(p).name}" for p in labels["record_path"]],  # the samples' patients differ
        "age_years": pd.to_numeric(labels["age"], errors="coerce"), "sex": labels["sex"].map(_sex),
        "sampling_rate_hz": labels["sampling_rate_hz"].astype(float),
        "healthy": labels["NORM"], "af": labels["AF"], "mi": labels["MI"], "lvh": labels["LVH"],
        "lbbb": [float(any(c in ("LBBB", "CLBBB") for c in row)) for row in codes],
        "rbbb": [float(any(c in ("RBBB", "CRBBB") for c in row)) for row in codes],
        "paced": [float("PR" in row) for row in codes],
    }).astype({label: float for label in LABELS})


def _sex(value) -> str | None:
    text = str(value).strip().upper()[:1]
    return text if text in ("M", "F") else None


# --- LUDB's delineation ------------------------------------------------------------------------------------------
LUDB_LEADS = ("i", "ii", "iii", "avr", "avl", "avf", "v1", "v2", "v3", "v4", "v5", "v6")  # annotation extensions
WAVES = {"p": "p", "N": "qrs", "t": "t"}  # LUDB's peak symbols; each peak sits between "(" onset and ")" offset
SAME_BEAT_MS = 150  # annotations of one beat in different leads lie within this of the beat's QRS peak


@dataclass(frozen=True)
class ReferenceBeat:
    """One beat as the cardiologists delineated it, in ms from the record's start: each boundary is the median
    over the leads in which that wave was annotated (None where no lead annotated it)."""

    qrs_peak_ms: float
    p_onset_ms: float | None
    qrs_onset_ms: float
    qrs_offset_ms: float
    t_offset_ms: float | None

    @property
    def pr_ms(self) -> float | None:
        return None if self.p_onset_ms is None else self.qrs_onset_ms - self.p_onset_ms

    @property
    def qrs_ms(self) -> float:
        return self.qrs_offset_ms - self.qrs_onset_ms

    @property
    def qt_ms(self) -> float | None:
        return None if self.t_offset_ms is None else self.t_offset_ms - self.qrs_onset_ms


def ludb_waves(record: Path, lead: str) -> list[tuple[str, float, float, float]]:
    """(wave, onset, peak, offset) in ms of every complete wave annotated in one lead's file."""
    import wfdb

    annotation = wfdb.rdann(str(Path(record).with_suffix("")), lead)
    ms = 1000.0 / float(annotation.fs or 500.0)
    symbols, samples = list(annotation.symbol), np.asarray(annotation.sample, dtype=float) * ms
    waves = []
    for index, symbol in enumerate(symbols):
        if symbol in WAVES and 0 < index < len(symbols) - 1 and symbols[index - 1] == "(" and \
                symbols[index + 1] == ")":
            waves.append((WAVES[symbol], samples[index - 1], samples[index], samples[index + 1]))
    return waves


def ludb_reference_beats(record: Path) -> list[ReferenceBeat]:
    """Beats of a LUDB record: QRS complexes grouped across the 12 leads' annotations by their peaks, with the
    P wave that ends before the QRS onset and the T wave that starts after its offset, in each lead."""
    by_lead = [ludb_waves(record, lead) for lead in LUDB_LEADS
               if Path(record).with_suffix(f".{lead}").is_file()]
    peaks = sorted(peak for waves in by_lead for wave, _, peak, _ in waves if wave == "qrs")
    groups: list[list[float]] = []
    for peak in peaks:  # a new beat when a QRS peak lies well past the last group's first one
        if groups and peak - groups[-1][0] <= SAME_BEAT_MS:
            groups[-1].append(peak)
        else:
            groups.append([peak])
    beats = []
    for group in groups:
        centre = float(np.median(group))
        found = {"p_onset": [], "qrs_onset": [], "qrs_offset": [], "t_offset": []}
        for waves in by_lead:
            qrs = [w for w in waves if w[0] == "qrs" and abs(w[2] - centre) <= SAME_BEAT_MS]
            if not qrs:
                continue
            _, onset, _, offset = min(qrs, key=lambda w: abs(w[2] - centre))
            found["qrs_onset"].append(onset)
            found["qrs_offset"].append(offset)
            p = [w for w in waves if w[0] == "p" and onset - 400 <= w[3] <= onset]
            if p:
                found["p_onset"].append(max(p, key=lambda w: w[3])[1])
            t = [w for w in waves if w[0] == "t" and offset <= w[1] <= offset + 600]
            if t:
                found["t_offset"].append(min(t, key=lambda w: w[1])[3])
        median = {key: float(np.median(values)) if values else None for key, values in found.items()}
        beats.append(ReferenceBeat(centre, median["p_onset"], median["qrs_onset"], median["qrs_offset"],
                                   median["t_offset"]))
    return beats

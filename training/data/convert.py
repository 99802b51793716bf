"""What every adapter shares: the example it hands over, the loop that converts a source subject by subject, and
reading the phenotype and label tables a researcher supplies.

A bad file costs only its own subject: the loop logs the reason, lists it in ``DIR/skipped.csv`` and goes on, so
one truncated download does not end a conversion of thousands. A problem with the source as a whole (an index
file missing, a label column misspelt) stops the run at once with a `SourceError` saying what to fix.
"""

from __future__ import annotations

import csv
import dataclasses
import logging
import multiprocessing
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, TypeVar

import numpy as np
import pandas as pd

from cardionets.ecg import ECGError

from .prepared import (
    LABEL_COLUMNS,
    PATIENT_COLUMNS,
    PHENOTYPE_COLUMNS,
    EncodedSubject,
    PreparedWriter,
    Schema,
    encode_subject,
)

log = logging.getLogger("training.data")
PROGRESS_EVERY = 1000  # subjects between progress lines in the log
SKIPPED_FILE = "skipped.csv"


@dataclass(frozen=True)
class Example:
    """One subject, read from its source and ready for the prepared format."""

    subject_id: str
    site: str
    record_id: str  # the file or record it came from, so a prepared row can be traced back to its source
    ecg_view: np.ndarray  # (12, 5000) float32 mV, from cardionets.ecg.model_view
    targets: dict[str, float]  # phenotype, label and patient columns -> value; a column left out is unknown
    cines: dict[str, np.ndarray] | None = None  # "sax", "4ch" -> (T, H, W) magnitude; None for ECG-only sources
    masks: dict[str, np.ndarray] | None = None  # "sax", "4ch" -> (T, H, W) label maps; only simulated sources


class SourceRecord(Protocol):
    """An adapter's entry for one subject before its files are read: enough to name it in the skip list."""

    subject_id: str
    record_id: str


@dataclass(frozen=True)
class Skipped:
    subject_id: str
    record_id: str
    reason: str


class SourceError(ValueError):
    """The source as a whole cannot be converted; the message says what to fix."""


class UnusableSubject(ValueError):
    """This subject's files cannot be used (a series missing, a file damaged); the message says why."""


Record = TypeVar("Record", bound=SourceRecord)


def convert(records: Iterable[Record], read: Callable[[Record], Example], out_dir: Path, with_cine: bool,
            source: str, notes: dict | None = None, with_masks: bool = False, workers: int = 1) -> Path:
    """Read every record with ``read`` into a prepared folder at ``out_dir``; returns the folder.

    With ``workers`` > 1, that many forked processes read and resize subjects while this one writes them, in the
    records' order. The schema's notes record how many subjects were written and skipped; the skipped ones, with
    reasons, are in ``out_dir/skipped.csv``. Raises SourceError when no subject at all could be converted.
    """
    writer = PreparedWriter(Path(out_dir), Schema(source=source), with_cine, with_masks)
    skipped: list[Skipped] = []
    for done, outcome in enumerate(_encoded(list(records), read, with_cine, with_masks, workers), start=1):
        if isinstance(outcome, Skipped):
            skipped.append(outcome)
            log.warning("skipped %s (%s): %s", outcome.subject_id, outcome.record_id, outcome.reason)
        else:
            writer.append(outcome)
        if done % PROGRESS_EVERY == 0:
            log.info("%d read: %d prepared, %d skipped", done, writer.count, len(skipped))
    if writer.count == 0:
        first = "; ".join(f"{s.record_id}: {s.reason}" for s in skipped[:3]) or "the source lists no subjects"
        raise SourceError(f"No subject of {source} could be prepared ({len(skipped)} skipped). First reasons: {first}")
    _write_skipped(Path(out_dir) / SKIPPED_FILE, skipped)
    writer.schema = dataclasses.replace(
        writer.schema, notes={**(notes or {}), "prepared": writer.count, "skipped": len(skipped)}
    )
    return writer.write()


# What forked workers run: set before the fork, so the adapters' `read` closures need not be picklable.
_job: tuple[Callable, bool, bool] | None = None


def _encode_record(record) -> EncodedSubject | Skipped:
    read, with_cine, with_masks = _job
    try:
        example = read(record)
        return encode_subject(with_cine, with_masks, example.subject_id, example.site, example.ecg_view,
                              example.targets, example.cines, example.record_id, example.masks)
    # Any failure reading one subject's files is that subject's problem, not the run's; the reason is kept.
    except Exception as error:  # noqa: BLE001
        return Skipped(record.subject_id, record.record_id, _reason(error))


def _encoded(records: list, read: Callable, with_cine: bool, with_masks: bool, workers: int):
    global _job
    _job = (read, with_cine, with_masks)
    try:
        # fork only: the job lives in this process's memory (POSIX; elsewhere, and for one worker, in-process).
        if workers <= 1 or len(records) < 2 or "fork" not in multiprocessing.get_all_start_methods():
            yield from map(_encode_record, records)
            return
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            yield from pool.imap(_encode_record, records, chunksize=4)
    finally:
        _job = None


def _reason(error: Exception) -> str:
    # Our own errors already read as sentences; anything else keeps its type, which is what a bug report needs.
    if isinstance(error, (ECGError, UnusableSubject)):
        return str(error)
    return f"{type(error).__name__}: {error}"


def _write_skipped(path: Path, skipped: list[Skipped]) -> None:
    with open(path, "w", newline="") as handle:
        rows = csv.writer(handle)
        rows.writerow(["subject_id", "record_id", "reason"])
        rows.writerows((s.subject_id, s.record_id, s.reason) for s in skipped)


# --- tables a researcher supplies ------------------------------------------------------------------------------


def read_table(path: Path, key: str | None = None, text_columns: tuple[str, ...] = ()) -> pd.DataFrame:
    """A researcher's CSV with its phenotype and label columns checked; ``key`` (if given) must be present and
    unique. The key and ``text_columns`` are read as text, so that IDs and paths keep their exact spelling."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"No such table: {path}")
    table = pd.read_csv(path, dtype={column: str for column in (*text_columns, *([key] if key else []))})
    if key is not None:
        if key not in table.columns:
            raise SourceError(f"{path} has no '{key}' column; its columns are {list(table.columns)[:10]}")
        repeated = table[key][table[key].duplicated()]
        if len(repeated):
            raise SourceError(f"{path}: {key} {repeated.iloc[0]} appears more than once; keep one row per {key}")
    return check_targets(table, path)


@dataclass(frozen=True)
class Labels:
    """The labels a researcher supplies, looked up by the source's own key (eid, study_id); empty if none."""

    table: pd.DataFrame = field(default_factory=pd.DataFrame)  # indexed by the key; label columns only

    def of(self, key: str) -> dict[str, float]:
        return targets_of(self.table.loc[key], self.table.columns) if key in self.table.index else {}

    def count_of(self, keys: Iterable[str]) -> int:
        """How many of ``keys`` have a row."""
        return int(self.table.index.isin(list(keys)).sum())


def read_labels(path: Path | None, key: str) -> Labels:
    """A labels CSV: ``key`` plus any of LABEL_COLUMNS (1, 0 or blank); other columns are ignored."""
    if path is None:
        return Labels()
    table = read_table(path, key=key).set_index(key)
    return Labels(table[[c for c in LABEL_COLUMNS if c in table.columns]])


def check_targets(table: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Phenotype columns as numbers and label columns as 0/1 (blank = unknown), or a SourceError naming the fault."""
    unknown = [c for c in table.columns if str(c).startswith("label_") and c not in LABEL_COLUMNS]
    if unknown:
        raise SourceError(f"{path}: unknown label column(s) {unknown}; the labels are {list(LABEL_COLUMNS)}")
    table = table.copy()
    for column in target_columns(table):
        values = pd.to_numeric(table[column], errors="coerce")
        bad = table[column].notna() & values.isna()
        if column in LABEL_COLUMNS:
            bad |= values.notna() & ~values.isin([0, 1])
        if bad.any():
            row = int(np.flatnonzero(bad.to_numpy())[0])
            expected = "0, 1 or blank" if column in LABEL_COLUMNS else "a number or blank"
            raise SourceError(f"{path}: {column} is {table[column].iloc[row]!r} in data row {row + 1}; "
                              f"expected {expected}")
        table[column] = values
    return table


def target_columns(table: pd.DataFrame) -> list[str]:
    """The phenotype, label and patient columns ``table`` holds, in schema order."""
    return [c for c in (*PHENOTYPE_COLUMNS, *LABEL_COLUMNS, *PATIENT_COLUMNS) if c in table.columns]


def targets_of(row: pd.Series, columns: Iterable[str]) -> dict[str, float]:
    """The known values of ``columns`` in one table row."""
    return {c: float(row[c]) for c in columns if pd.notna(row[c])}

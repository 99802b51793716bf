"""PhysioNet WFDB records (.hea header with .dat or .mat signal files), read with the wfdb package.

Covers PTB-XL, MIMIC-IV-ECG, the PhysioNet/CinC Challenge .mat records and UK Biobank conversions. wfdb reads
from disk only, so uploaded files are placed in a temporary folder that is deleted straight after reading.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import wfdb

from ..errors import CorruptFileError, FileTooLargeError
from .base import RawECG, acquisition_time, units_scale_to_mv
from .bounds import check_sample_count
from .scratch import scratch_folder

# A signal line's format field: storage format, then optional samples per frame, skew and byte offset.
_FORMAT_FIELD = re.compile(r"(\d+)(?:x(\d+))?(?::(\d+))?(?:\+(\d+))?$")


def read(
    header: bytes, filename: str | None, folder: Path | None, companion_files: dict[str, bytes], max_bytes: int
) -> RawECG:
    text = header.decode("ascii", errors="replace")
    record_name, signal_files, n_samples = _parse_header(text)
    with scratch_folder() as scratch:
        directory = Path(scratch)
        (directory / f"{record_name}.hea").write_bytes(header)
        for name in sorted(set(signal_files)):
            (directory / name).write_bytes(_signal_file(name, folder, companion_files, max_bytes))
        record = wfdb.rdrecord(str(directory / record_name), physical=True)
    signals = record.p_signal
    if signals is None or signals.ndim != 2 or signals.shape[0] == 0:
        raise CorruptFileError("The WFDB record holds no samples.")
    named = {
        name: signals[:, column] * units_scale_to_mv(unit or "mV")
        for column, (name, unit) in enumerate(zip(record.sig_name, record.units))
    }
    demographics = _demographics(record.comments or [])
    return RawECG(named_signals=named, fs_hz=float(record.fs), units="mV", source_format="wfdb",
                  acquired=_acquired(record), **demographics)


def _acquired(record: wfdb.Record) -> str | None:
    """The header's base date and time, where it gives them (most records give neither)."""
    if record.base_date is None:
        return None
    time = f" {record.base_time:%H:%M}" if record.base_time is not None else ""
    return acquisition_time(f"{record.base_date:%Y-%m-%d}{time}", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _parse_header(text: str) -> tuple[str, list[str], int]:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise CorruptFileError("The WFDB header is empty.")
    fields = lines[0].split()
    if len(fields) < 2:
        raise CorruptFileError("The WFDB header's record line is incomplete.")
    record_name = fields[0].split("/")[0]
    if not re.fullmatch(r"[\w\-]+", record_name):
        raise CorruptFileError(f"'{record_name}' is not a valid WFDB record name.")
    n_signals = int(fields[1])
    if len(fields) > 2:
        _check_rate(fields[2])
    n_samples = int(fields[3]) if len(fields) > 3 else 0
    signal_lines = [line.split() for line in lines[1 : 1 + n_signals]]
    signal_files = [fields[0] for fields in signal_lines]
    if len(signal_files) != n_signals:
        raise CorruptFileError(f"The WFDB header announces {n_signals} signals but describes {len(signal_files)}.")
    _check_declared_samples(n_samples, signal_lines)
    for name in signal_files:
        if Path(name).name != name or name.startswith("."):
            raise CorruptFileError(f"The WFDB header names an unsafe signal file path '{name}'.")
    return record_name, signal_files, n_samples


def _check_declared_samples(n_samples: int, signal_lines: list[list[str]]) -> None:
    """wfdb allocates (length + largest skew) x samples per frame for every signal before reading a byte, so a
    header under 1 kB can ask for gigabytes ("16:1000000000", a billion-sample skew): the total is bounded first."""
    frames, skew = 0, 0
    for fields in signal_lines:
        match = _FORMAT_FIELD.match(fields[1]) if len(fields) > 1 else None
        if len(fields) > 1 and match is None:
            raise CorruptFileError(f"The WFDB header's storage format '{fields[1]}' is not one wfdb reads.")
        frames += int(match.group(2) or 1) if match else 1
        skew = max(skew, int(match.group(3) or 0) if match else 0)
    check_sample_count((n_samples + skew) * frames, "The WFDB header")


def _check_rate(field: str) -> None:
    """The record line's ``fs[/counter_fs[(base)]]``: wfdb falls back to its default of 250 Hz when it cannot read
    it, which would stretch or squeeze every interval without a word, so an unreadable or non-positive rate is
    refused here."""
    rate = field.split("/")[0].split("(")[0]
    try:
        value = float(rate)
    except ValueError:
        value = float("nan")
    if not value > 0 or value == float("inf"):
        raise CorruptFileError(f"The WFDB header gives the sampling rate as '{rate}', not a positive number of "
                               "samples per second, so no interval could be timed.")


def _signal_file(name: str, folder: Path | None, companion_files: dict[str, bytes], max_bytes: int) -> bytes:
    on_disk = folder is not None and (folder / name).is_file()
    if name in companion_files or on_disk:
        size = len(companion_files[name]) if name in companion_files else (folder / name).stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(f"The WFDB signal file {name} is {size / 1e6:.0f} MB, above the "
                                    f"{max_bytes / 1e6:.0f} MB limit; export a 10 s recording.")
        return companion_files[name] if name in companion_files else (folder / name).read_bytes()
    raise CorruptFileError(
        f"The WFDB header refers to the signal file '{name}', which is missing. Upload the .hea file together "
        "with its .dat/.mat file."
    )


def _demographics(comments: list[str]) -> dict:
    """Age and sex from header comments as the PhysioNet Challenges ('# Age: 63') and LUDB ('#<age>: 51') write
    them."""
    out: dict = {}
    for comment in comments:
        key, _, value = comment.partition(":")
        key, value = key.strip().strip("<>").lower(), value.strip()
        if key == "age":
            try:
                age = float(value)
            except ValueError:
                continue
            if np.isfinite(age) and 0 <= age < 130:
                out["age_years"] = age
        elif key in ("sex", "gender") and value[:1].upper() in ("M", "F"):
            out["sex"] = value[:1].upper()
    return out

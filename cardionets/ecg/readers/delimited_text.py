"""CSV and plain-text tables: one column per lead (optionally a time column), or one row per lead.

Lead names come from the header row; unit hints are read from the header ("V1 (uV)", "# units: uV"); the
sampling rate from a time column or a "# fs: 500" comment line. Without a header, 12 columns are taken in the
standard order and 8 as I, II, V1-V6 (the layout of many research exports).
"""

from __future__ import annotations

import csv
import io
import re

import numpy as np

from ..errors import CorruptFileError
from ..leads import canonical_lead_name, default_lead_names
from .base import RawECG
from .bounds import check_text_size
from .sampling import rate_or_assume_10s

_TIME_NAMES = {"time", "t", "sec", "seconds", "time_s", "times", "ms", "time_ms", "sample", "index", "samples"}
_UNIT_HINT = re.compile(r"(?:\(|\[|_|\s)(uv|µv|μv|mv|v)(?:\)|\])?$", re.IGNORECASE)
_COMMENT_VALUE = re.compile(r"#\s*(\w+)\s*[:=]\s*([\w.µμ]+)")


def _text(data: bytes) -> str | None:
    for encoding in ("utf-8-sig", "utf-16", "latin-1"):
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        if "\x00" not in text:
            return text
    return None


def looks_like_table(data: bytes) -> bool:
    """True when the start of the file is text whose rows are mostly numbers split by a delimiter."""
    text = _text(data[:8192])
    if text is None:
        return False
    if _starts_with_a_lead_row(text):
        return True
    rows = [line for line in text.splitlines()[1:20] if line.strip() and not line.startswith("#")]
    if len(rows) < 3:
        return False
    numeric = sum(bool(re.fullmatch(r"[\s,;\t]*[-+0-9.eE]+(?:[\s,;\t]+[-+0-9.eE]+)+[\s,;\t]*", r)) for r in rows)
    return numeric >= 0.8 * len(rows)


def _starts_with_a_lead_row(text: str) -> bool:
    """One row per lead: a lead's name, then its samples across. A row of 5000 samples outruns the bytes looked
    at, so the first row alone decides (its last cell may be cut short)."""
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        return False
    cells = [cell for cell in re.split(r"[,;\t ]+", lines[0].strip()) if cell]
    return (len(cells) >= 12 and canonical_lead_name(_strip_unit(cells[0])) is not None
            and _is_numeric_row(cells[1:-1]))


def read(data: bytes, fs_hz: float | None = None) -> RawECG:
    check_text_size(data, "This text file")
    text = _text(data)
    if text is None:
        raise CorruptFileError("The text file could not be decoded.")
    comments = dict((k.lower(), v) for k, v in _COMMENT_VALUE.findall(text))
    lines = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    # Sniff on a bounded sample: csv.Sniffer's regular expressions slow down badly on very long lines.
    dialect = csv.Sniffer().sniff("\n".join(lines[:5])[:4096], delimiters=",;\t ")
    first_row = _cells(next(csv.reader([lines[0]], dialect, skipinitialspace=True)))
    header = None if _is_numeric_row(first_row) else first_row
    body = lines[1:] if header else lines
    if header and canonical_lead_name(_strip_unit(header[0])) is not None and len(body) < 20:
        rows = [_cells(row) for row in csv.reader(io.StringIO("\n".join(lines)), dialect, skipinitialspace=True)]
        return _read_lead_rows(rows, comments, fs_hz)  # transposed: lead name first, samples across
    table = _numeric_table(body, dialect.delimiter)
    names = header or default_lead_names(table.shape[1])
    if len(names) != table.shape[1]:
        raise CorruptFileError(f"The header names {len(names)} columns but rows have {table.shape[1]}.")
    notes: list[str] = []
    units = comments.get("units")
    named: dict[str, np.ndarray] = {}
    for column, name in enumerate(names):
        bare = _strip_unit(name)
        if bare.lower() in _TIME_NAMES:
            fs_hz = fs_hz or _rate_from_time(table[:, column], bare.lower())
            continue
        hint = _UNIT_HINT.search(name)
        units = units or (hint.group(1) if hint and canonical_lead_name(bare) else None)
        named[bare] = table[:, column]
    fs = rate_or_assume_10s(fs_hz or _stated_rate(comments), table.shape[0], notes, "table")
    return RawECG(named_signals=named, fs_hz=fs, units=units, source_format="csv", notes=notes)


def _read_lead_rows(rows: list[list[str]], comments: dict, fs_hz: float | None) -> RawECG:
    named = {_strip_unit(row[0]): np.array([float(v) for v in row[1:]]) for row in rows}
    n_samples = min(len(v) for v in named.values())
    notes: list[str] = []
    fs = rate_or_assume_10s(fs_hz or _stated_rate(comments), n_samples, notes, "table")
    return RawECG(named_signals=named, fs_hz=fs, units=comments.get("units"), source_format="csv", notes=notes)


def _cells(row: list[str]) -> list[str]:
    """Non-empty, stripped cells (trailing delimiters leave empty ones)."""
    return [cell.strip() for cell in row if cell.strip()]


def _numeric_table(lines: list[str], delimiter: str) -> np.ndarray:
    """Parse the numeric body with pandas' C parser: a million-row export takes a second, not a minute."""
    import pandas as pd  # here, not at the top: detecting a table must not cost pandas' import (half a second)

    separator = r"\s+" if delimiter == " " else delimiter
    try:
        frame = pd.read_csv(io.StringIO("\n".join(lines)), sep=separator, header=None, skipinitialspace=True)
        return frame.dropna(axis=1, how="all").to_numpy(dtype=np.float64)
    except ValueError as error:  # pandas' ParserError (ragged rows) is a ValueError too
        raise CorruptFileError(f"The table has non-numeric or ragged rows ({str(error)[:120]}).") from error


def _is_numeric_row(row: list[str]) -> bool:
    try:
        [float(cell) for cell in row]
    except ValueError:
        return False
    return True


def _strip_unit(name: str) -> str:
    return _UNIT_HINT.sub("", name.strip()).strip()


def _rate_from_time(times: np.ndarray, name: str) -> float | None:
    steps = np.diff(times)
    if steps.size == 0 or not np.all(steps > 0):
        return None
    if name in ("sample", "index", "samples"):
        return None
    step = float(np.median(steps))
    return (1000.0 if name in ("ms", "time_ms") else 1.0) / step


def _stated_rate(comments: dict[str, str]) -> float | None:
    """The rate from a "# fs: 500" or "# fs_hz=500" comment line, if any."""
    text = comments.get("fs") or comments.get("fs_hz")
    try:
        return float(text) if text is not None else None
    except ValueError:
        return None

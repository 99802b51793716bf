"""NumPy .npy and .npz arrays, loaded without pickle (allow_pickle=False), so a file cannot run code.

An .npy holds a (12, T) or (T, 12) array (8 leads are taken as I, II, V1-V6). An .npz may add ``fs``/``fs_hz``,
``leads`` (an array of strings) and ``units`` next to the signal array (``signal``, ``ecg``, ``x`` or the first).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

from ..errors import CorruptFileError
from ..leads import default_lead_names
from .base import RawECG
from .bounds import check_sample_count
from .sampling import rate_or_assume_10s

_SIGNAL_KEYS = ("signal", "signal_mv", "ecg", "x", "data")
MAX_ARRAYS = 64  # an .npz of an ECG holds a signal and a few small arrays (rate, lead names, units)


def read(data: bytes, fs_hz: float | None = None) -> RawECG:
    _check_declared_sizes(data)
    try:
        loaded = np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as error:  # pickled object arrays are refused here
        raise CorruptFileError(f"This NumPy file cannot be read safely ({error}).") from error
    leads, units = None, None
    if isinstance(loaded, np.lib.npyio.NpzFile):
        with loaded:
            keys = list(loaded.files)
            key = next((k for k in _SIGNAL_KEYS if k in keys), keys[0])
            array = loaded[key]
            fs_hz = fs_hz or next((float(loaded[k]) for k in ("fs_hz", "fs", "sampling_rate") if k in keys), None)
            leads = [str(name) for name in loaded["leads"]] if "leads" in keys else None
            units = str(loaded["units"]) if "units" in keys else None
    else:
        array = loaded
    array = np.asarray(array)
    while array.ndim > 2 and array.shape[0] == 1:  # a batch of one, as model exports save it
        array = array[0]
    if array.ndim == 1:
        array = array[np.newaxis]
    if array.ndim != 2 or array.size == 0 or not np.issubdtype(array.dtype, np.number):
        raise CorruptFileError(f"Expected a 2-D numeric array of leads x samples, got shape {array.shape}.")
    n_leads = len(leads) if leads else None
    if array.shape[0] not in (n_leads, 8, 12) and array.shape[1] in (n_leads, 8, 12):
        array = array.T  # stored as samples x leads
    names = leads or default_lead_names(array.shape[0])
    if len(names) != array.shape[0]:
        raise CorruptFileError(f"{len(names)} lead names were given for {array.shape[0]} rows.")
    notes: list[str] = []
    fs = rate_or_assume_10s(fs_hz, array.shape[1], notes, "NumPy file")
    named = dict(zip(names, array.astype(np.float64)))
    return RawECG(named_signals=named, fs_hz=fs, units=units, source_format="numpy", notes=notes)


def _check_declared_sizes(data: bytes) -> None:
    """Every array's header states its shape and type; NumPy allocates that much before reading the data, and a
    zip member decompresses to whatever its entry says. Both are checked against what the file holds first."""
    if not data.startswith(b"PK"):
        count, nbytes, header_end = _declared(io.BytesIO(data), "This NumPy file")
        if nbytes > len(data) - header_end:
            raise CorruptFileError(f"This NumPy file declares {nbytes:,} bytes of samples but holds "
                                   f"{len(data) - header_end:,}; it is truncated or damaged.")
        return
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = archive.infolist()
        if len(members) > MAX_ARRAYS:
            raise CorruptFileError(f"This .npz file holds {len(members)} arrays; an ECG needs a few.")
        total = 0
        for member in members:
            with archive.open(member) as stream:
                count, nbytes, header_end = _declared(stream, f"Array {member.filename!r} of this .npz file")
            if nbytes > member.file_size - header_end:
                raise CorruptFileError(f"Array {member.filename!r} of this .npz file declares more samples than "
                                       "it holds; the file is truncated or damaged.")
            total += count
        check_sample_count(total, "This .npz file")


def _declared(stream, what: str) -> tuple[int, int, int]:
    """(values, bytes, header length) an .npy header declares, without reading its data."""
    try:
        version = np.lib.format.read_magic(stream)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        shape, _, dtype = read_header(stream)
    except (ValueError, SyntaxError, TypeError, EOFError, zipfile.BadZipFile) as error:
        raise CorruptFileError(f"{what} has a damaged header ({error}).") from error
    count = int(np.prod(shape, dtype=object))
    check_sample_count(count, what)
    return count, count * dtype.itemsize, stream.tell()

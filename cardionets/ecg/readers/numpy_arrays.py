"""NumPy .npy and .npz arrays, loaded without pickle (allow_pickle=False), so a file cannot run code.

An .npy holds a (12, T) or (T, 12) array (8 leads are taken as I, II, V1-V6). An .npz may add ``fs``/``fs_hz``,
``leads`` (an array of strings) and ``units`` next to the signal array (``signal``, ``ecg``, ``x`` or the first).
"""

from __future__ import annotations

import io

import numpy as np

from ..errors import CorruptFileError
from ..leads import default_lead_names
from .base import RawECG
from .sampling import rate_or_assume_10s

_SIGNAL_KEYS = ("signal", "signal_mv", "ecg", "x", "data")


def read(data: bytes, fs_hz: float | None = None) -> RawECG:
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

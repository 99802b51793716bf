"""EDF and EDF+ recordings, read with pyedflib (the maintained binding of the reference edflib).

pyedflib opens files by path, so the bytes go to a temporary file that is deleted straight after reading.
Signals are kept when their label names a standard lead; EDF+ annotation channels are skipped.
"""

from __future__ import annotations

import datetime as dt
import os

import numpy as np
import pyedflib

from ..errors import CorruptFileError
from ..leads import canonical_lead_name
from ..resample import resample_array
from .base import RawECG, acquisition_time, units_scale_to_mv
from .scratch import scratch_file


def read(data: bytes) -> RawECG:
    handle, path = scratch_file(".edf")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        try:
            reader = pyedflib.EdfReader(path)
        except OSError as error:  # pyedflib names the file: the server's scratch path is no business of the user's
            reason = str(error).replace(f"{path}: ", "").replace(path, "the file")
            raise CorruptFileError(f"This EDF file could not be opened ({reason}).") from error
        try:
            return _read_open(reader)
        finally:
            reader.close()
    finally:
        os.unlink(path)


def _read_open(reader: pyedflib.EdfReader) -> RawECG:
    labels = reader.getSignalLabels()
    rates = [float(reader.getSampleFrequency(i)) for i in range(len(labels))]
    chosen = [i for i, label in enumerate(labels) if canonical_lead_name(label) is not None]
    if not chosen:
        raise CorruptFileError(f"This EDF file holds no ECG lead (channels: {', '.join(labels)}).")
    fs = max(rates[i] for i in chosen)
    named = {}
    for i in chosen:
        values = reader.readSignal(i) * units_scale_to_mv(reader.getPhysicalDimension(i) or "uV")
        # EDF allows a different rate per channel; bring slower channels to the fastest one.
        named[labels[i]] = resample_array(values, rates[i], fs) if rates[i] != fs else values
    return RawECG(named_signals=named, fs_hz=fs, units="mV", source_format="edf", **_demographics(reader))


def _demographics(reader: pyedflib.EdfReader) -> dict:
    out: dict = {}
    try:  # every EDF header has a start date; anonymised files often set it to 1985-01-01
        out["acquired"] = acquisition_time(f"{reader.getStartdatetime():%Y-%m-%d %H:%M}", "%Y-%m-%d %H:%M")
    except (ValueError, TypeError, AttributeError):
        pass
    sex = str(reader.getSex() or "").strip().upper()[:1]
    if sex in ("M", "F"):
        out["sex"] = sex
    try:
        birth = reader.getBirthdate(string=False)
        start = reader.getStartdatetime()
        if isinstance(birth, (dt.date, dt.datetime)) and birth.year > 1850:
            age = (start.date() - (birth.date() if isinstance(birth, dt.datetime) else birth)).days / 365.25
            if 0 <= age < 130:
                out["age_years"] = float(np.floor(age))
    except (ValueError, TypeError, AttributeError):
        pass  # birth date is optional and often anonymised to "X"
    return out

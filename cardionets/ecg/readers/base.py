"""What a reader hands back, and the single step that turns it into the canonical ECG.

Readers only decode their format. Unit conversion, lead completion, gap filling and the sanity checks that
catch a file in the wrong units live here, once, so every format gets the same checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from ..errors import MissingLeadsError, SignalError
from ..leads import assemble_12_lead
from ..record import ECG, ECGMetadata

_TO_MV = {"mv": 1.0, "uv": 1e-3, "µv": 1e-3, "μv": 1e-3, "v": 1e3, "nv": 1e-6}

# A lead's robust peak-to-peak (1st to 99.9th percentile) in mV. Real QRS complexes span roughly 0.2-6 mV; a
# whole lead above this bound almost always means the file is in uV or ADC counts but was declared mV.
MAX_PLAUSIBLE_PTP_MV = 30.0
# Below this in every lead there is no ECG to read: a flat file, or numbers in a unit a thousand times too small.
MIN_PLAUSIBLE_PTP_MV = 0.05
MAX_GAP_S = 0.2  # NaN runs shorter than this are interpolated; longer ones make the lead missing


@dataclass
class RawECG:
    """A decoded file before canonicalisation: named leads in the file's own units and rate.

    ``units`` is None when the format does not say (CSV, NumPy); then it is inferred from the amplitudes.
    """

    named_signals: dict[str, np.ndarray]
    fs_hz: float
    units: str | None
    source_format: str
    age_years: float | None = None
    sex: str | None = None
    height_cm: float | None = None
    weight_kg: float | None = None
    device_measurements: dict[str, float] = field(default_factory=dict)
    interpretation: list[str] = field(default_factory=list)
    acquired: str | None = None  # `acquisition_time`'s text
    notes: list[str] = field(default_factory=list)  # what the reader assumed, shown to the user


def acquisition_time(text: str | None, *formats: str) -> str | None:
    """When the ECG was recorded, as "YYYY-MM-DD HH:MM" ("YYYY-MM-DD" for a format without a time), read from
    ``text`` with the first of ``formats`` (strptime) that fits. None when the file gives none, or one that is no
    date: a damaged date never stops an ECG from being read."""
    if not text:
        return None
    for layout in formats:
        try:
            when = datetime.strptime(text.strip(), layout)
        except ValueError:
            continue
        if 1900 <= when.year <= 2200:
            return when.strftime("%Y-%m-%d %H:%M" if "%H" in layout else "%Y-%m-%d")
    return None


def units_scale_to_mv(units: str) -> float:
    """Multiplier from a unit label ("uV", "microvolt", "mV", "V") to millivolts."""
    key = units.strip().lower().replace("microvolts", "uv").replace("microvolt", "uv")
    key = key.replace("millivolts", "mv").replace("millivolt", "mv").replace("volts", "v").replace("volt", "v")
    if key not in _TO_MV:
        raise SignalError(f"Unknown amplitude unit '{units}'. Use mV, uV or V.")
    return _TO_MV[key]


def infer_units(named_signals: dict[str, np.ndarray]) -> str:
    """Guess mV, uV or V from amplitudes alone, for formats that do not store units."""
    ptps = [_robust_ptp(v) for v in named_signals.values() if np.isfinite(v).any()]
    typical = float(np.median(ptps)) if ptps else 0.0
    if typical > 50:  # a resting ECG lead never spans 50 mV, but spans 200-5000 uV
        return "uV"
    if 0 < typical < 0.02:  # under 20 uV when read as mV: the numbers are volts
        return "V"
    return "mV"


def _robust_ptp(values: np.ndarray) -> float:
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return 0.0
    low, high = np.percentile(finite, [1, 99.9])
    return float(high - low)


def _fill_gaps(values: np.ndarray, fs_hz: float) -> np.ndarray | None:
    """Linearly bridge short NaN gaps; None when the lead is mostly or long-gapped NaN."""
    bad = ~np.isfinite(values)
    if not bad.any():
        return values
    if bad.all() or bad.mean() > 0.05:
        return None
    edges = np.diff(np.concatenate(([0], bad.astype(np.int8), [0])))
    run_lengths = np.flatnonzero(edges == -1) - np.flatnonzero(edges == 1)
    if run_lengths.max() > MAX_GAP_S * fs_hz:
        return None
    index = np.arange(values.size)
    filled = values.copy()
    filled[bad] = np.interp(index[bad], index[~bad], values[~bad])
    return filled


def to_canonical(raw: RawECG, units: str | None = None) -> ECG:
    """Convert a reader's output to the canonical ECG, with a readable error for anything implausible.

    ``units`` overrides what the file says, for the case where a user knows better.
    """
    if not raw.fs_hz or not np.isfinite(raw.fs_hz) or not 50 <= raw.fs_hz <= 20000:
        raise SignalError(f"The sampling rate ({raw.fs_hz} Hz) is not plausible for an ECG (expected 50-20000 Hz).")
    notes: list[str] = list(raw.notes)
    chosen_units = units or raw.units
    if chosen_units is None:
        chosen_units = infer_units(raw.named_signals)
        notes.append(f"amplitude units not stored in the file; inferred {chosen_units} from the signal amplitude")
    scale = units_scale_to_mv(chosen_units)

    signals: dict[str, np.ndarray] = {}
    unusable: list[str] = []
    for name, values in raw.named_signals.items():
        values = np.asarray(values, dtype=np.float64).ravel() * scale
        filled = _fill_gaps(values, raw.fs_hz)
        if filled is None:
            unusable.append(str(name))
            continue
        if filled is not values:
            notes.append(f"short gaps in lead {name} interpolated")
        signals[str(name)] = filled
    if unusable and not signals:
        raise MissingLeadsError(f"Every lead of this file ({len(unusable)}: {', '.join(unusable[:12])}"
                                f"{', ...' if len(unusable) > 12 else ''}) is empty or holds no usable numbers, so "
                                "there is no ECG to analyse.")
    if unusable:
        notes.append("leads without usable samples: " + ", ".join(unusable))

    signal, derived, missing = assemble_12_lead(signals)
    if signal.shape[1] < 2 * raw.fs_hz:
        raise SignalError(
            f"The recording lasts only {signal.shape[1] / raw.fs_hz:.1f} s; at least 2 s are needed (10 s is standard)."
        )
    present = [row for row, name in enumerate(ECG.leads) if name not in missing]
    largest_ptp = max(_robust_ptp(signal[row]) for row in present)
    if largest_ptp > MAX_PLAUSIBLE_PTP_MV:
        raise SignalError(
            f"Amplitudes of {largest_ptp:.0f} mV are not physiological. The file is probably in microvolts or "
            f"ADC counts rather than {chosen_units}; reload it with the correct units (e.g. units='uV')."
        )
    if largest_ptp < MIN_PLAUSIBLE_PTP_MV:
        raise SignalError(
            f"The largest deflection in any lead is {largest_ptp * 1000:.1f} uV: the recording is flat, or its "
            f"numbers are not in {chosen_units}. Check the electrodes or reload it with the correct units."
        )
    meta = ECGMetadata(
        source_format=raw.source_format,
        original_fs_hz=float(raw.fs_hz),
        original_leads=tuple(str(name) for name in raw.named_signals),
        derived_leads=tuple(derived),
        missing_leads=tuple(missing),
        original_units=chosen_units,
        age_years=raw.age_years,
        sex=raw.sex,
        height_cm=raw.height_cm,
        weight_kg=raw.weight_kg,
        device_measurements=dict(raw.device_measurements),
        interpretation=tuple(raw.interpretation),
        acquired=raw.acquired,
        notes=tuple(notes),
    )
    return ECG(signal, raw.fs_hz, meta)

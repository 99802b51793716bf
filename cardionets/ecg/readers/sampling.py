"""Sampling-rate fallback for formats that may not store one (CSV, NumPy)."""

from __future__ import annotations

from ..errors import SignalError

STANDARD_DURATION_S = 10.0
COMMON_RATES_HZ = (250.0, 500.0, 1000.0)


def rate_or_assume_10s(fs_hz: float | None, n_samples: int, notes: list[str], what: str) -> float:
    """The given rate, or the rate that makes the record a standard 10 s ECG at a common cart rate.

    Anything else is refused: measuring intervals at a guessed rate would silently scale every number.
    """
    if fs_hz:
        return float(fs_hz)
    assumed = n_samples / STANDARD_DURATION_S
    if assumed in COMMON_RATES_HZ:
        notes.append(f"sampling rate not stored in the {what}; assumed a 10 s recording at {assumed:g} Hz")
        return assumed
    raise SignalError(
        f"The {what} does not state its sampling rate and its length ({n_samples} samples) is not a 10 s record "
        "at 250, 500 or 1000 Hz. Give the rate (fs_hz=...) or add a time column."
    )

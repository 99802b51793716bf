"""Polyphase resampling to a target rate (scipy.signal.resample_poly, which applies its own anti-alias filter)."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
from scipy import signal

from .record import ECG


def resample_array(values: np.ndarray, fs_hz: float, target_fs_hz: float) -> np.ndarray:
    """Resample along the last axis; the achieved rate is target_fs_hz up to a 1/1000 rational approximation."""
    ratio = Fraction(target_fs_hz / fs_hz).limit_denominator(1000)
    return signal.resample_poly(np.asarray(values, dtype=np.float64), ratio.numerator, ratio.denominator, axis=-1)


def resample(ecg: ECG, fs_hz: float) -> ECG:
    """The same ECG at ``fs_hz``; returned unchanged when already at that rate."""
    if abs(ecg.fs_hz - fs_hz) < 1e-6:
        return ecg
    ratio = Fraction(fs_hz / ecg.fs_hz).limit_denominator(1000)
    resampled = resample_array(ecg.signal_mv, ecg.fs_hz, fs_hz)
    return ecg.with_signal(resampled.astype(np.float32), fs_hz=ecg.fs_hz * ratio.numerator / ratio.denominator)

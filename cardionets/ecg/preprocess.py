"""Signal cleaning: one configurable function used by training, inference, QC and measurement alike.

Defaults follow common resting-ECG practice: a zero-phase 0.5-40 Hz band-pass (zero-phase so intervals are not
shifted), a notch at the mains frequency found in the signal (50 Hz in Europe, 60 Hz in the Americas), and
optional median-filter baseline removal for recordings with strong wander.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import ndimage, signal

from .record import ECG


@dataclass(frozen=True)
class PreprocessConfig:
    """Filter settings. Any stage set to None is skipped.

    highpass_hz / lowpass_hz: Butterworth corners, applied forward and backward (zero phase, doubled order).
    notch_hz: "auto" detects 50 or 60 Hz interference; a number forces that frequency; None disables.
    median_baseline: subtract a 200 ms then 600 ms median-filtered baseline before filtering (slower, removes
    wander that a 0.5 Hz high-pass leaves in long, restless recordings).
    """

    highpass_hz: float | None = 0.5
    lowpass_hz: float | None = 40.0
    notch_hz: float | str | None = "auto"
    median_baseline: bool = False
    order: int = 2


DEFAULT_PREPROCESS = PreprocessConfig()
# Measurement keeps frequencies up to 100 Hz: a 40 Hz low-pass rounds QRS onsets and offsets by ~5-10 ms.
MEASUREMENT_PREPROCESS = PreprocessConfig(highpass_hz=0.5, lowpass_hz=100.0)


def preprocess(ecg: ECG, config: PreprocessConfig = DEFAULT_PREPROCESS) -> ECG:
    """Return a filtered copy of ``ecg``; the input is never modified."""
    x = ecg.signal_mv.astype(np.float64)
    fs = ecg.fs_hz
    applied = []
    if config.median_baseline:
        x = x - _median_baseline(x, fs)
        applied.append("median baseline")
    if config.highpass_hz:
        x = signal.sosfiltfilt(_butter(config.order, config.highpass_hz, "highpass", fs), x, axis=-1)
        applied.append(f"high-pass {config.highpass_hz:g} Hz")
    if config.lowpass_hz and config.lowpass_hz < 0.45 * fs:
        x = signal.sosfiltfilt(_butter(config.order, config.lowpass_hz, "lowpass", fs), x, axis=-1)
        applied.append(f"low-pass {config.lowpass_hz:g} Hz")
    notch = powerline_in_spectrum(*ecg.spectrum) if config.notch_hz == "auto" else config.notch_hz
    if notch and notch < 0.45 * fs:
        b, a = signal.iirnotch(float(notch), Q=30.0, fs=fs)
        x = signal.filtfilt(b, a, x, axis=-1)
        applied.append(f"notch {float(notch):g} Hz")
    return ecg.with_signal(x.astype(np.float32), note="filtered: " + ", ".join(applied) if applied else None)


def powerline_in_spectrum(freqs: np.ndarray, power: np.ndarray, min_ratio: float = 4.0) -> float | None:
    """50 or 60 when that mains frequency stands out of its spectral neighbourhood in a Welch spectrum ((leads, F)
    power, as `ECG.spectrum` gives), else None."""
    if freqs[-1] < 65:  # sampled below 130 Hz: the mains frequencies are not in the signal
        return None
    power = power.sum(axis=0)
    best, best_ratio = None, min_ratio
    for mains in (50.0, 60.0):
        peak = power[np.abs(freqs - mains) <= 1.0]
        neighbourhood = power[(np.abs(freqs - mains) > 2.0) & (np.abs(freqs - mains) <= 8.0)]
        if peak.size and neighbourhood.size:
            ratio = peak.max() / (np.median(neighbourhood) + 1e-12)
            if ratio > best_ratio:
                best, best_ratio = mains, ratio
    return best


@lru_cache(maxsize=64)
def _butter(order: int, cutoff_hz: float, kind: str, fs_hz: float) -> np.ndarray:
    return signal.butter(order, cutoff_hz, btype=kind, fs=fs_hz, output="sos")


def _median_baseline(x: np.ndarray, fs_hz: float) -> np.ndarray:
    short = int(0.2 * fs_hz) | 1
    long = int(0.6 * fs_hz) | 1
    first = ndimage.median_filter(x, size=(1, short), mode="nearest")
    return ndimage.median_filter(first, size=(1, long), mode="nearest")

"""Choosing the cleanest stretch of a longer record.

Noise is scored per one-second block and lead: high-frequency residue (muscle, powerline), baseline excursion
(wander, electrode motion) and flat stretches (lead off), each relative to the lead's own QRS amplitude so that a
big-voltage lead does not dominate. The window with the lowest total wins.
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .record import ECG

LONG_RECORD_S = 60.0
WINDOW_S = 10.0


def block_noise_scores(ecg: ECG) -> np.ndarray:
    """Noise score per whole second of the record (lower is cleaner), summed over present leads."""
    fs = ecg.fs_hz
    block = int(round(fs))
    n_blocks = ecg.n_samples // block
    present = [ECG.leads.index(name) for name in ecg.present_leads]
    x = ecg.signal_mv[present, : n_blocks * block].astype(np.float64)
    wander = signal.sosfiltfilt(signal.butter(2, 0.7, "lowpass", fs=fs, output="sos"), x, axis=-1)
    detrended = x - wander
    if fs > 100:
        hf = signal.sosfiltfilt(signal.butter(2, min(40.0, 0.4 * fs), "highpass", fs=fs, output="sos"), x, axis=-1)
    else:
        hf = np.zeros_like(x)
    shape = (len(present), n_blocks, block)
    ptp = np.ptp(detrended.reshape(shape), axis=-1)
    reference = np.median(ptp, axis=1, keepdims=True) + 0.05  # mV; floor keeps near-flat leads from exploding
    hf_rms = np.sqrt(np.mean(hf.reshape(shape) ** 2, axis=-1))
    wander_span = np.ptp(wander.reshape(shape), axis=-1)
    flat = (ptp < 0.02).astype(np.float64) * 5.0
    return ((hf_rms * 4 + wander_span) / reference + flat).sum(axis=0)


def cleanest_window_start(ecg: ECG, window_s: float = WINDOW_S) -> int:
    """Sample index where the cleanest ``window_s`` window starts (0 when the record is not longer)."""
    n_window_blocks = int(np.ceil(window_s))
    if ecg.duration_s <= window_s + 1:
        return 0
    scores = block_noise_scores(ecg)
    totals = np.convolve(scores, np.ones(n_window_blocks), mode="valid")
    return int(np.argmin(totals)) * int(round(ecg.fs_hz))


def crop(ecg: ECG, start: int, window_s: float = WINDOW_S) -> ECG:
    stop = start + int(round(window_s * ecg.fs_hz))
    note = f"cropped to {window_s:g} s starting at {start / ecg.fs_hz:.1f} s of {ecg.duration_s:.1f} s"
    return ecg.with_signal(ecg.signal_mv[:, start:stop], note=note)


def crop_long_record(ecg: ECG, max_duration_s: float = LONG_RECORD_S, window_s: float = WINDOW_S) -> ECG:
    """Records longer than ``max_duration_s`` (Holter, telemetry) keep only their cleanest window."""
    if ecg.duration_s <= max_duration_s:
        return ecg
    return crop(ecg, cleanest_window_start(ecg, window_s), window_s)

"""The fixed view of an ECG that every model sees: 12 x 5000 samples, 500 Hz, 10 s, filtered.

Training and inference both call :func:`model_view`, so a model never meets a signal prepared differently from
the ones it learned on.
"""

from __future__ import annotations

import numpy as np

from .preprocess import DEFAULT_PREPROCESS, PreprocessConfig, preprocess
from .record import ECG
from .resample import resample
from .window import cleanest_window_start

MODEL_FS_HZ = 500.0
MODEL_DURATION_S = 10.0
MODEL_N_SAMPLES = int(MODEL_FS_HZ * MODEL_DURATION_S)


def model_view(ecg: ECG, config: PreprocessConfig = DEFAULT_PREPROCESS) -> np.ndarray:
    """(12, 5000) float32 mV: filtered, resampled to 500 Hz, cleanest 10 s; shorter records are zero-padded."""
    view = resample(preprocess(ecg, config), MODEL_FS_HZ)
    start = cleanest_window_start(view, MODEL_DURATION_S)
    x = view.signal_mv[:, start : start + MODEL_N_SAMPLES]
    out = np.zeros((x.shape[0], MODEL_N_SAMPLES), dtype=np.float32)
    out[:, : x.shape[1]] = x
    return out

"""Heart-vector waves and their projection onto the 12 leads.

Each wave (the P of one atrium, one activation front of the QRS, the T) is a fixed direction in the body frame
times a bump in time that is exactly zero outside its span, so the model knows its true wave boundaries to the
sample. The heart vector is the sum of the waves; Dower's transform turns it into the eight recorded leads.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Frank X (patient's left), Y (feet), Z (back) -> I, II, V1-V6. Dower GE et al., J Electrocardiol 1980 (the
# "Dower transform", the usual vectorcardiogram-to-12-lead reconstruction).
DOWER_XYZ_TO_8 = np.array([
    [0.632, -0.235, 0.059],   # I
    [0.235, 1.066, -0.132],   # II
    [-0.515, 0.157, -0.917],  # V1
    [0.044, 0.164, -1.387],   # V2
    [0.882, 0.098, -1.277],   # V3
    [1.213, 0.127, -0.601],   # V4
    [1.125, 0.127, -0.086],   # V5
    [0.831, 0.076, 0.230],    # V6
])  # (8, 3)
RECORDED_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # what a cart digitises; the rest are derived

# I, II, V1-V6 -> the 12 standard leads (Einthoven and Goldberger equations for III, aVR, aVL, aVF).
_I, _II = np.eye(8)[0], np.eye(8)[1]
EIGHT_TO_TWELVE = np.array([
    _I, _II, _II - _I, -(_I + _II) / 2, _I - _II / 2, _II - _I / 2, *np.eye(8)[2:],
])  # (12, 8)


@dataclass(frozen=True)
class Wave:
    """One component of the heart vector. Times are relative to the beat's QRS onset.

    ``peak_fraction`` places the crest inside the span (0.5 symmetric; T waves rise slowly and fall fast).
    Repolarising waves stretch with the beat's QT (their onset and duration scale with the preceding RR).
    """

    direction: np.ndarray  # (3,) unit vector, body (Frank) frame
    amplitude_mv: float  # can be negative: a wave whose forces are removed (infarct)
    onset_ms: float
    duration_ms: float
    peak_fraction: float = 0.5
    repolarising: bool = False
    sharpness: float = 1.0  # the bump raised to this power: above 1 a narrower crest and steeper flanks

def bump(u: np.ndarray, peak_fraction: np.ndarray | float) -> np.ndarray:
    """Raised-cosine rise to 1 at ``peak_fraction`` and fall back, for u in [0, 1]; exactly 0 elsewhere.

    Both halves start and end with zero slope, so the wave blends into the baseline without a kink.
    """
    phase = np.where(u < peak_fraction, u / peak_fraction, 1.0 + (u - peak_fraction) / (1.0 - peak_fraction))
    return np.where((u >= 0.0) & (u <= 1.0), 0.5 * (1.0 - np.cos(np.pi * phase)), 0.0)


def render_heart_vector(
    waves: list[Wave], qrs_onsets_s: np.ndarray, amplitude_scale: np.ndarray, qt_stretch: np.ndarray,
    fs_hz: float, n_samples: int,
) -> np.ndarray:
    """(3, n_samples) heart vector in mV: every wave of every beat, summed.

    ``qrs_onsets_s`` (B,) places the beats (t = 0 is the first sample); ``amplitude_scale`` (B,) or (K, B) is
    each beat's voltage factor (breathing), for all waves or wave by wave; ``qt_stretch`` (B,) each beat's
    repolarisation time scale.
    """
    directions = np.array([w.direction for w in waves])  # (K, 3)
    amplitude_mv, onset_ms, duration_ms, peak, repolarising, sharpness = np.array(
        [(w.amplitude_mv, w.onset_ms, w.duration_ms, w.peak_fraction, w.repolarising, w.sharpness) for w in waves]
    ).T[..., None]  # each (K, 1)
    amplitude = amplitude_mv * amplitude_scale  # (K, B)
    stretch = np.where(repolarising > 0, qt_stretch, 1.0)  # (K, B)
    onset_s = qrs_onsets_s + onset_ms / 1000.0 * stretch  # (K, B)
    duration_s = duration_ms / 1000.0 * stretch
    peak, sharpness = peak[..., None], sharpness[..., None]  # (K, 1, 1)

    span = int(np.ceil(duration_s.max() * fs_hz)) + 2
    index = np.ceil(onset_s * fs_hz).astype(int)[..., None] + np.arange(span)  # (K, B, span)
    u = (index / fs_hz - onset_s[..., None]) / duration_s[..., None]
    values = bump(u, peak) ** sharpness * amplitude[..., None]
    inside = (index >= 0) & (index < n_samples)
    flat_index = (np.arange(len(waves))[:, None, None] * n_samples + index)[inside]
    courses = np.bincount(flat_index, values[inside], minlength=len(waves) * n_samples)  # (K * n_samples,)
    return directions.T @ courses.reshape(len(waves), n_samples)


def twelve_leads(recorded_mv: np.ndarray) -> np.ndarray:
    """(12, T) standard leads from the (8, T) recorded ones."""
    return EIGHT_TO_TWELVE @ recorded_mv

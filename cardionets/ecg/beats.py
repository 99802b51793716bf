"""Beat detection and the median beat: the representative complex carts measure on.

R peaks are found on an energy envelope combining all leads, so a small QRS in one lead does not lose the beat.
Beats are aligned by cross-correlation with a first template, beats unlike the template (ectopics, artefacts)
are dropped, and the median of the rest is taken sample by sample, which keeps sharp edges that an average of
slightly misaligned beats would blur.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import signal

# Independent leads: the four other limb leads are linear combinations of I and II and would count the frontal
# plane three times in any "global" (all-lead) measure.
INDEPENDENT_LEADS = (0, 1, 6, 7, 8, 9, 10, 11)  # I, II, V1-V6

MIN_RR_S = 0.27  # about 220 bpm: the fastest rhythm we try to measure
PRE_R_S = 0.40  # median-beat window before the R peak: room for PR up to ~300 ms
POST_R_S = 0.70  # and after it: room for a QT up to ~650 ms
MIN_TEMPLATE_CORRELATION = 0.85  # beats less alike than this are ectopic or artefact and left out of the median


@dataclass(frozen=True)
class MedianBeat:
    """The representative beat of each lead, and the beats that built it.

    ``waveform_mv`` is (12, L) with the R peak at ``r_index``; ``r_peaks`` are sample indices in the source signal.
    """

    waveform_mv: np.ndarray
    fs_hz: float
    r_index: int
    r_peaks: np.ndarray
    used_beats: np.ndarray  # indices into r_peaks

    @property
    def rr_intervals_s(self) -> np.ndarray:
        return np.diff(self.r_peaks) / self.fs_hz


def detect_r_peaks(
    signal_mv: np.ndarray, fs_hz: float, min_rr_s: float = MIN_RR_S, rows: tuple[int, ...] | None = INDEPENDENT_LEADS
) -> np.ndarray:
    """Sample indices of QRS complexes in a filtered (leads, T) signal.

    ``rows`` picks the leads to combine (default: the independent ones of a 12-lead array; None for all rows).
    ``min_rr_s`` is the closest two beats may be; the quality gate lowers it to catch rates above 220 bpm.
    """
    leads = signal_mv if rows is None else signal_mv[list(rows)]
    band = signal.sosfiltfilt(_qrs_band(fs_hz), leads, axis=-1)
    energy = np.sum(band**2, axis=0)
    width = max(1, int(0.08 * fs_hz))
    envelope = np.convolve(energy, np.ones(width) / width, mode="same")
    # Threshold against a high percentile rather than the maximum so one artefact spike cannot hide every beat.
    reference = np.percentile(envelope, 99)
    if reference <= 0:
        return np.empty(0, dtype=int)
    peaks, _ = signal.find_peaks(envelope, height=0.2 * reference, distance=max(1, int(min_rr_s * fs_hz)))
    if peaks.size == 0:
        return peaks
    # Drop small bumps (tall T waves) that passed the height test: a true QRS envelope peak is comparable to the
    # median of all peaks.
    peaks = peaks[envelope[peaks] > 0.3 * np.median(envelope[peaks])]
    # Move each envelope peak to the largest absolute deflection nearby, summed over leads.
    magnitude = np.sum(np.abs(leads), axis=0)
    half = int(0.06 * fs_hz)
    refined = [max(p - half, 0) + int(np.argmax(magnitude[max(p - half, 0) : p + half + 1])) for p in peaks]
    return np.unique(np.asarray(refined, dtype=int))


@lru_cache(maxsize=16)  # designing the filter costs about as much as running it on 10 s
def _qrs_band(fs_hz: float) -> np.ndarray:
    return signal.butter(2, [8.0, min(30.0, 0.45 * fs_hz)], btype="bandpass", fs=fs_hz, output="sos")


def median_beat(signal_mv: np.ndarray, fs_hz: float, r_peaks: np.ndarray | None = None) -> MedianBeat | None:
    """The median beat of a filtered (12, T) signal; None when fewer than two whole beats are found."""
    if r_peaks is None:
        r_peaks = detect_r_peaks(signal_mv, fs_hz)
    pre, post = int(PRE_R_S * fs_hz), int(POST_R_S * fs_hz)
    whole = np.flatnonzero((r_peaks - pre >= 0) & (r_peaks + post <= signal_mv.shape[1]))
    if whole.size < 2:
        return None
    beats = np.stack([signal_mv[:, r - pre : r + post] for r in r_peaks[whole]])  # (B, 12, L)
    beats = _align(beats, fs_hz, pre)
    template = np.median(beats, axis=0)
    qrs = slice(pre - int(0.06 * fs_hz), pre + int(0.08 * fs_hz))
    correlations = np.array([_correlation(beat[:, qrs], template[:, qrs]) for beat in beats])
    keep = correlations >= MIN_TEMPLATE_CORRELATION
    if keep.sum() < 2:
        keep = correlations >= np.sort(correlations)[-2]
    waveform = np.median(beats[keep], axis=0)
    return MedianBeat(waveform.astype(np.float32), fs_hz, pre, r_peaks, whole[keep])


def _align(beats: np.ndarray, fs_hz: float, r_index: int) -> np.ndarray:
    """Shift each beat (by whole samples, up to 20 ms) to best match the first-pass median around the QRS."""
    max_shift = int(0.02 * fs_hz)
    qrs = slice(r_index - int(0.05 * fs_hz), r_index + int(0.05 * fs_hz))
    template = np.median(beats, axis=0)[:, qrs]
    aligned = np.empty_like(beats)
    for b, beat in enumerate(beats):
        scores = [np.sum(np.roll(beat, -s, axis=-1)[:, qrs] * template) for s in range(-max_shift, max_shift + 1)]
        shift = int(np.argmax(scores)) - max_shift
        aligned[b] = np.roll(beat, -shift, axis=-1)
    return aligned


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    denominator = np.sqrt(np.sum(a * a) * np.sum(b * b))
    return float(np.sum(a * b) / denominator) if denominator > 0 else 0.0

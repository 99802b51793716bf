"""Cart measurements on the median beat: rate, intervals, QTc, frontal axes and voltage criteria.

Like resting-ECG carts, intervals are *global*: onsets and offsets are found once on the spatial velocity (the
speed of the heart vector, combining the eight independent leads), not lead by lead, so the earliest onset and
latest offset across leads count. Onsets and offsets are where that speed crosses a fraction of the wave's own
peak speed above the beat's quiet level, interpolated between samples.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal

from .beats import INDEPENDENT_LEADS, MedianBeat, median_beat
from .errors import SignalError
from .leads import STANDARD_LEADS
from .preprocess import MEASUREMENT_PREPROCESS, preprocess
from .record import ECG
from .resample import resample

MEASURE_FS_HZ = 500.0  # one working rate so that every window and smoothing length means the same everywhere

@dataclass(frozen=True)
class DelineationSettings:
    """The thresholds of the global delineation, as data so that they can be tuned without touching the code.
    Onsets and offsets are where the spatial velocity crosses a fraction of the wave's own peak speed above the
    beat's quiet level. The T-end, P-edge and P-hump fractions are the ones `training.tune_delineation` chose
    on LUDB's development records (its cross-validated figures are in docs/results.md)."""

    qrs_onset_fraction: float = 0.03
    qrs_offset_fraction: float = 0.03
    t_end_fraction: float = 0.12
    p_edge_fraction: float = 0.20
    # A P wave must move the heart vector clearly faster than the quiet level to count as present (absent in AF).
    min_p_to_quiet_ratio: float = 2.5
    # 0.025 mV (was 0.04): LUDB's record 127 has a clear P wave of 0.027 mV spatial amplitude; chosen on LUDB's P
    # detection (in-sample), checked against PTB-XL, where AF records with a "P wave" did not rise (0.15).
    min_p_amplitude_mv: float = 0.025
    # P waves last up to about 120 ms: speed humps further than that from the one nearest the QRS belong to
    # something else (the previous T wave, a U wave, noise) and would pull the onset far too early.
    p_wave_widest_ms: float = 120.0
    p_hump_fraction: float = 0.3  # a speed hump of the P wave rises at least this far from quiet to the peak
    # The T-wave search ends where a QT with this QTc would (Bazett), at most 600 ms after the QRS onset: at
    # 85 bpm the next beat's P wave starts about 500 ms after the R peak and would otherwise pass for the T wave.
    longest_qtc_s: float = 0.55


DELINEATION = DelineationSettings()


@dataclass(frozen=True)
class Fiducials:
    """Global wave boundaries on the median beat, as sample indices (float, sub-sample)."""

    p_onset: float | None
    p_offset: float | None
    qrs_onset: float
    qrs_offset: float
    t_peak: float
    t_offset: float


@dataclass(frozen=True)
class Measurements:
    """Cart measurements. Intervals in ms, axes in degrees (-90..180 range wrapped to -180..180), voltages in mV.

    P-wave values are None when no P wave is found (atrial fibrillation, junctional rhythm).
    """

    hr_bpm: float
    rr_ms: float
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float
    qtc_bazett_ms: float
    qtc_fridericia_ms: float
    p_axis_deg: float | None
    qrs_axis_deg: float
    t_axis_deg: float
    sokolow_lyon_mv: float
    cornell_mv: float
    n_beats: int

    def to_dict(self) -> dict[str, float | int | None]:
        return {k: (round(v, 1) if isinstance(v, float) else v) for k, v in asdict(self).items()}


@dataclass(frozen=True)
class MeasuredBeat:
    """Measurements together with the median beat and fiducials they were taken on (for plots and checks)."""

    measurements: Measurements
    beat: MedianBeat
    fiducials: Fiducials


class MeasurementError(SignalError):
    """No measurable beats: too few QRS complexes or a signal too noisy to align."""


def measure(ecg: ECG, settings: DelineationSettings = DELINEATION) -> Measurements:
    """Global cart measurements of an ECG (raw or filtered; it is filtered here for measurement)."""
    return measure_with_beat(ecg, settings).measurements


def measure_with_beat(ecg: ECG, settings: DelineationSettings = DELINEATION) -> MeasuredBeat:
    work = resample(preprocess(ecg, MEASUREMENT_PREPROCESS), MEASURE_FS_HZ)
    beat = median_beat(work.signal_mv, work.fs_hz)
    if beat is None:
        raise MeasurementError("Fewer than two complete heartbeats were found; the ECG cannot be measured.")
    rr_s = float(np.mean(beat.rr_intervals_s))
    fiducials = delineate(beat.waveform_mv, beat.fs_hz, beat.r_index, rr_s, settings)
    ms = 1000.0 / beat.fs_hz
    qt_ms = (fiducials.t_offset - fiducials.qrs_onset) * ms
    waveform = beat.waveform_mv - isoelectric_level(beat.waveform_mv, fiducials.qrs_onset, beat.fs_hz)
    has_p = fiducials.p_onset is not None and fiducials.p_offset is not None
    measurements = Measurements(
        hr_bpm=60.0 / rr_s,
        rr_ms=rr_s * 1000.0,
        pr_ms=(fiducials.qrs_onset - fiducials.p_onset) * ms if has_p else None,
        qrs_ms=(fiducials.qrs_offset - fiducials.qrs_onset) * ms,
        qt_ms=qt_ms,
        qtc_bazett_ms=float(qt_ms / np.sqrt(rr_s)),
        qtc_fridericia_ms=float(qt_ms / np.cbrt(rr_s)),
        p_axis_deg=frontal_axis_deg(waveform, fiducials.p_onset, fiducials.p_offset) if has_p else None,
        qrs_axis_deg=frontal_axis_deg(waveform, fiducials.qrs_onset, fiducials.qrs_offset, by="net_deflection"),
        t_axis_deg=frontal_axis_deg(waveform, fiducials.qrs_offset, fiducials.t_offset),
        sokolow_lyon_mv=_sokolow_lyon(waveform, fiducials),
        cornell_mv=_cornell(waveform, fiducials),
        n_beats=int(beat.used_beats.size),
    )
    return MeasuredBeat(measurements, beat, fiducials)


def delineate(waveform_mv: np.ndarray, fs_hz: float, r_index: int, rr_s: float | None = None,
              settings: DelineationSettings = DELINEATION) -> Fiducials:
    """Global onsets and offsets on a (12, L) median beat whose R peak is at ``r_index``; ``rr_s``, the mean
    RR interval, keeps the T-wave search before the next beat's P wave at fast rates."""
    ms = fs_hz / 1000.0
    qrs_speed = spatial_velocity(waveform_mv, fs_hz, smooth_ms=8)
    quiet = float(np.percentile(qrs_speed, 25))
    around_r = slice(int(r_index - 60 * ms), int(r_index + 60 * ms))
    peak = around_r.start + int(np.argmax(qrs_speed[around_r]))
    qrs_onset = _crossing(qrs_speed, peak, -1, quiet, settings.qrs_onset_fraction, limit=int(r_index - 120 * ms))
    qrs_offset = _crossing(qrs_speed, peak, +1, quiet, settings.qrs_offset_fraction, limit=int(r_index + 140 * ms))

    slow_speed = spatial_velocity(waveform_mv, fs_hz, smooth_ms=20, lowpass_hz=25.0)
    slow_quiet = float(np.percentile(slow_speed, 20))
    t_peak, t_offset = _t_wave(waveform_mv, slow_speed, slow_quiet, qrs_onset, qrs_offset, fs_hz, rr_s, settings)
    p_onset, p_offset = _p_wave(waveform_mv, slow_speed, slow_quiet, qrs_onset, fs_hz, settings)
    return Fiducials(p_onset, p_offset, qrs_onset, qrs_offset, t_peak, t_offset)


def spatial_velocity(
    waveform_mv: np.ndarray, fs_hz: float, smooth_ms: float, lowpass_hz: float | None = None
) -> np.ndarray:
    """Speed of the heart vector (mV/s) over the independent leads, smoothed over ``smooth_ms``."""
    x = waveform_mv[list(INDEPENDENT_LEADS)].astype(np.float64)
    if lowpass_hz:
        x = signal.sosfiltfilt(signal.butter(2, lowpass_hz, "lowpass", fs=fs_hz, output="sos"), x, axis=-1)
    speed = np.sqrt(np.sum(np.gradient(x, axis=-1) ** 2, axis=0)) * fs_hz
    width = max(1, int(round(smooth_ms * fs_hz / 1000.0)))
    return np.convolve(speed, np.ones(width) / width, mode="same")


def _crossing(speed: np.ndarray, start: int, step: int, quiet: float, fraction: float, limit: int) -> float:
    """Walk from ``start`` in direction ``step`` to where speed first drops below quiet + fraction * (peak-quiet).

    Returns a sub-sample index by linear interpolation; the search stops at ``limit``.
    """
    threshold = quiet + fraction * (speed[start] - quiet)
    limit = int(np.clip(limit, 0, speed.size - 1))
    index = start
    while index != limit and speed[index] >= threshold:
        index += step
    if index == start:
        return float(index)
    previous = index - step
    span = speed[previous] - speed[index]
    part = (speed[previous] - threshold) / span if span > 0 else 0.0
    return previous + step * float(np.clip(part, 0.0, 1.0))


def _t_wave(waveform, slow_speed, quiet, qrs_onset, qrs_offset, fs_hz, rr_s, settings) -> tuple[float, float]:
    """T peak (largest deviation of the heart vector from the isoelectric level) and T end (speed falls quiet)."""
    ms = fs_hz / 1000.0
    level = isoelectric_level(waveform, qrs_onset, fs_hz)
    magnitude = np.linalg.norm((waveform - level)[list(INDEPENDENT_LEADS)], axis=0)
    start = int(qrs_offset + 60 * ms)
    longest_qt_ms = 600.0 if rr_s is None else min(600.0, 1000.0 * settings.longest_qtc_s * np.sqrt(rr_s))
    stop = min(waveform.shape[1] - 1, int(qrs_onset + longest_qt_ms * ms))
    stop = max(stop, start + int(40 * ms))  # a very fast rate still leaves a window to search
    t_peak = start + int(np.argmax(magnitude[start:stop]))
    # The descending limb is where the vector moves fastest on its way back; T ends when that speed settles.
    descent = t_peak + int(np.argmax(slow_speed[t_peak : min(stop, t_peak + int(150 * ms))]))
    t_offset = _crossing(slow_speed, descent, +1, quiet, settings.t_end_fraction, limit=stop)
    return float(t_peak), t_offset


def _p_wave(waveform, slow_speed, quiet, qrs_onset, fs_hz, settings) -> tuple[float | None, float | None]:
    """P onset and offset in the 300 ms before the QRS, or (None, None) when no P wave stands out."""
    ms = fs_hz / 1000.0
    start = max(0, int(qrs_onset - 300 * ms))
    stop = int(qrs_onset - 20 * ms)
    if stop - start < 40 * ms:
        return None, None
    # At fast rates the previous beat's T wave still settles as the window opens: skip its falling tail, so that
    # a P wave after it is not mistaken for motion at the window's edge.
    while start < stop - 40 * ms and slow_speed[start + 1] < slow_speed[start]:
        start += 1
    level = isoelectric_level(waveform, qrs_onset, fs_hz)
    magnitude = np.linalg.norm((waveform - level)[list(INDEPENDENT_LEADS), start:stop], axis=0)
    window = slow_speed[start:stop]
    peak = start + int(np.argmax(window))
    if window.max() < settings.min_p_to_quiet_ratio * quiet or np.ptp(magnitude) < settings.min_p_amplitude_mv:
        return None, None
    # The P wave has two speed humps (up- and down-stroke); onset from the first hump, offset from the last, of
    # those within a P wave's width of the hump nearest the QRS.
    height = quiet + settings.p_hump_fraction * (window.max() - quiet)
    humps, _ = signal.find_peaks(window, height=height, distance=int(20 * ms))
    humps = humps[humps >= humps[-1] - settings.p_wave_widest_ms * ms] if humps.size else humps
    first = start + int(humps[0]) if humps.size else peak
    last = start + int(humps[-1]) if humps.size else peak
    p_onset = _crossing(slow_speed, first, -1, quiet, settings.p_edge_fraction, limit=start)
    p_offset = _crossing(slow_speed, last, +1, quiet, settings.p_edge_fraction, limit=stop)
    if p_onset <= start + 1:
        # Still moving at the window's edge: the previous beat's T wave or fibrillatory waves, not a P wave.
        return None, None
    return p_onset, p_offset


def isoelectric_level(waveform: np.ndarray, qrs_onset: float, fs_hz: float) -> np.ndarray:
    """Per-lead level just before the QRS (the PR segment's end), the reference for amplitudes."""
    stop = int(qrs_onset - 0.004 * fs_hz)
    start = max(0, stop - int(0.016 * fs_hz))
    return np.median(waveform[:, start : max(stop, start + 1)], axis=1, keepdims=True)


def frontal_axis_deg(waveform: np.ndarray, onset: float, offset: float, by: str = "area") -> float:
    """Frontal-plane axis from leads I and aVF over one wave (hexaxial reference system).

    ``by="area"`` uses net areas, robust for the broad, low P and T waves; ``by="net_deflection"`` uses the
    largest positive plus largest negative deflection, the clinical rule for the narrow, biphasic QRS.
    """
    span = slice(int(round(onset)), int(round(offset)) + 1)
    lead_i, lead_avf = waveform[STANDARD_LEADS.index("I"), span], waveform[STANDARD_LEADS.index("aVF"), span]
    if by == "net_deflection":
        x, y = lead_i.max() + lead_i.min(), lead_avf.max() + lead_avf.min()
    else:
        x, y = lead_i.sum(), lead_avf.sum()
    return float(np.degrees(np.arctan2(float(y), float(x))))


def _r_and_s(waveform: np.ndarray, fiducials: Fiducials, lead: str) -> tuple[float, float]:
    qrs = waveform[STANDARD_LEADS.index(lead), int(fiducials.qrs_onset) : int(np.ceil(fiducials.qrs_offset)) + 1]
    return max(float(qrs.max()), 0.0), max(-float(qrs.min()), 0.0)


def _sokolow_lyon(waveform: np.ndarray, fiducials: Fiducials) -> float:
    """S in V1 plus the taller R of V5 and V6 (LV hypertrophy when above 3.5 mV)."""
    return _r_and_s(waveform, fiducials, "V1")[1] + max(
        _r_and_s(waveform, fiducials, "V5")[0], _r_and_s(waveform, fiducials, "V6")[0]
    )


def _cornell(waveform: np.ndarray, fiducials: Fiducials) -> float:
    """R in aVL plus S in V3 (LV hypertrophy above 2.8 mV in men, 2.0 mV in women)."""
    return _r_and_s(waveform, fiducials, "aVL")[0] + _r_and_s(waveform, fiducials, "V3")[1]

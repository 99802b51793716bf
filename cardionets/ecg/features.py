"""Descriptive features of one ECG: what tells a real recording from a simulated one, and a healthy heart from a
diseased one, in numbers a cardiologist would recognise.

    features = ecg_features(record)     # {name: value}; NaN where a feature cannot be measured

Rate and its variability (SDNN, RMSSD, premature beats per minute), the cart's intervals, axes and voltage
criteria, each lead's R and S amplitude on the median beat, the T wave's amplitude and asymmetry, how much
beats differ from their median, noise in three bands, and the atrial activity left once each QRST is taken
away (f-wave amplitude and frequency in AF). Band powers need the rate to see them: at 100 Hz nothing above
50 Hz exists, so mains (50/60 Hz) and most muscle noise are invisible and pacing spikes are smeared; compare
records at one common rate (`resample`).
"""

from __future__ import annotations

import numpy as np
from scipy import signal

from .beats import PRE_R_S, MedianBeat
from .leads import STANDARD_LEADS
from .measure import MEASURE_FS_HZ, MeasuredBeat, MeasurementError, isoelectric_level, measure_with_beat
from .preprocess import MEASUREMENT_PREPROCESS, preprocess
from .record import ECG
from .resample import resample

PREMATURE_SHARE = 0.85  # an RR interval shorter than this share of the median comes from a premature beat
NOISE_BANDS_HZ = {"wander": (0.0, 0.5), "midband": (15.0, 25.0), "muscle": (25.0, 45.0)}
F_WAVE_BAND_HZ = (3.0, 12.0)  # atrial fibrillation's f waves: 4-9 Hz, with room on each side
T_LEADS = ("II", "V2", "V5")
AMPLITUDE_LEADS = STANDARD_LEADS


def ecg_features(ecg: ECG) -> dict[str, float]:
    """The features of ``ecg``; every key is always present (NaN where the ECG could not be measured)."""
    features = dict.fromkeys(feature_names(), np.nan)
    features |= _noise(ecg)
    try:
        measured = measure_with_beat(ecg)
    except (MeasurementError, ValueError):
        return features
    m, beat, fiducials = measured.measurements, measured.beat, measured.fiducials
    rr_ms = beat.rr_intervals_s * 1000.0
    features |= {
        "hr_bpm": m.hr_bpm, "pr_ms": _nan(m.pr_ms), "qrs_ms": m.qrs_ms, "qt_ms": m.qt_ms,
        "qtc_bazett_ms": m.qtc_bazett_ms, "p_axis_deg": _nan(m.p_axis_deg), "qrs_axis_deg": m.qrs_axis_deg,
        "t_axis_deg": m.t_axis_deg, "sokolow_lyon_mv": m.sokolow_lyon_mv, "cornell_mv": m.cornell_mv,
        "p_wave_present": float(m.pr_ms is not None),
    }
    if rr_ms.size >= 2:
        features |= {"sdnn_ms": float(np.std(rr_ms, ddof=1)),
                     "rmssd_ms": float(np.sqrt(np.mean(np.diff(rr_ms) ** 2))),
                     "rr_irregularity": float(np.sqrt(np.mean(np.diff(rr_ms) ** 2)) / np.mean(rr_ms)),
                     "premature_per_min": float(np.sum(rr_ms < PREMATURE_SHARE * np.median(rr_ms))
                                                * 60.0 / ecg.duration_s)}
    waveform = beat.waveform_mv - isoelectric_level(beat.waveform_mv, fiducials.qrs_onset, beat.fs_hz)
    qrs = waveform[:, int(fiducials.qrs_onset):int(np.ceil(fiducials.qrs_offset)) + 1]
    for lead in AMPLITUDE_LEADS:
        row = STANDARD_LEADS.index(lead)
        features[f"r_{lead}_mv"] = max(float(qrs[row].max()), 0.0)
        features[f"s_{lead}_mv"] = max(-float(qrs[row].min()), 0.0)
    for lead in T_LEADS:
        features[f"t_{lead}_mv"] = float(waveform[STANDARD_LEADS.index(lead), int(fiducials.t_peak)])
    rise = fiducials.t_peak - fiducials.qrs_offset
    fall = fiducials.t_offset - fiducials.t_peak
    features["t_rise_to_fall"] = float(rise / fall) if fall > 0 else np.nan
    beats = _aligned_beats(ecg, beat)
    features |= _beat_variation(beats, measured) | _atrial_activity(beats, measured)
    return features


def feature_names() -> list[str]:
    names = ["hr_bpm", "sdnn_ms", "rmssd_ms", "rr_irregularity", "premature_per_min", "pr_ms", "qrs_ms", "qt_ms",
             "qtc_bazett_ms", "p_axis_deg", "qrs_axis_deg", "t_axis_deg", "sokolow_lyon_mv", "cornell_mv",
             "p_wave_present"]
    names += [f"{kind}_{lead}_mv" for lead in AMPLITUDE_LEADS for kind in ("r", "s")]
    names += [f"t_{lead}_mv" for lead in T_LEADS] + ["t_rise_to_fall", "beat_variation"]
    names += [f"noise_{band}_mv" for band in NOISE_BANDS_HZ] + ["f_wave_mv", "f_wave_hz"]
    return names


def _nan(value: float | None) -> float:
    return np.nan if value is None else float(value)


def _noise(ecg: ECG) -> dict[str, float]:
    """RMS amplitude (mV, median over leads) in each band of NOISE_BANDS_HZ that the rate can show. Baseline
    wander lies below the 0.5 Hz resolution of the record's 2 s Welch spectrum, so it is low-passed instead."""
    freqs, power = ecg.spectrum  # Welch densities (leads, F)
    wander_hz = NOISE_BANDS_HZ["wander"][1]
    baseline = signal.sosfiltfilt(signal.butter(2, wander_hz, "lowpass", fs=ecg.fs_hz, output="sos"),
                                  ecg.signal_mv.astype(np.float64), axis=-1)
    out = {"noise_wander_mv": float(np.median(np.std(baseline, axis=-1)))}
    for band, (low, high) in list(NOISE_BANDS_HZ.items())[1:]:
        inside = (freqs >= low) & (freqs <= high)
        if high > 0.45 * ecg.fs_hz or inside.sum() < 2:
            out[f"noise_{band}_mv"] = np.nan
            continue
        band_power = np.trapezoid(power[:, inside], freqs[inside], axis=1)
        out[f"noise_{band}_mv"] = float(np.median(np.sqrt(np.maximum(band_power, 0.0))))
    return out


def _aligned_beats(ecg: ECG, beat: MedianBeat) -> np.ndarray:
    """(beats, 12, L) every whole beat of the signal the measurements used (500 Hz, filtered), R peaks aligned
    as in the median beat."""
    work = resample(preprocess(ecg, MEASUREMENT_PREPROCESS), MEASURE_FS_HZ).signal_mv
    pre, length = int(PRE_R_S * beat.fs_hz), beat.waveform_mv.shape[1]
    beats = [work[:, r - pre:r - pre + length] for r in beat.r_peaks
             if r - pre >= 0 and r - pre + length <= work.shape[1]]
    return np.stack(beats) if beats else np.empty((0, *beat.waveform_mv.shape))


def _beat_variation(beats: np.ndarray, measured: MeasuredBeat) -> dict[str, float]:
    """RMS difference of each beat's QRS from the median beat's, over the median QRS's RMS (median over beats):
    real hearts and electrodes vary a little from beat to beat, a simulator may not."""
    median, f = measured.beat.waveform_mv, measured.fiducials
    window = slice(int(f.qrs_onset), int(np.ceil(f.qrs_offset)) + 1)
    scale = float(np.sqrt(np.mean(median[:, window] ** 2)))
    if len(beats) < 2 or scale <= 0:
        return {"beat_variation": np.nan}
    residual = np.sqrt(np.mean((beats[:, :, window] - median[None, :, window]) ** 2, axis=(1, 2)))
    return {"beat_variation": float(np.median(residual) / scale)}


def _atrial_activity(beats: np.ndarray, measured: MeasuredBeat) -> dict[str, float]:
    """Lead V1 outside the QRST (before the QRS onset, after the T end up to the shortest RR) with each beat's
    median taken away: its RMS (the f-wave amplitude in AF, noise otherwise) and its dominant frequency in
    F_WAVE_BAND_HZ. In sinus rhythm the P wave is in the median too, so it is taken away with it."""
    beat, f = measured.beat, measured.fiducials
    fs, v1 = beat.fs_hz, STANDARD_LEADS.index("V1")
    next_qrs = beat.r_index + int(0.9 * np.min(beat.rr_intervals_s) * fs) if beat.rr_intervals_s.size else 0
    outside = np.zeros(beat.waveform_mv.shape[1], dtype=bool)
    outside[:max(0, int(f.qrs_onset - 0.02 * fs))] = True
    outside[int(np.ceil(f.t_offset)):max(int(np.ceil(f.t_offset)), next_qrs)] = True
    if len(beats) < 2 or outside.sum() < 0.25 * fs:
        return {"f_wave_mv": np.nan, "f_wave_hz": np.nan}
    residual = beats[:, v1] - beat.waveform_mv[v1][None]
    sos = signal.butter(2, F_WAVE_BAND_HZ, "bandpass", fs=fs, output="sos")
    band = signal.sosfiltfilt(sos, residual, axis=-1)[:, outside]  # (beats, samples outside the QRST)
    freqs, power = signal.welch(band, fs=fs, nperseg=min(band.shape[1], int(fs)), axis=-1)
    inside = (freqs >= F_WAVE_BAND_HZ[0]) & (freqs <= F_WAVE_BAND_HZ[1])
    spectrum = power.mean(axis=0)
    return {"f_wave_mv": float(np.sqrt(np.mean(band ** 2))),
            "f_wave_hz": float(freqs[inside][np.argmax(spectrum[inside])]) if inside.any() else np.nan}

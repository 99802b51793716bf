"""Recording noise and the cart's filters: what lies between the heart's signal and the samples a cart stores.

Noise is drawn for each recorded lead independently (the derived limb leads inherit it, as on a real cart):
baseline wander from breathing and slow electrode drift, mains hum, bursts of muscle tremor, and now and then an
electrode-motion transient. The amplitudes come from the site's EcgDevice.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from scipy import signal

from .sites import EcgDevice

# Slow electrode drift (skin-electrode half-cell potentials settling) sits below breathing.
DRIFT_HZ = (0.05, 0.15)
DRIFT_COMPONENTS = 2
DRIFT_SHARE = 0.5  # of the wander amplitude; breathing carries the rest
# Mains pickup differs by lead (cable loops, electrode impedance): log-normal spread around the site's level.
MAINS_LEAD_SPREAD = 0.4
# Surface EMG lies mostly between 20 and 150 Hz; tremor comes in bursts (the patient tenses, shivers, talks).
MUSCLE_BAND_HZ = (20.0, 150.0)
MUSCLE_BURST_DEPTH = 0.8  # SD of the log envelope: about half the time quiet, the rest up to ~3x louder
MUSCLE_ENVELOPE_HZ = (0.1, 0.6)
# Electrode motion: a step when an electrode shifts, settling as the half-cell potential recovers.
MOTION_PROBABILITY = 0.1  # per recording
MOTION_STEP_MV = 0.3
MOTION_SETTLE_S = (0.3, 1.0)
# Skin-electrode and tissue noise between wander and muscle: real ECGs keep ~0.01 mV (RMS) in 3-12 Hz once each
# beat's median is taken away, a clean simulation almost none. Log-normal between recordings.
ELECTRODE_BAND_HZ = (1.0, 12.0)
ELECTRODE_NOISE_MV = 0.008
ELECTRODE_NOISE_SPREAD = 0.5


def recording_noise(
    n_leads: int, n_samples: int, fs_hz: float, device: EcgDevice, respiration_hz: float, rng: np.random.Generator
) -> np.ndarray:
    """(n_leads, n_samples) additive noise in mV."""
    t = np.arange(n_samples) / fs_hz
    return (
        _baseline_wander(n_leads, t, device.wander_mv, respiration_hz, rng)
        + _mains(n_leads, t, device, rng)
        + _muscle(n_leads, n_samples, fs_hz, device.muscle_noise_mv, rng)
        + _electrode_motion(n_leads, t, rng)
    )


def electrode_noise(n_leads: int, n_samples: int, fs_hz: float, rng: np.random.Generator) -> np.ndarray:
    """(n_leads, n_samples) low-frequency electrode noise in mV, independent from lead to lead."""
    band = signal.sosfilt(_band_sos(*ELECTRODE_BAND_HZ, fs_hz), rng.standard_normal((n_leads, n_samples)), axis=-1)
    level = ELECTRODE_NOISE_MV * rng.lognormal(0.0, ELECTRODE_NOISE_SPREAD)
    return band * (level / max(float(np.sqrt(np.mean(band**2))), 1e-12))


def cart_filter(signal_mv: np.ndarray, device: EcgDevice, fs_hz: float) -> np.ndarray:
    """The cart's own band-pass along the last axis (zero phase, as linear-phase digital carts behave)."""
    return signal.sosfiltfilt(_cart_sos(device.highpass_hz, device.lowpass_hz, fs_hz), signal_mv, axis=-1)


@lru_cache(maxsize=16)  # designing a filter costs about as much as running it on one recording
def _cart_sos(highpass_hz: float, lowpass_hz: float, fs_hz: float) -> np.ndarray:
    if lowpass_hz < 0.45 * fs_hz:
        return signal.butter(2, (highpass_hz, lowpass_hz), btype="bandpass", fs=fs_hz, output="sos")
    return signal.butter(2, highpass_hz, btype="highpass", fs=fs_hz, output="sos")


@lru_cache(maxsize=16)
def _band_sos(low_hz: float, high_hz: float, fs_hz: float) -> np.ndarray:
    return signal.butter(2, (low_hz, min(high_hz, 0.45 * fs_hz)), btype="bandpass", fs=fs_hz, output="sos")


def _sinusoids(t: np.ndarray, freqs_hz: np.ndarray, amplitudes: np.ndarray, phases: np.ndarray) -> np.ndarray:
    """(L, T) sums of sinusoids: ``amplitudes`` and ``phases`` are (L, C), ``freqs_hz`` is (C,).

    Each lead's sinusoid is a mix of one shared sine and cosine per frequency, so only 2C waves are evaluated,
    in float32 (vectorised, ~20x faster; the 1e-4 rad phase error is immaterial for noise).
    """
    angle = (2 * np.pi * freqs_hz[:, None] * t).astype(np.float32)  # (C, T)
    basis = np.concatenate([np.sin(angle), np.cos(angle)])  # (2C, T)
    return np.concatenate([amplitudes * np.cos(phases), amplitudes * np.sin(phases)], axis=1) @ basis


def _baseline_wander(n_leads, t, wander_mv, respiration_hz, rng) -> np.ndarray:
    """Breathing moves every electrode in step (one phase), by a different amount and sign in each lead; slow
    electrode drift is independent from lead to lead."""
    freqs_hz = np.concatenate(([respiration_hz], rng.uniform(*DRIFT_HZ, DRIFT_COMPONENTS)))
    shares = np.array([1.0 - DRIFT_SHARE] + [DRIFT_SHARE] * DRIFT_COMPONENTS)
    amplitudes = rng.normal(0.0, 1.0, (n_leads, freqs_hz.size)) * shares * wander_mv
    phases = rng.uniform(0, 2 * np.pi, (n_leads, freqs_hz.size))
    phases[:, 0] = phases[0, 0]
    return _sinusoids(t, freqs_hz, amplitudes, phases)


def _mains(n_leads, t, device: EcgDevice, rng) -> np.ndarray:
    amplitudes = device.mains_mv * rng.lognormal(0.0, MAINS_LEAD_SPREAD, (n_leads, 1))
    return _sinusoids(t, np.array([device.mains_hz]), amplitudes, rng.uniform(0, 2 * np.pi, (n_leads, 1)))


def _muscle(n_leads, n_samples, fs_hz, rms_mv, rng) -> np.ndarray:
    if rms_mv <= 0:
        return np.zeros((n_leads, n_samples))
    band = signal.sosfilt(_band_sos(*MUSCLE_BAND_HZ, fs_hz), rng.standard_normal((n_leads, n_samples)), axis=-1)
    t = np.arange(n_samples) / fs_hz
    log_envelope = _sinusoids(t, rng.uniform(*MUSCLE_ENVELOPE_HZ, 3), np.full((1, 3), np.sqrt(2 / 3)),
                              rng.uniform(0, 2 * np.pi, (1, 3)))  # (1, T), unit variance
    envelope = np.exp(MUSCLE_BURST_DEPTH * log_envelope)
    noise = band * envelope
    return noise * (rms_mv / np.sqrt(np.mean(noise**2)))


def _electrode_motion(n_leads, t, rng) -> np.ndarray:
    motion = np.zeros((n_leads, t.size))
    if rng.random() >= MOTION_PROBABILITY:
        return motion
    lead, start_s = rng.integers(n_leads), rng.uniform(0, t[-1])
    after = t >= start_s
    motion[lead, after] = rng.normal(0.0, MOTION_STEP_MV) * np.exp(-(t[after] - start_s) / rng.uniform(*MOTION_SETTLE_S))
    return motion

"""Our global measurements agree with the Mortara cart's own on its real ECG, and stay put under noise and rate."""

import numpy as np
import pytest

from cardionets.ecg import resample
from cardionets.ecg.measure import MeasurementError, measure, measure_with_beat
from tests.conftest import MORTARA_DEVICE

# Acceptance limits of the foundation issue (ms, degrees, bpm).
INTERVAL_TOLERANCE = {"pr_ms": 15, "qt_ms": 15, "qrs_ms": 12}
AXIS_TOLERANCE_DEG = 15


def test_heart_rate_matches_the_cart_within_2_bpm(mortara_ecg):
    assert measure(mortara_ecg).hr_bpm == pytest.approx(60000 / MORTARA_DEVICE["rr_ms"], abs=2)


@pytest.mark.parametrize("key", sorted(INTERVAL_TOLERANCE))
def test_intervals_match_the_cart(mortara_ecg, key):
    assert getattr(measure(mortara_ecg), key) == pytest.approx(MORTARA_DEVICE[key], abs=INTERVAL_TOLERANCE[key])


@pytest.mark.parametrize("key", ["p_axis_deg", "qrs_axis_deg", "t_axis_deg"])
def test_axes_match_the_cart(mortara_ecg, key):
    assert getattr(measure(mortara_ecg), key) == pytest.approx(MORTARA_DEVICE[key], abs=AXIS_TOLERANCE_DEG)


def test_qtc_formulas(mortara_ecg):
    m = measure(mortara_ecg)
    rr_s = m.rr_ms / 1000
    assert m.qtc_bazett_ms == pytest.approx(m.qt_ms / rr_s**0.5)
    assert m.qtc_fridericia_ms == pytest.approx(m.qt_ms / rr_s ** (1 / 3))


def test_normal_voltages_are_below_hypertrophy_criteria(mortara_ecg):
    m = measure(mortara_ecg)
    assert 1.0 < m.sokolow_lyon_mv < 3.5  # S(V1) ~1.2 + R(V5) ~1.9 mV on this tracing
    assert 0.3 < m.cornell_mv < 2.0


@pytest.mark.parametrize("fs_hz", [250, 500])
def test_measurements_do_not_depend_on_the_sampling_rate(mortara_ecg, fs_hz):
    native, resampled = measure(mortara_ecg), measure(resample(mortara_ecg, fs_hz))
    for key in ("pr_ms", "qrs_ms", "qt_ms"):
        assert getattr(resampled, key) == pytest.approx(getattr(native, key), abs=4)


def test_measurements_survive_mains_interference_and_baseline_wander(mortara_ecg):
    t = np.arange(mortara_ecg.n_samples) / mortara_ecg.fs_hz
    disturbed = mortara_ecg.with_signal(
        mortara_ecg.signal_mv + 0.2 * np.sin(2 * np.pi * 50 * t) + 0.5 * np.sin(2 * np.pi * 0.3 * t)
    )
    clean, noisy = measure(mortara_ecg), measure(disturbed)
    for key in ("pr_ms", "qrs_ms", "qt_ms"):
        assert getattr(noisy, key) == pytest.approx(getattr(clean, key), abs=6)


def test_doubling_the_signal_gain_doubles_voltages_but_not_intervals(mortara_ecg):
    clean, doubled = measure(mortara_ecg), measure(mortara_ecg.with_signal(mortara_ecg.signal_mv * 2))
    assert doubled.sokolow_lyon_mv == pytest.approx(2 * clean.sokolow_lyon_mv, rel=0.02)
    assert doubled.qrs_ms == pytest.approx(clean.qrs_ms, abs=2)


def test_without_p_waves_pr_and_p_axis_are_absent(mortara_ecg):
    # Replace everything before each QRS onset by the isoelectric line: the atrial activity of AF is gone.
    beat = measure_with_beat(mortara_ecg)
    signal = mortara_ecg.signal_mv.copy()
    scale = mortara_ecg.fs_hz / beat.beat.fs_hz
    before_qrs = int((beat.beat.r_index - beat.fiducials.qrs_onset) * scale) + 10
    for r in beat.beat.r_peaks:
        r_native = int(r * scale)
        signal[:, max(0, r_native - 400) : r_native - before_qrs] = signal[:, [r_native - before_qrs]]
    m = measure(mortara_ecg.with_signal(signal))
    assert m.pr_ms is None and m.p_axis_deg is None


def test_a_flat_line_cannot_be_measured(mortara_ecg):
    with pytest.raises(MeasurementError, match="heartbeats"):
        measure(mortara_ecg.with_signal(np.zeros_like(mortara_ecg.signal_mv)))

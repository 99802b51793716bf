"""Filtering, resampling and the model's fixed view behave as documented."""

import numpy as np
import pytest

from cardionets.ecg import MODEL_FS_HZ, PreprocessConfig, model_view, preprocess, resample
from cardionets.ecg.preprocess import powerline_in_spectrum


def _with_tone(ecg, hz, amplitude_mv):
    t = np.arange(ecg.n_samples) / ecg.fs_hz
    return ecg.with_signal(ecg.signal_mv + amplitude_mv * np.sin(2 * np.pi * hz * t))


def _tone_amplitude(ecg, hz):
    spectrum = np.abs(np.fft.rfft(ecg.lead("V1"))) * 2 / ecg.n_samples
    freqs = np.fft.rfftfreq(ecg.n_samples, 1 / ecg.fs_hz)
    return spectrum[np.argmin(np.abs(freqs - hz))]


@pytest.mark.parametrize("mains_hz", [50, 60])
def test_mains_frequency_is_detected(mortara_ecg, mains_hz):
    assert powerline_in_spectrum(*_with_tone(mortara_ecg, mains_hz, 0.1).spectrum) == mains_hz


def test_clean_ecg_has_no_mains_detected(mortara_ecg):
    assert powerline_in_spectrum(*mortara_ecg.spectrum) is None


def test_notch_removes_detected_mains_even_when_low_pass_is_off(mortara_ecg):
    noisy = _with_tone(mortara_ecg, 60, 0.3)
    cleaned = preprocess(noisy, PreprocessConfig(lowpass_hz=None))
    assert _tone_amplitude(cleaned, 60) < 0.01


def test_high_pass_removes_baseline_wander(mortara_ecg):
    wandering = _with_tone(mortara_ecg, 0.15, 1.0)
    assert _tone_amplitude(preprocess(wandering), 0.15) < 0.1


def test_filtering_is_zero_phase(mortara_ecg):
    # The R peak must not move: interval measurements depend on it.
    raw, filtered = mortara_ecg.lead("V5"), preprocess(mortara_ecg).lead("V5")
    assert abs(int(np.argmax(raw)) - int(np.argmax(filtered))) <= 2


def test_median_baseline_option_flattens_a_step_in_the_baseline(mortara_ecg):
    stepped = mortara_ecg.signal_mv.copy()
    stepped[:, 5000:] += 1.0
    cleaned = preprocess(mortara_ecg.with_signal(stepped), PreprocessConfig(median_baseline=True, highpass_hz=None))
    assert abs(np.median(cleaned.lead("I")[6000:7000]) - np.median(cleaned.lead("I")[3000:4000])) < 0.05


def test_preprocess_records_what_it_did_and_leaves_input_untouched(mortara_ecg):
    before = mortara_ecg.signal_mv.copy()
    cleaned = preprocess(mortara_ecg)
    np.testing.assert_array_equal(mortara_ecg.signal_mv, before)
    assert any("high-pass 0.5 Hz" in note for note in cleaned.meta.notes)


def test_resampling_keeps_duration_and_waveform(mortara_ecg):
    down = resample(mortara_ecg, 500)
    assert down.fs_hz == 500 and down.duration_s == pytest.approx(mortara_ecg.duration_s)
    assert np.max(down.lead("V5")) == pytest.approx(np.max(mortara_ecg.lead("V5")), rel=0.1)
    assert down.meta.original_fs_hz == 1000


def test_model_view_is_12_by_5000_at_500_hz(mortara_ecg):
    view = model_view(mortara_ecg)
    assert view.shape == (12, 5000) and view.dtype == np.float32 and MODEL_FS_HZ == 500


def test_model_view_is_the_same_whatever_the_source_rate(mortara_ecg):
    a, b = model_view(mortara_ecg), model_view(resample(mortara_ecg, 250))
    assert np.corrcoef(a.ravel(), b.ravel())[0, 1] > 0.98


def test_model_view_zero_pads_a_short_record(mortara_ecg):
    short = mortara_ecg.with_signal(mortara_ecg.signal_mv[:, :6000])
    view = model_view(short)
    assert view.shape == (12, 5000) and np.all(view[:, 3000:] == 0)


def test_one_spectrum_serves_the_quality_check_and_every_filtering_of_a_record(mortara_ecg, monkeypatch):
    from scipy import signal

    from cardionets.ecg import record
    from cardionets.ecg.summary import summarize

    calls, welch = [], signal.welch
    monkeypatch.setattr(record.signal, "welch", lambda *a, **k: calls.append(1) or welch(*a, **k))
    fresh = mortara_ecg.with_signal(mortara_ecg.signal_mv)  # a new record: nothing cached yet
    summarize(fresh)  # quality check, then the measurements' own filtering
    model_view(fresh)
    assert len(calls) == 1

"""The quality gate: a real normal ECG passes; each kind of damage done to a copy of it is named and judged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from cardionets.ecg import ECG, STANDARD_LEADS, load, resample
from cardionets.ecg.quality import QualityReport, check_quality


@pytest.fixture(scope="module")
def normal_ecg() -> ECG:
    """10 s, 1000 Hz, healthy adult in sinus rhythm."""
    return load(get_testdata_file("waveform_ecg.dcm"))


def row(name: str) -> int:
    return STANDARD_LEADS.index(name)


def signal_of(ecg: ECG) -> np.ndarray:
    return ecg.signal_mv.astype(np.float64)


def seconds(ecg: ECG) -> np.ndarray:
    return np.arange(ecg.n_samples) / ecg.fs_hz


def codes(report: QualityReport) -> set[str]:
    return {finding.code for finding in report.findings}


def finding(report: QualityReport, code: str):
    matches = [f for f in report.findings if f.code == code]
    assert matches, f"no {code!r} finding in {report.to_dict()}"
    return matches[0]


def assert_plain_sentences(report: QualityReport) -> None:
    for f in report.findings:
        assert f.message.strip() and f.message[0].isalnum() and f.message.endswith(".")
        assert not any(mark in f.message for mark in ("_", "\n", "{", "<", "nan"))


def test_normal_ecg_passes_with_no_findings(normal_ecg):
    report = check_quality(normal_ecg)
    assert report.verdict == "ok"
    assert report.findings == ()


def test_normal_ecg_resampled_to_500_hz_still_passes(normal_ecg):
    report = check_quality(resample(normal_ecg, 500.0))
    assert report.verdict == "ok", report.to_dict()


def test_report_converts_to_plain_dict(normal_ecg):
    x = signal_of(normal_ecg)
    x[row("V3")] = 0.0
    as_dict = check_quality(normal_ecg.with_signal(x)).to_dict()
    assert as_dict["verdict"] == "warn"
    assert as_dict["findings"] == [
        {"code": "flat_lead", "severity": "warn", "message": "Lead V3 is flat (electrode probably off).",
         "leads": ["V3"]}
    ]


def test_one_zeroed_lead_is_named_as_flat_and_warns(normal_ecg):
    x = signal_of(normal_ecg)
    x[row("V3")] = 0.0
    report = check_quality(normal_ecg.with_signal(x))
    assert report.verdict == "warn"
    assert finding(report, "flat_lead").leads == ("V3",)
    assert_plain_sentences(report)


def test_three_flat_leads_reject(normal_ecg):
    x = signal_of(normal_ecg)
    x[[row("V1"), row("V2"), row("V3")]] = 0.0
    report = check_quality(normal_ecg.with_signal(x))
    assert report.verdict == "reject"
    assert finding(report, "flat_lead").leads == ("V1", "V2", "V3")


def test_lead_stuck_at_one_value_for_a_stretch_is_flagged(normal_ecg):
    x = signal_of(normal_ecg)
    x[row("V4"), 3000:4500] = x[row("V4"), 3000]
    report = check_quality(normal_ecg.with_signal(x))
    assert report.verdict == "warn"
    assert finding(report, "flat_lead").leads == ("V4",)
    assert "1.5 s" in finding(report, "flat_lead").message


def test_clipped_qrs_peaks_are_flagged(normal_ecg):
    report = check_quality(normal_ecg.with_signal(np.clip(signal_of(normal_ecg), -1.0, 1.0)))
    assert report.verdict in ("warn", "reject")
    assert "V5" in finding(report, "clipping").leads  # V5's R waves reach 2 mV
    assert_plain_sentences(report)


def test_heavy_clipping_rejects(normal_ecg):
    report = check_quality(normal_ecg.with_signal(np.clip(signal_of(normal_ecg), -0.2, 0.2)))
    assert finding(report, "clipping").severity == "reject"
    assert report.verdict == "reject"


def test_mains_interference_is_reported_with_its_frequency(normal_ecg):
    hum = 0.3 * np.sin(2 * np.pi * 50.0 * seconds(normal_ecg))
    report = check_quality(normal_ecg.with_signal(signal_of(normal_ecg) + hum))
    assert report.verdict == "warn"
    powerline = finding(report, "powerline")
    assert "50 Hz" in powerline.message
    assert set(powerline.leads) == set(STANDARD_LEADS)
    assert "noise" not in codes(report)  # the mains band is not counted again as noise
    assert_plain_sentences(report)


def test_mains_interference_names_only_the_affected_leads(normal_ecg):
    x = signal_of(normal_ecg)
    x[[row("V1"), row("V2")]] += 0.3 * np.sin(2 * np.pi * 60.0 * seconds(normal_ecg))
    report = check_quality(normal_ecg.with_signal(x))
    assert finding(report, "powerline").leads == ("V1", "V2")
    assert "60 Hz" in finding(report, "powerline").message


def test_strong_white_noise_warns(normal_ecg):
    noise = 0.2 * np.random.default_rng(0).standard_normal(normal_ecg.signal_mv.shape)
    report = check_quality(normal_ecg.with_signal(signal_of(normal_ecg) + noise))
    assert finding(report, "noise").severity == "warn"
    assert report.verdict == "warn"
    assert_plain_sentences(report)


def test_noise_as_tall_as_the_qrs_in_every_lead_rejects(normal_ecg):
    noise = 1.0 * np.random.default_rng(0).standard_normal(normal_ecg.signal_mv.shape)
    report = check_quality(normal_ecg.with_signal(signal_of(normal_ecg) + noise))
    assert finding(report, "noise").severity == "reject"
    assert report.verdict == "reject"


def test_strong_baseline_wander_warns(normal_ecg):
    drift = 1.0 * np.sin(2 * np.pi * 0.3 * seconds(normal_ecg))
    report = check_quality(normal_ecg.with_signal(signal_of(normal_ecg) + drift))
    assert report.verdict == "warn"
    assert codes(report) == {"baseline_wander"}


def test_swapped_arm_electrodes_are_detected(normal_ecg):
    x = signal_of(normal_ecg)
    swapped = x.copy()
    swapped[row("I")] = -x[row("I")]
    swapped[[row("II"), row("III")]] = x[[row("III"), row("II")]]
    swapped[[row("aVR"), row("aVL")]] = x[[row("aVL"), row("aVR")]]
    report = check_quality(normal_ecg.with_signal(swapped))
    assert report.verdict == "warn"
    assert codes(report) == {"limb_lead_reversal"}
    assert "swapped" in finding(report, "limb_lead_reversal").message
    assert_plain_sentences(report)


def test_inverted_chest_lead_alone_is_not_called_an_arm_swap(normal_ecg):
    x = signal_of(normal_ecg)
    x[row("V1")] = -x[row("V1")]
    assert "limb_lead_reversal" not in codes(check_quality(normal_ecg.with_signal(x)))


def test_recording_under_five_seconds_is_rejected_as_too_short(normal_ecg):
    report = check_quality(normal_ecg.with_signal(normal_ecg.signal_mv[:, :4000]))
    assert report.verdict == "reject"
    assert finding(report, "too_short").severity == "reject"
    assert "4.0 s" in finding(report, "too_short").message


def test_recording_between_five_and_ten_seconds_warns(normal_ecg):
    report = check_quality(normal_ecg.with_signal(normal_ecg.signal_mv[:, :7000]))
    assert report.verdict == "warn"
    assert codes(report) == {"too_short"}


def test_recording_shorter_than_a_beat_gets_only_the_duration_verdict(normal_ecg):
    report = check_quality(normal_ecg.with_signal(normal_ecg.signal_mv[:, :300]))
    assert report.verdict == "reject"
    assert codes(report) == {"too_short"}


def with_missing(ecg: ECG, names: tuple[str, ...]) -> ECG:
    """What a reader returns when leads are absent: zeros in their rows, their names in meta.missing_leads."""
    x = signal_of(ecg)
    x[[row(name) for name in names]] = 0.0
    return dataclasses.replace(ecg.with_signal(x), meta=dataclasses.replace(ecg.meta, missing_leads=names))


def test_one_missing_lead_warns_without_calling_it_flat(normal_ecg):
    report = check_quality(with_missing(normal_ecg, ("V4",)))
    assert report.verdict == "warn"
    assert codes(report) == {"missing_leads"}
    assert finding(report, "missing_leads").leads == ("V4",)
    assert_plain_sentences(report)


def test_two_missing_leads_reject(normal_ecg):
    report = check_quality(with_missing(normal_ecg, ("V4", "V5")))
    assert report.verdict == "reject"
    assert finding(report, "missing_leads").leads == ("V4", "V5")


@pytest.mark.parametrize("speed_up", [1 / 3, 4.0], ids=["20 bpm", "244 bpm"])
def test_implausible_heart_rate_rejects(normal_ecg, speed_up):
    """The same samples played slower or faster (tiled to keep 10 s) give a 61 bpm rhythm a new rate."""
    copies = max(1, int(speed_up))
    fast_or_slow = normal_ecg.with_signal(np.tile(normal_ecg.signal_mv, copies), fs_hz=normal_ecg.fs_hz * speed_up)
    report = check_quality(fast_or_slow)
    assert report.verdict == "reject"
    assert finding(report, "implausible_heart_rate").severity == "reject"


def test_all_flat_recording_rejects_with_no_beats(normal_ecg):
    report = check_quality(normal_ecg.with_signal(np.zeros_like(normal_ecg.signal_mv)))
    assert report.verdict == "reject"
    assert {"flat_lead", "no_beats"} <= codes(report)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    fs_hz=st.sampled_from([250.0, 500.0, 1000.0]),
    duration_s=st.floats(0.5, 12.0),
    scale_mv=st.floats(0.0, 5.0),
)
def test_any_signal_gets_a_verdict_that_is_its_worst_finding(normal_ecg, seed, fs_hz, duration_s, scale_mv):
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs_hz)
    x = scale_mv * np.cumsum(rng.standard_normal((12, n)), axis=1) / np.sqrt(n)
    x[rng.random(12) < 0.2] = rng.normal()  # some leads constant
    report = check_quality(ECG(x.astype(np.float32), fs_hz, normal_ecg.meta))
    severities = {f.severity for f in report.findings}
    expected = "reject" if "reject" in severities else "warn" if "warn" in severities else "ok"
    assert report.verdict == expected
    assert_plain_sentences(report)


REAL = Path(__file__).resolve().parent / "data" / "real-ecg"


def test_a_100_hz_recording_gets_a_note_of_what_it_cannot_show_and_stays_ok():
    report = check_quality(load(REAL / "ptbxl" / "records100" / "00000" / "00001_lr.hea"))  # real PTB-XL, 100 Hz
    note = next(f for f in report.findings if f.code == "low_sampling_rate")
    assert note.severity == "note" and "100 Hz" in note.message and "pacing spikes" in note.message
    assert report.verdict == "ok"


def test_below_100_hz_the_note_becomes_a_warning():
    """At 50 Hz the QRS is blurred: the models' outputs may not hold, and the verdict must say so."""
    record = load(REAL / "ptbxl" / "records100" / "00000" / "00001_lr.hea")
    at_50 = resample(record, 50.0)
    report = check_quality(ECG(at_50.signal_mv, 50.0, dataclasses.replace(at_50.meta, original_fs_hz=50.0)))
    finding = next(f for f in report.findings if f.code == "low_sampling_rate")
    assert finding.severity == "warn" and "50 Hz" in finding.message and report.verdict != "ok"


def test_leads_rescaled_to_one_span_are_named_as_not_millivolts(normal_ecg):
    real = check_quality(load(REAL / "ludb" / "data" / "119.hea"))  # LUDB's release: every lead spans 1 mV
    assert "normalised_amplitudes" in codes(real) and real.verdict == "warn"
    assert "normalised_amplitudes" not in codes(check_quality(normal_ecg))
    x = signal_of(normal_ecg)
    rescaled = (x - x.min(axis=1, keepdims=True)) / np.ptp(x, axis=1, keepdims=True) - 0.5
    assert "normalised_amplitudes" in codes(check_quality(normal_ecg.with_signal(rescaled.astype(np.float32))))

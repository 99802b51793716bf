"""Pacing detection, on the real Mortara ECG and the shipped samples (unpaced) and on the real ECG with pacemaker
stimuli added the way a 1 kHz cart records them (one sample wide, the same instant in every lead)."""

import dataclasses

import numpy as np
import pytest

from cardionets.ecg import ECG, load, resample
from cardionets.ecg.pacing import MIN_SPIKES, detect_pacing, pacing_spikes
from cardionets.samples import sample_ecgs


def with_stimuli(ecg: ECG, times_s: list[float], height_mv: float) -> ECG:
    signal = ecg.signal_mv.copy()
    polarity = np.where(np.arange(12) % 3 == 2, -1.0, 1.0)  # some leads see the stimulus upside down
    for t in times_s:
        signal[:, int(t * ecg.fs_hz)] += height_mv * polarity
    return ECG(signal.astype(np.float32), ecg.fs_hz, ecg.meta)


def test_the_real_ecg_and_every_shipped_sample_are_not_paced(mortara_ecg):
    for record in [mortara_ecg, *(load(path) for path in sample_ecgs().values())]:
        found = detect_pacing(record)
        assert not found.paced and found.spikes == 0


@pytest.mark.parametrize("fs_hz", [1000, 500])
def test_a_stimulus_before_every_beat_is_found_and_counted(mortara_ecg, fs_hz):
    record = mortara_ecg if fs_hz == 1000 else resample(mortara_ecg, fs_hz)
    beats = [0.5 + i for i in range(9)]  # the Mortara ECG beats at about 61 bpm
    paced = detect_pacing(with_stimuli(record, beats, 1.5))
    assert paced.paced and paced.spikes == len(beats) and "9 pacing spikes" in paced.reason


def test_one_artefact_or_a_small_deflection_is_not_pacing(mortara_ecg):
    assert pacing_spikes(with_stimuli(mortara_ecg, [2.0], 3.0).signal_mv, 1000) == 1
    assert not detect_pacing(with_stimuli(mortara_ecg, [2.0], 3.0)).paced
    assert not detect_pacing(with_stimuli(mortara_ecg, [0.5 + i for i in range(9)], 0.5)).paced
    assert MIN_SPIKES > 1


def test_the_cart_s_statement_is_enough_and_a_low_rate_is_not_searched(mortara_ecg):
    stated = ECG(mortara_ecg.signal_mv, mortara_ecg.fs_hz,
                 dataclasses.replace(mortara_ecg.meta, interpretation=("Ventricular paced rhythm",)))
    found = detect_pacing(stated)
    assert found.paced and 'reports "Ventricular paced rhythm"' in found.reason
    spaced = dataclasses.replace(mortara_ecg.meta, interpretation=("Widely spaced P waves",))
    assert not detect_pacing(ECG(mortara_ecg.signal_mv, mortara_ecg.fs_hz, spaced)).paced
    assert detect_pacing(resample(mortara_ecg, 250)).spikes is None

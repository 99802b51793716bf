"""The rule-based rhythm read on real ECGs: PTB-XL's atrial fibrillation records are irregular with no P wave;
its sinus-rhythm healthy adults are regular with P waves."""

from pathlib import Path

import numpy as np
import pytest

from cardionets.ecg import load
from cardionets.ecg.measure import MeasurementError
from cardionets.ecg.rhythm import AF_IRREGULARITY, read_rhythm

PTBXL = Path(__file__).resolve().parent / "data" / "real-ecg" / "ptbxl" / "records100" / "00000"
AF = ("00282_lr", "00307_lr", "00321_lr")
SINUS = ("00001_lr", "00007_lr", "00012_lr", "00016_lr")


@pytest.mark.parametrize("record", AF)
def test_real_atrial_fibrillation_reads_as_irregular_without_p_waves(record):
    read = read_rhythm(load(PTBXL / f"{record}.hea"))
    assert read.rr_irregularity > AF_IRREGULARITY and not read.p_wave_present and read.rule_says_af


@pytest.mark.parametrize("record", SINUS)
def test_real_sinus_rhythm_reads_as_regular_with_p_waves(record):
    read = read_rhythm(load(PTBXL / f"{record}.hea"))
    assert read.rr_irregularity < AF_IRREGULARITY and read.p_wave_present and not read.rule_says_af
    assert read.n_beats >= 6


def test_the_af_score_ranks_every_af_record_above_every_sinus_one():
    af = [read_rhythm(load(PTBXL / f"{r}.hea")).af_score for r in AF]
    sinus = [read_rhythm(load(PTBXL / f"{r}.hea")).af_score for r in SINUS]
    assert min(af) > max(sinus)


def test_too_few_beats_cannot_be_read(mortara_ecg):
    two_seconds = mortara_ecg.with_signal(mortara_ecg.signal_mv[:, :2000])
    with pytest.raises(MeasurementError):
        read_rhythm(two_seconds)
    assert np.isfinite(read_rhythm(mortara_ecg).rr_irregularity)


def test_an_af_call_against_a_regular_rhythm_with_p_waves_is_named_a_disagreement():
    from cardionets.inference import rhythm_disagreements
    from cardionets.prediction import DiseaseResult

    sinus = read_rhythm(load(PTBXL / "00001_lr.hea")).to_dict()
    af = read_rhythm(load(PTBXL / "00282_lr.hea")).to_dict()
    called, not_called, withheld = (DiseaseResult(0.6, 0.5, True), DiseaseResult(0.2, 0.5, False),
                                    DiseaseResult(0.6, 0.5, None))
    (text,) = rhythm_disagreements({"af": called}, sinus)
    assert "disagrees with the tracing" in text and "P waves are present" in text
    (text,) = rhythm_disagreements({"af": not_called}, af)
    assert "looks like atrial fibrillation" in text
    assert rhythm_disagreements({"af": called}, af) == [] and rhythm_disagreements({"af": not_called}, sinus) == []
    assert rhythm_disagreements({"af": withheld}, sinus) == [] and rhythm_disagreements({"af": called}, None) == []

"""The rhythm branch: AF called from the RR series and the P wave. Trained here on a small simulated cohort, it
must call the real PTB-XL AF records committed under tests/data and leave their sinus-rhythm adults alone; the
shipped bundle must carry it and the AF call of a prediction must be its call."""

from pathlib import Path

import numpy as np
import pytest

from cardionets.ecg import load
from cardionets.ecg.rhythm import RhythmRead, read_rhythm
from cardionets.inference import rhythm_af_result
from cardionets.models.rhythm import RhythmModel
from cardionets.prediction import DiseaseResult
from training.rhythm import fit_rhythm_model, simulated_rhythm_data

PTBXL = Path(__file__).resolve().parent / "data" / "real-ecg" / "ptbxl" / "records100" / "00000"
AF = ("00282_lr", "00307_lr", "00321_lr")
SINUS = ("00001_lr", "00007_lr", "00012_lr", "00016_lr")


@pytest.fixture(scope="module")
def small_model() -> RhythmModel:
    reads, af = simulated_rhythm_data(240, seed=3, af_share=0.4, workers=1)
    return fit_rhythm_model(reads, af, seed=3, trained_on="240 simulated ECGs (test)")


def test_a_model_learnt_from_simulated_ecgs_calls_real_af_and_not_real_sinus_rhythm(small_model):
    af = [small_model.probability(read_rhythm(load(PTBXL / f"{r}.hea"))) for r in AF]
    sinus = [small_model.probability(read_rhythm(load(PTBXL / f"{r}.hea"))) for r in SINUS]
    threshold = small_model.config.threshold
    assert all(p >= threshold for p in af), (af, threshold)
    assert all(p < threshold for p in sinus), (sinus, threshold)
    config = small_model.config
    assert config.sensitivity_ci[0] <= config.sensitivity <= config.sensitivity_ci[1]
    assert config.specificity >= 0.9


def test_the_rhythm_model_round_trips_through_its_folder(small_model, tmp_path):
    small_model.save_pretrained(tmp_path / "rhythm")
    loaded = RhythmModel.from_pretrained(tmp_path / "rhythm")
    read = RhythmRead(0.21, False, 11, 0.18)
    assert loaded.probability(read) == pytest.approx(small_model.probability(read), abs=1e-6)
    assert loaded.config == small_model.config


def test_the_af_call_is_the_rhythm_branch_s_and_none_without_a_readable_rhythm(small_model):
    encoder = DiseaseResult(0.9, 0.3, True, 0.1, 0.8, 0.8)
    irregular = read_rhythm(load(PTBXL / f"{AF[0]}.hea")).to_dict()
    regular = read_rhythm(load(PTBXL / f"{SINUS[0]}.hea")).to_dict()
    assert rhythm_af_result(small_model, irregular, encoder).positive is True
    called = rhythm_af_result(small_model, regular, encoder)
    assert called.positive is False and called.probability < 0.5
    assert called.specificity == small_model.config.specificity
    unread = rhythm_af_result(small_model, None, encoder)
    assert unread.positive is None and unread.probability == encoder.probability


def test_the_shipped_bundle_calls_af_from_the_rhythm(tmp_path):
    from cardionets.inference import CardioNets

    model = CardioNets.from_pretrained()
    assert model.rhythm is not None
    for record, expected in ((AF[1], True), (SINUS[1], False)):
        result = model.predict(PTBXL / f"{record}.hea")
        assert result.diseases["af"].probability == pytest.approx(model.rhythm.probability(result.rhythm), abs=1e-4)
        assert result.diseases["af"].positive is expected
    assert np.isfinite(model.rhythm.config.threshold)

"""Findings learnt from real ECGs: the model's features and round trip, the patient-grouped cross-validation that
states its figures, and the calls the app makes from it (the prior-infarction call replaced, the others added)."""

import shutil

import numpy as np
import pandas as pd
import pytest
import torch

from cardionets.bundle import Manifest, seal
from cardionets.covariates import COVARIATES
from cardionets.inference import CardioNets
from cardionets.models.real_findings import RealFindingsModel, finding_features
from training.real_findings import cross_validated


def _model(embedding_dim: int, findings=("mi", "lvh")) -> RealFindingsModel:
    n = embedding_dim + 2 * len(COVARIATES)
    rng = np.random.default_rng(0)
    return RealFindingsModel.from_logistic(
        rng.normal(size=(len(findings), n)) * 0.1, np.zeros(len(findings)), np.zeros(n), np.ones(n),
        findings=findings, embedding_dim=embedding_dim, covariates=COVARIATES,
        covariate_fill=tuple(range(len(COVARIATES))), threshold=(0.5,) * len(findings),
        sensitivity=(0.6,) * len(findings), specificity=(0.99,) * len(findings),
        sensitivity_ci=([0.5, 0.7],) * len(findings), specificity_ci=([0.98, 0.995],) * len(findings),
        trained_on="a test")


def test_missing_covariates_are_filled_and_flagged():
    covariates = np.full((2, len(COVARIATES)), 1.5)
    covariates[0, 2] = np.nan
    features = finding_features(np.zeros((2, 4)), covariates, np.arange(len(COVARIATES), dtype=float))
    assert features.shape == (2, 4 + 2 * len(COVARIATES))
    assert features[0, 4 + 2] == 2.0 and features[0, 4 + len(COVARIATES) + 2] == 1.0  # the fill and its flag
    assert features[1, 4 + 2] == 1.5 and features[1, 4 + len(COVARIATES) + 2] == 0.0


def test_the_model_round_trips_and_gives_one_probability_per_finding(tmp_path):
    model = _model(8)
    embedding, covariates = np.random.default_rng(1).normal(size=(3, 8)), np.full((3, len(COVARIATES)), np.nan)
    probabilities = model.probabilities(embedding, covariates)
    assert probabilities.shape == (3, 2) and ((probabilities > 0) & (probabilities < 1)).all()
    model.save_pretrained(tmp_path / "m")
    again = RealFindingsModel.from_pretrained(tmp_path / "m")
    assert np.allclose(again.probabilities(embedding, covariates), probabilities, atol=1e-6)


def test_cross_validation_is_held_out_by_patient_and_tells_signal_from_noise():
    rng = np.random.default_rng(0)
    patients = np.repeat(np.arange(300), 2)  # two ECGs per patient: a patient never spans train and test
    finding = np.repeat(rng.random(300) < 0.2, 2).astype(float)
    healthy = 1.0 - finding
    signal = finding[:, None] * 1.5 + rng.normal(size=(600, 3))
    table = pd.DataFrame({"patient": patients, "mi": finding, "noise": rng.random(600) < 0.2, "healthy": healthy})
    real = cross_validated(signal, table, "mi")
    assert real["auroc_vs_healthy"]["auroc"] > 0.85 and real["positives"] == int(finding.sum())
    assert real["healthy_false_calls"]["share"] <= 0.05  # each fold's threshold keeps ~1 % of its healthy adults
    table["mi"] = table.pop("noise").astype(float)
    noise = cross_validated(rng.normal(size=(600, 3)), table, "mi")
    assert abs(noise["auroc_vs_healthy"]["auroc"] - 0.5) < 0.12


@pytest.fixture
def bundle_with_findings(bundle, tmp_path) -> CardioNets:
    copy = tmp_path / "weights"
    shutil.copytree(bundle, copy)
    model = CardioNets.from_pretrained(copy, device="cpu")
    _model(model.predictor.encoder.config.dim, ("mi", "lvh", "lbbb")).save_pretrained(copy / "real_findings")
    manifest = Manifest.read(copy)
    seal(copy, {**manifest.components, "real_findings": "real_findings"}, manifest.metadata)
    return CardioNets.from_pretrained(copy, device="cpu")


def test_the_app_calls_real_findings_beside_the_heads_and_withholds_them_for_a_child(bundle_with_findings,
                                                                                      mortara_path):
    model = bundle_with_findings
    adult = model.predict(mortara_path)
    names = list(adult.diseases)
    assert names[:len(model.predictor.config.disease_outputs)] == list(model.predictor.config.disease_outputs)
    assert names[-2:] == ["lvh", "lbbb"]  # added after the heads' outputs; the MI call is replaced in place
    mi = adult.diseases["mi"]
    assert mi.sensitivity == 0.6 and mi.sensitivity_ci == [0.5, 0.7] and mi.positive == (mi.probability >= 0.5)
    child = model.predict(mortara_path, age_years=9)
    assert all(child.diseases[name].positive is None for name in ("mi", "lvh", "lbbb"))
    with torch.inference_mode():
        assert model.disease_names == tuple(names)

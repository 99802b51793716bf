"""Units of the training pipeline: the alignment loss, the predictor's heads and calibration, checkpoints."""

import dataclasses

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cardionets.models.alignment import masked_mse, weighted_info_nce
from cardionets.models.ecg_encoder import ECGEncoderConfig
from cardionets.models.predictor import CardioNetsPredictor, PredictorConfig, subtype_targets, with_any_cardiomyopathy
from training.config import load_config

DISEASES = ("hcm", "dcm", "rcm", "ph", "mi", "af")
SMALL_ECG = ECGEncoderConfig(dim=32, depth=1, n_heads=2)


def _unit(n, d, seed):
    return F.normalize(torch.randn(n, d, generator=torch.Generator().manual_seed(seed)), dim=-1)


def test_unweighted_info_nce_is_the_symmetric_cross_entropy_of_clip():
    ecg, cmr = _unit(8, 16, 0), _unit(8, 16, 1)
    logits = ecg @ cmr.T / 0.05
    target = torch.arange(8)
    expected = 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))
    assert weighted_info_nce(ecg, cmr, _unit(8, 32, 2), 0.05, 0.0) == pytest.approx(float(expected), rel=1e-5)


def test_matched_pairs_score_lower_than_shuffled_ones():
    ecg = _unit(16, 16, 3)
    features = _unit(16, 32, 4)
    matched = weighted_info_nce(ecg, ecg, features, 0.05, 1.0)
    shuffled = weighted_info_nce(ecg, ecg.roll(1, dims=0), features, 0.05, 1.0)
    assert matched < shuffled


def test_a_hard_negative_with_a_similar_heart_is_pushed_less():
    # Subjects 0 and 1 have near-identical hearts, and ECG 0 resembles CMR 1 (a hard negative); subject 2 differs.
    cmr = F.normalize(torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.1, 0.0], [0.0, 0.0, 1.0]]), dim=-1)
    ecg = F.normalize(torch.tensor([[0.95, 0.05, 0.0], [0.9, 0.1, 0.0], [0.0, 0.1, 1.0]]), dim=-1)
    features = torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    assert weighted_info_nce(ecg, cmr, features, 0.05, 1.0) < weighted_info_nce(ecg, cmr, features, 0.05, 0.0)


def test_masked_mse_ignores_unknown_targets():
    prediction = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    target = torch.tensor([[1.0, float("nan")], [5.0, 4.0]])
    assert masked_mse(prediction, target) == pytest.approx(4.0 / 3.0)


def test_any_cardiomyopathy_and_subtype_targets():
    labels = torch.tensor([[1, 0, 0, 0, 0, 0], [0, 0, 0, 1, 0, 0], [0, 1, 1, 0, 0, 0]], dtype=torch.float32)
    assert with_any_cardiomyopathy(labels, DISEASES)[:, -1].tolist() == [1.0, 0.0, 1.0]
    subtype, mask = subtype_targets(labels, DISEASES)
    assert mask.tolist() == [True, False, False] and subtype[0] == 0


def _predictor(**changes) -> CardioNetsPredictor:
    config = PredictorConfig(ecg_encoder=SMALL_ECG, phenotypes=("lvedv_ml", "lvef_pct"),
                             phenotype_mean=(150.0, 60.0), phenotype_std=(30.0, 6.0), diseases=DISEASES,
                             hidden_dim=32)
    return CardioNetsPredictor(dataclasses.replace(config, **changes))


def test_predictor_reports_phenotypes_in_original_units_and_round_trips(tmp_path):
    model = _predictor(disease_temperature=(2.0,) * 7, disease_threshold=(0.3,) * 7).eval()
    ecg = torch.randn(2, 12, 5000)
    out = model.predict(ecg)
    with torch.no_grad():
        raw = model(ecg)
    np.testing.assert_allclose(out["phenotypes"], raw["phenotypes_standardised"] * torch.tensor([30.0, 6.0])
                               + torch.tensor([150.0, 60.0]), rtol=1e-5)
    np.testing.assert_allclose(out["disease_probabilities"], torch.sigmoid(raw["disease_logits"] / 2.0), rtol=1e-5)
    model.save_pretrained(tmp_path)
    again = CardioNetsPredictor.from_pretrained(tmp_path).eval()
    assert again.config.disease_threshold == (0.3,) * 7
    np.testing.assert_allclose(again.predict(ecg)["phenotypes"], out["phenotypes"], rtol=1e-6)


def test_predictor_loss_trains_on_partly_labelled_batches():
    model = _predictor()
    ecg = torch.randn(4, 12, 5000)
    phenotypes = torch.tensor([[140.0, float("nan")], [160.0, 55.0], [float("nan"), 62.0], [150.0, 60.0]])
    labels = torch.zeros(4, 6)
    labels[1, 0] = 1
    labels[2, 3] = float("nan")
    loss = model.loss(ecg, phenotypes, labels)
    loss.backward()
    assert torch.isfinite(loss) and model.phenotype_head.weight.grad is not None


def test_config_rejects_unknown_settings(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("pretrain_ecg: {epochs: 1, learning_rate: 0.1}\n")
    with pytest.raises(ValueError, match="learning_rate"):
        load_config(path)

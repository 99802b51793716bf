"""Units of the training pipeline: the alignment loss, the predictor's heads and calibration, checkpoints."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cardionets.models.alignment import masked_mse, weighted_info_nce
from cardionets.models.ecg_encoder import ECGEncoderConfig
from cardionets.models.predictor import CardioNetsPredictor, PredictorConfig, subtype_targets, with_any_cardiomyopathy
from training.__main__ import main as training_main
from training.config import load_config
from training.pipeline import NEEDS, PIPELINE, missing_prerequisites

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


def test_a_recipe_changes_its_base_recipe_section_by_section(tmp_path):
    (tmp_path / "base.yaml").write_text("name: base\ndata: {paired: 30, downstream: 20}\n"
                                        "generator: {epochs: 3, lr: 0.01}\n")
    (tmp_path / "bigger.yaml").write_text("base: base.yaml\nname: bigger\ndata: {paired: 300}\n"
                                          "generator: {max_minutes: 2.5}\n")
    config = load_config(tmp_path / "bigger.yaml")
    assert config.name == "bigger"
    assert (config.data.paired, config.data.downstream) == (300, 20)
    assert (config.generator.epochs, config.generator.lr, config.generator.max_minutes) == (3, 0.01, 2.5)
    (tmp_path / "loop.yaml").write_text("base: loop.yaml\n")
    with pytest.raises(ValueError, match="names itself"):
        load_config(tmp_path / "loop.yaml")


def test_the_gpu_recipe_is_the_default_one_with_a_larger_generator():
    default, gpu = load_config("training/configs/default.yaml"), load_config("training/configs/gpu.yaml")
    assert gpu.pretrain_ecg == default.pretrain_ecg and gpu.models.ecg_encoder == default.models.ecg_encoder
    assert gpu.data.internal_test == default.data.internal_test and gpu.data.generator_extra > 0
    assert gpu.models.generator["dim"] > default.models.generator["dim"] and gpu.generator.max_minutes


def test_a_time_budget_shortens_the_schedule_to_the_steps_that_fit(monkeypatch):
    from training import trainer

    now = {"seconds": 0.0}
    monkeypatch.setattr(trainer.time, "perf_counter", lambda: now["seconds"])
    plan = trainer.StepPlan(total=10_000, warmup_fraction=0.1)
    budget = trainer.TimeBudget(seconds=100.0, started=0.0, first_step=0)
    fitted = []
    for step in range(1, 40):
        now["seconds"] = 3.0 + step  # 3 s of start-up, then 1 s per step
        if budget.fit(plan, step):
            fitted.append(step)
    # Steps 5 to 25 took 20 s, so 1 s per step; at 28 s, 72 s were left, of which 90 % are planned.
    assert fitted == [25] and budget.seconds_per_step == 1.0
    assert plan.total == 25 + int(0.9 * 72) and plan.warmup == plan.total // 10


def test_generator_condition_joins_the_embedding_and_the_heads_outputs():
    model = _predictor().eval()
    ecg = torch.randn(3, 12, 5000)
    condition = model.generator_condition(ecg)
    assert condition.shape == (3, model.condition_dim) == (3, SMALL_ECG.dim + 2 + 7)
    with torch.no_grad():
        raw = model(ecg)
        np.testing.assert_allclose(condition[:, :SMALL_ECG.dim], model.encoder.embed(ecg), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(condition[:, SMALL_ECG.dim:SMALL_ECG.dim + 2], raw["phenotypes_standardised"],
                               rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(condition[:, SMALL_ECG.dim + 2:], raw["disease_logits"], rtol=1e-5, atol=1e-6)


def test_weight_average_warms_up_then_follows_its_decay():
    from training.trainer import ExponentialMovingAverage

    model = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(model.weight)
    ema = ExponentialMovingAverage(model, decay=0.999)
    assert ema.decay_at(1) == pytest.approx(2 / 11) and ema.decay_at(100_000) == 0.999
    with torch.no_grad():
        model.weight.fill_(1.0)
    for step in range(1, 501):
        ema.update(model, step)
    # Without the warm-up, 500 updates at 0.999 would leave 61 % of the zero start in the average.
    assert float(ema.weights["weight"]) > 0.9


def test_cine_frames_walk_every_group_of_every_view_of_every_subject(tmp_path):
    from training.generative import CineFrames

    class Folder:
        directory = tmp_path
        cine = np.arange(3 * 2 * 4 * 2 * 2, dtype=np.uint8).reshape(3, 2, 4, 2, 2)
        masks = cine % 6

    frames = CineFrames([(Folder, np.array([0, 2]))], group=2, with_labels=True)
    assert len(frames) == 2 * 2 * 2  # subjects x views x groups of two frames
    last = frames[len(frames) - 1]
    np.testing.assert_allclose(last["frames"].numpy(), Folder.cine[2, 1, 2:4] / 255.0, rtol=1e-6)
    assert torch.equal(last["labels"], torch.from_numpy(Folder.masks[2, 1, 2:4].astype(np.int64)))
    with pytest.raises(ValueError, match="groups of 3"):
        CineFrames([(Folder, np.array([0]))], group=3)


def test_the_image_r2_share_resamples_both_r2s_on_the_same_subjects():
    from types import SimpleNamespace

    from cardionets.metrics import UndefinedMetricError, r2
    from training.evaluate_generative import _share_ci, r2_share

    rng = np.random.default_rng(0)
    truth = rng.normal(60, 10, 300)
    head, image = truth + rng.normal(0, 6, 300), truth + rng.normal(0, 8, 300)
    share = r2_share(truth, image, head)
    assert share == pytest.approx(r2(truth, image) / r2(truth, head)) and share < 1
    low, high = _share_ci(truth, image, head, SimpleNamespace(bootstrap_resamples=200, seed=0))
    assert low < share < high and high - low < 0.5
    with pytest.raises(UndefinedMetricError):
        r2_share(truth, image, np.full(300, 200.0))  # a head worse than the mean has no share to give
    assert _share_ci(truth, image, np.full(300, 200.0), SimpleNamespace(bootstrap_resamples=50, seed=0)) is None


def test_a_stage_whose_inputs_are_missing_says_which_stage_to_run_first(tmp_path, capsys):
    tiny = Path(__file__).resolve().parent.parent / "training" / "configs" / "tiny.yaml"
    code = training_main(["finetune", "--config", str(tiny), "--output", str(tmp_path / "run"),
                 "--data-root", str(tmp_path / "data")])
    message = capsys.readouterr().err
    assert code == 2 and "run the 'data' stage first" in message and "run the 'align' stage first" in message
    assert not (tmp_path / "run").exists()  # nothing started
    assert missing_prerequisites("data", tmp_path / "run", tmp_path / "data") == []
    # every stage a prerequisite names comes earlier in the pipeline than the stage that needs it
    for stage, (_, files) in NEEDS.items():
        assert all(PIPELINE.index(maker) < PIPELINE.index(stage) for _, maker in files if stage in PIPELINE)

"""The tiny recipe end to end: every stage runs, learns, resumes, writes what the next reads, and the two-process
torchrun path trains the same way (gloo on CPU)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from cardionets.models.latent_regressor import LatentRegressor
from cardionets.models.mar import CineMAR
from tests.conftest import TINY
from training.__main__ import main
from training.config import load_config
from training.distributed import Context
from training.generative import generator_to_continue
from training.run import Run


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_every_stage_finishes_and_its_loss_falls(tiny_run):
    run, _ = tiny_run
    done = {r["stage"]: r["epoch_losses"] for r in _records(run) if r.get("done") and "epoch_losses" in r}
    for stage in ("pretrain_ecg", "pretrain_cmr", "align", "finetune-aligned", "finetune-scratch", "tokenizer",
                  "segmenter", "generator", "regression_decoder"):
        assert done[stage][-1] < done[stage][0], stage


def test_models_are_saved_as_safetensors_folders(tiny_run):
    run, _ = tiny_run
    for folder in ("pretrain_ecg/encoder", "pretrain_cmr/encoder", "align/encoder", "finetune/aligned/model",
                   "rhythm/model", "tokenizer/model", "generator/model", "regression_decoder/model"):
        assert {p.name for p in (run / folder).iterdir()} == {"config.json", "model.safetensors"}
    # The segmenter keeps the lines from its measurements to the reference phenotypes beside its weights.
    assert {p.name for p in (run / "segmenter/model").iterdir()} == {"config.json", "model.safetensors",
                                                                     "image_phenotypes.json"}
    assert not list(run.rglob("*.pt")) and not list(run.rglob("*.pkl"))


def test_results_hold_every_model_and_split_with_confidence_intervals(tiny_run):
    run, _ = tiny_run
    results = json.loads((run / "results.json").read_text())
    for split in ("internal", "external"):
        for model in ("aligned", "scratch", "mae_only", "ridge_measurements", "cmr_upper_bound"):
            scores = results["predictive"][split][model]
            low, high = scores["r2_mean_ci"]
            assert low <= scores["r2_mean"] <= high
            assert scores["auroc_any_cm"] is not None and len(scores["auroc_any_cm_ci"]) == 2
            assert set(scores["diseases"]) <= {"hcm", "dcm", "rcm", "ph", "mi", "af", "any_cm"}
        aligned, scratch = results["predictive"][split]["aligned"], results["predictive"][split]["scratch"]
        # The headline (and the gain) is the mean over the 18 non-segmental outputs, not over all 52.
        headline, base = aligned["r2_groups"]["18 outputs"]["r2"], scratch["r2_groups"]["18 outputs"]["r2"]
        assert aligned["r2_groups"]["18 outputs"]["columns"] == 18
        expected_gain = headline / base - 1 if base > 0 else None
        assert results["checks"][split]["r2_gain_vs_scratch"] == expected_gain
    assert results["setup"]["regimes"]["downstream"] == 160
    assert "internal test" in (run / "results.md").read_text().lower()


def test_the_covariate_head_is_trained_calibrated_and_scored_against_the_cart_baseline(tiny_run):
    from cardionets.models.predictor import CardioNetsPredictor
    from training.covariate_heads import MODELS

    run, _ = tiny_run
    model = CardioNetsPredictor.from_pretrained(run / "covariate_heads" / "model")
    config = model.config
    assert model.covariate_head is not None and "age_years" in config.covariates and "qrs_ms" in config.covariates
    widths = config.phenotype_interval
    assert set(widths) == {"0.8", "0.95"} and all(w95 >= w80 for w80, w95 in zip(widths["0.8"], widths["0.95"]))
    assert len(config.disease_sensitivity_ci) == len(config.disease_outputs)
    section = json.loads((run / "results.json").read_text())["covariate_heads"]
    for split in ("internal_test", "external_test"):
        part = section["splits"][split]
        assert set(part["scores"]) == set(MODELS)
        for scores in part["scores"].values():
            group = scores["r2_groups"]["18 outputs"]
            assert group["ci"][0] <= group["r2"] <= group["ci"][1]
        assert all(0 <= share <= 1 for share in part["coverage"]["0.95"].values())
    assert "the covariate head" in (run / "results.md").read_text()


def test_the_finetuned_model_learns_more_than_a_constant(tiny_run):
    run, _ = tiny_run
    results = json.loads((run / "results.json").read_text())
    internal = results["predictive"]["internal"]
    # A constant prediction has R2 <= 0 for every phenotype; a model that learned beats it somewhere real.
    best = max(max(v for v in internal[m]["r2_per_phenotype"].values() if v is not None)
               for m in ("aligned", "scratch", "mae_only"))
    assert best > 0.05


def test_the_trained_generator_turns_an_ecg_into_a_two_view_cine(tiny_run):
    import torch

    from cardionets.models.cine_tokenizer import CineTokenizer
    from cardionets.models.mar import CineMAR
    from cardionets.models.mar_sampler import SamplerSettings, sample_cines
    from cardionets.models.predictor import CardioNetsPredictor
    from training.data.prepared import PreparedDataset

    run, data = tiny_run
    ecg = torch.from_numpy(PreparedDataset(data / "internal_test").ecg[:1].astype("float32"))
    mar = CineMAR.from_pretrained(run / "generator" / "model")
    tokenizer = CineTokenizer.from_pretrained(run / "tokenizer" / "model")
    predictor = CardioNetsPredictor.from_pretrained(run / "finetune" / "aligned" / "model").eval()
    condition = predictor.generator_condition(ecg)
    assert condition.shape == (1, predictor.condition_dim) == (1, mar.config.condition_dim)
    cine = sample_cines(mar, tokenizer, condition, SamplerSettings(autoregressive_steps=4, diffusion_steps=5))
    assert cine.shape == (1, 2, 16, 64, 64) and 0 <= float(cine.min()) and float(cine.max()) <= 1


def test_generative_results_score_every_model_on_both_splits(tiny_run):
    run, _ = tiny_run
    generative = json.loads((run / "results.json").read_text())["generative"]
    for split in ("internal", "external"):
        assert generative[split]["subjects"] == 12
        for model in ("mar", "population_mean", "retrieval", "regression_decoder"):
            scores = generative[split]["scores"][model]
            for key in ("ssim", "psnr_db", "frechet", "r2_lvedv", "r2_lvef"):
                assert key in scores, (split, model, key)
            assert -1 <= scores["ssim"] <= 1 and scores["frechet"] >= 0
        # Samples from different seeds differ; a deterministic baseline has one answer.
        assert generative[split]["scores"]["mar"]["diversity"] > 0
        assert generative[split]["scores"]["regression_decoder"]["diversity"] == 0
        assert set(generative[split]["segmenter_dice"]) == {"lv_blood_pool", "lv_myocardium", "rv_blood_pool",
                                                             "la", "ra"}
    assert "generated cines" in (run / "results.md").read_text()


def test_rerunning_a_finished_stage_resumes_instead_of_retraining(tiny_run):
    run, data = tiny_run
    assert main(["pretrain-ecg", "--config", str(TINY), "--output", str(run), "--data-root", str(data)]) == 0
    last = [r for r in _records(run) if r.get("stage") == "pretrain_ecg" and r.get("done")][-1]
    assert last["resumed_from_epoch"] == 2


def _continuing_recipe(tmp_path: Path, start_from: Path, **changes) -> Path:
    """The tiny recipe, its generator going on from ``start_from`` for one epoch (plus ``changes``)."""
    recipe = yaml.safe_load(TINY.read_text())
    recipe["generator"] = {**recipe["generator"], "epochs": 1}
    recipe.update(generator_start_from=str(start_from), **changes)
    path = tmp_path / "continue.yaml"
    path.write_text(yaml.safe_dump(recipe))
    return path


def test_the_generator_stage_goes_on_training_a_saved_generator(tiny_run, tmp_path):
    run, data = tiny_run
    again = tmp_path / "run"
    for stage in ("finetune", "tokenizer"):  # what the generator stage reads
        shutil.copytree(run / stage, again / stage)
    recipe = _continuing_recipe(tmp_path, run / "generator" / "model")
    assert main(["generator", "--config", str(recipe), "--output", str(again), "--data-root", str(data)]) == 0

    first_run = {r["stage"]: r for r in _records(run) if r.get("done")}
    continued = {r["stage"]: r for r in _records(again) if r.get("done")}
    # Starting from trained weights, its first epoch is already below the first epoch of a new generator.
    assert continued["generator"]["epoch_losses"][0] < first_run["generator"]["epoch_losses"][0]
    assert any(r.get("started_from") == str(run / "generator" / "model") for r in _records(again))
    # The saved generator's anchor, not a newly trained regressor, is the regression decoder.
    assert continued["regression_decoder"]["epoch_losses"] == []
    anchor = CineMAR.from_pretrained(run / "generator" / "model").anchor.state_dict()
    kept = LatentRegressor.from_pretrained(again / "regression_decoder" / "model").state_dict()
    assert all(torch.equal(anchor[name], kept[name]) for name in anchor)


def test_a_saved_generator_of_other_sizes_is_refused(tiny_run, tmp_path):
    run, _ = tiny_run
    recipe = _continuing_recipe(tmp_path, run / "generator" / "model",
                                models={**yaml.safe_load(TINY.read_text())["models"], "generator": {"depth": 5}})
    config = load_config(recipe, {"output": str(tmp_path / "refused")})  # the check writes nowhere near the run
    with pytest.raises(ValueError, match="depth is 2, the recipe asks for 5"):
        generator_to_continue(Run(config, Context()), 1, (1,))
    missing = load_config(_continuing_recipe(tmp_path, tmp_path / "nowhere"), {"output": str(tmp_path / "refused")})
    with pytest.raises(ValueError, match="holds no saved generator"):
        generator_to_continue(Run(missing, Context()), 1, (1,))


def test_two_process_torchrun_trains_with_gloo(tiny_run, tmp_path):
    _, data = tiny_run
    run = tmp_path / "ddp"
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29517",
               "-m", "training", "pretrain-ecg", "--config", str(TINY), "--output", str(run), "--data-root", str(data)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env, check=False,
                            cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr[-2000:]
    done = [r for r in _records(run) if r.get("stage") == "pretrain_ecg" and r.get("done")]
    assert len(done) == 1 and done[0]["epoch_losses"][-1] < done[0]["epoch_losses"][0]
    assert (run / "pretrain_ecg" / "encoder" / "model.safetensors").exists()

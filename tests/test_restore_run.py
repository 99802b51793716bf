"""`training.restore_run` on a real bundle: the tiny run exported, then restored into a new run folder, gives the
models the run had, so the commands that judge the generators run on a bundle alone."""

import json
import shutil

import pytest
import torch

from cardionets.cmr.measure import IMAGE_CALIBRATION_FILE
from cardionets.models.latent_regressor import LatentRegressor
from cardionets.models.mar_sampler import SAMPLER_FILE
from tests.conftest import TINY
from training.__main__ import main as training_main
from training.config import load_run_config
from training.distributed import Context
from training.evaluate_generative import GenerativeModels, sampler_settings
from training.restore_run import main as restore_main
from training.run import Run


def test_a_restored_run_holds_the_exported_models_and_keeps_what_was_there(bundle, tiny_run, tmp_path, capsys):
    original_dir, data = tiny_run
    restored_dir = tmp_path / "restored"
    assert restore_main(["--bundle", str(bundle), "--config", str(TINY), "--output", str(restored_dir)]) == 0
    printed = capsys.readouterr().out
    assert "regression_decoder/model: restored (the generator's anchor)" in printed
    assert "pretrain-cmr" in printed  # the Fréchet distance's encoder is named as missing, with its command

    shutil.copytree(original_dir / "pretrain_cmr", restored_dir / "pretrain_cmr")
    original, restored = (Run(load_run_config(TINY, str(folder), str(data)), Context())
                          for folder in (original_dir, restored_dir))
    models, again = GenerativeModels.load(original), GenerativeModels.load(restored)
    assert again is not None
    condition, ecg = torch.randn(3, models.regressor.config.condition_dim), torch.randn(2, 12, 5000) * 0.1
    with torch.no_grad():
        assert torch.equal(models.regressor(condition), again.regressor(condition))  # the anchor is the decoder
        assert torch.equal(models.predictor.generator_condition(ecg), again.predictor.generator_condition(ecg))
        assert torch.equal(models.mar.anchor_tokens(condition), again.mar.anchor_tokens(condition))
        shifts = [m.scanner_shifts(condition, ["boston"] * 3) for m in (models, again)]  # the adapter came back
        assert torch.equal(*shifts)
    assert sampler_settings(restored) == sampler_settings(original)
    assert again.mar_calibration == models.mar_calibration and again.calibration == models.calibration
    shipped_settings = (bundle / "generator" / SAMPLER_FILE).read_bytes()
    assert (restored_dir / "generator" / SAMPLER_FILE).read_bytes() == shipped_settings

    # A second restore keeps every model folder the run already has: nothing saved is overwritten.
    marker = LatentRegressor(again.regressor.config)
    marker.save_pretrained(restored_dir / "regression_decoder" / "model")
    assert restore_main(["--bundle", str(bundle), "--config", str(TINY), "--output", str(restored_dir)]) == 0
    assert "regression_decoder/model: kept" in capsys.readouterr().out
    kept = LatentRegressor.from_pretrained(restored_dir / "regression_decoder" / "model")
    assert all(torch.equal(a, b) for a, b in zip(kept.state_dict().values(), marker.state_dict().values()))
    assert (restored_dir / "segmenter" / "model" / IMAGE_CALIBRATION_FILE).is_file()


def test_evaluate_generative_scores_a_restored_run_and_keeps_the_predictive_results(bundle, tiny_run, tmp_path):
    original_dir, data = tiny_run
    restored_dir = tmp_path / "restored"
    assert restore_main(["--bundle", str(bundle), "--config", str(TINY), "--output", str(restored_dir)]) == 0
    shutil.copytree(original_dir / "pretrain_cmr", restored_dir / "pretrain_cmr")
    command = ["evaluate-generative", "--config", str(TINY), "--output", str(restored_dir), "--data-root", str(data)]
    with pytest.raises(SystemExit, match="run `python -m training evaluate` once first"):
        training_main(command)  # nothing to refresh yet

    shutil.copyfile(original_dir / "results.json", restored_dir / "results.json")
    assert training_main(command) == 0
    original = json.loads((original_dir / "results.json").read_text())
    refreshed = json.loads((restored_dir / "results.json").read_text())
    assert refreshed["predictive"] == original["predictive"] and refreshed["command"] == original["command"]
    assert "evaluate-generative" in refreshed["generative"]["command"]
    for split in ("internal", "external"):  # the same models on the same subjects: the same MAR scores
        for key in ("ssim", "psnr_db", "frechet"):
            assert refreshed["generative"][split]["scores"]["mar"][key] == pytest.approx(
                original["generative"][split]["scores"]["mar"][key], rel=1e-6)
    markdown = (restored_dir / "results.md").read_text()
    assert "# Results: predictive models" in markdown and "evaluate-generative" in markdown


def test_a_damaged_bundle_is_refused_with_a_reason_and_nothing_is_written(bundle, tmp_path):
    damaged = shutil.copytree(bundle, tmp_path / "damaged")
    with open(damaged / "generator" / "model.safetensors", "ab") as weights:
        weights.write(b"\0")
    with pytest.raises(SystemExit, match="failed its integrity check"):
        restore_main(["--bundle", str(damaged), "--config", str(TINY), "--output", str(tmp_path / "run")])
    assert not any((tmp_path / "run").rglob("model.safetensors"))

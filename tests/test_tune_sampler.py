"""The rules that pick the default sampler settings: the most faithful spread and guidance among those whose
cines keep what the heart says and are more realistic than the regression decoder's, then the fastest steps, as
measured, whose SSIM stays within 2 % of the reference steps'."""

import json
import shutil
from dataclasses import replace

import numpy as np
import pytest

from cardionets.models.mar_sampler import SAMPLER_FILE, SamplerSettings, reference_settings
from tests.conftest import TINY
from training import tune_sampler
from training.tune_sampler import (
    fastest_within_tolerance,
    main,
    most_faithful_realistic,
    squared_correlation,
)

REFERENCE = reference_settings(SamplerSettings(temperature=0.5))


def candidate(ar: int, steps: int, ssim: float, seconds: float) -> tuple[SamplerSettings, dict]:
    return SamplerSettings(autoregressive_steps=ar, diffusion_steps=steps), {"ssim": ssim, "seconds": seconds}


def test_the_fastest_candidate_within_two_percent_wins_whatever_the_order():
    rows = [candidate(12, 20, 0.60, 0.40), candidate(6, 8, 0.55, 0.20), candidate(8, 10, 0.595, 0.24),
            candidate(8, 12, 0.599, 0.30)]
    chosen = fastest_within_tolerance(REFERENCE, {"ssim": 0.60, "seconds": 1.4}, rows)
    assert (chosen.autoregressive_steps, chosen.diffusion_steps) == (8, 10)  # 0.595 >= 0.588; 0.55 is not


def test_the_reference_stays_when_no_candidate_keeps_its_ssim():
    rows = [candidate(6, 8, 0.50, 0.20), candidate(8, 10, 0.58, 0.24)]
    assert fastest_within_tolerance(REFERENCE, {"ssim": 0.60, "seconds": 1.4}, rows) == REFERENCE


def row(cfg: float, ssim: float, frechet: float, lvedv: float = 0.5, lvef: float = 0.5) -> dict:
    return {"cfg_scale": cfg, "ssim": ssim, "frechet": frechet, "image_r2": {"lvedv_ml": lvedv, "lvef_pct": lvef}}


def test_the_most_faithful_setting_more_realistic_than_the_decoder_wins():
    rows = [row(1.0, 0.650, 0.80), row(0.75, 0.630, 0.40), row(0.5, 0.620, 0.20)]
    assert most_faithful_realistic(rows, decoder_frechet=0.5)["cfg_scale"] == 0.75  # 0.650 is less realistic
    assert most_faithful_realistic(rows, decoder_frechet=1.0)["cfg_scale"] == 1.0
    assert most_faithful_realistic(rows, decoder_frechet=0.1)["cfg_scale"] == 0.5  # none is: the most realistic


def test_within_one_percent_of_the_best_ssim_the_most_realistic_wins():
    rows = [row(0.5, 0.6524, 0.80), row(1.0, 0.6520, 0.62), row(3.0, 0.640, 0.10)]
    assert most_faithful_realistic(rows, decoder_frechet=0.9)["cfg_scale"] == 1.0  # 0.640 is 1.9 % below
    assert most_faithful_realistic(rows, decoder_frechet=0.9, tie=0.0)["cfg_scale"] == 0.5


def test_a_setting_whose_cines_lose_the_phenotypes_is_not_chosen_however_faithful():
    head = {"lvedv_ml": 0.30, "lvef_pct": 0.25}  # the floor: 0.24 and 0.20
    rows = [row(1.0, 0.640, 0.30, 0.41, 0.18), row(0.5, 0.641, 0.45, 0.42, 0.27), row(0.0, 0.700, 0.10, 0.07, 0.22)]
    assert most_faithful_realistic(rows, 0.5, head)["cfg_scale"] == 0.5
    assert most_faithful_realistic(rows, 0.5)["cfg_scale"] == 0.0  # without the floor the unconditional one wins


def test_when_no_setting_reaches_the_phenotype_floor_all_are_considered():
    head = {"lvedv_ml": 0.9, "lvef_pct": 0.9}
    rows = [row(1.0, 0.640, 1.30, 0.41, 0.24), row(0.0, 0.638, 0.44, 0.07, 0.22)]
    assert most_faithful_realistic(rows, 0.5, head)["cfg_scale"] == 0.0


def test_squared_correlation_ignores_a_linear_calibration_and_is_zero_for_a_constant():
    truth = np.array([100.0, 120.0, 150.0, 90.0, 130.0])
    measured = truth + np.array([5.0, -3.0, 2.0, 4.0, -6.0])
    assert squared_correlation(truth, 2.0 * measured + 7.0) == pytest.approx(squared_correlation(truth, measured))
    assert squared_correlation(truth, measured) > 0.9
    assert squared_correlation(truth, np.full(5, 80.0)) == 0.0


def test_the_tuner_writes_its_choice_and_steps_only_keeps_the_spread(tiny_run, tmp_path, monkeypatch):
    run, data = tiny_run
    copy = tmp_path / "run"
    shutil.copytree(run, copy)  # the tuner rewrites the generator's sampler.json and measurement lines
    sampler = copy / "generator" / SAMPLER_FILE
    sampler.unlink(missing_ok=True)
    arguments = ["--config", str(TINY), "--output", str(copy), "--data-root", str(data), "--subjects", "3"]
    # Few and short candidates: the rules have their own tests; this one checks what the command writes.
    monkeypatch.setattr(tune_sampler, "SPREADS", ((1.0, 1.0), (1.0, 0.5)))
    monkeypatch.setattr(tune_sampler, "GUIDANCE", ((1.0, "constant"),))
    monkeypatch.setattr(tune_sampler, "STEP_CANDIDATES", ((2, 4, 1.0), (2, 2, 0.0)))
    monkeypatch.setattr(tune_sampler, "reference_settings",
                        lambda settings: replace(settings, autoregressive_steps=3, diffusion_steps=6))
    with pytest.raises(SystemExit, match="run without it first"):
        main([*arguments, "--steps-only"])
    assert main(arguments) == 0
    first = json.loads(sampler.read_text())
    assert len(first["spreads"]) == 2 and len(first["steps"]) == 2
    spread = {key: first["settings"][key] for key in ("temperature", "residual_scale", "cfg_scale", "cfg_schedule")}
    assert spread in [{key: row[key] for key in spread} for row in first["spreads"]]
    # Steps only: the spread and its table stay; the steps are chosen again (here from other candidates).
    monkeypatch.setattr(tune_sampler, "STEP_CANDIDATES", ((1, 3, 1.0),))
    assert main([*arguments, "--steps-only"]) == 0
    second = json.loads(sampler.read_text())
    assert second["spreads"] == first["spreads"] and [row["autoregressive_steps"] for row in second["steps"]] == [1]
    assert {key: second["settings"][key] for key in spread} == spread
    assert (second["settings"]["autoregressive_steps"], second["settings"]["diffusion_steps"]) in ((1, 3), (3, 6))

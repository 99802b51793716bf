"""The rules that pick the default sampler settings: the most realistic temperature and guidance near the best
SSIM among those whose cines keep what the heart says, then the fastest steps, as measured, whose SSIM stays
within 2 % of the reference steps'."""

import numpy as np
import pytest

from cardionets.models.mar_sampler import SamplerSettings, reference_settings
from training.tune_sampler import fastest_within_tolerance, most_realistic_near_best, squared_correlation

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


def test_among_near_best_ssim_the_most_realistic_setting_wins():
    rows = [{"temperature": 0.5, "ssim": 0.650, "frechet": 5.7}, {"temperature": 0.75, "ssim": 0.646, "frechet": 1.0},
            {"temperature": 1.0, "ssim": 0.600, "frechet": 0.1}]
    assert most_realistic_near_best(rows)["temperature"] == 0.75  # 0.646 is within 1 % of 0.650; 0.600 is not
    assert most_realistic_near_best(rows, tie=0.0)["temperature"] == 0.5


def row(cfg: float, ssim: float, frechet: float, lvedv: float, lvef: float) -> dict:
    return {"cfg_scale": cfg, "ssim": ssim, "frechet": frechet, "image_r2": {"lvedv_ml": lvedv, "lvef_pct": lvef}}


def test_a_setting_whose_cines_lose_the_phenotypes_is_not_chosen_however_realistic():
    head = {"lvedv_ml": 0.30, "lvef_pct": 0.25}  # the floor: 0.24 and 0.20
    rows = [row(1.0, 0.640, 1.30, 0.41, 0.24), row(0.5, 0.641, 0.75, 0.42, 0.27), row(0.0, 0.638, 0.44, 0.07, 0.22)]
    assert most_realistic_near_best(rows, head)["cfg_scale"] == 0.5
    assert most_realistic_near_best(rows)["cfg_scale"] == 0.0  # without the floor the unconditional one would win
    # The best SSIM is taken among the qualified rows, so a disqualified row cannot crowd the others out of the tie.
    rows.append(row(3.0, 0.700, 0.10, 0.0, 0.0))
    assert most_realistic_near_best(rows, head)["cfg_scale"] == 0.5


def test_when_no_setting_reaches_the_floor_all_are_considered():
    head = {"lvedv_ml": 0.9, "lvef_pct": 0.9}
    rows = [row(1.0, 0.640, 1.30, 0.41, 0.24), row(0.0, 0.638, 0.44, 0.07, 0.22)]
    assert most_realistic_near_best(rows, head)["cfg_scale"] == 0.0


def test_squared_correlation_ignores_a_linear_calibration_and_is_zero_for_a_constant():
    truth = np.array([100.0, 120.0, 150.0, 90.0, 130.0])
    measured = truth + np.array([5.0, -3.0, 2.0, 4.0, -6.0])
    assert squared_correlation(truth, 2.0 * measured + 7.0) == pytest.approx(squared_correlation(truth, measured))
    assert squared_correlation(truth, measured) > 0.9
    assert squared_correlation(truth, np.full(5, 80.0)) == 0.0

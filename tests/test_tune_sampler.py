"""The rules that pick the default sampler settings: the most realistic temperature and guidance near the best
SSIM, then the fastest steps, as measured, whose SSIM stays within 2 % of the reference steps'."""

from cardionets.models.mar_sampler import SamplerSettings, reference_settings
from training.tune_sampler import fastest_within_tolerance, most_realistic_near_best

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

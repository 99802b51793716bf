"""The rule that picks the default sampler steps: the fastest setting, as measured, whose SSIM stays within 2 %
of the reference steps'."""

from cardionets.models.mar_sampler import SamplerSettings, reference_settings
from training.tune_sampler import fastest_within_tolerance

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

"""The scanner adapter: the many-scanner pairs it trains on, its scanner profile, and how the generators use it."""

import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from cardionets.inference import CardioNets
from cardionets.models.cine_tokenizer import CineTokenizer
from cardionets.models.mar import CineMAR
from cardionets.models.mar_sampler import SamplerSettings, sample_cines
from cardionets.models.scanner_adapter import ScannerAdapter, ScannerAdapterConfig
from cardionets.sim.sites import SCANNER_RANGES, SITES, random_scanner
from tests.conftest import TINY
from training.config import load_run_config
from training.distributed import Context
from training.evaluate_generative import GenerativeModels, regress
from training.run import GENERATOR_SCANNERS, SCANNERS_FILE, Run

SMALL = ScannerAdapterConfig(condition_dim=6, latent_shape=(2, 2, 4, 8, 8), hidden_dim=16)


def test_drawn_scanners_lie_inside_the_ranges_and_differ():
    rng = np.random.default_rng(0)
    scanners = [random_scanner(rng) for _ in range(50)]
    for scanner in scanners:
        for name, (lo, hi) in SCANNER_RANGES.items():
            assert lo <= getattr(scanner, name) <= hi
    assert len({scanner.blood_intensity for scanner in scanners}) == 50


def test_profile_scales_each_property_over_its_range_and_names_what_is_missing():
    adapter = ScannerAdapter(SMALL)
    low = replace(SITES["cheadle"].scanner, **{name: lo for name, (lo, _) in SCANNER_RANGES.items()})
    high = {name: hi for name, (_, hi) in SCANNER_RANGES.items()}
    profile = adapter.profile([low, high])
    assert torch.allclose(profile[0], -torch.ones(len(SCANNER_RANGES)))
    assert torch.allclose(profile[1], torch.ones(len(SCANNER_RANGES)))
    with pytest.raises(ValueError, match="noise_sd"):
        adapter.profile([{k: v for k, v in high.items() if k != "noise_sd"}])


def test_a_saved_adapter_gives_the_same_shift_and_keeps_its_scaling(tmp_path):
    torch.manual_seed(0)
    ranges = {**SCANNER_RANGES, "pixel_mm": (1.0, 3.0)}
    adapter = ScannerAdapter(replace(SMALL, profile_ranges=ranges)).eval()
    condition = torch.randn(3, 6)
    profile = adapter.profile([SITES[name].scanner for name in ("cheadle", "reading", "boston")])
    adapter.save_pretrained(tmp_path)
    loaded = ScannerAdapter.from_pretrained(tmp_path).eval()
    assert loaded.config.profile_ranges["pixel_mm"] == (1.0, 3.0)
    assert torch.equal(loaded.profile([SITES["boston"].scanner]), profile[2:])
    with torch.no_grad():
        assert torch.allclose(loaded(condition, profile), adapter(condition, profile))
        assert loaded(condition, profile).shape == (3, 2, 2, 4, 8, 8)


def test_the_adapter_learns_a_scanner_dependent_residual():
    torch.manual_seed(0)
    adapter = ScannerAdapter(replace(SMALL, dropout=0.0))
    condition = torch.randn(256, 6)
    profile = torch.rand(256, len(SCANNER_RANGES)) * 2 - 1
    pattern = torch.randn(2 * 2 * 4 * 8 * 8)
    residual = (profile[:, :1] * pattern).view(256, 2, 2, 4, 8, 8)  # brighter on one scanner, darker on another
    optimiser = torch.optim.Adam(adapter.parameters(), lr=3e-3)
    first = adapter.loss(residual, condition, profile).item()
    for _ in range(200):
        loss = adapter.loss(residual, condition, profile)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    assert loss.item() < 0.1 * first


def test_a_latent_shift_moves_the_sampled_cine_and_zero_leaves_it(bundle):
    mar = CineMAR.from_pretrained(bundle / "generator").eval()
    tokenizer = CineTokenizer.from_pretrained(bundle / "tokenizer").eval()
    condition = torch.randn(1, mar.config.condition_dim, generator=torch.Generator().manual_seed(0))
    settings = SamplerSettings(autoregressive_steps=2, diffusion_steps=2, seed=3)
    plain = sample_cines(mar, tokenizer, condition, settings)
    zero = torch.zeros(1, *mar.config.latent_shape)
    assert torch.equal(sample_cines(mar, tokenizer, condition, settings, zero), plain)
    shifted = sample_cines(mar, tokenizer, condition, settings, zero + 1.0)
    assert (shifted - plain).abs().mean() > 1e-3


def test_tiny_run_draws_its_scanners_and_tells_the_generators_each_sites_scanner(tiny_run):
    run_dir, data = tiny_run
    config = load_run_config(TINY, str(run_dir), str(data))
    many = Run(config, Context()).prepared(GENERATOR_SCANNERS)
    drawn = json.loads((many.directory / SCANNERS_FILE).read_text())
    assert len(drawn) == config.data.scanner_count
    assert set(many.manifest["site"]) <= set(drawn)  # every subject's scanner is recorded
    assert all(SITES["cheadle"].scanner.slice_mm == scanner["slice_mm"] for scanner in drawn.values())
    assert len({json.dumps(scanner, sort_keys=True) for scanner in drawn.values()}) == len(drawn)

    run = Run(config, Context())
    models = GenerativeModels.load(run)
    assert models.scanner_adapter is not None
    conditions = torch.randn(2, models.mar.config.condition_dim, generator=torch.Generator().manual_seed(1))
    training, external = (models.scanner_shifts(conditions, [site] * 2) for site in ("cheadle", "boston"))
    assert not torch.allclose(training, external)  # another scanner, another shift
    told = regress(models, conditions, run.device, external)
    assert not np.allclose(told, regress(models, conditions, run.device))


def test_the_app_imitates_a_chosen_scanner_and_keeps_the_adapter_when_saved(bundle, mortara_ecg, tmp_path):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    assert model.scanner_adapter is not None and "boston" in model.scanner_choices
    fast = {"steps": 2, "autoregressive_steps": 2}
    plain = model.generate_cmr(mortara_ecg, **fast)
    boston = model.generate_cmr(mortara_ecg, scanner="boston", **fast)
    assert plain.scanner is None and boston.scanner == "boston"
    assert np.abs(boston.cines - plain.cines).mean() > 1e-4
    with pytest.raises(ValueError, match="the choices are .*boston"):
        model.generate_cmr(mortara_ecg, scanner="no-such-site", **fast)
    saved = CardioNets.from_pretrained(model.save_pretrained(tmp_path / "copy"), device="cpu")
    assert np.array_equal(saved.generate_cmr(mortara_ecg, scanner="boston", **fast).cines, boston.cines)


def test_weights_without_an_adapter_refuse_a_scanner_in_words(bundle, mortara_ecg):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    model.scanner_adapter = None
    assert model.scanner_choices == ()
    with pytest.raises(ValueError, match="no scanner adapter"):
        model.generate_cmr(mortara_ecg, scanner="boston", steps=2, autoregressive_steps=2)

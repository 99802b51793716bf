"""The generative models: cine tokenizer, per-token diffusion head, MAR generator and its sampler, segmenter."""

import math
from dataclasses import replace

import pytest
import torch

from cardionets.models.cine_tokenizer import CineTokenizer, CineTokenizerConfig
from cardionets.models.diffusion_head import DiffusionHead, DiffusionHeadConfig
from cardionets.models.latent_regressor import LatentRegressor, LatentRegressorConfig
from cardionets.models.mar import CineMAR, CineMARConfig
from cardionets.models.mar_sampler import SamplerSettings, sample_cines, sample_tokens, unknown_after
from cardionets.models.segmenter import CMRSegmenter, CMRSegmenterConfig, dice_per_class

SMALL_MAR = dict(dim=64, depth=2, n_heads=4, head={"width": 64, "depth": 2})


def beating_discs(batch: int = 2, frames: int = 16, size: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Cines (B, 2, T, S, S) of a bright disc whose radius beats, and their label maps (1 inside the disc)."""
    yy, xx = torch.meshgrid(torch.arange(size), torch.arange(size), indexing="ij")
    radius = 10 + 4 * torch.cos(2 * math.pi * torch.arange(frames) / frames)  # (T,)
    centre = torch.tensor([size / 2, size / 2 - 6])
    distance = ((yy - centre[0]) ** 2 + (xx - centre[1]) ** 2).sqrt()
    inside = (distance[None] < radius[:, None, None]).float()  # (T, S, S)
    scale = torch.linspace(0.6, 1.0, batch)[:, None, None, None, None]
    cine = (0.1 + 0.8 * inside)[None, None].expand(batch, 2, -1, -1, -1) * scale
    return cine.contiguous(), inside.long()


def train(model_loss, parameters, steps: int, lr: float = 3e-3) -> tuple[float, float]:
    optimiser = torch.optim.AdamW(parameters, lr=lr)
    losses = []
    for step in range(steps):
        optimiser.zero_grad()
        loss = model_loss(step)
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    return sum(losses[:5]) / 5, sum(losses[-5:]) / 5


# --- tokenizer ------------------------------------------------------------------------------------------------

def test_tokenizer_compresses_each_frame_pair_and_decodes_to_the_cine_shape():
    tokenizer = CineTokenizer(CineTokenizerConfig())
    cine, _ = beating_discs()
    latent = tokenizer.encode(cine)
    assert latent.shape == (2, 2, 8, 4, 16, 16) == (2, *tokenizer.config.latent_shape)
    decoded = tokenizer.decode(latent)
    assert decoded.shape == cine.shape and decoded.min() >= 0 and decoded.max() <= 1


def test_tokenizer_learns_to_reconstruct_and_round_trips_through_a_folder(tmp_path):
    torch.manual_seed(0)
    tokenizer = CineTokenizer(CineTokenizerConfig(widths=(8, 16, 16), n_frames=4, image_size=32))
    cine, _ = beating_discs(frames=4, size=32)
    first, last = train(lambda step: tokenizer.loss(cine, torch.Generator().manual_seed(step)),
                        tokenizer.parameters(), 60)
    assert last < 0.3 * first
    tokenizer.fit_latent_scale(cine)
    with torch.no_grad():
        assert abs(float(tokenizer.encode(cine).std()) - 1.0) < 1e-3
    loaded = CineTokenizer.from_pretrained(tokenizer.save_pretrained(tmp_path / "tokenizer"))
    torch.testing.assert_close(loaded.decode(loaded.encode(cine)), tokenizer.decode(tokenizer.encode(cine)))


def test_tokenizer_trains_on_frame_groups_as_on_whole_cines():
    torch.manual_seed(0)
    tokenizer = CineTokenizer(CineTokenizerConfig(widths=(4, 8, 8)))
    cine, _ = beating_discs()
    groups = cine.reshape(-1, 2, 64, 64)  # every latent frame's pair of frames, as the training stage draws them
    generator = torch.Generator().manual_seed(1)
    whole = tokenizer.loss(cine, torch.Generator().manual_seed(1))
    assert torch.allclose(whole, tokenizer.image_loss(groups, generator))
    with pytest.raises(ValueError, match="frame groups"):
        tokenizer.image_loss(cine[:, 0])


def test_tokenizer_names_the_shape_it_expected():
    with pytest.raises(ValueError, match=r"\(batch, 2, 16, 64, 64\)"):
        CineTokenizer(CineTokenizerConfig()).encode(torch.zeros(1, 16, 64, 64))


# --- diffusion head -------------------------------------------------------------------------------------------

class GaussianOracle(DiffusionHead):
    """The exact noise predictor for tokens drawn from N(mean, std^2): isolates the sampler's arithmetic."""

    mean, std = 1.5, 0.5

    def forward(self, noisy, t, z):
        alpha = self.alphas_cumprod[t][:, None]
        return (1 - alpha).sqrt() * (noisy - alpha.sqrt() * self.mean) / (alpha * self.std**2 + 1 - alpha)


def test_respaced_sampler_draws_from_the_distribution_its_noise_predictor_describes():
    head = GaussianOracle(DiffusionHeadConfig(token_dim=4, condition_dim=8))
    spread = {}
    for steps in (10, 100, 1000):
        samples = head.sample(torch.zeros(4000, 8), steps, generator=torch.Generator().manual_seed(0))
        assert abs(float(samples.mean()) - 1.5) < 0.03, steps
        spread[steps] = float(samples.std())
    # Exact with every training step; fewer, longer steps under-disperse (the known cost of respacing).
    assert abs(spread[1000] - 0.5) < 0.01
    assert spread[10] < spread[100] < spread[1000]


def test_ddim_path_keeps_the_spread_that_ancestral_steps_lose():
    head = GaussianOracle(DiffusionHeadConfig(token_dim=4, condition_dim=8))

    def spread(steps, eta):
        samples = head.sample(torch.zeros(4000, 8), steps, generator=torch.Generator().manual_seed(0), eta=eta)
        assert abs(float(samples.mean()) - 1.5) < 0.03
        return float(samples.std())

    # Both approach the true SD 0.5 as steps grow; at few steps, DDIM's deterministic path is closer to it.
    assert spread(10, eta=0.0) > spread(10, eta=1.0)
    assert abs(spread(100, eta=0.0) - 0.5) < 0.02
    with pytest.raises(ValueError, match="eta"):
        head.sample(torch.zeros(2, 8), 10, eta=1.5)


def test_lower_temperature_narrows_the_samples():
    head = GaussianOracle(DiffusionHeadConfig(token_dim=4, condition_dim=8))
    cold = head.sample(torch.zeros(4000, 8), 25, temperature=0.5, generator=torch.Generator().manual_seed(0))
    assert float(cold.std()) < 0.4


def test_diffusion_head_starts_as_a_zero_noise_predictor():
    head = DiffusionHead(DiffusionHeadConfig(token_dim=4, condition_dim=8))
    out = head(torch.randn(3, 4), torch.tensor([0, 500, 999]), torch.randn(3, 8))
    assert torch.count_nonzero(out) == 0  # adaLN-Zero: training starts from a stable identity


# --- MAR generator and sampler ----------------------------------------------------------------------------------

def test_tokens_and_latents_convert_both_ways():
    mar = CineMAR(CineMARConfig(**SMALL_MAR))
    latent = torch.randn(2, *mar.config.latent_shape)
    tokens = mar.tokens_from_latent(latent)
    assert tokens.shape == (2, 256, 64)
    assert torch.equal(mar.latent_from_tokens(tokens), latent)
    # A token is one 4 x 4 patch of one latent frame of one view, all channels.
    assert torch.equal(tokens[1, 0].view(4, 4, 4), latent[1, 0, 0, :, :4, :4])


def test_generator_loss_falls_when_it_trains():
    torch.manual_seed(0)
    mar = CineMAR(CineMARConfig(**SMALL_MAR, latent_shape=(2, 2, 4, 8, 8)))
    latent = torch.randn(1, *mar.config.latent_shape).expand(4, -1, -1, -1, -1, -1) * 0.5 + 0.2
    tokens, condition = mar.tokens_from_latent(latent), torch.randn(4, 128)
    first, last = train(lambda step: mar.loss(tokens, condition, torch.Generator().manual_seed(step)),
                        mar.parameters(), 80)
    assert last < 0.6 * first


def test_sampling_is_deterministic_for_a_seed_and_guidance_changes_it():
    torch.manual_seed(0)
    mar = CineMAR(CineMARConfig(**SMALL_MAR, latent_shape=(2, 2, 4, 8, 8)))
    for parameter in mar.head.parameters():  # a head that uses its condition, as a trained one does
        torch.nn.init.normal_(parameter, std=0.05)
    condition = torch.randn(2, 128)
    settings = SamplerSettings(autoregressive_steps=4, diffusion_steps=5, cfg_scale=3.0, seed=7)
    first, again = sample_tokens(mar, condition, settings), sample_tokens(mar, condition, settings)
    assert torch.equal(first, again)
    other_seed = sample_tokens(mar, condition, SamplerSettings(autoregressive_steps=4, diffusion_steps=5, seed=8))
    unguided = sample_tokens(mar, condition, SamplerSettings(autoregressive_steps=4, diffusion_steps=5,
                                                             cfg_scale=1.0, seed=7))
    assert not torch.allclose(first, other_seed) and not torch.allclose(first, unguided)


def anchored_mar(residual_std: float = 1.0) -> CineMAR:
    torch.manual_seed(0)
    shape = (2, 2, 4, 8, 8)
    regressor = LatentRegressor(LatentRegressorConfig(condition_dim=16, latent_shape=shape, hidden_dim=32)).eval()
    mar = CineMAR(CineMARConfig(**SMALL_MAR, latent_shape=shape, condition_dim=16, anchor=regressor.config,
                                residual_std=residual_std))
    mar.anchor.load_state_dict(regressor.state_dict())
    return mar


def test_an_anchored_mar_samples_a_residual_around_its_regressor():
    condition = torch.randn(2, 16)
    settings = SamplerSettings(autoregressive_steps=3, diffusion_steps=4, seed=1)
    mar = anchored_mar(residual_std=0.0)  # no residual: the samples are the regressor's estimate exactly
    anchor = mar.tokens_from_latent(mar.anchor(condition))
    assert torch.equal(sample_tokens(mar, condition, settings), anchor)
    assert not torch.allclose(sample_tokens(anchored_mar(residual_std=0.5), condition, settings), anchor)


def test_the_residual_scale_pulls_an_anchored_sample_towards_its_anchor_and_needs_an_anchor():
    condition = torch.randn(2, 16)
    mar, settings = anchored_mar(residual_std=0.5), SamplerSettings(autoregressive_steps=3, diffusion_steps=4)
    anchor = mar.anchor_tokens(condition)
    full = sample_tokens(mar, condition, settings) - anchor
    half = sample_tokens(mar, condition, replace(settings, residual_scale=0.5)) - anchor
    assert torch.allclose(half, 0.5 * full, atol=1e-6) and full.abs().mean() > 1e-3
    assert torch.equal(sample_tokens(mar, condition, replace(settings, residual_scale=0.0)), anchor)
    with pytest.raises(ValueError, match="anchored"):
        sample_tokens(CineMAR(CineMARConfig(**SMALL_MAR, latent_shape=(2, 2, 4, 8, 8), condition_dim=16)),
                      condition, replace(settings, residual_scale=0.5))
    with pytest.raises(ValueError, match="residual_scale"):
        SamplerSettings(residual_scale=-0.1)


def test_an_anchored_mar_trains_only_its_own_weights_and_round_trips(tmp_path):
    mar = anchored_mar(residual_std=0.5)
    frozen = {name: p.clone() for name, p in mar.anchor.named_parameters()}
    condition = torch.randn(4, 16)
    tokens = mar.anchor_tokens(condition) + 0.5 * torch.randn(4, mar.config.n_tokens, mar.config.head.token_dim)
    first, last = train(lambda step: mar.loss(tokens, condition, torch.Generator().manual_seed(step)),
                        [p for p in mar.parameters() if p.requires_grad], 60)
    assert last < first
    assert all(torch.equal(p, frozen[name]) for name, p in mar.anchor.named_parameters())
    mar.save_pretrained(tmp_path / "mar")
    again = CineMAR.from_pretrained(tmp_path / "mar")
    assert again.config.residual_std == 0.5 and again.config.anchor == mar.config.anchor
    settings = SamplerSettings(autoregressive_steps=3, diffusion_steps=4, seed=2)
    assert torch.equal(sample_tokens(again, condition, settings), sample_tokens(mar, condition, settings))


def test_sampling_schedule_places_every_token_once():
    for steps in (1, 4, 16, 64):
        counts = [256] + [unknown_after(k, steps, 256) for k in range(1, steps + 1)]
        assert counts[-1] == 0 and all(a > b for a, b in zip(counts, counts[1:]))


# --- segmenter ------------------------------------------------------------------------------------------------

def test_dice_counts_overlap_per_class():
    truth = torch.tensor([[0, 1, 1, 2], [0, 1, 1, 2]])
    predicted = torch.tensor([[0, 1, 0, 2], [0, 1, 1, 1]])
    scores = dice_per_class(predicted, truth, n_classes=4)
    assert scores[1] == pytest.approx(2 * 3 / 8) and scores[2] == pytest.approx(2 * 1 / 3) and scores[3] is None


def test_segmenter_learns_a_beating_disc():
    torch.manual_seed(0)
    segmenter = CMRSegmenter(CMRSegmenterConfig(widths=(8, 16)))
    cine, labels = beating_discs(batch=1, size=32)
    frames = cine[0, 0]  # (T, S, S)
    train(lambda step: segmenter.loss(frames, labels), segmenter.parameters(), 60, lr=1e-2)
    assert dice_per_class(segmenter.segment(frames), labels)[1] > 0.9


# --- deterministic baseline -------------------------------------------------------------------------------------


def test_latent_regressor_fits_a_latent_per_condition_and_round_trips(tmp_path):
    torch.manual_seed(0)
    regressor = LatentRegressor(LatentRegressorConfig(condition_dim=6, latent_shape=(2, 2, 1, 4, 4), hidden_dim=32))
    condition = torch.randn(16, 6)
    latent = torch.tanh(condition @ torch.randn(6, 64)).view(16, 2, 2, 1, 4, 4)
    first, last = train(lambda step: regressor.loss(latent, condition), regressor.parameters(), 150, lr=1e-2)
    assert last < 0.2 * first
    regressor.eval().save_pretrained(tmp_path / "regressor")
    again = LatentRegressor.from_pretrained(tmp_path / "regressor").eval()
    assert torch.equal(again(condition), regressor(condition))


def test_sample_cines_decodes_sampled_tokens_to_cines():
    torch.manual_seed(0)
    tokenizer = CineTokenizer(CineTokenizerConfig(widths=(4, 8, 8))).eval()
    mar = CineMAR(CineMARConfig(latent_shape=tokenizer.config.latent_shape, condition_dim=8, **SMALL_MAR))
    settings = SamplerSettings(autoregressive_steps=3, diffusion_steps=4, seed=5)
    condition = torch.randn(2, 8)
    cine = sample_cines(mar, tokenizer, condition, settings)
    assert cine.shape == (2, 2, 16, 64, 64) and 0 <= float(cine.min()) and float(cine.max()) <= 1
    assert torch.equal(cine, sample_cines(mar, tokenizer, condition, settings))

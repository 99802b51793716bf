"""Sampling from the cine generator, kept apart from the network so its settings can change without retraining.

MAR's schedule: all tokens start unknown; at each of ``autoregressive_steps`` steps the transformer reads what is
known and the diffusion head samples a batch of the unknown tokens, in a random order, until none is left. The
share still unknown after step k follows cos(pi/2 * k / K), so early steps place few tokens (the coarse heart)
and late steps many (details that follow from it). Guidance grows linearly with the share already known, as in
MAR, since early tokens have little to be guided by.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

from .cine_tokenizer import CineTokenizer
from .mar import CineMAR


@dataclass(frozen=True)
class SamplerSettings:
    autoregressive_steps: int = 16
    diffusion_steps: int = 25
    cfg_scale: float = 3.0  # 1 = no guidance; below 1 mixes in the unconditional prediction (0 = only it)
    cfg_schedule: str = "linear"  # "linear": from 1 up to cfg_scale as tokens become known; "constant"
    temperature: float = 1.0
    eta: float = 0.0  # the diffusion head's solver: 0 = DDIM (deterministic per token), 1 = ancestral
    # Anchored generators only: the sampled residual is scaled by this before it is added to the anchor's tokens.
    # Below 1 it pulls the cine towards the anchor's estimate, which for a Gaussian around the anchor is what a
    # lower temperature does, but it leaves each token's diffusion at its trained noise level. A low temperature
    # inside the head's steps does not: the shipped generator's cines then drifted from real ones in CMR-encoder
    # features (docs/generative.md). 0 gives the anchor's cine.
    residual_scale: float = 1.0
    seed: int = 0

    def __post_init__(self):
        if self.autoregressive_steps < 1:
            raise ValueError(f"autoregressive_steps must be at least 1, got {self.autoregressive_steps}")
        if self.cfg_scale < 0:
            raise ValueError(f"cfg_scale must be at least 0, got {self.cfg_scale}")
        if self.residual_scale < 0:
            raise ValueError(f"residual_scale must be at least 0, got {self.residual_scale}")
        if self.temperature <= 0:
            raise ValueError(f"temperature must be positive, got {self.temperature}")
        if self.cfg_schedule not in ("linear", "constant"):
            raise ValueError(f"cfg_schedule must be 'linear' or 'constant', got {self.cfg_schedule!r}")


SAMPLER_FILE = "sampler.json"  # beside the generator's weights: {"settings": ..., how they were chosen}


def load_sampler_settings(generator_folder: Path) -> SamplerSettings | None:
    """The default settings saved beside a generator (`training.tune_sampler`), or None when there are none."""
    path = Path(generator_folder) / SAMPLER_FILE
    return SamplerSettings(**json.loads(path.read_text())["settings"]) if path.is_file() else None


def save_sampler_settings(generator_folder: Path, settings: SamplerSettings, record: Path | None = None) -> Path:
    """Write ``settings`` as the generator's defaults; the rest of an earlier ``record`` (how they were chosen,
    the tuning tables) is kept."""
    earlier = json.loads(Path(record).read_text()) if record is not None and Path(record).is_file() else {}
    chosen = {key: value for key, value in asdict(settings).items() if key != "seed"}
    path = Path(generator_folder) / SAMPLER_FILE
    path.write_text(json.dumps({**earlier, "settings": chosen}, indent=2))
    return path


def reference_settings(settings: SamplerSettings = SamplerSettings()) -> SamplerSettings:
    """``settings`` with the paper's sampler steps: 16 autoregressive steps and 100 ancestral diffusion steps per
    token (guidance, temperature and seed unchanged, so a comparison isolates the steps)."""
    return replace(settings, autoregressive_steps=16, diffusion_steps=100, eta=1.0)


REFERENCE_SETTINGS = reference_settings()


def unknown_after(step: int, steps: int, n_tokens: int) -> int:
    """Tokens still unknown after ``step`` (1-based) of ``steps``: a cosine schedule, at least one fewer each step."""
    if step >= steps:
        return 0
    return max(0, min(n_tokens - step, math.floor(n_tokens * math.cos(math.pi / 2 * step / steps))))


def guidance_scale(settings: SamplerSettings, known_share: float) -> float:
    """CFG scale of a step after which ``known_share`` of the tokens are known."""
    if settings.cfg_schedule == "constant":
        return settings.cfg_scale
    return 1.0 + (settings.cfg_scale - 1.0) * known_share


@torch.no_grad()
def sample_tokens(mar: CineMAR, condition: torch.Tensor, settings: SamplerSettings = SamplerSettings()) -> torch.Tensor:
    """(B, condition_dim) conditions -> (B, L, token_dim) latent tokens; the same seed gives the same tokens.
    With an anchored MAR the steps sample the residual, which is scaled by ``settings.residual_scale`` and added
    to the anchor's tokens at the end."""
    mar.eval()
    if mar.anchor is None and settings.residual_scale != 1.0:
        raise ValueError("residual_scale applies to a generator anchored on a regression decoder; this one samples "
                         "whole tokens, so it must be 1")
    device = mar.mask_token.device
    generator = torch.Generator(device="cpu").manual_seed(settings.seed)  # CPU: the same numbers on any device
    B, L, token_dim = condition.shape[0], mar.config.n_tokens, mar.config.head.token_dim
    tokens = torch.zeros(B, L, token_dim, device=device)
    mask = torch.ones(B, L, dtype=torch.bool, device=device)
    order = torch.rand(B, L, generator=generator).argsort(dim=1).to(device)  # the order tokens become known
    guided = settings.cfg_scale != 1.0
    condition = condition.to(device)
    anchor = mar.anchor_tokens(condition)
    unconditional_anchor = None if anchor is None else torch.zeros_like(anchor)
    unknown = L
    for step in range(1, settings.autoregressive_steps + 1):
        if guided:
            z_all = mar(torch.cat([tokens, tokens]), torch.cat([mask, mask]),
                        torch.cat([condition, mar.null_condition.expand(B, -1)]),
                        None if anchor is None else torch.cat([anchor, unconditional_anchor]))
            z, z_unconditional = z_all.chunk(2)
        else:
            z, z_unconditional = mar(tokens, mask, condition, anchor), None
        still_unknown = unknown_after(step, settings.autoregressive_steps, L)
        # Positions order[:, still_unknown:unknown] become known in this step (the same count in every sample).
        chosen = order[:, still_unknown:unknown]
        rows = torch.arange(B, device=device)[:, None].expand_as(chosen)
        scale = guidance_scale(settings, (L - still_unknown) / L)
        sampled = mar.head.sample(
            z[rows, chosen].reshape(-1, z.shape[-1]), settings.diffusion_steps, settings.temperature, scale,
            z_unconditional[rows, chosen].reshape(-1, z.shape[-1]) if guided else None, generator, settings.eta,
        )
        tokens[rows, chosen] = sampled.view(B, -1, token_dim).to(tokens)
        mask[rows, chosen] = False
        unknown = still_unknown
    return mar.tokens_from_residual(settings.residual_scale * tokens, anchor)  # 1 for an unanchored MAR


@torch.no_grad()
def sample_cines(mar: CineMAR, tokenizer: CineTokenizer, condition: torch.Tensor,
                 settings: SamplerSettings = SamplerSettings(),
                 latent_shift: torch.Tensor | None = None) -> torch.Tensor:
    """(B, condition_dim) -> (B, views, frames, H, W) synthetic cines in [0, 1]. ``latent_shift`` (B,
    *latent_shape), when given, is added to the sampled latent before decoding: the scanner adapter's move to
    another scanner's look (`cardionets.models.scanner_adapter`)."""
    tokenizer.eval()
    latent = mar.latent_from_tokens(sample_tokens(mar, condition, settings))
    return tokenizer.decode(latent if latent_shift is None else latent + latent_shift.to(latent))

"""Per-token diffusion: the small MLP that turns the generator's condition vector ``z`` into a continuous token.

Following MAR (Li et al., NeurIPS 2024), each token is not predicted by regression (which would average the
possible hearts into a blur) but sampled from a denoising diffusion model conditioned on ``z``: a residual MLP
whose blocks are modulated by adaptive LayerNorm (adaLN) from ``z`` and the diffusion time. Training is the
usual noise-prediction loss (`DiffusionHead.loss`); sampling (`DiffusionHead.sample`) walks a respaced subset of
the training steps, so fewer steps trade a little fidelity for speed without retraining.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

TRAINING_STEPS = 1000


def cosine_alphas_cumprod(steps: int = TRAINING_STEPS) -> torch.Tensor:
    """Share of signal left after each of ``steps`` noising steps (Nichol & Dhariwal 2021's cosine schedule)."""
    t = torch.linspace(0, 1, steps + 1, dtype=torch.float64)
    f = torch.cos((t + 0.008) / 1.008 * math.pi / 2) ** 2
    betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
    return torch.cumprod(1 - betas, dim=0).float()  # (steps,)


def timestep_embedding(t: torch.Tensor, dim: int) -> torch.Tensor:
    """(N,) integer steps -> (N, dim) sinusoidal features."""
    half = dim // 2
    frequencies = torch.exp(-math.log(10000.0) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    angles = t.float()[:, None] * frequencies[None]
    return torch.cat([angles.cos(), angles.sin()], dim=-1)


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    return x * (1 + scale) + shift


class AdaLNBlock(nn.Module):
    """Residual MLP block whose LayerNorm shift, scale and output gate come from the condition."""

    def __init__(self, width: int):
        super().__init__()
        self.norm = nn.LayerNorm(width, elementwise_affine=False, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.modulation = nn.Sequential(nn.SiLU(), nn.Linear(width, 3 * width))
        # Zero-initialised modulation: every block starts as the identity, which is what makes training stable
        # from the first step (DiT's adaLN-Zero).
        nn.init.zeros_(self.modulation[1].weight)
        nn.init.zeros_(self.modulation[1].bias)

    def forward(self, x: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:  # (N, W), (N, W)
        shift, scale, gate = self.modulation(condition).chunk(3, dim=-1)
        return x + gate * self.mlp(modulate(self.norm(x), shift, scale))


@dataclass
class DiffusionHeadConfig:
    token_dim: int = 64  # size of one continuous token
    condition_dim: int = 256  # size of the generator's z
    width: int = 256
    depth: int = 3
    # How many noise levels each token is trained at per step: cheap (the head is small next to the
    # transformer that made z) and lowers the variance of the loss, as MAR's diffusion_batch_mul.
    batch_mul: int = 4


class DiffusionHead(nn.Module):
    def __init__(self, config: DiffusionHeadConfig):
        super().__init__()
        self.config = config
        self.input = nn.Linear(config.token_dim, config.width)
        width = config.width
        self.time = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, width))
        self.condition = nn.Linear(config.condition_dim, config.width)
        self.blocks = nn.ModuleList(AdaLNBlock(config.width) for _ in range(config.depth))
        self.final_norm = nn.LayerNorm(config.width, elementwise_affine=False, eps=1e-6)
        self.final_modulation = nn.Sequential(nn.SiLU(), nn.Linear(config.width, 2 * config.width))
        self.output = nn.Linear(config.width, config.token_dim)
        for layer in (self.final_modulation[1], self.output):
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
        self.register_buffer("alphas_cumprod", cosine_alphas_cumprod(), persistent=False)

    def forward(self, noisy: torch.Tensor, t: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """Predicted noise (N, token_dim) of ``noisy`` (N, token_dim) at steps ``t`` (N,) given ``z``
        (N, condition_dim)."""
        condition = self.time(timestep_embedding(t, self.config.width)) + self.condition(z)
        x = self.input(noisy)
        for block in self.blocks:
            x = block(x, condition)
        shift, scale = self.final_modulation(condition).chunk(2, dim=-1)
        return self.output(modulate(self.final_norm(x), shift, scale))

    def loss(self, target: torch.Tensor, z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Noise-prediction MSE; ``target`` (N, token_dim) clean tokens, ``z`` (N, condition_dim)."""
        repeat = self.config.batch_mul
        target, z = target.repeat(repeat, 1), z.repeat(repeat, 1)
        device = generator.device if generator is not None else target.device
        t = torch.randint(0, TRAINING_STEPS, (target.shape[0],), generator=generator, device=device).to(target.device)
        noise = torch.randn(target.shape, generator=generator, device=device).to(target)
        alpha = self.alphas_cumprod[t][:, None].to(target)
        noisy = alpha.sqrt() * target + (1 - alpha).sqrt() * noise
        return F.mse_loss(self(noisy, t, z), noise)

    @torch.no_grad()
    def sample(self, z: torch.Tensor, steps: int, temperature: float = 1.0, cfg_scale: float = 1.0,
               z_unconditional: torch.Tensor | None = None, generator: torch.Generator | None = None,
               eta: float = 1.0) -> torch.Tensor:
        """(N, condition_dim) -> (N, token_dim) tokens over ``steps`` respaced steps of the training chain.

        ``eta`` = 1 is ancestral sampling (DDPM's posterior, fresh noise at every step); ``eta`` = 0 is DDIM's
        deterministic path (Song et al. 2021), which keeps its quality with far fewer steps. With
        ``z_unconditional`` and ``cfg_scale`` != 1, the noise prediction is pushed away from the unconditional
        one (classifier-free guidance). ``temperature`` scales the starting noise and the noise added per step.
        """
        if steps < 1 or steps > TRAINING_STEPS:
            raise ValueError(f"steps must be between 1 and {TRAINING_STEPS}, got {steps}")
        if not 0.0 <= eta <= 1.0:
            raise ValueError(f"eta must be between 0 (DDIM) and 1 (ancestral), got {eta}")
        device = generator.device if generator is not None else z.device
        # Respacing (Nichol & Dhariwal 2021): keep ``steps`` evenly spread training steps.
        kept = torch.linspace(TRAINING_STEPS - 1, 0, steps).round().long().unique_consecutive()
        alphas = self.alphas_cumprod.to(z.device)
        x = torch.randn((z.shape[0], self.config.token_dim), generator=generator, device=device).to(z) * temperature
        guided = z_unconditional is not None and cfg_scale != 1.0
        for index, step in enumerate(kept.tolist()):
            alpha = alphas[step]
            alpha_previous = alphas[kept[index + 1]] if index + 1 < len(kept) else torch.ones((), device=z.device)
            t = torch.full((z.shape[0],), step, device=z.device, dtype=torch.long)
            if guided:
                both = self(torch.cat([x, x]), torch.cat([t, t]), torch.cat([z, z_unconditional]))
                conditional, unconditional = both.chunk(2)
                noise = unconditional + cfg_scale * (conditional - unconditional)
            else:
                noise = self(x, t, z)
            clean = ((x - (1 - alpha).sqrt() * noise) / alpha.sqrt()).clamp(-6.0, 6.0)  # latents are unit-scale
            if index + 1 == len(kept):
                return clean
            # The generalised step (DDIM's eq. 12): eta = 1 gives the DDPM posterior's variance.
            sigma = eta * ((1 - alpha_previous) / (1 - alpha) * (1 - alpha / alpha_previous)).sqrt()
            noise = (x - alpha.sqrt() * clean) / (1 - alpha).sqrt()  # consistent with the clamped estimate
            x = alpha_previous.sqrt() * clean + (1 - alpha_previous - sigma**2).clamp(min=0).sqrt() * noise
            if sigma > 0:
                x = x + sigma * temperature * torch.randn(x.shape, generator=generator, device=device).to(x)
        return x

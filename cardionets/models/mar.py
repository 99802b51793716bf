"""The cine generator: a masked autoregressive (MAR) transformer over the latent tokens of both views, with a
per-token diffusion head, conditioned on the ECG (`CardioNetsPredictor.generator_condition`: the fine-tuned
aligned encoder's embedding with the heads' phenotypes and disease logits).

Both views of one subject are one token sequence, so attention ties the short-axis and four-chamber cines to the
same heart. The condition becomes a few condition ("buffer") tokens at the front of the sequence; during
training it is replaced by a learned null embedding 10 % of the time, which is what classifier-free guidance
needs at sampling time. Training masks a random 70-100 % of the tokens and scores only those with the diffusion
loss (MAR's recipe); sampling lives in `cardionets.models.mar_sampler`, apart from the network.

    mar = CineMAR(CineMARConfig())
    tokens = mar.tokens_from_latent(tokenizer.encode(cine))   # (B, 256, 64)
    mar.loss(tokens, ecg_embedding).backward()
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from .diffusion_head import DiffusionHead, DiffusionHeadConfig
from .latent_regressor import LatentRegressor, LatentRegressorConfig
from .pretrained import PretrainedModule, nested_config
from .transformer import GridPosition, Transformer


@dataclass
class CineMARConfig:
    # The tokenizer's latent: (views, latent frames, channels, side, side); tokens are patch x patch latent pixels.
    latent_shape: tuple[int, int, int, int, int] = (2, 8, 4, 16, 16)
    patch: int = 4
    condition_dim: int = 128  # size of the predictor's generator condition
    n_condition_tokens: int = 4
    dim: int = 256
    depth: int = 6
    n_heads: int = 8
    mlp_ratio: int = 4
    condition_dropout: float = 0.1  # share of training examples that see the null condition (for CFG)
    min_mask_ratio: float = 0.7  # training masks between this share and all tokens
    head: DiffusionHeadConfig = field(default_factory=DiffusionHeadConfig)
    anchor: LatentRegressorConfig | None = None  # residual generation over this regressor (see the module text)
    residual_std: float = 1.0  # SD of the training residuals, so the diffusion head sees unit-scale tokens

    def __post_init__(self):
        self.latent_shape = tuple(self.latent_shape)
        self.head = nested_config(self.head, DiffusionHeadConfig)
        self.anchor = nested_config(self.anchor, LatentRegressorConfig)
        if self.anchor is not None and (self.anchor.latent_shape, self.anchor.condition_dim) != (
                self.latent_shape, self.condition_dim):
            raise ValueError("the anchor regressor's latent shape and condition size must be the generator's")
        views, frames, channels, side, _ = self.latent_shape
        if side % self.patch:
            raise ValueError(f"latent side {side} does not split into patches of {self.patch}")
        self.head.token_dim = channels * self.patch**2
        self.head.condition_dim = self.dim

    @property
    def axes(self) -> tuple[int, int, int, int]:
        """Token grid: (views, latent frames, patch rows, patch columns)."""
        views, frames, _, side, _ = self.latent_shape
        return views, frames, side // self.patch, side // self.patch

    @property
    def n_tokens(self) -> int:
        return math.prod(self.axes)


class CineMAR(PretrainedModule):
    config_class = CineMARConfig
    model_type = "cardionets-cine-mar"

    def __init__(self, config: CineMARConfig):
        super().__init__(config)
        c = config
        self.token_embedding = nn.Linear(c.head.token_dim, c.dim)
        self.mask_token = nn.Parameter(0.02 * torch.randn(c.dim))
        self.position = GridPosition(c.axes, c.dim)
        self.condition_projection = nn.Linear(c.condition_dim, c.n_condition_tokens * c.dim)
        self.null_condition = nn.Parameter(0.02 * torch.randn(c.condition_dim))
        self.condition_position = nn.Parameter(0.02 * torch.randn(c.n_condition_tokens, c.dim))
        self.transformer = Transformer(c.dim, c.depth, c.n_heads, c.mlp_ratio)
        self.head = DiffusionHead(c.head)
        self.anchor = None
        if c.anchor is not None:
            self.anchor = LatentRegressor(c.anchor).requires_grad_(False).eval()  # trained before the MAR, fixed
            self.anchor_embedding = nn.Linear(c.head.token_dim, c.dim)

    def train(self, mode: bool = True) -> CineMAR:
        super().train(mode)
        if self.anchor is not None:
            self.anchor.eval()  # frozen: no dropout while the MAR trains
        return self

    # --- latent <-> tokens: (B, V, T', C, S, S) <-> (B, V*T'*(S/p)^2, C*p*p) ----------------------------------
    def tokens_from_latent(self, latent: torch.Tensor) -> torch.Tensor:
        views, frames, channels, side, _ = self.config.latent_shape
        p, n = self.config.patch, side // self.config.patch
        x = latent.reshape(latent.shape[0], views, frames, channels, n, p, n, p)
        x = x.permute(0, 1, 2, 4, 6, 3, 5, 7)  # (B, V, T', n, n, C, p, p): grid axes first, as `axes`
        return x.reshape(latent.shape[0], self.config.n_tokens, self.config.head.token_dim)

    def latent_from_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        views, frames, channels, side, _ = self.config.latent_shape
        p, n = self.config.patch, side // self.config.patch
        x = tokens.reshape(tokens.shape[0], views, frames, n, n, channels, p, p)
        return x.permute(0, 1, 2, 5, 3, 6, 4, 7).reshape(tokens.shape[0], *self.config.latent_shape)

    # --- residual generation over the anchor ---------------------------------------------------------------------
    def anchor_tokens(self, condition: torch.Tensor) -> torch.Tensor | None:
        """(B, L, token_dim) tokens of the anchor's latent for these conditions; None without an anchor."""
        if self.anchor is None:
            return None
        return self.tokens_from_latent(self.anchor(condition.to(self.null_condition)))

    def residual_from_tokens(self, tokens: torch.Tensor, anchor: torch.Tensor | None) -> torch.Tensor:
        """Latent tokens -> what the diffusion head models (the standardised residual; the tokens themselves
        without an anchor)."""
        return tokens if anchor is None else (tokens - anchor) / self.config.residual_std

    def tokens_from_residual(self, residual: torch.Tensor, anchor: torch.Tensor | None) -> torch.Tensor:
        return residual if anchor is None else anchor + self.config.residual_std * residual

    # --- network ------------------------------------------------------------------------------------------------
    def condition_tokens(self, condition: torch.Tensor | None, batch: int) -> torch.Tensor:
        """(B, condition_dim) conditions, or None for the unconditional model -> (B, n_condition_tokens, dim)."""
        if condition is None:
            condition = self.null_condition.expand(batch, -1)
        tokens = self.condition_projection(condition.to(self.null_condition))
        return tokens.view(batch, self.config.n_condition_tokens, self.config.dim) + self.condition_position

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor, condition: torch.Tensor | None,
                anchor: torch.Tensor | None = None) -> torch.Tensor:
        """tokens (B, L, token_dim) as the head models them, mask (B, L) True where unknown, anchor (B, L,
        token_dim) the anchor's tokens (zeros where the condition is withheld) -> z (B, L, dim) for the head."""
        B, L, _ = tokens.shape
        known = self.token_embedding(tokens.to(self.mask_token))
        x = torch.where(mask[..., None], self.mask_token.expand(B, L, -1), known) + self.position().view(1, L, -1)
        if self.anchor is not None:
            if anchor is None:
                anchor = torch.zeros_like(tokens)  # the unconditional model: no condition, so no anchor either
            x = x + self.anchor_embedding(anchor.to(x))
        x = torch.cat([self.condition_tokens(condition, B), x], dim=1)
        return self.transformer(x)[:, self.config.n_condition_tokens:]

    def loss(self, tokens: torch.Tensor, condition: torch.Tensor,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """Diffusion loss on a random 70-100 % of the tokens, the rest given; ``tokens`` (B, L, token_dim) of the
        true latents, ``condition`` (B, condition_dim)."""
        anchor = self.anchor_tokens(condition)
        tokens = self.residual_from_tokens(tokens.to(self.mask_token), anchor)
        B, L, _ = tokens.shape
        device = generator.device if generator is not None else tokens.device
        ratio = self.config.min_mask_ratio + (1 - self.config.min_mask_ratio) * torch.rand(B, 1, generator=generator,
                                                                                           device=device)
        order = torch.rand(B, L, generator=generator, device=device).argsort(dim=1).argsort(dim=1)  # random ranks
        mask = (order < (ratio * L).ceil()).to(tokens.device)
        drop = (torch.rand(B, 1, generator=generator, device=device) < self.config.condition_dropout).to(tokens.device)
        condition = torch.where(drop, self.null_condition.expand(B, -1), condition.to(self.null_condition))
        if anchor is not None:
            anchor = anchor.masked_fill(drop[..., None], 0.0)
        z = self(tokens, mask, condition, anchor)
        return self.head.loss(tokens[mask].to(z), z[mask], generator)

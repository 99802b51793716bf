"""The deterministic baseline for the cine generator: one latent per ECG, regressed with a squared error.

It reads the same condition as the MAR (`CardioNetsPredictor.generator_condition`) and predicts the tokenizer's
whole latent through an MLP. Squared error rewards the average of every heart the condition allows, so its cines
are the blurred conditional mean: the comparison shows what sampling (MAR + diffusion head) buys in realism.

    regressor = LatentRegressor(LatentRegressorConfig(condition_dim=..., latent_shape=tokenizer.config.latent_shape))
    regressor.loss(latent, condition).backward()
    tokenizer.decode(regressor(condition))
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .pretrained import PretrainedModule


@dataclass
class LatentRegressorConfig:
    condition_dim: int = 128
    latent_shape: tuple[int, int, int, int, int] = (2, 8, 4, 16, 16)
    hidden_dim: int = 512
    dropout: float = 0.1

    def __post_init__(self):
        self.latent_shape = tuple(self.latent_shape)


class LatentRegressor(PretrainedModule):
    config_class = LatentRegressorConfig
    model_type = "cardionets-latent-regressor"

    def __init__(self, config: LatentRegressorConfig):
        super().__init__(config)
        self.network = nn.Sequential(
            nn.LayerNorm(config.condition_dim), nn.Linear(config.condition_dim, config.hidden_dim), nn.GELU(),
            nn.Dropout(config.dropout), nn.Linear(config.hidden_dim, config.hidden_dim), nn.GELU(),
            nn.Linear(config.hidden_dim, math.prod(config.latent_shape)),
        )

    def forward(self, condition: torch.Tensor) -> torch.Tensor:
        """(B, condition_dim) -> (B, *latent_shape) standardised latent."""
        out = self.network(condition.to(self.network[1].weight))
        return out.view(condition.shape[0], *self.config.latent_shape)

    def loss(self, latent: torch.Tensor, condition: torch.Tensor) -> torch.Tensor:
        return F.mse_loss(self(condition), latent.to(self.network[1].weight))

"""ECG-to-CMR contrastive alignment: the step that teaches the ECG encoder what the heart looks like.

The ECG encoder is trained against a frozen CMR encoder with a symmetric, weighted InfoNCE loss in a shared
256-d space, plus a term that predicts the CMR phenotypes from the ECG embedding. Negatives are down-weighted by
how alike their hearts are (cosine similarity of the frozen CMR features): two different subjects with similar
hearts should not be pushed apart as hard as two dissimilar ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .cmr_encoder import CMREncoder, CMREncoderConfig
from .ecg_encoder import ECGEncoder, ECGEncoderConfig
from .pretrained import PretrainedModule, nested_config


@dataclass
class AlignmentConfig:
    ecg_encoder: ECGEncoderConfig = field(default_factory=ECGEncoderConfig)
    cmr_encoder: CMREncoderConfig = field(default_factory=CMREncoderConfig)
    embedding_dim: int = 256
    n_phenotypes: int = 0
    temperature: float = 0.05
    negative_weighting: float = 1.0
    phenotype_weight: float = 0.5

    def __post_init__(self):
        self.ecg_encoder = nested_config(self.ecg_encoder, ECGEncoderConfig)
        self.cmr_encoder = nested_config(self.cmr_encoder, CMREncoderConfig)


def weighted_info_nce(ecg: torch.Tensor, cmr: torch.Tensor, cmr_features: torch.Tensor, temperature: float,
                      negative_weighting: float) -> torch.Tensor:
    """Symmetric InfoNCE over a batch of pairs; ``ecg``, ``cmr`` (B, E) unit vectors; weights from cmr_features.

    Weight of negative j for anchor i: 1 - w * max(cos(f_i, f_j), 0), renormalised to mean 1 over the negatives,
    so w = 0 gives plain InfoNCE and the loss keeps its scale.
    """
    logits = ecg @ cmr.T / temperature  # (B, B)
    batch = logits.shape[0]
    eye = torch.eye(batch, dtype=torch.bool, device=logits.device)
    with torch.no_grad():
        features = F.normalize(cmr_features.float(), dim=-1)
        similarity = (features @ features.T).clamp(min=0.0)
        weights = (1.0 - negative_weighting * similarity).clamp(min=1e-3)
        weights = weights.masked_fill(eye, 0.0)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp(min=1e-6) * (batch - 1)
        weights = weights.masked_fill(eye, 1.0)
    log_weights = weights.log()

    def directional(scores: torch.Tensor) -> torch.Tensor:
        weighted = scores + log_weights
        return -(scores.diagonal() - torch.logsumexp(weighted, dim=1)).mean()

    return 0.5 * (directional(logits) + directional(logits.T))


def masked_mse(prediction: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error over the known (non-NaN) targets."""
    known = ~torch.isnan(target)
    if not known.any():
        return prediction.sum() * 0.0
    return F.mse_loss(prediction[known], target[known])


class ECGCMRAlignment(PretrainedModule):
    """ECG encoder (trained) + frozen CMR encoder + projections to the shared space + phenotype probe."""

    config_class = AlignmentConfig
    model_type = "cardionets-alignment"

    def __init__(self, config: AlignmentConfig):
        super().__init__(config)
        self.ecg_encoder = ECGEncoder(config.ecg_encoder)
        self.cmr_encoder = CMREncoder(config.cmr_encoder)
        self.cmr_encoder.requires_grad_(False)
        self.ecg_projection = nn.Linear(config.ecg_encoder.dim, config.embedding_dim)
        self.cmr_projection = nn.Linear(config.cmr_encoder.dim, config.embedding_dim)
        self.phenotype_probe = nn.Linear(config.ecg_encoder.dim, max(config.n_phenotypes, 1))

    def train(self, mode: bool = True):
        super().train(mode)
        self.cmr_encoder.eval()  # frozen: no dropout, no statistics updates
        return self

    def embed_ecg(self, ecg: torch.Tensor) -> torch.Tensor:
        """(B, 256) unit vectors in the shared space."""
        return F.normalize(self.ecg_projection(self.ecg_encoder.embed(ecg)), dim=-1)

    @torch.no_grad()
    def cmr_features(self, cine: torch.Tensor) -> torch.Tensor:
        """(B, 2, F, S, S) cines -> (B, D) frozen CMR features. They never change during alignment, so a
        training loop can compute them once per cine instead of once per step (a third of a step's time)."""
        return self.cmr_encoder.embed(cine)

    def loss(self, ecg: torch.Tensor, cmr_features: torch.Tensor, phenotypes: torch.Tensor) -> torch.Tensor:
        """``cmr_features`` from `cmr_features`; ``phenotypes`` standardised (B, P), NaN for unknown values."""
        ecg_features = self.ecg_encoder.embed(ecg)
        cmr_features = cmr_features.to(ecg_features.dtype)
        ecg_embedding = F.normalize(self.ecg_projection(ecg_features), dim=-1)
        cmr_embedding = F.normalize(self.cmr_projection(cmr_features), dim=-1)
        contrastive = weighted_info_nce(ecg_embedding, cmr_embedding, cmr_features, self.config.temperature,
                                        self.config.negative_weighting)
        if self.config.n_phenotypes == 0:
            return contrastive
        return contrastive + self.config.phenotype_weight * masked_mse(self.phenotype_probe(ecg_features), phenotypes)

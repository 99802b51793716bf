"""Findings learnt from real ECGs: one logistic regression per finding a real development set labels (prior
myocardial infarction, left ventricular hypertrophy, left and right bundle branch block), on the ECG encoder's
embedding and the covariates every file carries (`cardionets.covariates`).

    model = RealFindingsModel.from_pretrained("weights/real_findings")
    probabilities = model(embedding, covariates)      # (N, F), in config.findings order

The predictor's heads learnt disease from simulated ECGs, and its prior-infarction head called it on most real
healthy adults; the real sets' cardiologists' labels teach what a real infarct or hypertrophy looks like on a
real cart. Kept linear: a few hundred positives per finding do not support more. The config stores each call's
threshold (at most 1 % false calls on real healthy adults) and the sensitivity and specificity measured by
patient-grouped cross-validation (`training/real_findings.py`), with Wilson CIs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from .pretrained import PretrainedModule


@dataclass
class RealFindingsConfig:
    findings: tuple[str, ...] = ()
    embedding_dim: int = 128
    covariates: tuple[str, ...] = ()
    covariate_fill: tuple[float, ...] = ()  # a missing covariate's value (the training medians), with its flag
    feature_mean: tuple[float, ...] = ()  # of [embedding, filled covariates, missing flags]
    feature_std: tuple[float, ...] = ()
    threshold: tuple[float, ...] = ()
    sensitivity: tuple = ()  # held out (patient-grouped CV), per finding; None where unknown
    specificity: tuple = ()
    sensitivity_ci: tuple = ()  # Wilson 95 % [low, high]
    specificity_ci: tuple = ()
    trained_on: str = ""  # what it learnt from, in words, for the model card

    @property
    def n_features(self) -> int:
        return self.embedding_dim + 2 * len(self.covariates)


def finding_features(embedding: np.ndarray, covariates: np.ndarray, fill: np.ndarray) -> np.ndarray:
    """(N, E + 2C): the embedding, the covariates with unknowns filled, and their missing flags."""
    covariates = np.asarray(covariates, dtype=np.float64)
    missing = np.isnan(covariates)
    filled = np.where(missing, np.asarray(fill, dtype=np.float64), covariates)
    return np.concatenate([np.asarray(embedding, dtype=np.float64), filled, missing.astype(np.float64)], axis=1)


class RealFindingsModel(PretrainedModule):
    config_class = RealFindingsConfig
    model_type = "cardionets_real_findings"

    def __init__(self, config: RealFindingsConfig):
        super().__init__(config)
        self.linear = nn.Linear(config.n_features, max(len(config.findings), 1))
        mean = config.feature_mean or (0.0,) * config.n_features
        std = config.feature_std or (1.0,) * config.n_features
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32), persistent=False)
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32), persistent=False)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, n_features) from `finding_features` -> (N, F) probabilities."""
        return torch.sigmoid(self.linear((features.float() - self.mean) / self.std))

    @torch.inference_mode()
    def probabilities(self, embedding: np.ndarray, covariates: np.ndarray) -> np.ndarray:
        features = finding_features(embedding, covariates, np.asarray(self.config.covariate_fill))
        return self.forward(torch.from_numpy(features).to(self.mean.device)).cpu().numpy().astype(float)

    @classmethod
    def from_logistic(cls, coefficients: np.ndarray, intercepts: np.ndarray, mean: np.ndarray, std: np.ndarray,
                      **settings) -> RealFindingsModel:
        """The model of per-finding logistic regressions fitted on standardised `finding_features`."""
        model = cls(RealFindingsConfig(feature_mean=tuple(map(float, mean)), feature_std=tuple(map(float, std)),
                                       **settings))
        with torch.no_grad():
            model.linear.weight.copy_(torch.as_tensor(np.asarray(coefficients, float)))
            model.linear.bias.copy_(torch.as_tensor(np.asarray(intercepts, float)))
        return model

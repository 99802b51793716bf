"""The rhythm branch: atrial fibrillation read from the beat series, as a cardiologist reads it, next to the ECG
encoder.

    model = RhythmModel.from_pretrained("weights/rhythm")
    probability = model.probability(prediction.rhythm)     # the rhythm read of `cardionets.ecg.rhythm`

A logistic model on three numbers every rhythm read carries: how irregular the RR series is (normalised RMSSD),
how irregular its typical beat-to-beat step is (the median, which one premature beat barely moves), and whether
a P wave precedes the QRS. The encoder's own AF output learnt the simulated cohort's look of AF and called it on
about 40 % of real sinus-rhythm ECGs; irregularity and absent P waves are what AF is, on any cart. The
config also stores the operating point and the sensitivity and specificity measured where it was set.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from ..ecg.rhythm import RhythmRead
from .pretrained import PretrainedModule

RHYTHM_FEATURES = ("log_rr_irregularity", "log_rr_median_step", "p_wave_present")
LOG_FLOOR = 1e-3  # a perfectly regular series (paced, simulated) still has a finite log


@dataclass
class RhythmModelConfig:
    features: tuple[str, ...] = RHYTHM_FEATURES
    feature_mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    feature_std: tuple[float, ...] = (1.0, 1.0, 1.0)
    threshold: float = 0.5
    sensitivity: float | None = None  # at the threshold, where it was set (validation share)
    specificity: float | None = None
    sensitivity_ci: tuple[float, float] | None = None  # Wilson 95 %
    specificity_ci: tuple[float, float] | None = None
    trained_on: str = ""  # what it learnt from, in words, for the model card


def rhythm_features(read: RhythmRead) -> np.ndarray:
    """(3,) the model's inputs from one rhythm read."""
    step = read.rr_median_step if np.isfinite(read.rr_median_step) else read.rr_irregularity
    return np.array([np.log(read.rr_irregularity + LOG_FLOOR), np.log(step + LOG_FLOOR),
                     float(read.p_wave_present)])


class RhythmModel(PretrainedModule):
    config_class = RhythmModelConfig
    model_type = "cardionets_rhythm"

    def __init__(self, config: RhythmModelConfig):
        super().__init__(config)
        self.linear = nn.Linear(len(config.features), 1)
        self.register_buffer("mean", torch.tensor(config.feature_mean, dtype=torch.float32))
        self.register_buffer("std", torch.tensor(config.feature_std, dtype=torch.float32))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """(N, F) features -> (N,) AF probabilities."""
        return torch.sigmoid(self.linear((features - self.mean) / self.std)).squeeze(-1)

    @torch.inference_mode()
    def probabilities(self, reads: list[RhythmRead]) -> np.ndarray:
        features = torch.from_numpy(np.stack([rhythm_features(read) for read in reads])).float()
        return self.forward(features.to(self.mean.device)).cpu().numpy().astype(float)

    def probability(self, rhythm: RhythmRead | dict) -> float:
        read = rhythm if isinstance(rhythm, RhythmRead) else RhythmRead.from_dict(rhythm)
        return float(self.probabilities([read])[0])

    @classmethod
    def from_logistic(cls, coefficients: np.ndarray, intercept: float, mean: np.ndarray, std: np.ndarray,
                      **settings) -> RhythmModel:
        """The model of a logistic regression fitted on standardised `rhythm_features`."""
        model = cls(RhythmModelConfig(feature_mean=tuple(map(float, mean)), feature_std=tuple(map(float, std)),
                                      **settings))
        with torch.no_grad():
            model.linear.weight.copy_(torch.as_tensor(np.asarray(coefficients, float).reshape(1, -1)))
            model.linear.bias.fill_(float(intercept))
        return model

"""Is this ECG like the ones the models learnt from? A distance in the predictor's embedding space.

The reference is a set of ECGs' embeddings: their mean and a shrunk (Ledoit-Wolf) covariance, since a few
thousand ECGs do not pin down a full covariance in 128 dimensions. An ECG's score is its Mahalanobis distance
divided by the distance that 99 % of held-out reference ECGs stay within: above 1 it is less typical than 99 % of
what the models were checked on, and the app says so next to every output. A training run fits it on its
training-site ECGs (`training.export_bundle`); the shipped one is refitted on those and real healthy adults'
ECGs together (`training.real_ood`), since a reference of simulated ECGs alone flags real ones for being real.

    reference = EmbeddingReference.fit(train_embeddings, validation_embeddings)
    reference.score(embeddings)      # (N,), 1.0 at the 99th percentile of validation ECGs
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

OOD_REFERENCE_FILE = "ood_reference.safetensors"  # beside the predictor's weights
QUANTILE = 0.99
UNUSUAL_SCORE = 1.0  # above it an ECG is less typical than QUANTILE of held-out training-site ECGs: warned


@dataclass
class EmbeddingReference:
    mean: np.ndarray  # (D,)
    precision: np.ndarray  # (D, D), inverse of the shrunk covariance
    threshold: float  # Mahalanobis distance at QUANTILE of the validation embeddings

    @classmethod
    def fit(cls, train: np.ndarray, validation: np.ndarray, quantile: float = QUANTILE) -> EmbeddingReference:
        """``train`` (N, D) embeddings set the mean and covariance; held-out ``validation`` (M, D) set the
        threshold, so it reflects ECGs the reference has not seen."""
        from sklearn.covariance import LedoitWolf

        train = np.asarray(train, dtype=np.float64)
        estimate = LedoitWolf().fit(train)
        reference = cls(estimate.location_, estimate.precision_, 1.0)
        reference.threshold = float(np.quantile(reference.distance(validation), quantile))
        return reference

    def distance(self, embeddings: np.ndarray) -> np.ndarray:
        centred = np.asarray(embeddings, dtype=np.float64) - self.mean
        return np.sqrt(np.maximum(np.einsum("nd,de,ne->n", centred, self.precision, centred), 0.0))

    def score(self, embeddings: np.ndarray) -> np.ndarray:
        """Distance over the threshold: 1.0 is as unusual as the 99th-percentile held-out training-site ECG."""
        return self.distance(embeddings) / self.threshold

    def save(self, path: Path) -> None:
        save_file({"mean": torch.from_numpy(self.mean).float(), "precision": torch.from_numpy(self.precision).float(),
                   "threshold": torch.tensor([self.threshold], dtype=torch.float32)}, str(path))

    @classmethod
    def load(cls, path: Path) -> EmbeddingReference:
        tensors = load_file(str(path))
        return cls(tensors["mean"].double().numpy(), tensors["precision"].double().numpy(),
                   float(tensors["threshold"][0]))

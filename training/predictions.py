"""Run a predictor over a dataset and gather its outputs with the targets, as numpy arrays."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from cardionets.models.predictor import CardioNetsPredictor, subtype_targets, with_any_cardiomyopathy


def collect(model: CardioNetsPredictor, dataset, key: str, device: torch.device, batch_size: int = 128) -> dict:
    """Outputs and targets over ``dataset``: phenotypes (N, P) in original units, disease logits and calibrated
    probabilities (N, D + 1) and their targets (with any-CM), subtype logits (N, 3), subtype targets and the
    mask of subtype cases."""
    model.eval().to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in DataLoader(dataset, batch_size=batch_size):
        out = model.predict(batch[key].to(device))
        labels = batch["labels"]
        subtype, has_one = subtype_targets(labels, model.config.diseases)
        values = {
            "phenotypes": out["phenotypes"], "phenotype_targets": batch["phenotypes"],
            "disease_logits": out["disease_logits"],
            "disease_probabilities": out["disease_probabilities"],  # with the model's fitted temperatures
            "disease_targets": with_any_cardiomyopathy(labels, model.config.diseases),
            "subtype_logits": out["subtype_logits"], "subtype_targets": subtype, "subtype_mask": has_one,
        }
        for name, value in values.items():
            parts.setdefault(name, []).append(value.detach().cpu().numpy())
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}

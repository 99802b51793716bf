"""Run a predictor over a dataset (or over embeddings already computed) and gather its outputs with the targets,
as numpy arrays."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader

from cardionets.models.predictor import CardioNetsPredictor, subtype_targets, with_any_cardiomyopathy


def collect(model: CardioNetsPredictor, dataset, key: str, device: torch.device, batch_size: int = 128) -> dict:
    """Outputs and targets over ``dataset``: phenotypes (N, P) in original units, disease logits and calibrated
    probabilities (N, D + 1) and their targets (with any-CM), subtype logits (N, 3), subtype targets and the
    mask of subtype cases. Items with "covariates" feed the model's covariate head."""
    model.eval().to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for batch in DataLoader(dataset, batch_size=batch_size):
        out = model.predict(batch[key].to(device), covariates=batch.get("covariates"))
        _gather(parts, model, out, batch["phenotypes"], batch["labels"])
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def collect_from_embeddings(model: CardioNetsPredictor, embeddings: np.ndarray, covariates: np.ndarray | None,
                            phenotypes: np.ndarray, labels: np.ndarray, device: torch.device,
                            batch_size: int = 512) -> dict:
    """`collect` over the encoder's embeddings already computed (N, E), with their covariates (N, C) or None."""
    model.eval().to(device)
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(embeddings), batch_size):
        rows = slice(start, start + batch_size)
        given = None if covariates is None else torch.as_tensor(covariates[rows], dtype=torch.float32)
        out = model.predict_from_embedding(torch.as_tensor(embeddings[rows], dtype=torch.float32).to(device),
                                           covariates=given)
        _gather(parts, model, out, torch.as_tensor(phenotypes[rows]), torch.as_tensor(labels[rows]))
    return {name: np.concatenate(chunks) for name, chunks in parts.items()}


def _gather(parts: dict[str, list[np.ndarray]], model: CardioNetsPredictor, out: dict[str, torch.Tensor],
            phenotypes: torch.Tensor, labels: torch.Tensor) -> None:
    subtype, has_one = subtype_targets(labels, model.config.diseases)
    values = {
        "phenotypes": out["phenotypes"], "phenotype_targets": phenotypes,
        "disease_logits": out["disease_logits"],
        "disease_probabilities": out["disease_probabilities"],  # with the model's fitted temperatures
        "disease_targets": with_any_cardiomyopathy(labels, model.config.diseases),
        "subtype_logits": out["subtype_logits"], "subtype_targets": subtype, "subtype_mask": has_one,
    }
    for name, value in values.items():
        parts.setdefault(name, []).append(value.detach().cpu().numpy())

"""Torch views of a prepared folder: each item is a dict of tensors the stage's loss takes."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from cardionets.covariates import cart_values, patient_values

from .data.prepared import PreparedDataset


def covariate_matrix(prepared: PreparedDataset) -> np.ndarray:
    """(N, len(COVARIATES)) float64 of every subject (`cardionets.covariates`): the patient columns, then the cart
    measurements taken on the stored model view, exactly as the app takes them; NaN where unknown."""
    rows = []
    for index, (age, male, height, weight) in enumerate(prepared.patients):
        sex = None if np.isnan(male) else ("M" if male else "F")
        patient = patient_values(_known(age), sex, _known(height), _known(weight))
        rows.append(np.concatenate([patient, cart_values(np.asarray(prepared.ecg[index], dtype=np.float32))]))
    return np.stack(rows)


def _known(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class PreparedTorchDataset(Dataset):
    """Items from ``prepared`` restricted to ``indices``: "ecg" (12, 5000) float32 mV, "cine" (2, F, S, S)
    float32 in [0, 1], "phenotypes" (P,) and "labels" (D,) float32 with NaN for unknown values, and with
    ``covariates`` (all of ``prepared``'s rows, from `covariate_matrix`) their row as "covariates"."""

    def __init__(self, prepared: PreparedDataset, indices: np.ndarray | None = None, with_cine: bool = False,
                 covariates: np.ndarray | None = None):
        if with_cine and prepared.cine is None:
            raise ValueError(f"{prepared.directory} has no cines")
        if covariates is not None and len(covariates) != len(prepared):
            raise ValueError(f"{len(covariates)} covariate rows for {len(prepared)} subjects")
        self.prepared = prepared
        self.indices = np.arange(len(prepared)) if indices is None else np.asarray(indices)
        self.with_cine = with_cine
        self.phenotypes = prepared.phenotypes
        self.labels = prepared.labels
        self.covariates = None if covariates is None else np.asarray(covariates, dtype=np.float32)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        index = int(self.indices[item])
        out = {
            "ecg": torch.from_numpy(np.asarray(self.prepared.ecg[index], dtype=np.float32)),
            "phenotypes": torch.from_numpy(self.phenotypes[index]),
            "labels": torch.from_numpy(self.labels[index]),
        }
        if self.with_cine:
            out["cine"] = torch.from_numpy(np.asarray(self.prepared.cine[index], dtype=np.float32) / 255.0)
        if self.covariates is not None:
            out["covariates"] = torch.from_numpy(self.covariates[index])
        return out


class ConcatECG(Dataset):
    """ECGs of several prepared folders as one pretraining set (the ECG-only, paired and downstream sets)."""

    def __init__(self, parts: list[PreparedDataset]):
        self.parts = parts
        self.offsets = np.cumsum([0] + [len(part) for part in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        part = int(np.searchsorted(self.offsets, item, side="right") - 1)
        row = item - int(self.offsets[part])
        return {"ecg": torch.from_numpy(np.asarray(self.parts[part].ecg[row], dtype=np.float32))}


class WithFeatures(Dataset):
    """``dataset``'s items plus "cmr_features": row i of a precomputed (N, D) tensor in the same order."""

    def __init__(self, dataset: Dataset, cmr_features: torch.Tensor):
        if len(dataset) != len(cmr_features):
            raise ValueError(f"{len(cmr_features)} feature rows for {len(dataset)} examples")
        self.dataset, self.cmr_features = dataset, cmr_features

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return {**self.dataset[item], "cmr_features": self.cmr_features[item]}

"""Torch views of a prepared folder: each item is a dict of tensors the stage's loss takes."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import Dataset

from .data.prepared import PreparedDataset


class PreparedTorchDataset(Dataset):
    """Items from ``prepared`` restricted to ``indices``: "ecg" (12, 5000) float32 mV, "cine" (2, F, S, S)
    float32 in [0, 1], "phenotypes" (P,) and "labels" (D,) float32 with NaN for unknown values."""

    def __init__(self, prepared: PreparedDataset, indices: np.ndarray | None = None, with_cine: bool = False):
        if with_cine and prepared.cine is None:
            raise ValueError(f"{prepared.directory} has no cines")
        self.prepared = prepared
        self.indices = np.arange(len(prepared)) if indices is None else np.asarray(indices)
        self.with_cine = with_cine
        self.phenotypes = prepared.phenotypes
        self.labels = prepared.labels

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

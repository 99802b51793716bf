"""The generative stages, after the predictive ones (they reuse the aligned ECG encoder):

    tokenizer   KL autoencoder on the training cines                         -> RUN/tokenizer/model
    segmenter   U-Net on the virtual cohort's frames and label maps          -> RUN/segmenter/model
    generator   MAR + diffusion head on tokenizer latents, conditioned on the aligned ECG embedding
                                                                             -> RUN/generator/model

Training cines are the paired set's and the downstream training split's: never the test splits, never the
downstream calibration share (the predictive heads' validation data stays unseen by every model).
"""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from cardionets.device import autocast
from cardionets.models.cine_tokenizer import CineTokenizer, CineTokenizerConfig
from cardionets.models.ecg_encoder import ECGEncoder
from cardionets.models.mar import CineMAR, CineMARConfig
from cardionets.models.segmenter import CMRSegmenter, CMRSegmenterConfig

from .data.prepared import PreparedDataset
from .datasets import PreparedTorchDataset
from .stages import VALIDATION_SHARE, Run, finish_stage, split_indices
from .trainer import train


def training_cines(run: Run) -> Dataset:
    """Items with "cine" (and "ecg"): the paired set and the downstream training split."""
    downstream = run.prepared("downstream")
    train_idx, _ = split_indices(len(downstream), VALIDATION_SHARE, run.config.seed)
    return ConcatDataset([PreparedTorchDataset(run.prepared("paired"), with_cine=True),
                          PreparedTorchDataset(downstream, train_idx, with_cine=True)])


def tokenizer(run: Run):
    config = run.config
    cines = training_cines(run)
    model = CineTokenizer(CineTokenizerConfig(**config.models.cine_tokenizer))
    stage = run.stage_dir("tokenizer")
    result = train(model, lambda m, batch: m.loss(batch["cine"]), cines, config.tokenizer, stage / "checkpoint",
                   "tokenizer", run.log, run.context, run.device, config.seed)
    if run.context.is_main:
        sample = torch.stack([cines[i]["cine"] for i in _spread(len(cines), 32)])
        model.eval()
        model.fit_latent_scale(sample.to(run.device))
    return finish_stage(run, stage, model, result, folder="model")


class FramesWithLabels(Dataset):
    """Every (subject, view, frame) of prepared folders with masks: "frame" (S, S) in [0, 1], "labels" (S, S)."""

    def __init__(self, parts: list[tuple[PreparedDataset, np.ndarray]]):
        for prepared, _ in parts:
            if prepared.masks is None:
                raise ValueError(f"{prepared.directory} has no label masks; prepare it from the virtual cohort")
        self.parts = parts
        views, frames = parts[0][0].masks.shape[1:3]
        self.per_subject = views * frames
        self.offsets = np.cumsum([0] + [len(indices) * self.per_subject for _, indices in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        part = int(np.searchsorted(self.offsets, item, side="right") - 1)
        prepared, indices = self.parts[part]
        subject, rest = divmod(item - int(self.offsets[part]), self.per_subject)
        view, frame = divmod(rest, prepared.masks.shape[2])
        row = int(indices[subject])
        return {"frame": torch.from_numpy(prepared.cine[row, view, frame].astype(np.float32) / 255.0),
                "labels": torch.from_numpy(prepared.masks[row, view, frame].astype(np.int64))}


def segmenter_frames(run: Run) -> FramesWithLabels:
    downstream = run.prepared("downstream")
    train_idx, _ = split_indices(len(downstream), VALIDATION_SHARE, run.config.seed)
    paired = run.prepared("paired")
    return FramesWithLabels([(paired, np.arange(len(paired))), (downstream, train_idx)])


def segmenter(run: Run):
    config = run.config
    model = CMRSegmenter(CMRSegmenterConfig(**config.models.segmenter))
    stage = run.stage_dir("segmenter")
    result = train(model, lambda m, batch: m.loss(batch["frame"], batch["labels"]), segmenter_frames(run),
                   config.segmenter, stage / "checkpoint", "segmenter", run.log, run.context, run.device, config.seed)
    return finish_stage(run, stage, model, result, folder="model")


@torch.no_grad()
def encode_for_generator(run: Run, dataset: Dataset, ecg_encoder: ECGEncoder, cine_tokenizer: CineTokenizer,
                         mar: CineMAR, batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, L, token_dim) latent tokens of every cine and (N, condition_dim) ECG embeddings, on the CPU."""
    ecg_encoder.to(run.device).eval()
    cine_tokenizer.to(run.device).eval()
    tokens, conditions = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        with autocast(run.device):
            cine = torch.stack([item["cine"] for item in items]).to(run.device)
            ecg = torch.stack([item["ecg"] for item in items]).to(run.device)
            tokens.append(mar.tokens_from_latent(cine_tokenizer.encode(cine).float()).cpu())
            conditions.append(ecg_encoder.embed(ecg).float().cpu())
    return torch.cat(tokens), torch.cat(conditions)


class TokensAndConditions(Dataset):
    def __init__(self, tokens: torch.Tensor, conditions: torch.Tensor):
        self.tokens, self.conditions = tokens, conditions

    def __len__(self) -> int:
        return len(self.tokens)

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return {"tokens": self.tokens[item], "condition": self.conditions[item]}


def generator(run: Run):
    config = run.config
    ecg_encoder = ECGEncoder.from_pretrained(run.stage_dir("align") / "encoder")
    cine_tokenizer = CineTokenizer.from_pretrained(run.stage_dir("tokenizer") / "model")
    mar = CineMAR(CineMARConfig(latent_shape=cine_tokenizer.config.latent_shape,
                                condition_dim=ecg_encoder.config.dim, **config.models.generator))
    tokens, conditions = encode_for_generator(run, training_cines(run), ecg_encoder, cine_tokenizer, mar)
    stage = run.stage_dir("generator")
    result = train(mar, lambda m, batch: m.loss(batch["tokens"], batch["condition"]),
                   TokensAndConditions(tokens, conditions), config.generator, stage / "checkpoint", "generator",
                   run.log, run.context, run.device, config.seed)
    if result.ema is not None:
        result.ema.copy_to(mar)
    return finish_stage(run, stage, mar, result, folder="model")


def _spread(n: int, count: int) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, min(n, count)).astype(int).tolist()))


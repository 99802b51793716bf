"""What every stage and evaluation of one training run shares: its folders and device (`Run`), the data regimes
a recipe makes, the split of the downstream set into training and calibration shares, the fine-tuning variants,
and the training cines and conditioning predictor the generative stages and their evaluations both read.

The stages (`training.stages`, `training.generative`) and the evaluations build on this module; it imports
neither, so nothing below the pipeline imports back up (`training.pipeline` runs the stages).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from cardionets.device import select_device
from cardionets.models.predictor import CardioNetsPredictor

from .config import DataConfig, TrainConfig
from .data.prepared import PreparedDataset
from .datasets import PreparedTorchDataset
from .distributed import Context
from .trainer import MetricsLog

REGIMES = ("ecg_only", "paired", "downstream", "internal_test", "external_test")
GENERATOR_EXTRA = "generator_extra"  # made only when the recipe asks for some (DataConfig.generator_extra)
GENERATOR_SCANNERS = "generator_scanners"  # likewise (DataConfig.generator_scanners): many simulated scanners
SCANNERS_FILE = "scanners.json"  # in that regime's prepared folder: each of its scanners' properties, by site name
VALIDATION_SHARE = 0.2  # of the downstream set, for calibration and thresholds


class Run:
    """Paths and shared objects of one training run."""

    def __init__(self, config: TrainConfig, context: Context, command: str = "python -m training"):
        self.config, self.context = config, context
        self.command = command  # the command line that made it, which the results name
        self.directory = Path(config.output)
        self.device = select_device(config.device)
        if config.num_threads:
            torch.set_num_threads(config.num_threads)
        self.log = MetricsLog(self.directory / "metrics.jsonl", context.is_main)

    def prepared(self, regime: str) -> PreparedDataset:
        return PreparedDataset(Path(self.config.data.root) / regime)

    def stage_dir(self, stage: str) -> Path:
        return self.directory / stage

    @property
    def results_dir(self) -> Path:
        """Where evaluate writes results.md/.json: the recipe's results_dir, else the run folder."""
        return Path(self.config.results_dir) if self.config.results_dir else self.directory


def recipe_regimes(data: DataConfig) -> tuple[str, ...]:
    """The regimes a recipe makes: every one of REGIMES, and the generators' extra pairs and the many-scanner pairs
    when it asks for some."""
    return (*REGIMES, *(regime for regime in (GENERATOR_EXTRA, GENERATOR_SCANNERS) if getattr(data, regime)))


FINETUNE_VARIANTS = {
    # variant: (encoder kind, where its starting encoder comes from; None = random initialisation)
    "aligned": ("ecg", "align"),
    "mae_only": ("ecg", "pretrain_ecg"),
    "scratch": ("ecg", None),
    "cmr_upper_bound": ("cmr", "pretrain_cmr"),
}


def split_indices(n: int, share: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.random.default_rng(seed).permutation(n)
    n_val = max(1, int(round(n * share)))
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def training_cines(run: Run) -> Dataset:
    """Items with "cine" (and "ecg"): the paired set and the downstream training split."""
    return ConcatDataset([PreparedTorchDataset(prepared, rows, with_cine=True)
                          for prepared, rows in training_frame_parts(run)])


def generator_training_cines(run: Run) -> Dataset:
    """`training_cines` and, when the recipe made some, the extra pairs only the generators train on."""
    if not run.config.data.generator_extra:
        return training_cines(run)
    return ConcatDataset([training_cines(run), PreparedTorchDataset(run.prepared(GENERATOR_EXTRA), with_cine=True)])


def training_frame_parts(run: Run) -> list[tuple[PreparedDataset, np.ndarray]]:
    """(prepared folder, subject rows) of the generative training subjects, for `CineFrames`."""
    downstream = run.prepared("downstream")
    train_idx, _ = split_indices(len(downstream), VALIDATION_SHARE, run.config.seed)
    paired = run.prepared("paired")
    return [(paired, np.arange(len(paired))), (downstream, train_idx)]


def generator_predictor(run: Run) -> CardioNetsPredictor:
    """The fine-tuned aligned predictor, whose `generator_condition` the generators read."""
    return CardioNetsPredictor.from_pretrained(run.stage_dir("finetune") / "aligned" / "model")

"""CMR segmenter: a small U-Net that labels every pixel of a cine frame, so phenotypes can be measured on any
cine, generated or acquired.

Classes follow the virtual cohort's label maps (`cardionets.sim.cmr.LABELS`): background, LV blood pool, LV
myocardium, RV blood pool, left atrium, right atrium. One network serves both views; a view embedding is not
needed because the views look nothing alike. Frames are segmented independently (as in Bai et al. 2018's
UK Biobank network), which keeps the model small and lets it run on one frame or a whole cine.

    segmenter = CMRSegmenter(CMRSegmenterConfig())
    segmenter.loss(frames, labels).backward()   # frames (N, H, W) in [0, 1], labels (N, H, W) int
    segmenter.segment(frames)                    # (N, H, W) int64 label maps
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .pretrained import PretrainedModule

CLASSES = ("background", "lv_blood_pool", "lv_myocardium", "rv_blood_pool", "la", "ra")


@dataclass
class CMRSegmenterConfig:
    widths: tuple[int, ...] = (16, 32, 64)  # channels at full, 1/2 and 1/4 resolution
    n_classes: int = len(CLASSES)
    # Soft Dice on top of cross-entropy: cross-entropy alone under-segments thin, small structures such as the
    # myocardium, whose pixels are few next to the background's.
    dice_weight: float = 1.0


def _double_conv(in_channels: int, out_channels: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1), nn.GroupNorm(min(8, out_channels), out_channels),
        nn.SiLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1), nn.GroupNorm(min(8, out_channels), out_channels),
        nn.SiLU(),
    )


class CMRSegmenter(PretrainedModule):
    config_class = CMRSegmenterConfig
    model_type = "cardionets-cmr-segmenter"

    def __init__(self, config: CMRSegmenterConfig):
        super().__init__(config)
        widths = config.widths
        self.down = nn.ModuleList(_double_conv(1 if i == 0 else widths[i - 1], width) for i, width in enumerate(widths))
        self.up = nn.ModuleList(_double_conv(widths[i] + widths[i + 1], widths[i]) for i in range(len(widths) - 1))
        self.head = nn.Conv2d(widths[0], config.n_classes, 1)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, H, W) in [0, 1] -> (N, classes, H, W) logits; H and W divisible by 2 ** (levels - 1)."""
        levels = len(self.config.widths)
        if frames.dim() != 3 or frames.shape[-1] % 2 ** (levels - 1) or frames.shape[-2] % 2 ** (levels - 1):
            raise ValueError(f"expected frames (N, H, W) with sides divisible by {2 ** (levels - 1)}, "
                             f"got {tuple(frames.shape)}")
        x = frames.to(self.head.weight)[:, None]
        skips = []
        for level, block in enumerate(self.down):
            x = block(x if level == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for level in reversed(range(levels - 1)):
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.up[level](torch.cat([skips[level], x], dim=1))
        return self.head(x)

    def loss(self, frames: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        logits = self(frames)
        labels = labels.to(logits.device).long()
        loss = F.cross_entropy(logits, labels)
        if self.config.dice_weight:
            probabilities = logits.softmax(dim=1)
            one_hot = F.one_hot(labels, self.config.n_classes).permute(0, 3, 1, 2).to(probabilities)
            overlap = (probabilities * one_hot).sum(dim=(0, 2, 3))
            total = probabilities.sum(dim=(0, 2, 3)) + one_hot.sum(dim=(0, 2, 3))
            dice = (2 * overlap + 1.0) / (total + 1.0)
            loss = loss + self.config.dice_weight * (1.0 - dice[1:].mean())  # foreground classes only
        return loss

    @torch.inference_mode()
    def segment(self, frames: torch.Tensor) -> torch.Tensor:
        """(N, H, W) in [0, 1] -> (N, H, W) class indices."""
        return self(frames).argmax(dim=1)


def dice_per_class(predicted: torch.Tensor, truth: torch.Tensor, n_classes: int = len(CLASSES)) -> list[float | None]:
    """Dice of each class over all pixels given (any shape, same for both); None where a class is in neither."""
    scores: list[float | None] = []
    for label in range(n_classes):
        p, t = predicted == label, truth == label
        total = int(p.sum() + t.sum())
        scores.append(None if total == 0 else 2.0 * int((p & t).sum()) / total)
    return scores

"""CMR encoder: a small video transformer over tubelets of both cine views, and its masked-autoencoder pretraining.

Each view (sax, 4ch) of 16 frames x 64 x 64 pixels is cut into tubelets (a few frames of a square patch, as
in VideoMAE); one linear map embeds the tubelets of both views, and view, time, row and column embeddings say
where each came from. Pretraining hides 90 % of each view's tubelets: consecutive cine frames are so alike that a
lower ratio could be solved by copying neighbours (VideoMAE, MAE-ST). Masking is random in space-time rather
than VideoMAE's tube masking because MAE-ST found random masking as good or better at this ratio.

    encoder = CMREncoder(CMREncoderConfig())
    encoder.embed(cine)                  # (B, 2, 16, 64, 64) uint8 -> (B, 128)
    mae = CMRMaskedAutoencoder(CMRMaskedAutoencoderConfig())
    mae.loss(cine).backward()            # pretraining step
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .pretrained import nested_config
from .transformer import MaskedAutoencoder, PatchEncoder


@dataclass
class CMREncoderConfig:
    n_views: int = 2  # sax, 4ch: the order of `training.data.prepared.VIEWS`
    n_frames: int = 16
    image_size: int = 64  # pixels, 2.7 mm each
    tubelet_frames: int = 4
    patch_size: int = 8  # pixels: 22 mm, about one LV wall plus cavity edge
    dim: int = 128
    depth: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4

    def __post_init__(self):
        if self.n_frames % self.tubelet_frames or self.image_size % self.patch_size:
            raise ValueError(f"{self.n_frames} frames of {self.image_size} px do not split into tubelets of "
                             f"{self.tubelet_frames} frames x {self.patch_size} px")

    @property
    def axes(self) -> tuple[int, int, int, int]:
        """The token grid: (views, times, rows, columns). Each axis has its own embedding, summed (as MAE-ST
        separates space and time), and both views share the time axis: they film one cardiac cycle."""
        side = self.image_size // self.patch_size
        return self.n_views, self.n_frames // self.tubelet_frames, side, side

    @property
    def patch_values(self) -> int:
        return self.tubelet_frames * self.patch_size**2


class CMREncoder(PatchEncoder):
    """(B, 2, 16, 64, 64) cines -> ``forward``: (B, G*N, D) tubelet tokens; ``embed``: (B, D) their mean.

    uint8 cines (as stored) are scaled to [0, 1] here; float cines are taken to be in [0, 1] already.
    """

    config_class = CMREncoderConfig
    model_type = "cardionets-cmr-encoder"

    def patchify(self, cine: torch.Tensor) -> torch.Tensor:
        """(B, V, T, H, W) uint8 or float in [0, 1] -> (B, V, T/t * H/p * W/p, t*p*p) tubelets in [0, 1]."""
        c = self.config
        expected = (c.n_views, c.n_frames, c.image_size, c.image_size)
        if cine.dim() != 5 or tuple(cine.shape[1:]) != expected:
            raise ValueError(f"expected cines of shape (batch, {', '.join(map(str, expected))}) as prepared "
                             f"by `training.data.prepared`, got {tuple(cine.shape)}")
        x = cine.to(self.patch_embedding.weight)  # model's device and dtype
        if cine.dtype == torch.uint8:
            x = x / 255.0
        n_views, n_times, n_rows, n_cols = c.axes
        t, p = c.tubelet_frames, c.patch_size
        x = x.reshape(cine.shape[0], n_views, n_times, t, n_rows, p, n_cols, p)
        x = x.permute(0, 1, 2, 4, 6, 3, 5, 7)  # (B, V, T/t, H/p, W/p, t, p, p): grid axes first, as `axes`
        return x.reshape(cine.shape[0], n_views, n_times * n_rows * n_cols, c.patch_values)


@dataclass
class CMRMaskedAutoencoderConfig:
    encoder: CMREncoderConfig = field(default_factory=CMREncoderConfig)
    decoder_dim: int = 64
    decoder_depth: int = 2
    decoder_heads: int = 4
    mask_ratio: float = 0.9
    # Per-tubelet standardised targets, as in MAE and VideoMAE: brightness is already normalised per cine and
    # carries no anatomy, so the decoder should spend itself on edges and motion.
    norm_target: bool = True
    group_context: bool = False  # the two views' grids do not share positions in space

    def __post_init__(self):
        self.encoder = nested_config(self.encoder, CMREncoderConfig)  # a dict when read back from config.json


class CMRMaskedAutoencoder(MaskedAutoencoder):
    """`CMREncoder` + light decoder; ``loss(cine)`` is the pretraining objective, ``.encoder`` what is kept."""

    config_class = CMRMaskedAutoencoderConfig
    model_type = "cardionets-cmr-mae"
    encoder_class = CMREncoder

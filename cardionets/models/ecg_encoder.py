"""ECG encoder: a small ST-MEM-style transformer over per-lead patches, and its masked-autoencoder pretraining.

Every lead of the (12, 5000) model view is cut into 0.5 s patches; one linear map embeds the patches of all
leads, and a learned lead embedding plus a learned time embedding say where a patch came from. Pretraining
follows ST-MEM (Na et al., ICLR 2024): mask 75 % of each lead's patches and reconstruct them, which teaches the
encoder how the leads relate (one heart seen from twelve directions) as well as how a beat unfolds in time.

    encoder = ECGEncoder(ECGEncoderConfig())
    encoder.embed(ecg)                   # (B, 12, 5000) mV -> (B, 128)
    mae = ECGMaskedAutoencoder(ECGMaskedAutoencoderConfig())
    mae.loss(ecg).backward()             # pretraining step
    mae.encoder.save_pretrained(folder)  # what alignment and the heads load
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .pretrained import nested_config
from .transformer import MaskedAutoencoder, PatchEncoder


@dataclass
class ECGEncoderConfig:
    n_leads: int = 12  # I, II, III, aVR, aVL, aVF, V1-V6: the model view's order
    n_samples: int = 5000  # 10 s at 500 Hz
    # The model view is band-passed to 0.5-40 Hz, so 250 Hz (Nyquist 125 Hz) keeps all of it. Halving the rate
    # halves every patch, hence the patch embedding and the MAE's reconstruction head, and stops the MAE target
    # from being two copies of the same smooth curve. Averaging sample pairs is the anti-alias filter.
    downsample: int = 2
    patch_size: int = 125  # samples after downsampling: 0.5 s, so 20 patches per lead and 240 tokens in all
    # A fixed scale, never a per-record one: absolute voltage is what tracks LV mass and hypertrophy. 0.2 mV is
    # about one standard deviation of a lead (0.1-0.25 mV), so patch embeddings start about as loud as the
    # position embeddings instead of drowned by them, as they were in raw mV.
    amplitude_mv: float = 0.2
    dim: int = 128
    depth: int = 4
    n_heads: int = 4
    mlp_ratio: int = 4

    def __post_init__(self):
        if self.n_samples % (self.downsample * self.patch_size):
            raise ValueError(f"{self.n_samples} samples do not split into patches of "
                             f"{self.patch_size} after downsampling by {self.downsample}")

    @property
    def axes(self) -> tuple[int, int]:
        """The token grid: (leads, patches per lead); each token gets a lead and a time embedding."""
        return self.n_leads, self.n_samples // (self.downsample * self.patch_size)

    @property
    def patch_values(self) -> int:
        return self.patch_size


class ECGEncoder(PatchEncoder):
    """(B, 12, 5000) ECG in mV -> ``forward``: (B, 240, D) patch tokens; ``embed``: (B, D) their mean."""

    config_class = ECGEncoderConfig
    model_type = "cardionets-ecg-encoder"

    def patchify(self, ecg: torch.Tensor) -> torch.Tensor:
        """(B, 12, 5000) mV, any float dtype -> (B, 12, 20, 125) patches at 250 Hz in units of ``amplitude_mv``."""
        n_leads, n_patches = self.config.axes
        if ecg.dim() != 3 or tuple(ecg.shape[1:]) != (n_leads, self.config.n_samples):
            raise ValueError(f"expected ECGs of shape (batch, {n_leads}, {self.config.n_samples}) from "
                             f"`cardionets.ecg.model_view`, got {tuple(ecg.shape)}")
        x = ecg.to(self.patch_embedding.weight) / self.config.amplitude_mv  # model's device and dtype
        x = x.reshape(ecg.shape[0], n_leads, -1, self.config.downsample).mean(dim=-1)  # (B, 12, 2500)
        return x.reshape(ecg.shape[0], n_leads, n_patches, self.config.patch_size)


@dataclass
class ECGMaskedAutoencoderConfig:
    encoder: ECGEncoderConfig = field(default_factory=ECGEncoderConfig)
    decoder_dim: int = 64
    decoder_depth: int = 2
    decoder_heads: int = 4
    mask_ratio: float = 0.75  # ST-MEM's ratio: 5 of 20 patches left per lead
    # Raw targets, unlike image MAE: standardising each patch would stop asking the encoder for the voltages
    # the phenotype heads need.
    norm_target: bool = False
    group_context: bool = True  # hidden patches start from the other leads at that moment

    def __post_init__(self):
        self.encoder = nested_config(self.encoder, ECGEncoderConfig)  # a dict when read back from config.json


class ECGMaskedAutoencoder(MaskedAutoencoder):
    """`ECGEncoder` + light decoder; ``loss(ecg)`` is the pretraining objective, ``.encoder`` what is kept."""

    config_class = ECGMaskedAutoencoderConfig
    model_type = "cardionets-ecg-mae"
    encoder_class = ECGEncoder

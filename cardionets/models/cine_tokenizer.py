"""Cine tokenizer: a KL autoencoder between two-view cines and a small grid of continuous latents.

The generator never sees pixels. It works on latents: each pair of consecutive frames of a view becomes one
latent frame of ``latent_channels`` x 16 x 16 (for 64 x 64 images), 8x fewer numbers than pixels, smooth enough
for a diffusion head to model and rich enough to decode back to the image (reconstruction PSNR is checked on
held-out cines). As in latent diffusion (Rombach et al. 2022), the latent is a Gaussian posterior with a tiny KL
penalty: enough to keep the latent space smooth and near unit scale, too small to blur the images.

    tokenizer = CineTokenizer(CineTokenizerConfig())
    tokenizer.loss(cine).backward()          # training step; cine (B, 2, 16, 64, 64) in [0, 1]
    z = tokenizer.encode(cine)               # (B, 2, 8, 4, 16, 16), standardised
    tokenizer.decode(z)                      # (B, 2, 16, 64, 64)

Frames are encoded as 2-D images with the frame pair as input channels: cheap on a CPU, and the generator's
transformer, not the tokenizer, is what relates frames and views to each other.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from .pretrained import PretrainedModule


@dataclass
class CineTokenizerConfig:
    n_views: int = 2  # sax, 4ch
    n_frames: int = 16
    image_size: int = 64
    frames_per_latent: int = 2  # temporal compression: consecutive frames share a latent frame
    widths: tuple[int, ...] = (16, 32, 64)  # conv channels at full, 1/2 and 1/4 resolution
    latent_channels: int = 4
    kl_weight: float = 1e-6
    pixel_mm: float = 2.7  # spacing of the cines it was trained on, so generated cines can be measured and exported
    # Latent statistics measured after training (`fit_latent_scale`), so that generators see unit-scale values.
    latent_mean: float = 0.0
    latent_std: float = 1.0

    def __post_init__(self):
        if self.n_frames % self.frames_per_latent:
            raise ValueError(f"{self.n_frames} frames do not group into latent frames of {self.frames_per_latent}")
        if self.image_size % 2 ** (len(self.widths) - 1):
            raise ValueError(f"image size {self.image_size} does not halve {len(self.widths) - 1} times")

    @property
    def latent_shape(self) -> tuple[int, int, int, int, int]:
        """(views, latent frames, channels, height, width) of one subject's latent."""
        side = self.image_size // 2 ** (len(self.widths) - 1)
        return self.n_views, self.n_frames // self.frames_per_latent, self.latent_channels, side, side


class ResidualBlock(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.norm_1 = nn.GroupNorm(min(8, channels), channels)
        self.conv_1 = nn.Conv2d(channels, channels, 3, padding=1)
        self.norm_2 = nn.GroupNorm(min(8, channels), channels)
        self.conv_2 = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W)
        h = self.conv_1(F.silu(self.norm_1(x)))
        return x + self.conv_2(F.silu(self.norm_2(h)))


def _output(width: int, out_channels: int) -> list[nn.Module]:
    return [nn.GroupNorm(min(8, width), width), nn.SiLU(), nn.Conv2d(width, out_channels, 3, padding=1)]


def _encoder(in_channels: int, widths: tuple[int, ...], out_channels: int) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
    for level, width in enumerate(widths):
        if level:
            layers.append(nn.Conv2d(widths[level - 1], width, 3, stride=2, padding=1))  # halve the resolution
        layers.append(ResidualBlock(width))
    return nn.Sequential(*layers, *_output(widths[-1], out_channels))


def _decoder(in_channels: int, widths: tuple[int, ...], out_channels: int) -> nn.Sequential:
    widths = tuple(reversed(widths))
    layers: list[nn.Module] = [nn.Conv2d(in_channels, widths[0], 3, padding=1)]
    for level, width in enumerate(widths):
        if level:
            # Nearest upsampling then a convolution: no checkerboard artefacts from transposed convolutions.
            layers += [nn.Upsample(scale_factor=2, mode="nearest"),
                       nn.Conv2d(widths[level - 1], width, 3, padding=1)]
        layers.append(ResidualBlock(width))
    return nn.Sequential(*layers, *_output(widths[-1], out_channels))


class CineTokenizer(PretrainedModule):
    config_class = CineTokenizerConfig
    model_type = "cardionets-cine-tokenizer"

    def __init__(self, config: CineTokenizerConfig):
        super().__init__(config)
        c = config
        self.encoder = _encoder(c.frames_per_latent, c.widths, 2 * c.latent_channels)  # mean and log-variance
        self.decoder = _decoder(c.latent_channels, c.widths, c.frames_per_latent)

    # (B, V, T, H, W) <-> (B * V * T', frames_per_latent, H, W): each latent frame is one 2-D image to the convs
    def _to_images(self, cine: torch.Tensor) -> torch.Tensor:
        c = self.config
        expected = (c.n_views, c.n_frames, c.image_size, c.image_size)
        if cine.dim() != 5 or tuple(cine.shape[1:]) != expected:
            raise ValueError(f"expected cines of shape (batch, {', '.join(map(str, expected))}), "
                             f"got {tuple(cine.shape)}")
        return cine.to(self.encoder[0].weight).reshape(-1, c.frames_per_latent, c.image_size, c.image_size)

    def posterior(self, cine: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (unstandardised) posterior mean and log-variance, each (B, V, T', C, h, w)."""
        moments = self.encoder(self._to_images(cine))
        mean, log_variance = moments.chunk(2, dim=1)
        shape = (cine.shape[0], *self.config.latent_shape)
        return mean.reshape(shape), log_variance.clamp(-30.0, 20.0).reshape(shape)

    def decode_raw(self, latent: torch.Tensor) -> torch.Tensor:
        """(B, V, T', C, h, w) raw latent -> (B, V, T, H, W) cine (unclamped)."""
        c = self.config
        images = self.decoder(latent.reshape(-1, *latent.shape[-3:]))  # (B*V*T', f, H, W)
        return images.reshape(latent.shape[0], c.n_views, c.n_frames, c.image_size, c.image_size)

    def loss(self, cine: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Training loss of whole cines (B, V, T, H, W); see `image_loss`."""
        return self.image_loss(self._to_images(cine), generator)

    def image_loss(self, images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Reconstruction MSE of a posterior sample plus ``kl_weight`` x KL to a unit Gaussian (per latent value).

        ``images`` (N, frames_per_latent, H, W): groups of consecutive frames, one latent frame each. Training on
        groups drawn from many subjects sees more hearts per step than whole cines of a few.
        """
        c = self.config
        if images.dim() != 4 or tuple(images.shape[1:]) != (c.frames_per_latent, c.image_size, c.image_size):
            raise ValueError(f"expected frame groups of shape (N, {c.frames_per_latent}, {c.image_size}, "
                             f"{c.image_size}), got {tuple(images.shape)}")
        images = images.to(self.encoder[0].weight)
        moments = self.encoder(images)
        mean, log_variance = moments.chunk(2, dim=1)
        log_variance = log_variance.clamp(-30.0, 20.0)
        noise = torch.randn(mean.shape, generator=generator, device=generator.device if generator else mean.device)
        sample = mean + (0.5 * log_variance).exp() * noise.to(mean)
        kl = 0.5 * (mean.pow(2) + log_variance.exp() - 1.0 - log_variance).mean()
        return F.mse_loss(self.decoder(sample), images) + c.kl_weight * kl

    def encode(self, cine: torch.Tensor) -> torch.Tensor:
        """(B, V, T, H, W) in [0, 1] -> (B, V, T', C, h, w) standardised latents (the posterior mean)."""
        mean, _ = self.posterior(cine)
        return (mean - self.config.latent_mean) / self.config.latent_std

    def decode(self, latent: torch.Tensor) -> torch.Tensor:
        """Standardised latents -> (B, V, T, H, W) cine clamped to [0, 1]."""
        raw = latent.to(self.encoder[0].weight) * self.config.latent_std + self.config.latent_mean
        return self.decode_raw(raw).clamp(0.0, 1.0)

    @torch.no_grad()
    def fit_latent_scale(self, cines: torch.Tensor) -> None:
        """Set the latent mean and standard deviation from a sample of training cines (B, V, T, H, W)."""
        mean, _ = self.posterior(cines)
        self.config.latent_mean = float(mean.mean())
        self.config.latent_std = float(mean.std().clamp(min=1e-6))

"""Device and precision: CUDA (with mixed precision) when present, then Apple MPS, else CPU."""

from __future__ import annotations

import contextlib

import torch


def select_device(preferred: str | None = None) -> torch.device:
    """The device to use: ``preferred`` if given ("cpu", "cuda", "cuda:1", "mps"), else the best available."""
    if preferred:
        return torch.device(preferred)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def autocast(device: torch.device, enabled: bool = True):
    """bf16 autocast on CUDA (fast matmuls, no loss scaling needed); full precision elsewhere."""
    if enabled and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""The folder contract every CardioNets model follows: ``config.json`` + ``model.safetensors``.

Weights are safetensors (never pickle), so loading a downloaded or uploaded checkpoint cannot run code. The
config is the model's dataclass as JSON with a ``model_type`` key, so a folder says what it holds.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, ClassVar

import torch
from safetensors.torch import load_file, save_file
from torch import nn

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class PretrainedModule(nn.Module):
    """Base class: subclasses set ``config_class`` (a dataclass) and ``model_type``, and take the config."""

    config_class: ClassVar[type]
    model_type: ClassVar[str]

    def __init__(self, config: Any):
        super().__init__()
        self.config = config

    def save_pretrained(self, directory: str | Path, storage_dtype: torch.dtype | None = None) -> Path:
        """Write config.json and model.safetensors. ``storage_dtype`` (e.g. torch.float16) stores floating
        tensors at that precision, half the bytes for shipped weights; loading casts them back to the model's."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        record = {"model_type": self.model_type, **dataclasses.asdict(self.config)}
        (directory / CONFIG_NAME).write_text(json.dumps(record, indent=2))
        # safetensors refuses shared storage; contiguous clones keep tied weights saveable.
        state = {name: _stored(name, tensor.detach().cpu().contiguous().clone(), storage_dtype)
                 for name, tensor in self.state_dict().items()}
        save_file(state, directory / WEIGHTS_NAME)
        return directory

    @classmethod
    def from_pretrained(cls, directory: str | Path, device: str | torch.device | None = None):
        directory = Path(directory)
        config = load_config(directory, cls)
        model = cls(config)
        state = load_file(directory / WEIGHTS_NAME, device="cpu")
        model.load_state_dict(state, strict=True)
        return model.to(device) if device is not None else model


def _stored(name: str, tensor: torch.Tensor, dtype: torch.dtype | None) -> torch.Tensor:
    if dtype is None or not tensor.is_floating_point():
        return tensor
    cast = tensor.to(dtype)
    if not torch.isfinite(cast).all():
        raise ValueError(f"{name} does not fit in {dtype} (values up to {tensor.abs().max():.3g}); store it wider.")
    return cast


def nested_config(value, config_class: type):
    """A nested config as read back from JSON (a dict) turned into its dataclass; other values unchanged."""
    return config_class(**value) if isinstance(value, dict) else value


def load_config(directory: str | Path, cls: type[PretrainedModule]):
    """The config dataclass stored in ``directory``, checked to be for ``cls``."""
    path = Path(directory) / CONFIG_NAME
    if not path.is_file():
        raise FileNotFoundError(f"No {CONFIG_NAME} in {directory}: not a saved CardioNets model folder.")
    record = json.loads(path.read_text())
    model_type = record.pop("model_type", None)
    if model_type != cls.model_type:
        raise ValueError(f"{directory} holds a '{model_type}' model, not '{cls.model_type}'.")
    fields = {f.name for f in dataclasses.fields(cls.config_class)}
    unknown = set(record) - fields
    if unknown:
        raise ValueError(f"{path} has settings this version does not know: {sorted(unknown)}")
    return cls.config_class(**_tuples(record, cls.config_class))


def _tuples(record: dict, config_class: type) -> dict:
    """JSON turns tuples into lists; give tuple-typed fields their tuples back."""
    out = dict(record)
    for f in dataclasses.fields(config_class):
        if f.name in out and isinstance(out[f.name], list) and "tuple" in str(f.type):
            out[f.name] = tuple(out[f.name])
    return out

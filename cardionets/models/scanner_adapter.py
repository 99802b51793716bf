"""What imaging the same heart on another scanner changes in a generated cine.

The generators learn from the training sites' scanners, and a cine's contrast, coil shading, noise and pixel size
belong to the scanner, not to the ECG. Shown a site whose scanner differs in all of these at once, the MAR and the
regression decoder still draw the training sites' look (docs/generative.md, the site-shift table). The adapter
is told the scanner to imitate: from the generator condition and the scanner's properties it predicts the
expected difference between the true latent and the regression decoder's estimate (the MAR's anchor), a latent
that is added to what either generator makes. It trains on subjects imaged by many scanners drawn from the
field's range (the `generator_scanners` regime) besides the training cines, so a scanner it never saw, inside
that range, is one it can imitate.

The MAR itself is unchanged and still reads the anchor it was trained with: its sampled detail is drawn as for
a training-site heart, and the adapter moves the whole cine towards the target scanner's look.

    adapter = ScannerAdapter(ScannerAdapterConfig(condition_dim=..., latent_shape=...))
    shift = adapter(condition, adapter.profile([scanner] * len(condition)))
    cine = tokenizer.decode(latent + shift)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, is_dataclass

import torch

from ..sim.sites import SCANNER_RANGES
from .latent_regressor import LatentRegressor, LatentRegressorConfig
from .pretrained import PretrainedModule


@dataclass
class ScannerAdapterConfig:
    condition_dim: int = 128
    latent_shape: tuple[int, int, int, int, int] = (2, 8, 4, 16, 16)
    # Small on purpose: the scanner's effect is a handful of smooth changes, and the shipped weights must stay light.
    hidden_dim: int = 128
    dropout: float = 0.1
    # The scanner properties read and the range each is scaled over: the simulator's SCANNER_RANGES, saved with the
    # adapter so that it keeps the scaling it was trained with.
    profile_ranges: dict[str, tuple[float, float]] = field(default_factory=lambda: dict(SCANNER_RANGES))

    def __post_init__(self):
        self.latent_shape = tuple(self.latent_shape)
        self.profile_ranges = {name: tuple(bounds) for name, bounds in self.profile_ranges.items()}
        empty = [name for name, (lo, hi) in self.profile_ranges.items() if not hi > lo]
        if empty:
            raise ValueError(f"profile ranges must have hi > lo: {empty}")


class ScannerAdapter(PretrainedModule):
    config_class = ScannerAdapterConfig
    model_type = "cardionets-scanner-adapter"

    def __init__(self, config: ScannerAdapterConfig):
        super().__init__(config)
        self.network = LatentRegressor(LatentRegressorConfig(
            condition_dim=config.condition_dim + len(config.profile_ranges), latent_shape=config.latent_shape,
            hidden_dim=config.hidden_dim, dropout=config.dropout))

    def profile(self, scanners: Sequence) -> torch.Tensor:
        """(B, n_properties) scanner properties scaled to [-1, 1] over their ranges; each scanner a
        `cardionets.sim.sites.Scanner` or a mapping with (at least) the properties the adapter reads."""
        rows = []
        for scanner in scanners:
            values = asdict(scanner) if is_dataclass(scanner) else scanner
            if not isinstance(values, Mapping):
                raise TypeError(f"a scanner is a Scanner or a mapping of its properties, got {type(scanner).__name__}")
            missing = sorted(set(self.config.profile_ranges) - set(values))
            if missing:
                raise ValueError(f"the scanner lacks the properties {missing}")
            rows.append([(float(values[name]) - (lo + hi) / 2) / ((hi - lo) / 2)
                         for name, (lo, hi) in self.config.profile_ranges.items()])
        return torch.tensor(rows, dtype=torch.float32).reshape(len(rows), len(self.config.profile_ranges))

    def forward(self, condition: torch.Tensor, profile: torch.Tensor) -> torch.Tensor:
        """(B, condition_dim) generator conditions, (B, n_properties) `profile` -> (B, *latent_shape) the latent to
        add to a generated one."""
        return self.network(torch.cat([condition.float(), profile.to(condition.device).float()], dim=1))

    def loss(self, residual: torch.Tensor, condition: torch.Tensor, profile: torch.Tensor) -> torch.Tensor:
        """Squared error against ``residual``: the true latent minus the regression decoder's estimate."""
        return self.network.loss(residual, torch.cat([condition.float(), profile.float()], dim=1))

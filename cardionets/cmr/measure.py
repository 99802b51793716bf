"""Phenotypes measured on a segmented two-view cine (mid short axis + four-chamber), generated or acquired.

Two 2-D views do not contain a volume, so volumes come from geometric models, as echocardiography's do:

* LV cavity volume per frame by the "bullet" (hemi-ellipsoid + cylinder) formula, V = 5/6 * A_sax * L, with the
  short-axis cavity area A_sax and the long-axis length L measured on the four-chamber view. End-diastole and
  end-systole are the largest and smallest volumes; EF follows.
* LV mass from the myocardial shell at end-diastole: 1.05 g/mL x (5/6 x epicardial area x (L + wall)
  - 5/6 x cavity area x L).
* RV volume likewise from its short-axis area and four-chamber length; atrial volumes by the single-plane
  area-length method, 8 A^2 / (3 pi L), on the four-chamber view.

Geometric models carry a systematic bias (a real ventricle is not a bullet), so `ImagePhenotypeCalibration`
fits one straight line per phenotype, from geometric to reference values, on training cines whose reference is
known; a generated cine is then measured exactly as a real one.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from cardionets.models.segmenter import CLASSES, CMRSegmenter

LV, MYO, RV, LA, RA = (CLASSES.index(name) for name in ("lv_blood_pool", "lv_myocardium", "rv_blood_pool", "la", "ra"))
MYOCARDIUM_G_PER_ML = 1.05
IMAGE_CALIBRATION_FILE = "image_phenotypes.json"  # `ImagePhenotypeCalibration`, beside the segmenter's weights
IMAGE_PHENOTYPES = ("lvedv_ml", "lvesv_ml", "lvef_pct", "lvm_g", "rvedv_ml", "rvesv_ml", "rvef_pct",
                    "lav_max_ml", "rav_max_ml")


def long_axis_mm(mask: np.ndarray, pixel_mm: float) -> float:
    """Length of a structure along its principal axis (the extent of its pixels' projections plus one pixel)."""
    rows, columns = np.nonzero(mask)
    if len(rows) < 3:
        return 0.0
    points = np.column_stack([rows, columns]).astype(np.float64)
    points -= points.mean(axis=0)
    _, _, axes = np.linalg.svd(points, full_matrices=False)
    projection = points @ axes[0]
    return float((projection.max() - projection.min() + 1.0) * pixel_mm)


def geometric_phenotypes(sax: np.ndarray, four_chamber: np.ndarray, pixel_mm: float) -> dict[str, float]:
    """Label maps (T, H, W) of both views (the same T, one beat) and their pixel spacing -> uncalibrated values."""
    if sax.shape != four_chamber.shape or sax.ndim != 3:
        raise ValueError(f"both views need label maps of the same (frames, rows, columns); got {sax.shape} "
                         f"and {four_chamber.shape}")
    area = pixel_mm**2 / 100.0  # cm^2 per pixel, so that cm^2 x cm = mL

    def areas(maps: np.ndarray, *labels: int) -> np.ndarray:  # (T,) cm^2
        return np.isin(maps, labels).sum(axis=(1, 2)) * area

    def lengths(maps: np.ndarray, *labels: int) -> np.ndarray:  # (T,) cm
        return np.array([long_axis_mm(np.isin(frame, labels), pixel_mm) for frame in maps]) / 10.0

    lv_length = lengths(four_chamber, LV)
    lv = 5 / 6 * areas(sax, LV) * lv_length
    rv = 5 / 6 * areas(sax, RV) * lengths(four_chamber, RV)
    ed = int(lv.argmax())
    outer, cavity = areas(sax[ed:ed + 1], LV, MYO)[0], areas(sax[ed:ed + 1], LV)[0]
    wall = np.sqrt(outer / np.pi) - np.sqrt(cavity / np.pi)  # cm, as the rings' radii differ
    epicardial = 5 / 6 * outer * (lv_length[ed] + wall)
    values = {
        "lvedv_ml": lv.max(), "lvesv_ml": lv.min(), "lvm_g": MYOCARDIUM_G_PER_ML * (epicardial - lv[ed]),
        "rvedv_ml": rv.max(), "rvesv_ml": rv.min(),
    }
    values["lvef_pct"] = 100.0 * (1 - values["lvesv_ml"] / values["lvedv_ml"]) if values["lvedv_ml"] > 0 else 0.0
    values["rvef_pct"] = 100.0 * (1 - values["rvesv_ml"] / values["rvedv_ml"]) if values["rvedv_ml"] > 0 else 0.0
    for name, label in (("lav_max_ml", LA), ("rav_max_ml", RA)):
        atrium_area, atrium_length = areas(four_chamber, label), lengths(four_chamber, label)
        with np.errstate(divide="ignore", invalid="ignore"):
            volume = np.where(atrium_length > 0, 8 * atrium_area**2 / (3 * np.pi * atrium_length), 0.0)
        values[name] = volume.max()
    return {name: float(values[name]) for name in IMAGE_PHENOTYPES}


def measure_cines(segmenter: CMRSegmenter, cines: torch.Tensor | np.ndarray, pixel_mm: float,
                  batch_frames: int = 512) -> list[dict[str, float]]:
    """Segment two-view cines (N, 2, T, H, W) in [0, 1] (short axis first) and measure each: uncalibrated values."""
    cines = torch.as_tensor(cines, dtype=torch.float32)
    if cines.dim() != 5 or cines.shape[1] != 2:
        raise ValueError(f"expected two-view cines (N, 2, frames, rows, columns), got {tuple(cines.shape)}")
    frames = cines.reshape(-1, *cines.shape[-2:])
    device = segmenter.head.weight.device
    segmenter.eval()
    labels = torch.cat([segmenter.segment(frames[i:i + batch_frames].to(device)).cpu()
                        for i in range(0, len(frames), batch_frames)]).reshape(cines.shape).numpy()
    return [geometric_phenotypes(maps[0], maps[1], pixel_mm) for maps in labels]


@dataclass
class ImagePhenotypeCalibration:
    """reference ~ slope * geometric + intercept, one line per phenotype, fitted on training cines.

    ``residual_sd`` is each line's residual standard deviation on those cines: how far an image-derived value
    strays from the reference even on an acquired image, the floor of any disagreement worth flagging.
    """

    slope: dict[str, float] = field(default_factory=lambda: {name: 1.0 for name in IMAGE_PHENOTYPES})
    intercept: dict[str, float] = field(default_factory=lambda: {name: 0.0 for name in IMAGE_PHENOTYPES})
    residual_sd: dict[str, float] = field(default_factory=lambda: {name: 0.0 for name in IMAGE_PHENOTYPES})

    @classmethod
    def fit(cls, geometric: list[dict[str, float]], reference: dict[str, np.ndarray]) -> ImagePhenotypeCalibration:
        calibration = cls()
        for name in IMAGE_PHENOTYPES:
            x = np.array([values[name] for values in geometric])
            y = np.asarray(reference[name], dtype=np.float64)
            known = np.isfinite(x) & np.isfinite(y)
            if known.sum() >= 3 and np.ptp(x[known]) > 0:
                slope, intercept = np.polyfit(x[known], y[known], 1)
                calibration.slope[name], calibration.intercept[name] = float(slope), float(intercept)
                calibration.residual_sd[name] = float(np.std(y[known] - (slope * x[known] + intercept), ddof=2))
        return calibration

    def apply(self, geometric: dict[str, float]) -> dict[str, float]:
        return {name: self.slope[name] * geometric[name] + self.intercept[name] for name in IMAGE_PHENOTYPES}

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(asdict(self), indent=2))

    @classmethod
    def load(cls, path: Path) -> ImagePhenotypeCalibration:
        return cls(**json.loads(Path(path).read_text()))


@dataclass
class ImagePhenotypeEstimate:
    """Image-derived phenotypes of one subject from several generated cines (different seeds)."""

    mean: dict[str, float]
    spread: dict[str, float]  # standard deviation over the samples (0.0 with one: unknown, see `cell`)
    samples: list[dict[str, float]]

    def cell(self, name: str) -> str:
        """The value as shown: mean ± SD over the samples, or the one sample's value, said so."""
        if len(self.samples) < 2:
            return f"{self.mean[name]:.1f} (one sample: no spread)"
        return f"{self.mean[name]:.1f} ± {self.spread[name]:.1f}"

    @classmethod
    def from_samples(cls, samples: list[dict[str, float]]) -> ImagePhenotypeEstimate:
        if not samples:
            raise ValueError("an estimate needs at least one measured cine")
        values = {name: np.array([sample[name] for sample in samples]) for name in samples[0]}
        return cls({name: float(v.mean()) for name, v in values.items()},
                   {name: float(v.std(ddof=1)) if len(v) > 1 else 0.0 for name, v in values.items()}, samples)

    def disagreements(self, predicted: dict[str, float], calibration: ImagePhenotypeCalibration,
                      z: float = 2.0) -> dict[str, bool | None]:
        """Per phenotype: does the regression head's value lie beyond ``z`` combined standard deviations (the
        samples' spread and the image measurement's own error) from the image-derived mean? None with a single
        sample: its spread is unknown, not zero, and judging against zero flagged nearly every difference."""
        if len(self.samples) < 2:
            return {name: None for name in self.mean if name in predicted}
        flags = {}
        for name, value in self.mean.items():
            if name in predicted:
                tolerance = z * np.hypot(self.spread[name], calibration.residual_sd.get(name, 0.0))
                flags[name] = bool(abs(predicted[name] - value) > tolerance)
        return flags

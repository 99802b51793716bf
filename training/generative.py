"""The generative stages, after the predictive ones (they reuse the aligned ECG encoder):

    tokenizer   KL autoencoder on the training cines                         -> RUN/tokenizer/model
    segmenter   U-Net on the virtual cohort's frames and label maps          -> RUN/segmenter/model
    generator   a latent regressor from the fine-tuned aligned predictor's ECG embedding and head outputs
                (the deterministic baseline)                                 -> RUN/regression_decoder/model
                then the MAR + diffusion head on the residual of the tokenizer latents around it, with
                the same condition                                           -> RUN/generator/model
    scanner-adapter  what imaging on another scanner adds to the regression decoder's latent, from the same
                condition and the scanner's properties                       -> RUN/scanner_adapter/model

Training cines are the paired set's and the downstream training split's (and, for the generators, the recipe's
`generator_extra` pairs; for the scanner adapter, also the `generator_scanners` pairs): never the test splits,
never the downstream calibration share (the predictive heads' validation data stays unseen by every model).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from cardionets.cmr.measure import IMAGE_CALIBRATION_FILE, IMAGE_PHENOTYPES, ImagePhenotypeCalibration, measure_cines
from cardionets.device import autocast
from cardionets.models.cine_tokenizer import CineTokenizer, CineTokenizerConfig
from cardionets.models.latent_regressor import LatentRegressor, LatentRegressorConfig
from cardionets.models.mar import CineMAR, CineMARConfig
from cardionets.models.predictor import CardioNetsPredictor
from cardionets.models.pretrained import CONFIG_NAME
from cardionets.models.scanner_adapter import ScannerAdapter, ScannerAdapterConfig
from cardionets.models.segmenter import CMRSegmenter, CMRSegmenterConfig
from cardionets.sim.sites import SITES

from .calibrate_generated import calibrate_generators
from .data.prepared import CINE_PIXEL_MM, PreparedDataset
from .datasets import PreparedTorchDataset
from .evaluate_generative import GenerativeModels
from .run import (
    GENERATOR_SCANNERS,
    SCANNERS_FILE,
    Run,
    generator_predictor,
    generator_training_cines,
    training_cines,
    training_frame_parts,
)
from .stages import finish_stage
from .trainer import TrainResult, train


def tokenizer(run: Run):
    config = run.config
    model = CineTokenizer(CineTokenizerConfig(pixel_mm=CINE_PIXEL_MM, **config.models.cine_tokenizer))
    frames = CineFrames(training_frame_parts(run), group=model.config.frames_per_latent)
    stage = run.stage_dir("tokenizer")
    result = train(model, lambda m, batch: m.image_loss(batch["frames"]), frames, config.tokenizer,
                   stage / "checkpoint", "tokenizer", run.log, run.context, run.device, config.seed)
    if run.context.is_main:
        cines = training_cines(run)
        sample = torch.stack([cines[i]["cine"] for i in _spread(len(cines), 32)])
        model.eval()
        model.fit_latent_scale(sample.to(run.device))
    return finish_stage(run, stage, model, result, folder="model")


class CineFrames(Dataset):
    """Every run of ``group`` consecutive frames (one latent frame's worth) of every view of the given subjects:
    "frames" (group, S, S) in [0, 1] and, with ``with_labels``, "labels" (group, S, S) int64."""

    def __init__(self, parts: list[tuple[PreparedDataset, np.ndarray]], group: int = 1, with_labels: bool = False):
        for prepared, _ in parts:
            if prepared.cine is None:
                raise ValueError(f"{prepared.directory} has no cines")
            if with_labels and prepared.masks is None:
                raise ValueError(f"{prepared.directory} has no label masks; prepare it from the virtual cohort")
        views, frames = parts[0][0].cine.shape[1:3]
        if frames % group:
            raise ValueError(f"{frames} frames do not split into groups of {group}")
        self.parts, self.group, self.with_labels = parts, group, with_labels
        self.groups_per_view = frames // group
        self.per_subject = views * self.groups_per_view
        self.offsets = np.cumsum([0] + [len(indices) * self.per_subject for _, indices in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        part = int(np.searchsorted(self.offsets, item, side="right") - 1)
        prepared, indices = self.parts[part]
        subject, rest = divmod(item - int(self.offsets[part]), self.per_subject)
        view, group = divmod(rest, self.groups_per_view)
        row, frames = int(indices[subject]), slice(group * self.group, (group + 1) * self.group)
        out = {"frames": torch.from_numpy(prepared.cine[row, view, frames].astype(np.float32) / 255.0)}
        if self.with_labels:
            out["labels"] = torch.from_numpy(prepared.masks[row, view, frames].astype(np.int64))
        return out


def segmenter(run: Run):
    """The U-Net, then the lines from its geometric measurements to the reference phenotypes
    (RUN/segmenter/model/image_phenotypes.json)."""
    config = run.config
    model = CMRSegmenter(CMRSegmenterConfig(**config.models.segmenter))
    stage = run.stage_dir("segmenter")
    frames = CineFrames(training_frame_parts(run), group=1, with_labels=True)
    result = train(model, lambda m, batch: m.loss(batch["frames"][:, 0], batch["labels"][:, 0]), frames,
                   config.segmenter, stage / "checkpoint", "segmenter", run.log, run.context, run.device, config.seed)
    folder = finish_stage(run, stage, model, result, folder="model")
    if run.context.is_main:
        calibration = fit_image_calibration(model, training_cines(run), run.prepared("paired").schema.phenotypes,
                                            run.device)
        calibration.save(folder / IMAGE_CALIBRATION_FILE)
    return folder

CALIBRATION_SUBJECTS = 1000


def fit_image_calibration(segmenter: CMRSegmenter, cines: Dataset, phenotypes: tuple[str, ...],
                          device: torch.device) -> ImagePhenotypeCalibration:
    """Lines from the segmenter's geometric measurements to the reference values, on up to CALIBRATION_SUBJECTS
    training cines spread over the set; ``phenotypes`` names the columns of the items' "phenotypes"."""
    segmenter.to(device).eval()
    rows = _spread(len(cines), CALIBRATION_SUBJECTS)
    geometric, reference = [], {name: [] for name in IMAGE_PHENOTYPES}
    for start in range(0, len(rows), 64):
        items = [cines[i] for i in rows[start:start + 64]]
        geometric += measure_cines(segmenter, torch.stack([item["cine"] for item in items]), CINE_PIXEL_MM)
        for item in items:
            for name in IMAGE_PHENOTYPES:
                reference[name].append(float(item["phenotypes"][phenotypes.index(name)]))
    return ImagePhenotypeCalibration.fit(geometric, {name: np.array(v) for name, v in reference.items()})


@torch.no_grad()
def encode_for_generator(run: Run, dataset: Dataset, predictor: CardioNetsPredictor, cine_tokenizer: CineTokenizer,
                         batch_size: int = 32) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, *latent_shape) standardised latents of every cine and (N, condition_dim) generator conditions, on the
    CPU."""
    predictor.to(run.device).eval()
    cine_tokenizer.to(run.device).eval()
    latents, conditions = [], []
    for start in range(0, len(dataset), batch_size):
        items = [dataset[i] for i in range(start, min(start + batch_size, len(dataset)))]
        with autocast(run.device):
            cine = torch.stack([item["cine"] for item in items]).to(run.device)
            ecg = torch.stack([item["ecg"] for item in items]).to(run.device)
            latents.append(cine_tokenizer.encode(cine).float().cpu())
            conditions.append(predictor.generator_condition(ecg).float().cpu())
    return torch.cat(latents), torch.cat(conditions)


class NamedTensors(Dataset):
    """Item i: {name: tensor[i]} for each of the named tensors (the same length)."""

    def __init__(self, **tensors: torch.Tensor):
        if len({len(tensor) for tensor in tensors.values()}) != 1:
            raise ValueError("the tensors must have the same length")
        self.tensors = tensors

    def __len__(self) -> int:
        return len(next(iter(self.tensors.values())))

    def __getitem__(self, item: int) -> dict[str, torch.Tensor]:
        return {name: tensor[item] for name, tensor in self.tensors.items()}


def generator(run: Run):
    """The deterministic latent regressor (the regression-decoder baseline), then the MAR, which generates the
    residual over that regressor (CorrDiff's split; see `cardionets.models.mar`); then the lines that measure
    both generators' cines (`training.calibrate_generated`). With `generator_start_from` the saved MAR goes on
    training instead, and its own anchor becomes the regression decoder."""
    config = run.config
    predictor = generator_predictor(run)
    cine_tokenizer = CineTokenizer.from_pretrained(run.stage_dir("tokenizer") / "model")
    mar = generator_to_continue(run, predictor.condition_dim, cine_tokenizer.config.latent_shape)  # checked first
    latents, conditions = encode_for_generator(run, generator_training_cines(run), predictor, cine_tokenizer)
    data = NamedTensors(latent=latents, condition=conditions)

    baseline = run.stage_dir("regression_decoder")
    if mar is None:
        regressor = LatentRegressor(LatentRegressorConfig(condition_dim=predictor.condition_dim,
                                                          latent_shape=cine_tokenizer.config.latent_shape))
        result = train(regressor, lambda m, batch: m.loss(batch["latent"], batch["condition"]), data,
                       config.regression_decoder, baseline / "checkpoint", "regression-decoder", run.log,
                       run.context, run.device, config.seed)
        finish_stage(run, baseline, regressor, result, folder="model")
        mar = CineMAR(CineMARConfig(latent_shape=cine_tokenizer.config.latent_shape,
                                    condition_dim=predictor.condition_dim, anchor=regressor.config,
                                    residual_std=residual_std(regressor, latents, conditions),
                                    **config.models.generator))
        mar.anchor.load_state_dict(regressor.state_dict())
    else:
        regressor = regressor_from_anchor(mar)
        finish_stage(run, baseline, regressor, TrainResult(epoch_losses=[], steps=0, seconds=0.0), folder="model")
    stage = run.stage_dir("generator")
    result = train(mar, lambda m, batch: m.loss(m.tokens_from_latent(batch["latent"]), batch["condition"]), data,
                   config.generator, stage / "checkpoint", "generator", run.log, run.context, run.device,
                   config.seed)
    if result.ema is not None:
        result.ema.copy_to(mar)
    finish_stage(run, stage, mar, result, folder="model")
    if run.context.is_main:
        models = GenerativeModels.load(run)
        if models is not None:  # lines for the generators' own cines, at the settings they have now
            calibrate_generators(run, models)
    return stage / "model"


def scanner_adapter(run: Run) -> Path | None:
    """The scanner adapter (`cardionets.models.scanner_adapter`): from the generator condition and a scanner's
    properties to the regression decoder's expected residual, on the generators' training cines (told their
    sites' scanners) and the many-scanner pairs (told their drawn scanners) -> RUN/scanner_adapter/model. Nothing
    when the recipe makes no many-scanner pairs: the generators then draw the training sites' look."""
    config = run.config
    if not config.data.generator_scanners:
        run.log.write(stage="scanner-adapter", skipped="the recipe makes no generator_scanners pairs")
        return None
    predictor = generator_predictor(run)
    cine_tokenizer = CineTokenizer.from_pretrained(run.stage_dir("tokenizer") / "model")
    regressor = LatentRegressor.from_pretrained(run.stage_dir("regression_decoder") / "model").eval()
    many = run.prepared(GENERATOR_SCANNERS)
    drawn = json.loads((many.directory / SCANNERS_FILE).read_text())
    trained_on = generator_training_cines(run)
    scanners = [SITES[site].scanner for site in item_sites(trained_on)] + [drawn[site] for site in item_sites(many)]
    latents, conditions = encode_for_generator(run, ConcatDataset([trained_on, PreparedTorchDataset(
        many, with_cine=True)]), predictor, cine_tokenizer)
    with torch.no_grad():
        for start in range(0, len(latents), 256):  # in place: the residuals replace the latents
            latents[start:start + 256] -= regressor(conditions[start:start + 256])
    adapter = ScannerAdapter(ScannerAdapterConfig(condition_dim=predictor.condition_dim,
                                                  latent_shape=cine_tokenizer.config.latent_shape))
    data = NamedTensors(residual=latents, condition=conditions, profile=adapter.profile(scanners))
    stage = run.stage_dir("scanner_adapter")
    result = train(adapter, lambda m, batch: m.loss(batch["residual"], batch["condition"], batch["profile"]), data,
                   config.scanner_adapter, stage / "checkpoint", "scanner-adapter", run.log, run.context, run.device,
                   config.seed)
    return finish_stage(run, stage, adapter, result, folder="model")


def item_sites(dataset: Dataset | PreparedDataset) -> list[str]:
    """The site of each item of a prepared folder, a `PreparedTorchDataset` or a concatenation of them."""
    if isinstance(dataset, PreparedDataset):
        return list(dataset.manifest["site"].values)
    if isinstance(dataset, ConcatDataset):
        return [site for part in dataset.datasets for site in item_sites(part)]
    if isinstance(dataset, PreparedTorchDataset):
        return list(dataset.prepared.manifest["site"].values[dataset.indices])
    raise TypeError(f"no sites known for a {type(dataset).__name__}")


def regressor_from_anchor(mar: CineMAR) -> LatentRegressor:
    """The regression decoder a MAR generates its residual around, as a model of its own."""
    if mar.anchor is None:
        raise ValueError("this generator has no anchor (regression decoder)")
    regressor = LatentRegressor(mar.config.anchor)
    regressor.load_state_dict(mar.anchor.state_dict())
    return regressor


def generator_to_continue(run: Run, condition_dim: int, latent_shape: tuple[int, ...]) -> CineMAR | None:
    """The saved generator the recipe goes on training (`generator_start_from`), or None to start a new one.

    It must read this run's generator condition and write this run's tokenizer latents, and have the sizes the
    recipe asks for: a mismatch is an error, never a silently different model."""
    folder = run.config.generator_start_from
    if folder is None:
        return None
    if not (Path(folder) / CONFIG_NAME).is_file():
        raise ValueError(f"generator_start_from: {folder} holds no saved generator ({CONFIG_NAME} is missing)")
    mar = CineMAR.from_pretrained(folder)
    saved = asdict(mar.config)
    problems = [f"{name} is {saved[name]}, the recipe asks for {wanted}"
                for name, wanted in run.config.models.generator.items() if not _same(saved.get(name), wanted)]
    if tuple(mar.config.latent_shape) != tuple(latent_shape):
        problems.append(f"latent_shape is {tuple(mar.config.latent_shape)}, this run's tokenizer writes "
                        f"{tuple(latent_shape)}")
    if mar.config.condition_dim != condition_dim:
        problems.append(f"condition_dim is {mar.config.condition_dim}, this run's predictor gives {condition_dim}")
    if mar.anchor is None:
        problems.append("it has no anchor (regression decoder) to generate the residual around")
    if problems:
        raise ValueError(f"generator_start_from: the generator in {folder} cannot be continued here: "
                         + "; ".join(problems))
    run.log.write(stage="generator", started_from=str(folder))
    return mar


def _same(saved, wanted) -> bool:
    """Whether a saved config value is what the recipe asks for; a nested dict need only match the keys it names."""
    if isinstance(wanted, dict):
        return isinstance(saved, dict) and all(_same(saved.get(key), value) for key, value in wanted.items())
    if isinstance(wanted, (list, tuple)):
        return isinstance(saved, (list, tuple)) and list(saved) == list(wanted)
    return saved == wanted


@torch.no_grad()
def residual_std(regressor: LatentRegressor, latents: torch.Tensor, conditions: torch.Tensor) -> float:
    """SD of the training latents around the regressor's estimates."""
    regressor.cpu().eval()
    residuals = [latents[i:i + 256] - regressor(conditions[i:i + 256]) for i in range(0, len(latents), 256)]
    return float(torch.cat(residuals).std())


def _spread(n: int, count: int) -> list[int]:
    return sorted(set(np.linspace(0, n - 1, min(n, count)).astype(int).tolist()))


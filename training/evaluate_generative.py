"""Scoring the cine generators on the internal test split and the external site (part of ``evaluate``).

Every model answers the same question, "this subject's two-view cine, from the ECG", for the same subjects:

    mar                 the MAR + diffusion head (a residual over the regression decoder's latent), `seeds`
                        samples per subject at the default sampler settings
    population_mean     the mean training cine, whatever the ECG
    retrieval           the training cine whose generator condition is nearest (cosine) to the subject's
    regression_decoder  the latent regressed from the condition (MSE), decoded

When the run has a scanner adapter (`python -m training scanner-adapter`), the MAR and the regression decoder
are told each subject's scanner (its site's: a site knows its scanner) and imitate it. All four models
are scored on fidelity (SSIM, PSNR per frame, per view, against the true cine), realism (Fréchet distance
between CMR-encoder features of the generated and the true cines), diversity (pixel SD between a subject's
samples) and what its heart says (phenotypes measured by the segmenter on the generated cines, R2 against the
truth, next to the regression head's R2 on the same subjects). For the MAR, an image-derived phenotype is the
mean over its samples and their SD is its uncertainty; the regression head is flagged when it lies outside.
The same section reports the tokenizer's reconstruction PSNR and the segmenter's Dice on held-out cines.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from cardionets import metrics
from cardionets.cmr.measure import (
    IMAGE_CALIBRATION_FILE,
    IMAGE_PHENOTYPES,
    ImagePhenotypeCalibration,
    ImagePhenotypeEstimate,
    measure_cines,
)
from cardionets.models.cine_tokenizer import CineTokenizer
from cardionets.models.cmr_encoder import CMREncoder
from cardionets.models.latent_regressor import LatentRegressor
from cardionets.models.mar import CineMAR
from cardionets.models.mar_sampler import SamplerSettings, load_sampler_settings, sample_cines
from cardionets.models.predictor import CardioNetsPredictor
from cardionets.models.scanner_adapter import ScannerAdapter
from cardionets.models.segmenter import CLASSES, CMRSegmenter, dice_per_class
from cardionets.sim.sites import SITES

from .config import load_run_config
from .data.prepared import VIEWS
from .datasets import PreparedTorchDataset
from .distributed import Context
from .run import Run, generator_predictor, generator_training_cines

GENERATIVE_MODELS = ("mar", "population_mean", "retrieval", "regression_decoder")
# Not a generated cine but the pixel-wise mean of the MAR's samples: an estimate of the conditional mean, scored
# beside the others to show how much of the pixel-level agreement a single sample gives up by being sharp.
SAMPLE_MEAN = "mar_sample_mean"
SPLIT_NAMES = {"internal_test": "internal", "external_test": "external"}
BATCH = 32


# (stage, folder) of the pretrained CMR encoder whose features the Fréchet distance compares; no bundle ships it.
FEATURE_ENCODER = ("pretrain_cmr", "encoder")


@dataclass
class GenerativeModels:
    predictor: CardioNetsPredictor
    tokenizer: CineTokenizer
    mar: CineMAR
    regressor: LatentRegressor
    segmenter: CMRSegmenter
    calibration: ImagePhenotypeCalibration  # the segmenter's lines, fitted on acquired cines
    feature_encoder: CMREncoder  # the pretrained CMR encoder: features for the Fréchet distance
    # Each generator's own lines (`training.calibrate_generated`); the acquired-cine lines until it has run.
    mar_calibration: ImagePhenotypeCalibration
    regressor_calibration: ImagePhenotypeCalibration
    # What imaging on each subject's scanner adds to both generators' latents; None when the recipe trains none,
    # and then they draw the training sites' look.
    scanner_adapter: ScannerAdapter | None = None

    @classmethod
    def load(cls, run: Run) -> GenerativeModels | None:
        """The trained models, or None when a generative stage has not run."""
        paths = {name: run.stage_dir(stage) / folder for name, (stage, folder) in {
            "tokenizer": ("tokenizer", "model"), "mar": ("generator", "model"),
            "regressor": ("regression_decoder", "model"), "segmenter": ("segmenter", "model"),
            "feature_encoder": FEATURE_ENCODER, "predictor": ("finetune", "aligned/model")}.items()}
        if not all(path.exists() for path in paths.values()):
            return None
        device = run.device
        acquired = ImagePhenotypeCalibration.load(paths["segmenter"] / IMAGE_CALIBRATION_FILE)

        def own_lines(stage: str) -> ImagePhenotypeCalibration:
            path = run.stage_dir(stage) / IMAGE_CALIBRATION_FILE
            return ImagePhenotypeCalibration.load(path) if path.is_file() else acquired

        return cls(
            predictor=generator_predictor(run).to(device).eval(),
            tokenizer=CineTokenizer.from_pretrained(paths["tokenizer"]).to(device).eval(),
            mar=CineMAR.from_pretrained(paths["mar"]).to(device).eval(),
            regressor=LatentRegressor.from_pretrained(paths["regressor"]).to(device).eval(),
            segmenter=CMRSegmenter.from_pretrained(paths["segmenter"]).to(device).eval(),
            calibration=acquired,
            feature_encoder=CMREncoder.from_pretrained(paths["feature_encoder"]).to(device).eval(),
            mar_calibration=own_lines("generator"),
            regressor_calibration=own_lines("regression_decoder"),
            scanner_adapter=(ScannerAdapter.from_pretrained(adapter).to(device).eval()
                             if (adapter := run.stage_dir("scanner_adapter") / "model").exists() else None),
        )

    @torch.no_grad()
    def scanner_shifts(self, conditions: torch.Tensor, sites: list[str]) -> torch.Tensor | None:
        """(N, *latent_shape) what the scanner adapter adds for each subject, told its site's scanner (a test
        split's scanner is known: it is the site's); None without an adapter."""
        if self.scanner_adapter is None:
            return None
        device = next(self.scanner_adapter.parameters()).device
        profile = self.scanner_adapter.profile([SITES[site].scanner for site in sites])
        return torch.cat([self.scanner_adapter(conditions[i:i + 256].to(device), profile[i:i + 256]).cpu()
                          for i in range(0, len(conditions), 256)])

    def calibration_for(self, model: str) -> ImagePhenotypeCalibration:
        """The lines that measure ``model``'s cines: a generator's own; the acquired-cine lines for the
        population mean and retrieval, whose cines are (averages of) acquired ones."""
        return {"mar": self.mar_calibration, SAMPLE_MEAN: self.mar_calibration,
                "regression_decoder": self.regressor_calibration}.get(model, self.calibration)


def trained_run(config: Path, output: str | None = None,
                data_root: str | None = None) -> tuple[Run, GenerativeModels]:
    """For the commands that use the trained generators (tune_sampler, gallery): the run and its models; exits
    with a message naming the run when its generative stages have not run."""
    run = Run(load_run_config(config, output, data_root), Context())
    models = GenerativeModels.load(run)
    if models is None:
        raise SystemExit(f"the generative stages have not run in {run.directory}")
    return run, models


def sampler_settings(run: Run) -> SamplerSettings:
    """The generator's default settings (RUN/generator/sampler.json when tuned), then the recipe's overrides."""
    tuned = load_sampler_settings(run.stage_dir("generator"))
    return SamplerSettings(**{**(asdict(tuned) if tuned else {}), **run.config.generative_eval.sampler})


@torch.no_grad()
def stack_items(dataset: Dataset, key: str) -> torch.Tensor:
    return torch.stack([dataset[i][key] for i in range(len(dataset))])


@torch.no_grad()
def generator_conditions(models: GenerativeModels, ecg: torch.Tensor, device: torch.device) -> torch.Tensor:
    return torch.cat([models.predictor.generator_condition(ecg[i:i + 256].to(device)).float().cpu()
                      for i in range(0, len(ecg), 256)])


@torch.no_grad()
def cine_features(models: GenerativeModels, cines: np.ndarray, device: torch.device) -> np.ndarray:
    return torch.cat([models.feature_encoder.embed(torch.from_numpy(cines[i:i + BATCH]).to(device)).float().cpu()
                      for i in range(0, len(cines), BATCH)]).numpy()


class TrainingReference:
    """What the baselines draw on: the mean training cine, and every training cine with its condition (the
    generators' own training cines, so that retrieval searches what they learnt from)."""

    def __init__(self, run: Run, models: GenerativeModels):
        self.cines = generator_training_cines(run)
        self.conditions = torch.cat([
            generator_conditions(models, torch.stack([self.cines[i]["ecg"] for i in rows]), run.device)
            for rows in _batches(len(self.cines), 256)])
        self.mean_cine = mean_cine(self.cines)
        self._unit = torch.nn.functional.normalize(self._standardise(self.conditions), dim=1)

    def _standardise(self, conditions: torch.Tensor) -> torch.Tensor:
        # Condition parts have different scales (embedding, phenotypes, logits): standardise before cosine.
        return (conditions - self.conditions.mean(0)) / self.conditions.std(0).clamp(min=1e-6)

    def nearest(self, conditions: torch.Tensor) -> np.ndarray:
        similarity = torch.nn.functional.normalize(self._standardise(conditions), dim=1) @ self._unit.T
        return similarity.argmax(dim=1).numpy()

    def retrieve(self, conditions: torch.Tensor) -> np.ndarray:
        return np.stack([self.cines[int(i)]["cine"].numpy() for i in self.nearest(conditions)])


def mean_cine(cines: Dataset) -> np.ndarray:
    """The pixel-wise mean of the items' "cine": the population-mean baseline."""
    total = sum(torch.stack([cines[i]["cine"] for i in rows]).double().sum(0) for rows in _batches(len(cines), 256))
    return (total / len(cines)).float().numpy()


def _batches(n: int, size: int) -> list[range]:
    return [range(start, min(start + size, n)) for start in range(0, n, size)]


@torch.no_grad()
def generate(models: GenerativeModels, conditions: torch.Tensor, settings: SamplerSettings, device: torch.device,
             shifts: torch.Tensor | None = None) -> np.ndarray:
    """(N, condition_dim) -> (N, views, frames, H, W) MAR cines, in batches (the same seed for every batch);
    ``shifts`` (N, *latent_shape): the scanner adapter's, added to the latents (`GenerativeModels.scanner_shifts`)."""
    return torch.cat([sample_cines(models.mar, models.tokenizer, conditions[i:i + BATCH].to(device), settings,
                                   None if shifts is None else shifts[i:i + BATCH].to(device)).cpu()
                      for i in range(0, len(conditions), BATCH)]).numpy()


@torch.no_grad()
def regress(models: GenerativeModels, conditions: torch.Tensor, device: torch.device,
            shifts: torch.Tensor | None = None) -> np.ndarray:
    """The regression decoder's cines, with the scanner adapter's ``shifts`` as `generate`."""
    latents = [models.regressor(conditions[i:i + BATCH].to(device)) for i in range(0, len(conditions), BATCH)]
    if shifts is not None:
        latents = [latent + shifts[i * BATCH:(i + 1) * BATCH].to(latent) for i, latent in enumerate(latents)]
    return torch.cat([models.tokenizer.decode(latent).cpu() for latent in latents]).numpy()


def image_scores(generated: np.ndarray, truth: np.ndarray) -> dict:
    """Mean SSIM and PSNR over subjects, views and frames, with per-view means; (N, V, T, H, W) each."""
    ssim = np.stack([[metrics.ssim_per_frame(g[v], t[v]) for v in range(len(VIEWS))]
                     for g, t in zip(generated, truth)])  # (N, V, T)
    psnr = np.stack([[metrics.psnr_db_per_frame(g[v], t[v]) for v in range(len(VIEWS))]
                     for g, t in zip(generated, truth)])
    psnr = np.minimum(psnr, 100.0)  # an exact copy would be +inf; no real comparison comes near
    matched = np.minimum([[metrics.psnr_db_per_frame(metrics.intensity_matched(g[v], t[v]), t[v])
                           for v in range(len(VIEWS))] for g, t in zip(generated, truth)], 100.0)
    return {"ssim": float(ssim.mean()), "psnr_db": float(psnr.mean()), "psnr_db_matched": float(matched.mean()),
            "ssim_per_view": {view: float(ssim[:, v].mean()) for v, view in enumerate(VIEWS)},
            "psnr_db_per_view": {view: float(psnr[:, v].mean()) for v, view in enumerate(VIEWS)},
            "per_subject_ssim": ssim.mean(axis=(1, 2)), "per_subject_psnr_db": psnr.mean(axis=(1, 2))}


def phenotype_r2(measured: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict[str, float | None]:
    out = {}
    for name in IMAGE_PHENOTYPES:
        try:
            out[name] = metrics.r2(truth[name], measured[name])
        except metrics.UndefinedMetricError:
            out[name] = None
    return out


def measured_phenotypes(models: GenerativeModels, cines: np.ndarray,
                        calibration: ImagePhenotypeCalibration) -> list[dict[str, float]]:
    geometric = measure_cines(models.segmenter, cines, models.tokenizer.config.pixel_mm)
    return [calibration.apply(values) for values in geometric]


def _columns(rows: list[dict[str, float]]) -> dict[str, np.ndarray]:
    return {name: np.array([row[name] for row in rows]) for name in IMAGE_PHENOTYPES}


def score_split(run: Run, models: GenerativeModels, reference: TrainingReference, split: str) -> dict:
    config = run.config.generative_eval
    prepared = run.prepared(split)
    n = min(config.subjects, len(prepared))
    dataset = PreparedTorchDataset(prepared, np.arange(n), with_cine=True)
    truth = stack_items(dataset, "cine").numpy()
    ecg = stack_items(dataset, "ecg")
    names = list(prepared.schema.phenotypes)
    true_phenotypes = {name: prepared.phenotypes[:n, names.index(name)] for name in IMAGE_PHENOTYPES}
    conditions = generator_conditions(models, ecg, run.device)
    shifts = models.scanner_shifts(conditions, list(prepared.manifest["site"].values[:n]))
    head = models.predictor.predict(ecg.to(run.device))["phenotypes"].cpu().numpy()
    head_phenotypes = {name: head[:, names.index(name)] for name in IMAGE_PHENOTYPES}

    settings = sampler_settings(run)
    samples = [generate(models, conditions, replace(settings, seed=seed), run.device, shifts)
               for seed in range(config.seeds)]
    outputs = {
        "population_mean": np.repeat(reference.mean_cine[None], n, axis=0),
        "retrieval": reference.retrieve(conditions),
        "regression_decoder": regress(models, conditions, run.device, shifts),
        SAMPLE_MEAN: np.mean(samples, axis=0),
    }
    true_features = cine_features(models, truth, run.device)
    scores: dict = {}
    mar_image_means: dict[str, np.ndarray] = {}
    for name in (*GENERATIVE_MODELS, SAMPLE_MEAN):
        cines = samples if name == "mar" else [outputs[name]]
        per_sample = [image_scores(c, truth) for c in cines]
        measured = [measured_phenotypes(models, c, models.calibration_for(name)) for c in cines]
        estimates = [ImagePhenotypeEstimate.from_samples([m[i] for m in measured]) for i in range(n)]
        image_mean = _columns([e.mean for e in estimates])
        r2 = phenotype_r2(image_mean, true_phenotypes)
        ssim = np.mean([s["per_subject_ssim"] for s in per_sample], axis=0)
        psnr = np.mean([s["per_subject_psnr_db"] for s in per_sample], axis=0)
        scores[name] = {
            "ssim": float(ssim.mean()), "ssim_ci": _ci(ssim, run.config), "psnr_db": float(psnr.mean()),
            "psnr_db_ci": _ci(psnr, run.config),
            # Each cine under the gain and offset closest to the truth: the anatomy without the scanner's contrast.
            "psnr_db_matched": float(np.mean([s["psnr_db_matched"] for s in per_sample])),
            "ssim_per_view": _mean_dicts([s["ssim_per_view"] for s in per_sample]),
            "psnr_db_per_view": _mean_dicts([s["psnr_db_per_view"] for s in per_sample]),
            "frechet": float(np.mean([metrics.frechet_distance(cine_features(models, c, run.device), true_features)
                                      for c in cines])),
            "diversity": float(np.mean(np.std(np.stack(cines), axis=0, ddof=1))) if len(cines) > 1 else 0.0,
            "r2_lvedv": r2["lvedv_ml"], "r2_lvef": r2["lvef_pct"], "r2_image_phenotypes": r2,
            "samples_per_subject": len(cines),
        }
        if name == "mar":
            mar_image_means = image_mean
            scores[name]["uncertainty"] = uncertainty_summary(estimates, head_phenotypes, true_phenotypes,
                                                              models.calibration)  # as the app flags
    head_r2 = phenotype_r2(head_phenotypes, true_phenotypes)
    measured_truth = _columns(measured_phenotypes(models, truth, models.calibration))
    return {
        "subjects": n, "scores": scores,
        "regression_head_r2": head_r2,
        "true_cine_image_r2": phenotype_r2(measured_truth, true_phenotypes),  # the segmenter's own ceiling
        "mar_to_head_r2_ratio": {key: _ratio(scores["mar"][f"r2_{key}"], head_r2[name])
                                 for key, name in (("lvedv", "lvedv_ml"), ("lvef", "lvef_pct"))},
        # Both R²s come from the same subjects, so the share's interval resamples them together.
        "mar_to_head_r2_ratio_ci": {key: _share_ci(true_phenotypes[name], mar_image_means[name],
                                                   head_phenotypes[name], run.config)
                                    for key, name in (("lvedv", "lvedv_ml"), ("lvef", "lvef_pct"))},
        "tokenizer_psnr_db": tokenizer_psnr(models, truth, run.device),
        "segmenter_dice": segmenter_dice(models, truth, prepared.masks[:n], run.device),
    }


def uncertainty_summary(estimates: list[ImagePhenotypeEstimate], head: dict[str, np.ndarray],
                        truth: dict[str, np.ndarray], calibration: ImagePhenotypeCalibration) -> dict:
    """How often the head is flagged, and whether flags pick the subjects where the head is further off."""
    out = {}
    for name in ("lvedv_ml", "lvef_pct", "lvm_g", "rvedv_ml"):
        flags = np.array([e.disagreements({name: float(head[name][i])}, calibration)[name]
                          for i, e in enumerate(estimates)])
        error = np.abs(head[name] - truth[name])
        out[name] = {
            "mean_spread": float(np.mean([e.spread[name] for e in estimates])),
            "flagged_share": float(flags.mean()),
            "head_abs_error_flagged": float(error[flags].mean()) if flags.any() else None,
            "head_abs_error_unflagged": float(error[~flags].mean()) if (~flags).any() else None,
        }
    return out


@torch.no_grad()
def tokenizer_psnr(models: GenerativeModels, truth: np.ndarray, device: torch.device) -> float:
    """Mean per-frame PSNR of the tokenizer's reconstructions (encode, decode) of held-out cines."""
    psnr = []
    for i in range(0, len(truth), BATCH):
        batch = torch.from_numpy(truth[i:i + BATCH]).to(device)
        recon = models.tokenizer.decode(models.tokenizer.encode(batch)).cpu().numpy()
        psnr += [metrics.psnr_db_per_frame(r[v], t[v]) for r, t in zip(recon, truth[i:i + BATCH])
                 for v in range(len(VIEWS))]
    return float(np.mean(psnr))


@torch.no_grad()
def segmenter_dice(models: GenerativeModels, truth: np.ndarray, masks: np.ndarray,
                   device: torch.device) -> dict[str, float | None]:
    """Dice of each class over every frame of held-out cines against the simulator's label maps."""
    frames = torch.from_numpy(truth.reshape(-1, *truth.shape[-2:]))
    predicted = torch.cat([models.segmenter.segment(frames[i:i + 512].to(device)).cpu()
                           for i in range(0, len(frames), 512)])
    scores = dice_per_class(predicted, torch.from_numpy(masks.reshape(predicted.shape).astype(np.int64)))
    return {name: score for name, score in zip(CLASSES, scores) if name != "background"}


def _share_interval(ci: list[float] | None) -> str:
    return "" if ci is None else f" [{ci[0]:.0%}, {ci[1]:.0%}]"


def _ratio(value: float | None, reference: float | None) -> float | None:
    return None if value is None or reference is None or reference <= 0 else value / reference


def r2_share(truth: np.ndarray, image: np.ndarray, head: np.ndarray) -> float:
    """The image-derived R² as a share of the regression head's on the same subjects."""
    reference = metrics.r2(truth, head)
    if reference <= 0:
        raise metrics.UndefinedMetricError("the regression head's R² is not positive: no share of it to give")
    return metrics.r2(truth, image) / reference


def _share_ci(truth: np.ndarray, image: np.ndarray, head: np.ndarray, config) -> list[float] | None:
    try:
        ci = metrics.bootstrap_ci(r2_share, truth, image, head, n_resamples=config.bootstrap_resamples,
                                  seed=config.seed)
    except metrics.UndefinedMetricError:
        return None
    return [ci.low, ci.high]


def _mean_dicts(dicts: list[dict[str, float]]) -> dict[str, float]:
    return {key: float(np.mean([d[key] for d in dicts])) for key in dicts[0]}


def _ci(per_subject: np.ndarray, config) -> list[float]:
    ci = metrics.bootstrap_ci(np.mean, per_subject, n_resamples=config.bootstrap_resamples, seed=config.seed)
    return [ci.low, ci.high]


def evaluate_generative(run: Run) -> dict | None:
    """The ``generative`` section of results.json, or None when the generative stages have not run."""
    models = GenerativeModels.load(run)
    if models is None:
        return None
    reference = TrainingReference(run, models)
    settings = sampler_settings(run)
    out = {"settings": {"sampler": vars(settings) | {"seed": "0..seeds-1"}, "seeds": run.config.generative_eval.seeds,
                        "told_scanner": models.scanner_adapter is not None}}
    for split, name in SPLIT_NAMES.items():
        out[name] = score_split(run, models, reference, split)
    out["checks"] = generative_checks(out)
    return out


def generative_checks(results: dict) -> dict:
    """The issue's acceptance targets, computed from the scores (not typed in)."""
    checks = {}
    for split in SPLIT_NAMES.values():
        s = results[split]["scores"]
        ratio = results[split]["mar_to_head_r2_ratio"]
        dice = results[split]["segmenter_dice"]
        checks[split] = {
            "mar_beats_mean_and_retrieval_ssim": all(s["mar"]["ssim"] > s[b]["ssim"]
                                                     for b in ("population_mean", "retrieval")),
            "mar_beats_mean_and_retrieval_psnr": all(s["mar"]["psnr_db"] > s[b]["psnr_db"]
                                                     for b in ("population_mean", "retrieval")),
            "mar_frechet_below_regression_decoder": s["mar"]["frechet"] < s["regression_decoder"]["frechet"],
            "image_r2_at_least_80_percent_of_head": all(r is not None and r >= 0.8 for r in ratio.values()),
            "segmenter_dice_at_least_0_90": all((dice[c] or 0) >= 0.9 for c in ("lv_blood_pool", "lv_myocardium")),
            "tokenizer_psnr_at_least_30_db": results[split]["tokenizer_psnr_db"] >= 30.0,
        }
    return checks


MODEL_ROLES = {
    "mar": "MAR + diffusion head, residual over the regression decoder (mean over its samples' scores)",
    "population_mean": "mean training cine",
    "retrieval": "nearest training cine by generator condition",
    "regression_decoder": "latent regressed from the condition (MSE), decoded",
    SAMPLE_MEAN: "pixel mean of the MAR's samples (an average, not a generated cine)",
}


def told_scanner_sentence(whose: str) -> str:
    return (f"The MAR and the regression decoder are told the scanner of each {whose}: the scanner adapter "
            "(`python -m training scanner-adapter`) adds what imaging on it changes to their latents. The other "
            "baselines are cines, not models of the latent, and are not told.")


def generative_markdown(results: dict) -> str:
    splits = [split for split in SPLIT_NAMES.values() if split in results]
    sampler = results["settings"]["sampler"]
    counts = ", ".join(f"{split} {results[split]['subjects']}" for split in splits)
    lines = ["# Results: generated cines", "",
             "Every generated cine is SYNTHETIC. On the virtual cohort: research use, not for diagnosis.", "",
             *([f"Produced by `{results['command']}`.", ""] if "command" in results else []),
             f"Subjects per split: {counts} (the first of each "
             f"test split). The MAR draws {results['settings']['seeds']} samples per subject with "
             f"{sampler['autoregressive_steps']} autoregressive steps, {sampler['diffusion_steps']} diffusion steps "
             f"(eta {sampler['eta']}), CFG {sampler['cfg_scale']}, temperature {sampler['temperature']}, "
             f"residual scale {sampler.get('residual_scale', 1.0)}. SSIM and "
             "PSNR are per frame and view against the true cine, then averaged (MAR: over its samples too); 95 % "
             "bootstrap CIs over subjects. Fréchet distance: CMR-encoder features of generated vs true cines of the "
             "same subjects. Diversity: pixel SD between a subject's samples. Image R²: phenotypes measured by the "
             "segmenter on the generated cines (MAR: the mean over samples) against the truth.", "",
             *([told_scanner_sentence("subject's site"), ""] if results["settings"].get("told_scanner") else []),
             "| model | role | " + " | ".join(f"{m} ({s})" for m in ("SSIM", "PSNR dB", "Fréchet", "R² LVEDV",
                                                                          "R² LVEF") for s in splits) + " |",
             "|---|---|" + "---|" * 5 * len(splits)]
    for name in (*GENERATIVE_MODELS, SAMPLE_MEAN):
        cells = []
        for key in ("ssim", "psnr_db", "frechet", "r2_lvedv", "r2_lvef"):
            for split in splits:
                s = results[split]["scores"][name]
                value, ci = s[key], s.get(f"{key}_ci")
                digits = 2 if key in ("psnr_db", "frechet") else 3
                cells.append("-" if value is None else (f"{value:.{digits}f} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]"
                                                        if ci else f"{value:.{digits}f}"))
        lines.append(f"| {name} | {MODEL_ROLES[name]} | " + " | ".join(cells) + " |")
    lines += ["", "| | " + " | ".join(splits) + " |", "|---|" + "---|" * len(splits)]
    rows = {
        "regression head R² LVEDV / LVEF": lambda r: "{:.3f} / {:.3f}".format(
            r["regression_head_r2"]["lvedv_ml"], r["regression_head_r2"]["lvef_pct"]),
        "MAR image R² as a share of the head's (LVEDV / LVEF) [95 % CI]": lambda r: " / ".join(
            "-" if v is None else f"{v:.0%}" + _share_interval(r.get("mar_to_head_r2_ratio_ci", {}).get(key))
            for key, v in r["mar_to_head_r2_ratio"].items()),
        "image R² of the true cines (the segmenter's ceiling), LVEDV / LVEF": lambda r: "{:.3f} / {:.3f}".format(
            r["true_cine_image_r2"]["lvedv_ml"], r["true_cine_image_r2"]["lvef_pct"]),
        "PSNR dB after a per-cine intensity fit to the truth (anatomy, not contrast): MAR / population mean / "
        "regression decoder": lambda r: " / ".join(
            f"{r['scores'][m]['psnr_db_matched']:.2f}" if "psnr_db_matched" in r["scores"][m] else "-"
            for m in ("mar", "population_mean", "regression_decoder")),
        "MAR diversity (pixel SD between samples)": lambda r: f"{r['scores']['mar']['diversity']:.4f}",
        "tokenizer reconstruction PSNR (dB)": lambda r: f"{r['tokenizer_psnr_db']:.2f}",
        "segmenter Dice: LV pool / myocardium / RV / LA / RA": lambda r: " / ".join(
            "-" if v is None else f"{v:.3f}" for v in r["segmenter_dice"].values()),
        "SSIM per view (MAR): sax / 4ch": lambda r: " / ".join(
            f"{v:.3f}" for v in r["scores"]["mar"]["ssim_per_view"].values()),
    }
    for label, cell in rows.items():
        lines.append(f"| {label} | " + " | ".join(cell(results[s]) for s in splits) + " |")
    lines += ["", "Uncertainty: the regression head is flagged when it lies more than 2 combined SDs (spread of the "
              "MAR's samples, the image measurement's own residual SD) from the image-derived mean.", "",
              "| split | phenotype | mean spread | flagged | head error flagged | head error not flagged |",
              "|---|---|---|---|---|---|"]
    for split in splits:
        for phenotype, u in results[split]["scores"]["mar"]["uncertainty"].items():
            lines.append(f"| {split} | {phenotype} | {u['mean_spread']:.2f} | {u['flagged_share']:.0%} | "
                         + " | ".join("-" if u[k] is None else f"{u[k]:.2f}"
                                      for k in ("head_abs_error_flagged", "head_abs_error_unflagged")) + " |")
    lines += ["", "Checks against the issue's targets:", ""]
    for split, checks in results["checks"].items():
        lines.append(f"- **{split}**: " + "; ".join(f"{name.replace('_', ' ')}: {'met' if ok else 'NOT met'}"
                                                    for name, ok in checks.items()))
    return "\n".join(lines) + "\n"

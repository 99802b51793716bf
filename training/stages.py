"""The predictive training stages, in the order the paper uses them, each reading and writing folders under the run
(`training.pipeline` runs them by name, with the generative stages and the evaluations):

    data          simulate the virtual cohort's regimes and prepare them (skipped when already there)
    pretrain-ecg  masked autoencoder on every training-site ECG         -> RUN/pretrain_ecg/encoder
    pretrain-cmr  masked autoencoder on the paired cines                -> RUN/pretrain_cmr/encoder
    align         ECG encoder against the frozen CMR encoder            -> RUN/align/encoder
    finetune      predictor heads from each encoder (aligned, MAE-only, scratch) and the CMR upper bound
                                                                        -> RUN/finetune/<variant>
    rhythm        the AF call from the RR series and the P wave (training/rhythm.py) -> RUN/rhythm/model
    tokenizer, segmenter, generator, scanner-adapter: the generative stages, in training/generative.py
    evaluate      every model and the cart-measurement baseline on the internal and external tests
                                                                        -> docs/results.md, docs/results.json
    evaluate-generative  the generators only, replacing that section of an existing results.json
    site-shift    the generators on new subjects imaged with one external-site difference at a time
                  (training/site_shift.py), added to an existing results.json
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from cardionets.device import autocast
from cardionets.models.alignment import AlignmentConfig, ECGCMRAlignment
from cardionets.models.cmr_encoder import CMREncoder, CMREncoderConfig, CMRMaskedAutoencoder, CMRMaskedAutoencoderConfig
from cardionets.models.ecg_encoder import ECGEncoder, ECGEncoderConfig, ECGMaskedAutoencoder, ECGMaskedAutoencoderConfig
from cardionets.models.predictor import CardioNetsPredictor, PredictorConfig
from cardionets.sim.cohort import CohortConfig
from cardionets.sim.dataset import write_cohort
from cardionets.sim.sites import DEFAULT_SITES, SITES, Site, random_scanner, registered_sites

from .config import DataConfig
from .data.prepared import PreparedDataset
from .data.virtual import prepare_virtual
from .datasets import ConcatECG, PreparedTorchDataset, WithFeatures
from .distributed import barrier
from .run import (
    FINETUNE_VARIANTS,
    GENERATOR_EXTRA,
    GENERATOR_SCANNERS,
    REGIMES,
    SCANNERS_FILE,
    VALIDATION_SHARE,
    Run,
    split_indices,
)
from .trainer import train


def make_data(run: Run, regimes: tuple[str, ...] | None = None, with_cmr: bool = True) -> None:
    """Simulate and prepare each regime once (``regimes``: only these); later runs (and other ranks) reuse the
    folders. Without ``with_cmr`` every regime is simulated ECG-only (the same subjects, minutes instead of
    hours: what `training.covariate_heads` needs)."""
    data = run.config.data
    if run.context.is_main:
        sizes = {regime: getattr(data, regime) for regime in (*REGIMES, GENERATOR_EXTRA, GENERATOR_SCANNERS)}
        unknown = set(regimes or ()) - set(sizes)
        if unknown:
            raise ValueError(f"unknown regimes {sorted(unknown)}; the regimes are {list(sizes)}")
        for offset, (regime, n) in enumerate(sizes.items()):  # the offset seeds each regime: keep the order
            if n == 0 or (regimes and regime not in regimes):
                continue
            out, cmr = Path(data.root) / regime, with_cmr and regime != "ecg_only"
            # A folder prepared before label masks were stored is prepared again (from the kept cohort).
            if (out / "schema.json").exists() and (not cmr or (out / "masks.npy").exists()):
                continue
            seed, cohort_dir = data.seed * 100 + offset, Path(data.root) / "cohorts" / regime
            if regime == GENERATOR_SCANNERS:
                make_many_scanner_pairs(cohort_dir, out, n, data, seed)
            else:
                sites = (data.external_site,) if regime == "external_test" else DEFAULT_SITES
                cohort = CohortConfig(seed=seed, sites=tuple(sites), n_frames=data.n_frames, with_cmr=cmr)
                workers = data.workers or os.cpu_count() or 1
                write_cohort(cohort_dir, n, cohort, workers=workers, progress=False)
                prepare_virtual(cohort_dir, out, with_cine=cmr, workers=workers)
            run.log.write(stage="data", regime=regime, subjects=n)
    barrier(run.context)


def make_many_scanner_pairs(cohort_dir: Path, out: Path, subjects: int, data: DataConfig, seed: int) -> None:
    """``subjects`` ECG-CMR pairs spread over ``data.scanner_count`` scanners drawn from SCANNER_RANGES, each with
    a training site's cart (in turn), prepared into ``out`` with the scanners' properties in SCANNERS_FILE."""
    rng = np.random.default_rng(seed)
    sites = [Site(f"drawn-scanner-{k:03d}", SITES[DEFAULT_SITES[k % len(DEFAULT_SITES)]].ecg, random_scanner(rng))
             for k in range(data.scanner_count)]
    cohort = CohortConfig(seed=seed, sites=tuple(site.name for site in sites), n_frames=data.n_frames)
    with registered_sites(sites):  # the drawn sites exist only in this process, hence one worker
        write_cohort(cohort_dir, subjects, cohort, workers=1, progress=False)
        prepare_virtual(cohort_dir, out, with_cine=True, workers=1)
    (out / SCANNERS_FILE).write_text(json.dumps({site.name: asdict(site.scanner) for site in sites}, indent=1))


def _pretrain(run: Run, modality: str) -> Path:
    """Masked-autoencoder pretraining of one encoder; ``modality`` is "ecg" or "cmr"."""
    config = run.config
    if modality == "ecg":
        dataset = ConcatECG([run.prepared(r) for r in ("ecg_only", "paired", "downstream")])
        mae = ECGMaskedAutoencoder(ECGMaskedAutoencoderConfig(encoder=ECGEncoderConfig(**config.models.ecg_encoder)))
        key, optim = "ecg", config.pretrain_ecg
    else:
        dataset = PreparedTorchDataset(run.prepared("paired"), with_cine=True)
        mae = CMRMaskedAutoencoder(CMRMaskedAutoencoderConfig(encoder=CMREncoderConfig(**config.models.cmr_encoder)))
        key, optim = "cine", config.pretrain_cmr
    stage = run.stage_dir(f"pretrain_{modality}")
    result = train(mae, lambda model, batch: model.loss(batch[key]), dataset, optim, stage / "checkpoint",
                   f"pretrain-{modality}", run.log, run.context, run.device, config.seed)
    return finish_stage(run, stage, mae.encoder, result)


def pretrain_ecg(run: Run) -> Path:
    return _pretrain(run, "ecg")


def pretrain_cmr(run: Run) -> Path:
    return _pretrain(run, "cmr")


def align(run: Run) -> Path:
    config = run.config
    paired = run.prepared("paired")
    ecg_encoder = ECGEncoder.from_pretrained(run.stage_dir("pretrain_ecg") / "encoder")
    cmr_encoder = CMREncoder.from_pretrained(run.stage_dir("pretrain_cmr") / "encoder")
    mean, std = _phenotype_statistics(paired)
    settings = config.alignment
    model = ECGCMRAlignment(AlignmentConfig(
        ecg_encoder=ecg_encoder.config, cmr_encoder=cmr_encoder.config, embedding_dim=settings.embedding_dim,
        n_phenotypes=len(paired.schema.phenotypes), temperature=settings.temperature,
        negative_weighting=settings.negative_weighting, phenotype_weight=settings.phenotype_weight,
    ))
    model.ecg_encoder.load_state_dict(ecg_encoder.state_dict())
    model.cmr_encoder.load_state_dict(cmr_encoder.state_dict())
    mean_t, std_t = torch.tensor(mean), torch.tensor(std)
    cmr_features = _cmr_features(model, paired, run.device)

    def loss(model, batch):
        standardised = (batch["phenotypes"] - mean_t.to(batch["ecg"].device)) / std_t.to(batch["ecg"].device)
        return model.loss(batch["ecg"], batch["cmr_features"], standardised)

    stage = run.stage_dir("align")
    dataset = WithFeatures(PreparedTorchDataset(paired), cmr_features)
    result = train(model, loss, dataset, config.align, stage / "checkpoint", "align", run.log, run.context,
                   run.device, config.seed)
    return finish_stage(run, stage, model.ecg_encoder, result)


def _cmr_features(model: ECGCMRAlignment, paired: PreparedDataset, device: torch.device,
                  batch_size: int = 64) -> torch.Tensor:
    """(N, D) frozen CMR features of every paired cine, on the CPU, in dataset order."""
    model.to(device).eval()
    cines = PreparedTorchDataset(paired, with_cine=True)
    features = []
    for start in range(0, len(cines), batch_size):
        batch = torch.stack([cines[i]["cine"] for i in range(start, min(start + batch_size, len(cines)))])
        with autocast(device):
            features.append(model.cmr_features(batch.to(device)).float().cpu())
    return torch.cat(features)


def finetune(run: Run, variants: tuple[str, ...] = tuple(FINETUNE_VARIANTS)) -> dict[str, Path]:
    """Train the predictor from each starting encoder with the same data and budget, then calibrate it."""
    from .calibration import calibrate

    config = run.config
    downstream = run.prepared("downstream")
    train_idx, val_idx = split_indices(len(downstream), VALIDATION_SHARE, config.seed)
    mean, std = _phenotype_statistics(downstream, train_idx)
    diseases = tuple(label.removeprefix("label_") for label in downstream.schema.labels)
    out = {}
    for variant in variants:
        kind, source = FINETUNE_VARIANTS[variant]
        torch.manual_seed(config.seed)
        encoder_cls = ECGEncoder if kind == "ecg" else CMREncoder
        encoder_overrides = config.models.ecg_encoder if kind == "ecg" else config.models.cmr_encoder
        start = encoder_cls.from_pretrained(run.stage_dir(source) / "encoder") if source else None
        encoder_config = start.config if start else (
            ECGEncoderConfig(**encoder_overrides) if kind == "ecg" else CMREncoderConfig(**encoder_overrides))
        predictor = CardioNetsPredictor(PredictorConfig(
            encoder_kind=kind, **{f"{kind}_encoder": encoder_config},
            phenotypes=downstream.schema.phenotypes, phenotype_mean=tuple(mean), phenotype_std=tuple(std),
            diseases=diseases,
        ))
        if start is not None:
            predictor.encoder.load_state_dict(start.state_dict())
        key = "ecg" if kind == "ecg" else "cine"
        dataset = PreparedTorchDataset(downstream, train_idx, with_cine=kind == "cmr")
        stage = run.stage_dir("finetune") / variant
        optim = config.finetune_cmr if kind == "cmr" and config.finetune_cmr else config.finetune
        lr_scales = {predictor.encoder: optim.pretrained_encoder_lr_scale} if start is not None else None
        result = train(predictor, lambda model, batch, key=key: model.loss(batch[key], batch["phenotypes"],
                                                                             batch["labels"]),
                       dataset, optim, stage / "checkpoint", f"finetune-{variant}", run.log, run.context,
                       run.device, config.seed, lr_scales=lr_scales)
        if run.context.is_main:
            calibrate(predictor, PreparedTorchDataset(downstream, val_idx, with_cine=kind == "cmr"), key,
                      run.device).save_pretrained(stage / "model")
            run.log.write(stage=f"finetune-{variant}", done=True, epoch_losses=result.epoch_losses,
                          seconds=result.seconds)
        out[variant] = stage / "model"
    barrier(run.context)
    return out


def recalibrate(run: Run) -> None:
    """Refit every fine-tuned model's temperatures and thresholds on the validation share, in place."""
    from .calibration import calibrate

    downstream = run.prepared("downstream")
    _, val_idx = split_indices(len(downstream), VALIDATION_SHARE, run.config.seed)
    for variant, (kind, _) in FINETUNE_VARIANTS.items():
        folder = run.stage_dir("finetune") / variant / "model"
        if run.context.is_main and folder.is_dir():
            key = "ecg" if kind == "ecg" else "cine"
            calibrate(CardioNetsPredictor.from_pretrained(folder),
                      PreparedTorchDataset(downstream, val_idx, with_cine=kind == "cmr"), key,
                      run.device).save_pretrained(folder)
            run.log.write(stage=f"calibrate-{variant}", done=True)
    barrier(run.context)


def _phenotype_statistics(prepared: PreparedDataset, indices: np.ndarray | None = None) -> tuple[list, list]:
    values = prepared.phenotypes if indices is None else prepared.phenotypes[indices]
    mean = np.nanmean(values, axis=0)
    std = np.nanstd(values, axis=0)
    return np.nan_to_num(mean).tolist(), np.where(np.nan_to_num(std) > 1e-6, np.nan_to_num(std), 1.0).tolist()


def finish_stage(run: Run, stage: Path, model, result, folder: str = "encoder") -> Path:
    """Save the stage's product to ``stage/folder`` (on the main rank) and log that the stage is done."""
    if run.context.is_main:
        model.save_pretrained(stage / folder)
        run.log.write(stage=stage.name, done=True, epoch_losses=result.epoch_losses, seconds=result.seconds,
                      resumed_from_epoch=result.resumed_from_epoch)
    barrier(run.context)
    return stage / folder

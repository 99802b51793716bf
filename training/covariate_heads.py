"""The covariate head (`cardionets.models.predictor.CovariateHead`): the predictor's reported outputs from its ECG
embedding together with age, sex, BSA and the cart's measurements (`cardionets.covariates`), and split-conformal
prediction intervals for every phenotype.

    python -m training covariate-heads      # a stage of a run, over RUN/finetune/aligned/model
    python -m training.covariate_heads --bundle weights [--config training/configs/default.yaml] [--out docs]
        # standalone, on a bundle: the recipe's downstream and test regimes simulated again ECG-only (the same
        # subjects and seeds; today's simulator), the head added to the bundle's predictor, the bundle re-sealed

The fine-tuned encoder stays as it is: its embeddings are computed once and the head trains on them (AdamW, early
stopping on an inner share of the training split), each patient field hidden at random (HIDE_PATIENT_FIELD) so
that the missing-value path is learnt, as a file without age, sex or height needs. The calibration split (the 20 %
fine-tuning never saw) then fits the temperatures and operating thresholds as for any predictor
(`training.calibration`) and the conformal half-widths: for coverage 1 - a, the ceil((n + 1)(1 - a))-th smallest
absolute residual there, which covers a new subject drawn like them with probability at least 1 - a.

Both test splits score three models on the same subjects: the head, the ECG-only heads it sits beside, and the
cart + age, sex, BSA baseline (`training.evaluate.CartMeasurementBaseline`), by phenotype group and over the 18
non-segmental outputs, with bootstrap CIs; the intervals' coverage; and each call's stated sensitivity and
specificity against the Wilson CI measured on the split. Written to the ``covariate_heads`` section of
results.json (and results.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from cardionets import metrics
from cardionets.bundle import Manifest, seal
from cardionets.covariates import COVARIATES, PATIENT_FIELDS
from cardionets.models.predictor import CardioNetsPredictor

from .calibration import calibrate
from .config import load_config, to_dict
from .data.prepared import PreparedDataset
from .datasets import PreparedTorchDataset, covariate_matrix
from .distributed import Context
from .evaluate import SPLITS, CartMeasurementBaseline, score_split, write_results_section
from .predictions import collect_from_embeddings
from .run import VALIDATION_SHARE, Run, split_indices

SECTION = "covariate_heads"
COVERAGES = (0.8, 0.95)
HIDE_PATIENT_FIELD = 0.2  # per field and training example: files often lack height and weight, some age or sex
INNER_VALIDATION = 0.15  # of the training split, for early stopping (the calibration split stays untouched)
MODELS = ("covariate_head", "ecg_only_heads", "cart_age_sex_bsa")
# ECG-only subjects cost milliseconds, so the standalone head learns from more of them than the recipe's 2000: its
# calibration split (20 %) then holds 1600 subjects, enough for a 95 % conformal quantile and each call's figures
# to stay put from one draw to the next (400 left the 95 % intervals covering 91-97 % of test subjects).
DOWNSTREAM = 8000


@dataclass(frozen=True)
class HeadTraining:
    hidden_dim: int = 256
    dropout: float = 0.3
    lr: float = 1e-3
    weight_decay: float = 1e-3
    batch_size: int = 64
    max_epochs: int = 300
    patience: int = 30  # epochs without a better inner-validation loss


def embeddings(predictor: CardioNetsPredictor, prepared: PreparedDataset, device: torch.device,
               batch_size: int = 128) -> np.ndarray:
    """(N, E) float32: the encoder's embedding of every ECG of ``prepared``."""
    predictor.eval().to(device)
    chunks = []
    with torch.inference_mode():
        for batch in DataLoader(PreparedTorchDataset(prepared), batch_size=batch_size):
            chunks.append(predictor.encoder.embed(batch["ecg"].to(device)).float().cpu().numpy())
    return np.concatenate(chunks)


def with_new_covariate_head(predictor: CardioNetsPredictor, covariates: np.ndarray,
                            settings: HeadTraining) -> CardioNetsPredictor:
    """A copy of ``predictor`` with an untrained covariate head, standardising by ``covariates`` (the training
    split's)."""
    mean, std = np.nanmean(covariates, axis=0), np.nanstd(covariates, axis=0)
    mean = np.nan_to_num(mean)
    male = covariates[:, COVARIATES.index("male")]
    by_sex = []  # women's, men's: what an unknown value stands in for (`CardioNetsPredictor._fill`)
    for sex in (0.0, 1.0):
        sex_mean = _nanmean(covariates[male == sex])
        by_sex.append(tuple(float(v) for v in np.where(np.isfinite(sex_mean), sex_mean, mean)))
    config = dataclasses.replace(
        predictor.config, covariates=COVARIATES, covariate_mean=tuple(float(v) for v in mean),
        covariate_std=tuple(float(v) if v > 1e-6 else 1.0 for v in np.nan_to_num(std)),
        covariate_mean_by_sex=tuple(by_sex),
        covariate_dropout=settings.dropout, covariate_hidden_dim=settings.hidden_dim, phenotype_interval=None)
    model = CardioNetsPredictor(config)
    kept = {key: value for key, value in predictor.state_dict().items()
            if not key.startswith("covariate_")}  # an earlier head is replaced, not continued
    missing, unexpected = model.load_state_dict(kept, strict=False)
    if unexpected or any(not key.startswith("covariate_") for key in missing):
        raise ValueError(f"the predictor's weights do not fit: missing {missing}, unexpected {unexpected}")
    return model


def _nanmean(rows: np.ndarray) -> np.ndarray:
    """Column means ignoring NaN; NaN for a column (or a set of rows) without any value."""
    known = np.isfinite(rows)
    counts = known.sum(axis=0)
    return np.where(counts > 0, np.where(known, rows, 0.0).sum(axis=0) / np.maximum(counts, 1), np.nan)


def ecg_only(predictor: CardioNetsPredictor) -> CardioNetsPredictor:
    """``predictor`` without its covariate head (itself when it has none): the ECG-only heads' outputs."""
    if predictor.covariate_head is None:
        return predictor
    model = CardioNetsPredictor(dataclasses.replace(predictor.config, covariates=(), covariate_mean=(),
                                                    covariate_std=(), covariate_mean_by_sex=(),
                                                    phenotype_interval=None))
    model.load_state_dict({key: value for key, value in predictor.state_dict().items()
                           if not key.startswith("covariate_")})
    return model


def train_covariate_head(model: CardioNetsPredictor, embedding: np.ndarray, covariates: np.ndarray,
                         phenotypes: np.ndarray, labels: np.ndarray, settings: HeadTraining, seed: int,
                         device: torch.device) -> dict:
    """Train ``model.covariate_head`` in place on these rows (the training split); returns the loss history."""
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    order = rng.permutation(len(embedding))
    n_inner = max(1, int(round(INNER_VALIDATION * len(order))))
    inner, rows = order[:n_inner], order[n_inner:]
    tensors = [torch.as_tensor(a, dtype=torch.float32, device=device)
               for a in (embedding, covariates, phenotypes, labels)]
    model.to(device)
    for parameter in model.parameters():
        parameter.requires_grad_(False)
    head = model.covariate_head
    for parameter in head.parameters():
        parameter.requires_grad_(True)
    optimiser = torch.optim.AdamW(head.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    patient_columns = torch.tensor([COVARIATES.index(name) for name in PATIENT_FIELDS], device=device)

    def loss_of(index: np.ndarray, hide: bool) -> torch.Tensor:
        emb, cov, phen, lab = (t[torch.as_tensor(index, device=device)] for t in tensors)
        if hide:  # the missing-value path: each patient field hidden in some examples
            hidden = torch.zeros_like(cov, dtype=torch.bool)
            hidden[:, patient_columns] = torch.rand(len(cov), len(patient_columns), device=device) < HIDE_PATIENT_FIELD
            cov = cov.masked_fill(hidden, float("nan"))
        return model.heads_loss(model.heads(emb, cov), phen, lab)

    best, best_state, history, since_best = math.inf, None, [], 0
    for _ in range(settings.max_epochs):
        head.train()
        for batch in np.array_split(rng.permutation(rows), max(1, len(rows) // settings.batch_size)):
            loss = loss_of(batch, hide=True)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        head.eval()
        with torch.no_grad():
            validation = float(loss_of(inner, hide=False))
        history.append(validation)
        if validation < best - 1e-4:
            best, since_best = validation, 0
            best_state = {key: value.detach().clone() for key, value in head.state_dict().items()}
        else:
            since_best += 1
            if since_best >= settings.patience:
                break
    head.load_state_dict(best_state)
    model.eval()
    return {"inner_validation_loss": history, "best_epoch": int(np.argmin(history)) + 1, "best_loss": best}


def conformal_half_widths(predicted: np.ndarray, targets: np.ndarray,
                          coverages: tuple[float, ...] = COVERAGES) -> dict[str, tuple[float, ...]]:
    """{coverage: half-width per column}: split-conformal quantiles of the absolute residuals on a calibration
    set (NaN targets left out; fewer cases than the coverage needs give an infinite width)."""
    out = {}
    for coverage in coverages:
        widths = []
        for column in range(targets.shape[1]):
            known = np.isfinite(targets[:, column])
            residuals = np.sort(np.abs(targets[known, column] - predicted[known, column]))
            rank = math.ceil((len(residuals) + 1) * coverage)
            widths.append(float(residuals[rank - 1]) if 0 < rank <= len(residuals) else math.inf)
        out[f"{coverage:g}"] = tuple(widths)
    return out


def interval_coverage(predicted: np.ndarray, targets: np.ndarray, half_widths: dict[str, tuple[float, ...]],
                      phenotypes: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """{coverage: {phenotype: share of subjects whose true value lies inside the interval}}."""
    out = {}
    for coverage, widths in half_widths.items():
        inside = np.abs(targets - predicted) <= np.asarray(widths)
        known = np.isfinite(targets)
        out[coverage] = {name: float(inside[known[:, c], c].mean()) for c, name in enumerate(phenotypes)
                         if known[:, c].any()}
    return out


def stated_versus_measured(model: CardioNetsPredictor, out: dict) -> dict[str, dict]:
    """Each call's stated sensitivity and specificity (from the calibration split) against the Wilson CIs of the
    ones its threshold reaches on ``out``'s subjects."""
    config, rows = model.config, {}
    for column, name in enumerate(config.disease_outputs):
        y, p = out["disease_targets"][:, column], out["disease_probabilities"][:, column]
        known = np.isfinite(y)
        if column >= len(config.disease_threshold) or len(np.unique(y[known])) < 2:
            continue
        called, truth = p[known] >= config.disease_threshold[column], y[known] == 1
        sensitivity = metrics.wilson_ci(int((called & truth).sum()), int(truth.sum()))
        specificity = metrics.wilson_ci(int((~called & ~truth).sum()), int((~truth).sum()))
        stated = config.disease_sensitivity[column], config.disease_specificity[column]
        rows[name] = {
            "stated_sensitivity": stated[0], "sensitivity": sensitivity.point,
            "sensitivity_ci": [sensitivity.low, sensitivity.high],
            "stated_specificity": stated[1], "specificity": specificity.point,
            "specificity_ci": [specificity.low, specificity.high],
            "stated_inside_ci": stated[0] is not None and sensitivity.low <= stated[0] <= sensitivity.high,
        }
    return rows


def fit_and_score(predictor: CardioNetsPredictor, run: Run, downstream: PreparedDataset,
                  tests: dict[str, PreparedDataset], settings: HeadTraining = HeadTraining()) -> tuple:
    """(the predictor with a trained, calibrated covariate head and its intervals, the results section)."""
    started = time.perf_counter()
    seed, device = run.config.seed, run.device
    train_idx, val_idx = split_indices(len(downstream), VALIDATION_SHARE, seed)
    covariates = covariate_matrix(downstream)
    embedding = embeddings(predictor, downstream, device)
    model = with_new_covariate_head(predictor, covariates[train_idx], settings)
    history = train_covariate_head(model, embedding[train_idx], covariates[train_idx],
                                   downstream.phenotypes[train_idx], downstream.labels[train_idx], settings, seed,
                                   device)
    model = calibrate(model, PreparedTorchDataset(downstream, val_idx, covariates=covariates), "ecg", device)
    on_validation = collect_from_embeddings(model, embedding[val_idx], covariates[val_idx],
                                            downstream.phenotypes[val_idx], downstream.labels[val_idx], device)
    widths = conformal_half_widths(on_validation["phenotypes"], on_validation["phenotype_targets"])
    model.config.phenotype_interval = widths
    baseline = CartMeasurementBaseline(model.config.diseases).fit(downstream, train_idx)
    phenotypes, n_resamples = model.config.phenotypes, run.config.bootstrap_resamples
    section = {"training": {"subjects": len(train_idx), "calibration_subjects": len(val_idx), **history,
                            "settings": dataclasses.asdict(settings), "hide_patient_field": HIDE_PATIENT_FIELD},
               "covariates": list(COVARIATES), "phenotypes": list(phenotypes),
               "diseases": list(model.config.disease_outputs), "splits": {}}
    for split, prepared in tests.items():
        test_covariates, test_embedding = covariate_matrix(prepared), embeddings(predictor, prepared, device)
        targets = (prepared.phenotypes, prepared.labels)
        outputs = {
            "covariate_head": collect_from_embeddings(model, test_embedding, test_covariates, *targets, device),
            "ecg_only_heads": collect_from_embeddings(ecg_only(predictor), test_embedding, None, *targets, device),
            "cart_age_sex_bsa": baseline.predict(prepared),
        }
        scores = score_split(outputs, phenotypes, model.config.diseases, n_resamples, seed)
        section["splits"][split] = {
            "subjects": len(prepared), "scores": scores,
            "coverage": interval_coverage(outputs["covariate_head"]["phenotypes"], prepared.phenotypes, widths,
                                          phenotypes),
            "calls": stated_versus_measured(model, outputs["covariate_head"]),
            "without_patient_fields": _without_patient_fields(model, test_embedding, test_covariates, targets,
                                                              device, n_resamples, seed),
        }
    section["seconds"] = time.perf_counter() - started
    return model, section


def _without_patient_fields(model, embedding, covariates, targets, device, n_resamples, seed) -> dict:
    """The head's mean R² and AUROCs when the file gives no age, sex, height or weight (the missing path)."""
    hidden = covariates.copy()
    hidden[:, [COVARIATES.index(name) for name in PATIENT_FIELDS]] = np.nan
    out = collect_from_embeddings(model, embedding, hidden, *targets, device)
    return score_split({"covariate_head": out}, model.config.phenotypes, model.config.diseases, n_resamples,
                       seed)["covariate_head"]


# --- a stage of a run ----------------------------------------------------------------------------------------------
def covariate_heads(run: Run) -> Path:
    """Over the run's fine-tuned aligned predictor: saved to RUN/covariate_heads/model, section in results.json."""
    predictor = CardioNetsPredictor.from_pretrained(run.stage_dir("finetune") / "aligned" / "model")
    tests = {split: run.prepared(split) for split in SPLITS}
    model, section = fit_and_score(predictor, run, run.prepared("downstream"), tests)
    folder = run.stage_dir(SECTION) / "model"
    if run.context.is_main:
        model.save_pretrained(folder)
        write_results_section(run.results_dir, SECTION, section | {"command": run.command})
        run.log.write(stage=SECTION, done=True, seconds=section["seconds"])
    return folder


# --- standalone, on a bundle ---------------------------------------------------------------------------------------
def add_to_bundle(model: CardioNetsPredictor, bundle: Path, note: dict) -> Manifest:
    """``model`` saved as the bundle's predictor (its OOD reference kept), the bundle re-sealed."""
    manifest = Manifest.read(bundle)
    model.save_pretrained(bundle / "predictor", torch.float16)  # as the shipped weights are stored
    return seal(bundle, manifest.components, manifest.metadata | {SECTION: note})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.covariate_heads", description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=Path("weights"))
    parser.add_argument("--config", default="training/configs/default.yaml",
                        help="the recipe whose downstream and test regimes are simulated (ECG-only)")
    parser.add_argument("--data", default="data/covariate_heads", help="where those regimes are prepared")
    parser.add_argument("--downstream", type=int, default=DOWNSTREAM,
                        help=f"subjects of the downstream regime (default {DOWNSTREAM}; its first ones are the "
                             "recipe's own, the rest new subjects of the same seed)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="results.json / results.md folder")
    args = parser.parse_args(argv)
    from .stages import make_data

    recipe = load_config(args.config)
    config = load_config(args.config, {"output": "runs/covariate_heads", "data": {
        **to_dict(recipe)["data"], "root": args.data, "downstream": args.downstream}})
    run = Run(config, Context(), command=f"python -m training.covariate_heads --bundle {args.bundle} "
                                         f"--config {args.config}")
    make_data(run, ("downstream", *SPLITS), with_cmr=False)
    if len(run.prepared("downstream")) != args.downstream:
        raise SystemExit(f"{args.data}/downstream holds {len(run.prepared('downstream'))} subjects, not "
                         f"{args.downstream}: remove it and {args.data}/cohorts/downstream to make it again")
    predictor = CardioNetsPredictor.from_pretrained(args.bundle / "predictor")
    model, section = fit_and_score(predictor, run, run.prepared("downstream"),
                                   {split: run.prepared(split) for split in SPLITS})
    section["command"] = run.command
    add_to_bundle(model, args.bundle, {"trained_on": f"the {config.name} recipe's downstream training split, "
                                                     "simulated ECG-only again", "seconds": section["seconds"]})
    write_results_section(args.out, SECTION, section)
    print(json.dumps({split: {name: s["r2_groups"] for name, s in part["scores"].items()}
                      for split, part in section["splits"].items()}, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

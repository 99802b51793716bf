"""Evaluation on the internal test split and the held-out external site: docs/results.md and results.json.

Every model is scored on the same subjects: R2 per phenotype and its mean, AUROC and AUPRC per disease and for
any cardiomyopathy, subtype accuracy, calibration (ECE, Brier), each with 95 % bootstrap CIs over subjects, and
DeLong p-values for the any-cardiomyopathy AUROC against the best ECG baseline. The cart-measurement baseline is
ridge / logistic regression on the cart's measurements with age, sex and BSA (`cardionets.covariates`), fitted on
the downstream training split. Besides the mean over every phenotype, R² is averaged by phenotype group
(PHENOTYPE_GROUPS) and over the 18 non-segmental volume and function outputs, the headline: the 16 segmental wall
thicknesses and strains correlate about 0.95 with one another and would flatter any mean they enter.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.linear_model import LogisticRegression, RidgeCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cardionets import metrics
from cardionets.models.predictor import SUBTYPES, CardioNetsPredictor, subtype_targets, with_any_cardiomyopathy
from cardionets.sim.phenotypes import VOLUME_COLUMNS

from .covariate_report import covariate_heads_markdown
from .datasets import PreparedTorchDataset, covariate_matrix
from .evaluate_generative import evaluate_generative, generative_markdown
from .predictions import collect
from .real_ecg_report import (
    delineation_cv_markdown,
    real_ecg_summary,
    real_findings_markdown,
    real_ood_markdown,
    real_thresholds_markdown,
)
from .run import FINETUNE_VARIANTS, GENERATOR_EXTRA, VALIDATION_SHARE, Run, recipe_regimes, split_indices
from .site_shift import site_shift, site_shift_markdown

SPLITS = ("internal_test", "external_test")
SPLIT_NAMES = {"internal_test": "internal", "external_test": "external"}
ECG_BASELINES = ("scratch", "mae_only", "ridge_measurements")
HEADLINE = "18 outputs"  # the mean over VOLUME_COLUMNS: every output but the segmental walls and strains
PHENOTYPE_GROUPS = {
    "LV volumes and function": ("lvedv_ml", "lvesv_ml", "lvsv_ml", "lvef_pct", "lvco_l_min"),
    "LV mass and walls": ("lvm_g", "wt_global_mm"),
    "RV": ("rvedv_ml", "rvesv_ml", "rvsv_ml", "rvef_pct"),
    "atria": ("lav_max_ml", "lav_min_ml", "lasv_ml", "laef_pct", "rav_max_ml", "rav_min_ml", "rasv_ml", "raef_pct"),
    "strain": ("ecc_global_pct",),
}
# written by `python -m training evaluate-real`, `python -m training.tune_delineation`, `python -m cardionets.sim
# realism`
SECTIONS_OF_OTHER_COMMANDS = ("real_ecg", "real_thresholds", "delineation_cv", "realism")


def evaluate(run: Run) -> dict:
    if not run.context.is_main:
        return {}
    config = run.config
    downstream = run.prepared("downstream")
    train_idx, _ = split_indices(len(downstream), VALIDATION_SHARE, config.seed)
    diseases = tuple(label.removeprefix("label_") for label in downstream.schema.labels)
    cart_model = CartMeasurementBaseline(diseases).fit(downstream, train_idx)
    results: dict = {"predictive": {}}
    for split in SPLITS:
        prepared = run.prepared(split)
        outputs = {}
        for variant, (kind, _) in FINETUNE_VARIANTS.items():
            path = run.stage_dir("finetune") / variant / "model"
            if not path.exists():
                continue
            model = CardioNetsPredictor.from_pretrained(path)
            key = "ecg" if kind == "ecg" else "cine"
            outputs[variant] = collect(model, PreparedTorchDataset(prepared, with_cine=kind == "cmr"), key, run.device)
        outputs["ridge_measurements"] = cart_model.predict(prepared)
        results["predictive"][SPLIT_NAMES[split]] = score_split(outputs, downstream.schema.phenotypes, diseases,
                                                                config.bootstrap_resamples, config.seed)
    results["command"] = run.command
    results["phenotypes"] = list(downstream.schema.phenotypes)
    results["diseases"] = [*diseases, "any_cm"]
    results["setup"] = {
        "config": config.name, "seed": config.seed, "bootstrap_resamples": config.bootstrap_resamples,
        "regimes": {regime: len(run.prepared(regime)) for regime in recipe_regimes(config.data)},
        "external_site": config.data.external_site, "stage_seconds": stage_seconds(run.directory / "metrics.jsonl"),
    }
    results["checks"] = acceptance_checks(results["predictive"])
    generative = evaluate_generative(run)
    if generative is not None:
        generative["command"] = results["command"]
        results["generative"] = generative
    earlier = run.results_dir / "results.json"
    if earlier.is_file():  # sections other commands write (the real-ECG benchmark) outlive a re-evaluation
        results |= {name: section for name, section in json.loads(earlier.read_text()).items()
                    if name in SECTIONS_OF_OTHER_COMMANDS}
    write_results(run.results_dir, results)
    return results


def evaluate_generative_only(run: Run) -> dict:
    """Score the generators again and replace only the ``generative`` section of the run's results.json (and
    results.md, written from it): for a run restored from a bundle (`training.restore_run`), which holds the
    models the app uses but not the fine-tuned variants the predictive tables compare."""
    return _replace_section(run, "generative", evaluate_generative)


def site_shift_only(run: Run) -> dict:
    """Add (or replace) the ``site_shift`` section of the run's results.json (`training.site_shift`)."""
    return _replace_section(run, "site_shift", site_shift)


def _replace_section(run: Run, name: str, compute) -> dict:
    """results.json with section ``name`` replaced by ``compute(run)`` (None: the generators are missing)."""
    if not run.context.is_main:
        return {}
    path = run.results_dir / "results.json"
    if not path.is_file():
        raise SystemExit(f"{path} does not exist: run `python -m training evaluate` once first")
    section = compute(run)
    if section is None:
        raise SystemExit(f"the generative stages have not run in {run.directory} (see training.restore_run)")
    section["command"] = run.command
    results = json.loads(path.read_text()) | {name: section}
    write_results(run.results_dir, results)
    return results


def write_results_section(out_dir: Path, name: str, section: dict) -> None:
    """Replace the ``name`` section of ``out_dir``/results.json (made if missing), keep the others, and rewrite
    results.md from them all: how every command that measures one thing records it."""
    path = out_dir / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    write_results(out_dir, results | {name: section})


def write_results(out_dir: Path, results: dict) -> None:
    """results.json in ``out_dir``, and results.md written from it alone."""
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "results.json").write_text(json.dumps(results, indent=2))
    markdown = results_markdown(results) if "setup" in results else ""  # the virtual cohort's, when evaluated
    if "covariate_heads" in results:
        markdown += "\n" + covariate_heads_markdown(results["covariate_heads"])
    if "real_ecg" in results:
        markdown += "\n" + real_ecg_summary(results["real_ecg"])
    if "real_thresholds" in results:
        markdown += "\n" + real_thresholds_markdown(results["real_thresholds"])
    if "real_findings" in results:
        markdown += "\n" + real_findings_markdown(results["real_findings"])
    if "real_ood" in results:
        markdown += "\n" + real_ood_markdown(results["real_ood"])
    if "delineation_cv" in results:
        markdown += "\n" + delineation_cv_markdown(results["delineation_cv"])
    if "generative" in results:
        markdown += "\n" + generative_markdown(results["generative"]).replace("# Results:", "# Results, continued:", 1)
    if "site_shift" in results:
        markdown += "\n" + site_shift_markdown(results["site_shift"])
    (out_dir / "results.md").write_text(markdown)


def score_split(outputs: dict[str, dict], phenotypes, diseases, n_resamples: int, seed: int) -> dict:
    scores = {name: score_model(out, (*diseases, "any_cm"), n_resamples, seed, phenotypes)
              for name, out in outputs.items()}
    ecg_baselines = [name for name in ECG_BASELINES if name in scores and scores[name].get("auroc_any_cm") is not None]
    if ecg_baselines:
        best = max(ecg_baselines, key=lambda name: scores[name]["auroc_any_cm"])
        targets = outputs[best]["disease_targets"][:, -1]
        known = ~np.isnan(targets)
        for name, out in outputs.items():
            if name == best or scores[name].get("auroc_any_cm") is None:
                continue
            test = metrics.delong_test(targets[known], _probabilities(out)[known, -1],
                                       _probabilities(outputs[best])[known, -1])
            scores[name]["delong_any_cm_vs_best_baseline"] = {"baseline": best, "p_value": test.p_value}
    for name in scores:
        scores[name]["r2_per_phenotype"] = dict(zip(phenotypes, scores[name].pop("r2_columns")))
    return scores


def score_model(out: dict, outputs: tuple[str, ...], n_resamples: int, seed: int,
                phenotypes: tuple[str, ...] = ()) -> dict:
    """Scores of one model on one split; ``outputs`` names the disease columns (diseases, then "any_cm");
    with the ``phenotypes`` named, mean R² by group and over the 18 outputs ("r2_groups")."""
    y_pheno, p_pheno = out["phenotype_targets"], out["phenotypes"]
    usable = [c for c in range(y_pheno.shape[1]) if np.isfinite(y_pheno[:, c]).sum() > 2
              and np.nanstd(y_pheno[:, c]) > 0]
    mean_r2 = lambda y, p: float(np.mean(metrics.r2_per_column(y[:, usable], p[:, usable])))  # noqa: E731
    r2_ci = metrics.bootstrap_ci(mean_r2, y_pheno, p_pheno, n_resamples=n_resamples, seed=seed)
    columns = [float(metrics.r2(y_pheno[:, c], p_pheno[:, c])) if c in usable else None
               for c in range(y_pheno.shape[1])]
    result = {"r2_mean": r2_ci.point, "r2_mean_ci": [r2_ci.low, r2_ci.high], "r2_columns": columns}
    if phenotypes:
        result["r2_groups"] = r2_by_group(y_pheno, p_pheno, phenotypes, usable, n_resamples, seed)
    probabilities = _probabilities(out)
    targets = out["disease_targets"]
    result["diseases"] = {}
    for column in range(targets.shape[1]):
        known = ~np.isnan(targets[:, column])
        y, p = targets[known, column], probabilities[known, column]
        if y.min() == y.max():
            continue
        auc = metrics.bootstrap_ci(metrics.auroc, y, p, n_resamples=n_resamples, seed=seed, stratify=y)
        prc = metrics.bootstrap_ci(metrics.auprc, y, p, n_resamples=n_resamples, seed=seed, stratify=y)
        result["diseases"][outputs[column]] = {
            "auroc": auc.point, "auroc_ci": [auc.low, auc.high], "auprc": prc.point, "auprc_ci": [prc.low, prc.high],
            "ece": metrics.expected_calibration_error(y, p), "brier": metrics.brier(y, p), "n_positive": int(y.sum()),
        }
    any_cm = result["diseases"].get("any_cm")
    result["auroc_any_cm"] = any_cm["auroc"] if any_cm else None
    result["auroc_any_cm_ci"] = any_cm["auroc_ci"] if any_cm else None
    mask = out["subtype_mask"].astype(bool)
    if mask.any():
        truth, predicted = out["subtype_targets"][mask], out["subtype_logits"][mask].argmax(axis=1)
        accuracy = metrics.bootstrap_ci(metrics.multiclass_accuracy, truth, predicted, n_resamples=n_resamples,
                                        seed=seed, stratify=truth)
        result["subtype_accuracy"] = accuracy.point
        result["subtype_accuracy_ci"] = [accuracy.low, accuracy.high]
        result["subtype_n"] = int(mask.sum())
    return result


def r2_by_group(y: np.ndarray, p: np.ndarray, phenotypes: tuple[str, ...], usable: list[int], n_resamples: int,
                seed: int) -> dict:
    """{group: {"r2": mean R² over its columns, "ci": bootstrap CI}} for HEADLINE and each PHENOTYPE_GROUPS."""
    out = {}
    for group, names in {HEADLINE: VOLUME_COLUMNS, **PHENOTYPE_GROUPS}.items():
        columns = [phenotypes.index(n) for n in names if n in phenotypes and phenotypes.index(n) in usable]
        if not columns:
            continue
        mean_r2 = lambda a, b, c=columns: float(np.mean(metrics.r2_per_column(a[:, c], b[:, c])))  # noqa: E731
        found = metrics.bootstrap_ci(mean_r2, y, p, n_resamples=n_resamples, seed=seed)
        out[group] = {"r2": found.point, "ci": [found.low, found.high], "columns": len(columns)}
    return out


def headline_r2(scores: dict) -> tuple[float, list[float]]:
    """(mean R² over the 18 outputs, its CI) of one model's scores; the all-output mean for scores made before
    the groups were."""
    group = scores.get("r2_groups", {}).get(HEADLINE)
    return (group["r2"], group["ci"]) if group else (scores["r2_mean"], scores["r2_mean_ci"])


def acceptance_checks(predictive: dict) -> dict:
    """The comparisons the predictive issue asks for, computed from the scores (never typed in by hand)."""
    checks: dict = {}
    for split, scores in predictive.items():
        aligned, scratch = scores.get("aligned"), scores.get("scratch")
        if not aligned or not scratch:
            continue
        (aligned_r2, aligned_ci), (scratch_r2, scratch_ci) = headline_r2(aligned), headline_r2(scratch)
        gain = aligned_r2 / scratch_r2 - 1.0 if scratch_r2 > 0 else None
        baselines = {name: scores[name]["auroc_any_cm"] for name in ECG_BASELINES
                     if name in scores and scores[name].get("auroc_any_cm") is not None}
        checks[split] = {
            "r2_gain_vs_scratch": gain,
            "r2_gain_at_least_15_percent": gain is not None and gain >= 0.15,
            "r2_cis_do_not_overlap": aligned_ci[0] > scratch_ci[1],
            "auroc_any_cm_above_every_ecg_baseline": aligned["auroc_any_cm"] is not None and all(
                aligned["auroc_any_cm"] > value for value in baselines.values()),
            "best_ecg_r2_mean": max(headline_r2(scores[name])[0] for name in ("aligned", *ECG_BASELINES)
                                    if name in scores),
            "max_ece_aligned": max(d["ece"] for d in aligned["diseases"].values()),
        }
    return checks


def stage_seconds(metrics_log: Path) -> dict[str, float]:
    """Wall time of each finished stage in the run's metrics log (the last run of each)."""
    seconds: dict[str, float] = {}
    if metrics_log.is_file():
        for line in metrics_log.read_text().splitlines():
            record = json.loads(line)
            if record.get("finished") and record.get("stage") != "all":
                seconds[record["stage"]] = round(float(record["seconds"]), 1)
    return seconds


def _probabilities(out: dict) -> np.ndarray:
    if "disease_probabilities" in out:
        return out["disease_probabilities"]
    return 1.0 / (1.0 + np.exp(-out["disease_logits"]))


class CartMeasurementBaseline:
    """Ridge (phenotypes) and logistic regression (diseases, subtype) on the cart's measurements with age, sex and
    BSA (`cardionets.covariates.COVARIATES`, measured as the app measures them): the plainest honest baseline."""

    def __init__(self, diseases: tuple[str, ...]):
        self.diseases = diseases
        self._features: dict[str, np.ndarray] = {}

    def features(self, prepared) -> np.ndarray:
        """`covariate_matrix` of ``prepared``, computed once per folder."""
        key = str(prepared.directory)
        if key not in self._features:
            self._features[key] = covariate_matrix(prepared)
        return self._features[key]

    def fit(self, prepared, indices: np.ndarray) -> CartMeasurementBaseline:
        x = self.features(prepared)[indices]
        self.medians = np.nanmedian(x, axis=0)
        x = self._impute(x)
        phenotypes = prepared.phenotypes[indices]
        self.phenotype_models = []
        for column in range(phenotypes.shape[1]):
            known = np.isfinite(phenotypes[:, column])
            model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
            self.phenotype_models.append(model.fit(x[known], phenotypes[known, column]) if known.sum() > 2 else None)
        labels = with_any_cardiomyopathy_np(prepared.labels[indices], self.diseases)
        self.disease_models = []
        for column in range(labels.shape[1]):
            known = np.isfinite(labels[:, column])
            y = labels[known, column]
            usable = known.sum() > 2 and y.min() != y.max()
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            self.disease_models.append(model.fit(x[known], y) if usable else None)
        subtype, mask = _subtypes(prepared.labels[indices], self.diseases)
        self.subtype_model = None
        if mask.sum() > 3 and len(np.unique(subtype[mask])) > 1:
            model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
            self.subtype_model = model.fit(x[mask], subtype[mask])
        return self

    def predict(self, prepared) -> dict:
        x = self._impute(self.features(prepared))
        n = len(x)
        phenotypes = np.column_stack([m.predict(x) if m is not None else np.full(n, np.nan)
                                      for m in self.phenotype_models])
        probabilities = np.column_stack([m.predict_proba(x)[:, 1] if m is not None else np.full(n, 0.5)
                                         for m in self.disease_models])
        subtype, mask = _subtypes(prepared.labels, self.diseases)
        logits = np.zeros((n, len(SUBTYPES)))
        if self.subtype_model is not None:
            proba = self.subtype_model.predict_proba(x)
            logits[:, self.subtype_model.classes_.astype(int)] = np.log(np.clip(proba, 1e-9, 1))
        return {
            "phenotypes": phenotypes, "phenotype_targets": prepared.phenotypes,
            "disease_probabilities": probabilities,
            "disease_targets": with_any_cardiomyopathy_np(prepared.labels, self.diseases),
            "subtype_logits": logits, "subtype_targets": subtype, "subtype_mask": mask,
        }

    def _impute(self, x: np.ndarray) -> np.ndarray:
        return np.where(np.isnan(x), self.medians, x)


def with_any_cardiomyopathy_np(labels: np.ndarray, diseases) -> np.ndarray:
    import torch

    return with_any_cardiomyopathy(torch.from_numpy(labels), diseases).numpy()


def _subtypes(labels: np.ndarray, diseases) -> tuple[np.ndarray, np.ndarray]:
    import torch

    subtype, mask = subtype_targets(torch.from_numpy(labels), diseases)
    return subtype.numpy(), mask.numpy()


def _fmt(value, ci=None, digits=3) -> str:
    if value is None:
        return "-"
    text = f"{value:.{digits}f}"
    return f"{text} [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else text


def r2_group_table(scores: dict[str, dict]) -> list[str]:
    """Markdown lines: mean R² [95 % CI] by phenotype group (rows) for each model (columns) of one split."""
    groups = [group for group in (HEADLINE, *PHENOTYPE_GROUPS) if any(group in s.get("r2_groups", {})
                                                                      for s in scores.values())]
    if not groups:
        return []
    lines = ["Mean R² by phenotype group:", "", "| group | " + " | ".join(scores) + " |",
             "|---|" + "---|" * len(scores)]
    for group in groups:
        cells = [_fmt(g["r2"], g["ci"]) if (g := s.get("r2_groups", {}).get(group)) else "-" for s in scores.values()]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return lines


# How the CPU-scale regimes stand in for the paper's data (arXiv 2411.13602).
REGIME_ROLES = {
    "ecg_only": "ECG-only pretraining set (MIMIC-IV-ECG's role, ~800k ECGs in the paper)",
    "paired": "paired ECG-CMR set for CMR pretraining and alignment (UK Biobank's, ~40k pairs)",
    "downstream": "labelled fine-tuning set, 80 % train / 20 % calibration (the paper's downstream subsets)",
    "internal_test": "internal test: the training sites, subjects never seen in training",
    "external_test": "external test: a site held out of every training stage",
    GENERATOR_EXTRA: "extra simulated ECG-CMR pairs that only the generators (and the retrieval baseline) use",
}


def results_markdown(results: dict) -> str:
    predictive, setup = results["predictive"], results["setup"]
    splits = list(predictive)
    models = list(dict.fromkeys(name for split in splits for name in predictive[split]))
    lines = ["# Results: predictive models", "",
             "On the virtual cohort (simulated subjects, not patients): research use, not for diagnosis.", "",
             f"Produced by `{results['command']}` (config `{setup['config']}`, seed {setup['seed']}; "
             f"{setup['bootstrap_resamples']} bootstrap resamples over subjects; 95 % CIs in brackets).", "",
             "## Setup", "", "| regime | subjects | role |", "|---|---|---|"]
    lines += [f"| {regime} | {n} | {REGIME_ROLES.get(regime, '')} |" for regime, n in setup["regimes"].items()]
    lines += ["", f"External site: `{setup['external_site']}`. Every model is scored on the same subjects.", ""]
    if setup["stage_seconds"]:
        lines += ["Wall time of each stage in this run (evaluation itself is still running when this is written):",
                  "", "| stage | seconds |", "|---|---|"]
        lines += [f"| {stage} | {seconds:.0f} |" if seconds >= 1 else f"| {stage} | reused what an earlier run made |"
                  for stage, seconds in setup["stage_seconds"].items()]
        lines.append("")

    lines += ["## Summary", "", f"Mean R² over the {HEADLINE} (volumes and function: the headline) and over all "
              "52 (16 near-duplicate segmental walls and strains among them).", "",
              "| model | " + " | ".join(
        f"{label} ({split})" for label in (f"R² {HEADLINE}", "R² all 52", "any-CM AUROC", "subtype accuracy")
        for split in splits) + " |", "|---|" + "---|" * 4 * len(splits)]
    for name in models:
        cells = [_fmt(*headline_r2(predictive[split][name])) if name in predictive[split] else _fmt(None)
                 for split in splits]
        for key, ci in (("r2_mean", "r2_mean_ci"), ("auroc_any_cm", "auroc_any_cm_ci"),
                        ("subtype_accuracy", "subtype_accuracy_ci")):
            for split in splits:
                s = predictive[split].get(name, {})
                cells.append(_fmt(s.get(key), s.get(ci)))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    lines += ["", "## Checks against the issue's targets", ""]
    for split, check in results["checks"].items():
        gain = check["r2_gain_vs_scratch"]
        lines += [
            f"- **{split}**: aligned vs scratch mean R² ({HEADLINE}) "
            f"{'n/a (scratch R² ≤ 0)' if gain is None else f'{gain:+.1%}'} (target ≥ +15 %: "
            f"{'met' if check['r2_gain_at_least_15_percent'] else 'NOT met'}); 95 % CIs "
            f"{'do not overlap' if check['r2_cis_do_not_overlap'] else 'OVERLAP'}; any-CM AUROC "
            f"{'above' if check['auroc_any_cm_above_every_ecg_baseline'] else 'NOT above'} every ECG baseline; "
            f"best ECG-model mean R² {check['best_ecg_r2_mean']:.3f} (realistic range 0.2-0.6); "
            f"largest ECE of the aligned model {check['max_ece_aligned']:.3f} (target ≤ 0.05)."]
    lines.append("")

    for split in splits:
        scores = predictive[split]
        lines += [f"## {split.capitalize()} test", "",
                  "DeLong test of the any-cardiomyopathy AUROC against the best ECG baseline:", ""]
        for name, s in scores.items():
            delong = s.get("delong_any_cm_vs_best_baseline")
            if delong:
                lines.append(f"- {name} vs {delong['baseline']}: p = {delong['p_value']:.2g}")
        lines += ["", *r2_group_table(scores), "", "R² per phenotype:", "",
                  "| phenotype | " + " | ".join(scores) + " |", "|---|" + "---|" * len(scores)]
        for phenotype in results["phenotypes"]:
            lines.append(f"| {phenotype} | " + " | ".join(
                _fmt(s["r2_per_phenotype"].get(phenotype)) for s in scores.values()) + " |")
        lines += ["", "Per disease: AUROC [95 % CI] / AUPRC / ECE / Brier (positives in this split):", "",
                  "| model | " + " | ".join(results["diseases"]) + " |", "|---|" + "---|" * len(results["diseases"])]
        for name, s in scores.items():
            cells = []
            for disease in results["diseases"]:
                d = s["diseases"].get(disease)
                cells.append("-" if d is None else f"{_fmt(d['auroc'], d['auroc_ci'], 2)} / {d['auprc']:.2f} / "
                                                   f"{d['ece']:.3f} / {d['brier']:.3f} (n+ {d['n_positive']})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines) + "\n"

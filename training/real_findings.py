"""Findings learnt from real ECGs (`cardionets.models.real_findings`): prior myocardial infarction, left
ventricular hypertrophy and bundle branch blocks, from the encoder's embedding and the covariates, trained on the
labels the real development sets carry.

    python -m training.real_findings [--data ../shared/data/real-ecg] [--bundle weights] [--out docs] [--dry-run]

Records: PTB-XL and CinC 2021 (LUDB's leads were rescaled to one span, and every input here reads amplitudes);
QC-rejected ones are left out, as the app gives them no output. For each finding, a logistic regression (L2,
C = L2_C, fixed beforehand: nothing is tuned on the real sets but the threshold) separates the records with the
finding from every record without it. The threshold is the lowest that calls at most MAX_FALSE_CALL of the real
healthy adults, as for the encoder's calls (`training.real_thresholds`).

What it is worth is measured on patients it did not learn from: 5-fold cross-validation grouped by patient, each
fold's model and threshold fitted on the other folds; the pooled held-out AUROC (against healthy adults and
against every record without the finding), sensitivity and healthy false-call rate, with CIs. Those held-out
sensitivity and specificity are what the app states next to each call. The shipped model is then fitted on every
record. Writes the ``real_findings`` section of OUT/results.json (and results.md); evaluate-real's figures for
these findings are in-sample from then on, and its report says so.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold

from cardionets import metrics
from cardionets.bundle import add_component
from cardionets.covariates import COVARIATES
from cardionets.ecg import ECGError, load
from cardionets.inference import CardioNets
from cardionets.models.real_findings import RealFindingsModel, finding_features
from cardionets.preparation import prepare_ecg

from .evaluate_real import FOLDS, MAX_FALSE_CALL, RESCALED, TUNING_SETS, bundle_command_parser, real_guard, wilson_share

SECTION = COMPONENT = "real_findings"
FINDINGS = ("mi", "lvh", "lbbb", "rbbb")
L2_C = 0.05  # inverse L2 strength on standardised features (about 150 of them): fixed, not tuned on these sets
BATCH = 64


def real_inputs(model: CardioNets, table: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """(the records the models read, their encoder embeddings (N, E), their covariates (N, C)): every record
    that loads, passes the quality gate and was not rescaled."""
    kept, views, covariates = [], [], []
    for _, row in table.iterrows():
        try:
            record = load(row["record"])
        except ECGError:
            continue
        sex = row["sex"] if isinstance(row["sex"], str) else None
        age = None if pd.isna(row["age_years"]) else float(row["age_years"])
        prepared = prepare_ecg(record, sex, age, with_measurements=False)
        codes = {finding["code"] for finding in prepared.summary["qc"]["findings"]}
        if prepared.view is None or RESCALED in codes:
            continue
        kept.append(row)
        views.append(prepared.view)
        covariates.append(prepared.covariates)
    embeddings = []
    with torch.inference_mode():
        for start in range(0, len(views), BATCH):
            batch = torch.from_numpy(np.stack(views[start:start + BATCH])).to(model.device)
            embeddings.append(model.predictor.encoder.embed(batch).float().cpu().numpy())
    return pd.DataFrame(kept).reset_index(drop=True), np.concatenate(embeddings), np.stack(covariates)


def _standardisation(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    std = features.std(axis=0)
    return features.mean(axis=0), np.where(std > 1e-9, std, 1.0)


def _fit(features: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, LogisticRegression]:
    """(feature means, SDs, the logistic regression on the standardised features)."""
    mean, std = _standardisation(features)
    return mean, std, LogisticRegression(C=L2_C, max_iter=5000).fit((features - mean) / std, y)


def _scores(fitted: tuple, features: np.ndarray) -> np.ndarray:
    mean, std, model = fitted
    return model.predict_proba((features - mean) / std)[:, 1]


def out_of_fold(features: np.ndarray, table: pd.DataFrame, finding: str, folds: int = FOLDS) -> tuple:
    """(probability, call) of every record from the model and threshold of the fold that did not see its patient."""
    known = table[finding].notna().to_numpy()
    y = table[finding].fillna(0).to_numpy(int)
    healthy = (table["healthy"] == 1).to_numpy()
    probability, called = np.full(len(table), np.nan), np.zeros(len(table), dtype=bool)
    for train, test in GroupKFold(folds).split(features, groups=table["patient"]):
        train = train[known[train]]
        fitted = _fit(features[train], y[train])
        threshold = real_guard(_scores(fitted, features[train][healthy[train]]))
        probability[test] = _scores(fitted, features[test])
        called[test] = probability[test] >= threshold
    return probability, called


def cross_validated(features: np.ndarray, table: pd.DataFrame, finding: str, folds: int = FOLDS) -> dict:
    """Held-out figures of one finding, from `out_of_fold` probabilities and calls."""
    probability, called = out_of_fold(features, table, finding, folds)
    known, healthy = table[finding].notna().to_numpy(), (table["healthy"] == 1).to_numpy()
    positive = known & (table[finding] == 1).to_numpy()
    negative = known & (table[finding] == 0).to_numpy()
    return {
        "positives": int(positive.sum()), "healthy": int(healthy.sum()), "negatives": int(negative.sum()),
        "auroc_vs_healthy": _auroc(probability[positive | healthy], positive[positive | healthy]),
        "auroc_vs_all_without": _auroc(probability[positive | negative], positive[positive | negative]),
        "sensitivity": wilson_share(pd.Series(called[positive])),
        "healthy_false_calls": wilson_share(pd.Series(called[healthy])),
        "specificity_all_without": wilson_share(~pd.Series(called[negative])),
    }


def with_held_out_finding_calls(model: CardioNets, scores: pd.DataFrame, data: Path,
                                findings: list[str]) -> pd.DataFrame:
    """``scores`` (evaluate-real's rows) with each finding's call_<name> replaced by its out-of-fold call, for
    figures on patients the finding models did not learn from (records the models could not read keep none)."""
    from cardionets.ecg.real_sets import real_ecg_table

    table, embeddings, covariates = real_inputs(model, real_ecg_table(data, TUNING_SETS))
    features = finding_features(embeddings, covariates, np.asarray(model.real_findings.config.covariate_fill))
    held_out = pd.DataFrame({"record": table["record"]})
    for name in findings:
        held_out[f"call_{name}"] = out_of_fold(features, table, name)[1]
    merged = scores.drop(columns=[f"call_{name}" for name in findings]).merge(held_out, on="record", how="left")
    for name in findings:
        merged[f"call_{name}"] = merged[f"call_{name}"].astype("boolean")
    return merged


def _auroc(scores: np.ndarray, positive: np.ndarray) -> dict:
    interval = metrics.delong_ci(positive.astype(int), scores)
    return {"auroc": interval.point, "ci": [interval.low, interval.high]}


def real_findings(model: CardioNets, data: Path) -> tuple[RealFindingsModel, dict]:
    from cardionets.ecg.real_sets import real_ecg_table

    started = time.perf_counter()
    table, embeddings, covariates = real_inputs(model, real_ecg_table(data, TUNING_SETS))
    fill = np.nanmedian(covariates, axis=0)
    fill = np.where(np.isfinite(fill), fill, 0.0)
    features = finding_features(embeddings, covariates, fill)
    findings = [name for name in FINDINGS if (table[name] == 1).sum() >= 5 * FOLDS]
    held_out = {name: cross_validated(features, table, name) for name in findings}
    healthy = (table["healthy"] == 1).to_numpy()
    # Every finding is labelled on every record of these sets, so one standardisation (all records') serves all.
    mean, std = _standardisation(features)
    coefficients, intercepts, thresholds = [], [], []
    for name in findings:
        known = table[name].notna().to_numpy()
        fitted = LogisticRegression(C=L2_C, max_iter=5000).fit((features[known] - mean) / std,
                                                              table[name][known].to_numpy(int))
        coefficients.append(fitted.coef_[0])
        intercepts.append(fitted.intercept_[0])
        thresholds.append(real_guard(fitted.predict_proba((features[healthy] - mean) / std)[:, 1]))

    def figure(name: str, key: str) -> tuple:
        share = held_out[name][key]
        return share["share"], [round(bound, 4) for bound in share["ci"]]

    sensitivity = [figure(name, "sensitivity") for name in findings]
    specificity = [figure(name, "specificity_all_without") for name in findings]
    sets = ", ".join(sorted(table["set"].unique()))
    trained_on = (f"{len(table)} real ECGs of the development sets ({sets}; {int(healthy.sum())} healthy adults), "
                  "their cardiologists' labels")
    fitted_model = RealFindingsModel.from_logistic(
        np.stack(coefficients), np.array(intercepts), mean, std, findings=tuple(findings),
        embedding_dim=embeddings.shape[1], covariates=COVARIATES, covariate_fill=tuple(map(float, fill)),
        threshold=tuple(map(float, thresholds)), sensitivity=tuple(round(s, 4) for s, _ in sensitivity),
        specificity=tuple(round(s, 4) for s, _ in specificity), sensitivity_ci=tuple(ci for _, ci in sensitivity),
        specificity_ci=tuple(ci for _, ci in specificity), trained_on=trained_on)
    section = {"records": int(len(table)), "healthy": int(healthy.sum()), "sets": sorted(table["set"].unique()),
               "folds": FOLDS, "l2_c": L2_C, "max_false_call": MAX_FALSE_CALL, "findings": findings,
               "held_out": held_out, "thresholds": dict(zip(findings, map(float, thresholds))),
               "trained_on": trained_on, "seconds": time.perf_counter() - started}
    return fitted_model, section



def main(argv: list[str] | None = None) -> int:
    parser = bundle_command_parser("python -m training.real_findings", __doc__)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"No real ECG data at {args.data}: give --data (see ../shared/data/README.md)")
    model, section = real_findings(CardioNets.from_pretrained(args.bundle), args.data)
    section["command"] = "python -m training.real_findings" + (" " + " ".join(argv) if argv else "")
    if not args.dry_run:
        add_component(args.bundle, COMPONENT, model)
    from .evaluate import write_results_section  # it loads every model: only the command needs it

    write_results_section(args.out, SECTION, section)
    print(json.dumps(section["held_out"], indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

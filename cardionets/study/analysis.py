"""A reader study's answers turned into the tables a journal asks for.

Input is `StudyStore.answers` as a data frame: one row per read (reader, case, truth, arm, diagnosis,
confidence). Every statistic comes from `cardionets.metrics` (accuracy, confusion matrices, sensitivity and
specificity, Cohen's and Fleiss' kappa, bootstrap CIs), so the study and the model's evaluation compute them the
same way.

- `per_reader`: accuracy, and each diagnosis's sensitivity and specificity, with bootstrap CIs over cases, per
  reader and arm;
- `confusion_matrices`: counts, true diagnosis by answer, per reader and arm;
- `aided_minus_unaided`: each reader's accuracy gain from one arm to another, the mean gain with a bootstrap CI
  that resamples cases, and a paired t-test across readers;
- `agreement`: Cohen's kappa for every pair of readers and Fleiss' kappa across all of them, per arm;
- `model_read`: CardioNets' own read of a case (its diagnosis and its suspicion scores), from a `Prediction`;
- `model_against_readers`: the model's accuracy on the study's cases and its ROC for "abnormal", with every
  reader's operating point on the same task, per arm;
- `suspicion`: each read's ordered suspicion that the case is abnormal, the score every ROC analysis uses;
- `reader_mrmc`: the multi-reader multi-case analyses of the readers' AUC across arms (`mrmc`: Obuchowski-
  Rockette with random readers and cases, fixed readers, fixed cases; omnibus and pairwise);
- `imrmc_csv`: the reads in the input layout of the FDA's iMRMC tool for multi-reader multi-case ROC analysis.
"""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import roc_curve

from cardionets import metrics

from .design import DIAGNOSES
from .mrmc import MRMCResult, or_analysis

LABELS = tuple(DIAGNOSES)


def per_reader(answers: pd.DataFrame, n_resamples: int = 1000, seed: int = 0) -> pd.DataFrame:
    rows = []
    for (reader, arm), reads in answers.groupby(["reader", "arm"], sort=True):
        truth, given = reads["truth"].to_numpy(), reads["diagnosis"].to_numpy()
        accuracy = metrics.bootstrap_ci(metrics.multiclass_accuracy, truth, given, n_resamples=n_resamples,
                                        seed=seed)
        row = {"reader": reader, "arm": arm, "cases": len(reads), "accuracy": accuracy.point,
               "accuracy_low": accuracy.low, "accuracy_high": accuracy.high}
        for label in LABELS:
            positive, called = truth == label, (given == label).astype(float)
            if positive.any() and (~positive).any():
                for part in ("sensitivity", "specificity"):
                    # Stratified by the truth, so every resample keeps both classes and the rate is defined.
                    found = metrics.bootstrap_ci(
                        lambda y, c, part=part: getattr(metrics.sensitivity_specificity(y, c, 0.5), part),
                        positive, called, n_resamples=n_resamples, seed=seed, stratify=positive)
                    row[f"{part}_{label}"] = found.point
                    row[f"{part}_{label}_low"], row[f"{part}_{label}_high"] = found.low, found.high
        rows.append(row)
    return pd.DataFrame(rows)


def confusion_matrices(answers: pd.DataFrame) -> dict[tuple[str, str], pd.DataFrame]:
    return {(reader, arm): pd.DataFrame(metrics.confusion_matrix(reads["truth"], reads["diagnosis"], LABELS),
                                        index=pd.Index(LABELS, name="truth"), columns=pd.Index(LABELS, name="answer"))
            for (reader, arm), reads in answers.groupby(["reader", "arm"], sort=True)}


def aided_minus_unaided(answers: pd.DataFrame, unaided: str, aided: str, n_resamples: int = 2000,
                        seed: int = 0) -> dict:
    """Accuracy in ``aided`` minus ``unaided``, for readers who read the same cases in both."""
    correct = answers.assign(correct=(answers["truth"] == answers["diagnosis"]).astype(float))
    table = correct.pivot_table(index=["reader", "case"], columns="arm", values="correct").dropna(
        subset=[unaided, aided])
    if table.empty:
        raise ValueError(f"No reader read the same cases in both {unaided!r} and {aided!r}.")
    gain = (table[aided] - table[unaided]).unstack("reader")  # (cases, readers)
    per_reader_gain = gain.mean(axis=0)
    rng = np.random.default_rng(seed)
    values = gain.to_numpy()
    resampled = [np.nanmean(values[rng.integers(0, len(values), len(values))]) for _ in range(n_resamples)]
    test = stats.ttest_1samp(per_reader_gain.to_numpy(), 0.0) if len(per_reader_gain) > 1 else None
    return {"unaided": unaided, "aided": aided, "readers": int(gain.shape[1]), "cases": int(gain.shape[0]),
            "per_reader": per_reader_gain.to_dict(), "mean": float(per_reader_gain.mean()),
            "low": float(np.percentile(resampled, 2.5)), "high": float(np.percentile(resampled, 97.5)),
            "t": None if test is None else float(test.statistic), "p": None if test is None else float(test.pvalue)}


def agreement(answers: pd.DataFrame, arm: str) -> dict:
    """Cohen's kappa per reader pair, on the cases both read; Fleiss' kappa on the cases every reader read."""
    wide = answers[answers["arm"] == arm].pivot_table(index="case", columns="reader", values="diagnosis",
                                                       aggfunc="first")
    pairs = {}
    for a, b in itertools.combinations(wide.columns, 2):
        both = wide[[a, b]].dropna()
        try:
            pairs[(a, b)] = metrics.cohen_kappa(both[a], both[b])
        except metrics.UndefinedMetricError:
            pairs[(a, b)] = None
    complete = wide.dropna()
    fleiss = metrics.fleiss_kappa(complete.to_numpy()) if complete.shape[1] >= 2 and len(complete) else None
    return {"arm": arm, "cohen": pairs, "fleiss": fleiss, "cases_all_read": len(complete)}


def model_read(prediction) -> dict:
    """The model as a reader: its diagnosis is the most probable of the study's diseases when the model calls
    it positive, else normal; its 'abnormal' score is the highest of those probabilities."""
    diseases = {label: prediction.diseases[label] for label in LABELS if label in prediction.diseases}
    if not diseases:
        raise ValueError("The prediction has no disease outputs (was the ECG rejected by the quality check?).")
    top = max(diseases, key=lambda label: diseases[label].probability)
    return {"diagnosis": top if diseases[top].positive else "normal",
            "abnormal_score": max(d.probability for d in diseases.values()),
            **{f"p_{label}": d.probability for label, d in diseases.items()}}


def model_against_readers(answers: pd.DataFrame, model_reads: pd.DataFrame, n_resamples: int = 1000,
                          seed: int = 0) -> dict:
    """``model_reads``: one row per case (``case``, ``diagnosis``, ``abnormal_score``). The model's accuracy
    and 'abnormal' ROC on the cases the readers read, and each reader's (1 - specificity, sensitivity) and AUC
    of their suspicion scores per arm."""
    truth = answers.groupby("case")["truth"].first()
    reads = model_reads.set_index("case").loc[truth.index]
    abnormal = (truth != "normal").to_numpy()
    accuracy = metrics.bootstrap_ci(metrics.multiclass_accuracy, truth.to_numpy(), reads["diagnosis"].to_numpy(),
                                    n_resamples=n_resamples, seed=seed)
    fpr, tpr, _ = roc_curve(abnormal, reads["abnormal_score"].to_numpy())
    points = []
    scored = answers.assign(score=suspicion(answers))
    for (reader, arm), rows in scored.groupby(["reader", "arm"], sort=True):
        called = (rows["diagnosis"] != "normal").to_numpy()
        positive = (rows["truth"] != "normal").to_numpy()
        found = metrics.sensitivity_specificity(positive, called.astype(float), 0.5)
        points.append({"reader": reader, "arm": arm, "false_positive_rate": 1 - found.specificity,
                       "sensitivity": found.sensitivity,
                       "auc_abnormal": metrics.auroc(positive, rows["score"]) if 0 < positive.sum() < len(rows)
                       else None})
    return {"cases": len(truth), "accuracy": accuracy.point, "accuracy_low": accuracy.low,
            "accuracy_high": accuracy.high, "auc_abnormal": metrics.auroc(abnormal, reads["abnormal_score"]),
            "roc": {"false_positive_rate": fpr.tolist(), "sensitivity": tpr.tolist()},
            "readers": pd.DataFrame(points)}


SCORE = ("suspicion that the case is abnormal: the reader's probability (0-100) where the study asked for it, "
         "else 6 - confidence (1-5) for a normal call and 5 + confidence (6-10) for an abnormal one")


def suspicion(answers: pd.DataFrame, positive: tuple[str, ...] | None = None) -> pd.Series:
    """Each read's suspicion that the case is abnormal, ordered from a certain 'normal' to a certain abnormal
    call: 6 - confidence (5 .. 1) when they called it normal, 5 + confidence (6 .. 10) when they called it
    abnormal, so a guessed abnormal call (6) ranks just above a guessed normal one (5). In a study that asked
    for a 0-100 probability of abnormality, that probability. Derived here, at analysis time, from the stored
    diagnosis and rating, so no database needs migrating when the score's definition changes."""
    positive = positive or tuple(label for label in LABELS if label != "normal")
    if "probability" in answers and answers["probability"].notna().any():
        if answers["probability"].isna().any():
            raise ValueError("Some answers give a probability and others a confidence; a study uses one rating.")
        return answers["probability"].astype(float)
    called = answers["diagnosis"].isin(positive)
    confidence = answers["confidence"].astype(float)
    return (5 + confidence).where(called, 6 - confidence)


def reader_mrmc(answers: pd.DataFrame, arms: tuple[str, ...] | None = None, alpha: float = 0.05) -> MRMCResult:
    """The multi-reader multi-case analysis (`mrmc.or_analysis`: random readers and cases, fixed readers, fixed
    cases) of the readers' AUC for 'abnormal' across ``arms`` (default: every arm answered), on their suspicion
    scores. Every reader must have read every case in every arm."""
    arms = arms or tuple(sorted(answers["arm"].unique()))
    reads = answers[answers["arm"].isin(arms)]
    ratings = pd.DataFrame({"reader": reads["reader"], "treatment": reads["arm"], "case": reads["case"],
                            "truth": reads["truth"] != "normal", "rating": suspicion(reads)})
    return or_analysis(ratings, alpha=alpha)


def imrmc_csv(answers: pd.DataFrame, positive: tuple[str, ...] | None = None) -> str:
    """iMRMC's input: a free-text header, ``BEGIN DATA:``, then ``readerID,caseID,modalityID,score`` rows, with
    one truth row per case (reader ``-1``, modality ``truth``, score 0 or 1). The binary task is 'abnormal'
    (any diagnosis in ``positive``, default every diagnosis but normal); a reader's score is `suspicion`."""
    positive = positive or tuple(label for label in LABELS if label != "normal")
    lines = ["CardioNets reader study, exported for iMRMC", f"Positive: {', '.join(positive)}",
             f"Score: {SCORE}", "BEGIN DATA:"]
    for case, truth in answers.groupby("case", sort=True)["truth"].first().items():
        lines.append(f"-1,{case},truth,{int(truth in positive)}")
    scored = answers.assign(score=suspicion(answers, positive)).sort_values(["reader", "arm", "case"])
    lines += [f"{row.reader_id},{row.case},{row.arm},{row.score:g}" for row in scored.itertuples()]
    return "\n".join(lines) + "\n"

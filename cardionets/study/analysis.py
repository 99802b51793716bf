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
- `obuchowski_rockette`: the multi-reader multi-case test of the difference in reader AUC between two arms
  (Obuchowski-Rockette, jackknife covariances, Hillis' denominator degrees of freedom);
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
    and 'abnormal' ROC on the cases the readers read, and each reader's (1 - specificity, sensitivity) per arm."""
    truth = answers.groupby("case")["truth"].first()
    reads = model_reads.set_index("case").loc[truth.index]
    abnormal = (truth != "normal").to_numpy()
    accuracy = metrics.bootstrap_ci(metrics.multiclass_accuracy, truth.to_numpy(), reads["diagnosis"].to_numpy(),
                                    n_resamples=n_resamples, seed=seed)
    fpr, tpr, _ = roc_curve(abnormal, reads["abnormal_score"].to_numpy())
    points = []
    for (reader, arm), rows in answers.groupby(["reader", "arm"], sort=True):
        called = (rows["diagnosis"] != "normal").to_numpy()
        positive = (rows["truth"] != "normal").to_numpy()
        found = metrics.sensitivity_specificity(positive, called.astype(float), 0.5)
        points.append({"reader": reader, "arm": arm, "false_positive_rate": 1 - found.specificity,
                       "sensitivity": found.sensitivity})
    return {"cases": len(truth), "accuracy": accuracy.point, "accuracy_low": accuracy.low,
            "accuracy_high": accuracy.high, "auc_abnormal": metrics.auroc(abnormal, reads["abnormal_score"]),
            "roc": {"false_positive_rate": fpr.tolist(), "sensitivity": tpr.tolist()},
            "readers": pd.DataFrame(points)}


def suspicion(answers: pd.DataFrame, positive: tuple[str, ...] | None = None) -> pd.Series:
    """A reader's ordinal suspicion that a case is abnormal: confidence (1-5) when they called it abnormal, else
    6 minus it (so 1 is a confident 'normal'). The same score goes to iMRMC."""
    positive = positive or tuple(label for label in LABELS if label != "normal")
    called = answers["diagnosis"].isin(positive)
    return answers["confidence"].where(called, 6 - answers["confidence"])


def obuchowski_rockette(answers: pd.DataFrame, arm_a: str, arm_b: str) -> dict:
    """MRMC analysis of AUC(arm_b) - AUC(arm_a) for 'abnormal', every reader having read every case in both.

    Per reader and arm, the AUC of the suspicion scores (ties count half). The error covariances come from
    jackknifing cases; the test is Obuchowski and Rockette's F with Hillis' (2007) degrees of freedom, and the
    95 % CI is for the mean difference over readers. Random readers and cases: the result generalises to both.
    """
    data = answers[answers["arm"].isin([arm_a, arm_b])].assign(score=suspicion(answers),
                                                               abnormal=answers["truth"] != "normal")
    scores = data.pivot_table(index="case", columns=["arm", "reader"], values="score")
    if scores.isna().any().any():
        raise ValueError("Every reader must read every case in both arms for this analysis.")
    truth = data.groupby("case")["abnormal"].first().loc[scores.index].to_numpy(dtype=bool)
    if truth.all() or not truth.any():
        raise ValueError("The cases must include both normal and abnormal ones.")
    readers = sorted(data["reader"].unique())
    columns = [(arm, reader) for arm in (arm_a, arm_b) for reader in readers]
    values = scores[columns].to_numpy()  # (cases, arms x readers)

    def aucs(rows: np.ndarray) -> np.ndarray:
        # Every column's AUC at once (Mann-Whitney on ranks, ties half): the jackknife needs n x 2r of them.
        positive = truth[rows]
        ranks = stats.rankdata(values[rows], axis=0)
        n_pos, n_neg = positive.sum(), (~positive).sum()
        return (ranks[positive].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

    n, r = len(truth), len(readers)
    theta = aucs(np.arange(n)).reshape(2, r)
    jack = np.array([aucs(np.delete(np.arange(n), k)) for k in range(n)])  # (cases, 2r)
    # The jackknife covariance: (n - 1)/n times the sum of outer products of the leave-one-out deviations.
    covariance = (n - 1) * np.cov(jack, rowvar=False, bias=True)
    arm_of, reader_of = np.repeat([0, 1], r), np.tile(np.arange(r), 2)
    same_arm, same_reader = arm_of[:, None] == arm_of[None, :], reader_of[:, None] == reader_of[None, :]
    cov2 = covariance[same_arm & ~same_reader].mean() if r > 1 else 0.0  # same arm, other reader
    cov3 = covariance[~same_arm & ~same_reader].mean() if r > 1 else 0.0  # other arm, other reader
    arm_means, reader_means, grand = theta.mean(axis=1), theta.mean(axis=0), theta.mean()
    ms_arm = r * ((arm_means - grand) ** 2).sum()  # t - 1 = 1 degree of freedom
    interaction = theta - arm_means[:, None] - reader_means[None, :] + grand
    ms_arm_reader = (interaction**2).sum() / max(r - 1, 1)
    denominator = ms_arm_reader + r * max(cov2 - cov3, 0.0)
    ddf = denominator**2 / (ms_arm_reader**2 / max(r - 1, 1)) if ms_arm_reader > 0 else float("inf")
    f = ms_arm / denominator if denominator > 0 else float("inf")
    difference = float(arm_means[1] - arm_means[0])
    half_width = stats.t.ppf(0.975, ddf) * np.sqrt(2.0 / r * denominator)
    return {"arm_a": arm_a, "arm_b": arm_b, "readers": r, "cases": n, "auc_a": float(arm_means[0]),
            "auc_b": float(arm_means[1]), "difference": difference, "low": float(difference - half_width),
            "high": float(difference + half_width), "f": float(f), "ddf": float(ddf),
            "p": float(stats.f.sf(f, 1, ddf)), "reader_aucs": pd.DataFrame(theta.T, index=readers,
                                                                           columns=[arm_a, arm_b]),
            "variance": float(np.diag(covariance).mean()), "cov1": float(covariance[~same_arm & same_reader].mean()),
            "cov2": float(cov2), "cov3": float(cov3)}


def imrmc_csv(answers: pd.DataFrame, positive: tuple[str, ...] | None = None) -> str:
    """iMRMC's input: a free-text header, ``BEGIN DATA:``, then ``readerID,caseID,modalityID,score`` rows, with
    one truth row per case (reader ``-1``, modality ``truth``, score 0 or 1). The binary task is 'abnormal'
    (any diagnosis in ``positive``, default every diagnosis but normal). A reader's score is an ordinal
    suspicion: their confidence (1-5) when they called the case abnormal, else 6 minus it."""
    positive = positive or tuple(label for label in LABELS if label != "normal")
    lines = ["CardioNets reader study, exported for iMRMC", f"Positive: {', '.join(positive)}",
             "Score: confidence (1-5) when the answer is positive, else 6 - confidence", "BEGIN DATA:"]
    for case, truth in answers.groupby("case", sort=True)["truth"].first().items():
        lines.append(f"-1,{case},truth,{int(truth in positive)}")
    scored = answers.assign(score=suspicion(answers, positive)).sort_values(["reader", "arm", "case"])
    lines += [f"{row.reader_id},{row.case},{row.arm},{row.score}" for row in scored.itertuples()]
    return "\n".join(lines) + "\n"

"""Metrics as plain functions, shared by training, evaluation, the app and the reader study.

Every function takes array-likes, checks them once here at the boundary and raises :class:`ValueError` with a
message that names the offending argument. When the data are valid but the metric has no value on them (AUROC
with one class, R2 of a constant target) the error is :class:`UndefinedMetricError`, a ``ValueError`` that
:func:`bootstrap_ci` recognises so it can skip such resamples instead of failing.

Conventions: binary labels are 0/1 (bools accepted); a case is called positive when ``p >= threshold``;
confidence intervals are ``(point, low, high)`` named tuples.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import numpy as np
from scipy import linalg, optimize, special, stats
from sklearn.metrics import average_precision_score, cohen_kappa_score, roc_auc_score, roc_curve

__all__ = [
    "ConfidenceInterval",
    "DeLongResult",
    "SensitivitySpecificity",
    "UndefinedMetricError",
    "apply_temperature",
    "auprc",
    "auroc",
    "bootstrap_ci",
    "brier",
    "cohen_kappa",
    "confusion_matrix",
    "cross_validated_scores",
    "delong_ci",
    "delong_test",
    "expected_calibration_error",
    "fit_softmax_temperature",
    "fit_temperature",
    "fleiss_kappa",
    "frechet_distance",
    "multiclass_accuracy",
    "psnr_db_per_frame",
    "r2",
    "r2_per_column",
    "sensitivity_specificity",
    "ssim_per_frame",
    "threshold_at_sensitivity",
    "threshold_at_specificity",
    "threshold_youden",
    "wilson_ci",
]


class UndefinedMetricError(ValueError):
    """The inputs are valid but the metric has no value on them (e.g. AUROC when only one class is present)."""


class ConfidenceInterval(NamedTuple):
    point: float
    low: float
    high: float


class DeLongResult(NamedTuple):
    auc_a: float
    auc_b: float
    z: float
    p_value: float


class SensitivitySpecificity(NamedTuple):
    sensitivity: float
    specificity: float


# ---------------------------------------------------------------------------------------------------------------
# Input validation (the boundary); everything below trusts its checked arrays.


def _array(name: str, values, ndim: int, *, allow_nan: bool = False) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be a {ndim}-D array, got shape {arr.shape}.")
    if arr.size == 0:
        raise ValueError(f"{name} is empty.")
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {arr.dtype}.")
    arr = arr.astype(float)
    bad = np.isinf(arr) if allow_nan else ~np.isfinite(arr)
    if bad.any():
        what = "infinite values" if allow_nan else "NaN or infinite values"
        raise ValueError(f"{name} contains {what} ({int(bad.sum())} of {arr.size}).")
    return arr


def _binary(name: str, values, ndim: int = 1) -> np.ndarray:
    arr = _array(name, values, ndim)
    if not np.isin(arr, (0.0, 1.0)).all():
        unexpected = np.unique(arr[~np.isin(arr, (0.0, 1.0))])[:5]
        raise ValueError(f"{name} must contain only 0 and 1; found {unexpected.tolist()}.")
    return arr.astype(np.int8)


def _probabilities(name: str, values, ndim: int = 1) -> np.ndarray:
    arr = _array(name, values, ndim)
    if arr.min() < 0 or arr.max() > 1:
        raise ValueError(f"{name} must be probabilities in [0, 1]; found range [{arr.min():g}, {arr.max():g}].")
    return arr


def _same_shape(**arrays: np.ndarray) -> None:
    shapes = {name: arr.shape for name, arr in arrays.items()}
    if len(set(shapes.values())) > 1:
        listed = ", ".join(f"{name} {shape}" for name, shape in shapes.items())
        raise ValueError(f"Inputs must have the same shape; got {listed}.")


def _binary_and_scores(y, score, score_name: str = "score") -> tuple[np.ndarray, np.ndarray]:
    y = _binary("y", y)
    score = _array(score_name, score, 1)
    _same_shape(y=y, **{score_name: score})
    return y, score


def _require_both_classes(y: np.ndarray, metric: str, minimum: int = 1) -> None:
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if min(n_pos, n_neg) < minimum:
        raise UndefinedMetricError(
            f"{metric} needs at least {minimum} positive and {minimum} negative case(s); "
            f"got {n_pos} positive and {n_neg} negative."
        )


def _fraction(name: str, value: float, *, inclusive_high: bool = False) -> float:
    value = float(value)
    if not (0 < value < 1 or (inclusive_high and value == 1)):
        bound = "(0, 1]" if inclusive_high else "(0, 1)"
        raise ValueError(f"{name} must lie in {bound}, got {value}.")
    return value


# ---------------------------------------------------------------------------------------------------------------
# Regression


def r2(y_true, y_pred) -> float:
    """Coefficient of determination over the subjects whose target is known (NaN targets are ignored).

    Predictions must be finite wherever the target is known. Raises :class:`UndefinedMetricError` when fewer
    than two targets are known or they are all equal (sklearn would return 0 or 1 there; we refuse to guess).
    """
    y_true = _array("y_true", y_true, 1, allow_nan=True)
    y_pred = _array("y_pred", y_pred, 1, allow_nan=True)
    _same_shape(y_true=y_true, y_pred=y_pred)
    known = ~np.isnan(y_true)
    if np.isnan(y_pred[known]).any():
        raise ValueError("y_pred contains NaN where the target is known.")
    y_true, y_pred = y_true[known], y_pred[known]
    if y_true.size < 2:
        raise UndefinedMetricError(f"R2 needs at least 2 known targets; got {y_true.size}.")
    total = np.sum((y_true - y_true.mean()) ** 2)
    if total == 0:
        raise UndefinedMetricError("R2 is undefined when every known target has the same value.")
    return float(1 - np.sum((y_true - y_pred) ** 2) / total)


def r2_per_column(Y_true, Y_pred) -> np.ndarray:
    """R2 of each phenotype column of ``(N, P)`` arrays, NaN targets ignored per column; returns shape ``(P,)``."""
    Y_true = _array("Y_true", Y_true, 2, allow_nan=True)
    Y_pred = _array("Y_pred", Y_pred, 2, allow_nan=True)
    _same_shape(Y_true=Y_true, Y_pred=Y_pred)
    scores = np.empty(Y_true.shape[1])
    for column in range(Y_true.shape[1]):
        try:
            scores[column] = r2(Y_true[:, column], Y_pred[:, column])
        except ValueError as error:  # name the column, keep the type (UndefinedMetricError stays one)
            raise type(error)(f"Column {column}: {error}") from error
    return scores


# ---------------------------------------------------------------------------------------------------------------
# Discrimination and calibration of binary probabilities


def auroc(y, score) -> float:
    """Area under the ROC curve (ties count half), via scikit-learn."""
    y, score = _binary_and_scores(y, score)
    _require_both_classes(y, "AUROC")
    return float(roc_auc_score(y, score))


def auprc(y, score) -> float:
    """Area under the precision-recall curve as average precision (no interpolation), via scikit-learn.

    Needs at least one positive; with no negatives it is 1.
    """
    y, score = _binary_and_scores(y, score)
    if not y.any():
        raise UndefinedMetricError("AUPRC needs at least one positive case; got none.")
    return float(average_precision_score(y, score))


def brier(y, p) -> float:
    """Mean squared difference between the predicted probability and the 0/1 outcome."""
    y = _binary("y", y)
    p = _probabilities("p", p)
    _same_shape(y=y, p=p)
    return float(np.mean((p - y) ** 2))


def expected_calibration_error(y, p, n_bins: int = 15) -> float:
    """Expected calibration error of binary probabilities: sum over bins of ``n_bin / N * |mean(y) - mean(p)|``.

    Bins are ``n_bins`` equal-width intervals of [0, 1] (the last one closed), as in Guo et al. 2017, so values are
    comparable with the literature; empty bins contribute nothing. Equal-width bins are noisy where few
    probabilities fall, and ECE is biased upwards at small N (about 0.01 for a perfect model at N = 20000, 15 bins).
    For the top-label ECE of a multi-class model pass ``y = (predicted == true)`` and ``p = max probability``.
    """
    y = _binary("y", y)
    p = _probabilities("p", p)
    _same_shape(y=y, p=p)
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}.")
    bin_index = np.minimum((p * n_bins).astype(int), n_bins - 1)
    count = np.bincount(bin_index, minlength=n_bins)
    gap = np.bincount(bin_index, weights=y - p, minlength=n_bins)  # sum of (y - p) per bin = n_bin * (acc - conf)
    return float(np.sum(np.abs(gap)) / count.sum())


# ---------------------------------------------------------------------------------------------------------------
# Bootstrap confidence intervals

# Bootstrap indices are drawn this many at a time (resamples x subjects), bounding memory for large cohorts.
_BOOTSTRAP_CHUNK_ELEMENTS = 1 << 22


def bootstrap_ci(
    metric_fn: Callable[..., float],
    *arrays,
    n_resamples: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
    stratify=None,
) -> ConfidenceInterval:
    """Percentile bootstrap CI of ``metric_fn(*arrays)``, resampling subjects (rows of all arrays together).

    ``stratify`` (one label per subject, e.g. ``y``) resamples within each stratum, keeping its size; use it for
    rare outcomes. Resamples on which the metric is undefined (:class:`UndefinedMetricError`, e.g. a single-class
    resample for AUROC) are skipped and a RuntimeWarning says how many, since skipping biases the interval a
    little. :func:`auroc` and :func:`auprc` are evaluated on all resamples at once from per-subject counts (the
    same resamples, the same values as calling them one by one).
    """
    if not arrays:
        raise ValueError("bootstrap_ci needs at least one array to resample.")
    arrays = tuple(np.asarray(a) for a in arrays)
    if any(a.ndim == 0 for a in arrays):
        raise ValueError("Arrays to resample must have at least one dimension (one row per subject).")
    n = arrays[0].shape[0]
    if any(a.shape[0] != n for a in arrays):
        raise ValueError(f"Arrays to resample must have the same number of rows; got {[a.shape[0] for a in arrays]}.")
    if isinstance(n_resamples, bool) or not isinstance(n_resamples, (int, np.integer)) or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}.")
    alpha = _fraction("alpha", alpha)
    strata = _strata(stratify, n)

    point = float(metric_fn(*arrays))  # on the full data, so invalid inputs fail here with the metric's own message
    batched = _BATCHED_METRICS.get(metric_fn)
    evaluate = batched(*arrays) if batched is not None else _one_by_one(metric_fn, arrays)
    rng = np.random.default_rng(seed)
    values = np.concatenate([evaluate(idx) for idx in _resample_indices(rng, strata, n, n_resamples)])

    values = values[~np.isnan(values)]
    skipped = n_resamples - values.size
    if values.size == 0:
        raise UndefinedMetricError("The metric was undefined on every bootstrap resample; try stratify=y.")
    if skipped:
        warnings.warn(
            f"{skipped} of {n_resamples} bootstrap resamples were skipped because the metric was undefined on them; "
            "stratify=y avoids this for single-class resamples.",
            RuntimeWarning,
            stacklevel=2,
        )
    low, high = np.percentile(values, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return ConfidenceInterval(point, float(low), float(high))


def _strata(stratify, n: int) -> list[np.ndarray]:
    """Row indices of each stratum (one stratum of all rows when not stratifying)."""
    if stratify is None:
        return [np.arange(n)]
    labels = np.asarray(stratify)
    if labels.shape != (n,):
        raise ValueError(f"stratify must have one label per subject, shape ({n},); got {labels.shape}.")
    if labels.dtype.kind == "f" and np.isnan(labels).any():
        raise ValueError("stratify contains NaN.")
    _, inverse = np.unique(labels, return_inverse=True)
    return [np.flatnonzero(inverse == k) for k in range(inverse.max() + 1)]


def _resample_indices(rng: np.random.Generator, strata: list[np.ndarray], n: int, n_resamples: int):
    """Yield ``(b, n)`` row-index arrays, each row one bootstrap resample, drawn within strata."""
    chunk = max(1, _BOOTSTRAP_CHUNK_ELEMENTS // n)
    for start in range(0, n_resamples, chunk):
        b = min(chunk, n_resamples - start)
        yield np.concatenate([rows[rng.integers(0, rows.size, size=(b, rows.size))] for rows in strata], axis=1)


def _one_by_one(metric_fn: Callable[..., float], arrays: tuple[np.ndarray, ...]):
    def evaluate(indices: np.ndarray) -> np.ndarray:
        values = np.empty(len(indices))
        for i, rows in enumerate(indices):
            try:
                values[i] = metric_fn(*(a[rows] for a in arrays))
            except UndefinedMetricError:
                values[i] = np.nan
        return values

    return evaluate


def _class_weights_by_score(y, score):
    """Return a function mapping resample indices ``(b, n)`` to the positive and negative counts per distinct
    score, ``(b, G)`` each, scores ascending. A resample is the original data with integer weights, so ranking
    metrics follow from these counts without re-sorting each resample."""
    y, score = _binary_and_scores(y, score)
    order = np.argsort(score, kind="stable")
    sorted_score = score[order]
    group_starts = np.flatnonzero(np.r_[True, sorted_score[1:] != sorted_score[:-1]])
    n = y.size

    def counts(indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b = indices.shape[0]
        per_subject = np.bincount((indices + n * np.arange(b)[:, None]).ravel(), minlength=b * n).reshape(b, n)
        per_subject = per_subject[:, order]
        pos = np.add.reduceat(per_subject * y[order], group_starts, axis=1).astype(float)
        total = np.add.reduceat(per_subject, group_starts, axis=1)
        return pos, total - pos

    return counts


def _batched_auroc(y, score):
    counts = _class_weights_by_score(y, score)

    def evaluate(indices: np.ndarray) -> np.ndarray:
        pos, neg = counts(indices)
        neg_below = np.cumsum(neg, axis=1) - neg
        with np.errstate(invalid="ignore"):  # 0/0 for single-class resamples -> NaN -> skipped
            return np.sum(pos * (neg_below + 0.5 * neg), axis=1) / (pos.sum(axis=1) * neg.sum(axis=1))

    return evaluate


def _batched_auprc(y, score):
    counts = _class_weights_by_score(y, score)

    def evaluate(indices: np.ndarray) -> np.ndarray:
        pos, neg = counts(indices)
        pos, neg = pos[:, ::-1], neg[:, ::-1]  # thresholds from the highest score down
        true_pos, called_pos = np.cumsum(pos, axis=1), np.cumsum(pos + neg, axis=1)
        precision = np.divide(true_pos, called_pos, out=np.zeros_like(true_pos), where=called_pos > 0)
        with np.errstate(invalid="ignore"):  # 0/0 for resamples without positives -> NaN -> skipped
            return np.sum(pos * precision, axis=1) / pos.sum(axis=1)

    return evaluate


_BATCHED_METRICS = {auroc: _batched_auroc, auprc: _batched_auprc}


# ---------------------------------------------------------------------------------------------------------------
# DeLong's test (DeLong, DeLong & Clarke-Pearson 1988) with the fast midrank algorithm (Sun & Xu 2014)


def _delong_components(y: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs ``(K,)`` and their DeLong covariance ``(K, K)`` for ``scores`` of shape ``(K, N)``.

    A positive's placement value is the fraction of negatives it outscores (ties half); a negative's is the fraction
    of positives that outscore it. Their means are the AUC and their sample covariances give its variance.
    Midranks yield the placements in O(N log N): a positive's rank among all cases minus its rank among positives
    counts the negatives below it.
    """
    positive = y == 1
    m, n = int(positive.sum()), int((~positive).sum())
    rank_all = stats.rankdata(scores, axis=1)
    placement_pos = (rank_all[:, positive] - stats.rankdata(scores[:, positive], axis=1)) / n  # (K, m)
    placement_neg = 1 - (rank_all[:, ~positive] - stats.rankdata(scores[:, ~positive], axis=1)) / m  # (K, n)
    aucs = placement_pos.mean(axis=1)
    covariance = np.atleast_2d(np.cov(placement_pos)) / m + np.atleast_2d(np.cov(placement_neg)) / n
    return aucs, covariance


def delong_test(y, score_a, score_b) -> DeLongResult:
    """Two-sided DeLong test that two scores on the same subjects have equal ROC AUC.

    Returns both AUCs, the z statistic of ``auc_a - auc_b`` and its p-value. When the difference has zero
    variance (e.g. identical scores, or both separating perfectly) z is 0 and p is 1 if the AUCs are equal,
    otherwise z is infinite and p is 0.
    """
    y, score_a = _binary_and_scores(y, score_a, "score_a")
    score_b = _array("score_b", score_b, 1)
    _same_shape(score_a=score_a, score_b=score_b)
    _require_both_classes(y, "DeLong's test", minimum=2)
    (auc_a, auc_b), cov = _delong_components(y, np.vstack([score_a, score_b]))
    difference = auc_a - auc_b
    variance = cov[0, 0] + cov[1, 1] - 2 * cov[0, 1]
    # Rounding can leave a tiny nonzero variance for identical scores; treat it as zero relative to the AUCs' own.
    if variance <= 1e-12 * max(cov[0, 0] + cov[1, 1], np.finfo(float).tiny):
        z = 0.0 if difference == 0 else float(np.copysign(np.inf, difference))
    else:
        z = float(difference / np.sqrt(variance))
    return DeLongResult(float(auc_a), float(auc_b), z, float(2 * stats.norm.sf(abs(z))))


def delong_ci(y, score, alpha: float = 0.05) -> ConfidenceInterval:
    """Normal-approximation CI of one AUC from its DeLong variance, clipped to [0, 1].

    It collapses to the point when the variance is zero (perfect separation); prefer :func:`bootstrap_ci` there.
    """
    y, score = _binary_and_scores(y, score)
    alpha = _fraction("alpha", alpha)
    _require_both_classes(y, "DeLong's CI", minimum=2)
    (auc,), cov = _delong_components(y, score[None, :])
    half_width = stats.norm.ppf(1 - alpha / 2) * np.sqrt(max(cov[0, 0], 0.0))
    return ConfidenceInterval(float(auc), float(max(auc - half_width, 0.0)), float(min(auc + half_width, 1.0)))


# ---------------------------------------------------------------------------------------------------------------
# Temperature scaling (Guo et al. 2017), fitted on validation logits

# Temperatures are searched over log T in this range; an optimum at an edge means the logits carry (almost) no
# usable signal or are anti-correlated with the labels, and the edge value is returned.
_LOG_TEMPERATURE_BOUNDS = (np.log(1e-2), np.log(1e2))


def _fit_log_temperature(nll: Callable[[float], float]) -> float:
    # NLL is convex in 1/T, hence unimodal in log T, so a bounded scalar search finds the global minimum.
    result = optimize.minimize_scalar(nll, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded", options={"xatol": 1e-7})
    return float(np.exp(result.x))


def fit_temperature(logits, y) -> float | np.ndarray:
    """Temperature(s) minimising the sigmoid NLL of ``logits / T`` against 0/1 labels.

    1-D logits (one binary task) give one float; 2-D logits ``(N, L)`` (multi-label) give one temperature per
    label, shape ``(L,)``, each fitted independently. Each label needs both classes.
    """
    logits = np.asarray(logits)
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D (N,) or 2-D (N, L), got shape {logits.shape}.")
    logits = _array("logits", logits, logits.ndim)
    y = _binary("y", y, logits.ndim)
    _same_shape(logits=logits, y=y)
    columns_logits, columns_y = logits.reshape(len(logits), -1).T, y.reshape(len(y), -1).T
    temperatures = np.empty(len(columns_logits))
    for label, (z, t) in enumerate(zip(columns_logits, columns_y)):
        if t.min() == t.max():
            where = "" if logits.ndim == 1 else f" (label {label})"
            raise ValueError(f"Temperature scaling needs both classes in the validation labels{where}.")
        temperatures[label] = _fit_log_temperature(_sigmoid_nll(z, t))
    return float(temperatures[0]) if logits.ndim == 1 else temperatures


def _sigmoid_nll(logits: np.ndarray, y: np.ndarray) -> Callable[[float], float]:
    def nll(log_t: float) -> float:
        scaled = logits * np.exp(-log_t)
        return float(np.mean(np.logaddexp(0, scaled) - y * scaled))  # -log sigmoid, stable for large |logits|

    return nll


def fit_softmax_temperature(logits, y) -> float:
    """One temperature minimising the softmax NLL of ``logits / T`` ``(N, C)`` against integer labels in [0, C)."""
    logits = _array("logits", logits, 2)
    labels = _array("y", y, 1)
    if labels.size != len(logits):
        raise ValueError(f"y must have one label per row of logits ({len(logits)}), got {labels.size}.")
    n_classes = logits.shape[1]
    if n_classes < 2 or not np.all((labels == np.round(labels)) & (labels >= 0) & (labels < n_classes)):
        raise ValueError(f"y must hold integer class labels in [0, {n_classes}) and logits at least 2 classes.")
    true_class_logit = logits[np.arange(len(logits)), labels.astype(int)]

    def nll(log_t: float) -> float:
        scale = np.exp(-log_t)
        return float(np.mean(special.logsumexp(logits * scale, axis=1) - true_class_logit * scale))

    return _fit_log_temperature(nll)


def apply_temperature(logits, temperature) -> np.ndarray:
    """Calibrated logits ``logits / T``; apply sigmoid or softmax afterwards as the model does.

    ``temperature`` is a positive scalar, or one per label ``(L,)`` for 2-D logits ``(N, L)``.
    """
    logits = np.asarray(logits)
    if logits.ndim not in (1, 2):
        raise ValueError(f"logits must be 1-D (N,) or 2-D (N, L), got shape {logits.shape}.")
    logits = _array("logits", logits, logits.ndim)
    temperature = np.asarray(temperature, dtype=float)
    if not np.all(np.isfinite(temperature) & (temperature > 0)):
        raise ValueError(f"temperature must be positive and finite, got {temperature}.")
    if temperature.ndim > 1 or (temperature.ndim == 1 and (logits.ndim != 2 or temperature.size != logits.shape[1])):
        raise ValueError(f"temperature must be a scalar or one per label (column) of logits {logits.shape}.")
    return logits / temperature


# ---------------------------------------------------------------------------------------------------------------
# Operating points


def sensitivity_specificity(y, p, threshold: float) -> SensitivitySpecificity:
    """Sensitivity and specificity when a case is called positive at ``p >= threshold``."""
    y, p = _binary_and_scores(y, p, "p")
    _require_both_classes(y, "Sensitivity and specificity")
    called = p >= float(threshold)
    return SensitivitySpecificity(float(np.mean(called[y == 1])), float(np.mean(~called[y == 0])))


def wilson_ci(successes: int, n: int, confidence: float = 0.95) -> ConfidenceInterval:
    """A proportion ``successes / n`` with its Wilson score interval (scipy's): honest at small n and at 0 or 1,
    where the normal approximation gives impossible or zero-width intervals."""
    from scipy.stats import binomtest

    successes, n = int(successes), int(n)
    if n <= 0:
        raise UndefinedMetricError("A proportion needs at least one case; got none.")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must lie in 0..{n}, got {successes}.")
    interval = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return ConfidenceInterval(successes / n, float(interval.low), float(interval.high))


def cross_validated_scores(x, y, groups=None, folds: int = 5, seed: int = 0) -> np.ndarray:
    """Out-of-fold probabilities of a standardised logistic regression of ``y`` on ``x`` (NaN imputed by the training
    folds' medians), folds stratified and, given ``groups``, grouped (a patient's records in one fold): the
    plainest learnt baseline a model's AUROC has to beat on the same features."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedGroupKFold
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, y = np.asarray(x, float), _binary("y", y)
    _require_both_classes(y, "A cross-validated baseline", minimum=folds)
    groups = np.arange(len(y)) if groups is None else np.asarray(groups)
    scores = np.full(len(y), np.nan)
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups):
        model = make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                              LogisticRegression(max_iter=1000))
        scores[test] = model.fit(x[train], y[train]).predict_proba(x[test])[:, 1]
    return scores


def threshold_at_sensitivity(y, p, sensitivity: float = 0.9) -> float:
    """The largest threshold at which ``p >= threshold`` still reaches ``sensitivity`` on (y, p).

    Storing it as the operating point keeps at least the target sensitivity on the calibration data; any higher
    threshold would fall below it. It is always one of the positives' scores.
    """
    y, p = _binary_and_scores(y, p, "p")
    sensitivity = _fraction("sensitivity", sensitivity, inclusive_high=True)
    positives = np.sort(p[y == 1])[::-1]
    if positives.size == 0:
        raise UndefinedMetricError("Sensitivity needs at least one positive case; got none.")
    # Fewest detected positives k with k / m >= target, compared in the same arithmetic sensitivity_specificity uses.
    achieved = np.arange(1, positives.size + 1) / positives.size
    needed = int(np.searchsorted(achieved, sensitivity, side="left")) + 1
    return float(positives[needed - 1])


def threshold_at_specificity(y, p, specificity: float = 0.98) -> float:
    """The smallest threshold at which ``p >= threshold`` still keeps ``specificity`` on (y, p): the most sensitive
    call that clears at most ``1 - specificity`` of the negatives. Just above one of the negatives' scores."""
    y, p = _binary_and_scores(y, p, "p")
    specificity = _fraction("specificity", specificity, inclusive_high=True)
    negatives = np.sort(p[y == 0])
    if negatives.size == 0:
        raise UndefinedMetricError("Specificity needs at least one negative case; got none.")
    achieved = np.arange(1, negatives.size + 1) / negatives.size
    needed = int(np.searchsorted(achieved, specificity, side="left")) + 1  # negatives that must stay below
    return float(np.nextafter(negatives[needed - 1], np.inf))


def threshold_youden(y, p) -> float:
    """The threshold that maximises Youden's J (sensitivity + specificity - 1) on (y, p): the balanced call.

    Ties go to the highest such threshold, the one with fewer false positives. It is always one of the scores.
    """
    y, p = _binary_and_scores(y, p, "p")
    _require_both_classes(y, "Youden's J")
    false_positive_rate, true_positive_rate, thresholds = roc_curve(y, p, drop_intermediate=False)
    # Thresholds come highest first (the first is +inf, calling nobody), so argmax keeps the highest of ties;
    # rounding makes rates like 2/3 - 0 and 1 - 1/3 tie, as they do exactly.
    j = np.round(true_positive_rate - false_positive_rate, 12)
    return float(thresholds[1:][int(np.argmax(j[1:]))])


# ---------------------------------------------------------------------------------------------------------------
# Multi-class (cardiomyopathy subtype: HCM / DCM / RCM)


def _labels(name: str, values) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array of class labels, got shape {arr.shape}.")
    if arr.dtype.kind == "f" and np.isnan(arr).any():
        raise ValueError(f"{name} contains NaN; drop subjects without a label first.")
    return arr


def multiclass_accuracy(y_true, y_pred) -> float:
    """Fraction of subjects whose predicted class equals the true one (labels of any type, e.g. "HCM")."""
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    _same_shape(y_true=y_true, y_pred=y_pred)
    return float(np.mean(y_true == y_pred))


def cohen_kappa(ratings_a, ratings_b) -> float:
    """Agreement of two raters on the same subjects beyond chance (Cohen's kappa), via scikit-learn."""
    a, b = _labels("ratings_a", ratings_a), _labels("ratings_b", ratings_b)
    _same_shape(ratings_a=a, ratings_b=b)
    if len(np.unique(np.concatenate([a, b]))) < 2:
        raise UndefinedMetricError("Cohen's kappa needs at least two categories among the ratings.")
    return float(cohen_kappa_score(a, b))


def fleiss_kappa(ratings) -> float:
    """Agreement of several raters beyond chance (Fleiss' kappa). ``ratings`` is (subjects, raters) of category
    labels, every subject rated by every rater."""
    table = np.asarray(ratings)
    if table.ndim != 2 or table.shape[0] < 1 or table.shape[1] < 2:
        raise ValueError(f"ratings must be (subjects, raters) with at least 2 raters, got shape {table.shape}")
    categories = np.unique(table)
    counts = (table[:, :, None] == categories[None, None, :]).sum(axis=1).astype(float)  # (subjects, categories)
    raters = table.shape[1]
    agreement = ((counts * (counts - 1)).sum(axis=1) / (raters * (raters - 1))).mean()
    shares = counts.sum(axis=0) / counts.sum()
    chance = float((shares**2).sum())
    if chance >= 1.0:
        raise UndefinedMetricError("Fleiss' kappa needs at least two categories among the ratings.")
    return float((agreement - chance) / (1.0 - chance))


def confusion_matrix(y_true, y_pred, labels) -> np.ndarray:
    """Counts ``(C, C)``: row = true class, column = predicted class, both in the order of ``labels``.

    ``labels`` is explicit (e.g. ``("HCM", "DCM", "RCM")``) so the layout never depends on which classes happen
    to occur; any label outside it is an error.
    """
    y_true, y_pred = _labels("y_true", y_true), _labels("y_pred", y_pred)
    _same_shape(y_true=y_true, y_pred=y_pred)
    labels = _labels("labels", labels)
    if np.unique(labels).size != labels.size:
        raise ValueError(f"labels must be distinct, got {labels.tolist()}.")
    index = {label: i for i, label in enumerate(labels.tolist())}
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        unknown = sorted(set(values.tolist()) - index.keys(), key=str)
        if unknown:
            raise ValueError(f"{name} has labels not in labels {labels.tolist()}: {unknown[:5]}.")
    rows = np.array([index[v] for v in y_true.tolist()])
    cols = np.array([index[v] for v in y_pred.tolist()])
    return np.bincount(rows * len(labels) + cols, minlength=len(labels) ** 2).reshape(len(labels), len(labels))


# ---------------------------------------------------------------------------------------------------------------
# Images: generated cines against the truth, and generated sets against true sets.


def _cines(generated, truth) -> tuple[np.ndarray, np.ndarray]:
    generated = _array("generated", generated, 3)
    truth = _array("truth", truth, 3)
    _same_shape(generated=generated, truth=truth)
    return generated, truth


def psnr_db_per_frame(generated, truth, data_range: float = 1.0) -> np.ndarray:
    """Peak signal-to-noise ratio (dB) of each frame of ``generated`` (T, H, W) against ``truth``; identical
    frames get +inf."""
    generated, truth = _cines(generated, truth)
    mse = ((generated - truth) ** 2).mean(axis=(1, 2))
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10(data_range**2 / mse)


def intensity_matched(generated, truth) -> np.ndarray:
    """``generated`` (T, H, W) under the gain and offset that bring it closest to ``truth`` (least squares over
    the whole cine), clipped to [0, 1]. What error is left is anatomy and motion, not the contrast a scanner
    gives them. It reads the truth, so it diagnoses beside the plain scores and never replaces them."""
    generated, truth = _cines(generated, truth)
    x, y = generated.ravel().astype(np.float64), truth.ravel().astype(np.float64)
    spread = x.var()
    gain = 0.0 if spread == 0 else float(((x - x.mean()) * (y - y.mean())).mean() / spread)
    offset = float(y.mean() - gain * x.mean())
    return np.clip(gain * generated + offset, 0.0, 1.0).astype(np.float32)


def ssim_per_frame(generated, truth, data_range: float = 1.0) -> np.ndarray:
    """Structural similarity (Wang et al. 2004; scikit-image's 7 x 7 window) of each frame (T, H, W)."""
    from skimage.metrics import structural_similarity  # imported here: scikit-image is slow to import

    generated, truth = _cines(generated, truth)
    return np.array([structural_similarity(g, t, data_range=data_range) for g, t in zip(generated, truth)])


def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N, D) and (M, D), as FID (Heusel et al.
    2017) computes it on Inception features. Its small-sample bias depends on N, so compare sets of one size."""
    a = _array("features_a", features_a, 2)
    b = _array("features_b", features_b, 2)
    if a.shape[1] != b.shape[1] or min(len(a), len(b)) < 2:
        raise ValueError(f"need two feature sets of at least 2 rows and one width, got {a.shape} and {b.shape}")
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    cov_a, cov_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():
        # A set of identical images (the population-mean baseline) has a singular covariance; its square root
        # is still well defined, so scipy's warning is noise here.
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(cov_a @ cov_b)
        if not np.isfinite(root).all():  # numerically broken: regularise as FID implementations do
            offset = 1e-6 * np.eye(len(cov_a))
            root = linalg.sqrtm((cov_a + offset) @ (cov_b + offset))
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a + cov_b - 2.0 * np.real(root)))

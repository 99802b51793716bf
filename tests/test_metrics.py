"""The shared metrics agree with scikit-learn and with slow textbook references, and refuse bad input clearly."""

import math
import time
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, log_softmax, softmax
from sklearn import metrics as skm

from cardionets import metrics
from cardionets.metrics import (
    UndefinedMetricError,
    apply_temperature,
    auprc,
    auroc,
    bootstrap_ci,
    brier,
    confusion_matrix,
    delong_ci,
    delong_test,
    expected_calibration_error,
    fit_softmax_temperature,
    fit_temperature,
    multiclass_accuracy,
    r2,
    r2_per_column,
    sensitivity_specificity,
    cross_validated_scores,
    threshold_at_sensitivity,
    threshold_at_specificity,
    threshold_youden,
)


def binary_task(n: int, seed: int, separation: float = 1.0, ties: bool = False):
    """Labels and a score that ranks positives higher on average; rounded scores produce many ties."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = separation * y + rng.normal(size=n)
    return y, (np.round(score, 1) if ties else score)


def delong_reference(y, scores):
    """AUCs and DeLong covariance straight from the Mann-Whitney kernel over all (positive, negative) pairs, O(mn)."""
    pos, neg = scores[:, y == 1], scores[:, y == 0]
    kernel = (pos[:, :, None] > neg[:, None, :]) + 0.5 * (pos[:, :, None] == neg[:, None, :])  # (K, m, n)
    placement_pos, placement_neg = kernel.mean(axis=2), kernel.mean(axis=1)
    covariance = np.cov(placement_pos) / pos.shape[1] + np.cov(placement_neg) / neg.shape[1]
    return kernel.mean(axis=(1, 2)), np.atleast_2d(covariance)


def sigmoid_nll(logits, y):
    return float(np.mean(np.logaddexp(0, logits) - y * logits))


# --- regression -----------------------------------------------------------------------------------------------


def test_r2_matches_sklearn():
    rng = np.random.default_rng(0)
    y_true = rng.normal(size=300)
    y_pred = y_true + rng.normal(scale=0.7, size=300)
    assert r2(y_true, y_pred) == pytest.approx(skm.r2_score(y_true, y_pred), abs=1e-12)


def test_r2_ignores_subjects_without_a_target():
    rng = np.random.default_rng(1)
    y_true, y_pred = rng.normal(size=200), rng.normal(size=200)
    missing = rng.random(200) < 0.3
    with_gaps = np.where(missing, np.nan, y_true)
    assert r2(with_gaps, y_pred) == pytest.approx(skm.r2_score(y_true[~missing], y_pred[~missing]), abs=1e-12)


def test_r2_per_column_matches_sklearn_raw_values():
    rng = np.random.default_rng(2)
    Y_true = rng.normal(size=(150, 4))
    Y_pred = Y_true * [1.0, 0.5, 0.0, -1.0] + rng.normal(scale=0.5, size=(150, 4))
    expected = skm.r2_score(Y_true, Y_pred, multioutput="raw_values")
    np.testing.assert_allclose(r2_per_column(Y_true, Y_pred), expected, atol=1e-12)


def test_r2_per_column_names_the_column_without_targets():
    Y_true = np.array([[1.0, np.nan], [2.0, np.nan], [3.0, np.nan]])
    with pytest.raises(UndefinedMetricError, match="Column 1"):
        r2_per_column(Y_true, np.zeros((3, 2)))


def test_r2_of_a_constant_target_is_undefined():
    with pytest.raises(UndefinedMetricError, match="same value"):
        r2([2.0, 2.0, 2.0], [1.0, 2.0, 3.0])


def test_r2_refuses_missing_predictions_where_the_target_is_known():
    with pytest.raises(ValueError, match="y_pred contains NaN"):
        r2([1.0, 2.0, 3.0], [1.0, np.nan, 3.0])


# --- discrimination and calibration -------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_auroc_auprc_and_brier_match_sklearn(ties):
    y, score = binary_task(500, seed=3, ties=ties)
    p = expit(score)
    assert auroc(y, score) == pytest.approx(skm.roc_auc_score(y, score), abs=1e-12)
    assert auprc(y, score) == pytest.approx(skm.average_precision_score(y, score), abs=1e-12)
    assert brier(y, p) == pytest.approx(skm.brier_score_loss(y, p), abs=1e-12)


def test_auroc_with_one_class_is_undefined():
    with pytest.raises(UndefinedMetricError, match="0 negative"):
        auroc([1, 1, 1], [0.1, 0.5, 0.9])


def labelled_scores(scores: st.SearchStrategy, max_size: int) -> st.SearchStrategy:
    """(label, score) rows with both classes present; coarse score grids make ties common."""
    rows = st.lists(st.tuples(st.integers(0, 1), scores), min_size=2, max_size=max_size)
    return rows.filter(lambda r: len({label for label, _ in r}) == 2)


@given(
    data=labelled_scores(st.integers(-20, 20), max_size=40),
    transform=st.sampled_from([lambda s: 3 * s + 7, lambda s: np.exp(s / 5), lambda s: s**3, np.arctan]),
)
def test_auroc_is_invariant_to_increasing_transforms_of_the_score(data, transform):
    y, score = (np.array(column) for column in zip(*data))
    assert auroc(y, transform(score.astype(float))) == pytest.approx(auroc(y, score), abs=1e-12)
    assert auroc(y, -score) == pytest.approx(1 - auroc(y, score), abs=1e-12)


def test_ece_of_calibrated_probabilities_is_small():
    rng = np.random.default_rng(4)
    p = rng.random(20_000)
    y = rng.random(20_000) < p
    assert expected_calibration_error(y, p) < 0.03


def test_ece_of_miscalibrated_probabilities_is_large():
    rng = np.random.default_rng(5)
    p = rng.random(20_000)
    y = rng.random(20_000) < p
    assert expected_calibration_error(y, p**3) > 0.15  # E|p - p^3| = 0.25 over a uniform p


def test_ece_by_hand():
    # Bins of width 0.5: {0.1, 0.2} with outcomes {0, 1} -> |0.5 - 0.15|; {0.9} with outcome 1 -> |1 - 0.9|.
    ece = expected_calibration_error([0, 1, 1], [0.1, 0.2, 0.9], n_bins=2)
    assert ece == pytest.approx(2 / 3 * 0.35 + 1 / 3 * 0.1)


def test_ece_puts_probability_one_in_the_last_bin():
    assert expected_calibration_error([1, 0], [1.0, 0.0], n_bins=15) == 0


# --- bootstrap ---------------------------------------------------------------------------------------------------


def test_bootstrap_interval_contains_the_point_estimate():
    y, score = binary_task(500, seed=6)
    point, low, high = bootstrap_ci(auroc, y, score)
    assert point == auroc(y, score)
    assert low < point < high


def test_bootstrap_interval_narrows_with_more_subjects():
    widths = {}
    for n in (200, 2000):
        y, score = binary_task(n, seed=7)
        _, low, high = bootstrap_ci(auroc, y, score, n_resamples=500)
        widths[n] = high - low
    assert widths[2000] < 0.5 * widths[200]  # about 1 / sqrt(10) expected


@pytest.mark.parametrize("metric", [auroc, auprc])
def test_vectorised_ranking_metrics_equal_resampling_one_by_one(metric):
    y, score = binary_task(120, seed=8, ties=True)
    vectorised = bootstrap_ci(metric, y, score, n_resamples=200, seed=3)
    one_by_one = bootstrap_ci(lambda *a: metric(*a), y, score, n_resamples=200, seed=3)
    np.testing.assert_allclose(vectorised, one_by_one, atol=1e-12)


def test_bootstrap_works_for_any_metric_and_several_arrays():
    rng = np.random.default_rng(9)
    y_true = rng.normal(size=300)
    point, low, high = bootstrap_ci(r2, y_true, y_true + rng.normal(scale=0.5, size=300), n_resamples=300)
    assert low < point < high


def test_stratified_bootstrap_keeps_the_class_counts():
    y, _ = binary_task(100, seed=10)
    assert bootstrap_ci(np.sum, y, stratify=y, n_resamples=50) == (y.sum(), y.sum(), y.sum())


def test_single_class_resamples_are_skipped_with_a_warning():
    y = np.array([1] + [0] * 9)
    score = np.linspace(0, 1, 10)
    with pytest.warns(RuntimeWarning, match="skipped"):
        vectorised = bootstrap_ci(auroc, y, score, n_resamples=200)
    with pytest.warns(RuntimeWarning, match="skipped"):
        one_by_one = bootstrap_ci(lambda *a: auroc(*a), y, score, n_resamples=200)
    np.testing.assert_allclose(vectorised, one_by_one)


def test_stratifying_by_the_label_avoids_single_class_resamples():
    y = np.array([1] + [0] * 9)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bootstrap_ci(auroc, y, np.linspace(0, 1, 10), stratify=y, n_resamples=200)


def test_bootstrap_of_1000_aurocs_on_2000_subjects_takes_well_under_two_seconds():
    y, score = binary_task(2000, seed=11)
    start = time.perf_counter()
    bootstrap_ci(auroc, y, score, n_resamples=1000)
    assert time.perf_counter() - start < 2.0


def test_bootstrap_refuses_arrays_of_different_lengths():
    with pytest.raises(ValueError, match="same number of rows"):
        bootstrap_ci(auroc, [0, 1, 0], [0.1, 0.2])


# --- DeLong ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("ties", [False, True])
def test_delong_matches_sklearn_aucs_and_the_pairwise_reference(ties):
    y, score_a = binary_task(200, seed=12, ties=ties)
    score_b = np.round(score_a + np.random.default_rng(13).normal(size=200), 1 if ties else 6)
    auc_a, auc_b, z, p_value = delong_test(y, score_a, score_b)

    assert auc_a == pytest.approx(skm.roc_auc_score(y, score_a), abs=1e-12)
    assert auc_b == pytest.approx(skm.roc_auc_score(y, score_b), abs=1e-12)
    aucs, cov = delong_reference(y, np.vstack([score_a, score_b]))
    z_reference = (aucs[0] - aucs[1]) / math.sqrt(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1])
    assert z == pytest.approx(z_reference, rel=1e-9)
    assert p_value == pytest.approx(math.erfc(abs(z_reference) / math.sqrt(2)), rel=1e-9)


def test_delong_ci_uses_the_pairwise_reference_variance():
    y, score = binary_task(200, seed=14, ties=True)
    (auc,), cov = delong_reference(y, score[None, :])
    point, low, high = delong_ci(y, score)
    assert point == pytest.approx(auc, abs=1e-12)
    assert (high - low) / 2 == pytest.approx(1.959963984540054 * math.sqrt(cov[0, 0]), rel=1e-9)


def test_delong_ci_agrees_with_the_bootstrap():
    y, score = binary_task(2000, seed=15)
    _, low, high = delong_ci(y, score)
    _, boot_low, boot_high = bootstrap_ci(auroc, y, score, n_resamples=1000)
    assert high - low == pytest.approx(boot_high - boot_low, rel=0.15)


def test_delong_identical_scores_are_not_different():
    y, score = binary_task(200, seed=16)
    assert delong_test(y, score, score)[2:] == (0.0, 1.0)


def test_delong_detects_a_clearly_better_score():
    y, strong = binary_task(300, seed=17, separation=2.0)
    weak = strong + np.random.default_rng(18).normal(scale=3.0, size=300)
    auc_a, auc_b, z, p_value = delong_test(y, strong, weak)
    assert auc_a > auc_b and z > 0 and p_value < 1e-4


def test_delong_is_symmetric_in_the_two_scores():
    y, score_a = binary_task(150, seed=19)
    score_b = score_a + np.random.default_rng(20).normal(size=150)
    forward, backward = delong_test(y, score_a, score_b), delong_test(y, score_b, score_a)
    assert forward.z == pytest.approx(-backward.z) and forward.p_value == pytest.approx(backward.p_value)


def test_delong_needs_two_cases_of_each_class():
    with pytest.raises(UndefinedMetricError, match="at least 2 positive"):
        delong_test([1, 0, 0], [0.9, 0.1, 0.2], [0.8, 0.3, 0.1])


# --- temperature scaling ------------------------------------------------------------------------------------------


def overconfident_binary(n: int, seed: int, overconfidence: float):
    rng = np.random.default_rng(seed)
    true_logits = rng.normal(scale=1.5, size=n)
    y = (rng.random(n) < expit(true_logits)).astype(int)
    return overconfidence * true_logits, y


def test_temperature_scaling_reduces_nll_and_ece_of_overconfident_logits():
    logits, y = overconfident_binary(5000, seed=21, overconfidence=3.0)
    temperature = fit_temperature(logits, y)
    calibrated = apply_temperature(logits, temperature)
    assert isinstance(temperature, float) and temperature == pytest.approx(3.0, rel=0.15)
    assert sigmoid_nll(calibrated, y) < sigmoid_nll(logits, y)
    assert expected_calibration_error(y, expit(calibrated)) < 0.5 * expected_calibration_error(y, expit(logits))


def test_temperature_is_the_nll_minimiser():
    logits, y = overconfident_binary(2000, seed=22, overconfidence=2.0)
    temperature = fit_temperature(logits, y)
    best = sigmoid_nll(logits / temperature, y)
    for nearby in (0.95 * temperature, 1.05 * temperature):
        assert best <= sigmoid_nll(logits / nearby, y)


def test_multilabel_logits_get_one_temperature_per_label():
    over, y_over = overconfident_binary(5000, seed=23, overconfidence=3.0)
    under, y_under = overconfident_binary(5000, seed=24, overconfidence=0.5)
    temperatures = fit_temperature(np.column_stack([over, under]), np.column_stack([y_over, y_under]))
    np.testing.assert_allclose(temperatures, [3.0, 0.5], rtol=0.15)
    calibrated = apply_temperature(np.column_stack([over, under]), temperatures)
    np.testing.assert_allclose(calibrated, np.column_stack([over / temperatures[0], under / temperatures[1]]))


def test_softmax_temperature_reduces_nll_and_top_label_ece():
    rng = np.random.default_rng(25)
    true_logits = rng.normal(scale=1.5, size=(5000, 3))  # HCM / DCM / RCM
    y = (rng.random((5000, 1)) > np.cumsum(softmax(true_logits, axis=1), axis=1)).sum(axis=1)
    logits = 3.0 * true_logits
    temperature = fit_softmax_temperature(logits, y)
    calibrated = apply_temperature(logits, temperature)

    def nll(z):
        return -np.mean(log_softmax(z, axis=1)[np.arange(len(y)), y])

    def top_label_ece(z):
        probabilities = softmax(z, axis=1)
        return expected_calibration_error(probabilities.argmax(axis=1) == y, probabilities.max(axis=1))

    assert temperature == pytest.approx(3.0, rel=0.15)
    assert nll(calibrated) < nll(logits)
    assert top_label_ece(calibrated) < 0.5 * top_label_ece(logits)


def test_temperature_fit_needs_both_classes():
    with pytest.raises(ValueError, match="both classes"):
        fit_temperature([1.0, 2.0, 3.0], [1, 1, 1])


def test_apply_temperature_refuses_a_nonpositive_or_misshapen_temperature():
    with pytest.raises(ValueError, match="positive"):
        apply_temperature([1.0, 2.0], 0.0)
    with pytest.raises(ValueError, match="one per label"):
        apply_temperature(np.zeros((4, 2)), [1.0, 2.0, 3.0])


def test_softmax_temperature_refuses_labels_outside_the_classes():
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        fit_softmax_temperature(np.zeros((2, 3)), [0, 3])


# --- operating points -------------------------------------------------------------------------------------------


def test_sensitivity_specificity_by_hand():
    y = [1, 1, 1, 1, 0, 0, 0, 0]
    p = [0.9, 0.8, 0.5, 0.2, 0.6, 0.3, 0.1, 0.5]
    assert sensitivity_specificity(y, p, 0.5) == (0.75, 0.5)  # p >= 0.5 is called positive


@settings(max_examples=200)
@given(
    data=labelled_scores(st.integers(0, 20).map(lambda k: k / 20), max_size=60),
    target=st.sampled_from([0.5, 0.7, 0.8, 0.9, 0.95, 1.0]),
)
def test_threshold_is_the_largest_that_keeps_the_target_sensitivity(data, target):
    y, p = (np.array(column) for column in zip(*data))
    threshold = threshold_at_sensitivity(y, p, target)
    assert sensitivity_specificity(y, p, threshold).sensitivity >= target
    assert sensitivity_specificity(y, p, np.nextafter(threshold, np.inf)).sensitivity < target


def test_threshold_keeps_ninety_percent_sensitivity_on_continuous_scores():
    y, score = binary_task(1000, seed=26)
    p = expit(score)
    threshold = threshold_at_sensitivity(y, p)
    assert sensitivity_specificity(y, p, threshold).sensitivity >= 0.9
    assert threshold in p[y == 1]


@settings(max_examples=200)
@given(data=labelled_scores(st.integers(0, 20).map(lambda k: k / 20), max_size=60))
def test_youden_threshold_beats_every_other_score_as_a_cut(data):
    y, p = (np.array(column) for column in zip(*data))

    def j(t):
        found = sensitivity_specificity(y, p, t)
        return found.sensitivity + found.specificity - 1

    best = threshold_youden(y, p)
    assert best in p
    assert all(j(best) >= j(t) - 1e-12 for t in np.unique(p))
    assert all(j(t) < j(best) - 1e-12 for t in np.unique(p) if t > best)  # ties go to the highest cut


# --- multi-class subtype ----------------------------------------------------------------------------------------


def test_subtype_accuracy_and_confusion_matrix_match_sklearn():
    rng = np.random.default_rng(27)
    subtypes = np.array(["HCM", "DCM", "RCM"])
    y_true = subtypes[rng.integers(0, 3, 100)]
    y_pred = np.where(rng.random(100) < 0.7, y_true, subtypes[rng.integers(0, 3, 100)])
    assert multiclass_accuracy(y_true, y_pred) == pytest.approx(skm.accuracy_score(y_true, y_pred))
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, labels=subtypes), skm.confusion_matrix(y_true, y_pred, labels=subtypes)
    )


def test_confusion_matrix_keeps_absent_classes_in_place():
    matrix = confusion_matrix(["HCM", "HCM"], ["HCM", "DCM"], labels=["HCM", "DCM", "RCM"])
    np.testing.assert_array_equal(matrix, [[1, 1, 0], [0, 0, 0], [0, 0, 0]])


def test_confusion_matrix_refuses_unknown_labels():
    with pytest.raises(ValueError, match="ARVC"):
        confusion_matrix(["HCM"], ["ARVC"], labels=["HCM", "DCM", "RCM"])


# --- input validation ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: auroc([0, 1, 1], [0.1, 0.2]), "same shape"),
        (lambda: auroc([0, 1, 2], [0.1, 0.2, 0.3]), "only 0 and 1"),
        (lambda: auroc([0, 1, np.nan], [0.1, 0.2, 0.3]), "NaN"),
        (lambda: auroc([0, 1], [0.1, np.nan]), "score contains NaN"),
        (lambda: auroc([[0, 1]], [[0.1, 0.2]]), "1-D"),
        (lambda: auprc([], []), "empty"),
        (lambda: brier([0, 1], [0.5, 1.5]), r"\[0, 1\]"),
        (lambda: expected_calibration_error([0, 1], [0.2, 0.8], n_bins=0), "n_bins"),
        (lambda: threshold_at_sensitivity([0, 1], [0.2, 0.8], sensitivity=0), "sensitivity"),
        (lambda: bootstrap_ci(auroc, [0, 1], [0.2, 0.8], alpha=1.5), "alpha"),
        (lambda: bootstrap_ci(auroc, [0, 1], [0.2, 0.8], stratify=[0]), "stratify"),
        (lambda: multiclass_accuracy(["HCM"], ["HCM", "DCM"]), "same shape"),
        (lambda: auroc(["a", "b"], [0.1, 0.2]), "numeric"),
    ],
)
def test_bad_input_raises_a_readable_value_error(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- images -----------------------------------------------------------------------------------------------------


def test_psnr_per_frame_follows_its_definition():
    from cardionets.metrics import psnr_db_per_frame

    truth = np.zeros((3, 8, 8))
    generated = truth.copy()
    generated[1] += 0.1  # MSE 0.01 -> 20 dB
    generated[2] += 0.01  # MSE 1e-4 -> 40 dB
    psnr = psnr_db_per_frame(generated, truth)
    assert psnr[0] == np.inf and psnr[1:] == pytest.approx([20.0, 40.0])
    with pytest.raises(ValueError, match="same shape|shape"):
        psnr_db_per_frame(generated[:2], truth)


def test_intensity_matching_undoes_a_contrast_change_but_not_a_moved_structure():
    from cardionets.metrics import intensity_matched, psnr_db_per_frame

    truth = np.full((2, 16, 16), 0.2)
    truth[:, 4:10, 4:10] = 0.9
    dimmer = 0.5 * truth + 0.1  # another scanner's contrast, same anatomy
    assert psnr_db_per_frame(dimmer, truth).max() < 20
    assert np.allclose(intensity_matched(dimmer, truth), truth, atol=1e-6)
    moved = np.roll(dimmer, 3, axis=2)  # the same contrast change and a structure in the wrong place
    assert psnr_db_per_frame(intensity_matched(moved, truth), truth).max() < 20
    assert np.all(intensity_matched(np.zeros_like(truth), truth) == pytest.approx(truth.mean()))  # flat: the mean


def test_ssim_is_one_for_identical_frames_and_falls_with_noise():
    from cardionets.metrics import ssim_per_frame

    rng = np.random.default_rng(0)
    truth = np.zeros((2, 32, 32))
    truth[:, 8:24, 8:24] = 0.8
    assert ssim_per_frame(truth, truth) == pytest.approx([1.0, 1.0])
    mild = ssim_per_frame(truth + rng.normal(0, 0.02, truth.shape), truth)
    strong = ssim_per_frame(truth + rng.normal(0, 0.2, truth.shape), truth)
    assert (strong < mild).all() and (mild < 1).all()


def test_frechet_distance_is_zero_for_one_set_and_grows_with_a_shift():
    from cardionets.metrics import frechet_distance

    rng = np.random.default_rng(0)
    a = rng.normal(size=(500, 4))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    # Same covariance, means 2 apart on every axis: the distance is the squared mean difference (4 x 4 = 16).
    assert frechet_distance(a, a + 2.0) == pytest.approx(16.0, rel=1e-6)
    wide = rng.normal(scale=3.0, size=(500, 4))
    assert frechet_distance(a, wide) > 4 * (3 - 1) ** 2 * 0.8
    with pytest.raises(ValueError, match="feature sets"):
        frechet_distance(a, a[:, :3])


def test_wilson_interval_matches_statsmodels_and_stays_inside_zero_and_one():
    from statsmodels.stats.proportion import proportion_confint

    for successes, n in ((0, 10), (3, 10), (10, 10), (601, 782)):
        interval = metrics.wilson_ci(successes, n)
        low, high = proportion_confint(successes, n, method="wilson")
        assert interval.point == successes / n
        assert interval.low == pytest.approx(low) and interval.high == pytest.approx(high)
        assert 0 <= interval.low <= interval.point <= interval.high <= 1
    with pytest.raises(metrics.UndefinedMetricError):
        metrics.wilson_ci(0, 0)
    with pytest.raises(ValueError):
        metrics.wilson_ci(11, 10)


@pytest.mark.parametrize("target", [0.5, 0.8, 0.98, 1.0])
def test_threshold_at_specificity_is_the_most_sensitive_threshold_that_keeps_the_specificity(target):
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 300)
    p = np.clip(rng.normal(0.35 + 0.3 * y, 0.15), 0, 1)
    threshold = threshold_at_specificity(y, p, target)
    negatives = p[y == 0]
    assert np.mean(negatives < threshold) >= target
    # Any lower threshold (down to the next negative score) would clear one more negative than the target allows.
    below = negatives[negatives < threshold]
    if below.size:
        assert np.mean(negatives < below.max()) < target


def test_cross_validated_scores_are_out_of_fold_and_tell_signal_from_noise():
    rng = np.random.default_rng(5)
    y = rng.integers(0, 2, 400)
    signal, noise = y + rng.normal(0, 0.7, 400), rng.normal(0, 1, 400)
    x = np.column_stack([signal, noise])
    x[::7, 0] = np.nan  # missing measurements are imputed inside each fold
    groups = np.arange(400) // 2
    assert skm.roc_auc_score(y, cross_validated_scores(x, y, groups)) > 0.75
    assert abs(skm.roc_auc_score(y, cross_validated_scores(noise[:, None], y, groups)) - 0.5) < 0.1

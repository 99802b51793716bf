"""Multi-reader multi-case ROC analysis: the Obuchowski-Rockette (OR) model, as OR-DBM MRMC and MRMCaov run it.

    result = or_analysis(ratings)          # long frame: reader, treatment, case, truth (bool), rating
    result.table()                         # every analysis's omnibus test and pairwise differences

Every reader rates every case under every treatment (a fully crossed study). The figure of merit is each
reader's empirical (trapezoidal, Mann-Whitney) AUC under each treatment, so any ordinal or continuous rating
works: only its order matters. The AUCs' error variance and the three error covariances (Cov1 same reader, other
treatment; Cov2 same treatment, other reader; Cov3 both different) come from jackknifing cases.

Three analyses, because what a study may claim depends on which of its factors are a sample:
- random readers and random cases: Hillis' (2007) F test, whose denominator degrees of freedom Hillis derived;
  the result generalises to other readers and other cases;
- fixed readers, random cases: a chi-square test; the result holds for these readers only;
- random readers, fixed cases: the conventional treatment-by-reader F test; for these cases only.
Each reports the omnibus test over all treatments and every pairwise difference with its CI; with more than two
treatments the pairwise error terms are pooled over all of them, as OR-DBM MRMC does.

Validated number for number against the published Van Dyke (1993) results (tests/test_study_mrmc.py).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

RANDOM_READERS_RANDOM_CASES = "random readers, random cases"
FIXED_READERS = "fixed readers, random cases"
FIXED_CASES = "random readers, fixed cases"


@dataclass(frozen=True)
class VarianceComponents:
    """The OR model's components, on the AUC scale. ``cases`` is the number they were estimated on: the error
    variance and covariances scale with 1 / cases when a new study is sized from them."""

    error: float  # Var(error): a reader's AUC under one treatment, across case samples
    cov1: float  # same reader, other treatment
    cov2: float  # same treatment, other reader
    cov3: float  # other treatment, other reader
    treatment_reader: float  # sigma^2_TR: how much readers' treatment effects differ
    reader: float  # sigma^2_R: how much readers differ
    cases: int


@dataclass(frozen=True)
class Comparison:
    first: str
    second: str
    difference: float  # AUC(first) - AUC(second), averaged over readers
    low: float
    high: float
    standard_error: float
    p: float


@dataclass(frozen=True)
class Test:
    analysis: str
    statistic_name: str  # "F" or "chi-square"
    statistic: float
    df1: float
    df2: float | None  # None for a chi-square
    p: float
    comparisons: tuple[Comparison, ...]


@dataclass(frozen=True)
class MRMCResult:
    treatments: tuple[str, ...]
    readers: tuple[str, ...]
    cases: int
    reader_auc: pd.DataFrame  # readers x treatments
    components: VarianceComponents
    tests: tuple[Test, ...]  # random readers and cases; fixed readers; fixed cases (the last two need 2+ readers)
    alpha: float = 0.05

    @property
    def treatment_auc(self) -> pd.Series:
        return self.reader_auc.mean(axis=0)

    def test(self, analysis: str) -> Test:
        return next(test for test in self.tests if test.analysis == analysis)

    def table(self) -> pd.DataFrame:
        """One row per analysis and pairwise difference, the omnibus test's figures repeated on each."""
        return pd.DataFrame([{"analysis": test.analysis, "comparison": f"{c.first} - {c.second}",
                              "difference": c.difference, "low": c.low, "high": c.high, "p (pair)": c.p,
                              "omnibus": f"{test.statistic_name} = {test.statistic:.3f}", "df": _df(test),
                              "p (omnibus)": test.p} for test in self.tests for c in test.comparisons])


def _df(test: Test) -> str:
    return f"{test.df1:g}" if test.df2 is None else f"{test.df1:g}, {test.df2:.2f}"


def or_analysis(ratings: pd.DataFrame, alpha: float = 0.05) -> MRMCResult:
    """``ratings``: one row per read with columns ``reader``, ``treatment``, ``case``, ``truth`` (True when the
    case is diseased) and ``rating`` (higher = more suspicious). Raises ValueError when the study is not fully
    crossed or lacks diseased or non-diseased cases."""
    wide = ratings.pivot_table(index="case", columns=["treatment", "reader"], values="rating", aggfunc="first")
    if wide.isna().any().any() or ratings.duplicated(["reader", "treatment", "case"]).any():
        raise ValueError("This analysis needs every reader to rate every case exactly once under every treatment "
                         "(a fully crossed study); a Latin-square (split-plot) study is not supported.")
    truth = ratings.groupby("case")["truth"].first().loc[wide.index].to_numpy(dtype=bool)
    if truth.all() or not truth.any():
        raise ValueError("The cases must include both diseased and non-diseased ones.")
    treatments = tuple(wide.columns.get_level_values(0).unique())
    readers = tuple(wide.columns.get_level_values(1).unique())
    if len(treatments) < 2:
        raise ValueError("Comparing treatments needs at least two of them.")
    t, r, n = len(treatments), len(readers), len(truth)
    values = wide[[(arm, reader) for arm in treatments for reader in readers]].to_numpy(dtype=float)

    def aucs(rows: np.ndarray) -> np.ndarray:
        # Every column's AUC at once (Mann-Whitney on ranks, ties half): the jackknife needs n x t x r of them.
        diseased = truth[rows]
        ranks = stats.rankdata(values[rows], axis=0)
        n_pos, n_neg = diseased.sum(), (~diseased).sum()
        return (ranks[diseased].sum(axis=0) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)

    theta = aucs(np.arange(n)).reshape(t, r)
    jack = np.array([aucs(np.delete(np.arange(n), k)) for k in range(n)])
    # The jackknife covariance: (n - 1) / n times the sum of outer products of the leave-one-out deviations.
    covariance = (n - 1) * np.cov(jack, rowvar=False, bias=True)
    arm_of, reader_of = np.repeat(np.arange(t), r), np.tile(np.arange(r), t)
    same_arm, same_reader = arm_of[:, None] == arm_of[None, :], reader_of[:, None] == reader_of[None, :]
    error = float(np.diag(covariance).mean())
    cov1 = float(covariance[~same_arm & same_reader].mean())
    cov2 = float(covariance[same_arm & ~same_reader].mean()) if r > 1 else 0.0
    cov3 = float(covariance[~same_arm & ~same_reader].mean()) if r > 1 else 0.0

    arm_means, reader_means, grand = theta.mean(axis=1), theta.mean(axis=0), theta.mean()
    ms_t = r * ((arm_means - grand) ** 2).sum() / (t - 1)
    ms_r = t * ((reader_means - grand) ** 2).sum() / (r - 1) if r > 1 else float("nan")
    interaction = theta - arm_means[:, None] - reader_means[None, :] + grand
    ms_tr = (interaction**2).sum() / ((t - 1) * (r - 1)) if r > 1 else float("nan")
    # Method-of-moments estimates from E[MS(T*R)] and E[MS(R)] under the OR model (the reader term unrestricted,
    # so E[MS(R)] also carries sigma^2_TR).
    treatment_reader = float(ms_tr - error + cov1 + cov2 - cov3)
    reader = float((ms_r - treatment_reader - error - (t - 1) * cov1 + cov2 + (t - 1) * cov3) / t)
    components = VarianceComponents(error, cov1, cov2, cov3, treatment_reader, reader, n)

    def pairs(standard_error: float, quantile: float, tail) -> tuple[Comparison, ...]:
        found = []
        for i, j in itertools.combinations(range(t), 2):
            difference = float(arm_means[i] - arm_means[j])
            half_width = float(quantile * standard_error)
            found.append(Comparison(treatments[i], treatments[j], difference, difference - half_width,
                                    difference + half_width, standard_error,
                                    float(2 * tail(_ratio(abs(difference), standard_error)))))
        return tuple(found)

    shared = max(cov2 - cov3, 0.0)
    fixed_denominator = error - cov1 + (r - 1) * shared
    chi_square = (t - 1) * _ratio(ms_t, fixed_denominator)
    z = stats.norm.ppf(1 - alpha / 2)
    fixed_se = float(np.sqrt(2 / r * fixed_denominator))
    tests = [Test(FIXED_READERS, "chi-square", chi_square, t - 1, None, float(stats.chi2.sf(chi_square, t - 1)),
                  pairs(fixed_se, z, stats.norm.sf))]
    if r > 1:
        denominator = ms_tr + r * shared
        ddf = _ratio(denominator**2, ms_tr**2 / ((t - 1) * (r - 1)))
        f = _ratio(ms_t, denominator)
        se = float(np.sqrt(2 / r * denominator))
        tests.insert(0, Test(RANDOM_READERS_RANDOM_CASES, "F", f, t - 1, ddf, _f_sf(f, t - 1, ddf),
                             pairs(se, stats.t.ppf(1 - alpha / 2, ddf), lambda x: stats.t.sf(x, ddf))))
        fixed_cases_df = (t - 1) * (r - 1)
        f_cases = _ratio(ms_t, ms_tr)
        tests.append(Test(FIXED_CASES, "F", f_cases, t - 1, fixed_cases_df, _f_sf(f_cases, t - 1, fixed_cases_df),
                          pairs(float(np.sqrt(2 / r * ms_tr)), stats.t.ppf(1 - alpha / 2, fixed_cases_df),
                                lambda x: stats.t.sf(x, fixed_cases_df))))
    return MRMCResult(treatments, readers, n, pd.DataFrame(theta.T, index=list(readers), columns=list(treatments)),
                      components, tuple(tests), alpha)


def _ratio(numerator: float, denominator: float) -> float:
    """numerator / denominator, with a zero denominator giving infinity (or 0 when both vanish): a study whose
    readers agree perfectly has no error to divide by."""
    if denominator > 0:
        return float(numerator / denominator)
    return float("inf") if numerator > 0 else 0.0


def _f_sf(f: float, df1: float, df2: float) -> float:
    if np.isinf(df2):  # F(df1, infinity) is chi-square(df1) / df1
        return float(stats.chi2.sf(f * df1, df1))
    return float(stats.f.sf(f, df1, df2))

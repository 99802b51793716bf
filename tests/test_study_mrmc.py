"""The multi-reader multi-case analyses and study sizing, checked against published results.

The Van Dyke (1993) ratings stay out of the repo (licence); the reference tests read them from
../shared/data/reader-study and skip without it. The published figures (OR-DBM MRMC 2.51, also MRMCaov) are in
that folder's README; the sizing figures are those printed in RJafroc's OR sample-size vignette for the same data.
"""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardionets.study.mrmc import FIXED_CASES, FIXED_READERS, RANDOM_READERS_RANDOM_CASES, or_analysis
from cardionets.study.sizing import VAN_DYKE_PILOT, cases_needed, power, sizing_table

VAN_DYKE = Path(__file__).resolve().parents[2] / "shared" / "data" / "reader-study" / "vandyke_long.csv"
needs_van_dyke = pytest.mark.skipif(not VAN_DYKE.is_file(), reason="../shared/data/reader-study is not present")
OBSERVED_DIFFERENCE = 0.89703704 - 0.94083736  # the Van Dyke study's own AUC difference, the vignette's effect


@pytest.fixture(scope="module")
def van_dyke():
    table = pd.read_csv(VAN_DYKE)
    ratings = table.assign(truth=table["truth"] == 1, treatment=table["treatment"].map({1: "one", 2: "two"}),
                           reader=table["reader"].astype(str))
    return or_analysis(ratings)


@needs_van_dyke
def test_van_dyke_random_readers_and_cases_reproduce_the_published_analysis(van_dyke):
    assert van_dyke.readers == ("1", "2", "3", "4", "5") and van_dyke.cases == 114
    assert van_dyke.treatment_auc["one"] == pytest.approx(0.89703704, abs=5e-9)
    assert van_dyke.treatment_auc["two"] == pytest.approx(0.94083736, abs=5e-9)
    test = van_dyke.test(RANDOM_READERS_RANDOM_CASES)
    (pair,) = test.comparisons
    assert round(test.statistic, 3) == 4.456 and round(test.df2, 2) == 15.26 and round(test.p, 4) == 0.0517
    assert round(pair.difference, 5) == -0.04380
    assert (round(pair.low, 5), round(pair.high, 5)) == (-0.08796, 0.00036)
    found = van_dyke.components
    published = {"error": 0.00080229, "cov1": 0.00034661, "cov2": 0.00034407, "cov3": 0.00023903,
                 "treatment_reader": 0.00020040, "reader": 0.00153500}
    for name, value in published.items():
        assert getattr(found, name) == pytest.approx(value, abs=5e-9), name


@needs_van_dyke
def test_van_dyke_fixed_readers_and_fixed_cases_reproduce_the_published_tests(van_dyke):
    readers = van_dyke.test(FIXED_READERS)
    assert readers.statistic_name == "chi-square" and readers.df1 == 1 and readers.df2 is None
    assert round(readers.statistic, 3) == 5.476 and round(readers.p, 4) == 0.0193
    cases = van_dyke.test(FIXED_CASES)
    assert (cases.df1, cases.df2) == (1, 4)
    assert round(cases.statistic, 2) == 8.70 and round(cases.p, 3) == 0.042


def test_sizing_reproduces_the_published_van_dyke_example():
    # RJafroc's OR sample-size vignette (Van Dyke pilot, its observed effect, alpha 0.05, random readers and
    # cases): 6 readers and 251 cases give power 0.8005 (non-centrality 8.91, ddf 16.1, critical F 4.49), and
    # 80 % power needs 344, 251, 211, 188, 173 and 163 cases with 5 to 10 readers. From the published
    # components, rounded to 8 decimals.
    found = power(VAN_DYKE_PILOT, OBSERVED_DIFFERENCE, readers=6, cases=251)
    assert round(found.power, 4) == 0.8005 and round(found.noncentrality, 2) == 8.91
    assert round(found.ddf, 1) == 16.1 and round(found.critical, 2) == 4.49
    needed = [cases_needed(VAN_DYKE_PILOT, OBSERVED_DIFFERENCE, readers).cases for readers in range(5, 11)]
    assert needed == [344, 251, 211, 188, 173, 163]
    assert cases_needed(VAN_DYKE_PILOT, OBSERVED_DIFFERENCE, readers=3) is None  # more than 2000 cases


@needs_van_dyke
def test_sizing_from_the_computed_pilot_matches_the_published_table_to_its_last_digit(van_dyke):
    found = power(van_dyke.components, OBSERVED_DIFFERENCE, readers=6, cases=251)
    assert found.power == pytest.approx(0.8005403, abs=5e-7)
    needed = [cases_needed(van_dyke.components, OBSERVED_DIFFERENCE, readers).cases for readers in range(4, 24)]
    assert needed == [1089, 344, 251, 211, 188, 173, 163, 155, 149, 144, 140, 137, 134, 131, 129, 127, 126, 124,
                      123, 122]


def test_the_sizing_table_needs_fewer_cases_with_more_readers_and_fewest_when_cases_are_fixed():
    table = sizing_table(VAN_DYKE_PILOT, difference=0.05, readers=range(4, 12))
    random = table[RANDOM_READERS_RANDOM_CASES].dropna().to_numpy()
    assert len(random) >= 6 and (np.diff(random) <= 0).all()
    assert (table[FIXED_READERS] <= table[RANDOM_READERS_RANDOM_CASES]).dropna().all()
    for readers, cases in zip(table["readers"], table[RANDOM_READERS_RANDOM_CASES]):
        if pd.notna(cases):  # the smallest count that reaches 80 %: one case fewer does not
            assert power(VAN_DYKE_PILOT, 0.05, readers, int(cases)).power >= 0.8
            assert power(VAN_DYKE_PILOT, 0.05, readers, int(cases) - 1).power < 0.8


def simulated_study(arms: dict[str, float], readers: int = 5, cases: int = 60, seed: int = 0) -> pd.DataFrame:
    """Continuous ratings: each arm's separation of diseased from non-diseased cases is its value."""
    rng = np.random.default_rng(seed)
    truth = np.arange(cases) < cases // 2
    case_effect = rng.normal(0, 1, cases)
    rows = []
    for arm, separation in arms.items():
        for reader in range(readers):
            rating = separation * truth + case_effect + rng.normal(0, 1, cases)
            rows += [{"reader": f"r{reader}", "treatment": arm, "case": k, "truth": t, "rating": v}
                     for k, (t, v) in enumerate(zip(truth, rating))]
    return pd.DataFrame(rows)


def test_three_arms_get_an_omnibus_test_and_every_pairwise_difference():
    study = simulated_study({"a": 0.5, "b": 0.5, "c": 2.5})
    result = or_analysis(study)
    for test in result.tests:
        assert test.df1 == 2
        assert [(c.first, c.second) for c in test.comparisons] == [("a", "b"), ("a", "c"), ("b", "c")]
        for pair in test.comparisons:
            auc = result.treatment_auc
            assert pair.difference == pytest.approx(auc[pair.first] - auc[pair.second])
            assert pair.low < pair.difference < pair.high
    random = result.test(RANDOM_READERS_RANDOM_CASES)
    assert random.p < 0.01  # arm c is far better
    by_pair = {(c.first, c.second): c for c in random.comparisons}
    assert by_pair[("a", "c")].p < 0.01 and by_pair[("b", "c")].p < 0.01
    assert len(result.table()) == 9


def test_only_the_ratings_order_matters_and_incomplete_studies_are_refused():
    study = simulated_study({"a": 1.0, "b": 1.5}, seed=3)
    plain = or_analysis(study).test(RANDOM_READERS_RANDOM_CASES)
    stretched = or_analysis(study.assign(rating=np.exp(study["rating"]))).test(RANDOM_READERS_RANDOM_CASES)
    assert stretched.statistic == pytest.approx(plain.statistic) and stretched.p == pytest.approx(plain.p)
    with pytest.raises(ValueError, match="fully crossed"):
        or_analysis(study.iloc[1:])
    with pytest.raises(ValueError, match="both diseased and non-diseased"):
        or_analysis(study.assign(truth=True))

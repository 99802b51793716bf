"""How many readers and cases a reader study needs: power for an AUC difference between two arms, from the
Obuchowski-Rockette variance components of a pilot study (Hillis, Obuchowski and Berbaum 2011, Acad Radiol
18:129-142), for each of the three analyses in `mrmc`.

    power(VAN_DYKE_PILOT, difference=0.05, readers=6, cases=200)     # -> Power(..., power=0.9...)
    cases_needed(VAN_DYKE_PILOT, difference=0.05, readers=6)        # smallest case count reaching 80 %

A pilot's error variance and covariances were estimated on its own number of cases; a study of ``cases`` cases
has them scaled by pilot cases / cases. The treatment-by-reader variance does not shrink with cases, which is
why, for random readers, adding cases cannot make up for too few readers.

With no pilot of their own, organisers can start from `VAN_DYKE_PILOT`, the components published for the Van
Dyke et al. (1993) cine MRI vs spin-echo MRI study (5 readers, 114 cases), a standard example in this
literature; say so when reporting a study sized from it.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from scipy import stats

from .mrmc import FIXED_CASES, FIXED_READERS, RANDOM_READERS_RANDOM_CASES, VarianceComponents

ANALYSES = (RANDOM_READERS_RANDOM_CASES, FIXED_READERS, FIXED_CASES)
# OR-DBM MRMC 2.51's published output for the Van Dyke data (trapezoidal AUC, jackknife covariances); the
# reader variance is not needed for sizing.
VAN_DYKE_PILOT = VarianceComponents(error=0.00080229, cov1=0.00034661, cov2=0.00034407, cov3=0.00023903,
                                    treatment_reader=0.00020040, reader=0.00153500, cases=114)
VAN_DYKE_SOURCE = ("Van Dyke CW et al., cine MRI in thoracic aortic dissection (RSNA 1993): 5 readers, 114 cases; "
                   "OR variance components as published with OR-DBM MRMC 2.51")


@dataclass(frozen=True)
class Power:
    analysis: str
    readers: int
    cases: int
    power: float
    noncentrality: float
    ddf: float | None  # the F test's denominator degrees of freedom; None for the fixed-reader chi-square
    critical: float  # the statistic's 1 - alpha quantile under no difference


def power(pilot: VarianceComponents, difference: float, readers: int, cases: int, alpha: float = 0.05,
          analysis: str = RANDOM_READERS_RANDOM_CASES) -> Power:
    """The chance that a two-arm study of ``readers`` readers who each read ``cases`` cases in both arms
    finds an AUC difference of ``difference`` significant at ``alpha``."""
    if readers < 2 and analysis != FIXED_READERS:
        raise ValueError("Random-reader analyses need at least two readers.")
    if cases < 2 or readers < 1:
        raise ValueError("A study needs at least one reader and two cases.")
    scale = pilot.cases / cases
    shared = max(pilot.cov2 - pilot.cov3, 0.0)
    between_readers = max(pilot.treatment_reader, 0.0)
    effect = readers * difference**2 / 2  # r * sum of squared treatment effects, two arms
    if analysis == FIXED_READERS:
        noncentrality = effect / (scale * (pilot.error - pilot.cov1 + (readers - 1) * shared))
        critical = float(stats.chi2.ppf(1 - alpha, 1))
        return Power(analysis, readers, cases, float(stats.ncx2.sf(critical, 1, noncentrality)), noncentrality,
                     None, critical)
    interaction = between_readers + scale * (pilot.error - pilot.cov1 - shared)  # E[MS(T*R)]
    if analysis == RANDOM_READERS_RANDOM_CASES:
        denominator = between_readers + scale * (pilot.error - pilot.cov1 + (readers - 1) * shared)
        ddf = denominator**2 / (interaction**2 / (readers - 1))  # Hillis' degrees of freedom, in expectation
    elif analysis == FIXED_CASES:
        denominator, ddf = interaction, float(readers - 1)
    else:
        raise ValueError(f"analysis must be one of {ANALYSES}, got {analysis!r}")
    noncentrality = effect / denominator
    critical = float(stats.f.ppf(1 - alpha, 1, ddf))
    return Power(analysis, readers, cases, float(stats.ncf.sf(critical, 1, ddf, noncentrality)), noncentrality,
                 float(ddf), critical)


def cases_needed(pilot: VarianceComponents, difference: float, readers: int, target: float = 0.8,
                 alpha: float = 0.05, analysis: str = RANDOM_READERS_RANDOM_CASES, most: int = 2000) -> Power | None:
    """The smallest number of cases giving at least ``target`` power with ``readers`` readers, or None when
    even ``most`` cases do not (with random readers, too few readers cannot be made up for by cases)."""
    if power(pilot, difference, readers, most, alpha, analysis).power < target:
        return None
    low, high = 2, most  # power rises with cases: bisect for the first count that reaches the target
    while low < high:
        middle = (low + high) // 2
        if power(pilot, difference, readers, middle, alpha, analysis).power >= target:
            high = middle
        else:
            low = middle + 1
    return power(pilot, difference, readers, low, alpha, analysis)


def sizing_table(pilot: VarianceComponents, difference: float, target: float = 0.8, alpha: float = 0.05,
                 readers: range = range(3, 16), most: int = 2000) -> pd.DataFrame:
    """Cases needed per number of readers, for each analysis (blank where more than ``most`` are needed)."""
    rows = []
    for count in readers:
        row = {"readers": count}
        for analysis in ANALYSES:
            found = cases_needed(pilot, difference, count, target, alpha, analysis, most)
            row[analysis] = None if found is None else found.cases
        rows.append(row)
    return pd.DataFrame(rows).astype({analysis: "Int64" for analysis in ANALYSES})

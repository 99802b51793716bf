"""A reader study's design as data: which arms, in what crossover, and each reader's own randomised schedule.

    design = StudyDesign(arms=("ecg", "ecg_cardionets"), crossover="sequential", seed=7)
    schedule(design, ["c01", "c02", "c03"], reader_id=4)   # [(case, arm), ...] in the order this reader sees them

Crossovers:
- ``sequential`` (unaided then aided after a washout): the reader reads every case in the first arm, then every
  case again in the next arm, each pass in its own random order;
- ``latin_square``: the cases are split into as many blocks as there are arms; reader group g reads block b in
  arm (b + g) mod k, so every reader sees every case once and every case is read in every arm across groups.

A schedule depends only on the design's seed, the case list and the reader's id, so it is the same after a
restart; nothing but the answers needs storing to resume.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass

import numpy as np

ARMS = {
    "ecg": "ECG only",
    "ecg_cmr": "ECG + real CMR",
    "ecg_cardionets": "ECG + CardioNets (SYNTHETIC CMR and predicted phenotypes)",
}
DIAGNOSES = {"normal": "Normal", "hcm": "Hypertrophic cardiomyopathy", "dcm": "Dilated cardiomyopathy",
             "rcm": "Restrictive cardiomyopathy", "ph": "Pulmonary hypertension", "mi": "Prior myocardial infarction"}
CONFIDENCE = (1, 2, 3, 4, 5)
# What a reader gives besides the diagnosis. Either way the analysis turns it into an ordered suspicion that the
# case is abnormal (`analysis.suspicion`).
RATINGS = {"confidence": "Diagnosis and confidence (1 = a guess, 5 = certain)",
           "probability": "Diagnosis and the probability that the case is abnormal (0-100 %)"}
PROBABILITY = range(0, 101)
CROSSOVERS = ("sequential", "latin_square")


@dataclass(frozen=True)
class StudyDesign:
    arms: tuple[str, ...] = ("ecg", "ecg_cardionets")
    crossover: str = "sequential"
    seed: int = 0
    washout_days: int = 0  # sequential only: days between the end of one arm's pass and the next
    time_limit_s: int | None = None  # per case; None = untimed
    allow_going_back: bool = False
    rating: str = "confidence"  # a key of RATINGS; designs stored before it existed read as "confidence"

    def __post_init__(self):
        unknown = [arm for arm in self.arms if arm not in ARMS]
        if not self.arms or unknown or len(set(self.arms)) != len(self.arms):
            raise ValueError(f"arms must be distinct names from {sorted(ARMS)}; got {list(self.arms)}")
        if self.crossover not in CROSSOVERS:
            raise ValueError(f"crossover must be one of {CROSSOVERS}, got {self.crossover!r}")
        if self.rating not in RATINGS:
            raise ValueError(f"rating must be one of {sorted(RATINGS)}, got {self.rating!r}")
        if self.time_limit_s is not None and self.time_limit_s <= 0:
            raise ValueError("a time limit must be a positive number of seconds")

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> StudyDesign:
        record = json.loads(text)
        record["arms"] = tuple(record["arms"])
        return cls(**record)


def schedule(design: StudyDesign, cases: list[str], reader_id: int) -> list[tuple[str, str]]:
    """The (case, arm) pairs reader ``reader_id`` reads, in order."""
    rng = np.random.default_rng([design.seed, reader_id])
    cases = sorted(cases)  # the stored order of the cases never changes a schedule
    if design.crossover == "sequential":
        return [(cases[i], arm) for arm in design.arms for i in rng.permutation(len(cases))]
    k = len(design.arms)
    block_of = {case: index % k for index, case in enumerate(np.random.default_rng(design.seed).permutation(cases))}
    group = reader_id % k
    pairs = [(case, design.arms[(block_of[case] + group) % k]) for case in cases]
    return [pairs[i] for i in rng.permutation(len(pairs))]

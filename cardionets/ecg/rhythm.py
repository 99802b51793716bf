"""The rhythm as a cardiologist first reads it: is the RR series irregular, and is there a P wave before the QRS?

    read = read_rhythm(record)
    read.rr_irregularity, read.p_wave_present, read.af_score, read.rule_says_af

Atrial fibrillation is an irregularly irregular rhythm without P waves. This rule needs no training, so it is
the reference every learnt AF model has to beat, and its two features are what a rhythm-aware model should see.
``rr_irregularity`` is the RMS of successive RR differences over the mean RR (normalised RMSSD): about 0.02-0.06
in sinus rhythm at rest, usually above 0.1 in AF. Premature beats make a sinus rhythm irregular too, which is
why the P wave counts as well, and why ``rr_median_step`` (the median successive RR difference over the mean
RR) is read next to it: one premature beat barely moves a median, AF's irregularity runs through every beat.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .measure import MeasuredBeat, MeasurementError, measure_with_beat
from .record import ECG

AF_IRREGULARITY = 0.08  # normalised RMSSD above which the rule calls a rhythm without P waves AF
P_PRESENT_DISCOUNT = 0.5  # the score of an irregular rhythm with P waves (premature beats, sinus arrhythmia)


@dataclass(frozen=True)
class RhythmRead:
    rr_irregularity: float  # RMSSD of the RR intervals / their mean (dimensionless)
    p_wave_present: bool  # on the median beat, as the measurements find it
    n_beats: int
    rr_median_step: float = float("nan")  # median |successive RR difference| / mean RR (dimensionless)

    @classmethod
    def from_dict(cls, record: dict) -> RhythmRead:
        """The read back from `to_dict` (a prediction's ``rhythm``)."""
        return cls(float(record["rr_irregularity"]), bool(record["p_wave_present"]), int(record["n_beats"]),
                   float(record.get("rr_median_step", float("nan"))))

    @property
    def af_score(self) -> float:
        """Higher is more AF-like: the irregularity, halved when P waves are present (for AUROC)."""
        return self.rr_irregularity * (P_PRESENT_DISCOUNT if self.p_wave_present else 1.0)

    @property
    def rule_says_af(self) -> bool:
        return self.rr_irregularity > AF_IRREGULARITY and not self.p_wave_present


    def to_dict(self) -> dict:
        return {"rr_irregularity": round(self.rr_irregularity, 4), "p_wave_present": self.p_wave_present,
                "n_beats": self.n_beats, "rule_says_af": self.rule_says_af,
                "rr_median_step": round(self.rr_median_step, 4)}


def read_rhythm(ecg: ECG) -> RhythmRead:
    """The rule-based rhythm read of an ECG; `MeasurementError` when fewer than three beats are found."""
    return rhythm_of(measure_with_beat(ecg))


def rhythm_of(measured: MeasuredBeat) -> RhythmRead:
    """The rhythm read from measurements already made (their beats and P wave)."""
    rr = measured.beat.rr_intervals_s
    if rr.size < 2:
        raise MeasurementError("Fewer than three heartbeats were found; the rhythm cannot be read.")
    steps = np.diff(rr)
    irregularity = float(np.sqrt(np.mean(steps**2)) / np.mean(rr))
    return RhythmRead(irregularity, measured.measurements.pr_ms is not None, int(rr.size + 1),
                      float(np.median(np.abs(steps)) / np.mean(rr)))

"""Is this ECG paced? The models never saw a paced rhythm, so a paced ECG gets the out-of-distribution warning.

Two kinds of evidence, either one enough:
- the cart's own interpretation says so ("paced rhythm", "pacemaker", and the Italian, German and French words
  the readers meet);
- pacing spikes in the signal: deflections a few milliseconds wide, far narrower than any QRS, seen in several
  leads at the same instant, again and again.

A spike is a sample that stands at least SPIKE_MIN_MV above (or below) the signal SPIKE_HALF_WIDTH_S before it
AND after it. Reaching that on both sides within 4 ms needs a slope of 0.25 mV/ms up and down; the steepest
physiological R waves stay well below that, while a pacemaker stimulus (a fraction of a millisecond) keeps its
full height. Limits: carts that filter pacing spikes out, or record below MIN_SPIKE_FS_HZ, leave nothing to
find, and bipolar pacing can give spikes under 1 mV; then only the cart's statement can tell.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .record import ECG

PACED_STATEMENT = re.compile(
    r"\bpac(ed|er|ing|emaker)\b|\bstimolat|elettroindott|schrittmacher|stimulateur|\bentra[iî]n[ée]",
    re.IGNORECASE)
SPIKE_HALF_WIDTH_S = 0.004
SPIKE_MIN_MV = 1.0
SPIKE_MIN_LEADS = 2  # seen at the same instant in at least this many leads
SPIKE_MERGE_S = 0.010  # detections this close are one stimulus
MIN_SPIKES = 3  # a single artefact is not a pacemaker
MIN_SPIKE_FS_HZ = 500.0  # below this a stimulus of under 1 ms is smeared out of sight


@dataclass(frozen=True)
class PacingEvidence:
    paced: bool
    spikes: int | None  # stimuli found in the signal; None when the sampling rate is too low to look
    statement: str | None  # the cart's statement that mentions pacing, if any

    @property
    def reason(self) -> str:
        found = []
        if self.statement:
            found.append(f'the ECG cart reports "{self.statement}"')
        if self.spikes and self.spikes >= MIN_SPIKES:
            found.append(f"{self.spikes} pacing spikes were found in the signal")
        return " and ".join(found)


def detect_pacing(ecg: ECG) -> PacingEvidence:
    statement = next((s for s in ecg.meta.interpretation if PACED_STATEMENT.search(s)), None)
    spikes = pacing_spikes(ecg.signal_mv, ecg.fs_hz) if ecg.fs_hz >= MIN_SPIKE_FS_HZ else None
    return PacingEvidence(bool(statement) or (spikes or 0) >= MIN_SPIKES, spikes, statement)


def pacing_spikes(signal_mv: np.ndarray, fs_hz: float) -> int:
    """How many separate stimuli show as narrow spikes in at least SPIKE_MIN_LEADS leads at once."""
    k = max(1, round(SPIKE_HALF_WIDTH_S * fs_hz))
    x = np.nan_to_num(np.asarray(signal_mv, dtype=np.float32))
    if x.shape[-1] <= 2 * k:
        return 0
    centre, before, after = x[:, k:-k], x[:, :-2 * k], x[:, 2 * k:]
    rise, fall = centre - before, centre - after  # both positive at a peak, both negative at a trough
    height = np.where(rise * fall > 0, np.minimum(np.abs(rise), np.abs(fall)), 0.0)
    instants = np.flatnonzero((height >= SPIKE_MIN_MV).sum(axis=0) >= SPIKE_MIN_LEADS)
    if instants.size == 0:
        return 0
    return 1 + int(np.count_nonzero(np.diff(instants) > SPIKE_MERGE_S * fs_hz))

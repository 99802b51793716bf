"""The cardiac cycle: when each phase happens and how far each chamber has contracted at every frame.

Curves are normalised: 0 = end-diastole (fully relaxed), 1 = end-systole (fully contracted) for the ventricles,
and 0 = smallest, 1 = largest for the atria. Geometry turns them into shapes; volumes are then measured on the
shapes, never read off these curves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class CyclePhases:
    """Timing of one beat as fractions of the RR interval, and how filling is shared between phases.

    early_filling_share: fraction of ventricular filling done in rapid filling (E wave); the rest splits between
    diastasis and the atrial kick (A wave). Impaired relaxation (hypertrophy, amyloid) lowers it; atrial
    fibrillation removes the kick.
    """

    end_systole: float  # fraction of RR at end-systole
    rapid_filling_end: float
    atrial_kick_start: float
    early_filling_share: float
    atrial_kick_share: float


def phases_for(hr_bpm: float, relaxation_impairment: float = 0.0, atrial_fibrillation: bool = False) -> CyclePhases:
    """Phase timing at a heart rate: systole lasts ~0.30 s x sqrt(RR), diastole absorbs the rest."""
    rr_s = 60.0 / hr_bpm
    end_systole = min(0.55, 0.33 * np.sqrt(rr_s) / rr_s)
    rapid_filling_end = end_systole + min(0.25, 0.16 / rr_s)
    atrial_kick_start = 0.84
    early = float(np.clip(0.72 - 0.35 * relaxation_impairment, 0.3, 0.8))
    kick = 0.0 if atrial_fibrillation else float(np.clip(0.2 + 0.25 * relaxation_impairment, 0.15, 0.45))
    if atrial_fibrillation:
        early = min(0.9, early + 0.15)
    return CyclePhases(end_systole, rapid_filling_end, atrial_kick_start, early, kick)


def _smoothstep(x: np.ndarray) -> np.ndarray:
    """0 -> 1 with zero slope at both ends (cosine ramp)."""
    return 0.5 - 0.5 * np.cos(np.pi * np.clip(x, 0.0, 1.0))


def ventricular_contraction(t: np.ndarray, phases: CyclePhases) -> np.ndarray:
    """Contraction state at times ``t`` (fractions of RR, 0 = end-diastole): 0 relaxed .. 1 end-systole."""
    t = np.asarray(t, dtype=np.float64) % 1.0
    es, rf, ak = phases.end_systole, phases.rapid_filling_end, phases.atrial_kick_start
    ejection = _smoothstep(t / es)
    diastasis_share = 1.0 - phases.early_filling_share - phases.atrial_kick_share
    # Filling undoes contraction: 1 -> 0 across rapid filling, diastasis and the atrial kick.
    filled = (
        phases.early_filling_share * _smoothstep((t - es) / (rf - es))
        + diastasis_share * np.clip((t - rf) / (ak - rf), 0.0, 1.0)
        + phases.atrial_kick_share * _smoothstep((t - ak) / (1.0 - ak))
    )
    return np.where(t <= es, ejection, 1.0 - filled)


def atrial_filling(t: np.ndarray, phases: CyclePhases) -> np.ndarray:
    """Atrial volume state: 0 = minimum (after the atrial kick, at end-diastole) .. 1 = maximum (end-systole).

    Atria fill while the ventricles eject (reservoir), empty passively in rapid filling (conduit), then
    actively in the kick (booster); without a kick (AF) the atrium never empties below its conduit level.
    """
    t = np.asarray(t, dtype=np.float64) % 1.0
    es, rf, ak = phases.end_systole, phases.rapid_filling_end, phases.atrial_kick_start
    passive_empty = 1.0 - phases.atrial_kick_share  # share emptied before the kick
    reservoir = _smoothstep(t / es)
    after = (
        1.0
        - 0.75 * passive_empty * _smoothstep((t - es) / (rf - es))
        - 0.25 * passive_empty * np.clip((t - rf) / (ak - rf), 0.0, 1.0)
        - phases.atrial_kick_share * _smoothstep((t - ak) / (1.0 - ak))
    )
    return np.clip(np.where(t <= es, reservoir, after), 0.0, 1.0)

"""What every ECG file carries besides its waveform, as the predictor's extra inputs: the patient's age, sex and
body surface area (from height and weight, when given) and the cart's ten global measurements.

A heart's size follows body size and sex more than anything a waveform shows, and the cart's intervals, axes and
voltages are what a cardiologist reads first: a ridge on these alone beat the ECG-only deep model on the LV
volumes. The predictor's covariate head (`cardionets.models.predictor`) reads the encoder's embedding together
with these values, so it starts from what the plainest baseline knows.

Kept free of torch: screening's worker processes make the covariates alongside the model view
(`cardionets.preparation`). The measurements are taken on the model view itself, in training and in the app
alike, so the head never meets values measured differently from the ones it learnt on. Unknown values are NaN;
the head sees each as zero with a "missing" flag (it was trained with patient fields hidden at random).
"""

from __future__ import annotations

import math

import numpy as np

from .ecg import ECG, STANDARD_LEADS, ECGMetadata
from .ecg.errors import ECGError
from .ecg.measure import measure

PATIENT_FIELDS = ("age_years", "male", "bsa_m2")
# The cart's ten measurements (`cardionets.ecg.measure`): with age, sex and BSA, the plainest baseline a model
# must beat (training.evaluate, training.evaluate_real, the simulator's report).
CART_MEASUREMENTS = ("hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms", "p_axis_deg", "qrs_axis_deg",
                     "t_axis_deg", "sokolow_lyon_mv", "cornell_mv")
COVARIATES = (*PATIENT_FIELDS, *CART_MEASUREMENTS)
MODEL_VIEW_META = ECGMetadata("model view", 500.0, tuple(STANDARD_LEADS))


def bsa_m2(height_cm: float | None, weight_kg: float | None) -> float | None:
    """Body surface area by Mosteller's formula (the virtual cohort's); None unless both are known."""
    if height_cm is None or weight_kg is None or not (height_cm > 0 and weight_kg > 0):
        return None
    return math.sqrt(height_cm * weight_kg / 3600.0)


def patient_values(age_years: float | None, sex: str | None, height_cm: float | None = None,
                   weight_kg: float | None = None) -> np.ndarray:
    """(len(PATIENT_FIELDS),) float64: age, male (1 / 0), BSA; NaN where unknown."""
    male = {"M": 1.0, "F": 0.0}.get(sex or "", math.nan)
    bsa = bsa_m2(height_cm, weight_kg)
    return np.array([math.nan if age_years is None else float(age_years), male,
                     math.nan if bsa is None else bsa])


def cart_values(view: np.ndarray) -> np.ndarray:
    """(len(CART_MEASUREMENTS),) float64 measured on a (12, 5000) model view; NaN where a measurement is
    unavailable (all NaN when the beats cannot be measured)."""
    try:
        measured = measure(ECG(np.asarray(view, dtype=np.float32), 500.0, MODEL_VIEW_META)).to_dict()
    except (ECGError, ValueError):
        return np.full(len(CART_MEASUREMENTS), math.nan)
    return np.array([math.nan if measured.get(name) is None else float(measured[name]) for name in CART_MEASUREMENTS])


def covariate_values(view: np.ndarray, age_years: float | None, sex: str | None, height_cm: float | None = None,
                     weight_kg: float | None = None) -> np.ndarray:
    """(len(COVARIATES),) float64 in COVARIATES order, NaN where unknown."""
    return np.concatenate([patient_values(age_years, sex, height_cm, weight_kg), cart_values(view)])

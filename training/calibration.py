"""Calibration after fine-tuning: temperatures on validation logits, then each disease's operating threshold.

Each output's temperature is fitted on the validation split (never the test sets). Two thresholds follow on
the calibrated probabilities there: the call threshold maximises Youden's J, a balanced call for one patient's
report; the screening threshold is the largest probability that still detects 90 % of the positives (or the
call threshold, where that is lower). With
diseases as rare as restrictive cardiomyopathy the 90 % cut calls most healthy people positive (specificity
0.21 on the default run), which is no use as a call, but it is what a screening list sorted for review needs.
Outputs without both classes in validation keep temperature 1 and thresholds of 0.5, and the config says so.

`python -m training calibrate` refits every fine-tuned model in place (the fit reads raw logits, so refitting
is idempotent and needs no retraining).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from cardionets import metrics
from cardionets.models.predictor import CardioNetsPredictor

from .predictions import collect

TARGET_SENSITIVITY = 0.9
DEFAULT_THRESHOLD = 0.5


def calibrate(model: CardioNetsPredictor, validation, key: str, device: torch.device) -> CardioNetsPredictor:
    """A copy of ``model`` whose config carries fitted temperatures and thresholds."""
    out = collect(model, validation, key, device)
    logits, targets = out["disease_logits"], out["disease_targets"]
    temperatures, thresholds, screening, sensitivity, specificity = [], [], [], [], []
    sensitivity_ci, specificity_ci = [], []  # Wilson 95 %
    for column in range(logits.shape[1]):
        known = ~np.isnan(targets[:, column])
        y, z = targets[known, column], logits[known, column]
        if known.sum() < 2 or y.min() == y.max():
            temperatures.append(1.0)
            thresholds.append(DEFAULT_THRESHOLD)
            screening.append(DEFAULT_THRESHOLD)
            sensitivity.append(None)  # unknown, and JSON has no NaN
            specificity.append(None)
            sensitivity_ci.append(None)
            specificity_ci.append(None)
            continue
        temperature = float(metrics.fit_temperature(z, y))
        probabilities = 1.0 / (1.0 + np.exp(-z / temperature))
        temperatures.append(temperature)
        thresholds.append(metrics.threshold_youden(y, probabilities))
        # Never above the call: where the balanced call already detects 90 %, screening flags what it calls.
        screening.append(min(thresholds[-1], metrics.threshold_at_sensitivity(y, probabilities, TARGET_SENSITIVITY)))
        called, truth = probabilities >= thresholds[-1], y == 1
        for values, intervals, hits, cases in ((sensitivity, sensitivity_ci, called & truth, truth),
                                               (specificity, specificity_ci, ~called & ~truth, ~truth)):
            found = metrics.wilson_ci(int(hits.sum()), int(cases.sum()))
            values.append(round(found.point, 4))
            intervals.append([round(found.low, 4), round(found.high, 4)])
    subtype_temperature = 1.0
    mask = out["subtype_mask"].astype(bool)
    if mask.sum() >= 3 and len(np.unique(out["subtype_targets"][mask])) > 1:
        subtype_temperature = float(metrics.fit_softmax_temperature(out["subtype_logits"][mask],
                                                                    out["subtype_targets"][mask]))
    config = dataclasses.replace(model.config, disease_temperature=tuple(temperatures),
                                 disease_threshold=tuple(float(t) for t in thresholds),
                                 disease_threshold_simulated=(),  # nothing raised these (training.real_thresholds)
                                 disease_screening_threshold=tuple(float(t) for t in screening),
                                 disease_sensitivity=tuple(sensitivity), disease_specificity=tuple(specificity),
                                 disease_sensitivity_ci=tuple(sensitivity_ci),
                                 disease_specificity_ci=tuple(specificity_ci),
                                 subtype_temperature=subtype_temperature)
    calibrated = CardioNetsPredictor(config)
    calibrated.load_state_dict(model.state_dict())
    return calibrated

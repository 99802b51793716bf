"""Calibration after fine-tuning: temperatures on validation logits, then each disease's operating threshold.

Each output's temperature is fitted on the validation split (never the test sets); the threshold is the
largest calibrated probability that still detects 90 % of that output's positives there. Outputs without
both classes in validation keep temperature 1 and a threshold of 0.5, and the model's config says so.
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
    temperatures, thresholds = [], []
    for column in range(logits.shape[1]):
        known = ~np.isnan(targets[:, column])
        y, z = targets[known, column], logits[known, column]
        if known.sum() < 2 or y.min() == y.max():
            temperatures.append(1.0)
            thresholds.append(DEFAULT_THRESHOLD)
            continue
        temperature = float(metrics.fit_temperature(z, y))
        probabilities = 1.0 / (1.0 + np.exp(-z / temperature))
        temperatures.append(temperature)
        thresholds.append(metrics.threshold_at_sensitivity(y, probabilities, TARGET_SENSITIVITY))
    subtype_temperature = 1.0
    mask = out["subtype_mask"].astype(bool)
    if mask.sum() >= 3 and len(np.unique(out["subtype_targets"][mask])) > 1:
        subtype_temperature = float(metrics.fit_softmax_temperature(out["subtype_logits"][mask],
                                                                    out["subtype_targets"][mask]))
    config = dataclasses.replace(model.config, disease_temperature=tuple(temperatures),
                                 disease_threshold=tuple(float(t) for t in thresholds),
                                 subtype_temperature=subtype_temperature)
    calibrated = CardioNetsPredictor(config)
    calibrated.load_state_dict(model.state_dict())
    return calibrated

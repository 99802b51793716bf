"""Thresholds guarded on real healthy adults (`training.real_thresholds`): the guard clears at most its share of
healthy adults, never lowers a threshold, is measured on held-out patients, and lands in a bundle that still
verifies and loads."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest

from training.real_thresholds import _stated_inside, apply_to_bundle, cross_validated, guarded_thresholds, real_guard


def test_the_guard_calls_at_most_its_share_of_healthy_adults_and_no_fewer_than_needed():
    p = np.random.default_rng(0).beta(2, 5, 1000)
    threshold = real_guard(p, 0.01)
    assert np.mean(p >= threshold) <= 0.01
    assert np.mean(p >= np.sort(p)[np.sum(p < threshold) - 1]) > 0.01  # the next lower score would call more


def scores_frame(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_healthy, n_mi = 600, 150
    return pd.DataFrame({
        "patient": [f"p{i // 2}" for i in range(n_healthy + n_mi)],  # two records per patient
        "healthy": [1] * n_healthy + [0] * n_mi, "mi": [0] * n_healthy + [1] * n_mi, "lvh": 0,
        "p_mi": np.concatenate([rng.beta(2, 5, n_healthy), rng.beta(5, 2, n_mi)]),
        "call_af": False,
    })


def test_thresholds_are_only_ever_raised():
    scores = scores_frame()
    assert guarded_thresholds(scores, ["mi"], {"mi": 0.999})["mi"] == 0.999
    assert guarded_thresholds(scores, ["mi"], {"mi": 0.01})["mi"] > 0.5


def test_cross_validated_figures_cover_every_held_out_patient_once():
    figures = cross_validated(scores_frame(), ["mi"], {"mi": 0.1}, ["af"])
    assert figures["healthy_any_call"]["n"] == 600
    assert figures["healthy_false_calls"]["mi"]["share"] < 0.04  # held out, so a little above the 1 % target
    assert 0.3 < figures["mi_sensitivity_by_mi_call"]["share"] < 1.0


def test_guarded_thresholds_land_in_a_bundle_that_still_verifies(bundle, tmp_path):
    from cardionets.inference import CardioNets

    copy = shutil.copytree(bundle, tmp_path / "bundle")
    config = json.loads((copy / "predictor" / "config.json").read_text())
    outputs = [*config["diseases"], "any_cm"]
    figure = {"share": 0.5, "ci": [0.4, 0.6], "k": 5, "n": 10}
    after = {name: {"threshold": 0.9, "sensitivity": figure, "specificity": figure} for name in outputs[:2]}
    section = {"max_false_call": 0.01, "real_sets": ["ptbxl"], "thresholds_after": {n: 0.9 for n in after},
               "simulated_validation": {"after": after}}
    apply_to_bundle(copy, section)
    model = CardioNets.from_pretrained(copy)
    assert model.predictor.config.disease_threshold[:2] == pytest.approx((0.9, 0.9))
    assert model.predictor.config.disease_sensitivity[0] == 0.5
    assert "real healthy adults" in model.manifest.metadata["real_thresholds"]["method"]


def test_a_stated_share_replicates_only_inside_the_fresh_draws_ci():
    def figures(sensitivity, ci):
        return {"hcm": {"sensitivity": {"share": sensitivity, "ci": ci}, "specificity": {"share": 0.9, "ci": ci}}}

    inside = _stated_inside(figures(0.9, [0.0, 1.0]), figures(0.8, [0.7, 0.95]))
    assert inside == {"hcm": {"sensitivity": True, "specificity": True}}
    outside = _stated_inside(figures(0.96, [0.0, 1.0]), figures(0.8, [0.7, 0.95]))
    assert outside["hcm"]["sensitivity"] is False

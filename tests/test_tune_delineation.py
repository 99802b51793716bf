"""Choosing the delineation thresholds by patient-grouped cross-validation on the committed LUDB records: each
patient's held-out figures come from the setting chosen without that patient."""

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold

from cardionets.ecg.measure import DELINEATION
from cardionets.ecg.real_sets import ludb_reference_beats, real_ecg_table
from training.evaluate_delineation import reference_intervals
from training.tune_delineation import GRID, cross_validate, differences, iec_score, settings_grid

REAL = Path(__file__).resolve().parent / "data" / "real-ecg"


def test_the_iec_score_is_the_worst_share_of_a_tolerance_used():
    within = np.array([[4.0, 1.0, 10.0], [6.0, -1.0, 20.0], [5.0, 0.0, 15.0]])  # PR, QRS, QT: all small
    assert iec_score(within) < 1
    biased_pr = within + np.array([20.0, 0.0, 0.0])  # PR 25 ms too long on average: 2.5 times its 10 ms
    assert iec_score(biased_pr) == pytest.approx(2.5)
    assert len(settings_grid()) == np.prod([len(values) for values in GRID.values()])
    assert any(s == DELINEATION for s in settings_grid())  # the shipped setting is one of the grid's


def test_each_held_out_patient_is_measured_with_the_setting_chosen_without_it():
    table = real_ecg_table(REAL, ("ludb",))
    records, groups = table["record"].tolist(), table["patient"].tolist()
    references = [reference_intervals(ludb_reference_beats(Path(r))) for r in records]
    section = cross_validate(records, groups, references, folds=5)
    assert section["records"] == 5 and len(section["chosen_per_fold"]) == 5
    # Recompute one fold by hand: its chosen setting, applied to its held-out record, gives its held-out rows.
    train, test = next(GroupKFold(5).split(records, groups=groups))
    chosen = replace(DELINEATION, **section["chosen_per_fold"][0])
    best = min(settings_grid(), key=lambda s: iec_score(differences([records[i] for i in train],
                                                                    [references[i] for i in train], s)))
    assert all(getattr(best, name) == getattr(chosen, name) for name in GRID)
    held_out = differences([records[i] for i in test], [references[i] for i in test], chosen)
    assert np.isfinite(held_out[:, 1]).all()  # QRS is measured on every record
    assert section["cross_validated"]["qrs_ms"]["n"] == 5

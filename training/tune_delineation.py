"""Choose the delineation thresholds on LUDB by patient-grouped cross-validation, and say how well the choice
does on patients it was not chosen on.

    python -m training.tune_delineation [--data ../shared/data/real-ecg] [--out docs] [--folds 5]

Every setting of a small grid (`GRID`) measures every unpaced LUDB record once. In each fold the setting with
the best IEC 60601-2-25 score on the other folds' patients (the worst over PR, QRS and QT of |mean difference|
and SD, each over its tolerance: below 1 passes) is applied to the held-out patients; the held-out differences
of all folds, pooled, are the honest figures. The setting chosen on every patient is what
`cardionets.ecg.measure.DELINEATION` should hold. Writes the ``delineation_cv`` section of results.json.
"""

from __future__ import annotations

import argparse
import itertools
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from sklearn.model_selection import GroupKFold

from cardionets.ecg import ECGError, load
from cardionets.ecg.measure import DELINEATION, DelineationSettings, MeasurementError, measure
from cardionets.ecg.real_sets import ludb_reference_beats, real_ecg_table

from .evaluate_delineation import IEC_TOLERANCE_MS, reference_intervals
from .evaluate_real import DEFAULT_DATA

GRID = {"p_edge_fraction": (0.10, 0.15, 0.20, 0.25), "p_hump_fraction": (0.3, 0.5),
        "t_end_fraction": (0.12, 0.18, 0.24)}
SECTION = "delineation_cv"


def settings_grid(base: DelineationSettings = DELINEATION) -> list[DelineationSettings]:
    return [replace(base, **dict(zip(GRID, values))) for values in itertools.product(*GRID.values())]


def differences(records: list[str], references: list[dict], settings: DelineationSettings) -> np.ndarray:
    """(records, 3) ours minus reference for PR, QRS and QT; NaN where either side has no value."""
    out = np.full((len(records), len(IEC_TOLERANCE_MS)), np.nan)
    for row, (record, reference) in enumerate(zip(records, references)):
        try:
            ours = measure(load(record), settings).to_dict()
        except (ECGError, MeasurementError, ValueError):
            continue
        for column, name in enumerate(IEC_TOLERANCE_MS):
            if ours.get(name) is not None and reference[name] is not None:
                out[row, column] = ours[name] - reference[name]
    return out


def iec_score(diffs: np.ndarray) -> float:
    """The worst of |mean| / tolerance and SD / tolerance over the intervals: below 1 is within IEC tolerances."""
    worst = 0.0
    for column, (mean_limit, sd_limit) in enumerate(IEC_TOLERANCE_MS.values()):
        known = diffs[:, column][~np.isnan(diffs[:, column])]
        if known.size > 1:
            worst = max(worst, abs(known.mean()) / mean_limit, known.std(ddof=1) / sd_limit)
    return worst


def summary(diffs: np.ndarray) -> dict:
    out = {}
    for column, name in enumerate(IEC_TOLERANCE_MS):
        known = diffs[:, column][~np.isnan(diffs[:, column])]
        out[name] = {"n": int(known.size), "mean_difference_ms": float(known.mean()),
                     "sd_ms": float(known.std(ddof=1))}
    return out


def cross_validate(records: list[str], groups: list[str], references: list[dict], folds: int) -> dict:
    grid = settings_grid()
    measured = [differences(records, references, settings) for settings in grid]  # each (records, 3)
    held_out = np.full_like(measured[0], np.nan)
    chosen = []
    for train, test in GroupKFold(folds).split(records, groups=groups):
        best = int(np.argmin([iec_score(d[train]) for d in measured]))
        held_out[test] = measured[best][test]
        chosen.append({name: getattr(grid[best], name) for name in GRID})
    overall = int(np.argmin([iec_score(d) for d in measured]))
    current = next(i for i, s in enumerate(grid) if all(getattr(s, n) == getattr(DELINEATION, n) for n in GRID))
    return {
        "records": len(records), "folds": folds, "grid": {name: list(values) for name, values in GRID.items()},
        "chosen_per_fold": chosen, "cross_validated": summary(held_out), "cross_validated_score": iec_score(held_out),
        "chosen_on_all": {name: getattr(grid[overall], name) for name in GRID},
        "chosen_on_all_in_sample": summary(measured[overall]),
        "shipped": {name: getattr(DELINEATION, name) for name in GRID},
        "shipped_in_sample": summary(measured[current]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.tune_delineation", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--folds", type=int, default=5)
    args = parser.parse_args(argv)
    table = real_ecg_table(args.data, ("ludb",))
    table = table[table["paced"] != 1]  # as in the evaluation: the measurements are not made for paced beats
    references = [reference_intervals(ludb_reference_beats(Path(record))) for record in table["record"]]
    section = cross_validate(table["record"].tolist(), table["patient"].tolist(), references, args.folds)
    section["command"] = " ".join(["python -m training.tune_delineation", *(argv or [])])
    print(json.dumps({k: section[k] for k in ("chosen_per_fold", "cross_validated", "chosen_on_all",
                                               "shipped_in_sample")}, indent=1))
    from .evaluate import write_results_section  # it loads every model: only the command needs it

    write_results_section(args.out, SECTION, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


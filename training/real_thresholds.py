"""Call thresholds that hold on real healthy adults: each disease call of the ECG encoder raised, where needed,
until it clears at most MAX_FALSE_CALL of the real healthy adults of the development sets.

    python -m training.real_thresholds [--data ../shared/data/real-ecg] [--bundle weights] [--out docs]

The calibration stage sets each call's threshold by Youden's J on simulated validation ECGs. On real ECGs the
encoder's probabilities run higher (it learnt only simulated ones), so those thresholds call a cardiomyopathy on
about half of real healthy adults. This raises each threshold to at least the one that keeps the false-call rate
on real healthy adults (PTB-XL, CinC 2021; LUDB's rescaled leads are left out) at MAX_FALSE_CALL, and no lower
than it was. What that costs is measured, not assumed:

- on held-out real patients, by patient-grouped cross-validation (each fold's thresholds set on the other folds'
  healthy adults): healthy adults with any call, each call's false-call rate, and the sensitivity for real MI
  and LVH (the findings the real sets label) before and after;
- on fresh simulated validation ECGs: each call's sensitivity and specificity at the new threshold, with Wilson
  CIs; these are the figures the app states next to each call, so they are written into the bundle's predictor
  config with the thresholds. The bundle is re-sealed and its manifest records how the thresholds were set.

The atrial fibrillation call comes from the rhythm branch (`cardionets.models.rhythm`) and the findings learnt from
real ECGs (`training.real_findings`: prior MI, LVH, RBBB) from their own model; both are left alone, but their
calls count in "healthy adults with any call", held out too: each record's finding calls come from the finding
model of the fold that did not see its patient.
Writes the ``real_thresholds`` section of OUT/results.json (and results.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from cardionets.bundle import Manifest, seal
from cardionets.ecg.real_sets import real_ecg_table
from cardionets.inference import CardioNets

from .evaluate_real import (
    FOLDS,
    MAX_FALSE_CALL,
    RESCALED,
    TUNING_SETS,
    bundle_command_parser,
    real_guard,
    score_records,
    wilson_share,
)
from .real_ecg_report import real_thresholds_markdown
from .real_findings import with_held_out_finding_calls

SECTION = "real_thresholds"
SIMULATED_VALIDATION = 1500
SIMULATED_SEED = 41  # fresh subjects: no training regime uses this seed
# Another fresh draw, to check that what the app states replicates: each stated sensitivity and specificity should
# fall inside the Wilson CI measured on these subjects.
REPLICATION_SEED = 43


def guarded_thresholds(scores: pd.DataFrame, outputs: list[str], current: dict[str, float]) -> dict[str, float]:
    healthy = scores[scores["healthy"] == 1]
    return {name: max(current[name], real_guard(healthy[f"p_{name}"].to_numpy(float))) for name in outputs}


def _real_figures(scores: pd.DataFrame, thresholds: dict[str, float], untouched: list[str]) -> dict:
    """Healthy adults with any call and with each call, and MI / LVH sensitivity, when ``thresholds`` apply."""
    calls = {name: scores[f"p_{name}"].to_numpy(float) >= t for name, t in thresholds.items()}
    calls |= {name: scores[f"call_{name}"].fillna(False).to_numpy(bool) for name in untouched}
    healthy, any_call = scores["healthy"].to_numpy() == 1, np.any(list(calls.values()), axis=0)
    out = {"healthy_any_call": _wilson(any_call[healthy]),
           "healthy_false_calls": {name: _wilson(call[healthy]) for name, call in calls.items()}}
    for finding, call in (("mi", "mi"), ("lvh", "hcm"), ("lvh", "lvh")):
        if call in calls:
            positive = scores[finding].to_numpy() == 1
            out[f"{finding}_sensitivity_by_{call}_call"] = _wilson(calls[call][positive])
    return out


def _wilson(flags: np.ndarray) -> dict:
    return wilson_share(pd.Series(flags, dtype=bool))


def cross_validated(scores: pd.DataFrame, outputs: list[str], current: dict[str, float], untouched: list[str],
                    folds: int = FOLDS) -> dict:
    """Pooled held-out figures: each fold's thresholds guarded on the other folds' healthy adults."""
    parts = []
    for train, test in GroupKFold(folds).split(scores, groups=scores["patient"]):
        thresholds = guarded_thresholds(scores.iloc[train], outputs, current)
        held_out = scores.iloc[test].copy()
        for name, threshold in thresholds.items():  # each fold's own call, kept as 1 / 0 for the pooling
            held_out[f"p_{name}"] = np.where(held_out[f"p_{name}"] >= threshold, 1.0, 0.0)
        parts.append(held_out)
    return _real_figures(pd.concat(parts), {name: 0.5 for name in outputs}, untouched)  # 0.5 reads the 1 / 0


def simulated_validation(model: CardioNets, n: int, seed: int) -> pd.DataFrame:
    """Fresh simulated adults of the training sites: each output's probability and label."""
    from cardionets.sim.cohort import CohortConfig, simulate_subject

    config = CohortConfig(seed=seed, with_cmr=False)
    subjects = [simulate_subject(index, config) for index in range(n)]
    results = model.predict_records([s.device_ecg for s in subjects])
    rows = []
    for subject, result in zip(subjects, results):
        labels = {name.removeprefix("label_"): value for name, value in subject.row.items()
                  if name.startswith("label_")}
        labels["any_cm"] = int(any(labels.get(d, 0) for d in ("hcm", "dcm", "rcm")))
        rows.append({**{f"y_{k}": v for k, v in labels.items()},
                     **{f"p_{name}": d.probability for name, d in result.diseases.items()}})
    return pd.DataFrame(rows)


def operating_figures(validation: pd.DataFrame, thresholds: dict[str, float]) -> dict:
    out = {}
    for name, threshold in thresholds.items():
        y, called = validation[f"y_{name}"].to_numpy() == 1, validation[f"p_{name}"].to_numpy(float) >= threshold
        out[name] = {"threshold": threshold, "sensitivity": _wilson(called[y]), "specificity": _wilson(~called[~y])}
    return out


def real_thresholds(bundle: Path, data: Path, max_false_call: float = MAX_FALSE_CALL) -> dict:
    model = CardioNets.from_pretrained(bundle)
    config = model.predictor.config
    names = list(config.disease_outputs)
    # Calls made by another model keep their own thresholds: AF (the rhythm branch) and the findings learnt from
    # real ECGs (training.real_findings sets theirs on the same healthy adults; LVH and RBBB are calls too).
    untouched = ["af"] if model.rhythm is not None and "af" in names else []
    findings = list(model.real_findings.config.findings) if model.real_findings is not None else []
    untouched += findings
    outputs = [name for name in names if name not in untouched]
    calibrated = config.disease_threshold_simulated or config.disease_threshold  # before any earlier raise
    current = {name: float(calibrated[names.index(name)]) for name in outputs}

    scores = score_records(model, real_ecg_table(data, TUNING_SETS))
    scores = scores[scores["error"].eq("") & scores[f"p_{outputs[0]}"].notna()
                    & ~scores["qc_reasons"].fillna("").str.contains(RESCALED)].reset_index(drop=True)
    guarded = guarded_thresholds(scores, outputs, current)
    # The findings' calls were learnt on these records: the held-out figure takes each record's call from the
    # finding model of the fold that did not see its patient.
    held_out = with_held_out_finding_calls(model, scores, data, findings) if findings else scores
    validation = simulated_validation(model, SIMULATED_VALIDATION, SIMULATED_SEED)
    replication = operating_figures(simulated_validation(model, SIMULATED_VALIDATION, REPLICATION_SEED), guarded)
    stated = operating_figures(validation, guarded)
    return {
        "max_false_call": max_false_call, "real_sets": list(TUNING_SETS), "records": int(len(scores)),
        "healthy": int((scores["healthy"] == 1).sum()), "folds": FOLDS, "untouched": untouched,
        "thresholds_before": current, "thresholds_after": guarded,
        "real_before": _real_figures(scores, current, untouched),
        "real_after_in_sample": _real_figures(scores, guarded, untouched),
        "real_after_cross_validated": cross_validated(held_out, outputs, current, untouched),
        "simulated_validation": {"subjects": SIMULATED_VALIDATION, "seed": SIMULATED_SEED,
                                 "before": operating_figures(validation, current), "after": stated},
        "replication": {"subjects": SIMULATED_VALIDATION, "seed": REPLICATION_SEED, "figures": replication,
                        "stated_inside_ci": _stated_inside(stated, replication)},
    }


def _stated_inside(stated: dict, replication: dict) -> dict[str, dict[str, bool]]:
    """{call: {"sensitivity", "specificity": whether the stated share lies inside the replication's CI}}."""
    out = {}
    for name, figures in stated.items():
        out[name] = {}
        for key in ("sensitivity", "specificity"):
            low, high = replication[name][key]["ci"]
            out[name][key] = bool(low <= figures[key]["share"] <= high)
    return out


def apply_to_bundle(bundle: Path, section: dict) -> Manifest:
    """The guarded thresholds and their simulated sensitivity and specificity written into the bundle's predictor
    config (its weights untouched), and the bundle re-sealed with a note of how they were set."""
    manifest = Manifest.read(bundle)
    path = bundle / manifest.components["predictor"] / "config.json"
    config = json.loads(path.read_text())
    outputs = [*config["diseases"], "any_cm"]
    if not config.get("disease_threshold_simulated"):  # the calibration's own, kept for the next raise
        config["disease_threshold_simulated"] = list(config["disease_threshold"])
    for name, figures in section["simulated_validation"]["after"].items():
        index = outputs.index(name)
        config["disease_threshold"][index] = figures["threshold"]
        for key in ("sensitivity", "specificity"):
            config[f"disease_{key}"][index] = round(figures[key]["share"], 4)
            if config.get(f"disease_{key}_ci"):  # bundles calibrated before the CIs were stored have none
                config[f"disease_{key}_ci"][index] = [round(bound, 4) for bound in figures[key]["ci"]]
    path.write_text(json.dumps(config, indent=2))
    sets = ", ".join(section["real_sets"])
    note = {"method": f"Youden's J on simulated validation data, raised where needed to call at most "
                      f"{100 * section['max_false_call']:g} % of the real healthy adults of {sets} "
                      "(python -m training.real_thresholds)", "thresholds": section["thresholds_after"]}
    return seal(bundle, manifest.components, manifest.metadata | {"real_thresholds": note})


def main(argv: list[str] | None = None) -> int:
    parser = bundle_command_parser("python -m training.real_thresholds", __doc__)
    parser.add_argument("--max-false-call", type=float, default=MAX_FALSE_CALL)
    args = parser.parse_args(argv)
    section = real_thresholds(args.bundle, args.data, args.max_false_call)
    if not args.dry_run:
        apply_to_bundle(args.bundle, section)
    from .evaluate import write_results_section  # it loads every model: only the command needs it

    write_results_section(args.out, SECTION, section)
    print(real_thresholds_markdown(section))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

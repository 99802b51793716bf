"""Simulated against real ECGs: where the virtual cohort's ECGs differ from real ones, and how easily a
classifier tells them apart.

    python -m cardionets.sim realism --real ../shared/data/real-ecg [--n 1000] [--out docs]

Healthy simulated adults are compared with real healthy adults of the same ages and sexes (PTB-XL and the CinC
2021 samples; LUDB's release is left out because its leads were rescaled to one span), and simulated atrial
fibrillation with real AF. Every ECG, real or simulated, is first resampled to 100 Hz, PTB-XL's rate, so that
neither side is told apart by what its rate shows: at 100 Hz mains (50/60 Hz), most muscle noise, pacing
spikes and QRS notching are invisible, and intervals carry a few ms more uncertainty. The features are
`cardionets.ecg.features`. For each feature: mean, SD, 5th and 95th percentiles on both sides, the mean's
relative difference and the SD ratio. Then a gradient-boosting classifier on all features, cross-validated with
real patients grouped, says how easily a real ECG is told from a simulated one (AUROC 0.5: not at all).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .. import metrics
from ..ecg import ECGError, load, resample
from ..ecg.features import ecg_features, feature_names
from ..ecg.real_sets import real_ecg_table
from .cohort import CohortConfig, simulate_subject
from .diseases import DEFAULT_PREVALENCE

COMMON_RATE_HZ = 100.0
REAL_SETS = ("ptbxl", "cinc2021")  # LUDB's amplitudes were rescaled lead by lead: not comparable
AGE_BANDS = ((40, 60), (60, 81))  # the simulator's adults are 40-80
MEAN_TOLERANCE = 0.10  # the goal: each healthy-adult mean within 10 % of the real one
SD_TOLERANCE = 0.25  # and each SD within 25 %
AF_FEATURES = ("hr_bpm", "sdnn_ms", "rmssd_ms", "rr_irregularity", "p_wave_present", "f_wave_mv", "f_wave_hz")
FOLDS = 5
_LIMB_LEADS = ("I", "II", "III", "aVR", "aVL", "aVF")


def feature_groups(names: list[str]) -> dict[str, list[str]]:
    """The features in kinds, so that the classifier can be run on each kind alone: which kind gives a simulated
    ECG away says where the simulator needs work."""
    def amplitude(name: str) -> bool:
        return name.startswith(("r_", "s_")) and name.endswith("_mv")

    groups = {
        "heart rate and intervals": ["hr_bpm", "pr_ms", "qrs_ms", "qt_ms", "qtc_bazett_ms"],
        "rhythm variability": ["sdnn_ms", "rmssd_ms", "rr_irregularity", "premature_per_min"],
        "axes": ["p_axis_deg", "qrs_axis_deg", "t_axis_deg"],
        "limb-lead R and S": [n for n in names if amplitude(n) and n.split("_")[1] in _LIMB_LEADS],
        "chest-lead R and S": [n for n in names if amplitude(n) and n.split("_")[1].startswith("V")],
        "voltage criteria": ["sokolow_lyon_mv", "cornell_mv"],
        "T waves": [n for n in names if n.startswith("t_") and n != "t_axis_deg"],
        "noise and beat-to-beat variation": [n for n in names if n.startswith("noise_")] + ["beat_variation"],
        "P and f waves": ["p_wave_present", "f_wave_mv", "f_wave_hz"],
    }
    return {group: [n for n in columns if n in names] for group, columns in groups.items()}


def features_of(record, *, patient: str, source: str, age: float, sex: str) -> dict:
    """One ECG's features at the common rate, with who it is."""
    at_common = resample(record, COMMON_RATE_HZ) if record.fs_hz != COMMON_RATE_HZ else record
    return {"source": source, "patient": patient, "age": age, "sex": sex, **ecg_features(at_common)}


def real_features(root: Path, rhythm: str) -> pd.DataFrame:
    """Features of the real healthy adults aged 40-80 (``rhythm="healthy"``) or of the real AF records."""
    table = real_ecg_table(root, REAL_SETS)
    chosen = table[(table["healthy"] == 1) & table["age_years"].between(40, 80)] if rhythm == "healthy" \
        else table[(table["af"] == 1) & (table["age_years"] >= 18)]
    rows = []
    for row in chosen.itertuples():
        try:
            rows.append(features_of(load(row.record), patient=row.patient, source="real", age=row.age_years,
                                    sex=row.sex))
        except ECGError:
            continue
    return pd.DataFrame(rows)


def simulated_features(n: int, seed: int, rhythm: str) -> pd.DataFrame:
    """Features of ``n`` simulated adults: healthy, or with atrial fibrillation and nothing else."""
    prevalence = {disease: float(rhythm == "af" and disease == "af") for disease in DEFAULT_PREVALENCE}
    config = CohortConfig(seed=seed, with_cmr=False, prevalence=prevalence)
    rows = []
    for index in range(n):
        subject = simulate_subject(index, config)
        rows.append(features_of(subject.device_ecg, patient=subject.row["subject_id"], source="simulated",
                                age=float(subject.row["age"]), sex=str(subject.row["sex"])))
    return pd.DataFrame(rows)


def matched(simulated: pd.DataFrame, real: pd.DataFrame, seed: int) -> pd.DataFrame:
    """Simulated adults drawn to the real ones' mix of sex and age band (as many as each stratum allows)."""
    rng = np.random.default_rng(seed)
    real_counts = pd.Series(_strata(real)).value_counts(normalize=True)
    simulated = simulated.assign(_stratum=_strata(simulated))
    available = simulated["_stratum"].value_counts()
    size = int(min(available.get(s, 0) / share for s, share in real_counts.items() if share > 0))
    picks = [rng.choice(simulated.index[simulated["_stratum"] == s], int(round(share * size)), replace=False)
             for s, share in real_counts.items()]
    return simulated.loc[np.concatenate(picks)].drop(columns="_stratum")


def _strata(frame: pd.DataFrame) -> list[tuple[str, int]]:
    return list(zip(frame["sex"], np.digitize(frame["age"], [high for _, high in AGE_BANDS[:-1]])))


def distribution_rows(real: pd.DataFrame, simulated: pd.DataFrame, names: list[str]) -> list[dict]:
    rows = []
    for name in names:
        r, s = real[name].dropna(), simulated[name].dropna()
        if len(r) < 2 or len(s) < 2:
            continue
        row = {"feature": name, "n_real": int(len(r)), "n_simulated": int(len(s))}
        for side, values in (("real", r), ("simulated", s)):
            row[side] = {"mean": float(values.mean()), "sd": float(values.std()),
                         "p5": float(values.quantile(0.05)), "p95": float(values.quantile(0.95))}
        scale = abs(row["real"]["mean"])
        row["mean_difference"] = None if scale == 0 else (row["simulated"]["mean"] - row["real"]["mean"]) / scale
        row["sd_ratio"] = None if row["real"]["sd"] == 0 else row["simulated"]["sd"] / row["real"]["sd"]
        row["within"] = (row["mean_difference"] is not None and abs(row["mean_difference"]) <= MEAN_TOLERANCE
                         and row["sd_ratio"] is not None and abs(row["sd_ratio"] - 1) <= SD_TOLERANCE)
        rows.append(row)
    return rows


def real_vs_simulated_auroc(real: pd.DataFrame, simulated: pd.DataFrame, names: list[str], seed: int,
                            importances: bool = True) -> dict:
    """Out-of-fold AUROC (DeLong CI) of gradient boosting telling real (1) from simulated (0), with a patient's
    records kept in one fold; and (``importances``) the features it leans on most: the drop in held-out AUROC
    when one is shuffled (permutation importance, averaged over the folds)."""
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.inspection import permutation_importance
    from sklearn.model_selection import StratifiedGroupKFold

    both = pd.concat([real, simulated], ignore_index=True)
    x, y = both[names].to_numpy(float), (both["source"] == "real").to_numpy(int)
    groups = both["patient"].to_numpy()
    folds = min(FOLDS, len(set(groups[y == 1])), int((1 - y).sum()))  # a handful of real patients: fewer folds
    scores = np.zeros(len(both))
    drops = np.zeros(len(names))
    for train, test in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(x, y, groups):
        known = np.flatnonzero(np.isfinite(x[train]).any(axis=0))  # the booster cannot bin an all-missing column
        model = HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05, random_state=seed)
        model.fit(x[train][:, known], y[train])
        scores[test] = model.predict_proba(x[test][:, known])[:, 1]
        if importances:
            drops[known] += permutation_importance(model, x[test][:, known], y[test], scoring="roc_auc",
                                                   n_repeats=3, random_state=seed).importances_mean / folds
    interval = metrics.delong_ci(y, scores)
    order = np.argsort(-drops)[:8] if importances else []
    return {"auroc": interval.point, "ci": [interval.low, interval.high], "n_real": int(y.sum()),
            "n_simulated": int((1 - y).sum()), "folds": folds,
            "top_features": [{"feature": names[i], "auroc_drop": float(drops[i])} for i in order]}


def realism_report(real_root: Path, n: int = 1000, seed: int = 17) -> dict:
    names = feature_names()
    report = {"common_rate_hz": COMMON_RATE_HZ, "real_sets": list(REAL_SETS), "n_simulated_drawn": n,
              "seed": seed}
    for rhythm in ("healthy", "af"):
        real = real_features(real_root, rhythm)
        simulated = simulated_features(n if rhythm == "healthy" else n // 4, seed + (rhythm == "af"), rhythm)
        if rhythm == "healthy":
            simulated = matched(simulated, real, seed)
        used = names if rhythm == "healthy" else list(AF_FEATURES)
        report[rhythm] = {"distributions": distribution_rows(real, simulated, used),
                          "classifier": real_vs_simulated_auroc(real, simulated, names, seed)}
        if rhythm == "healthy":
            report[rhythm]["by_kind"] = [
                {"kind": kind, "features": len(columns),
                 **{k: v for k, v in real_vs_simulated_auroc(real, simulated, columns, seed, importances=False).items()
                    if k in ("auroc", "ci")}}
                for kind, columns in feature_groups(names).items()]
    return report


def realism_markdown(report: dict) -> str:
    lines = ["# Realism: simulated against real ECGs", "",
             f"Command: `{report.get('command', 'python -m cardionets.sim realism')}`. Real: "
             f"{', '.join(report['real_sets'])} (LUDB left out: its leads were rescaled). Every ECG resampled to "
             f"{report['common_rate_hz']:g} Hz first: at that rate mains (50/60 Hz), muscle noise above 45 Hz, "
             "pacing spikes and QRS notching cannot be seen on either side.", ""]
    for rhythm, title in (("healthy", "Healthy adults (40-80 years, simulated drawn to the real mix of sex and age)"),
                          ("af", "Atrial fibrillation")):
        section = report[rhythm]
        c = section["classifier"]
        lines += [f"## {title}", "",
                  f"Real-vs-simulated classifier (gradient boosting on all features, {c['folds']}-fold CV, real "
                  f"patients grouped): AUROC **{c['auroc']:.3f}** [{c['ci'][0]:.3f}, {c['ci'][1]:.3f}] "
                  f"({c['n_real']} real, {c['n_simulated']} simulated; 0.5 = indistinguishable, goal <= 0.75). "
                  "It leans most on: " + ", ".join(f"{f['feature']} ({f['auroc_drop']:+.3f})"
                                                   for f in c["top_features"]) + ".", "",
                  *_by_kind_lines(section.get("by_kind", [])),
                  "| feature | real mean ± SD [p5, p95] | simulated mean ± SD [p5, p95] | mean diff | SD ratio | "
                  "within 10 % / 25 % |", "|---|---|---|---|---|---|"]
        for row in section["distributions"]:
            real, simulated = row["real"], row["simulated"]
            difference = "" if row["mean_difference"] is None else f"{row['mean_difference']:+.0%}"
            ratio = "" if row["sd_ratio"] is None else f"{row['sd_ratio']:.2f}"
            lines.append(f"| {row['feature']} | {_spread(real)} | {_spread(simulated)} | {difference} | {ratio} | "
                         f"{'yes' if row['within'] else 'no'} |")
        share = np.mean([row["within"] for row in section["distributions"]]) if section["distributions"] else 0
        lines += ["", f"{share:.0%} of the features within both tolerances.", ""]
    return "\n".join(lines)


def _by_kind_lines(rows: list[dict]) -> list[str]:
    if not rows:
        return []
    lines = ["The same classifier on one kind of feature at a time (which kind gives a simulated ECG away):", "",
             "| features | how many | AUROC [95 % CI] |", "|---|---|---|"]
    lines += [f"| {row['kind']} | {row['features']} | {row['auroc']:.3f} [{row['ci'][0]:.3f}, {row['ci'][1]:.3f}] |"
              for row in sorted(rows, key=lambda row: -row["auroc"])]
    return lines + [""]


def _spread(side: dict) -> str:
    return f"{side['mean']:.3g} ± {side['sd']:.2g} [{side['p5']:.3g}, {side['p95']:.3g}]"


def write_realism(report: dict, out: Path) -> None:
    """``realism`` section of out/results.json and out/realism.md."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "results.json"
    results = json.loads(path.read_text()) if path.is_file() else {}
    path.write_text(json.dumps(results | {"realism": report}, indent=2))
    (out / "realism.md").write_text(realism_markdown(report))

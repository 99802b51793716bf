"""How the shipped models do on real ECGs that no part of this project produced: the benchmark they must pass.

    python -m training evaluate-real [--data ../shared/data/real-ecg] [--bundle weights] [--out docs]

Runs a weights bundle on every record of the real sets (`cardionets.ecg.real_sets`), with each record's age and
sex, and writes the ``real_ecg`` section of ``OUT/results.json`` and ``OUT/real_ecg.md``:

- healthy adults, per set and sex: the share with each disease call and with any call (Wilson 95 % CIs), the
  share flagged out-of-distribution, and what the quality check rejected or warned about;
- discrimination (AUROC, DeLong 95 % CI) of real findings against healthy adults, next to the references that
  need no model (the rule-based rhythm read for AF, the cart's Sokolow-Lyon and Cornell voltages for LVH), and
  the calls' sensitivity and specificity at the shipped thresholds;
- predicted phenotypes of healthy adults by sex and age band against the UK Biobank means;
- LUDB: our global intervals against the cardiologists' boundaries (`training.evaluate_delineation`).

Nothing here is tuned on the real sets. A bundle whose call thresholds `training.real_thresholds` set on these
sets' healthy adults says so in its manifest, and the report then names those figures in-sample and points to
the cross-validated ones.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from cardionets import metrics
from cardionets.bundle import DEFAULT_BUNDLE
from cardionets.covariates import CART_MEASUREMENTS
from cardionets.ecg import ECGError, load
from cardionets.ecg.real_sets import ADULT_YEARS, real_ecg_table
from cardionets.ecg.rhythm import RhythmRead
from cardionets.inference import CardioNets
from cardionets.ood import UNUSUAL_SCORE

from .evaluate_delineation import delineation_section
from .real_ecg_report import PHENOTYPES, REFERENCE_AGES, SEXES, real_ecg_markdown

DEFAULT_DATA = Path("../shared/data/real-ecg")
SECTION = "real_ecg"
BATCH = 32
AGE_BANDS = {"18-39": (18, 40), "40-59": (40, 60), "60-79": (60, 80), "80+": (80, np.inf)}
# (task, positive label, score column, what the score is): every score is higher for the positive class.
TASKS = (
    ("AF vs healthy", "af", "p_af", "model: AF probability"),
    ("AF vs healthy", "af", "rhythm_af_score", "reference: rule-based rhythm read (RR irregularity, P waves)"),
    ("MI vs healthy", "mi", "p_mi", "model: prior-MI probability"),
    ("LVH vs healthy", "lvh", "lvm_g", "model: predicted LV mass"),
    ("LVH vs healthy", "lvh", "wt_max_mm", "model: predicted maximum wall thickness"),
    ("LVH vs healthy", "lvh", "sokolow_lyon_mv", "reference: Sokolow-Lyon voltage"),
    ("LVH vs healthy", "lvh", "cornell_mv", "reference: Cornell voltage"),
    *((task, label, f"cart_cv_{label}", "reference: cart measurements + age, sex (logistic, patient-grouped CV)")
      for task, label in (("AF vs healthy", "af"), ("MI vs healthy", "mi"), ("LVH vs healthy", "lvh"))),
    ("LBBB vs healthy", "lbbb", "qrs_ms", "measured QRS duration"),
    ("RBBB vs healthy", "rbbb", "qrs_ms", "measured QRS duration"),
    # the findings learnt from real ECGs (cardionets.models.real_findings), when the bundle has them: in-sample here
    *((task, label, f"p_{label}", "model: learnt from the real sets (in-sample here)")
      for task, label in (("LVH vs healthy", "lvh"), ("LBBB vs healthy", "lbbb"), ("RBBB vs healthy", "rbbb"))),
)
# (call column, positive label, what it is): sensitivity and specificity against healthy adults.
CALLS = (
    ("call_af", "af", "model's AF call"),
    ("rhythm_rule_af", "af", "rule: irregular RR and no P wave"),
    ("call_mi", "mi", "model's prior-MI call"),
    ("call_hcm", "lvh", "model's HCM call (nearest to LVH)"),
    ("sokolow_lyon_lvh", "lvh", "Sokolow-Lyon > 3.5 mV"),
    ("cornell_lvh", "lvh", "Cornell > 2.8 mV (men) / 2.0 mV (women)"),
)
RESCALED = "normalised_amplitudes"  # the quality check's code for leads rescaled to one span
MIN_CLASS = 2  # fewer positives or healthy adults than this in a set: no AUROC for it
# What is set on these records (training.real_thresholds, training.real_findings) is set under one rule: a call
# made on at most MAX_FALSE_CALL of the real healthy adults; its worth is measured by FOLDS-fold CV by patient.
# Per call. 1 % left 10.6 % [8.6, 12.9] of healthy adults with some call held out once the three findings learnt
# from real ECGs were added beside the six heads and AF (3.3 % on its own); 0.75 % keeps the total under 10 %.
MAX_FALSE_CALL = 0.0075
FOLDS = 5
TUNING_SETS = ("ptbxl", "cinc2021")  # LUDB's leads were rescaled, and every model input reads amplitudes


def score_records(model: CardioNets, table: pd.DataFrame) -> pd.DataFrame:
    """One row per record of ``table``: its labels plus the model's outputs, our measurements and the rhythm
    read (``error`` says why a record could not be read or measured)."""
    rows = []
    for start in range(0, len(table), BATCH):
        batch = table.iloc[start:start + BATCH]
        records, errors = [], []
        for path in batch["record"]:
            try:
                records.append(load(path))
                errors.append("")
            except ECGError as error:
                records.append(None)
                errors.append(str(error))
        readable = [i for i, record in enumerate(records) if record is not None]
        results = dict(zip(readable, model.predict_records(
            [records[i] for i in readable], [_none(batch["sex"].iloc[i]) for i in readable],
            [_none(batch["age_years"].iloc[i]) for i in readable])))
        for i, (_, label_row) in enumerate(batch.iterrows()):
            row = label_row.to_dict() | {"error": errors[i]}
            if i in results:
                row |= _outputs(results[i]) | _rhythm(results[i].rhythm)
            rows.append(row)
    return pd.DataFrame(rows)


def _outputs(result) -> dict:
    measured = result.measurements or {}
    row = {"qc_verdict": result.qc["verdict"],
           "qc_reasons": ";".join(sorted({f["code"] for f in result.qc["findings"]
                                            if f["severity"] in ("warn", "reject")})),
           "ood_score": result.ood.score, "ood_flag": result.ood.out_of_distribution,
           "ood_score_flag": None if result.ood.score is None else result.ood.score > UNUSUAL_SCORE,
           "withheld": result.ood.withheld,
           **{key: measured.get(key) for key in CART_MEASUREMENTS}}
    for name, disease in result.diseases.items():
        row[f"p_{name}"] = disease.probability
        row[f"call_{name}"] = disease.positive
    row["any_call"] = None if not result.diseases else bool(result.positive_calls)
    for name, phenotype in result.phenotypes.items():
        row[name] = phenotype.value
    walls = [p.value for name, p in result.phenotypes.items() if name.startswith("wt_aha")]
    row["wt_max_mm"] = max(walls) if walls else None
    return row


def _rhythm(rhythm: dict | None) -> dict:
    """The rule-based rhythm read the prediction already made (`cardionets.ecg.rhythm`), as score columns."""
    if rhythm is None:
        return {}
    read = RhythmRead.from_dict(rhythm)
    return {"rr_irregularity": read.rr_irregularity, "p_wave_present": read.p_wave_present,
            "rhythm_af_score": read.af_score, "rhythm_rule_af": read.rule_says_af}


def _none(value):
    return None if value is None or (isinstance(value, float) and np.isnan(value)) else value


# --- the section -------------------------------------------------------------------------------------------------
def real_ecg_section(scores: pd.DataFrame, diseases: tuple[str, ...]) -> dict:
    scores = _with_cart_calls(scores)
    # Pooled figures leave out records whose amplitudes were rescaled lead by lead (all of LUDB's release): every
    # model output reads amplitudes. Their own set's rows still show them, for timing and rhythm.
    rescaled = scores.get("qc_reasons", pd.Series("", index=scores.index)).fillna("").str.contains(RESCALED)
    scores = _with_cart_baseline(scores, ~rescaled)
    groups = [("all sets", scores[~rescaled])] + [(name, part) for name, part in scores.groupby("set", sort=False)]
    return {
        "rescaled": int(rescaled.sum()),
        "records": {name: int(len(part)) for name, part in groups},
        "unreadable": {name: int((part["error"] != "").sum()) for name, part in groups},
        "healthy": [_healthy_row(name, sex, part, diseases) for name, part in groups
                    for sex, part in _by_sex(part[part["healthy"] == 1])],
        "discrimination": [row for name, part in groups for row in _discrimination(name, part)],
        "calls": [row for name, part in groups for row in _call_rows(name, part)],
        "phenotypes": _phenotype_rows(groups[0][1][groups[0][1]["healthy"] == 1]),
    }


def _with_cart_calls(scores: pd.DataFrame) -> pd.DataFrame:
    scores = scores.copy()
    for column in ("sokolow_lyon_mv", "cornell_mv", "rhythm_af_score", "qrs_ms", "call_af"):
        if column not in scores:
            scores[column] = np.nan
    sokolow, cornell = (pd.to_numeric(scores[c]) for c in ("sokolow_lyon_mv", "cornell_mv"))
    scores["sokolow_lyon_lvh"] = (sokolow > 3.5).where(sokolow.notna())
    cornell_limit = np.where(scores["sex"] == "M", 2.8, 2.0)
    scores["cornell_lvh"] = (cornell > cornell_limit).where(cornell.notna())
    return scores


def _with_cart_baseline(scores: pd.DataFrame, usable: pd.Series) -> pd.DataFrame:
    """``cart_cv_<finding>``: out-of-fold probabilities of a logistic regression on the cart measurements plus
    age and sex, finding against healthy adults, patients grouped (`metrics.cross_validated_scores`), on the
    records whose amplitudes were not rescaled; NaN elsewhere or where a finding has too few cases."""
    scores = scores.copy()
    features = [column for column in CART_MEASUREMENTS if column in scores]
    for label in ("af", "mi", "lvh"):
        scores[f"cart_cv_{label}"] = np.nan
        chosen = scores[usable & ((scores[label] == 1) | (scores["healthy"] == 1)) & (scores["error"] == "")]
        y = (chosen[label] == 1).to_numpy(int)
        if not features or min(y.sum(), (1 - y).sum()) < 5 * MIN_CLASS:
            continue
        x = np.column_stack([chosen[features].apply(pd.to_numeric).to_numpy(float),
                             pd.to_numeric(chosen["age_years"]).to_numpy(float),
                             (chosen["sex"] == "M").to_numpy(float)])
        scores.loc[chosen.index, f"cart_cv_{label}"] = metrics.cross_validated_scores(x, y, chosen["patient"])
    return scores


def _by_sex(part: pd.DataFrame):
    yield "both", part
    for sex in SEXES:
        yield sex, part[part["sex"] == sex]


def bundle_command_parser(prog: str, doc: str) -> argparse.ArgumentParser:
    """The arguments every command that fits part of a bundle on the real sets takes (training.real_findings,
    real_thresholds, real_ood); each adds its own."""
    parser = argparse.ArgumentParser(prog=prog, description=doc.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--bundle", type=Path, default=DEFAULT_BUNDLE)
    parser.add_argument("--out", type=Path, default=Path("docs"))
    parser.add_argument("--dry-run", action="store_true", help="measure only; leave the bundle as it is")
    return parser


def real_guard(healthy_probabilities: np.ndarray, max_false_call: float = MAX_FALSE_CALL) -> float:
    """The lowest threshold that calls at most ``max_false_call`` of these healthy adults."""
    return metrics.threshold_at_specificity(np.zeros(len(healthy_probabilities), int), healthy_probabilities,
                                            1.0 - max_false_call)


def wilson_share(flags: pd.Series) -> dict | None:
    """A proportion of the known (non-missing) flags, with its Wilson 95 % CI."""
    known = flags.dropna().astype(bool)
    if known.empty:
        return None
    interval = metrics.wilson_ci(int(known.sum()), int(known.size))
    return {"n": int(known.size), "count": int(known.sum()), "share": interval.point, "ci": [interval.low,
                                                                                           interval.high]}


def _healthy_row(name: str, sex: str, part: pd.DataFrame, diseases: tuple[str, ...]) -> dict:
    analysed = part[part["error"] == ""]
    modelled = analysed[analysed["qc_verdict"] != "reject"] if "qc_verdict" in analysed else analysed
    reasons: dict[str, int] = {}
    for text in analysed.get("qc_reasons", pd.Series(dtype=str)).fillna(""):
        for code in filter(None, str(text).split(";")):
            reasons[code] = reasons.get(code, 0) + 1
    return {
        "set": name, "sex": sex, "n": int(len(part)), "unreadable": int(len(part) - len(analysed)),
        "any_call": wilson_share(modelled["any_call"]) if "any_call" in modelled else None,
        "calls": {d: wilson_share(modelled[f"call_{d}"]) for d in diseases if f"call_{d}" in modelled},
        "ood_flag": wilson_share(analysed["ood_flag"]) if "ood_flag" in analysed else None,
        "ood_score_flag": wilson_share(analysed["ood_score_flag"]) if "ood_score_flag" in analysed else None,
        "qc_rejected": wilson_share(analysed["qc_verdict"] == "reject") if "qc_verdict" in analysed else None,
        "qc_warned": wilson_share(analysed["qc_verdict"] == "warn") if "qc_verdict" in analysed else None,
        "qc_reasons": dict(sorted(reasons.items(), key=lambda item: -item[1])),
    }


def _discrimination(name: str, part: pd.DataFrame) -> list[dict]:
    rows = []
    for task, label, column, what in TASKS:
        if column not in part:
            continue
        chosen = part[((part[label] == 1) | (part["healthy"] == 1)) & pd.to_numeric(part[column]).notna()]
        y = (chosen[label] == 1).to_numpy(int)
        row = {"set": name, "task": task, "score": column, "what": what, "n_positive": int(y.sum()),
               "n_healthy": int((1 - y).sum()), "auroc": None, "ci": None}
        if y.sum() >= MIN_CLASS and (1 - y).sum() >= MIN_CLASS:
            interval = metrics.delong_ci(y, pd.to_numeric(chosen[column]).to_numpy(float))
            row |= {"auroc": interval.point, "ci": [interval.low, interval.high]}
        rows.append(row)
    return rows


def _call_rows(name: str, part: pd.DataFrame) -> list[dict]:
    rows = []
    for column, label, what in CALLS:
        if column not in part:
            continue
        positives = part[(part[label] == 1) & part[column].notna()][column]
        healthy = part[(part["healthy"] == 1) & part[column].notna()][column]
        sensitivity = wilson_share(positives)
        specificity = wilson_share(~healthy.astype(bool)) if len(healthy) else None
        rows.append({"set": name, "call": column, "label": label, "what": what,
                     "sensitivity": sensitivity, "specificity": specificity})
    return rows


def _phenotype_rows(healthy: pd.DataFrame) -> list[dict]:
    rows = []
    for sex, who in SEXES.items():
        of_sex = healthy[healthy["sex"] == sex]
        for label, (low, high) in (("all ages", (ADULT_YEARS, np.inf)), REFERENCE_AGES, *AGE_BANDS.items()):
            band = of_sex[(of_sex["age_years"] >= low) & (of_sex["age_years"] < high)]
            row = {"sex": sex, "age_band": label, "n": int(len(band))}
            for name in PHENOTYPES:
                values = pd.to_numeric(band[name]).dropna() if name in band else pd.Series(dtype=float)
                row[name] = None if values.empty else {"mean": float(values.mean()), "sd": float(values.std())}
            rows.append(row)
    return rows


# --- the command -------------------------------------------------------------------------------------------------
def evaluate_real(model: CardioNets, data: Path, sets: tuple[str, ...] | None = None) -> tuple[dict, pd.DataFrame]:
    """The ``real_ecg`` section for the real sets under ``data``, and the per-record scores it was made from."""
    from cardionets.ecg.real_sets import SETS

    started = time.perf_counter()
    table = real_ecg_table(data, sets or SETS)
    scores = score_records(model, table)
    diseases = model.disease_names
    section = {"diseases": list(diseases), **real_ecg_section(scores, diseases)}
    ludb = table[table["set"] == "ludb"]
    section["delineation"] = (delineation_section(ludb["record"].tolist(), (ludb["paced"] == 1).tolist())
                              if len(ludb) else None)
    section["seconds"] = time.perf_counter() - started
    return section, scores


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training evaluate-real",
                                     description="The shipped models on the real ECG sets.")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA,
                        help="folder holding ptbxl/, ludb/, cinc2021/ (each with its labels.csv)")
    parser.add_argument("--bundle", default=None, help="weights bundle (default: the shipped weights)")
    parser.add_argument("--out", type=Path, default=Path("docs"), help="where results.json and real_ecg.md go")
    parser.add_argument("--sets", nargs="+", default=None, help="only these sets (ptbxl ludb cinc2021)")
    parser.add_argument("--scores", type=Path, default=None, help="also write the per-record scores (CSV) here")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"No real ECG data at {args.data}: give --data (see ../shared/data/README.md)")
    model = CardioNets.from_pretrained(args.bundle) if args.bundle else CardioNets.from_pretrained()
    section, scores = evaluate_real(model, args.data, tuple(args.sets) if args.sets else None)
    command = ["python -m training evaluate-real", *(argv if argv is not None else [])]
    section |= {"command": " ".join(command), "bundle": str(args.bundle or "weights"),
                "bundle_created": model.manifest.metadata.get("created"),
                "thresholds_set_on": model.manifest.metadata.get("real_thresholds", {}).get("method"),
                "findings_trained_on": (model.real_findings.config.trained_on if model.real_findings is not None
                                        else None),
                "ood_fitted_on": model.manifest.metadata.get("real_ood", {}).get("fitted_on")}
    write_section(args.out, section)
    if args.scores:
        scores.to_csv(args.scores, index=False)
    return 0


def write_section(out: Path, section: dict) -> None:
    """Replace the ``real_ecg`` section of ``out/results.json`` (created if missing), rewrite results.md from it,
    and write real_ecg.md."""
    from .evaluate import write_results_section  # it loads torch and every model: only the command needs it

    write_results_section(out, SECTION, json.loads(json.dumps(section, default=_json_default)))
    (out / "real_ecg.md").write_text(real_ecg_markdown(section))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")

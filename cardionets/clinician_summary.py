"""The model card's part for clinicians, in plain words: what the models learnt from, how they did on real ECGs
(held-out figures wherever something was tuned on those ECGs), and when not to use them. Made from the results
the training commands write (`docs/results.json`), so no number in it is typed by hand; the engineering card
(`training.model_card`) stays below it on the page.
"""

from __future__ import annotations

from .presentation import DISEASE_LABELS
from .sim.reference_ranges import PETERSEN_2017

WHEN_NOT_TO_USE = (
    "for a diagnosis or a treatment decision: this is a research tool;",
    "for children (under 18) or paced rhythms: the app withholds its calls for them;",
    "for ages outside 40-80 years, recordings stored below 100 Hz, or with leads missing or much noise: the app "
    "warns, and its outputs are less reliable;",
    "in place of an echocardiogram or a CMR: the heart sizes are estimates with wide intervals, and on real ECGs "
    "they run larger than UK Biobank's healthy adults (above).",
)


def _share(figure: dict | None) -> str:
    if not figure:
        return "not measured"
    low, high = figure["ci"]
    return f"{figure['share']:.0%} ({figure['count']} of {figure['n']}; 95 % CI {low:.0%} to {high:.0%})"


def _auroc(real_ecg: dict, task: str, score: str) -> str | None:
    row = next((r for r in real_ecg.get("discrimination", []) if r["set"] == "all sets" and r["task"] == task
                and r["score"] == score and r["auroc"] is not None), None)
    return None if row is None else f"{row['auroc']:.2f}"


def clinician_summary(results: dict) -> str:
    """Markdown for clinicians from ``results`` (docs/results.json); sections whose figures are missing are left
    out rather than filled with guesses."""
    real_ecg, thresholds = results.get("real_ecg") or {}, results.get("real_thresholds") or {}
    findings = (results.get("real_findings") or {}).get("held_out", {})
    lines = ["## For clinicians", "",
             "**What it learnt from.** The heart-size estimates, the cardiomyopathy and pulmonary hypertension "
             "calls and the synthetic cine were learnt from simulated people only (a virtual cohort whose ECGs and "
             "CMR follow from one simulated heart), not from patients. Atrial fibrillation is read from the rhythm "
             "(irregular beats, no P waves). Prior infarction, left ventricular hypertrophy and right bundle "
             "branch block were learnt from real ECGs that cardiologists had labelled (PTB-XL, CinC 2021): they "
             "describe the tracing, not a scan."]
    held_out_calls = (thresholds.get("real_after_cross_validated") or {}).get("healthy_any_call")
    if real_ecg:
        lines += ["", "**How it did on real ECGs** (development sets; tested on patients whose ECGs did not tune "
                  "what is measured):", ""]
        if held_out_calls:
            lines.append(f"- Healthy adults given at least one disease call: {_share(held_out_calls)}.")
        af = _auroc(real_ecg, "AF vs healthy", "p_af")
        if af:
            lines.append(f"- Atrial fibrillation told from healthy sinus rhythm: AUROC {af} (1 is perfect, 0.5 is "
                         "chance).")
        for name, row in findings.items():
            auroc = row["auroc_vs_healthy"]["auroc"]
            lines.append(f"- {DISEASE_LABELS.get(name, name)}: AUROC {auroc:.2f} against healthy adults; called in "
                         f"{_share(row['sensitivity'])} of the patients who have it.")
        for row in real_ecg.get("phenotypes", []):
            if row["age_band"] == "45-74" and row.get("lvedv_ml"):
                reference = PETERSEN_2017[row["sex"]]["lvedv_ml"].mean
                who = {"M": "men", "F": "women"}[row["sex"]]
                lines.append(f"- Left ventricular end-diastolic volume of healthy {who} aged 45-74: estimated "
                             f"{row['lvedv_ml']['mean']:.0f} mL on average, where UK Biobank's healthy {who} measure "
                             f"{reference:g} mL on CMR ({row['lvedv_ml']['mean'] / reference - 1:+.0%}).")
    lines += ["", "**When not to use it:**", "", *(f"- Not {item}" for item in WHEN_NOT_TO_USE), ""]
    return "\n".join(lines)

"""The weights bundle's model card (README.md, in the Hugging Face Hub's format), written from the evaluation.

Every figure in it is read from `results.json` (what `python -m training evaluate` wrote for the same run) and
the bundle's manifest, never typed in, so the card cannot drift from the measured results. `training.export_bundle`
writes it; after a later evaluation of the same weights (`python -m training evaluate-generative`),

    python -m training.model_card --bundle weights --results docs/results.json

writes it again. The card is outside the manifest's checksums, so the bundle stays sealed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from cardionets.bundle import MODEL_CARD_NAME, Manifest

FRONT_MATTER = """---
license: mit
library_name: cardionets
tags:
- ecg
- cardiac-mri
- medical
- research-only
- synthetic-data
pipeline_tag: other
---
"""


def _fmt(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def model_card(results: dict, manifest: Manifest, predictor: dict | None = None, rhythm: dict | None = None,
               real_findings: dict | None = None) -> str:
    """The card's text; ``predictor`` is the bundle's predictor config (for its operating points), ``rhythm`` and
    ``real_findings`` the configs of those components when the bundle has them."""
    meta = manifest.metadata
    regimes = meta["training_data"]["regimes"]
    predictive = results.get("predictive", {})
    intended_use = ("Research and demonstration of the CardioNets method (arXiv 2411.13602): CMR-derived "
                    "phenotypes, calibrated disease probabilities and a synthetic two-view cine CMR from a 12-lead "
                    "ECG. Not a medical device; not validated on patients; no output should inform the care of a "
                    "person.")
    lines = [FRONT_MATTER, "# CardioNets default weights", "",
             "**Research use only, not for diagnosis.** Every cine these weights generate is SYNTHETIC.", "",
             "## Intended use", "", intended_use, "",
             "## Training data", "",
             f"{meta['training_data']['source']}. Recipe `{meta['recipe']}`, seed {meta['training_data']['seed']}; "
             f"bundle created {meta['created']}, CardioNets {manifest.cardionets_version}, bundle schema "
             f"{manifest.schema_version}.", "",
             "| regime | subjects |", "|---|---|"]
    lines += [f"| {name} | {count} |" for name, count in regimes.items()]
    lines += ["", f"External site (held out of every stage): `{meta['training_data']['external_site']}`.", "",
              "## Results (held-out virtual subjects)", "",
              f"From `{results.get('command', 'python -m training evaluate')}`; 95 % bootstrap CIs and every other "
              "figure in the repository's `docs/results.md`.", "",
              "| split | mean phenotype R² | AUROC any cardiomyopathy | subtype accuracy |", "|---|---|---|---|"]
    for split in ("internal", "external"):
        aligned = predictive.get(split, {}).get("aligned")
        if aligned:
            lines.append(f"| {split} | {_fmt(aligned['r2_mean'])} | {_fmt(aligned['auroc_any_cm'])} | "
                         f"{_fmt(aligned['subtype_accuracy'])} |")
    generative = results.get("generative")
    if generative:
        lines += ["", f"Generated cines: from `{generative.get('command', results.get('command'))}`, "
                  f"{generative['internal']['subjects']} subjects per split.", "",
                  "| generated cines (MAR) | SSIM | PSNR dB | Fréchet | image R² LVEDV | image R² LVEF |",
                  "|---|---|---|---|---|---|"]
        for split in ("internal", "external"):
            mar = generative[split]["scores"]["mar"]
            lines.append(f"| {split} | {_fmt(mar['ssim'])} | {_fmt(mar['psnr_db'], 2)} | {_fmt(mar['frechet'], 2)} "
                         f"| {_fmt(mar['r2_lvedv'])} | {_fmt(mar['r2_lvef'])} |")
        if generative.get("settings", {}).get("told_scanner"):
            lines += ["", "These cines imitate each test subject's scanner (its site's) through the scanner adapter, "
                      "as `CardioNets.generate_cmr(..., scanner=site)` does; without a scanner, cines have the "
                      "training sites' look."]
    lines += covariate_head(results.get("covariate_heads"), predictor or {})
    lines += operating_points(predictor or {})
    lines += rhythm_branch(rhythm)
    lines += real_findings_lines(real_findings, results.get("real_findings"))
    lines += ["", "## Limitations", "",
              "- The phenotype and disease heads learnt from simulated subjects only: real ECGs differ in ways the "
              "virtual cohort does not model, and no phenotype here transfers to patients without retraining on "
              "real paired ECG-CMR data." + (" The findings learnt from real ECGs learnt ECG labels (cardiologists "
              "reading the tracing), not CMR: a prior-infarction call means an infarct pattern on the ECG."
              if real_findings else ""),
              "- Reference ranges are given for LV volumes and EF (UK Biobank, Petersen 2017) and RV EDV and ESV "
              "(Hudsmith 2005, an Oxford cohort aged 21-68), by sex; the other phenotypes have none.",
              "- Weights are stored as float16 (half the download) and run as float32; the repository's "
              "`docs/inference.md` gives the measured difference from the float32 export.",
              f"- {threshold_method(meta)} Each result states that call's sensitivity and specificity on "
              "simulated validation data. A 90 %-sensitivity screening threshold is stored too: with rare diseases "
              "it calls most healthy people positive.",
              *ood_reference_lines(meta.get("real_ood")),
              *generated_cine_limitations(generative), "",
              "## Retrain", "",
              "```bash", f"python -m training all --config training/configs/{meta['recipe']}.yaml",
              f"python -m training.tune_sampler --config training/configs/{meta['recipe']}.yaml",
              f"python -m training.export_bundle --config training/configs/{meta['recipe']}.yaml --out weights "
              "--storage-dtype float16",
              "```", "", "A stage with a `max_minutes` budget in the recipe trains for that long, not for its "
              "epochs: run it on the hardware the recipe's comments name.", "",
              "On your own UK Biobank or MIMIC-IV-ECG access: see the repository's `docs/training.md`.", ""]
    return "\n".join(lines)


# How a failed acceptance check of the generated cines (`training.evaluate_generative.generative_checks`) reads.
SHORTFALLS = {
    "mar_beats_mean_and_retrieval_ssim": "SSIM against the truth below the population mean's or retrieval's",
    "mar_beats_mean_and_retrieval_psnr": "PSNR against the truth below the population mean's or retrieval's",
    "mar_frechet_below_regression_decoder": "Fréchet distance from the true cines' features above the "
                                            "deterministic decoder's",
    "image_r2_at_least_80_percent_of_head": "LVEDV or LVEF, as the segmenter measures them, with under 80 % of the "
                                            "regression head's R²",
}


def generated_cine_limitations(generative: dict | None) -> list[str]:
    """One line per split whose generated cines fall short of an acceptance check, saying which."""
    lines = []
    for split, checks in ((generative or {}).get("checks") or {}).items():
        shortfalls = [text for name, text in SHORTFALLS.items() if checks.get(name) is False]
        if shortfalls:
            lines.append(f"- On the {split} test split, generated cines fall short: " + "; ".join(shortfalls)
                         + ": see the repository's `docs/generative.md`.")
    return lines


def covariate_head(section: dict | None, predictor: dict) -> list[str]:
    """What the reported outputs read besides the ECG, and how they compare with the plainest baseline."""
    if not section or not predictor.get("covariates"):
        return []
    lines = ["", "## Inputs besides the ECG: the covariate head", "",
             "The phenotypes and disease probabilities come from a head that reads the ECG embedding with age, sex, "
             "body surface area (from height and weight) and the cart's ten measurements; a missing value is "
             "handled (the head trained with them hidden at random). Each phenotype carries 80 % and 95 % "
             "split-conformal prediction intervals; a reference-range flag is raised only when the whole 95 % "
             f"interval lies outside the range. From `{section.get('command', 'python -m training.covariate_heads')}`:",
             "", "| split | head: R² 18 outputs | cart + age, sex, BSA | ECG-only heads | 95 % interval coverage |",
             "|---|---|---|---|---|"]
    for split, part in section["splits"].items():
        groups = {name: scores["r2_groups"]["18 outputs"] for name, scores in part["scores"].items()}
        coverage = part["coverage"]["0.95"].values()
        lines.append(f"| {split} | {_interval(groups['covariate_head'])} | {_interval(groups['cart_age_sex_bsa'])} | "
                     f"{_interval(groups['ecg_only_heads'])} | {min(coverage):.3f}-{max(coverage):.3f} |")
    return lines


def _interval(group: dict) -> str:
    return f"{_fmt(group['r2'])} [{_fmt(group['ci'][0])}, {_fmt(group['ci'][1])}]"


def operating_points(predictor: dict) -> list[str]:
    """Each disease's call threshold with its validation sensitivity and specificity, and the screening cut."""
    names = predictor.get("diseases", [])
    if not predictor.get("disease_threshold"):
        return []
    names = [*names, "any_cm"]
    lines = ["", "## Disease operating points (simulated validation ECGs of the training sites)", "",
             "| output | call threshold | sensitivity [Wilson 95 % CI] | specificity [Wilson 95 % CI] | screening "
             "threshold (90 % sensitivity) |", "|---|---|---|---|---|"]
    for i, name in enumerate(names):
        lines.append(f"| {name} | {_fmt(predictor['disease_threshold'][i])} | "
                     f"{_with_ci(predictor, 'disease_sensitivity', i)} | "
                     f"{_with_ci(predictor, 'disease_specificity', i)} | "
                     f"{_fmt(predictor['disease_screening_threshold'][i])} |")
    return lines


def _with_ci(predictor: dict, key: str, index: int) -> str:
    value, intervals = predictor[key][index], predictor.get(f"{key}_ci") or []
    interval = intervals[index] if index < len(intervals) else None
    return _fmt(value, 2) + ("" if interval is None else f" [{_fmt(interval[0], 2)}, {_fmt(interval[1], 2)}]")


def threshold_method(meta: dict) -> str:
    """How the encoder's disease-call thresholds were set, in one sentence."""
    guarded = meta.get("real_thresholds")
    if not guarded:
        return "Disease calls use the threshold that maximised sensitivity + specificity on validation data."
    return (f"Disease calls use the threshold of {guarded['method']}: the encoder alone called a cardiomyopathy on "
            "about half of real healthy adults, and now calls far fewer, at a large cost in sensitivity (the "
            "repository's `docs/results.md`, call thresholds guarded on real healthy adults).")


def rhythm_branch(rhythm: dict | None) -> list[str]:
    """How the bundle calls atrial fibrillation, when it has the rhythm branch (`cardionets.models.rhythm`)."""
    if not rhythm:
        return []
    sensitivity, specificity = rhythm.get("sensitivity_ci") or (None, None), rhythm.get("specificity_ci") or (None,
                                                                                                            None)
    return ["", "## Atrial fibrillation: the rhythm branch", "",
            "The AF call (probability, threshold, sensitivity and specificity) comes from the rhythm branch, not the "
            "ECG encoder: a logistic model on the RR series' irregularity and the P wave, read from the tracing as "
            f"a cardiologist reads AF. Trained on {rhythm.get('trained_on') or 'simulated ECGs'}. Call threshold "
            f"{_fmt(rhythm['threshold'])} (set for 98 % specificity on a validation share): sensitivity "
            f"{_fmt(rhythm.get('sensitivity'), 2)} [{_fmt(sensitivity[0], 2)}, {_fmt(sensitivity[1], 2)}], "
            f"specificity {_fmt(rhythm.get('specificity'), 2)} [{_fmt(specificity[0], 2)}, {_fmt(specificity[1], 2)}]"
            " (Wilson 95 %). On real ECGs: the repository's `docs/real_ecg.md`. Fewer than three beats: no AF call."]


def ood_reference_lines(note: dict | None) -> list[str]:
    """Where the out-of-distribution warning's reference came from, when `training.real_ood` refitted it."""
    if not note:
        return []
    return [f"- The out-of-distribution warning compares each ECG with {note['fitted_on'].split(' (')[0]}: an ECG "
            "it does not flag is like those, not necessarily like the patients the phenotypes learnt from. Lost "
            "leads, noise, low sampling rates, children and paced rhythms are warned by the quality check and the "
            "age and pacing rules; at 100 Hz a pacemaker's spikes cannot be seen."]


def real_findings_lines(config: dict | None, section: dict | None) -> list[str]:
    """The calls learnt from real ECGs (`cardionets.models.real_findings`), with their held-out figures."""
    if not config:
        return []
    lines = ["", "## Findings learnt from real ECGs", "",
             f"Trained on {config.get('trained_on') or 'real ECGs'}: one logistic regression per finding on the ECG "
             "embedding and the covariates. The prior-infarction call comes from here, not from the simulated head. "
             "Sensitivity and specificity held out by patient-grouped cross-validation (Wilson 95 %):", "",
             "| finding | call threshold | sensitivity | specificity | held-out AUROC vs healthy |",
             "|---|---|---|---|---|"]
    held_out = (section or {}).get("held_out", {})
    for i, name in enumerate(config["findings"]):
        sensitivity, specificity = config["sensitivity_ci"][i], config["specificity_ci"][i]
        auroc = held_out.get(name, {}).get("auroc_vs_healthy", {}).get("auroc")
        lines.append(f"| {name} | {_fmt(config['threshold'][i])} | {_fmt(config['sensitivity'][i], 2)} "
                     f"[{_fmt(sensitivity[0], 2)}, {_fmt(sensitivity[1], 2)}] | {_fmt(config['specificity'][i], 2)} "
                     f"[{_fmt(specificity[0], 2)}, {_fmt(specificity[1], 2)}] | {_fmt(auroc)} |")
    return lines


def write_model_card(bundle: Path, results: dict) -> Path:
    path = Path(bundle) / MODEL_CARD_NAME
    manifest = Manifest.read(bundle)

    def config(component: str) -> dict | None:
        file = Path(bundle) / manifest.components.get(component, "-") / "config.json"
        return json.loads(file.read_text()) if component in manifest.components and file.is_file() else None

    path.write_text(model_card(results, manifest, config("predictor"), config("rhythm"), config("real_findings")))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.model_card")
    parser.add_argument("--bundle", type=Path, default=Path("weights"))
    parser.add_argument("--results", type=Path, required=True, help="the results.json of these weights")
    args = parser.parse_args(argv)
    print(f"wrote {write_model_card(args.bundle, json.loads(args.results.read_text()))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

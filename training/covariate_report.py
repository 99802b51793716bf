"""The markdown of results.json's ``covariate_heads`` section (`training.covariate_heads`), kept apart from the
computation so that `training.evaluate.write_results` can render it without importing the stage."""

from __future__ import annotations

HEADLINE = "18 outputs"
NAMES = {"covariate_head": "covariate head (shipped)", "ecg_only_heads": "ECG-only heads",
         "cart_age_sex_bsa": "cart + age, sex, BSA"}
COVERAGE_GOAL = {"0.95": (0.93, 0.97), "0.8": (0.77, 0.83)}


def _ci(value: float | None, ci: list[float] | None = None, digits: int = 3) -> str:
    if value is None:
        return "-"
    return f"{value:.{digits}f}" + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _pct(share: float) -> str:
    return f"{100 * share:.0f} %"


def covariate_heads_markdown(section: dict) -> str:
    training = section["training"]
    lines = ["# Results, continued: the covariate head (what every ECG file carries)", "",
             "On the virtual cohort (simulated subjects, not patients): research use, not for diagnosis.", "",
             f"Produced by `{section.get('command', 'python -m training.covariate_heads')}`. The shipped predictor's "
             "reported outputs come from a head that reads the ECG encoder's embedding together with age, sex, BSA "
             "and the cart's ten measurements taken on the model's view of the ECG (`cardionets.covariates`). It "
             f"trained on {training['subjects']} subjects (best inner-validation epoch {training['best_epoch']}), each "
             f"patient field hidden in {_pct(training['hide_patient_field'])} of examples so that files without them "
             f"are handled; {training['calibration_subjects']} held-back subjects set its temperatures, operating "
             "thresholds and the conformal prediction intervals. Every model is scored on the same test subjects, "
             "with 95 % bootstrap CIs; a group counts as beaten only when the CIs do not overlap.", ""]
    for split, part in section["splits"].items():
        scores = part["scores"]
        models = [name for name in NAMES if name in scores]
        lines += [f"## {split.replace('_', ' ').capitalize()} ({part['subjects']} subjects)", "",
                  "Mean R² by phenotype group (the headline: the 18 non-segmental outputs):", "",
                  "| group | " + " | ".join(NAMES[m] for m in models) + " | head vs baseline |",
                  "|---|" + "---|" * (len(models) + 1)]
        for group in scores[models[0]].get("r2_groups", {}):
            cells = [_ci(g["r2"], g["ci"]) if (g := scores[m]["r2_groups"].get(group)) else "-" for m in models]
            head, base = scores["covariate_head"]["r2_groups"][group], scores["cart_age_sex_bsa"]["r2_groups"][group]
            verdict = ("beaten, CIs apart" if head["ci"][0] > base["ci"][1] else
                       "higher, CIs overlap" if head["r2"] > base["r2"] else "NOT beaten")
            name = f"**{group}**" if group == HEADLINE else group
            lines.append(f"| {name} | " + " | ".join(cells) + f" | {verdict} |")
        missing = part.get("without_patient_fields", {}).get("r2_groups", {}).get(HEADLINE)
        if missing:
            lines += ["", f"Without any patient field (age, sex, height, weight all unknown) the head's 18-output "
                          f"R² is {_ci(missing['r2'], missing['ci'])}."]
        lines += ["", "Disease AUROC [95 % CI] (the app's AF call comes from the rhythm branch, not these heads):",
                  "", "| disease | " + " | ".join(NAMES[m] for m in models) + " |", "|---|" + "---|" * len(models)]
        for disease in section["diseases"]:
            cells = [_ci(d["auroc"], d["auroc_ci"]) if (d := scores[m]["diseases"].get(disease)) else "-"
                     for m in models]
            lines.append(f"| {disease} | " + " | ".join(cells) + " |")
        lines += ["", *_coverage_lines(part["coverage"]), "", *_call_lines(part["calls"]), ""]
    return "\n".join(lines)


def _coverage_lines(coverage: dict[str, dict[str, float]]) -> list[str]:
    lines = ["Conformal prediction intervals: share of test subjects whose true value lies inside, over all "
             f"{len(next(iter(coverage.values())))} phenotypes:", "",
             "| interval | lowest | highest | outside the goal |", "|---|---|---|---|"]
    for level, shares in sorted(coverage.items(), reverse=True):
        low, high = COVERAGE_GOAL.get(level, (0.0, 1.0))
        outside = [f"{name} {share:.3f}" for name, share in shares.items() if not low <= share <= high]
        lines.append(f"| {_pct(float(level))} (goal {_pct(low)}-{_pct(high)}) | {min(shares.values()):.3f} | "
                     f"{max(shares.values()):.3f} | {', '.join(outside) or 'none'} |")
    return lines


def _call_lines(calls: dict[str, dict]) -> list[str]:
    lines = ["Each call's sensitivity at the calibration threshold, as stated from the calibration split, against "
             "the one measured here. The threshold picked on those same subjects flatters them a little; the "
             "shipped calls' thresholds and stated figures are set afterwards (`training.real_thresholds`: raised "
             "to hold on real healthy adults, stated from fresh simulated subjects and checked on another fresh "
             "draw, below).", "", "| call | stated sensitivity | measured [Wilson 95 % CI] | stated inside? | stated "
             "specificity | measured [Wilson 95 % CI] |", "|---|---|---|---|---|---|"]
    for name, c in calls.items():
        lines.append(f"| {name} | {_ci(c['stated_sensitivity'])} | {_ci(c['sensitivity'], c['sensitivity_ci'])} | "
                     f"{'yes' if c['stated_inside_ci'] else 'NO'} | {_ci(c['stated_specificity'])} | "
                     f"{_ci(c['specificity'], c['specificity_ci'])} |")
    return lines

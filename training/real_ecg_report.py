"""results.md and real_ecg.md pages of the real-ECG benchmark, written from its ``real_ecg`` section alone (the
section `training.evaluate_real` computes), so any command that rewrites the results can render it again."""

from __future__ import annotations

from cardionets.presentation import DISEASE_LABELS
from cardionets.sim.reference_ranges import PETERSEN_2017

PHENOTYPES = ("lvedv_ml", "lvesv_ml", "lvef_pct", "lvm_g", "rvedv_ml", "wt_max_mm")
SEXES = {"M": "men", "F": "women"}
# The ages of the UK Biobank reference (Petersen 2017): the like-for-like comparison, since hearts shrink with age
# and the real sets' healthy adults are younger than UK Biobank's.
REFERENCE_AGES = ("45-74", (45, 75))


def tuning_note(section: dict) -> str:
    """What, if anything, was set on these records: the encoder's call thresholds may be (training.real_thresholds),
    so the calls' figures on healthy adults here are in-sample and the held-out ones are named."""
    ood_note = ("" if not section.get("ood_fitted_on") else " The out-of-distribution reference was fitted on "
                f"{section['ood_fitted_on']}: the shares it flags here are in-sample; the held-out ones are in "
                "docs/results.md (out-of-distribution reference on real and simulated ECGs).")
    findings = section.get("findings_trained_on")
    findings_note = ("" if not findings else " The findings learnt from real ECGs (prior infarction, LVH, bundle "
                     f"branch blocks) were trained on {findings}: their probabilities, AUROCs and calls here are "
                     "in-sample; the held-out ones are in docs/results.md (findings learnt from real ECGs).")
    if not section.get("thresholds_set_on"):
        return "Nothing else was tuned on these records." + findings_note + ood_note if findings or ood_note else (
            "Nothing was tuned on these records.")
    return ("The encoder's disease-call thresholds were set on these records' healthy adults (PTB-XL, CinC 2021: "
            f"{section['thresholds_set_on']}), so the calls' false-call rates and sensitivities here are in-sample; "
            "their patient-grouped cross-validated figures are in docs/results.md (call thresholds guarded on real "
            "healthy adults)." + findings_note + ood_note + " The phenotypes were not tuned on them.")


def real_ecg_markdown(section: dict) -> str:
    lines = ["# Real ECGs: the shipped models on recordings no part of this project produced", "",
             f"Command: `{section.get('command', 'python -m training evaluate-real')}`; bundle "
             f"`{section.get('bundle')}` (created {section.get('bundle_created')}); {section.get('seconds', 0):.0f} s. "
             f"{tuning_note(section)} A healthy adult is 18 or older with a normal ECG and none "
             "of the other labels (AF, MI, LVH, LBBB, RBBB, paced). 95 % CIs: Wilson for shares, DeLong for AUROC.",
             "", "Records: " + ", ".join(f"{name} {n} ({section['unreadable'][name]} unreadable)"
                                        for name, n in section["records"].items()) + ". "
             f"'All sets' leaves out the {section['rescaled']} records whose leads were rescaled to one span "
             "(the quality check's normalised_amplitudes: all of LUDB's release), since every model output reads "
             "amplitudes; their set's own rows show them.", ""]
    lines += ["## Healthy adults: disease calls", "",
              "| set | sex | n | any call | " + " | ".join(DISEASE_LABELS.get(d, d) for d in section["diseases"])
              + " |",
              "|---|---|---|---|" + "---|" * len(section["diseases"])]
    for row in section["healthy"]:
        lines.append(f"| {row['set']} | {row['sex']} | {row['n']} | {_pct(row['any_call'])} | "
                     + " | ".join(_pct(row["calls"].get(d)) for d in section["diseases"]) + " |")
    lines += ["", "## Healthy adults: out-of-distribution warnings and quality", "",
              "'Any warning' counts every warning that the ECG or patient is unlike the training data (age outside "
              "40-80 years included); 'embedding score > 1' only the learnt score.", "",
              "| set | sex | n | any warning | embedding score > 1 | QC rejected | QC warned | QC reasons |",
              "|---|---|---|---|---|---|---|---|"]
    for row in section["healthy"]:
        reasons = ", ".join(f"{code} {count}" for code, count in list(row["qc_reasons"].items())[:4])
        lines.append(f"| {row['set']} | {row['sex']} | {row['n']} | {_pct(row['ood_flag'])} | "
                     f"{_pct(row['ood_score_flag'])} | {_pct(row['qc_rejected'])} | {_pct(row['qc_warned'])} | "
                     f"{reasons} |")
    lines += ["", "## Real findings against healthy adults (AUROC)", "",
              "| set | task | score | positives | healthy | AUROC [95 % CI] |", "|---|---|---|---|---|---|"]
    for row in section["discrimination"]:
        auroc = "too few" if row["auroc"] is None else f"{row['auroc']:.3f} [{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]"
        lines.append(f"| {row['set']} | {row['task']} | {row['what']} | {row['n_positive']} | {row['n_healthy']} | "
                     f"{auroc} |")
    lines += ["", "## Calls at the shipped thresholds (and the rules that need no model)", "",
              "| set | call | finding | sensitivity | specificity (healthy adults) |", "|---|---|---|---|---|"]
    for row in section["calls"]:
        lines.append(f"| {row['set']} | {row['what']} | {row['label'].upper()} | {_pct(row['sensitivity'])} | "
                     f"{_pct(row['specificity'])} |")
    lines += ["", "## Predicted phenotypes of healthy adults (mean ± SD) against UK Biobank", "",
              "UK Biobank healthy adults aged 45-74 (Petersen et al. 2017): LVEDV "
              + ", ".join(f"{who} {PETERSEN_2017[sex]['lvedv_ml'].mean:g} ± {PETERSEN_2017[sex]['lvedv_ml'].sd:g} mL"
                          for sex, who in SEXES.items())
              + "; LVEF " + ", ".join(f"{who} {PETERSEN_2017[sex]['lvef_pct'].mean:g} %" for sex, who in SEXES.items())
              + ". Its tables by age band could not be read, so every band is set against the sex's mean; the "
              f"{REFERENCE_AGES[0]} row is the like-for-like one.", "",
              "| sex | age | n | " + " | ".join(PHENOTYPES) + " |", "|---|---|---|" + "---|" * len(PHENOTYPES)]
    for row in section["phenotypes"]:
        lines.append(f"| {row['sex']} | {row['age_band']} | {row['n']} | " + " | ".join(
            "" if row[name] is None else f"{row[name]['mean']:.1f} ± {row[name]['sd']:.1f}" for name in PHENOTYPES)
            + " |")
    if section.get("delineation"):
        lines += ["", delineation_markdown(section["delineation"])]
    return "\n".join(lines) + "\n"


def _pct(share: dict | None) -> str:
    if not share:
        return ""
    return f"{share['share']:.1%} [{share['ci'][0]:.1%}, {share['ci'][1]:.1%}] ({share['count']}/{share['n']})"


def delineation_markdown(section: dict) -> str:
    lines = ["## LUDB: our global intervals against the cardiologists' boundaries", "",
             f"{section['records']} records ({section['unmeasured']} could not be measured; {section['paced']} paced, "
             "left out of the figures below and shown apart). Reference: per beat, the median over the annotated "
             "leads of each onset and offset; per record, the median over its beats. Ours: the cart measurements "
             "on the median beat. Difference = ours - reference.", "",
             "| interval | records | mean difference (ms) | SD (ms) | IEC 60601-2-25 tolerance (mean / SD) | within "
             "| with paced records |", "|---|---|---|---|---|---|---|"]
    for name, row in section["intervals"].items():
        both = section["intervals_with_paced"][name]
        with_paced = ("" if both["sd_ms"] is None
                      else f"{both['mean_difference_ms']:+.1f} ± {both['sd_ms']:.1f} ({both['n']})")
        if row["sd_ms"] is None:
            lines.append(f"| {name} | {row['n']} | | | | | {with_paced} |")
            continue
        lines.append(f"| {name.removesuffix('_ms').upper()} | {row['n']} | {row['mean_difference_ms']:+.1f} | "
                     f"{row['sd_ms']:.1f} | ±{row['tolerance_mean_ms']:g} / {row['tolerance_sd_ms']:g} | "
                     f"{'yes' if row['within'] else 'no'} | {with_paced} |")
    lines += ["", "| wave (unpaced records) | annotated beats | detected | rate |", "|---|---|---|---|"]
    for wave, row in section["detection"].items():
        rate = "" if row["rate"] is None else f"{row['rate']:.1%}"
        lines.append(f"| {wave.upper()} | {row['annotated']} | {row['detected']} | {rate} |")
    lines += ["", "A P wave counts as detected when its QRS is detected and our median beat has a P wave (the "
              "measurements look for the P wave once per record).", "",
              "The T-end and P-wave thresholds were chosen on these same records (`python -m "
              "training.tune_delineation`), so the figures above are in-sample. The honest ones, for patients the "
              "choice was not made on, are that command's patient-grouped cross-validated figures in results.md."]
    return "\n".join(lines)




def real_ecg_summary(section: dict) -> str:
    """The headline rows for results.md: each beside the reference that needs no model; details in real_ecg.md."""
    def auroc(task: str, score: str) -> str:
        row = next((r for r in section["discrimination"] if r["set"] == "all sets" and r["task"] == task
                    and r["score"] == score), None)
        if row is None or row["auroc"] is None:
            return "n/a"
        interval = f"[{row['ci'][0]:.3f}, {row['ci'][1]:.3f}]"
        return f"{row['auroc']:.3f} {interval} ({row['n_positive']} vs {row['n_healthy']})"

    healthy = next(r for r in section["healthy"] if r["set"] == "all sets" and r["sex"] == "both")
    lvedv = {(r["sex"], r["age_band"]): r["lvedv_ml"] for r in section["phenotypes"] if r["lvedv_ml"]}
    lines = ["# Real ECGs (the shipped weights; every figure in real_ecg.md)", "",
             f"Command: `{section.get('command')}`. {tuning_note(section)}", "",
             "| on real development ECGs | model | reference without a model | cart measurements + age, sex "
             "(logistic, patient-grouped CV) |", "|---|---|---|---|",
             f"| healthy adults with any disease call | {_pct(healthy['any_call'])} | | |",
             "| healthy adults flagged unlike the reference ECGs (embedding score) | "
             f"{_pct(healthy['ood_score_flag'])} | | |",
             f"| AF vs healthy, AUROC | {auroc('AF vs healthy', 'p_af')} | rhythm rule: "
             f"{auroc('AF vs healthy', 'rhythm_af_score')} | {auroc('AF vs healthy', 'cart_cv_af')} |",
             f"| MI vs healthy, AUROC | {auroc('MI vs healthy', 'p_mi')} | | {auroc('MI vs healthy', 'cart_cv_mi')} |",
             f"| LVH vs healthy, AUROC (predicted LV mass) | {auroc('LVH vs healthy', 'lvm_g')} | Sokolow-Lyon: "
             f"{auroc('LVH vs healthy', 'sokolow_lyon_mv')} | {auroc('LVH vs healthy', 'cart_cv_lvh')} |"]
    for sex, who in SEXES.items():
        for band, ages in (("all ages", "all ages"), (REFERENCE_AGES[0], f"aged {REFERENCE_AGES[0]}, as UK Biobank")):
            if (sex, band) in lvedv:
                reference = PETERSEN_2017[sex]["lvedv_ml"].mean
                predicted = lvedv[(sex, band)]["mean"]
                lines.append(f"| healthy {who} ({ages}): mean predicted LVEDV | {predicted:.0f} mL "
                             f"({predicted / reference - 1:+.0%}) | UK Biobank {reference:g} mL | |")
    lines += ["", "The cart baseline reads the same ten measurements the printout shows; PTB-XL's LVH labels were "
              "largely read from those voltages, so it is favoured there."]
    return "\n".join(lines) + "\n"


def delineation_cv_markdown(section: dict) -> str:
    """The delineation thresholds chosen on LUDB by patient-grouped cross-validation (`training.tune_delineation`),
    with the held-out figures that say how the choice does on patients it was not chosen on."""
    grid = "; ".join(f"{name} {', '.join(map(str, values))}" for name, values in section["grid"].items())
    chosen = ", ".join(f"{name} {value}" for name, value in section["chosen_on_all"].items())
    shipped = ", ".join(f"{name} {value}" for name, value in section["shipped"].items())
    lines = ["## Delineation thresholds chosen on LUDB by patient-grouped cross-validation", "",
             f"Command: `{section['command']}`. {section['records']} unpaced LUDB records, {section['folds']} folds "
             f"grouped by patient; grid: {grid}. In each fold the setting with the best IEC score on the other "
             "folds is applied to the held-out patients; the pooled held-out differences are the honest figures. "
             f"Chosen on all records: {chosen}; shipped: {shipped}.", "",
             "| interval | held-out mean difference (ms) | held-out SD (ms) | IEC tolerance | in-sample, shipped |",
             "|---|---|---|---|---|"]
    tolerances = {"pr_ms": "±10 / 10", "qrs_ms": "±10 / 10", "qt_ms": "±25 / 30"}
    for name, row in section["cross_validated"].items():
        shipped = section["shipped_in_sample"][name]
        lines.append(f"| {name.removesuffix('_ms').upper()} | {row['mean_difference_ms']:+.1f} | {row['sd_ms']:.1f} | "
                     f"{tolerances[name]} | {shipped['mean_difference_ms']:+.1f} ± {shipped['sd_ms']:.1f} |")
    return "\n".join(lines) + "\n"


def real_thresholds_markdown(section: dict) -> str:
    cv, before = section["real_after_cross_validated"], section["real_before"]
    lines = ["## Call thresholds guarded on real healthy adults", "",
             f"Command: `python -m training.real_thresholds`. Each encoder call's threshold (Youden's J on simulated "
             "validation data) raised where needed so that it calls at most "
             f"{100 * section['max_false_call']:g} % of the "
             f"real healthy adults of {', '.join(section['real_sets'])} ({section['healthy']} of {section['records']} "
             f"records); {', '.join(section['untouched']) or 'none'} left to their own models (AF: the rhythm branch; "
             "the others: the findings learnt from real ECGs), whose calls still count among 'any call'. Real figures "
             f"after the change are held out: {section['folds']}-fold cross-validation grouped by patient, each fold's "
             "thresholds set on the other folds' healthy adults. Simulated figures: "
             f"{section['simulated_validation']['subjects']} fresh simulated adults (seed "
             f"{section['simulated_validation']['seed']}); these sensitivities and specificities are the ones the app "
             "states next to each call.", "",
             "| on real development ECGs | before | after (held out) |", "|---|---|---|",
             f"| healthy adults with any call | {_pct(before['healthy_any_call'])} | "
             f"{_pct(cv['healthy_any_call'])} |"]
    for name in before["healthy_false_calls"]:
        lines.append(f"| healthy adults called {name} | {_pct(before['healthy_false_calls'][name])} | "
                     f"{_pct(cv['healthy_false_calls'][name])} |")
    for key in before:
        if key.endswith("_call") and "sensitivity" in key:
            lines.append(f"| {key.replace('_', ' ')} | {_pct(before[key])} | {_pct(cv[key])} |")
    lines += ["", "| call | threshold before -> after | simulated sensitivity before -> after | simulated specificity "
              "before -> after |", "|---|---|---|---|"]
    simulated = section["simulated_validation"]
    for name, after in simulated["after"].items():
        old = simulated["before"][name]
        lines.append(f"| {name} | {old['threshold']:.3f} -> {after['threshold']:.3f} | "
                     f"{_pct(old['sensitivity'])} -> {_pct(after['sensitivity'])} | "
                     f"{_pct(old['specificity'])} -> {_pct(after['specificity'])} |")
    replication = section.get("replication")
    if replication:
        lines += ["", f"Do the stated figures replicate? The same calls on another {replication['subjects']} fresh "
                  f"simulated adults (seed {replication['seed']}):", "",
                  "| call | stated sensitivity | measured again | inside? | stated specificity | measured again | "
                  "inside? |", "|---|---|---|---|---|---|---|"]
        for name, again in replication["figures"].items():
            stated, inside = simulated["after"][name], replication["stated_inside_ci"][name]
            lines.append(f"| {name} | {stated['sensitivity']['share']:.3f} | {_pct(again['sensitivity'])} | "
                         f"{'yes' if inside['sensitivity'] else 'NO'} | {stated['specificity']['share']:.3f} | "
                         f"{_pct(again['specificity'])} | {'yes' if inside['specificity'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def real_findings_markdown(section: dict) -> str:
    """The ``real_findings`` section (`training.real_findings`): each finding's patient-grouped held-out figures."""
    lines = ["## Findings learnt from real ECGs (held out by patient)", "",
             f"Command: `{section.get('command', 'python -m training.real_findings')}`. One logistic regression per "
             f"finding (L2, C = {section['l2_c']}, fixed beforehand) on the ECG encoder's embedding, age, sex, BSA "
             f"and the cart's measurements, trained on {section['trained_on']}; the threshold calls at most "
             f"{100 * section['max_false_call']:g} % of the real healthy adults. Every figure below is held out: "
             f"{section['folds']}-fold cross-validation grouped by patient, each fold's model and threshold fitted on "
             "the other folds. The app states the held-out sensitivity and specificity (against every record "
             "without the finding) next to each call; the prior-infarction call comes from here, not from the "
             "simulated head, and evaluate-real's figures for these findings are in-sample.", "",
             "| finding | positives | AUROC vs healthy [95 % CI] | AUROC vs all without it | sensitivity | "
             "healthy adults called | specificity (all without it) |", "|---|---|---|---|---|---|---|"]
    for name, row in section["held_out"].items():
        healthy, everyone = row["auroc_vs_healthy"], row["auroc_vs_all_without"]
        lines.append(f"| {DISEASE_LABELS.get(name, name)} | {row['positives']} | {healthy['auroc']:.3f} "
                     f"[{healthy['ci'][0]:.3f}, {healthy['ci'][1]:.3f}] | {everyone['auroc']:.3f} "
                     f"[{everyone['ci'][0]:.3f}, {everyone['ci'][1]:.3f}] | {_pct(row['sensitivity'])} | "
                     f"{_pct(row['healthy_false_calls'])} | {_pct(row['specificity_all_without'])} |")
    return "\n".join(lines) + "\n"


def real_ood_markdown(section: dict) -> str:
    """The ``real_ood`` section (`training.real_ood`): the out-of-distribution reference fitted on real and
    simulated ECGs, its held-out flags and the warnings it must not silence."""
    lines = ["## Out-of-distribution reference on real and simulated ECGs", "",
             f"Command: `{section.get('command', 'python -m training.real_ood')}` ({section['seconds']:.0f} s). "
             f"The embedding reference is fitted on {section['simulated']} simulated adults of the training sites "
             f"and the {section['real_healthy']} real healthy adults of {', '.join(section['sets'])}; its threshold "
             "is the 99th percentile of a held-out fifth of each. Shares flagged by the embedding score; the new "
             f"reference's are held out ({section['folds']}-fold CV grouped by patient; AF, MI and LVH records are "
             "never in a reference).", "",
             "| reference | " + " | ".join(next(iter(section["flagged"].values()))) + " |",
             "|---|" + "---|" * len(next(iter(section["flagged"].values())))]
    for reference, shares in section["flagged"].items():
        lines.append(f"| {reference} | " + " | ".join(_pct(share) for share in shares.values()) + " |")
    lines += ["", "What must still be warned (by the embedding score, the quality check or the age and pacing rules): "
              "share of records with any warning, and in brackets flagged by the embedding score alone.", "",
              "| case | " + " | ".join(section["warnings"]) + " |", "|---|" + "---|" * len(section["warnings"])]
    for case in next(iter(section["warnings"].values())):
        cells = []
        for by_reference in section["warnings"].values():
            shares = by_reference.get(case)
            cells.append("" if shares is None else f"{_pct(shares['any warning'])} (score: "
                         f"{shares['embedding score']['share']:.0%})")
        lines.append(f"| {case} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"

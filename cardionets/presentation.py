"""A result in words a clinician reads: labels and tables, shared by the app's
pages and the PDF report so both say the same thing the same way.

Tables are lists of rows, the first the header, as plain strings and numbers (the app turns them into data
frames, the report into drawn tables).
"""

from __future__ import annotations

import re

from .prediction import Prediction

MEASUREMENT_LABELS = {
    "hr_bpm": ("Heart rate", "bpm"), "rr_ms": ("RR interval", "ms"), "pr_ms": ("PR interval", "ms"),
    "qrs_ms": ("QRS duration", "ms"), "qt_ms": ("QT interval", "ms"), "qtc_bazett_ms": ("QTc (Bazett)", "ms"),
    "qtc_fridericia_ms": ("QTc (Fridericia)", "ms"), "p_axis_deg": ("P axis", "°"),
    "qrs_axis_deg": ("QRS axis", "°"), "t_axis_deg": ("T axis", "°"),
    "sokolow_lyon_mv": ("Sokolow-Lyon voltage", "mV"), "cornell_mv": ("Cornell voltage", "mV"),
    "qtc_ms": ("QTc (cart's own formula)", "ms"),
}
PHENOTYPE_LABELS = {
    "lvedv_ml": "LV end-diastolic volume", "lvesv_ml": "LV end-systolic volume", "lvsv_ml": "LV stroke volume",
    "lvef_pct": "LV ejection fraction", "lvco_l_min": "LV cardiac output", "lvm_g": "LV mass",
    "rvedv_ml": "RV end-diastolic volume", "rvesv_ml": "RV end-systolic volume", "rvsv_ml": "RV stroke volume",
    "rvef_pct": "RV ejection fraction", "lav_max_ml": "LA maximum volume", "lav_min_ml": "LA minimum volume",
    "lasv_ml": "LA stroke volume", "laef_pct": "LA emptying fraction", "rav_max_ml": "RA maximum volume",
    "rav_min_ml": "RA minimum volume", "rasv_ml": "RA stroke volume", "raef_pct": "RA emptying fraction",
    "wt_global_mm": "LV wall thickness, global", "ecc_global_pct": "Circumferential strain, global",
    "wt_max_mm": "LV maximum wall thickness (thickest segment)", "lvm_g_m2": "LV mass index (per m² BSA)",
}
SEGMENTAL = re.compile(r"^(wt|ecc)_aha(\d+)_")
DISEASE_LABELS = {
    "hcm": "Hypertrophic cardiomyopathy", "dcm": "Dilated cardiomyopathy",
    "rcm": "Restrictive cardiomyopathy", "ph": "Pulmonary hypertension", "mi": "Prior myocardial infarction",
    "af": "Atrial fibrillation", "any_cm": "Any cardiomyopathy",
    # learnt from real ECGs (cardionets.models.real_findings)
    "lvh": "Left ventricular hypertrophy", "lbbb": "Left bundle branch block", "rbbb": "Right bundle branch block",
}
FLAG_MARKS = {"low": "▼ low", "high": "▲ high", "normal": "normal", "uncertain": "interval spans a limit", None: ""}
UNFLAGGED = ("", "normal", FLAG_MARKS["uncertain"])  # shown without a highlight
WITHHELD = "withheld"  # a call or flag not made because the outputs do not apply to this patient


def subtypes_apply(result: Prediction) -> bool:
    """The subtype distribution answers "if this is a cardiomyopathy, which kind": shown only under a positive
    any-cardiomyopathy call."""
    return bool(result.subtypes) and "any_cm" in result.positive_calls


def recording_description(record) -> str:
    """What the shown tracing is, and everything reading it changed: format, rate (and the recorded rate when
    it was resampled), leads computed from others, leads missing, and the reader's own notes."""
    meta = record.meta
    recorded = f"recorded {meta.acquired} · " if meta.acquired else ""
    parts = [meta.source_format, f"{record.fs_hz:g} Hz", f"{record.duration_s:g} s"]
    if meta.original_fs_hz != record.fs_hz:
        parts[1] = f"{record.fs_hz:g} Hz, resampled from the recorded {meta.original_fs_hz:g} Hz"
    if meta.derived_leads:
        parts.append(f"{', '.join(meta.derived_leads)} computed from the other limb leads, not recorded")
    if meta.missing_leads:
        parts.append(f"{', '.join(meta.missing_leads)} not recorded (drawn flat)")
    parts += list(meta.notes)
    changed = len(parts) > 3 or meta.original_fs_hz != record.fs_hz
    return recorded + " · ".join(parts) + ("" if changed else " · as recorded, no conversions")


def phenotype_label(name: str) -> str:
    segmental = SEGMENTAL.match(name)
    if segmental:
        kind = "LV wall thickness" if segmental.group(1) == "wt" else "Circumferential strain"
        return f"{kind}, AHA segment {int(segmental.group(2))}"
    return PHENOTYPE_LABELS.get(name, name)


def is_segmental(name: str) -> bool:
    return SEGMENTAL.match(name) is not None


def measurement_rows(result: Prediction) -> list[list]:
    rows = [["Measurement", "CardioNets", "ECG cart", "Unit"]]
    ours = result.measurements or {}
    for key, (label, unit) in MEASUREMENT_LABELS.items():
        if key in ours or key in result.device_measurements:
            rows.append([label, _number(ours.get(key)), _number(result.device_measurements.get(key)), unit])
    return rows


def phenotype_rows(result: Prediction, limit: int | None = None, segmental: bool = False) -> list[list]:
    """Chamber phenotypes (and the 16 AHA segments' when ``segmental``), with the 95 % prediction interval, range
    and flag (made on the interval: `PhenotypeResult.flag`)."""
    rows = [["Phenotype", "Value", "95 % interval", "Unit", "Reference range", "Flag"]]
    for name, p in result.phenotypes.items():
        if is_segmental(name) and not segmental:
            continue
        reference = "" if p.ref_low is None else f"{_number(p.ref_low, 0)} – {_number(p.ref_high, 0)}"
        interval = "" if p.interval_95 is None else f"{_number(p.interval_95[0], 1)} – {_number(p.interval_95[1], 1)}"
        flag = WITHHELD if result.ood.withheld and reference else FLAG_MARKS[p.flag]
        rows.append([phenotype_label(name), _number(p.value, 1), interval, p.unit, reference, flag])
    return rows if limit is None else rows[:limit + 1]


def disease_rows(result: Prediction) -> list[list]:
    rows = [["Condition", "Probability", "Call threshold", "Call", "Validation sensitivity / specificity (95 % CI)"]]
    for name, d in result.diseases.items():
        accuracy = "" if d.sensitivity is None else (f"{_share(d.sensitivity, d.sensitivity_ci)} / "
                                                     f"{_share(d.specificity, d.specificity_ci)}")
        call = WITHHELD if d.positive is None else "POSITIVE" if d.positive else "negative"
        rows.append([DISEASE_LABELS.get(name, name), f"{d.probability:.1%}", f"{d.threshold:.1%}", call, accuracy])
    return rows


def subtype_rows(result: Prediction) -> list[list]:
    return [["Cardiomyopathy subtype", "Share"],
            *([DISEASE_LABELS.get(name, name), f"{p:.0%}"] for name, p in result.subtypes.items())]


def _share(value: float, interval: list[float] | None) -> str:
    return f"{value:.0%}" + ("" if interval is None else f" ({interval[0]:.0%}–{interval[1]:.0%})")


def _number(value, decimals: int = 2) -> str:
    """A value as a clinician reads it: at most ``decimals`` places, no trailing zeros, blank when missing."""
    if value is None:
        return ""
    if not isinstance(value, float):
        return str(value)
    text = f"{value:.{decimals}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text

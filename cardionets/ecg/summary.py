"""One ECG's facts as a plain dict: what the CLI prints and what the app shows beside the plot."""

from __future__ import annotations

from .measure import MeasurementError, measure_with_beat
from .quality import check_quality
from .record import ECG, MEASUREMENT_KEYS
from .rhythm import rhythm_of


def summarize(ecg: ECG, with_measurements: bool = True) -> dict:
    """Format, leads, rate, quality verdict, our measurements (unless not wanted: screening does not report
    them) and the cart's own, JSON-ready."""
    quality = check_quality(ecg)
    measurements = rhythm = None
    if with_measurements and (quality.verdict != "reject" or _measurable(quality)):
        try:
            measured = measure_with_beat(ecg)
        except ValueError:
            measured = None  # quality already explains why; no beats to measure
        if measured is not None:
            measurements = measured.measurements.to_dict()
            try:
                rhythm = rhythm_of(measured).to_dict()
            except MeasurementError:
                rhythm = None  # two beats: measurable, but no rhythm to read
    return {
        "format": ecg.meta.source_format,
        "leads": list(ecg.leads),
        "missing_leads": list(ecg.meta.missing_leads),
        "derived_leads": list(ecg.meta.derived_leads),
        "fs_hz": ecg.fs_hz,
        "original_fs_hz": ecg.meta.original_fs_hz,
        "n_samples": ecg.n_samples,
        "duration_s": round(ecg.duration_s, 3),
        "patient": {
            "age_years": ecg.meta.age_years,
            "sex": ecg.meta.sex,
            "height_cm": ecg.meta.height_cm,
            "weight_kg": ecg.meta.weight_kg,
        },
        "qc": quality.to_dict(),
        "measurements": measurements,
        "rhythm": rhythm,  # `cardionets.ecg.rhythm`: RR irregularity and P waves, the rule-based read
        "device_measurements": {
            key: value for key, value in ecg.meta.device_measurements.items() if key in (*MEASUREMENT_KEYS, "qtc_ms")
        },
        "interpretation": list(ecg.meta.interpretation),
        "acquired": ecg.meta.acquired,
        "notes": list(ecg.meta.notes),
    }


def _measurable(quality) -> bool:
    """Rejected only for reasons that leave the beats intact (e.g. a missing chest lead): still measure."""
    rejections = [finding.code for finding in quality.findings if finding.severity == "reject"]
    return all(code in {"missing_leads", "too_short", "flat_lead"} for code in rejections)

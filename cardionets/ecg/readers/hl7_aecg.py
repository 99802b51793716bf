"""HL7 annotated ECG (aECG; root ``<AnnotatedECG>``, namespace ``urn:hl7-org:v3``, HL7 V3 PORT_MT020001).

Layout, as in the HL7 aECG implementation guide and real exports (a Philips-converted example ships with
sierra-ecg-tools):

* Each ``<component><series>`` is one series; ``<code code="RHYTHM">`` marks the rhythm strip. Median beats
  sit under ``<series><derivation><derivedSeries>`` (or in a top-level series coded ``REPRESENTATIVE_BEAT``) and
  are skipped.
* ``<series><component><sequenceSet>`` holds ``<component><sequence>`` elements: one time sequence
  (``TIME_ABSOLUTE`` or ``TIME_RELATIVE``) whose ``<increment value="0.002" unit="s"/>`` gives the sampling
  interval, and one per lead (code ``MDC_ECG_LEAD_*`` in code system 2.16.840.1.113883.6.24) whose ``SLIST_PQ``
  value has ``<origin>``, ``<scale>`` and space-separated integer ``<digits>``: physical value =
  origin + scale x digit, in the units written on origin and scale.
* Demographics: ``subjectDemographicPerson`` (under componentOf/timepointEvent/.../trialSubject) with
  ``administrativeGenderCode`` (M/F) and ``birthTime``; a stated age is a top-level
  ``controlVariable/relatedObservation`` coded LOINC 21612-7 with a PQ value (unit ``a`` = years).
* Measurements and statements are annotations in ``<series><subjectOf><annotationSet>``: ``MDC_ECG_HEART_RATE``,
  ``MDC_ECG_TIME_PD_RR/PR/QRS/QT``, ``MDC_ECG_TIME_PD_QTc`` (formula not stated), ``..._QTcB``, ``..._QTcF``,
  ``MDC_ECG_ANGLE_P/QRS/T_FRONT``; statements are ``MDC_ECG_INTERPRETATION_STATEMENT`` values, usually nested in
  an ``MDC_ECG_INTERPRETATION`` annotation. Annotations restricted to one lead (a supporting ROI) are skipped.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import date

import numpy as np

from ..errors import CorruptFileError
from .base import RawECG, acquisition_time, units_scale_to_mv
from .bounds import numbers_in_text
from .xml import parse_xml, to_float

_FORMAT = "HL7 aECG"
_REPORTED_AGE_LOINC = "21612-7"
# Upper-cased codes; a "_GL" (global) suffix is dropped before lookup.
_MEASUREMENT_CODES = {
    "MDC_ECG_HEART_RATE": "hr_bpm",
    "MDC_ECG_TIME_PD_RR": "rr_ms",
    "MDC_ECG_TIME_PD_PR": "pr_ms",
    "MDC_ECG_TIME_PD_QRS": "qrs_ms",
    "MDC_ECG_TIME_PD_QT": "qt_ms",
    "MDC_ECG_TIME_PD_QTC": "qtc_ms",
    "MDC_ECG_TIME_PD_QTCB": "qtc_bazett_ms",
    "MDC_ECG_TIME_PD_QTCF": "qtc_fridericia_ms",
    "MDC_ECG_ANGLE_P_FRONT": "p_axis_deg",
    "MDC_ECG_ANGLE_QRS_FRONT": "qrs_axis_deg",
    "MDC_ECG_ANGLE_T_FRONT": "t_axis_deg",
}
_STATEMENT_CODES = ("MDC_ECG_INTERPRETATION_STATEMENT", "MDC_ECG_INTERPRETATION_SUMMARY")
_SECONDS = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_AGE_UNITS_IN_YEARS = {"a": 1.0, "mo": 1 / 12, "wk": 7 / 365.25, "d": 1 / 365.25}
_SUBJECT = "componentOf/timepointEvent/componentOf/subjectAssignment/subject/trialSubject/subjectDemographicPerson"


def read(data: bytes) -> RawECG:
    root = parse_xml(data, _FORMAT)
    series = _rhythm_series(root)
    sequences = series.findall("component/sequenceSet/component/sequence")
    fs_hz = None
    signals = {}
    for sequence in sequences:
        code = _code(sequence)
        if code.upper().startswith("TIME_"):
            fs_hz = fs_hz or _sampling_rate(sequence.find("value/increment"))
        elif "_ECG_LEAD_" in code.upper():
            signals[code] = _lead_microvolts(sequence.find("value"), code)
    if not signals:
        raise CorruptFileError("The rhythm series of this HL7 aECG file holds no lead sequences.")
    if not fs_hz:
        raise CorruptFileError("This HL7 aECG file has no time sequence with an increment, so no sampling rate.")
    person = root.find(_SUBJECT)
    annotations = [a for s in (series, *series.findall("derivation/derivedSeries")) for a in _annotations(s)]
    return RawECG(
        named_signals=signals,
        fs_hz=fs_hz,
        units="uV",
        source_format="hl7_aecg",
        age_years=_reported_age(root) or _age_from_birth(person, root),
        sex={"M": "M", "F": "F"}.get(_attribute(person, "administrativeGenderCode", "code").upper()),
        device_measurements=_device_measurements(annotations),
        interpretation=[text for a in annotations if _code(a) in _STATEMENT_CODES and (text := _value_text(a))],
        # HL7 TS: YYYYMMDDHHMMSS, then optional fractions and a time zone
        acquired=acquisition_time(_attribute(root, "effectiveTime/low", "value")[:14], "%Y%m%d%H%M%S",
                                  "%Y%m%d%H%M", "%Y%m%d"),
    )


def _rhythm_series(root: ET.Element) -> ET.Element:
    candidates = [s for s in root.findall("component/series") if _code(s).upper() != "REPRESENTATIVE_BEAT"]
    if not candidates:
        raise CorruptFileError("This HL7 aECG file holds no rhythm series.")
    return next((s for s in candidates if _code(s).upper() == "RHYTHM"), candidates[0])


def _sampling_rate(increment: ET.Element | None) -> float | None:
    step = to_float(increment.get("value")) if increment is not None else None
    unit = increment.get("unit", "s") if increment is not None else "s"
    if not step or step <= 0 or unit not in _SECONDS:
        return None
    return round(1.0 / (step * _SECONDS[unit]), 6)


def _lead_microvolts(value: ET.Element | None, code: str) -> np.ndarray:
    digits = value.find("digits") if value is not None else None
    scale = value.find("scale") if value is not None else None
    if digits is None or scale is None or not scale.get("unit"):
        raise CorruptFileError(f"Lead {code} has no digits or no scale with a unit; the file is incomplete.")
    counts = numbers_in_text(digits.text or "", np.float64, f"Lead {code}'s digits")
    origin = value.find("origin")
    origin_value = to_float(origin.get("value")) if origin is not None else None
    origin_uv = 0.0
    if origin_value:
        origin_uv = origin_value * _microvolts_per_unit(origin.get("unit") or scale.get("unit"))
    return origin_uv + counts * (to_float(scale.get("value")) or 1.0) * _microvolts_per_unit(scale.get("unit"))


def _microvolts_per_unit(unit: str) -> float:
    return units_scale_to_mv(unit) * 1000.0


def _annotations(series: ET.Element) -> list[ET.Element]:
    """The series' annotations in document order, without per-beat groups or annotations of a single lead."""
    found: list[ET.Element] = []

    def visit(annotation: ET.Element) -> None:
        if _code(annotation) == "MDC_ECG_BEAT" or annotation.find("support/supportingROI") is not None:
            return
        found.append(annotation)
        for nested in annotation.findall("component/annotation"):
            visit(nested)

    for annotation in series.findall("subjectOf/annotationSet/component/annotation"):
        visit(annotation)
    return found


def _device_measurements(annotations: list[ET.Element]) -> dict[str, float]:
    out: dict[str, float] = {}
    for annotation in annotations:
        key = _MEASUREMENT_CODES.get(_code(annotation).upper().removesuffix("_GL"))
        value = annotation.find("value")
        number = to_float(value.get("value")) if value is not None else None
        if key is None or number is None or key in out:
            continue
        if key.endswith("_ms"):
            number *= _SECONDS.get(value.get("unit", "ms"), 1e-3) * 1000.0
        out[key] = number
    return out


def _reported_age(root: ET.Element) -> float | None:
    for observation in root.findall("controlVariable/relatedObservation"):
        value = observation.find("value")
        if _code(observation) == _REPORTED_AGE_LOINC and value is not None:
            age = to_float(value.get("value"))
            factor = _AGE_UNITS_IN_YEARS.get(value.get("unit", "a"))
            if age is not None and factor:
                return age * factor
    return None


def _age_from_birth(person: ET.Element | None, root: ET.Element) -> float | None:
    born = _hl7_date(_attribute(person, "birthTime", "value"))
    recorded = _hl7_date(_attribute(root, "effectiveTime/low", "value"))
    if born is None or recorded is None or recorded < born:
        return None
    return float(recorded.year - born.year - ((recorded.month, recorded.day) < (born.month, born.day)))


def _hl7_date(timestamp: str) -> date | None:
    """The date part of an HL7 TS ("19760101", "20081223194446.000")."""
    try:
        return date(int(timestamp[0:4]), int(timestamp[4:6]), int(timestamp[6:8]))
    except ValueError:
        return None


def _code(element: ET.Element) -> str:
    return _attribute(element, "code", "code")


def _attribute(element: ET.Element | None, path: str, name: str) -> str:
    found = element.find(path) if element is not None else None
    return (found.get(name) or "").strip() if found is not None else ""


def _value_text(annotation: ET.Element) -> str | None:
    value = annotation.find("value")
    text = " ".join((value.text or "").split()) if value is not None else ""
    return text or None

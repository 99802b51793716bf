"""GE MUSE resting ECG XML (root ``<RestingECG>``, described by MUSE's ``restecg.dtd``).

Layout and quirks:

* Exports usually begin with ``<!DOCTYPE RestingECG SYSTEM "restecg.dtd">`` and are encoded ISO-8859-1 or
  UTF-16; both parse as declared.
* Each ``<Waveform>`` has a ``<WaveformType>`` (``Median`` or ``Rhythm``), ``<SampleBase>`` and
  ``<SampleExponent>`` (rate = base x 10^exponent Hz) and one ``<LeadData>`` per stored lead: ``<LeadID>``,
  ``<LeadAmplitudeUnitsPerBit>`` (typically 4.88), ``<LeadAmplitudeUnits>`` (``MICROVOLTS``),
  ``<LeadSampleSize>`` (bytes per sample, 2), ``<LeadSampleCountTotal>`` and ``<WaveFormData>``, the Base64 of
  little-endian signed samples. The rhythm waveform is read; the median beat is not.
* MUSE stores 8 leads (I, II, V1-V6); III, aVR, aVL and aVF are derived when the ECG is canonicalised.
* ``<PatientDemographics>``: ``PatientAge`` with ``AgeUnits``, ``Gender`` (``MALE``/``FEMALE``), ``HeightCM``
  or ``HeightIN``, ``WeightKG`` or ``WeightLBS``.
* ``<RestingECGMeasurements>`` (``<OriginalRestingECGMeasurements>`` holds the cart's values before editing):
  ``VentricularRate``, ``PRInterval``, ``QRSDuration``, ``QTInterval``, ``QTCorrected`` (formula not stated),
  ``QTcFrederica``, ``PAxis``, ``RAxis`` (the QRS axis), ``TAxis``. The global RR interval, when present, is in
  ``<QRSTimesTypes><GlobalRR>``.
* ``<Diagnosis>`` (current, possibly over-read) and ``<OriginalDiagnosis>`` hold ``<DiagnosisStatement>``s whose
  ``<StmtText>`` fragments run on until one flagged ``<StmtFlag>ENDSLINE</StmtFlag>`` closes the line.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import CorruptFileError
from .base import RawECG, acquisition_time, units_scale_to_mv
from .xml import child_text, parse_xml, to_float

_FORMAT = "GE MUSE XML"

_MEASUREMENT_ELEMENTS = {
    "hr_bpm": "VentricularRate",
    "rr_ms": "RRInterval",
    "pr_ms": "PRInterval",
    "qrs_ms": "QRSDuration",
    "qt_ms": "QTInterval",
    "qtc_ms": "QTCorrected",
    "qtc_fridericia_ms": "QTcFrederica",
    "p_axis_deg": "PAxis",
    "qrs_axis_deg": "RAxis",
    "t_axis_deg": "TAxis",
}
_AGE_UNITS_IN_YEARS = {"YEARS": 1.0, "MONTHS": 1 / 12, "WEEKS": 7 / 365.25, "DAYS": 1 / 365.25, "HOURS": 1 / 8766}
_SAMPLE_DTYPES = {1: "<i1", 2: "<i2", 4: "<i4"}


def read(data: bytes) -> RawECG:
    root = parse_xml(data, _FORMAT)
    rhythm = next(
        (w for w in root.findall("Waveform") if (child_text(w, "WaveformType") or "").lower() == "rhythm"), None
    )
    if rhythm is None:
        raise CorruptFileError("This GE MUSE file holds no rhythm waveform (at most a median beat).")
    sample_base = to_float(child_text(rhythm, "SampleBase"))
    if not sample_base:
        raise CorruptFileError("This GE MUSE file does not state its sampling rate (<SampleBase>).")
    signals = {}
    for lead in rhythm.findall("LeadData"):
        name = child_text(lead, "LeadID")
        if name is None:
            raise CorruptFileError("This GE MUSE file has a lead without a name (<LeadID>).")
        signals[name] = _lead_microvolts(lead, name)
    if not signals:
        raise CorruptFileError("The rhythm waveform of this GE MUSE file holds no leads.")
    if len({values.size for values in signals.values()}) > 1:
        lengths = ", ".join(f"{name} {values.size}" for name, values in signals.items())
        raise CorruptFileError(f"The leads of this GE MUSE file differ in length ({lengths} samples); it is damaged.")
    demographics = root.find("PatientDemographics")
    return RawECG(
        named_signals=signals,
        fs_hz=sample_base * 10 ** (to_float(child_text(rhythm, "SampleExponent")) or 0),
        units="uV",
        source_format="ge_muse_xml",
        age_years=_age_years(demographics),
        sex={"MALE": "M", "FEMALE": "F"}.get((child_text(demographics, "Gender") or "").upper()),
        height_cm=_converted(demographics, {"HeightCM": 1.0, "HeightIN": 2.54}),
        weight_kg=_converted(demographics, {"WeightKG": 1.0, "WeightLBS": 0.45359237}),
        device_measurements=_device_measurements(root),
        interpretation=_statement_lines(root.find("Diagnosis")) or _statement_lines(root.find("OriginalDiagnosis")),
        acquired=acquisition_time(" ".join(filter(None, (child_text(root, "TestDemographics/AcquisitionDate"),
                                                         child_text(root, "TestDemographics/AcquisitionTime")))),
                                  "%m-%d-%Y %H:%M:%S", "%m-%d-%Y %H:%M", "%m-%d-%Y"),
    )


def _lead_microvolts(lead: ET.Element, name: str) -> np.ndarray:
    try:
        payload = base64.b64decode("".join((child_text(lead, "WaveFormData") or "").split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise CorruptFileError(f"The samples of lead {name} are not valid Base64; the file is damaged.") from error
    sample_size = int(to_float(child_text(lead, "LeadSampleSize")) or 2)
    if sample_size not in _SAMPLE_DTYPES or not payload or len(payload) % sample_size:
        raise CorruptFileError(f"Lead {name} holds {len(payload)} bytes, not whole {sample_size}-byte samples.")
    counts = np.frombuffer(payload, dtype=_SAMPLE_DTYPES[sample_size])
    announced = to_float(child_text(lead, "LeadSampleCountTotal"))
    if announced is not None and int(announced) != counts.size:
        raise CorruptFileError(f"Lead {name} holds {counts.size} samples but announces {int(announced)}.")
    per_count = to_float(child_text(lead, "LeadAmplitudeUnitsPerBit"))
    unit = child_text(lead, "LeadAmplitudeUnits")
    if per_count is None or unit is None:
        raise CorruptFileError(f"Lead {name} does not state its amplitude scale (units per bit and unit).")
    if not per_count > 0:  # a negative scale would turn the ECG upside down: every axis and ST reading reversed
        raise CorruptFileError(f"Lead {name} states an amplitude scale of {per_count:g} {unit} per count; a scale "
                               "must be positive, so this file's voltages cannot be trusted.")
    return counts * (per_count * units_scale_to_mv(unit) * 1000.0)


def _age_years(demographics: ET.Element | None) -> float | None:
    age = to_float(child_text(demographics, "PatientAge"))
    factor = _AGE_UNITS_IN_YEARS.get((child_text(demographics, "AgeUnits") or "YEARS").upper())
    return age * factor if age is not None and factor else None


def _converted(parent: ET.Element | None, factors_by_element: dict[str, float]) -> float | None:
    """The first element present among alternatives in different units, converted to the first's unit."""
    for element, factor in factors_by_element.items():
        value = to_float(child_text(parent, element))
        if value:  # 0 stands for "not entered"
            return value * factor
    return None


def _device_measurements(root: ET.Element) -> dict[str, float]:
    found = (root.find("RestingECGMeasurements"), root.find("OriginalRestingECGMeasurements"))
    sections = [section for section in found if section is not None]
    out: dict[str, float] = {}
    for key, element in _MEASUREMENT_ELEMENTS.items():
        value = next((v for s in sections if (v := to_float(child_text(s, element))) is not None), None)
        if value is not None:
            out[key] = value
    global_rr = to_float(child_text(root, "QRSTimesTypes/GlobalRR"))
    if "rr_ms" not in out and global_rr is not None:
        out["rr_ms"] = global_rr
    return out


def _statement_lines(diagnosis: ET.Element | None) -> list[str]:
    if diagnosis is None:
        return []
    statements = diagnosis.findall("DiagnosisStatement")
    flags = [{(f.text or "").strip().upper() for f in s.findall("StmtFlag")} for s in statements]
    line_ends_marked = any("ENDSLINE" in f for f in flags)
    lines, fragments = [], []
    for statement, statement_flags in zip(statements, flags, strict=True):
        text = child_text(statement, "StmtText")
        if text:
            fragments.append(text)
        if fragments and (not line_ends_marked or "ENDSLINE" in statement_flags):
            lines.append(" ".join(fragments))
            fragments = []
    if fragments:
        lines.append(" ".join(fragments))
    return lines

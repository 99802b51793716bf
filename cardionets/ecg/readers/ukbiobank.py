"""UK Biobank resting ECG XML (field 20205): the GE CardioSoft export, root ``<CardiologyXML>``.

Layout, from the UK Biobank showcase description of field 20205, the OBiBa Onyx CardioSoft result parser (the
software of the UK Biobank assessment centres) and public UK Biobank ECG parsers:

* ``<StripData>``: ``<NumberOfLeads>``, ``<SampleRate units="Hz">`` (500), ``<ChannelSampleCountTotal>``,
  ``<Resolution units="uVperLsb">`` (5), then one ``<WaveformData lead="I">`` per lead holding comma-separated
  integer counts, broken over lines. Twelve leads, 10 s.
* ``<RestingECGMeasurements>``: ``VentricularRate``, ``PQInterval`` (the PR interval), ``QRSDuration``,
  ``QTInterval``, ``QTCInterval`` (formula not stated), ``RRInterval``, ``PAxis``, ``RAxis`` (the QRS axis) and
  ``TAxis``, each with a ``units`` attribute. It also nests ``<MedianSamples>``, the device's median beat in the
  StripData layout, which is not read.
* ``<PatientInfo>``: ``Age``, ``Gender`` (``MALE``/``FEMALE``), ``Height`` (cm) and ``Weight`` (kg).
* ``<Interpretation>``: ``<Diagnosis><DiagnosisText>`` lines, then ``<Conclusion><ConclusionText>`` lines.
* Files declare ``encoding="ISO8859-1"``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from ..errors import CorruptFileError
from .base import RawECG, acquisition_time
from .bounds import numbers_in_text
from .xml import child_text, parse_xml, to_float

_FORMAT = "UK Biobank ECG XML"
_MEASUREMENT_ELEMENTS = {
    "hr_bpm": "VentricularRate",
    "rr_ms": "RRInterval",
    "pr_ms": "PQInterval",
    "qrs_ms": "QRSDuration",
    "qt_ms": "QTInterval",
    "qtc_ms": "QTCInterval",
    "p_axis_deg": "PAxis",
    "qrs_axis_deg": "RAxis",
    "t_axis_deg": "TAxis",
}


def read(data: bytes) -> RawECG:
    root = parse_xml(data, _FORMAT)
    strip = root.find("StripData")
    if strip is None:
        raise CorruptFileError("This UK Biobank ECG file holds no 10-second strip (<StripData> is missing).")
    fs_hz = to_float(child_text(strip, "SampleRate"))
    resolution_uv = to_float(child_text(strip, "Resolution"))
    if not fs_hz or not resolution_uv:
        raise CorruptFileError("This UK Biobank ECG file does not state its sampling rate and resolution.")
    signals = {}
    for waveform in strip.findall("WaveformData"):
        name = waveform.get("lead", "").strip()
        signals[name] = _counts(waveform.text, name) * resolution_uv
    _check_lengths(signals, to_float(child_text(strip, "ChannelSampleCountTotal")))
    measurements = root.find("RestingECGMeasurements")
    patient = root.find("PatientInfo")
    return RawECG(
        named_signals=signals,
        fs_hz=fs_hz,
        units="uV",
        source_format="ukbiobank_xml",
        age_years=to_float(child_text(patient, "Age")),
        sex={"MALE": "M", "FEMALE": "F"}.get((child_text(patient, "Gender") or "").upper()),
        height_cm=to_float(child_text(patient, "Height")) or None,
        weight_kg=to_float(child_text(patient, "Weight")) or None,
        device_measurements={
            key: value
            for key, element in _MEASUREMENT_ELEMENTS.items()
            if (value := to_float(child_text(measurements, element))) is not None
        },
        interpretation=_statements(root.find("Interpretation")),
        acquired=_acquired(root.find("ObservationDateTime")),
    )


def _acquired(when: ET.Element | None) -> str | None:
    parts = [to_float(child_text(when, tag)) for tag in ("Year", "Month", "Day", "Hour", "Minute")]
    if any(part is None for part in parts):
        return None
    return acquisition_time("{:04.0f}-{:02.0f}-{:02.0f} {:02.0f}:{:02.0f}".format(*parts), "%Y-%m-%d %H:%M")


def _counts(text: str | None, lead: str) -> np.ndarray:
    return numbers_in_text((text or "").replace(",", " "), np.int64, f"Lead {lead} of this UK Biobank ECG file")


def _check_lengths(signals: dict[str, np.ndarray], announced: float | None) -> None:
    if not signals:
        raise CorruptFileError("The <StripData> of this UK Biobank ECG file holds no leads.")
    lengths = {values.size for values in signals.values()}
    if len(lengths) > 1:
        found = ", ".join(f"{name} {values.size}" for name, values in signals.items())
        raise CorruptFileError(f"The leads of this UK Biobank ECG file differ in length ({found}); it is damaged.")
    if announced is not None and lengths != {int(announced)}:
        raise CorruptFileError(
            f"This UK Biobank ECG file holds {lengths.pop()} samples per lead but announces {int(announced)}."
        )


def _statements(interpretation: ET.Element | None) -> list[str]:
    if interpretation is None:
        return []
    texts = interpretation.findall("Diagnosis/DiagnosisText") + interpretation.findall("Conclusion/ConclusionText")
    return [" ".join(t.text.split()) for t in texts if t.text and t.text.strip()]

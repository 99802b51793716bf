"""UK Biobank field 20205 writer: a GE CardioSoft ``<CardiologyXML>`` export with comma-separated counts."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from cardionets.ecg.writers.recording import Recording, add, document

UV_PER_COUNT = 5.0
MEDIAN_BEAT_S = 1.2
VALUES_PER_LINE = 40

_MEASUREMENTS = {  # our key -> (element, units), in CardioSoft order
    "hr_bpm": ("VentricularRate", "BPM"),
    "pr_ms": ("PQInterval", "ms"),
    "qrs_ms": ("QRSDuration", "ms"),
    "qt_ms": ("QTInterval", "ms"),
    "qtc_ms": ("QTCInterval", "ms"),
    "rr_ms": ("RRInterval", "ms"),
    "p_axis_deg": ("PAxis", "degrees"),
    "qrs_axis_deg": ("RAxis", "degrees"),
    "t_axis_deg": ("TAxis", "degrees"),
}
CARRIED_MEASUREMENTS = tuple(_MEASUREMENTS)


def write(recording: Recording) -> bytes:
    root = ET.Element("CardiologyXML")
    add(root, "ObservationType", "RestECG")
    when = add(root, "ObservationDateTime")
    for tag, value in (("Hour", 9), ("Minute", 30), ("Second", 0), ("Day", 1), ("Month", 3), ("Year", 2014)):
        add(when, tag, value)
    device = add(add(root, "ClinicalInfo"), "DeviceInfo")
    add(device, "Desc", "CARDIOSOFT")
    add(device, "SoftwareVer", "6.73")
    _patient_info(root, recording)
    filters = add(root, "FilterSetting")
    for tag, value in (("CubicSpline", "Yes"), ("Filter50Hz", "Yes"), ("Filter60Hz", "No")):
        add(filters, tag, value)
    add(filters, "LowPass", 150, units="Hz")
    add(filters, "HighPass", 0.04, units="Hz")
    _interpretation(root, recording.interpretation)
    counts = recording.lead_counts(UV_PER_COUNT)
    measurements = add(root, "RestingECGMeasurements")
    for key, (tag, units) in _MEASUREMENTS.items():
        add(measurements, tag, recording.measurements[key], units=units)
    median_samples = int(MEDIAN_BEAT_S * recording.fs_hz)
    _strip(add(measurements, "MedianSamples"), recording.fs_hz, {n: c[:median_samples] for n, c in counts.items()})
    _strip(add(root, "StripData"), recording.fs_hz, counts)
    return document(root, "ISO8859-1")


def _patient_info(root: ET.Element, recording: Recording) -> None:
    patient = add(root, "PatientInfo")
    add(patient, "PID", "1000000")
    add(patient, "Age", recording.age_years, units="years")
    add(patient, "Gender", {"M": "MALE", "F": "FEMALE"}[recording.sex])
    add(patient, "Height", recording.height_cm, units="cm")
    add(patient, "Weight", recording.weight_kg, units="kg")
    add(patient, "PaceMaker", "no")


def _interpretation(root: ET.Element, statements: list[str]) -> None:
    interpretation = add(root, "Interpretation")
    diagnosis = add(interpretation, "Diagnosis")
    for text in statements[:-1]:
        add(diagnosis, "DiagnosisText", text)
    add(add(interpretation, "Conclusion"), "ConclusionText", statements[-1])


def _strip(block: ET.Element, fs_hz: int, leads: dict[str, np.ndarray]) -> None:
    add(block, "NumberOfLeads", len(leads))
    add(block, "SampleRate", fs_hz, units="Hz")
    add(block, "ChannelSampleCountTotal", len(next(iter(leads.values()))))
    add(block, "Resolution", f"{UV_PER_COUNT:g}", units="uVperLsb")
    for name, counts in leads.items():
        values = counts.tolist()
        lines = (",".join(map(str, values[i : i + VALUES_PER_LINE])) for i in range(0, len(values), VALUES_PER_LINE))
        add(block, "WaveformData", ",\n".join(lines), lead=name)

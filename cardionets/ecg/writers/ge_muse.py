"""GE MUSE ``<RestingECG>`` writer: DOCTYPE line, median then rhythm waveform, 8 stored leads of Base64 int16.

The layout is the one ``cardionets.ecg.readers.ge_muse`` describes. Demographics and measurements the recording
does not know are left out rather than invented.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
import zlib

import numpy as np

from ..leads import STANDARD_LEADS
from .recording import Recording, add, document, int16_counts

UV_PER_COUNT = 4.88
STORED_LEADS = ("I", "II", "V1", "V2", "V3", "V4", "V5", "V6")  # MUSE derives III, aVR, aVL, aVF
MEDIAN_BEAT_S = 1.2
DOCTYPE = '<!DOCTYPE RestingECG SYSTEM "restecg.dtd">'

_MEASUREMENT_ELEMENTS = {
    "hr_bpm": "VentricularRate",
    "pr_ms": "PRInterval",
    "qrs_ms": "QRSDuration",
    "qt_ms": "QTInterval",
    "qtc_ms": "QTCorrected",
    "p_axis_deg": "PAxis",
    "qrs_axis_deg": "RAxis",
    "t_axis_deg": "TAxis",
}
CARRIED_MEASUREMENTS = (*_MEASUREMENT_ELEMENTS, "qtc_fridericia_ms", "rr_ms")


def write(recording: Recording, encoding: str = "ISO-8859-1") -> bytes:
    root = ET.Element("RestingECG")
    add(add(root, "MuseInfo"), "MuseVersion", "9.0.9.18167")
    _patient_demographics(root, recording)
    test = add(root, "TestDemographics")
    add(test, "DataType", "RESTING")
    add(test, "AcquisitionDevice", "MAC55")
    add(test, "AcquisitionTime", "09:30:00")
    add(test, "AcquisitionDate", "03-01-2024")
    for section in ("RestingECGMeasurements", "OriginalRestingECGMeasurements"):
        _measurements(add(root, section), recording)
    for section in ("Diagnosis", "OriginalDiagnosis"):
        _diagnosis(add(root, section), recording.interpretation)
    if "rr_ms" in recording.measurements:
        add(add(root, "QRSTimesTypes"), "GlobalRR", recording.measurements["rr_ms"])
    counts = dict(zip(STANDARD_LEADS, int16_counts(recording.signal_mv, UV_PER_COUNT), strict=True))
    median_samples = int(MEDIAN_BEAT_S * recording.fs_hz)
    _waveform(root, "Median", recording.fs_hz, {name: counts[name][:median_samples] for name in STORED_LEADS})
    _waveform(root, "Rhythm", recording.fs_hz, {name: counts[name] for name in STORED_LEADS})
    return document(root, encoding, DOCTYPE)


def _patient_demographics(root: ET.Element, recording: Recording) -> None:
    patient = add(root, "PatientDemographics")
    add(patient, "PatientID", "000123456")
    if recording.age_years is not None:
        add(patient, "PatientAge", recording.age_years)
        add(patient, "AgeUnits", "YEARS")
    if recording.sex is not None:
        add(patient, "Gender", {"M": "MALE", "F": "FEMALE"}[recording.sex])
    if recording.height_cm is not None:
        add(patient, "HeightCM", recording.height_cm)
    if recording.weight_kg is not None:
        add(patient, "WeightKG", recording.weight_kg)
    add(patient, "PatientLastName", "TEST")
    add(patient, "PatientFirstName", "PATIENT")


def _measurements(section: ET.Element, recording: Recording) -> None:
    values = recording.measurements
    if "hr_bpm" in values:
        add(section, "VentricularRate", values["hr_bpm"])
        add(section, "AtrialRate", values["hr_bpm"])
    for key in ("pr_ms", "qrs_ms", "qt_ms", "qtc_ms", "p_axis_deg", "qrs_axis_deg", "t_axis_deg"):
        if key in values:
            add(section, _MEASUREMENT_ELEMENTS[key], values[key])
    if "rr_ms" in values:
        add(section, "QRSCount", round(recording.duration_ms / values["rr_ms"]))
    add(section, "ECGSampleBase", recording.fs_hz)
    add(section, "ECGSampleExponent", 0)
    if "qtc_fridericia_ms" in values:
        add(section, "QTcFrederica", values["qtc_fridericia_ms"])


def _diagnosis(section: ET.Element, statements: list[str]) -> None:
    add(section, "Modality", "RESTING")
    for text in statements:
        statement = add(section, "DiagnosisStatement")
        add(statement, "StmtFlag", "ENDSLINE")
        add(statement, "StmtText", text)


def _waveform(root: ET.Element, kind: str, fs_hz: int, leads: dict[str, np.ndarray]) -> None:
    waveform = add(root, "Waveform")
    add(waveform, "WaveformType", kind)
    add(waveform, "WaveformStartTime", 0)
    add(waveform, "NumberofLeads", len(leads))
    add(waveform, "SampleType", "CONTINUOUS_SAMPLES")
    add(waveform, "SampleBase", fs_hz)
    add(waveform, "SampleExponent", 0)
    add(waveform, "HighPassFilter", 5)  # MUSE stores 0.05 Hz in hundredths
    add(waveform, "LowPassFilter", 150)
    add(waveform, "ACFilter", 50)
    for name, counts in leads.items():
        payload = counts.astype("<i2").tobytes()
        lead = add(waveform, "LeadData")
        add(lead, "LeadByteCountTotal", len(payload))
        add(lead, "LeadTimeOffset", 0)
        add(lead, "LeadSampleCountTotal", counts.size)
        add(lead, "LeadAmplitudeUnitsPerBit", UV_PER_COUNT)
        add(lead, "LeadAmplitudeUnits", "MICROVOLTS")
        add(lead, "LeadHighLimit", 32767)
        add(lead, "LeadLowLimit", -32768)
        add(lead, "LeadID", name)
        add(lead, "LeadOffsetFirstSample", 0)
        add(lead, "FirstSampleBaseline", 0)
        add(lead, "LeadSampleSize", 2)
        add(lead, "LeadOff", "FALSE")
        add(lead, "BaselineSway", "FALSE")
        add(lead, "LeadDataCRC32", zlib.crc32(payload))
        add(lead, "WaveFormData", base64.encodebytes(payload).decode("ascii"))  # MIME-style 76-column lines

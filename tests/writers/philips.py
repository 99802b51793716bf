"""Philips ``<restingecgdata>`` writer: 12 leads, XLI-compressed (limb leads as residuals) or plain Base64.

Schema 1.04 by default. ``version="1.03"`` changes what differs for waveforms: the document type, a
``<signalcharacteristics>`` carrying ``<samplingrate>`` and ``<signalresolution>``, and a ``<parsedwaveforms>``
flagged with ``compressflag``/``compressmethod`` that names neither its leads nor its rate.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET

import numpy as np

from cardionets.ecg.leads import STANDARD_LEADS
from cardionets.ecg.writers.recording import Recording, add, document

from . import philips_xli

UV_PER_COUNT = 5.0
NAMESPACE = "http://www3.medical.philips.com"

_GLOBAL_MEASUREMENTS = {  # interpretation/globalmeasurements, in schema order
    "hr_bpm": "heartrate",
    "rr_ms": "rrint",
    "pr_ms": "print",
    "qrs_ms": "qrsdur",
    "qt_ms": "qtint",
    "qtc_bazett_ms": "qtcb",
    "qtc_fridericia_ms": "qtcf",
    "p_axis_deg": "pfrontaxis",
    "qrs_axis_deg": "qrsfrontaxis",
    "t_axis_deg": "tfrontaxis",
}
CARRIED_MEASUREMENTS = (*_GLOBAL_MEASUREMENTS, "qtc_ms")  # qtc_ms: the algorithm's meanqtc


def write(recording: Recording, compressed: bool = True, version: str = "1.04") -> bytes:
    root = ET.Element("restingecgdata", {"xmlns": NAMESPACE, "status": "New", "lang": "en"})
    info = add(root, "documentinfo")
    add(info, "documentname", "5b3c4f00-d7a1-11ee-4823-000738300029.xml")
    add(info, "documenttype", "SierraECG" if version == "1.03" else "PhilipsECG")
    add(info, "documentversion", version)
    _data_acquisition(root, recording, version)
    _patient(root, recording)
    _internal_measurements(root, recording)
    _interpretation(root, recording)
    counts = recording.counts(UV_PER_COUNT)
    waveform = add(add(root, "waveforms"), "parsedwaveforms", **_waveform_attributes(recording, compressed, version))
    raw = philips_xli.encode_leads(limb_residuals(counts)) if compressed else counts.astype("<i2").tobytes()
    waveform.text = base64.encodebytes(raw).decode("ascii")  # lead after lead when uncompressed
    return document(root, "utf-8")


def limb_residuals(counts: np.ndarray) -> list[np.ndarray]:
    """The 12 leads as XLI stores them: III, aVR, aVL and aVF replaced by their residuals against I and II."""
    lead_i, lead_ii, lead_iii, avr, avl, avf = counts[:6]
    residuals = [
        lead_ii - lead_i - lead_iii,
        -avr - (lead_i + lead_ii) // 2,
        (lead_i - lead_iii) // 2 - avl,
        (lead_ii + lead_iii) // 2 - avf,
    ]
    return [lead_i, lead_ii, *residuals, *counts[6:]]


def _waveform_attributes(recording: Recording, compressed: bool, version: str) -> dict[str, str]:
    if version == "1.03":
        flags = {"compressflag": "True", "compressmethod": "XLI"} if compressed else {"compressflag": "False"}
        return {**flags, "dataencoding": "Base64", "durationperchannel": str(recording.duration_ms),
                "nbitspersample": "16"}
    return {
        "dataencoding": "Base64",
        **({"compression": "XLI"} if compressed else {}),
        "numberofleads": str(len(STANDARD_LEADS)),
        "leadlabels": " ".join(STANDARD_LEADS),
        "durationperchannel": str(recording.duration_ms),
        "samplespersecond": str(recording.fs_hz),
        "resolution": f"{UV_PER_COUNT:g}",
        "signaloffset": "0",
        "signalsigned": "True",
        "bitspersample": "16",
        "hipass": "0.05",
        "lowpass": "150",
        "notchfiltered": "False",
    }


def _data_acquisition(root: ET.Element, recording: Recording, version: str) -> None:
    acquisition = add(root, "dataacquisition", date="2024-03-01", time="09:30:00")
    machine = "Philips Medical Products:860306:A.07.07.07"  # manufacturer:model:software, per the schema
    add(acquisition, "machine", "PageWriter TC", machineid="1", detaildescription=machine)
    add(add(acquisition, "acquirer"), "institutionname", "Test Hospital")
    signal = add(acquisition, "signalcharacteristics")
    if version == "1.03":
        characteristics = [
            ("samplingrate", recording.fs_hz), ("signalresolution", f"{UV_PER_COUNT:g}"),
            ("signalbandwidth", "0.05-150"), ("acquisitiontype", "STD-12"),
            ("numberchannelsvalid", 12), ("numberchannelsallocated", 12),
        ]
    else:
        characteristics = [
            ("samplingrate", recording.fs_hz), ("resolution", f"{UV_PER_COUNT:g}"), ("hipass", "0.05"),
            ("lowpass", 150), ("acsetting", 50), ("notchfiltered", "False"), ("acquisitiontype", "10-WIRE"),
            ("bitspersample", 16), ("signaloffset", 0), ("signalsigned", "True"),
            ("numberchannelsallocated", 12), ("numberchannelsvalid", 12), ("electrodeplacement", "STD"),
        ]
    for tag, value in characteristics:
        add(signal, tag, value)


def _patient(root: ET.Element, recording: Recording) -> None:
    patient = add(add(root, "patient", criteriaversionforpatientdata="0A"), "generalpatientdata")
    add(patient, "patientid", "000123456")
    name = add(patient, "name")
    add(name, "lastname", "TEST")
    add(name, "firstname", "PATIENT")
    add(add(patient, "age"), "years", recording.age_years)
    add(patient, "pacestatus", "Unknown")
    add(patient, "sex", {"M": "Male", "F": "Female"}[recording.sex])
    add(add(patient, "height"), "cm", recording.height_cm)
    add(add(patient, "weight"), "kg", recording.weight_kg)


def _internal_measurements(root: ET.Element, recording: Recording) -> None:
    values = recording.measurements
    internal = add(root, "internalmeasurements", date="2024-03-01", time="09:30:00", measurementversion="10")
    cross = add(internal, "crossleadmeasurements")
    add(cross, "numberofcomplexes", round(recording.duration_ms / values["rr_ms"]))
    for tag, key in (("pfrontaxis", "p_axis_deg"), ("qrsfrontaxis", "qrs_axis_deg"), ("tfrontaxis", "t_axis_deg"),
                     ("meanventrate", "hr_bpm"), ("meanprint", "pr_ms"), ("meanqrsdur", "qrs_ms"),
                     ("meanqtint", "qt_ms"), ("meanqtc", "qtc_ms")):
        add(cross, tag, values[key])


def _interpretation(root: ET.Element, recording: Recording) -> None:
    interpretation = add(add(root, "interpretations"), "interpretation", date="2024-03-01", time="09:30:00",
                         criteriaversion="0A")
    measurements = add(interpretation, "globalmeasurements")
    for key, tag in _GLOBAL_MEASUREMENTS.items():
        add(measurements, tag, recording.measurements[key])
        if tag == "print":
            add(measurements, "qonset", 236)  # required fiducial, ms into the median beat
    add(interpretation, "severity", "- NORMAL ECG -", code="NM")
    for text in recording.interpretation:
        statement = add(interpretation, "statement")
        add(statement, "statementcode")
        add(statement, "leftstatement", text)
        add(statement, "rightstatement")

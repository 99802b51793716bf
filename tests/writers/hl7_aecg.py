"""HL7 aECG ``<AnnotatedECG>`` writer: a rhythm series with a derived median-beat series and global annotations."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np

from cardionets.ecg.leads import STANDARD_LEADS
from cardionets.ecg.writers.recording import Recording, add, document

UV_PER_COUNT = 5.0
MEDIAN_BEAT_S = 1.2
START = "20240301093000.000"
MDC = {"codeSystem": "2.16.840.1.113883.6.24", "codeSystemName": "MDC"}
ACT_CODE = {"codeSystem": "2.16.840.1.113883.5.4", "codeSystemName": "ActCode"}

_ANNOTATIONS = {  # our key -> (MDC code, unit)
    "hr_bpm": ("MDC_ECG_HEART_RATE", "bpm"),
    "rr_ms": ("MDC_ECG_TIME_PD_RR", "ms"),
    "pr_ms": ("MDC_ECG_TIME_PD_PR", "ms"),
    "qrs_ms": ("MDC_ECG_TIME_PD_QRS", "ms"),
    "qt_ms": ("MDC_ECG_TIME_PD_QT", "ms"),
    "qtc_ms": ("MDC_ECG_TIME_PD_QTc", "ms"),
    "p_axis_deg": ("MDC_ECG_ANGLE_P_FRONT", "deg"),
    "qrs_axis_deg": ("MDC_ECG_ANGLE_QRS_FRONT", "deg"),
    "t_axis_deg": ("MDC_ECG_ANGLE_T_FRONT", "deg"),
}
CARRIED_MEASUREMENTS = tuple(_ANNOTATIONS)


def write(recording: Recording) -> bytes:
    root = ET.Element("AnnotatedECG", {
        "xmlns": "urn:hl7-org:v3", "xmlns:voc": "urn:hl7-org:v3/voc",
        "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance", "classCode": "OBS", "moodCode": "EVN",
    })
    add(root, "id", root="b1f2c3d4-0000-4000-8000-000000000001")
    add(root, "code", code="93000", codeSystem="2.16.840.1.113883.6.12", codeSystemName="CPT-4",
        displayName="Electrocardiogram")
    _effective_time(root, recording)
    _subject(root, recording)
    age = add(add(root, "controlVariable", typeCode="CTRLV"), "relatedObservation", classCode="OBS", moodCode="EVN")
    add(age, "code", code="21612-7", codeSystem="2.16.840.1.113883.6.1", codeSystemName="LOINC",
        displayName="Reported Age")
    add(age, "value", **{"xsi:type": "PQ", "value": str(recording.age_years), "unit": "a"})

    counts = recording.counts(UV_PER_COUNT)
    series = _series(root, "RHYTHM", "ECG Rhythm Waveforms")
    _effective_time(series, recording)
    _sequence_set(series, "TIME_ABSOLUTE", recording.fs_hz, counts)
    derivation = add(series, "derivation")
    median = _series(derivation, "REPRESENTATIVE_BEAT", "ECG Representative Beat Waveforms", "derivedSeries")
    _sequence_set(median, "TIME_RELATIVE", recording.fs_hz, counts[:, : int(MEDIAN_BEAT_S * recording.fs_hz)])
    _annotation_set(series, recording)
    return document(root, "UTF-8")


def _effective_time(parent: ET.Element, recording: Recording) -> None:
    time = add(parent, "effectiveTime")
    add(time, "low", value=START, inclusive="true")
    add(time, "high", value=f"202403010930{recording.duration_ms // 1000:02d}.000", inclusive="false")


def _subject(root: ET.Element, recording: Recording) -> None:
    event = add(add(root, "componentOf", typeCode="COMP"), "timepointEvent", classCode="CTTEVENT", moodCode="EVN")
    assignment = add(
        add(event, "componentOf", typeCode="COMP"), "subjectAssignment", classCode="CLNTRL", moodCode="EVN"
    )
    subject = add(add(assignment, "subject", typeCode="SBJ"), "trialSubject", classCode="RESBJ")
    add(subject, "id", extension="000123456")
    person = add(subject, "subjectDemographicPerson", classCode="PSN", determinerCode="INSTANCE")
    add(person, "name", "TEST PATIENT")
    add(person, "administrativeGenderCode", code=recording.sex, codeSystem="2.16.840.1.113883.5.1")
    trial = add(add(assignment, "componentOf", typeCode="COMP"), "clinicalTrial", classCode="CLNTRL", moodCode="EVN")
    add(trial, "id", root="1.3.6.1.4.1.21123.3.1", extension="X_UNK_CLINICALTRIAL")


def _series(parent: ET.Element, code: str, display: str, tag: str = "series") -> ET.Element:
    holder = parent if tag == "derivedSeries" else add(parent, "component", typeCode="COMP")
    series = add(holder, tag, classCode="OBSSER", moodCode="EVN")
    add(series, "code", code=code, displayName=display, **ACT_CODE)
    return series


def _sequence_set(series: ET.Element, time_code: str, fs_hz: int, counts: np.ndarray) -> None:
    sequence_set = add(add(series, "component", typeCode="COMP"), "sequenceSet", classCode="OBSCOR", moodCode="EVN")
    time = _sequence(sequence_set, time_code, ACT_CODE)
    if time_code == "TIME_ABSOLUTE":
        value = add(time, "value", **{"xsi:type": "GLIST_TS"})
        add(value, "head", value=START)
    else:
        value = add(time, "value", **{"xsi:type": "GLIST_PQ"})
        add(value, "head", value="0", unit="s")
    add(value, "increment", value=f"{1 / fs_hz:g}", unit="s")
    for name, lead in zip(STANDARD_LEADS, counts, strict=True):
        sequence = _sequence(sequence_set, f"MDC_ECG_LEAD_{name.upper()}", MDC, displayName=name)
        value = add(sequence, "value", **{"xsi:type": "SLIST_PQ"})
        add(value, "origin", value="0", unit="uV")
        add(value, "scale", value=f"{UV_PER_COUNT:.2f}", unit="uV")
        add(value, "digits", " ".join(map(str, lead.tolist())))


def _sequence(sequence_set: ET.Element, code: str, system: dict[str, str], **names: str) -> ET.Element:
    sequence = add(add(sequence_set, "component", typeCode="COMP"), "sequence", classCode="OBS", moodCode="EVN")
    add(sequence, "code", code=code, **system, **names)
    return sequence


def _annotation_set(series: ET.Element, recording: Recording) -> None:
    annotations = add(add(series, "subjectOf", typeCode="SUBJ"), "annotationSet", classCode="OBSCOR", moodCode="EVN")
    add(annotations, "activityTime", value=START)
    for key, (code, unit) in _ANNOTATIONS.items():
        annotation = _annotation(annotations, code)
        add(annotation, "value", **{"xsi:type": "PQ", "value": str(recording.measurements[key]), "unit": unit})
    interpretation = _annotation(annotations, "MDC_ECG_INTERPRETATION")
    for text in recording.interpretation:
        add(_annotation(interpretation, "MDC_ECG_INTERPRETATION_STATEMENT"), "value", text, **{"xsi:type": "ST"})


def _annotation(parent: ET.Element, code: str) -> ET.Element:
    annotation = add(add(parent, "component", typeCode="COMP"), "annotation", classCode="OBS", moodCode="EVN")
    add(annotation, "code", code=code, **MDC)
    return annotation

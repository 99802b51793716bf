"""DICOM 12-lead ECG waveform (and General ECG) objects, read with pydicom.

pydicom's ``waveform_array`` applies channel sensitivity, its correction factor and the baseline, so samples
come out in the unit of the Channel Sensitivity Units Sequence (usually uV). The rhythm group is used; the
device's median-beat group and its global measurements are kept as metadata.
"""

from __future__ import annotations

import io
import warnings

import pydicom

from ..errors import CorruptFileError, MissingLeadsError
from .base import RawECG, acquisition_time
from .bounds import check_sample_count

# SCP-ECG concept names used in the Waveform Annotation Sequence, mapped to our measurement keys.
_ANNOTATION_KEYS = {
    "RR Interval": "rr_ms", "PR Interval": "pr_ms", "QRS Duration": "qrs_ms", "QT Interval": "qt_ms",
    "QTc Interval": "qtc_ms", "P Axis": "p_axis_deg", "QRS Axis": "qrs_axis_deg", "T Axis": "t_axis_deg",
    "Ventricular Rate": "hr_bpm", "Heart Rate": "hr_bpm",
}


def read(data: bytes) -> RawECG:
    with warnings.catch_warnings():
        # pydicom warns on every malformed value (UIDs, charsets) it reads past; what matters is whether the
        # waveform decodes, and that failure is raised as an error.
        warnings.simplefilter("ignore", UserWarning)
        return _read(pydicom.dcmread(io.BytesIO(data)))


def _read(dataset) -> RawECG:
    groups = list(dataset.get("WaveformSequence", []))
    if not groups:
        raise CorruptFileError("This DICOM file holds no waveform (it may be an image, not an ECG).")
    index = _rhythm_group_index(groups)
    group = groups[index]
    _check_declared_samples(group)
    samples = dataset.waveform_array(index)  # (n_samples, n_channels), sensitivity applied
    names, units = [], None
    for channel in group.ChannelDefinitionSequence:
        source = channel.ChannelSourceSequence[0]
        names.append(str(source.get("CodeMeaning", source.get("CodeValue", "?"))))
        _check_sensitivity(channel, names[-1])
        unit_seq = channel.get("ChannelSensitivityUnitsSequence")
        if unit_seq and units is None:
            units = str(unit_seq[0].get("CodeValue", "uV"))
    if samples.ndim != 2 or samples.shape[1] != len(names):
        raise CorruptFileError("The DICOM waveform's channel count does not match its channel definitions.")
    if len(names) < 2:
        raise MissingLeadsError("This DICOM waveform has a single channel; a 12-lead ECG is needed.")
    named = {name: samples[:, column] for column, name in enumerate(names)}
    measurements = _device_measurements(dataset)
    if "rr_ms" in measurements and "hr_bpm" not in measurements and measurements["rr_ms"] > 0:
        measurements["hr_bpm"] = 60000.0 / measurements["rr_ms"]
    return RawECG(
        named_signals=named,
        fs_hz=float(group.SamplingFrequency),
        units=units or "uV",
        source_format="dicom",
        age_years=_age_years(dataset.get("PatientAge")),
        sex=_sex(dataset.get("PatientSex")),
        height_cm=_positive(dataset.get("PatientSize"), 100.0),
        weight_kg=_positive(dataset.get("PatientWeight"), 1.0),
        device_measurements=measurements,
        interpretation=_interpretation(dataset),
        acquired=_acquired(dataset),
    )


def _check_declared_samples(group) -> None:
    """pydicom makes a float64 array of samples x channels whatever the stored width: 60 MB of 8-bit samples would
    become 480 MB, so the declared count is bounded, and checked against the data the file holds, first."""
    try:
        samples, channels = int(group.NumberOfWaveformSamples), int(group.NumberOfWaveformChannels)
        width = int(group.WaveformBitsAllocated) // 8
        stored = len(group.WaveformData)
    except (AttributeError, TypeError, ValueError) as error:
        raise CorruptFileError("The DICOM waveform does not state its samples, channels and sample width.") from error
    check_sample_count(samples * channels, "This DICOM waveform")
    if samples <= 0 or channels <= 0 or width not in (1, 2, 4, 8) or stored < samples * channels * width:
        raise CorruptFileError(f"The DICOM waveform declares {samples} samples of {channels} channels but holds "
                               f"{stored:,} bytes; it is truncated or damaged.")


def _acquired(dataset) -> str | None:
    """AcquisitionDateTime (DT), else the content or study date with its time (DA + TM), to the second."""
    pairs = [str(dataset.get("AcquisitionDateTime") or "")]
    pairs += [f"{dataset.get(date) or ''}{str(dataset.get(time) or '').split('.')[0]}"
              for date, time in (("ContentDate", "ContentTime"), ("StudyDate", "StudyTime"))]
    return next((found for text in pairs
                 if (found := acquisition_time(text.split(".")[0][:14], "%Y%m%d%H%M%S", "%Y%m%d%H%M", "%Y%m%d"))),
                None)


def _check_sensitivity(channel, name: str) -> None:
    """A zero or negative channel sensitivity (or correction factor) would flatten or invert the lead, every
    axis and ST reading with it: refused rather than read."""
    for keyword in ("ChannelSensitivity", "ChannelSensitivityCorrectionFactor"):
        value = channel.get(keyword)
        if value is None:
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = float("nan")
        if not number > 0:
            raise CorruptFileError(f"Channel {name} states a {keyword} of {value}; it must be positive, so this "
                                   "file's voltages cannot be trusted.")


def _rhythm_group_index(groups) -> int:
    for index, group in enumerate(groups):
        label = str(group.get("MultiplexGroupLabel", "")).upper()
        if "MEDIAN" not in label and "REPRESENTATIVE" not in label:
            return index
    return 0


def _device_measurements(dataset) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in dataset.get("WaveformAnnotationSequence", []):
        concept = item.get("ConceptNameCodeSequence")
        value = item.get("NumericValue")
        if not concept or value is None:
            continue
        key = _ANNOTATION_KEYS.get(str(concept[0].get("CodeMeaning", "")))
        if key:
            out[key] = float(value)
    return out


def _interpretation(dataset) -> list[str]:
    lines = []
    for item in dataset.get("WaveformAnnotationSequence", []):
        text = item.get("UnformattedTextValue")
        if text:
            lines.append(str(text))
    return lines


def _age_years(age) -> float | None:
    """DICOM Age String: '042Y', '006M', '012W', '003D'."""
    if not age:
        return None
    text = str(age)
    try:
        value = float(text[:-1])
    except ValueError:
        return None
    return {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}.get(text[-1:].upper(), 1.0) * value


def _sex(value) -> str | None:
    letter = str(value or "").strip().upper()[:1]
    return letter if letter in ("M", "F") else None


def _positive(value, scale: float) -> float | None:
    try:
        number = float(value) * scale
    except (TypeError, ValueError):
        return None
    return number if number > 0 else None

"""DICOM 12-Lead ECG Waveform Storage writer: the object a cart sends to a PACS, readable by any DICOM viewer.

Laid out as the Mortara cart in pydicom's ``waveform_ecg.dcm`` writes it: one RHYTHM multiplex group of 12
interleaved int16 channels, each channel coded with its SCP-ECG lead code and sensitivity in microvolts (UCUM).
The 12-lead IOD limits a recording to 200-1000 Hz and 16384 samples per channel (PS3.3 A.34.3.4).
"""

from __future__ import annotations

from datetime import datetime
from os import PathLike
from typing import BinaryIO

import pydicom
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, TwelveLeadECGWaveformStorage, generate_uid

from ..leads import STANDARD_LEADS
from ..record import ECG
from .recording import int16_counts

UV_PER_COUNT = 2.5
MIN_FS_HZ, MAX_FS_HZ = 200.0, 1000.0
MAX_SAMPLES = 16384

SCPECG_VERSION = "1.3"
# SCP-ECG lead codes (DICOM CID 3001) with the meanings carts write; III and the augmented leads are 61-64.
LEAD_CODES = {
    "I": ("5.6.3-9-1", "Lead I (Einthoven)"),
    "II": ("5.6.3-9-2", "Lead II"),
    "III": ("5.6.3-9-61", "Lead III"),
    "aVR": ("5.6.3-9-62", "Lead aVR"),
    "aVL": ("5.6.3-9-63", "Lead aVL"),
    "aVF": ("5.6.3-9-64", "Lead aVF"),
    "V1": ("5.6.3-9-3", "Lead V1"),
    "V2": ("5.6.3-9-4", "Lead V2"),
    "V3": ("5.6.3-9-5", "Lead V3"),
    "V4": ("5.6.3-9-6", "Lead V4"),
    "V5": ("5.6.3-9-7", "Lead V5"),
    "V6": ("5.6.3-9-8", "Lead V6"),
}


def write_dicom_waveform(ecg: ECG, destination: str | PathLike | BinaryIO, patient: dict | None = None) -> None:
    """Write ``ecg`` as a 12-lead ECG DICOM file with fresh UIDs.

    Age, sex, height and weight come from ``ecg.meta`` when known. ``patient`` sets further attributes by DICOM
    keyword (``{"PatientID": "S001-000007", "PatientName": "SYNTHETIC^S001-000007"}``) and overrides the above.
    """
    if not MIN_FS_HZ <= ecg.fs_hz <= MAX_FS_HZ:
        raise ValueError(f"a 12-lead ECG DICOM holds 200-1000 Hz; resample the {ecg.fs_hz:g} Hz ECG first")
    if ecg.n_samples > MAX_SAMPLES:
        raise ValueError(f"a 12-lead ECG DICOM holds at most {MAX_SAMPLES} samples per lead, not {ecg.n_samples}")
    now = datetime.now()
    dataset = Dataset()
    dataset.file_meta = _file_meta()
    dataset.SpecificCharacterSet = "ISO_IR 192"  # UTF-8, so any patient name survives
    dataset.InstanceCreationDate = dataset.StudyDate = dataset.ContentDate = now.strftime("%Y%m%d")
    dataset.InstanceCreationTime = dataset.StudyTime = dataset.ContentTime = now.strftime("%H%M%S")
    dataset.AcquisitionDateTime = now.strftime("%Y%m%d%H%M%S")
    dataset.SOPClassUID = TwelveLeadECGWaveformStorage
    dataset.SOPInstanceUID = dataset.file_meta.MediaStorageSOPInstanceUID
    dataset.StudyInstanceUID = generate_uid()
    dataset.SeriesInstanceUID = generate_uid()
    dataset.Modality = "ECG"
    dataset.Manufacturer = "CardioNets"
    # Type 2 attributes: present, empty when unknown.
    dataset.AccessionNumber = dataset.ReferringPhysicianName = dataset.StudyID = ""
    dataset.SeriesNumber = dataset.InstanceNumber = 1
    _patient(dataset, ecg, patient or {})
    dataset.AcquisitionContextSequence = Sequence([_electrode_placement()])
    dataset.WaveformSequence = Sequence([_rhythm_group(ecg)])
    pydicom.dcmwrite(destination, dataset, enforce_file_format=True)


def _file_meta() -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = TwelveLeadECGWaveformStorage
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return meta


def _patient(dataset: Dataset, ecg: ECG, overrides: dict) -> None:
    meta = ecg.meta
    dataset.PatientName = dataset.PatientID = dataset.PatientBirthDate = ""
    dataset.PatientSex = meta.sex or ""
    if meta.age_years is not None:
        dataset.PatientAge = f"{min(int(meta.age_years), 999):03d}Y"  # completed years, Age String "052Y"
    if meta.height_cm is not None:
        dataset.PatientSize = f"{meta.height_cm / 100:.2f}"  # metres
    if meta.weight_kg is not None:
        dataset.PatientWeight = f"{meta.weight_kg:.1f}"
    for keyword, value in overrides.items():
        if tag_for_keyword(keyword) is None:
            raise ValueError(f"'{keyword}' is not a DICOM attribute keyword")
        setattr(dataset, keyword, value)


def _scpecg_code(value: str, meaning: str) -> Dataset:
    return _code(value, "SCPECG", SCPECG_VERSION, meaning)


def _code(value: str, scheme: str, version: str, meaning: str) -> Dataset:
    code = Dataset()
    code.CodeValue = value
    code.CodingSchemeDesignator = scheme
    code.CodingSchemeVersion = version
    code.CodeMeaning = meaning
    return code


def _electrode_placement() -> Dataset:
    item = Dataset()
    item.ValueType = "CODE"
    item.ConceptNameCodeSequence = Sequence([_scpecg_code("5.4.5-33-1", "Electrode Placement")])
    item.ConceptCodeSequence = Sequence(
        [_scpecg_code("5.4.5-33-1-1", "Standard 12-lead positions: limb leads placed at extremities")]
    )
    return item


def _rhythm_group(ecg: ECG) -> Dataset:
    counts = int16_counts(ecg.signal_mv, UV_PER_COUNT)  # (12, T)
    group = Dataset()
    group.MultiplexGroupTimeOffset = "0"
    group.WaveformOriginality = "ORIGINAL"
    group.NumberOfWaveformChannels = len(STANDARD_LEADS)
    group.NumberOfWaveformSamples = ecg.n_samples
    group.SamplingFrequency = f"{ecg.fs_hz:g}"
    group.MultiplexGroupLabel = "RHYTHM"
    group.ChannelDefinitionSequence = Sequence([_channel(name) for name in STANDARD_LEADS])
    group.WaveformBitsAllocated = 16
    group.WaveformSampleInterpretation = "SS"
    group.WaveformData = counts.T.astype("<i2").tobytes()  # multiplexed: all channels of sample 0, then 1, ...
    return group


def _channel(lead: str) -> Dataset:
    channel = Dataset()
    channel.ChannelSourceSequence = Sequence([_scpecg_code(*LEAD_CODES[lead])])
    channel.ChannelSensitivity = f"{UV_PER_COUNT:g}"
    channel.ChannelSensitivityUnitsSequence = Sequence([_code("uV", "UCUM", "1.4", "microvolt")])
    channel.ChannelSensitivityCorrectionFactor = "1"
    channel.ChannelBaseline = "0"
    channel.ChannelSampleSkew = "0"
    channel.WaveformBitsStored = 16
    return channel

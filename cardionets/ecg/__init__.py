"""Reading, cleaning, checking, measuring and plotting 12-lead ECGs.

    from cardionets import ecg
    record = ecg.load("patient.xml")            # any supported format -> canonical ECG (mV, 12 leads)
    report = ecg.check_quality(record)          # ok / warn / reject with plain-language findings
    numbers = ecg.measure(record)               # HR, PR, QRS, QT, QTc, axes, voltages
    x = ecg.model_view(record)                  # (12, 5000) float32: what every model sees
"""

from .errors import (
    CorruptFileError,
    ECGError,
    FileTooLargeError,
    MissingLeadsError,
    SignalError,
    UnsupportedFormatError,
)
from .leads import STANDARD_LEADS
from .load import MAX_FILE_BYTES, detect_format, load, load_upload
from .measure import MeasurementError, Measurements, measure
from .model_input import MODEL_DURATION_S, MODEL_FS_HZ, model_view
from .preprocess import DEFAULT_PREPROCESS, PreprocessConfig, preprocess
from .quality import QualityFinding, QualityReport, check_quality
from .record import ECG, MEASUREMENT_KEYS, ECGMetadata
from .resample import resample

__all__ = [
    "DEFAULT_PREPROCESS",
    "ECG",
    "MAX_FILE_BYTES",
    "MEASUREMENT_KEYS",
    "MODEL_DURATION_S",
    "MODEL_FS_HZ",
    "STANDARD_LEADS",
    "CorruptFileError",
    "ECGError",
    "ECGMetadata",
    "FileTooLargeError",
    "MeasurementError",
    "Measurements",
    "MissingLeadsError",
    "PreprocessConfig",
    "QualityFinding",
    "QualityReport",
    "SignalError",
    "UnsupportedFormatError",
    "check_quality",
    "detect_format",
    "load",
    "load_upload",
    "measure",
    "model_view",
    "preprocess",
    "resample",
]

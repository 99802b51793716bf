"""How much a reader may decode from one file, checked against what the file declares before allocating it.

A 64 MB upload can declare far more than it holds (a NumPy header's shape, a WFDB skew, a DICOM sample count) or
compress into gigabytes (a zip member, LZW). Each reader compares the declared size with these bounds first, so
a crafted file is refused in a millisecond instead of exhausting the server's memory.
"""

from __future__ import annotations

import warnings

import numpy as np

from ..errors import CorruptFileError, FileTooLargeError

# Sample values in one file, all leads together: 12 leads for 33 min at 1 kHz, or 2 h at 250 Hz (a resting ECG
# holds 60,000). As float64, 192 MB at most. Records over a minute are cropped to 10 s after reading anyway.
MAX_SAMPLE_VALUES = 24_000_000
# Text formats (XML, CSV) spend 5 to 10 bytes a sample and build a Python object per line or element: parsing
# 60 MB of them takes gigabytes. A resting ECG as text is under 5 MB (10 s, 16 leads, 1 kHz: about 1 MB).
MAX_TEXT_BYTES = 16 * 2**20


def check_sample_count(count: int, what: str) -> None:
    """Refuse a file whose declared samples exceed MAX_SAMPLE_VALUES, before anything that size exists."""
    if count > MAX_SAMPLE_VALUES:
        raise FileTooLargeError(
            f"{what} declares {count:,} samples, over the {MAX_SAMPLE_VALUES:,} CardioNets reads from one file (a "
            "resting 12-lead ECG has about 60,000). Export a 10 s recording.")


def check_text_size(data: bytes, what: str) -> None:
    if len(data) > MAX_TEXT_BYTES:
        raise FileTooLargeError(f"{what} is {len(data) / 2**20:.0f} MB; CardioNets reads text ECG files up to "
                                f"{MAX_TEXT_BYTES // 2**20} MB (a resting ECG is under 5). Export a 10 s recording.")


def numbers_in_text(text: str, dtype, what: str) -> np.ndarray:
    """The whitespace-separated numbers in ``text``, decoded without a Python object per number: splitting 20
    million digits into strings first takes over a gigabyte."""
    if not text.strip():
        return np.empty(0, dtype=dtype)
    with warnings.catch_warnings():
        # NumPy warns, and stops, where the text holds something that is not a number: a damaged file.
        warnings.simplefilter("error", DeprecationWarning)
        try:
            values = np.fromstring(text, dtype=np.float64, sep=" ")
        except (DeprecationWarning, ValueError) as error:
            raise CorruptFileError(f"{what} holds text that is not a number; the file is damaged.") from error
    check_sample_count(values.size, what)
    if np.issubdtype(dtype, np.integer):
        if not np.all(np.abs(values) < 2**53) or np.any(values != np.round(values)):  # False for NaN
            raise CorruptFileError(f"{what} holds a value that is not a whole number; the file is damaged.")
        return values.astype(dtype)
    return values.astype(dtype, copy=False)

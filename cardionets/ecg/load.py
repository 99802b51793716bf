"""`load`: any supported ECG file in, one canonical ECG out.

The format is detected from the content (magic bytes, XML root element, WFDB header grammar), not from the file
name, because files arrive renamed from PACS exports and browser uploads. Every failure inside a reader becomes
an :class:`ECGError` with a message a clinician can act on; no parser exception escapes.
"""

from __future__ import annotations

import importlib
import io
import os
import re
import zipfile
from pathlib import Path
from typing import BinaryIO, Union

from .errors import CorruptFileError, ECGError, FileTooLargeError, UnsupportedFormatError
from .readers import delimited_text
from .readers.base import to_canonical
from .readers.xml import xml_root_name
from .record import ECG
from .window import crop_long_record

# A 10 s 12-lead ECG is well under 1 MB in any format; 64 MB still admits a Holter-length WFDB record.
MAX_FILE_BYTES = 64 * 1024 * 1024

Source = Union[str, os.PathLike, bytes, BinaryIO]
WFDB_SIGNAL_SUFFIXES = (".dat", ".mat")  # a WFDB record's samples; its .hea says how to read them

# XML root element -> (format name, reader module). Readers are imported when a file of theirs arrives: pydicom,
# wfdb (with pandas and pyarrow) and pyedflib together take about a second to import, which every process
# reading one format (the app's reader worker above all) would otherwise pay at start.
_XML_READERS = {
    "RestingECG": ("ge_muse_xml", "ge_muse"),
    "restingecgdata": ("philips_xml", "philips"),
    "AnnotatedECG": ("hl7_aecg", "hl7_aecg"),
    "CardiologyXML": ("ukbiobank_xml", "ukbiobank"),
}
_WFDB_RECORD_LINE = re.compile(rb"^[\w\-./]+(?:/\d+)?\s+\d+\s+[\d.]+(?:/[\d.]+)?(?:\(\S+\))?\s+\d+", re.MULTILINE)


def detect_format(data: bytes, filename: str | None = None) -> str:
    """Name of the format of ``data``; raises UnsupportedFormatError when no reader recognises it."""
    if len(data) > 132 and data[128:132] == b"DICM":
        return "dicom"
    if data.startswith(b"\x93NUMPY"):
        return "numpy"
    if data.startswith(b"PK\x03\x04") and _is_npz(data):
        return "numpy"
    if data.startswith(b"0       ") and len(data) >= 256:
        return "edf"
    root = xml_root_name(data)
    if root is not None:
        if root in _XML_READERS:
            return _XML_READERS[root][0]
        raise UnsupportedFormatError(
            f"This XML file (root element <{root}>) is not an ECG format CardioNets reads. Supported XML: GE MUSE, "
            "Philips, HL7 aECG and UK Biobank CardioSoft."
        )
    if _looks_like_wfdb_header(data, filename):
        return "wfdb"
    if delimited_text.looks_like_table(data):
        return "csv"
    if filename and Path(filename).suffix.lower() in WFDB_SIGNAL_SUFFIXES:
        header = f"{Path(filename).stem}.hea"
        raise UnsupportedFormatError(
            f"{Path(filename).name} looks like the signal file of a WFDB record, which cannot be read without its "
            f"header: add {header} and upload both files together (select them at once).")
    raise UnsupportedFormatError(
        "This file is not an ECG format CardioNets reads. Supported: DICOM waveform, GE MUSE XML, Philips XML, "
        "HL7 aECG, UK Biobank XML, WFDB (.hea + .dat/.mat), EDF, CSV/TXT and NumPy .npy/.npz."
    )


def load(
    source: Source,
    *,
    filename: str | None = None,
    companion_files: dict[str, bytes] | None = None,
    units: str | None = None,
    fs_hz: float | None = None,
    max_bytes: int = MAX_FILE_BYTES,
) -> ECG:
    """Read an ECG from a path, bytes or binary file object.

    ``companion_files`` holds the other files of a multi-file record (a WFDB ``.dat`` uploaded next to its
    ``.hea``), keyed by file name. For a path to a ``.hea`` file they are found in the same folder. ``units`` and
    ``fs_hz`` supply what CSV and NumPy files may not store (amplitude units, sampling rate). Records longer than
    a minute are cropped to their cleanest 10 s.
    """
    data, filename, folder = _read_bytes(source, filename, max_bytes)
    try:
        fmt = detect_format(data, filename)
    except ECGError:
        raise
    except Exception as error:  # a crafted container can trip the sniffing itself (zipfile, found by fuzzing)
        raise CorruptFileError(f"This file could not be read; it is damaged or not an ECG ({_short(error)}).") \
            from error
    try:
        raw = _decode(fmt, data, filename, folder, companion_files or {}, max_bytes, fs_hz)
        ecg = to_canonical(raw, units=units)
    except ECGError:
        raise
    except (MemoryError, RecursionError) as error:
        raise FileTooLargeError(f"This {fmt} file is too large or too deeply nested to read safely.") from error
    except Exception as error:  # any parser failure on damaged input
        raise CorruptFileError(
            f"This file looks like {fmt} but could not be read; it may be damaged or truncated ({_short(error)})."
        ) from error
    return crop_long_record(ecg)


def _decode(fmt, data, filename, folder, companion_files, max_bytes, fs_hz):
    """Run the reader for ``fmt``; readers return the file's content, to_canonical makes it an ECG."""
    if fmt == "dicom":
        return _reader("dicom_waveform").read(data)
    if fmt == "numpy":
        return _reader("numpy_arrays").read(data, fs_hz)
    if fmt == "edf":
        return _reader("edf").read(data)
    if fmt == "wfdb":
        return _reader("wfdb_record").read(data, filename, folder, companion_files, max_bytes)
    if fmt == "csv":
        return delimited_text.read(data, fs_hz)
    for name, module in _XML_READERS.values():
        if name == fmt:
            return _reader(module).read(data)
    raise UnsupportedFormatError(f"No reader for format {fmt}.")


def _reader(module: str):
    return importlib.import_module(f".readers.{module}", __package__)


def _read_bytes(source: Source, filename: str | None, max_bytes: int) -> tuple[bytes, str | None, Path | None]:
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        folder = None
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise ECGError(f"No such ECG file: {path}")
        size = path.stat().st_size
        if size > max_bytes:
            raise FileTooLargeError(_too_large(size, max_bytes))
        data = path.read_bytes()
        filename = filename or path.name
        folder = path.parent
    else:
        data = source.read(max_bytes + 1)
        filename = filename or getattr(source, "name", None)
        folder = None
    if len(data) > max_bytes:
        raise FileTooLargeError(_too_large(len(data), max_bytes))
    if not data:
        raise CorruptFileError("The file is empty.")
    return data, filename, folder


def _too_large(size: int, max_bytes: int) -> str:
    return (
        f"The file is {size / 1e6:.1f} MB, above the {max_bytes / 1e6:.0f} MB limit. A resting 12-lead ECG is "
        "usually under 1 MB; export a 10 s recording."
    )


def _looks_like_wfdb_header(data: bytes, filename: str | None) -> bool:
    if filename and filename.lower().endswith(".hea"):
        return True
    try:
        head = data[:2048].decode("ascii")
    except UnicodeDecodeError:
        return False
    lines = [line for line in head.splitlines() if line.strip() and not line.startswith("#")]
    return bool(lines) and bool(_WFDB_RECORD_LINE.match(lines[0].encode())) and len(lines) > 1 and (
        re.search(r"\.(dat|mat)\s", lines[1] + " ") is not None
    )


def _is_npz(data: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, NotImplementedError, ValueError, OSError, EOFError):  # e.g. "zip file version 18.1"
        return False
    return bool(names) and all(name.endswith(".npy") for name in names)


def _short(error: Exception) -> str:
    text = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
    return text[:160]


def load_upload(files: dict[str, bytes], **options) -> ECG:
    """Load one ECG from a browser upload of one or more files (a WFDB record arrives as .hea plus .dat/.mat).

    The header is the primary file when present; every other file is offered to it as a companion.
    """
    if not files:
        raise ECGError("No file was uploaded.")
    headers = [name for name in files if name.lower().endswith(".hea")]
    if len(headers) > 1:
        raise ECGError("Upload one ECG at a time: several WFDB headers (.hea) were given.")
    if not headers and len(files) > 1:
        raise ECGError("Several files were uploaded; only a WFDB record (.hea with its .dat/.mat) spans several files.")
    primary = headers[0] if headers else next(iter(files))
    companions = {name: data for name, data in files.items() if name != primary}
    return load(files[primary], filename=primary, companion_files=companions, **options)

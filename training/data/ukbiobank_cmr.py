"""The two cines CardioNets uses, read from UK Biobank's CMR DICOM zips: the four-chamber long-axis cine (field
20208, long axis heart images) and a mid-ventricular short-axis cine (field 20209, short axis heart images).

Layout, as UK Biobank's cardiac pipeline reads it (Bai et al., github.com/baiwenjia/ukbb_cardiac,
``data/download_data_ukbb_general.py`` and ``data/biobank_utils.py``) and later pipelines built on it confirm:

* one zip per participant, field and imaging visit: ``<eid>_20208_2_0.zip`` and ``<eid>_20209_2_0.zip``;
* inside, one DICOM file per image and a manifest that names each file's series in a column spelt
  ``series discription``. The manifest is ``manifest.csv`` in some zips and ``manifest.cvs`` in others, and its
  date can hold an unquoted comma ("Aug 30, 2015") that shifts the columns after it;
* series descriptions ``CINE_segmented_LAX_2Ch``, ``_3Ch`` and ``_4Ch`` for the long-axis cines;
  ``CINE_segmented_SAX_b1`` ... ``_bN`` for the short-axis stack, one series per slice (rarely all slices in a
  single ``CINE_segmented_SAX`` series); and derived ``InlineVF`` series, which are not cines;
* a slice is occasionally acquired twice under one description; the later acquisition is kept, as the cardiac
  pipeline does;
* the frames of a cine (50 per cycle) are ordered by TriggerTime.

The mid-ventricular slice is the middle of the stack's slice positions (ImagePositionPatient along the slice
normal, else SliceLocation).
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from .cine import crop_to_field_of_view
from .convert import UnusableSubject

SHORT_AXIS = re.compile(r"CINE_segmented_SAX(_b\d+)?$", re.IGNORECASE)
NOT_CINES = re.compile(r"inline_?vf", re.IGNORECASE)  # derived results that reuse the cine's name
MANIFEST_NAMES = ("manifest.csv", "manifest.cvs")
DESCRIPTION_COLUMNS = ("series discription", "series description")  # UK Biobank's spelling first
COMMA_DATE = re.compile(r"\b([A-Z][a-z]{2}) (\d{1,2}), (\d{4})\b")  # "Aug 30, 2015"
POSITION_DECIMALS = 1  # slices closer than 0.1 mm are the same slice


@dataclass(frozen=True)
class DicomCine:
    """One cine series: frames in time order and the pixel spacing that places them."""

    frames: np.ndarray  # (T, rows, columns) float32 magnitude
    row_mm: float  # distance between rows (DICOM PixelSpacing[0])
    column_mm: float  # distance between columns (PixelSpacing[1])
    series: str

    def cropped(self) -> np.ndarray:
        """(T, 96, 96): the crop the models take (see training/data/cine.py)."""
        return crop_to_field_of_view(self.frames, self.row_mm, self.column_mm)


def four_chamber_cine(zip_path: Path) -> DicomCine:
    """The four-chamber cine of a long-axis zip (field 20208)."""
    with _open_zip(zip_path) as archive:
        chosen = _find_series(archive, zip_path, "four-chamber cine", _is_four_chamber)
        description = min(chosen)  # any stable choice; UK Biobank has one
        return _read_cine(archive, chosen[description], description)


def mid_short_axis_cine(zip_path: Path) -> DicomCine:
    """The cine of the middle slice of a short-axis stack (field 20209)."""
    with _open_zip(zip_path) as archive:
        stack = _find_series(archive, zip_path, "short-axis cine", _is_short_axis)
        slices = _slices_by_position(archive, stack)
        positions = sorted(slices)
        middle = positions[len(positions) // 2]
        return _read_cine(archive, slices[middle], f"short axis at {middle:g} mm ({len(positions)} slices)")


def _is_four_chamber(description: str) -> bool:
    lowered = description.lower()
    return "4ch" in lowered and "cine" in lowered and not NOT_CINES.search(description)


def _is_short_axis(description: str) -> bool:
    return bool(SHORT_AXIS.search(description)) and not NOT_CINES.search(description)


def _open_zip(zip_path: Path) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as error:
        raise UnusableSubject(f"{Path(zip_path).name} is not a readable zip ({error})") from error


def _find_series(archive: zipfile.ZipFile, zip_path: Path, what: str, wanted) -> dict[str, list[str]]:
    """Series description -> member names of the series ``wanted`` accepts. The manifest is tried first (no image
    need be opened); the DICOM headers themselves are the fallback when it is missing or garbled."""
    members = [name for name in archive.namelist() if not name.endswith("/")]
    manifests = [name for name in members if PurePosixPath(name).name.lower() in MANIFEST_NAMES]
    images = [name for name in members if name not in manifests]
    listed = _series_from_manifest(archive.read(manifests[0]), images) if manifests else {}
    chosen = {description: names for description, names in listed.items() if wanted(description)}
    if not chosen:
        listed = _series_from_headers(archive, images)
        chosen = {description: names for description, names in listed.items() if wanted(description)}
    if not chosen:
        raise UnusableSubject(f"{Path(zip_path).name} holds no {what}; its series are {sorted(listed)}")
    return chosen


def _series_from_manifest(data: bytes, images: list[str]) -> dict[str, list[str]]:
    reader = csv.DictReader(io.StringIO(COMMA_DATE.sub(r"\2-\1-\3", data.decode("latin-1"))))
    columns = {name.strip().lower(): name for name in reader.fieldnames or () if name}
    description = next((columns[c] for c in DESCRIPTION_COLUMNS if c in columns), None)
    if description is None or "filename" not in columns:
        return {}
    by_name = {PurePosixPath(name).name: name for name in images}
    series = defaultdict(list)
    for row in reader:
        member = by_name.get(str(row.get(columns["filename"]) or "").strip())
        if member is not None:
            series[str(row.get(description) or "").strip()].append(member)
    return dict(series)


def _series_from_headers(archive: zipfile.ZipFile, images: list[str]) -> dict[str, list[str]]:
    series = defaultdict(list)
    for name in images:
        try:
            description = str(_header(archive, name).get("SeriesDescription", ""))
        except InvalidDicomError:
            continue  # not an image (a stray text file)
        series[description].append(name)
    return dict(series)


def _slices_by_position(archive: zipfile.ZipFile, stack: dict[str, list[str]]) -> dict[float, list[str]]:
    """Slice position (mm along the slice normal) -> member names, reading as few headers as possible."""
    slices = defaultdict(list)
    for names in stack.values():
        first = _header(archive, names[0])
        frames_per_slice = int(first.get("CardiacNumberOfImages", 0) or 0)
        # A series per slice needs one header; a series holding several slices needs them all.
        holds_one_slice = 0 < len(names) <= frames_per_slice
        for name in names:
            header = first if holds_one_slice else _header(archive, name)
            slices[round(_slice_position_mm(header), POSITION_DECIMALS)].append(name)
    return dict(slices)


def _slice_position_mm(header: Dataset) -> float:
    position, orientation = header.get("ImagePositionPatient"), header.get("ImageOrientationPatient")
    if position is not None and orientation is not None and len(orientation) == 6:
        normal = np.cross(np.asarray(orientation[:3], dtype=float), np.asarray(orientation[3:], dtype=float))
        return float(np.dot(np.asarray(position, dtype=float), normal))
    if header.get("SliceLocation") is not None:
        return float(header.SliceLocation)
    raise UnusableSubject("a short-axis image states no slice position (ImagePositionPatient or SliceLocation)")


def _read_cine(archive: zipfile.ZipFile, names: list[str], series: str) -> DicomCine:
    images = [pydicom.dcmread(io.BytesIO(archive.read(name))) for name in names]
    # A repeated acquisition under the same description is a separate series; keep the later one.
    latest = max(_acquisition(image) for image in images)
    images = [image for image in images if _acquisition(image) == latest]
    images.sort(key=lambda image: (float(image.get("TriggerTime", 0) or 0), int(image.get("InstanceNumber", 0) or 0)))
    frames = [_magnitude(image) for image in images]
    if len(frames) < 2 or len({frame.shape for frame in frames}) != 1:
        raise UnusableSubject(f"{series}: {len(frames)} frames of sizes {sorted({f.shape for f in frames})}; "
                              "a cine needs two or more frames of one size")
    spacing = images[0].get("PixelSpacing")
    if spacing is None or len(spacing) != 2:
        raise UnusableSubject(f"{series}: no PixelSpacing, so the heart's size in the image is unknown")
    return DicomCine(np.stack(frames), float(spacing[0]), float(spacing[1]), series)


def _acquisition(image: Dataset) -> tuple[int, str]:
    return int(image.get("SeriesNumber", 0) or 0), str(image.get("SeriesInstanceUID", ""))


def _magnitude(image: Dataset) -> np.ndarray:
    slope = float(image.get("RescaleSlope", 1) or 1)
    intercept = float(image.get("RescaleIntercept", 0) or 0)
    return image.pixel_array.astype(np.float32) * slope + intercept


def _header(archive: zipfile.ZipFile, name: str) -> Dataset:
    with archive.open(name) as member:
        return pydicom.dcmread(member, stop_before_pixels=True)

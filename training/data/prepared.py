"""The prepared format every data source is converted to once, and that every training stage reads.

    DIR/schema.json     phenotype and label column names, cine frames and size, source description; written
                        last, so a folder without it is an unfinished conversion
    DIR/manifest.csv    subject_id, site, record_id (the source file or record the row came from), every
                        phenotype and label column, then the patient's age_years, male (1 / 0), height_cm and
                        weight_kg (empty = unknown; folders made before these columns read as unknown)
    DIR/ecg.npy         (N, 12, 5000) float16: `cardionets.ecg.model_view` of each ECG (500 Hz, 10 s, filtered)
    DIR/cine.npy        (N, 2, CINE_FRAMES, CINE_SIZE, CINE_SIZE) uint8, views (sax, 4ch); absent for ECG-only data
    DIR/masks.npy       (N, 2, CINE_FRAMES, CINE_SIZE, CINE_SIZE) uint8 label maps of those frames
                        (`cardionets.models.segmenter.CLASSES`); only where the source has them (the virtual cohort)

Converting once matters on a CPU: filtering and resampling an ECG costs milliseconds, and a cine must be
subsampled and resized; paying that every epoch would dominate training. Arrays are memory-mapped, so a
dataset larger than memory trains fine, and the writer streams examples to disk as they come, so one larger than
memory (MIMIC-IV-ECG's 800,000 ECGs are 96 GB as float16) converts fine too.
"""

from __future__ import annotations

import csv
import json
import struct
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pandas as pd
from scipy.ndimage import zoom

from cardionets.ecg import MODEL_FS_HZ
from cardionets.sim.diseases import DISEASES
from cardionets.sim.phenotypes import PHENOTYPE_COLUMNS

from .cine import CINE_FOV_MM

CINE_FRAMES = 16  # of the 50 acquired: enough for end-diastole, end-systole and the filling phases
CINE_SIZE = 64  # 96 x 96 crops resampled to 64 x 64: same field of view, 2.7 mm pixels
CINE_PIXEL_MM = CINE_FOV_MM / CINE_SIZE  # every prepared cine has this spacing, whatever its scanner's
VIEWS = ("sax", "4ch")
ECG_SAMPLES = int(MODEL_FS_HZ * 10)
LABEL_COLUMNS = tuple(f"label_{d}" for d in DISEASES)
ID_COLUMNS = ("subject_id", "site", "record_id")
PATIENT_COLUMNS = ("age_years", "male", "height_cm", "weight_kg")  # what the ECG file says of the patient
ECG_DTYPE = np.float16
# Bytes kept for the .npy header of a streamed array, rewritten with the final count when the array is complete.
# The NPY format (numpy.lib.format): magic b"\x93NUMPY", version 1.0, a little-endian uint16 header length, then a
# Python dict literal padded with spaces and ended by a newline; 128 bytes hold any (N, ...) shape and keep the
# data 64-byte aligned, as numpy's own writer does.
NPY_HEADER_BYTES = 128


@dataclass(frozen=True)
class Schema:
    phenotypes: tuple[str, ...] = PHENOTYPE_COLUMNS
    labels: tuple[str, ...] = LABEL_COLUMNS
    cine_frames: int = CINE_FRAMES
    cine_size: int = CINE_SIZE
    source: str = ""
    notes: dict = field(default_factory=dict)


def _model_frames(n_frames: int) -> np.ndarray:
    return np.linspace(0, n_frames, CINE_FRAMES, endpoint=False).astype(int)


def cine_for_model(cine: np.ndarray) -> np.ndarray:
    """(T, H, W) magnitude cine -> (CINE_FRAMES, CINE_SIZE, CINE_SIZE) uint8, scaled to its own 99.5th percentile.

    Per-cine scaling removes scanner gain, which differs between sites and carries no anatomy.
    """
    cine = np.asarray(cine, dtype=np.float32)
    picked = cine[_model_frames(cine.shape[0])]
    factor = CINE_SIZE / picked.shape[-1]
    resized = zoom(picked, (1.0, factor, factor), order=1)
    top = max(float(np.percentile(resized, 99.5)), 1e-6)
    return np.clip(resized / top * 255.0, 0, 255).astype(np.uint8)


def labels_for_model(labels: np.ndarray) -> np.ndarray:
    """(T, H, W) label maps -> (CINE_FRAMES, CINE_SIZE, CINE_SIZE) uint8: the frames `cine_for_model` keeps,
    resampled by nearest neighbour."""
    labels = np.asarray(labels, dtype=np.uint8)
    picked = labels[_model_frames(labels.shape[0])]
    factor = CINE_SIZE / picked.shape[-1]
    return zoom(picked, (1.0, factor, factor), order=0)


@dataclass(frozen=True)
class EncodedSubject:
    """One subject as the prepared arrays store it."""

    subject_id: str
    site: str
    record_id: str
    targets: dict
    ecg: np.ndarray  # (12, ECG_SAMPLES) ECG_DTYPE
    cine: np.ndarray | None  # (views, CINE_FRAMES, CINE_SIZE, CINE_SIZE) uint8, from cine_for_model
    masks: np.ndarray | None  # the same shape, from labels_for_model


def encode_subject(with_cine: bool, with_masks: bool, subject_id: str, site: str, ecg_view: np.ndarray,
                   targets: dict, cines: dict[str, np.ndarray] | None = None, record_id: str = "",
                   masks: dict[str, np.ndarray] | None = None) -> EncodedSubject:
    """A subject's arrays resized and typed for a prepared folder (see `PreparedWriter.add`)."""
    if ecg_view.shape != (12, ECG_SAMPLES):
        raise ValueError(f"expected a (12, {ECG_SAMPLES}) model view, got {ecg_view.shape}")
    cine = mask = None
    if with_cine:
        if cines is None:
            raise ValueError(f"{subject_id} has no cine, but this dataset stores cines")
        cine = np.stack([cine_for_model(cines[view]) for view in VIEWS])
    if with_masks:
        if masks is None:
            raise ValueError(f"{subject_id} has no label masks, but this dataset stores them")
        mask = np.stack([labels_for_model(masks[view]) for view in VIEWS])
    return EncodedSubject(subject_id, site, record_id, dict(targets), ecg_view.astype(ECG_DTYPE), cine, mask)


class PreparedWriter:
    """Streams examples into the prepared folder as they are added; `write` completes it."""

    def __init__(self, directory: Path, schema: Schema, with_cine: bool, with_masks: bool = False):
        if with_masks and not with_cine:
            raise ValueError("label masks are stored only alongside cines")
        self.directory, self.schema, self.with_cine, self.with_masks = Path(directory), schema, with_cine, with_masks
        self.count = 0
        self._columns = (*ID_COLUMNS, *schema.phenotypes, *schema.labels, *PATIENT_COLUMNS)
        # Opened on the first example, so that a run which adds none leaves nothing behind.
        self._open_files = ExitStack()
        self._arrays: dict[str, BinaryIO] = {}
        self._rows = None

    def add(self, subject_id: str, site: str, ecg_view: np.ndarray, targets: dict,
            cines: dict[str, np.ndarray] | None = None, record_id: str = "",
            masks: dict[str, np.ndarray] | None = None) -> None:
        """``ecg_view`` from `model_view`; ``targets`` maps phenotype/label columns to values (missing = unknown);
        ``cines`` and ``masks`` map each view to (T, H, W) frames and label maps."""
        self.append(encode_subject(self.with_cine, self.with_masks, subject_id, site, ecg_view, targets, cines,
                                   record_id, masks))

    def append(self, subject: EncodedSubject) -> None:
        """Store a subject `encode_subject` made (worker processes make them in parallel)."""
        if self._rows is None:
            self._start()
        row = {"subject_id": subject.subject_id, "site": subject.site, "record_id": subject.record_id}
        row.update({c: subject.targets.get(c, np.nan)
                    for c in (*self.schema.phenotypes, *self.schema.labels, *PATIENT_COLUMNS)})
        self._rows.writerow(["" if pd.isna(row[c]) else row[c] for c in self._columns])
        self._arrays["ecg"].write(subject.ecg.tobytes())
        if self.with_cine:
            self._arrays["cine"].write(subject.cine.tobytes())
        if self.with_masks:
            self._arrays["masks"].write(subject.masks.tobytes())
        self.count += 1

    def write(self) -> Path:
        if self._rows is None:
            raise ValueError(f"no examples were added, so {self.directory} was not written")
        self._finish_array("ecg", ECG_DTYPE, (12, ECG_SAMPLES))
        for name, stored in (("cine", self.with_cine), ("masks", self.with_masks)):
            if stored:  # cine_for_model, labels_for_model
                self._finish_array(name, np.uint8, (len(VIEWS), CINE_FRAMES, CINE_SIZE, CINE_SIZE))
        self._open_files.close()
        (self.directory / "schema.json").write_text(json.dumps(asdict(self.schema), indent=2))
        return self.directory

    def _start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / "schema.json").unlink(missing_ok=True)  # the folder is unfinished until write()
        for name in ("ecg", *(("cine",) if self.with_cine else ()), *(("masks",) if self.with_masks else ())):
            self._arrays[name] = self._keep_open(f"{name}.npy", "wb")
            self._arrays[name].write(b"\0" * NPY_HEADER_BYTES)  # placeholder until the count is known
        self._rows = csv.writer(self._keep_open("manifest.csv", "w"))
        self._rows.writerow(self._columns)

    def _keep_open(self, filename: str, mode: str):
        # Held open across add() calls and closed by write(), so no with-block can hold it.
        text = {} if "b" in mode else {"newline": ""}
        return self._open_files.enter_context(open(self.directory / filename, mode, **text))

    def _finish_array(self, name: str, dtype, item_shape: tuple[int, ...]) -> None:
        self._arrays[name].seek(0)
        self._arrays[name].write(_npy_header(dtype, (self.count, *item_shape)))


def _npy_header(dtype, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
    length = NPY_HEADER_BYTES - 10  # magic (6) + version (2) + length field (2)
    if len(text) >= length:
        raise ValueError(f"shape {shape} does not fit the reserved .npy header")
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", length) + (text.ljust(length - 1) + "\n").encode("latin1")


class PreparedDataset:
    """Read side: manifest, schema and memory-mapped arrays of a prepared folder."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        record = json.loads((self.directory / "schema.json").read_text())
        self.schema = Schema(**{k: tuple(v) if isinstance(v, list) else v for k, v in record.items()})
        self.manifest = pd.read_csv(self.directory / "manifest.csv")
        self.ecg = np.load(self.directory / "ecg.npy", mmap_mode="r", allow_pickle=False)
        self.cine = self._optional_array("cine.npy")
        self.masks = self._optional_array("masks.npy")

    def _optional_array(self, filename: str) -> np.ndarray | None:
        path = self.directory / filename
        return np.load(path, mmap_mode="r", allow_pickle=False) if path.exists() else None

    def __len__(self) -> int:
        return len(self.manifest)

    @property
    def phenotypes(self) -> np.ndarray:
        """(N, P) float32 in original units, NaN where unknown."""
        return self.manifest[list(self.schema.phenotypes)].to_numpy(dtype=np.float32)

    @property
    def labels(self) -> np.ndarray:
        """(N, D) float32 0/1, NaN where unknown."""
        return self.manifest[list(self.schema.labels)].to_numpy(dtype=np.float32)

    @property
    def patients(self) -> np.ndarray:
        """(N, len(PATIENT_COLUMNS)) float64, NaN where unknown."""
        return self.manifest.reindex(columns=list(PATIENT_COLUMNS)).to_numpy(dtype=np.float64)

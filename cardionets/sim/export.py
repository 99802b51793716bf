"""A simulated subject as the files a user would upload: the ECG as WFDB, DICOM waveform and GE MUSE XML, each cine
view as NIfTI (image and labels) and as an animated GIF.

Every file says it is synthetic where its format has room: a WFDB header comment, the DICOM patient name, the
NIfTI description and a label burned into each GIF frame.

NIfTI orientation: data are stored (W, H, 1, T), first index the image column (x), as DICOM-to-NIfTI converters
(dcm2niix, the UK Biobank cardiac pipeline) store a cine, so tools that take the first axis as x see the image as
it was rendered, and the affine's first two columns read like DICOM's row and column direction cosines. The affine
maps voxel indices to the simulator's heart frame in mm (not a patient RAS frame, hence "aligned" rather than
"scanner" codes): column steps along ``u_axis``, row steps along ``v_axis``, the slice normal is u x v
(right-handed), and the translation is the centre of pixel (row 0, column 0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import wfdb

from ..cmr.export import SYNTHETIC, as_uint8_with_slope, write_cine_gif, write_nifti_cine
from ..ecg import ECG, ECGMetadata
from ..ecg.writers import Recording, ge_muse, write_dicom_waveform
from ..ecg.writers.recording import int16_counts
from .cmr import ViewPlane
from .cohort import SimulatedSubject
from .sites import SITES

EXPORT_FORMATS = ("wfdb", "dicom", "muse", "nifti", "gif")

WFDB_UV_PER_COUNT = 5.0  # adc_gain 200 counts per mV; 16 bits then span +-164 mV, far beyond any ECG


# --- ECG -------------------------------------------------------------------------------------------------------


def write_wfdb(ecg: ECG, directory: Path, record_name: str) -> Path:
    """Write a PhysioNet WFDB record (16-bit, 5 uV per count, the ECG's own rate); returns the .hea path.

    Age and sex go in header comments as the PhysioNet Challenge records carry them, so readers find them.
    """
    directory.mkdir(parents=True, exist_ok=True)
    n_leads = len(ECG.leads)
    wfdb.wrsamp(
        record_name,
        fs=ecg.fs_hz,
        units=["mV"] * n_leads,
        sig_name=list(ECG.leads),
        d_signal=int16_counts(ecg.signal_mv, WFDB_UV_PER_COUNT).T.astype(np.int64),  # (T, 12)
        fmt=["16"] * n_leads,
        adc_gain=[1000.0 / WFDB_UV_PER_COUNT] * n_leads,
        baseline=[0] * n_leads,
        comments=_wfdb_comments(ecg.meta),
        write_dir=str(directory),
    )
    return directory / f"{record_name}.hea"


def _wfdb_comments(meta: ECGMetadata) -> list[str]:
    comments = []
    if meta.age_years is not None:
        comments.append(f"Age: {int(meta.age_years)}")
    if meta.sex is not None:
        comments.append(f"Sex: {'Male' if meta.sex == 'M' else 'Female'}")
    comments.append(f"Source: {SYNTHETIC} ECG from the CardioNets virtual cohort, not a patient recording")
    return comments


def write_muse_xml(ecg: ECG, path: Path) -> None:
    """GE MUSE XML with the demographics and device measurements ``ecg.meta`` carries."""
    path.write_bytes(ge_muse.write(Recording.from_ecg(ecg)))


def write_dicom(ecg: ECG, path: Path, subject_id: str | None = None) -> None:
    """DICOM 12-lead ECG waveform; a ``subject_id`` becomes the patient ID and a SYNTHETIC patient name."""
    patient = {"PatientID": subject_id, "PatientName": f"{SYNTHETIC}^{subject_id}"} if subject_id else None
    write_dicom_waveform(ecg, path, patient)


# --- CMR -------------------------------------------------------------------------------------------------------


def write_cine_nifti(
    image: np.ndarray, plane: ViewPlane, frame_duration_s: float, slice_mm: float, path: Path, description: str
) -> None:
    """One cine view, ``image`` (T, H, W) float, as a 4D NIfTI-1 (W, H, 1, T) placed in the heart frame.

    Stored as 8-bit with a scale factor (scl_slope) to keep the committed samples small. ``description`` says
    what the series is (subject, view); the stored description always begins SYNTHETIC.
    """
    stored, slope = as_uint8_with_slope(image)
    _check_plane(stored, plane)
    write_nifti_cine(stored, plane_affine(plane, slice_mm), plane.pixel_mm, slice_mm, frame_duration_s, path,
                     description, slope=slope)


def write_label_nifti(
    labels: np.ndarray, plane: ViewPlane, frame_duration_s: float, slice_mm: float, path: Path, description: str
) -> None:
    """The cine's label maps (T, H, W) (0 background, 1 LV pool, 2 LV myocardium, 3 RV, 4 LA, 5 RA) as uint8,
    with the image's affine so they overlay it voxel for voxel."""
    labels = np.asarray(labels)
    if labels.dtype != np.uint8:
        raise ValueError(f"label maps must be uint8, got {labels.dtype}")
    _check_plane(labels, plane)
    write_nifti_cine(labels, plane_affine(plane, slice_mm), plane.pixel_mm, slice_mm, frame_duration_s, path,
                     description, intent="label")


def _check_plane(frames: np.ndarray, plane: ViewPlane) -> None:
    if frames.ndim != 3 or frames.shape[1:] != (plane.size, plane.size):
        raise ValueError(f"expected (T, {plane.size}, {plane.size}) frames for this plane, got {frames.shape}")


def plane_affine(plane: ViewPlane, slice_mm: float) -> np.ndarray:
    """(4, 4) voxel (column, row, slice) -> heart-frame mm; the translation is the centre of pixel (0, 0)."""
    affine = np.eye(4)
    affine[:3, 0] = plane.u_axis * plane.pixel_mm
    affine[:3, 1] = plane.v_axis * plane.pixel_mm
    affine[:3, 2] = np.cross(plane.u_axis, plane.v_axis) * slice_mm
    affine[:3, 3] = plane.points()[0, 0]
    return affine


# --- one subject -----------------------------------------------------------------------------------------------


def export_subject(
    subject: SimulatedSubject, directory: Path, formats: tuple[str, ...] = EXPORT_FORMATS
) -> dict[str, Path]:
    """Write ``subject`` in each of ``formats`` into ``directory``; returns the paths by role.

    The ECG is the one the site's cart stored (its own rate). Roles: "wfdb" (the .hea), "dicom", "muse", and per
    cine view "nifti_<view>", "nifti_labels_<view>", "gif_<view>".
    """
    unknown = sorted(set(formats) - set(EXPORT_FORMATS))
    if unknown:
        raise ValueError(f"unknown export formats {unknown}; choose from {EXPORT_FORMATS}")
    directory.mkdir(parents=True, exist_ok=True)
    subject_id = subject.row["subject_id"]
    ecg = subject.device_ecg
    files: dict[str, Path] = {}
    if "wfdb" in formats:
        files["wfdb"] = write_wfdb(ecg, directory, f"{subject_id}_ecg")
    if "dicom" in formats:
        files["dicom"] = directory / f"{subject_id}_ecg.dcm"
        write_dicom(ecg, files["dicom"], subject_id)
    if "muse" in formats:
        files["muse"] = directory / f"{subject_id}_ecg_muse.xml"
        write_muse_xml(ecg, files["muse"])
    slice_mm = SITES[subject.row["site"]].scanner.slice_mm
    frame_duration_s = 60.0 / subject.row["hr_bpm"] / subject.geometry.spec.n_frames
    for view, (image, labels) in subject.cines.items():
        plane, prefix = subject.planes[view], f"{subject_id}_{view}"
        if "nifti" in formats:
            description = f"cine CMR {view}, CardioNets virtual subject {subject_id}"
            files[f"nifti_{view}"] = directory / f"{prefix}_cine.nii.gz"
            write_cine_nifti(image, plane, frame_duration_s, slice_mm, files[f"nifti_{view}"], description)
            files[f"nifti_labels_{view}"] = directory / f"{prefix}_labels.nii.gz"
            write_label_nifti(labels, plane, frame_duration_s, slice_mm, files[f"nifti_labels_{view}"], description)
        if "gif" in formats:
            files[f"gif_{view}"] = directory / f"{prefix}_cine.gif"
            write_cine_gif(image, files[f"gif_{view}"], fps=1.0 / frame_duration_s)
    return files

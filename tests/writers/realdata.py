"""Virtual subjects written in the real layouts of the data sources training takes, so that each adapter in
training/data/ is tested on files shaped like the real ones. The layouts and their sources are described in the
adapter modules; everything written here is simulated and says so where the format has room.

    subjects = simulate(4)
    ukb = write_ukbiobank(subjects, tmp / "ukb")     # ECG XML, CMR DICOM zips, phenotype extract, labels
    mimic = write_mimic(subjects, tmp / "mimic")     # record_list.csv and files/pNNNN/pN/sN/N.hea|.dat, labels
    csv_path = write_manifest(subjects, tmp / "own") # ECG files, NIfTI cines and the manifest CSV
"""

from __future__ import annotations

import dataclasses
import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pydicom
import wfdb
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, MRImageStorage, generate_uid

from cardionets.ecg.writers.recording import EXAMPLE_MEASUREMENTS, Recording, int16_counts
from cardionets.sim.cmr import ViewPlane
from cardionets.sim.cohort import CohortConfig, SimulatedSubject, simulate_subject
from cardionets.sim.export import SYNTHETIC, export_subject
from cardionets.sim.phenotypes import PHENOTYPE_COLUMNS, STRAIN_COLUMNS, THICKNESS_COLUMNS, VOLUME_COLUMNS
from training.data.prepared import LABEL_COLUMNS

from . import ukbiobank

# UK Biobank-like sites: 500 Hz carts and 1.8 mm cine pixels, so a real-layout cine cropped back to 172.8 mm is
# the simulated crop pixel for pixel.
FIXTURE_SITES = ("cheadle", "newcastle")
CANVAS = (208, 176)  # rows, columns of a written CMR image: the 96 x 96 heart crop sits at its centre
MAGNITUDE_SCALE = 1000.0  # simulated magnitude (~0-1.4) -> 12-bit stored values
SAX_SLICE_GAP_MM = 10.0
SAX_SLICES = 5  # b1..b5; b3 holds the simulated mid-ventricular cine, the others a mirrored decoy
MIMIC_LEADS = ("I", "II", "III", "aVR", "aVF", "aVL", "V1", "V2", "V3", "V4", "V5", "V6")  # MIMIC-IV-ECG's order
WFDB_UV_PER_COUNT = 5.0


def simulate(n: int, seed: int = 7, n_frames: int = 20) -> list[SimulatedSubject]:
    config = CohortConfig(seed=seed, n_frames=n_frames, sites=FIXTURE_SITES)
    return [simulate_subject(index, config) for index in range(n)]


def targets(subject: SimulatedSubject) -> dict[str, float]:
    """The subject's ground-truth phenotypes and labels, by the prepared format's column names."""
    return {column: subject.row[column] for column in (*PHENOTYPE_COLUMNS, *LABEL_COLUMNS)}


# --- UK Biobank -------------------------------------------------------------------------------------------------

# Fields 24100-24181 follow the Showcase's order: the 18 chamber measures (LV end diastolic volume ... RA ejection
# fraction, the order of our VOLUME_COLUMNS), 6 aortic measures, then AHA segments 1-16 and global for wall
# thickness (24124-24140), circumferential strain (24141-24157), radial and longitudinal strain. Built from that
# order, independently of the adapter's table, so that the round trip tests the table.
SHOWCASE_FIELDS = {
    **{24100 + i: column for i, column in enumerate(VOLUME_COLUMNS)},
    **{24124 + i: column for i, column in enumerate(THICKNESS_COLUMNS)},
    **{24141 + i: column for i, column in enumerate(STRAIN_COLUMNS)},
}


@dataclass(frozen=True)
class UkbTree:
    root: Path
    phenotypes_csv: Path
    labels_csv: Path
    eids: list[str]  # in subject order

    def file(self, eid: str, field: int) -> Path:
        suffix = "xml" if field == 20205 else "zip"
        return self.root / str(field) / f"{eid}_{field}_2_0.{suffix}"


def centre_code(site: str) -> int:
    return 11000 + FIXTURE_SITES.index(site)  # a stand-in for field 54's coding


def write_ukbiobank(subjects: list[SimulatedSubject], root: Path) -> UkbTree:
    """Bulk files in one folder per field, an extract with fields 24100-24181 and 54, and a labels CSV."""
    eids = [str(1000001 + index) for index in range(len(subjects))]
    extract, labels = [], []
    for eid, subject in zip(eids, subjects, strict=True):
        _write(root / "20205" / f"{eid}_20205_2_0.xml", ukbiobank.write(_recording(subject)))
        _write(root / "20208" / f"{eid}_20208_2_0.zip", _long_axis_zip(subject, eid))
        # Some UK Biobank zips name their manifest manifest.cvs; every other subject here does.
        manifest_name = "manifest.cvs" if int(eid) % 2 else "manifest.csv"
        _write(root / "20209" / f"{eid}_20209_2_0.zip", _short_axis_zip(subject, eid, manifest_name))
        fields = {f"{field}-2.0": subject.row[SHOWCASE_FIELDS[field]] if field in SHOWCASE_FIELDS else np.nan
                  for field in range(24100, 24182)}  # the aortic and radial/longitudinal strain fields left empty
        extract.append({"eid": eid, "31-0.0": int(subject.row["sex"] == "M"),
                        "54-2.0": centre_code(subject.row["site"]), **fields})
        labels.append({"eid": eid, **{column: subject.row[column] for column in LABEL_COLUMNS}})
    tree = UkbTree(root, root / "ukb_extract.csv", root / "labels.csv", eids)
    pd.DataFrame(extract).to_csv(tree.phenotypes_csv, index=False)
    pd.DataFrame(labels).to_csv(tree.labels_csv, index=False)
    return tree


def _recording(subject: SimulatedSubject) -> Recording:
    # CardioSoft files always carry the cart's measurements and statements; the simulator has none to give.
    return dataclasses.replace(Recording.from_ecg(subject.device_ecg), measurements=dict(EXAMPLE_MEASUREMENTS),
                               interpretation=[f"{SYNTHETIC} ECG from the CardioNets virtual cohort"])


def _long_axis_zip(subject: SimulatedSubject, eid: str) -> bytes:
    image, plane = subject.cines["4ch"][0], subject.planes["4ch"]
    decoy = image[:, ::-1, :]  # the 2- and 3-chamber series: anything but the four-chamber image
    series = [
        _Series("CINE_segmented_LAX_2Ch", 1, decoy, plane, 0.0),
        _Series("CINE_segmented_LAX_3Ch", 2, decoy, plane, 0.0),
        _Series("CINE_segmented_LAX_4Ch", 3, image, plane, 0.0),
    ]
    return _zip(series, subject, eid, "manifest.csv")


def _short_axis_zip(subject: SimulatedSubject, eid: str, manifest_name: str) -> bytes:
    image, plane = subject.cines["sax"][0], subject.planes["sax"]
    middle = SAX_SLICES // 2
    series = [
        _Series(f"CINE_segmented_SAX_b{b + 1}", 10 + b, image if b == middle else image[:, ::-1, :], plane,
                (middle - b) * SAX_SLICE_GAP_MM)
        for b in range(SAX_SLICES)
    ]
    # The mid slice acquired twice: the earlier series (a mirrored decoy) must give way to the later one.
    series.append(dataclasses.replace(series[middle], number=5, image=image[:, :, ::-1]))
    return _zip(series, subject, eid, manifest_name)


@dataclass(frozen=True)
class _Series:
    description: str
    number: int
    image: np.ndarray  # (T, 96, 96) magnitude
    plane: ViewPlane
    offset_mm: float  # along the plane normal


def _zip(series: list[_Series], subject: SimulatedSubject, eid: str, manifest_name: str) -> bytes:
    study, frame_of_reference = generate_uid(), generate_uid()
    rr_ms = 60000.0 / subject.row["hr_bpm"]
    files, manifest = {}, ["filename,patientid,date,seriesid,series discription"]
    for item in series:
        uid = generate_uid()
        for frame in reversed(range(item.image.shape[0])):  # stored out of order: readers must sort by time
            name = f"{uid}.{frame + 1}.dcm"
            files[name] = _mr_image(item, frame, rr_ms, eid, study, uid, frame_of_reference)
            # The date's unquoted comma is a real manifest quirk that shifts the columns after it.
            manifest.append(f"{name},{eid},Aug 30, 2015,{uid},{item.description}")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(manifest_name, "\n".join(manifest) + "\n")
        for name, data in files.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def _mr_image(item: _Series, frame: int, rr_ms: float, eid: str, study: str, series: str,
              frame_of_reference: str) -> bytes:
    n_frames = item.image.shape[0]
    plane = item.plane
    top, left = (CANVAS[0] - plane.size) // 2, (CANVAS[1] - plane.size) // 2
    canvas = np.zeros(CANVAS, dtype=np.uint16)
    canvas[top:top + plane.size, left:left + plane.size] = np.clip(
        np.round(item.image[frame] * MAGNITUDE_SCALE), 0, 4095).astype(np.uint16)
    normal = np.cross(plane.u_axis, plane.v_axis)
    corner = (plane.points()[0, 0] - (top * plane.v_axis + left * plane.u_axis) * plane.pixel_mm
              + normal * item.offset_mm)

    image = Dataset()
    image.file_meta = FileMetaDataset()
    image.file_meta.MediaStorageSOPClassUID = MRImageStorage
    image.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    image.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    image.SOPClassUID, image.SOPInstanceUID = MRImageStorage, image.file_meta.MediaStorageSOPInstanceUID
    image.Modality = "MR"
    image.PatientID, image.PatientName = eid, f"{SYNTHETIC}^{eid}"
    image.StudyInstanceUID, image.SeriesInstanceUID, image.FrameOfReferenceUID = study, series, frame_of_reference
    image.SeriesDescription, image.SeriesNumber, image.InstanceNumber = item.description, item.number, frame + 1
    image.TriggerTime = f"{frame * rr_ms / n_frames:.2f}"
    image.CardiacNumberOfImages = n_frames
    image.ImageOrientationPatient = [f"{v:.6f}" for v in (*plane.u_axis, *plane.v_axis)]
    image.ImagePositionPatient = [f"{v:.4f}" for v in corner]
    image.SliceLocation = f"{float(np.dot(corner, normal)):.4f}"
    image.SliceThickness = "8"
    image.PixelSpacing = [f"{plane.pixel_mm:g}", f"{plane.pixel_mm:g}"]
    image.Rows, image.Columns = CANVAS
    image.SamplesPerPixel, image.PhotometricInterpretation = 1, "MONOCHROME2"
    image.BitsAllocated, image.BitsStored, image.HighBit, image.PixelRepresentation = 16, 12, 11, 0
    image.PixelData = canvas.tobytes()
    buffer = io.BytesIO()
    pydicom.dcmwrite(buffer, image, enforce_file_format=True)
    return buffer.getvalue()


# --- MIMIC-IV-ECG -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MimicTree:
    root: Path
    labels_csv: Path
    subject_ids: list[str]  # in subject order
    study_ids: list[str]

    def record(self, index: int) -> Path:
        """The record's path without extension."""
        subject, study = self.subject_ids[index], self.study_ids[index]
        return self.root / "files" / f"p{subject[:4]}" / f"p{subject}" / f"s{study}" / study


def write_mimic(subjects: list[SimulatedSubject], root: Path) -> MimicTree:
    """WFDB records in MIMIC-IV-ECG's folders and lead order, record_list.csv, and labels by study_id."""
    tree = MimicTree(root, root / "labels.csv", [str(10000032 + 1117 * i) for i in range(len(subjects))],
                     [str(40689238 + 31 * i) for i in range(len(subjects))])
    listing, labels = [], []
    for index, subject in enumerate(subjects):
        record = tree.record(index)
        record.parent.mkdir(parents=True, exist_ok=True)
        order = [subject.ecg.leads.index(name) for name in MIMIC_LEADS]
        wfdb.wrsamp(record.name, fs=subject.ecg.fs_hz, units=["mV"] * 12, sig_name=list(MIMIC_LEADS),
                    d_signal=int16_counts(subject.ecg.signal_mv[order], WFDB_UV_PER_COUNT).T.astype(np.int64),
                    fmt=["16"] * 12, adc_gain=[1000.0 / WFDB_UV_PER_COUNT] * 12, baseline=[0] * 12,
                    comments=[f"{SYNTHETIC} ECG from the CardioNets virtual cohort"], write_dir=str(record.parent))
        listing.append({"subject_id": tree.subject_ids[index], "study_id": tree.study_ids[index],
                        "file_name": tree.study_ids[index], "ecg_time": f"2180-07-{10 + index:02d} 08:44:00",
                        "path": str(record.relative_to(root))})
        labels.append({"study_id": tree.study_ids[index], **{c: subject.row[c] for c in LABEL_COLUMNS}})
    pd.DataFrame(listing).to_csv(root / "record_list.csv", index=False)
    pd.DataFrame(labels).to_csv(tree.labels_csv, index=False)
    return tree


# --- a researcher's own manifest --------------------------------------------------------------------------------

MANIFEST_ECG_FORMATS = ("wfdb", "dicom", "muse")  # rotated, so the manifest exercises several readers


def write_manifest(subjects: list[SimulatedSubject], root: Path) -> Path:
    """Each subject exported as an ECG file and NIfTI cines, listed with its targets in ``root/manifest.csv``."""
    rows = []
    for index, subject in enumerate(subjects):
        subject_id = subject.row["subject_id"]
        ecg_format = MANIFEST_ECG_FORMATS[index % len(MANIFEST_ECG_FORMATS)]
        files = export_subject(subject, root / subject_id, formats=(ecg_format, "nifti"))
        rows.append({"subject_id": subject_id, "site": subject.row["site"],
                     "ecg_path": str(files[ecg_format].relative_to(root)),
                     "sax_cine_path": str(files["nifti_sax"].relative_to(root)),
                     "4ch_cine_path": str(files["nifti_4ch"].relative_to(root)), **targets(subject)})
    path = root / "manifest.csv"
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)

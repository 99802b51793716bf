"""Exporting a virtual subject as the files a user would upload.

ECG exports are read back through ``cardionets.ecg.load``, the path an upload takes, for the real Mortara ECG and
a simulated one; cine exports are opened with nibabel and Pillow, as a viewer would open them.
"""

from __future__ import annotations

import dataclasses

import nibabel as nib
import numpy as np
import pydicom
import pytest
from PIL import Image

from cardionets.ecg import ECG, load
from cardionets.ecg.writers import dicom_waveform, ge_muse
from cardionets.sim.cmr import ViewPlane
from cardionets.sim.cohort import CohortConfig, simulate_subject
from cardionets.sim.export import (
    EXPORT_FORMATS,
    WFDB_UV_PER_COUNT,
    export_subject,
    write_cine_gif,
    write_cine_nifti,
    write_dicom,
    write_label_nifti,
    write_muse_xml,
    write_wfdb,
)

FLOAT32_SLACK_MV = 1e-5
N_FRAMES = 6
FRAME_DURATION_S = 0.02
SLICE_MM = 8.0


@pytest.fixture(scope="module")
def subject():
    return simulate_subject(0, CohortConfig(seed=7, n_frames=N_FRAMES))


@pytest.fixture(params=["mortara", "simulated"])
def source_ecg(request, mortara_ecg, subject) -> ECG:
    return mortara_ecg if request.param == "mortara" else subject.device_ecg


@pytest.fixture(scope="module")
def oblique_plane() -> ViewPlane:
    """A plane tilted about two axes, so a swapped or mis-signed axis in the affine cannot pass unnoticed."""
    u = np.array([np.cos(0.4), np.sin(0.4), 0.0])
    v = np.cross(np.array([0.3, -0.2, 1.0]) / np.linalg.norm([0.3, -0.2, 1.0]), u)
    v /= np.linalg.norm(v)
    return ViewPlane("oblique", np.array([5.0, -12.0, -40.0]), u, v, pixel_mm=1.7)


@pytest.fixture(scope="module")
def cine() -> np.ndarray:
    return np.random.default_rng(0).uniform(0.0, 1.3, size=(N_FRAMES, 96, 96)).astype(np.float32)


def max_error_mv(read: ECG, written: ECG) -> float:
    return float(np.abs(read.signal_mv - written.signal_mv).max())


# --- ECG --------------------------------------------------------------------------------------------------------


def test_wfdb_export_reads_back_the_same_signal_rate_and_demographics(source_ecg, tmp_path):
    header = write_wfdb(source_ecg, tmp_path, "export")
    ecg = load(header)
    assert header.name == "export.hea"
    assert ecg.fs_hz == source_ecg.fs_hz
    assert max_error_mv(ecg, source_ecg) <= WFDB_UV_PER_COUNT / 2 / 1000 + FLOAT32_SLACK_MV
    assert (ecg.meta.age_years, ecg.meta.sex) == (int(source_ecg.meta.age_years), source_ecg.meta.sex)


def test_dicom_export_reads_back_within_half_a_count(source_ecg, tmp_path):
    write_dicom(source_ecg, tmp_path / "ecg.dcm")
    ecg = load(tmp_path / "ecg.dcm")
    assert ecg.meta.source_format == "dicom"
    assert len(ecg.meta.original_leads) == 12 and ecg.meta.derived_leads == ()
    assert ecg.fs_hz == source_ecg.fs_hz
    assert max_error_mv(ecg, source_ecg) <= dicom_waveform.UV_PER_COUNT / 2 / 1000 + FLOAT32_SLACK_MV
    assert (ecg.meta.age_years, ecg.meta.sex) == (int(source_ecg.meta.age_years), source_ecg.meta.sex)


def test_dicom_export_codes_its_channels_as_the_mortara_cart_does(mortara_path, mortara_ecg, tmp_path):
    write_dicom(mortara_ecg, tmp_path / "ecg.dcm", subject_id="S007-000000")
    ours, cart = pydicom.dcmread(tmp_path / "ecg.dcm"), pydicom.dcmread(mortara_path)

    def channel_codes(dataset):
        return [
            (source.CodeValue, source.CodingSchemeDesignator, source.CodeMeaning)
            for channel in dataset.WaveformSequence[0].ChannelDefinitionSequence
            for source in channel.ChannelSourceSequence
        ]

    assert ours.SOPClassUID == cart.SOPClassUID == pydicom.uid.TwelveLeadECGWaveformStorage
    assert ours.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert channel_codes(ours) == channel_codes(cart)
    units = ours.WaveformSequence[0].ChannelDefinitionSequence[0].ChannelSensitivityUnitsSequence[0]
    assert (units.CodeValue, units.CodingSchemeDesignator) == ("uV", "UCUM")
    assert (ours.PatientID, str(ours.PatientName)) == ("S007-000000", "SYNTHETIC^S007-000000")


def test_dicom_exports_get_fresh_uids(mortara_ecg, tmp_path):
    write_dicom(mortara_ecg, tmp_path / "a.dcm")
    write_dicom(mortara_ecg, tmp_path / "b.dcm")
    first, second = pydicom.dcmread(tmp_path / "a.dcm"), pydicom.dcmread(tmp_path / "b.dcm")
    assert first.SOPInstanceUID != second.SOPInstanceUID
    assert first.StudyInstanceUID != second.StudyInstanceUID


def test_dicom_export_is_read_to_the_same_samples_by_ecgdatakit(mortara_ecg, tmp_path):
    parsing = pytest.importorskip("ecgdatakit.parsing")
    write_dicom(mortara_ecg, tmp_path / "ecg.dcm")
    record = parsing.FileParser.parse(tmp_path / "ecg.dcm", units="uV")
    theirs = np.stack([np.asarray(lead.samples) for lead in record.leads]) / 1000
    np.testing.assert_allclose(theirs, load(tmp_path / "ecg.dcm").signal_mv, rtol=0, atol=FLOAT32_SLACK_MV)


def test_dicom_export_refuses_a_rate_the_12_lead_object_cannot_hold(mortara_ecg, tmp_path):
    too_fast = mortara_ecg.with_signal(mortara_ecg.signal_mv, fs_hz=2000)
    with pytest.raises(ValueError, match="200-1000 Hz"):
        write_dicom(too_fast, tmp_path / "ecg.dcm")


def test_muse_export_reads_back_its_8_stored_leads_as_12_within_a_count(source_ecg, tmp_path):
    write_muse_xml(source_ecg, tmp_path / "ecg.xml")
    ecg = load(tmp_path / "ecg.xml")
    assert ecg.meta.source_format == "ge_muse_xml"
    assert set(ecg.meta.original_leads) == set(ge_muse.STORED_LEADS)
    assert set(ecg.meta.derived_leads) == {"III", "aVR", "aVL", "aVF"}
    assert max_error_mv(ecg, source_ecg) <= ge_muse.UV_PER_COUNT / 1000 + FLOAT32_SLACK_MV
    assert (ecg.meta.age_years, ecg.meta.sex) == (int(source_ecg.meta.age_years), source_ecg.meta.sex)


def test_muse_export_leaves_out_demographics_the_ecg_does_not_know(mortara_ecg, tmp_path):
    anonymous = ECG(mortara_ecg.signal_mv, mortara_ecg.fs_hz, dataclasses.replace(mortara_ecg.meta, age_years=None))
    write_muse_xml(anonymous, tmp_path / "ecg.xml")
    assert load(tmp_path / "ecg.xml").meta.age_years is None


# --- CMR --------------------------------------------------------------------------------------------------------


def test_cine_nifti_has_column_row_slice_time_shape_and_spacing(cine, oblique_plane, tmp_path):
    write_cine_nifti(cine, oblique_plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "cine.nii.gz", "sax")
    nifti = nib.load(tmp_path / "cine.nii.gz")
    assert nifti.shape == (96, 96, 1, N_FRAMES)
    np.testing.assert_allclose(nifti.header.get_zooms(), (1.7, 1.7, SLICE_MM, FRAME_DURATION_S), rtol=1e-6)
    assert nifti.header.get_xyzt_units() == ("mm", "sec")


def test_cine_nifti_voxel_column_row_holds_the_image_pixel_row_column(cine, oblique_plane, tmp_path):
    write_cine_nifti(cine, oblique_plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "cine.nii.gz", "sax")
    volume = nib.load(tmp_path / "cine.nii.gz").get_fdata()  # 8-bit on disk, scaled back by scl_slope
    quantum = cine.max() / 255
    assert abs(volume[10, 3, 0, 2] - cine[2, 3, 10]) <= quantum / 2 + 1e-6
    np.testing.assert_allclose(volume[:, :, 0, :].transpose(2, 1, 0), cine, atol=quantum / 2 + 1e-6)


def test_cine_nifti_affine_places_pixels_at_their_heart_frame_positions(cine, oblique_plane, tmp_path):
    write_cine_nifti(cine, oblique_plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "cine.nii.gz", "sax")
    nifti = nib.load(tmp_path / "cine.nii.gz")
    centres = oblique_plane.points()  # (row, col, xyz)
    for affine in (nifti.affine, nifti.get_sform(), nifti.get_qform()):
        np.testing.assert_allclose(affine[:3, 3], centres[0, 0], atol=1e-4)
        np.testing.assert_allclose(affine[:3, 0], oblique_plane.u_axis * 1.7, atol=1e-5)
        np.testing.assert_allclose(affine[:3, 1], oblique_plane.v_axis * 1.7, atol=1e-5)
        np.testing.assert_allclose(affine[:3, 2], np.cross(oblique_plane.u_axis, oblique_plane.v_axis) * SLICE_MM,
                                   atol=1e-5)
        np.testing.assert_allclose(nib.affines.apply_affine(affine, [40, 70, 0]), centres[70, 40], atol=1e-4)


def test_cine_nifti_description_marks_the_data_synthetic(cine, oblique_plane, tmp_path):
    write_cine_nifti(cine, oblique_plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "cine.nii.gz", "S1 sax")
    assert nib.load(tmp_path / "cine.nii.gz").header["descrip"].item().decode() == "SYNTHETIC S1 sax"


def test_cine_nifti_refuses_a_description_longer_than_the_header_holds(cine, oblique_plane, tmp_path):
    with pytest.raises(ValueError, match="79"):
        write_cine_nifti(cine, oblique_plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "cine.nii.gz", "x" * 80)


def test_label_nifti_holds_uint8_labels_0_to_5_on_the_image_grid(subject, tmp_path):
    labels, plane = subject.cines["sax"][1], subject.planes["sax"]
    write_label_nifti(labels, plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "labels.nii.gz", "sax labels")
    write_cine_nifti(subject.cines["sax"][0], plane, FRAME_DURATION_S, SLICE_MM, tmp_path / "cine.nii.gz", "sax")
    nifti = nib.load(tmp_path / "labels.nii.gz")
    assert nifti.get_data_dtype() == np.uint8
    assert set(np.unique(np.asarray(nifti.dataobj))) <= set(range(6))
    assert nifti.header.get_intent()[0] == "label"
    np.testing.assert_array_equal(nifti.affine, nib.load(tmp_path / "cine.nii.gz").affine)


def test_cine_gif_has_every_frame_and_loops_forever(cine, tmp_path):
    write_cine_gif(cine, tmp_path / "cine.gif", fps=25)
    gif = Image.open(tmp_path / "cine.gif")
    assert (gif.n_frames, gif.info["loop"], gif.info["duration"]) == (N_FRAMES, 0, 40)


@pytest.mark.parametrize(("background", "label_shade"), [(0.0, "white"), (1.0, "black")])
def test_cine_gif_burns_a_readable_label_into_the_top_left_of_every_frame(background, label_shade, tmp_path):
    # On a uniform cine, pixels of the other shade can only be the label's text (white) or its outline (black).
    write_cine_gif(np.full((3, 96, 96), background, np.float32), tmp_path / "cine.gif", fps=25)
    gif = Image.open(tmp_path / "cine.gif")
    for index in range(gif.n_frames):
        gif.seek(index)
        frame = np.asarray(gif.convert("L"))
        label = frame > 200 if label_shade == "white" else frame < 55
        rows, columns = np.nonzero(label)
        assert rows.size > 50, f"frame {index} has no label"
        assert rows.max() < frame.shape[0] // 4 and columns.max() < frame.shape[1] // 2


# --- one subject ------------------------------------------------------------------------------------------------


def test_export_subject_writes_every_format_a_user_would_upload(subject, tmp_path):
    files = export_subject(subject, tmp_path)
    per_view = {f"{kind}_{view}" for kind in ("nifti", "nifti_labels", "gif") for view in ("sax", "4ch")}
    assert files.keys() == {"wfdb", "dicom", "muse", *per_view}
    assert all(path.is_file() and path.parent == tmp_path for path in files.values())
    assert load(files["wfdb"]).fs_hz == subject.device_ecg.fs_hz
    frame_duration_s = 60.0 / subject.row["hr_bpm"] / N_FRAMES
    assert nib.load(files["nifti_4ch"]).header.get_zooms()[3] == pytest.approx(frame_duration_s, rel=1e-6)


def test_export_subject_writes_only_the_formats_asked_for(subject, tmp_path):
    assert export_subject(subject, tmp_path, formats=("wfdb",)).keys() == {"wfdb"}
    assert sorted(path.suffix for path in tmp_path.iterdir()) == [".dat", ".hea"]


def test_export_subject_refuses_an_unknown_format(subject, tmp_path):
    with pytest.raises(ValueError, match="png"):
        export_subject(subject, tmp_path, formats=(*EXPORT_FORMATS, "png"))

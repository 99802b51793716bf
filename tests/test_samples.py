"""The committed sample set: every file loads through the public readers and matches its ground truth."""

import nibabel as nib
import pytest

from cardionets.ecg import check_quality, load, measure
from cardionets.samples import sample_ecgs, virtual_samples

SAMPLES = virtual_samples()


def test_there_is_a_sample_for_every_disease_and_healthy():
    labels = [column for column in SAMPLES.columns if column.startswith("label_")]
    assert (SAMPLES[labels].sum(axis=1) == 0).sum() >= 1
    assert all(SAMPLES[label].sum() >= 1 for label in labels)


@pytest.mark.parametrize("row", SAMPLES.to_dict("records"), ids=list(SAMPLES["sample"]))
def test_sample_ecg_loads_passes_quality_and_carries_its_demographics(row):
    ecg = load(row["ecg_file"])
    assert ecg.meta.source_format == {"dicom": "dicom", "wfdb": "wfdb", "muse": "ge_muse_xml"}[row["ecg_format"]]
    assert check_quality(ecg).verdict != "reject"
    assert ecg.meta.sex == row["sex"]
    assert measure(ecg).hr_bpm == pytest.approx(row["hr_bpm"], rel=0.15)


@pytest.mark.parametrize("view", ["sax", "4ch"])
def test_sample_cines_are_4d_nifti_marked_synthetic(view):
    nifti = nib.load(SAMPLES.iloc[0][f"{view}_cine"])
    assert nifti.shape == (96, 96, 1, 50)
    assert b"SYNTHETIC" in nifti.header["descrip"].tobytes()


def test_the_app_lists_the_real_ecg_and_every_virtual_case():
    assert len(sample_ecgs()) == 1 + len(SAMPLES)

"""Each data source, written in its real layout from virtual subjects (tests/writers/realdata.py), converts to
the prepared format with the subjects' own ECGs, cines, phenotypes and labels; a damaged file costs only its own
subject, with the reason listed."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from cardionets.ecg import model_view
from cardionets.sim.cohort import CohortConfig
from cardionets.sim.dataset import VirtualCohort, write_cohort
from cardionets.sim.sites import SITES
from tests.writers import realdata
from training.data.__main__ import main
from training.data.convert import SKIPPED_FILE, SourceError
from training.data.manifest import prepare_manifest
from training.data.mimic import prepare_mimic
from training.data.prepared import (CINE_FRAMES, CINE_PIXEL_MM, CINE_SIZE, PreparedDataset, cine_for_model,
                                    labels_for_model)
from training.data.ukbiobank import prepare_ukbiobank
from training.data.virtual import prepare_virtual

N_SUBJECTS = 5
GOOD = 3  # the last two subjects of each source get damaged files
ECG_TOLERANCE_MV = 0.02  # storage quantisation (5 uV or finer) and float16, well below any lead's amplitude


@pytest.fixture(scope="module")
def subjects():
    return realdata.simulate(N_SUBJECTS)


def skipped(directory) -> pd.DataFrame:
    return pd.read_csv(directory / SKIPPED_FILE, dtype=str)


def assert_targets(dataset: PreparedDataset, subjects, phenotypes_known: bool = True) -> None:
    truth = pd.DataFrame([realdata.targets(s) for s in subjects])
    expected_phenotypes = truth[list(dataset.schema.phenotypes)].to_numpy(np.float32)
    if phenotypes_known:
        np.testing.assert_allclose(dataset.phenotypes, expected_phenotypes, rtol=1e-6)
    else:
        assert np.isnan(dataset.phenotypes).all()
    np.testing.assert_array_equal(dataset.labels, truth[list(dataset.schema.labels)].to_numpy(np.float32))


def assert_ecgs(dataset: PreparedDataset, ecgs) -> None:
    for index, ecg in enumerate(ecgs):
        np.testing.assert_allclose(dataset.ecg[index].astype(np.float32), model_view(ecg), atol=ECG_TOLERANCE_MV)


def assert_cines(dataset: PreparedDataset, subjects) -> None:
    """Each prepared cine is the subject's own simulated view, give or take one grey level of storage rounding."""
    assert dataset.cine.shape == (len(subjects), 2, CINE_FRAMES, CINE_SIZE, CINE_SIZE)
    for index, subject in enumerate(subjects):
        for position, view in enumerate(("sax", "4ch")):
            expected = cine_for_model(subject.cines[view][0]).astype(int)
            assert np.abs(dataset.cine[index, position].astype(int) - expected).max() <= 1


# --- virtual cohort ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    directory = tmp_path_factory.mktemp("cohort")
    write_cohort(directory, 3, CohortConfig(seed=5, n_frames=20), progress=False)
    return VirtualCohort(directory)


def test_virtual_cohort_prepares_every_subject_with_its_ground_truth(cohort, tmp_path):
    dataset = PreparedDataset(prepare_virtual(cohort.directory, tmp_path / "prepared"))
    assert list(dataset.manifest.subject_id) == list(cohort.manifest.subject_id)
    assert list(dataset.manifest.site) == list(cohort.manifest.site)
    assert dataset.ecg.shape == (3, 12, 5000)
    assert dataset.cine.shape == (3, 2, CINE_FRAMES, CINE_SIZE, CINE_SIZE)
    np.testing.assert_allclose(dataset.phenotypes, cohort.manifest[list(dataset.schema.phenotypes)], rtol=1e-6)
    np.testing.assert_array_equal(dataset.labels, cohort.manifest[list(dataset.schema.labels)])
    np.testing.assert_array_equal(dataset.cine[1, 1], cine_for_model(cohort.cine(1, "4ch")))


def test_preparing_with_worker_processes_writes_the_same_folder(cohort, tmp_path):
    one = PreparedDataset(prepare_virtual(cohort.directory, tmp_path / "one"))
    several = PreparedDataset(prepare_virtual(cohort.directory, tmp_path / "several", workers=2))
    assert list(several.manifest.subject_id) == list(one.manifest.subject_id)  # the records' order, kept
    for name in ("ecg", "cine", "masks"):
        np.testing.assert_array_equal(getattr(several, name), getattr(one, name))


def test_virtual_cohort_keeps_each_frames_label_map(cohort, tmp_path):
    dataset = PreparedDataset(prepare_virtual(cohort.directory, tmp_path / "prepared"))
    assert dataset.masks.shape == dataset.cine.shape
    np.testing.assert_array_equal(dataset.masks[2, 0], labels_for_model(cohort.labels(2, "sax")))
    blood = dataset.cine[2, 0][dataset.masks[2, 0] == 1].mean()  # LV blood pool is bright, lung dark
    assert blood > 2 * dataset.cine[2, 0][dataset.masks[2, 0] == 0].mean()


def test_every_site_s_cines_share_one_pixel_size(tmp_path):
    """The external site's scanner has 2.1 mm pixels; its prepared hearts measure the same in mm as in its own
    images, at the 2.7 mm every prepared cine has."""
    write_cohort(tmp_path / "boston", 1, CohortConfig(seed=3, n_frames=20, sites=("boston",)), progress=False)
    cohort = VirtualCohort(tmp_path / "boston")
    dataset = PreparedDataset(prepare_virtual(cohort.directory, tmp_path / "prepared"))
    frames = np.linspace(0, 20, CINE_FRAMES, endpoint=False).astype(int)
    native_mm2 = (cohort.labels(0, "4ch")[frames] == 1).sum() * SITES["boston"].scanner.pixel_mm**2
    prepared_mm2 = (dataset.masks[0, 1] == 1).sum() * CINE_PIXEL_MM**2
    assert prepared_mm2 == pytest.approx(native_mm2, rel=0.05)


def test_virtual_cohort_skips_a_subject_whose_ecg_is_damaged(cohort, tmp_path):
    damaged = tmp_path / "cohort"
    shutil.copytree(cohort.directory, damaged)
    shard = damaged / "shards" / "shard-00000" / "ecg.npy"  # the only shard of a 3-subject cohort
    ecg = np.load(shard)
    ecg[1, 3, 100] = np.nan
    np.save(shard, ecg)
    dataset = PreparedDataset(prepare_virtual(damaged, tmp_path / "prepared", with_cine=False))
    assert len(dataset) == 2 and dataset.cine is None
    assert list(skipped(tmp_path / "prepared").subject_id) == [cohort.manifest.subject_id[1]]
    # A worker process that meets the damaged subject reports it the same way, and the run goes on.
    in_workers = PreparedDataset(prepare_virtual(damaged, tmp_path / "in_workers", with_cine=False, workers=2))
    assert list(in_workers.manifest.subject_id) == list(dataset.manifest.subject_id)
    assert list(skipped(tmp_path / "in_workers").subject_id) == [cohort.manifest.subject_id[1]]


# --- UK Biobank -------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ukb(subjects, tmp_path_factory):
    tree = realdata.write_ukbiobank(subjects, tmp_path_factory.mktemp("ukb"))
    tree.file(tree.eids[3], 20209).write_bytes(b"not a zip")
    ecg = tree.file(tree.eids[4], 20205)
    ecg.write_bytes(ecg.read_bytes()[:3000])
    return tree


@pytest.fixture(scope="module")
def ukb_prepared(ukb, tmp_path_factory):
    out = tmp_path_factory.mktemp("ukb-prepared")
    return PreparedDataset(prepare_ukbiobank(ukb.root, out, phenotypes_csv=ukb.phenotypes_csv,
                                             labels_csv=ukb.labels_csv))


def test_ukbiobank_prepares_each_participant_with_field_phenotypes_and_labels(ukb, ukb_prepared, subjects):
    assert list(ukb_prepared.manifest.subject_id.astype(str)) == ukb.eids[:GOOD]
    assert list(ukb_prepared.manifest.site) == [f"ukb-centre-{realdata.centre_code(s.row['site'])}"
                                                for s in subjects[:GOOD]]
    assert_targets(ukb_prepared, subjects[:GOOD])
    assert_ecgs(ukb_prepared, [s.device_ecg for s in subjects[:GOOD]])


def test_ukbiobank_cines_are_the_four_chamber_and_the_mid_short_axis_slice(ukb_prepared, subjects):
    assert_cines(ukb_prepared, subjects[:GOOD])


def test_ukbiobank_skips_damaged_files_with_a_reason(ukb, ukb_prepared):
    reasons = skipped(ukb_prepared.directory).set_index("subject_id").reason
    assert list(reasons.index) == ukb.eids[GOOD:]
    assert "not a readable zip" in reasons[ukb.eids[3]]
    assert ukb_prepared.schema.notes["skipped"] == 2 and ukb_prepared.schema.notes["prepared"] == GOOD


def test_ukbiobank_without_cines_needs_only_the_ecg(ukb, tmp_path):
    dataset = PreparedDataset(prepare_ukbiobank(ukb.root, tmp_path, with_cine=False))
    assert list(dataset.manifest.subject_id.astype(str)) == ukb.eids[:4]  # the damaged zip no longer matters
    assert dataset.cine is None and np.isnan(dataset.phenotypes).all()


def test_ukbiobank_reads_research_analysis_platform_column_names(ukb, subjects, tmp_path):
    extract = pd.read_csv(ukb.phenotypes_csv, dtype={"eid": str})
    renamed = extract.rename(columns=lambda c: "p{}_i{}".format(*c.split(".")[0].split("-")) if "-" in c else c)
    renamed.to_csv(tmp_path / "rap.csv", index=False)
    dataset = PreparedDataset(prepare_ukbiobank(ukb.root, tmp_path / "prepared", with_cine=False,
                                                phenotypes_csv=tmp_path / "rap.csv", labels_csv=ukb.labels_csv))
    assert_targets(dataset, subjects[:4])


def test_ukbiobank_label_columns_must_be_ours(ukb, tmp_path):
    labels = pd.read_csv(ukb.labels_csv).rename(columns={"label_af": "label_afib"})
    labels.to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(SourceError, match="label_afib"):
        prepare_ukbiobank(ukb.root, tmp_path / "prepared", with_cine=False, labels_csv=tmp_path / "labels.csv")


# --- MIMIC-IV-ECG -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mimic(subjects, tmp_path_factory):
    tree = realdata.write_mimic(subjects, tmp_path_factory.mktemp("mimic"))
    signal = tree.record(4).with_suffix(".dat")
    signal.write_bytes(signal.read_bytes()[:1000])
    return tree


def test_mimic_prepares_each_ecg_with_its_labels_and_unknown_phenotypes(mimic, subjects, tmp_path):
    dataset = PreparedDataset(prepare_mimic(mimic.root, tmp_path, labels_csv=mimic.labels_csv))
    assert list(dataset.manifest.subject_id.astype(str)) == mimic.subject_ids[:4]
    assert list(dataset.manifest.record_id.astype(str)) == mimic.study_ids[:4]
    assert dataset.cine is None
    assert_targets(dataset, subjects[:4], phenotypes_known=False)
    assert_ecgs(dataset, [s.ecg for s in subjects[:4]])  # MIMIC's lead order (aVF before aVL) is undone
    assert list(skipped(tmp_path).record_id) == [mimic.study_ids[4]]


def test_mimic_has_no_cines_to_prepare(mimic, tmp_path):
    with pytest.raises(SourceError, match="no CMR"):
        prepare_mimic(mimic.root, tmp_path, with_cine=True)


# --- a researcher's manifest ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def manifest(subjects, tmp_path_factory):
    path = realdata.write_manifest(subjects, tmp_path_factory.mktemp("manifest"))
    table = pd.read_csv(path)
    (path.parent / table.loc[4, "sax_cine_path"]).write_bytes(b"\x00" * 64)
    return path


def test_manifest_prepares_each_row_from_its_files(manifest, subjects, tmp_path):
    dataset = PreparedDataset(prepare_manifest(manifest, tmp_path))
    assert list(dataset.manifest.subject_id) == [s.row["subject_id"] for s in subjects[:4]]
    assert_targets(dataset, subjects[:4])
    assert_ecgs(dataset, [s.device_ecg for s in subjects[:4]])
    assert_cines(dataset, subjects[:4])
    assert "not a readable NIfTI" in skipped(tmp_path).reason[0]


def test_a_source_with_no_usable_subject_is_an_error(manifest, tmp_path):
    table = pd.read_csv(manifest)
    table["ecg_path"] = "missing.xml"
    table.to_csv(manifest.parent / "broken.csv", index=False)
    with pytest.raises(SourceError, match="No subject"):
        prepare_manifest(manifest.parent / "broken.csv", tmp_path / "prepared", with_cine=False)
    assert not (tmp_path / "prepared" / "schema.json").exists()


def test_command_line_prepares_a_source_and_reports_counts(manifest, tmp_path, capsys):
    assert main(["prepare", "--source", "manifest", "--input", str(manifest), "--out", str(tmp_path)]) == 0
    assert "prepared 4 subjects" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        main(["prepare", "--source", "manifest", "--input", str(manifest), "--out", str(tmp_path), "--limit", "2"])

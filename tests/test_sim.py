"""The virtual cohort: determinism, phenotypes measured on the geometry, images that agree with it, diseases
that look like themselves, and a dataset on disk that resumes."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from cardionets.ecg import measure
from cardionets.sim.cohort import CohortConfig, simulate_subject
from cardionets.sim.dataset import VirtualCohort, write_cohort
from cardionets.sim.diseases import SEPTAL_SEGMENTS, TERRITORY_SEGMENTS, DiseaseState
from cardionets.sim.phenotypes import PHENOTYPE_COLUMNS
from cardionets.sim.sites import SITES
from cardionets.sim.validation import disc_summation_volumes_ml, short_axis_stack

SHORT = CohortConfig(seed=7, n_frames=20)
NO_CMR = CohortConfig(seed=7, with_cmr=False)


def test_a_subject_is_the_same_whenever_and_wherever_it_is_simulated():
    first, again = simulate_subject(3, SHORT), simulate_subject(3, SHORT)
    assert first.row == again.row
    np.testing.assert_array_equal(first.ecg.signal_mv, again.ecg.signal_mv)
    np.testing.assert_array_equal(first.cines["sax"][0], again.cines["sax"][0])
    assert simulate_subject(4, SHORT).row["subject_id"] != first.row["subject_id"]


def test_every_phenotype_column_is_present_and_consistent():
    row = simulate_subject(0, NO_CMR).row
    assert set(PHENOTYPE_COLUMNS) <= set(row)
    assert row["lvsv_ml"] == pytest.approx(row["lvedv_ml"] - row["lvesv_ml"], abs=0.01)
    assert row["lvef_pct"] == pytest.approx(100 * row["lvsv_ml"] / row["lvedv_ml"], abs=0.01)
    assert row["lvco_l_min"] == pytest.approx(row["lvsv_ml"] * row["hr_bpm"] / 1000, abs=0.01)
    assert row["bsa_m2"] == pytest.approx(np.sqrt(row["height_cm"] * row["weight_kg"] / 3600), abs=0.002)


def test_myocardium_is_conserved_through_the_cycle():
    geometry = simulate_subject(1, NO_CMR).geometry
    volumes = geometry.lv_myocardial_volume_ml()
    assert np.ptp(volumes) < 1e-6 * volumes.mean()


def test_cines_and_masks_have_the_documented_shape_and_labels():
    subject = simulate_subject(2, SHORT)
    for view in ("sax", "4ch"):
        image, labels = subject.cines[view]
        assert image.shape == labels.shape == (20, 96, 96)
        assert image.dtype == np.float32 and labels.dtype == np.uint8
        assert set(np.unique(labels)) <= {0, 1, 2, 3, 4, 5}
    assert {1, 2, 3} <= set(np.unique(subject.cines["sax"][1]))  # LV pool, myocardium and RV on short axis
    assert {1, 2, 3, 4, 5} <= set(np.unique(subject.cines["4ch"][1]))  # all four chambers on four-chamber


@pytest.mark.parametrize("index", [0, 1])
def test_volumes_from_a_rendered_short_axis_stack_match_the_geometry(index):
    subject = simulate_subject(index, SHORT)
    geometry, scanner = subject.geometry, SITES[subject.row["site"]].scanner
    spacing_mm = 2.0
    _, labels = short_axis_stack(geometry, scanner, spacing_mm)
    volumes = disc_summation_volumes_ml(labels, scanner.pixel_mm, spacing_mm)
    lv, truth = volumes["lv_pool"], geometry.lv_cavity_volume_ml
    assert lv.max() == pytest.approx(truth.max(), rel=0.03)
    assert lv.min() == pytest.approx(truth.min(), rel=0.03)
    assert 100 * (1 - lv.min() / lv.max()) == pytest.approx(subject.row["lvef_pct"], abs=2)
    assert volumes["rv_pool"].max() == pytest.approx(subject.row["rvedv_ml"], rel=0.03)


def _with(disease: DiseaseState, index: int = 0) -> dict:
    return simulate_subject(index, NO_CMR, disease=disease).row


def test_hcm_thickens_the_septum_beyond_15_mm_with_a_small_hyperdynamic_cavity():
    healthy, hcm = _with(DiseaseState()), _with(DiseaseState(hcm=0.6))
    septum = np.mean([hcm[f"wt_aha{s}_mm"] for s in SEPTAL_SEGMENTS])
    assert septum >= 15 and septum > 1.3 * hcm["wt_aha5_mm"]
    assert hcm["lvedv_ml"] < healthy["lvedv_ml"] and hcm["lvef_pct"] > healthy["lvef_pct"]


def test_dcm_dilates_the_lv_thins_its_walls_and_drops_ef_below_40():
    healthy, dcm = _with(DiseaseState()), _with(DiseaseState(dcm=0.7))
    assert dcm["lvedv_ml"] > 1.5 * healthy["lvedv_ml"] and dcm["lvef_pct"] < 40
    assert dcm["wt_global_mm"] < healthy["wt_global_mm"] + 1


def test_restrictive_disease_has_thick_walls_preserved_ef_and_big_atria():
    healthy, rcm = _with(DiseaseState()), _with(DiseaseState(rcm=0.7))
    assert rcm["wt_global_mm"] > 12 and rcm["lvef_pct"] > 45
    assert rcm["lav_max_ml"] > 1.4 * healthy["lav_max_ml"] and rcm["rav_max_ml"] > 1.4 * healthy["rav_max_ml"]


def test_pulmonary_hypertension_dilates_and_weakens_the_rv():
    healthy, ph = _with(DiseaseState()), _with(DiseaseState(ph=0.7))
    assert ph["rvedv_ml"] > 1.4 * healthy["rvedv_ml"] and ph["rvef_pct"] < healthy["rvef_pct"] - 10


@pytest.mark.parametrize("territory", ["LAD", "RCA", "LCx"])
def test_infarct_thins_and_stills_its_own_territory(territory):
    healthy, mi = _with(DiseaseState()), _with(DiseaseState(mi=0.8, mi_territory=territory))
    inside = TERRITORY_SEGMENTS[territory]
    outside = [s for s in range(1, 17) if s not in inside]
    assert np.mean([mi[f"wt_aha{s}_mm"] for s in inside]) < 0.8 * np.mean([mi[f"wt_aha{s}_mm"] for s in outside])
    # Akinetic segments barely shorten circumferentially; the remote myocardium still does.
    inside_strain = np.mean([mi[f"ecc_aha{s}_pct"] for s in inside])
    assert inside_strain > 0.6 * np.mean([mi[f"ecc_aha{s}_pct"] for s in outside])
    assert mi["lvef_pct"] < healthy["lvef_pct"]


def test_atrial_fibrillation_leaves_the_atria_large_and_still():
    healthy, af = _with(DiseaseState()), _with(DiseaseState(af=0.6))
    assert af["laef_pct"] < 25 < healthy["laef_pct"] and af["lav_max_ml"] > healthy["lav_max_ml"]


def test_cohort_on_disk_is_random_access_and_resumes_without_rewriting(tmp_path):
    config = dataclasses.replace(SHORT, sites=("cheadle", "boston"))
    manifest_path = write_cohort(tmp_path, 3, config, progress=False)
    shard = tmp_path / "shards" / "shard-00000"
    stamp = (shard / "ecg.npy").stat().st_mtime_ns
    write_cohort(tmp_path, 3, config, progress=False)
    assert (shard / "ecg.npy").stat().st_mtime_ns == stamp
    cohort = VirtualCohort(tmp_path)
    manifest = pd.read_csv(manifest_path)
    assert len(cohort) == len(manifest) == 3
    assert cohort.ecg(2).shape == (12, 5000)
    assert cohort.cine(1, "4ch").shape == cohort.labels(1, "4ch").shape == (20, 96, 96)
    np.testing.assert_allclose(cohort.ecg(2), simulate_subject(2, config).ecg.signal_mv, atol=2e-3)


def test_resuming_with_other_settings_is_refused(tmp_path):
    write_cohort(tmp_path, 1, SHORT, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        write_cohort(tmp_path, 1, dataclasses.replace(SHORT, seed=8), progress=False)


def _cohort_measurements(n: int, disease: DiseaseState | None = None) -> pd.DataFrame:
    rows = []
    for index in range(n):
        subject = simulate_subject(index, NO_CMR, disease=disease)
        rows.append({**subject.row, **measure(subject.ecg).to_dict()})
    return pd.DataFrame(rows)


def test_in_the_simulated_population_sokolow_lyon_voltage_rises_with_lv_mass():
    frame = _cohort_measurements(120, DiseaseState())  # without amyloid, whose voltage falls as mass rises
    r = frame[["sokolow_lyon_mv", "lvm_g"]].corr(method="spearman").iloc[0, 1]
    assert 0.2 < r < 0.8  # a real, modest association, not a giveaway


def test_in_the_simulated_population_pulmonary_hypertension_turns_the_qrs_axis_right():
    healthy, ph = _cohort_measurements(40, DiseaseState()), _cohort_measurements(40, DiseaseState(ph=0.8))
    assert ph.qrs_axis_deg.mean() > healthy.qrs_axis_deg.mean() + 30


def test_command_line_makes_an_ecg_only_cohort_with_cart_files(tmp_path):
    from cardionets.ecg import load
    from cardionets.sim.__main__ import main

    out = tmp_path / "cohort"
    assert main(["make", "--n", "2", "--out", str(out), "--seed", "3", "--no-cmr", "--workers", "1",
                 "--export-ecg", "wfdb", "--sites", "boston"]) == 0
    manifest = pd.read_csv(out / "manifest.csv")
    assert list(manifest.site) == ["boston", "boston"]
    record = load(out / "ecg" / f"{manifest.subject_id[0]}.hea")
    assert record.fs_hz == SITES["boston"].ecg.fs_hz  # stored as the site's cart stores it
    assert not (out / "shards" / "shard-00000" / "sax.npy").exists()


def test_the_report_says_how_well_the_cart_printout_tells_each_disease_from_health():
    from cardionets.sim.report import disease_auroc_table, simulate_population

    frame = simulate_population(120, seed=3)
    real = {"discrimination": [{"set": "all sets", "task": "MI vs healthy", "score": "cart_cv_mi", "auroc": 0.9,
                                "ci": [0.88, 0.92], "n_positive": 5, "n_healthy": 9}]}
    table = disease_auroc_table(frame, 3, real)
    rows = {line.split("|")[1].strip(): line for line in table.splitlines()[2:]}
    assert set(rows) == {"hcm", "dcm", "rcm", "ph", "mi", "af"}
    assert "0.900 [0.880, 0.920]" in rows["mi"] and "no real labels here" in rows.get("dcm", "") + rows["rcm"]

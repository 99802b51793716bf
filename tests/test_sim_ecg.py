"""The simulated ECG: physiology a cardiologist would recognise, truth that our cart measurement recovers, and the
canonical format every consumer of an ECG expects.

Populations are small (tens to a couple of hundred subjects) but fixed by seed, so each statement is checked on
the same cohort every run.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy import stats

from cardionets.ecg import check_quality
from cardionets.ecg.leads import LIMB_LEADS, STANDARD_LEADS
from cardionets.ecg.measure import measure, measure_with_beat
from cardionets.sim.drivers import EcgDrivers
from cardionets.sim.ecg_model import (
    DEFAULT_CONFIG,
    ModelBeat,
    SimulatedEcg,
    random_heart_rotation,
    simulate_ecg,
    typical_heart_rotation,
)
from cardionets.sim.sites import SITES, EcgDevice

CLEAN_CART = SITES["cheadle"].ecg  # the quietest site profile


def normal_adult(**changes) -> EcgDrivers:
    """A healthy 55-year-old man of average build, with a typically oriented heart and normal CMR volumes."""
    drivers = EcgDrivers(
        age_years=55.0, sex="M", bmi=25.0, bsa_m2=1.95, hr_bpm=65.0, lv_mass_g=120.0, rv_mass_g=40.0,
        lvedv_ml=150.0, rvedv_ml=160.0, lav_max_ml=70.0, rav_max_ml=75.0, septal_thickness_mm=9.0,
        lateral_thickness_mm=9.0, heart_rotation=typical_heart_rotation(),
    )
    return dataclasses.replace(drivers, **changes)


def random_adult(rng: np.random.Generator, **changes) -> EcgDrivers:
    """A healthy adult of either sex with the between-person spread of build, rate, chamber size and orientation."""
    male = rng.random() < 0.5
    bsa = rng.normal(2.0 if male else 1.75, 0.15)
    drivers = normal_adult(
        age_years=rng.uniform(40, 75), sex="M" if male else "F", bmi=rng.normal(26, 3.5), bsa_m2=bsa,
        hr_bpm=rng.normal(65, 9), lv_mass_g=rng.normal(62 if male else 50, 8) * bsa,
        rv_mass_g=rng.normal(40 if male else 32, 5), lvedv_ml=rng.normal(78 if male else 70, 9) * bsa,
        lav_max_ml=rng.normal(70, 12), rav_max_ml=rng.normal(75, 12), septal_thickness_mm=rng.normal(9, 1),
        lateral_thickness_mm=rng.normal(8.5, 1), heart_rotation=random_heart_rotation(rng),
    )
    return dataclasses.replace(drivers, **changes)


def simulate_cohort(seed: int, n: int, device: EcgDevice = CLEAN_CART, **changes) -> list[SimulatedEcg]:
    rng = np.random.default_rng(seed)
    return [simulate_ecg(random_adult(rng, **changes), device, rng) for _ in range(n)]


def qrs_peak_to_peak_mv(beat: ModelBeat, lead: str) -> float:
    qrs = beat.waveform_mv[STANDARD_LEADS.index(lead), int(beat.qrs_onset) : int(beat.qrs_offset) + 1]
    return float(np.ptp(qrs))


def has_pathological_q(beat: ModelBeat, lead: str) -> bool:
    """A Q wave on the noise-free beat by the usual infarct criterion: the QRS starts with a negative deflection at
    least 0.1 mV deep that lasts 30 ms or more, or is at least a quarter of the R that follows (a QS counts)."""
    qrs = beat.waveform_mv[STANDARD_LEADS.index(lead), round(beat.qrs_onset) : round(beat.qrs_offset) + 1]
    deflected = np.flatnonzero(np.abs(qrs) >= 0.05)
    if deflected.size == 0 or qrs[deflected[0]] > 0:
        return False
    back_above_zero = np.flatnonzero(qrs[deflected[0]:] >= 0)
    q_end = deflected[0] + back_above_zero[0] if back_above_zero.size else qrs.size
    q_depth_mv, q_ms = -qrs[:q_end].min(), q_end * 1000.0 / beat.fs_hz
    r_mv = max(qrs[q_end:].max(initial=0.0), 0.0)
    return q_depth_mv >= 0.1 and (q_ms >= 30.0 or q_depth_mv >= 0.25 * r_mv)


def rightward_axis_deg(axis_deg: float) -> float:
    """Axes on -90..270 so that right-axis values (beyond +90) are not split at +-180."""
    return (axis_deg + 90.0) % 360.0 - 90.0


@pytest.fixture(scope="module")
def normal_cohort() -> list[SimulatedEcg]:
    return simulate_cohort(seed=1, n=50)


# --- Format and reproducibility ----------------------------------------------------------------------------------


def test_canonical_ecg_is_ten_seconds_of_twelve_leads_at_500_hz(normal_cohort):
    for sim in normal_cohort[:5]:
        assert sim.ecg.signal_mv.shape == (12, 5000)
        assert sim.ecg.fs_hz == 500.0
        assert sim.ecg.signal_mv.dtype == np.float32
        assert np.isfinite(sim.ecg.signal_mv).all()
        assert sim.ecg.meta.source_format == "simulated"


@pytest.mark.parametrize("site", sorted(SITES))
def test_device_ecg_has_the_site_cart_rate_and_passes_the_quality_gate(site):
    device = SITES[site].ecg
    for sim in simulate_cohort(seed=2, n=8, device=device):
        assert sim.device_ecg.fs_hz == device.fs_hz
        assert sim.device_ecg.n_samples == int(10 * device.fs_hz)
        assert check_quality(sim.ecg).verdict in ("ok", "warn")


def test_demographics_travel_with_the_ecg():
    drivers = normal_adult(age_years=63.0, sex="F", bmi=30.0, bsa_m2=1.9)
    meta = simulate_ecg(drivers, CLEAN_CART, np.random.default_rng(0)).ecg.meta
    assert (meta.age_years, meta.sex) == (63.0, "F")
    assert meta.weight_kg / (meta.height_cm / 100) ** 2 == pytest.approx(30.0)
    assert np.sqrt(meta.height_cm * meta.weight_kg / 3600) == pytest.approx(1.9)


def test_same_seed_gives_the_same_ecg_and_another_seed_a_different_one():
    drivers = normal_adult()
    first, again, other = (simulate_ecg(drivers, CLEAN_CART, np.random.default_rng(seed)) for seed in (7, 7, 8))
    np.testing.assert_array_equal(first.ecg.signal_mv, again.ecg.signal_mv)
    np.testing.assert_array_equal(first.device_ecg.signal_mv, again.device_ecg.signal_mv)
    assert first.truth == again.truth
    assert not np.array_equal(first.ecg.signal_mv, other.ecg.signal_mv)


def test_heart_rotations_are_rotations_with_the_apex_left_down_and_forward():
    rng = np.random.default_rng(14)
    rotations = [typical_heart_rotation()] + [random_heart_rotation(rng) for _ in range(50)]
    for rotation in rotations:
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
        assert np.linalg.det(rotation) == pytest.approx(1.0)
    apex = -np.array([rotation[:, 2] for rotation in rotations])  # heart z runs apex -> base
    assert (apex[:, 0] > 0).mean() == 1.0  # to the patient's left
    assert (apex[:, 1] > 0).mean() >= 0.95  # towards the feet
    assert (apex[:, 2] < 0).mean() >= 0.95  # towards the chest wall
    towards_rv = typical_heart_rotation()[:, 0]
    assert towards_rv[0] < 0 and towards_rv[2] < 0  # the RV lies to the right of and in front of the LV


# --- The cart measurement recovers the simulated truth ---------------------------------------------------------


# The acceptance limits of our measurement code against a real cart (tests/test_measure.py).
@pytest.mark.parametrize("key, tolerance", [
    ("pr_ms", 15), ("qrs_ms", 12), ("qt_ms", 20), ("p_axis_deg", 15), ("qrs_axis_deg", 15), ("t_axis_deg", 15),
])
def test_measured_intervals_and_axes_match_the_simulated_truth(normal_cohort, key, tolerance):
    errors = [getattr(measure(sim.ecg), key) - getattr(sim.truth, key) for sim in normal_cohort]
    if key.endswith("axis_deg"):
        errors = [(e + 180.0) % 360.0 - 180.0 for e in errors]
    assert np.median(np.abs(errors)) <= tolerance


def test_measured_rate_matches_the_simulated_rhythm(normal_cohort):
    errors = [measure(sim.ecg).rr_ms - sim.truth.rr_ms for sim in normal_cohort]
    assert np.median(np.abs(errors)) <= 10


def test_normal_adults_have_normal_intervals_and_axes(normal_cohort):
    truths = [sim.truth for sim in normal_cohort]
    assert all(120 <= t.pr_ms <= 240 for t in truths)
    assert np.mean([70 <= t.qrs_ms <= 115 for t in truths]) >= 0.95  # now and then a bundle branch block
    qtc = [t.qt_ms / np.sqrt(t.rr_ms / 1000) for t in truths]  # Bazett, as most carts print it
    assert 380 <= np.median(qtc) <= 440
    assert -30 <= np.median([t.qrs_axis_deg for t in truths]) <= 90
    assert 30 <= np.median([t.p_axis_deg for t in truths]) <= 75


# --- Physiology ------------------------------------------------------------------------------------------------


def test_sokolow_lyon_voltage_tracks_lv_mass_but_does_not_give_it_away():
    rng = np.random.default_rng(3)
    lv_mass_g = rng.uniform(70, 260, 150)
    sims = [simulate_ecg(random_adult(rng, lv_mass_g=mass), CLEAN_CART, rng) for mass in lv_mass_g]
    sokolow_mv = [measure(sim.ecg).sokolow_lyon_mv for sim in sims]
    r = stats.spearmanr(lv_mass_g, sokolow_mv).statistic
    assert 0.2 < r < 0.8  # real cohorts: r ~ 0.3-0.5 (body build, orientation and electrodes intervene)


def test_pulmonary_hypertension_turns_the_qrs_axis_to_the_right():
    axes = {
        ph: np.mean([rightward_axis_deg(measure(sim.ecg).qrs_axis_deg)
                     for sim in simulate_cohort(seed=4, n=100, ph=ph)])
        for ph in (0.0, 0.8)
    }
    assert axes[0.8] - axes[0.0] >= 30


def test_pulmonary_hypertension_with_rv_hypertrophy_gives_a_tall_r_in_v1():
    def r_to_s_v1(sim: SimulatedEcg) -> float:
        qrs = sim.beat.waveform_mv[STANDARD_LEADS.index("V1"), int(sim.beat.qrs_onset) : int(sim.beat.qrs_offset)]
        return qrs.max() / -qrs.min()

    normal, ph = (np.array([r_to_s_v1(sim) for sim in simulate_cohort(seed=5, n=40, ph=ph, rv_mass_g=rv_mass_g)])
                  for ph, rv_mass_g in ((0.0, 40.0), (0.8, 70.0)))
    # R/S >= 1 in V1, the RV hypertrophy criterion: specific, and met in about half of pulmonary hypertension.
    assert np.mean(normal >= 1) <= 0.05
    assert np.mean(ph >= 1) >= 0.4


def test_amyloid_has_low_limb_lead_voltage_despite_thick_walls():
    def limb_voltages(sims):  # (subjects, 6) QRS peak-to-peak of each limb lead
        return np.array([[qrs_peak_to_peak_mv(sim.beat, lead) for lead in LIMB_LEADS] for sim in sims])

    normal = limb_voltages(simulate_cohort(seed=6, n=60))
    amyloid_drivers = {"rcm": 0.8, "lv_mass_g": 190.0, "septal_thickness_mm": 16.0, "lateral_thickness_mm": 15.0}
    amyloid = limb_voltages(simulate_cohort(seed=6, n=60, **amyloid_drivers))
    assert amyloid.mean() < 0.6 * normal.mean()
    # Low voltage, the classic sign: every limb lead's QRS at most 0.5 mV. Clinical series find it in a quarter to
    # over half of cardiac amyloidosis, and rarely in healthy adults.
    assert np.mean(amyloid.max(axis=1) <= 0.5) >= 0.4
    assert np.mean(normal.max(axis=1) <= 0.5) <= 0.1


@pytest.mark.parametrize("territory, facing, away", [
    ("LAD", ("V1", "V2", "V3", "V4"), ("II", "III", "aVF")),
    ("RCA", ("II", "III", "aVF"), ("V2", "V3", "V4")),
    ("LCx", ("I", "aVL", "V5", "V6"), ("II", "III", "aVF")),
])
def test_infarct_q_waves_face_the_territory(territory, facing, away):
    beats = [sim.beat for sim in simulate_cohort(seed=7, n=30, mi=0.8, mi_territory=territory)]
    share_with_q = {lead: np.mean([has_pathological_q(beat, lead) for beat in beats]) for lead in facing + away}
    assert all(share_with_q[lead] >= 0.8 for lead in facing), share_with_q
    assert all(share_with_q[lead] <= 0.2 for lead in away), share_with_q


def test_healthy_hearts_have_no_infarct_q_waves(normal_cohort):
    leads = ("I", "II", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
    share_with_q = {lead: np.mean([has_pathological_q(sim.beat, lead) for sim in normal_cohort]) for lead in leads}
    assert all(share <= 0.15 for share in share_with_q.values()), share_with_q


def test_hypertrophic_cardiomyopathy_shows_voltage_and_lateral_strain():
    hcm = {"hcm": 0.9, "lv_mass_g": 230.0, "septal_thickness_mm": 22.0, "lateral_thickness_mm": 12.0}
    normal, diseased = (simulate_cohort(seed=8, n=40, **changes) for changes in ({}, hcm))
    for lead in ("V5", "V6", "I"):  # strain: the T wave turns against the tall R
        row = STANDARD_LEADS.index(lead)
        t_area = [sim.beat.waveform_mv[row, int(sim.beat.qrs_offset) : int(sim.beat.t_offset)].sum()
                  for sim in diseased]
        assert np.mean(np.asarray(t_area) < 0) >= 0.8, lead
    assert (np.median([measure(sim.ecg).sokolow_lyon_mv for sim in diseased])
            > 1.3 * np.median([measure(sim.ecg).sokolow_lyon_mv for sim in normal]))


def test_dilated_cardiomyopathy_widens_the_qrs_and_often_blocks_the_left_bundle():
    dcm = simulate_cohort(seed=9, n=40, dcm=0.9, lvedv_ml=300.0)
    lbbb = [sim for sim in dcm if sim.truth.lbbb]
    assert 0.2 <= len(lbbb) / len(dcm) <= 0.7
    assert all(measure(sim.ecg).qrs_ms >= 120 for sim in lbbb)
    narrow = np.median([sim.truth.qrs_ms for sim in dcm if not sim.truth.lbbb])
    assert narrow > np.median([sim.truth.qrs_ms for sim in simulate_cohort(seed=9, n=40)]) + 10


def test_left_bundle_branch_block_loses_the_septal_q_in_v6():
    beats = [sim.beat for sim in simulate_cohort(seed=10, n=60, dcm=0.9, lvedv_ml=300.0) if sim.truth.lbbb]
    row = STANDARD_LEADS.index("V6")
    starts_upward = [beat.waveform_mv[row, int(beat.qrs_onset) + 5] > 0 for beat in beats]
    assert np.mean(starts_upward) >= 0.9


def test_a_large_left_atrium_widens_the_p_wave():
    def p_ms(sim: SimulatedEcg) -> float:
        return (sim.beat.p_offset - sim.beat.p_onset) * 1000 / sim.beat.fs_hz

    normal, enlarged = (np.median([p_ms(sim) for sim in simulate_cohort(seed=11, n=30, lav_max_ml=volume)])
                        for volume in (65.0, 150.0))
    assert enlarged - normal >= 20
    assert enlarged >= 115  # P >= 110-120 ms: left atrial abnormality


def test_a_large_right_atrium_makes_the_p_wave_taller_in_ii():
    def p_peak_mv(sim: SimulatedEcg) -> float:
        p_wave = sim.beat.waveform_mv[STANDARD_LEADS.index("II"), int(sim.beat.p_onset) : int(sim.beat.p_offset)]
        return float(p_wave.max())

    normal, enlarged = (np.median([p_peak_mv(sim) for sim in simulate_cohort(seed=13, n=30, rav_max_ml=volume)])
                        for volume in (75.0, 160.0))
    assert enlarged >= 1.4 * normal


def test_atrial_fibrillation_is_irregular_and_has_no_p_waves():
    sims = simulate_cohort(seed=12, n=30, af=True)
    measured = [measure_with_beat(sim.ecg) for sim in sims]
    rr_cv = [np.std(m.beat.rr_intervals_s) / np.mean(m.beat.rr_intervals_s) for m in measured]
    assert np.median(rr_cv) > 0.1
    # What f waves leave in the median beat still passes the measurement's P test now and then (about a third of
    # AF ECGs at resting rates; more at fast rates, where the previous T reaches into the P window).
    assert np.mean([m.measurements.pr_ms is None for m in measured]) > 0.5
    assert all(sim.truth.pr_ms is None and sim.truth.p_axis_deg is None for sim in sims)


def test_sinus_rhythm_is_regular(normal_cohort):
    rr_cv = [np.std(m.beat.rr_intervals_s) / np.mean(m.beat.rr_intervals_s)
             for m in map(measure_with_beat, (sim.ecg for sim in normal_cohort[:20]))]
    assert np.median(rr_cv) < 0.05


def test_premature_ventricular_beats_come_early_and_leave_a_compensatory_pause():
    config = dataclasses.replace(DEFAULT_CONFIG, pvc_share=1.0, pvc_per_min=15.0)
    rng = np.random.default_rng(21)
    with_pvc = 0
    for _ in range(12):
        sim = simulate_ecg(random_adult(rng), CLEAN_CART, rng, config=config)
        measured = measure_with_beat(sim.ecg)
        rr = measured.beat.rr_intervals_s
        typical = np.median(rr)
        early = np.flatnonzero(rr[:-1] < 0.8 * typical)
        # The sinus node is not reset: the early beat and the pause after it add up to two ordinary cycles.
        paired = [i for i in early if abs(rr[i] + rr[i + 1] - 2 * typical) < 0.15 * typical]
        with_pvc += bool(paired)
        # The median beat leaves the broad ectopic beats out: the sinus QRS is still measured as simulated.
        assert abs(measured.measurements.qrs_ms - sim.truth.qrs_ms) < 15.0
    assert with_pvc >= 9

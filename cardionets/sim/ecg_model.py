"""The ECG forward model: one subject's anatomy, orientation and disease -> a 12-lead ECG with known truth.

A heart-vector (dipole) model. The P wave is a right- then a left-atrial wave; the QRS is a sequence of
activation fronts (septum, LV free wall, base, RV); the T wave is the ventricular gradient, roughly concordant
with the QRS. Each wave's direction is known in a typical heart (TYPICAL_DIRECTIONS) and turns with this
subject's heart orientation; its size, timing and direction follow from the anatomy and disease in EcgDrivers.
Dower's transform projects the heart vector onto the leads; then come beat-to-beat variability, recording noise
and the site's cart filters.

    sim = simulate_ecg(drivers, SITES["cheadle"].ecg, rng)
    sim.ecg          # canonical ECG: 12 x 5000, 500 Hz, mV
    sim.device_ecg   # what the site's cart stores, at its own rate
    sim.truth        # the intervals and axes the model put there
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from cardionets.ecg.leads import STANDARD_LEADS
from cardionets.ecg.measure import frontal_axis_deg
from cardionets.ecg.record import ECG, ECGMetadata
from cardionets.ecg.resample import resample

from .drivers import EcgDrivers
from .ecg_noise import cart_filter, electrode_noise, recording_noise
from .ecg_waves import DOWER_XYZ_TO_8, RECORDED_LEADS, Wave, render_heart_vector, twelve_leads
from .sites import EcgDevice

CANONICAL_FS_HZ = 500.0
# The cart records continuously and stores a window from the middle, so its filters have settled by then (a
# 0.5 Hz high-pass rings for ~1 s after a start).
CART_SETTLE_S = 1.0


@dataclass(frozen=True)
class EcgModelConfig:
    """Physiological constants. Voltages are heart-vector (Frank) mV; leads come out up to ~1.4x larger."""

    # Rhythm
    respiration_hz: tuple[float, float] = (0.2, 0.3)  # resting breathing, 12-18 per minute
    sinus_arrhythmia: float = 0.022  # RR swings +-3.5% with breathing in the young, fading with age
    sinus_arrhythmia_spread: float = 1.1  # log-scale spread between people: some barely vary, some a lot
    slow_rr_drift: float = 0.018  # Mayer waves: the RR drifts with the ~0.1 Hz blood-pressure rhythm
    slow_rr_hz: tuple[float, float] = (0.06, 0.12)
    rr_jitter: float = 0.006  # beat-to-beat RR noise beyond breathing
    # Premature atrial beats in healthy adults: most 10 s ECGs have none, a few have one or several.
    premature_share: float = 0.05  # of people with any premature atrial beats during a resting ECG
    premature_per_min: float = 3.0  # their typical rate (log-normal between people)
    premature_rate_spread: float = 1.0
    premature_coupling: tuple[float, float] = (0.6, 0.8)  # the premature beat comes at this share of the RR
    # Premature ventricular beats: seen on a few per cent of healthy adults' resting ECGs. Broad (no conduction
    # system), from a random focus, with a discordant T and a full compensatory pause (the sinus node is not reset).
    pvc_share: float = 0.03
    pvc_per_min: float = 3.0
    pvc_coupling: tuple[float, float] = (0.5, 0.75)
    pvc_qrs_ms: tuple[float, float] = (130.0, 170.0)
    pvc_size: float = 1.5  # relative to the main LV vector: ectopic beats are large
    af_rr_cv: float = 0.2  # atrial fibrillation: RR coefficient of variation ~0.15-0.25 ...
    af_rr_cv_spread: float = 0.4  # ... log-normal between people: real AF's RMSSD/RR spreads 0.11-0.45 (p5-p95)
    min_rr_s: float = 0.3  # AV-node refractoriness caps the fastest conducted beat
    # Intervals
    pr_ms_at_50: float = 150.0  # adult PR 120-200 ms
    pr_ms_per_year: float = 0.6  # PR lengthens ~5 ms per decade
    pr_sd_ms: float = 20.0  # real healthy adults (PTB-XL, CinC 2021): PR 163 +/- 26 ms as measured at 100 Hz
    pr_range_ms: tuple[float, float] = (120.0, 240.0)
    pr_ms_per_amyloid: float = 30.0  # amyloid infiltrates the conduction system (first-degree block)
    p_ms_at_reference: float = 92.0  # P duration 80-110 ms
    p_ms_per_la_ml: float = 0.35  # LA enlargement widens P (>120 ms at ~150 ml)
    p_sd_ms: float = 6.0
    p_range_ms: tuple[float, float] = (70.0, 160.0)
    min_pr_segment_ms: float = 40.0  # the AV node's delay: P always ends well before the QRS
    # Normal 80-105 ms, men a little wider than women (larger hearts). Healthy adults of PTB-XL read 99 ms (men) and
    # 95 ms (women) on our cart; at 92 / 86 the simulated ones read 95 / 89, so a woman's normal QRS looked like a
    # man's or a dilated heart's to the models, and her LVEDV came out ~20 % too large.
    qrs_ms_male: float = 95.0
    qrs_ms_female: float = 92.0
    qrs_sd_ms: float = 8.0
    qrs_ms_per_dilation_doubling: float = 25.0  # a dilated LV takes longer to activate
    lvedv_index_reference: float = 80.0  # ml/m2, upper-normal LVEDV index where widening starts
    qrs_ms_per_hcm: float = 12.0
    lbbb_extra_qrs_ms: float = 45.0  # complete LBBB: QRS >= 120 ms, typically 130-170 ms
    lbbb_qrs_ms: tuple[float, float] = (130.0, 170.0)
    lbbb_background: float = 0.005  # LBBB prevalence without cardiomyopathy (older adults ~0.5-1%)
    lbbb_per_dcm: float = 0.45  # about a third to half of dilated cardiomyopathy has LBBB
    qtc_ms_male: float = 410.0  # Fridericia-corrected QT; women ~10-15 ms longer
    qtc_ms_female: float = 423.0
    qtc_sd_ms: float = 18.0
    qtc_ms_per_year_over_50: float = 0.3
    qtc_ms_per_hcm: float = 30.0
    qtc_ms_per_dcm: float = 15.0
    st_fraction: float = 0.2  # T rises from this fraction of the J-to-T-end time (the ST segment)
    st_fraction_sd: float = 0.05  # between people
    t_peak_fraction: float = 0.62  # T rises slowly and falls fast
    t_peak_sd: float = 0.04  # between people: real T rise-to-fall ratios spread ~2.5x wider than a fixed shape's
    # Voltages
    lv_mv: float = 2.0  # main LV vector at the reference mass and body size
    lv_mass_reference_g: float = 120.0
    lv_mass_exponent: float = 0.6  # voltage grows less than mass (cavity and conduction effects)
    bmi_reference: float = 25.0
    bmi_exponent: float = 0.7  # fat and distance between heart and electrodes attenuate voltage
    log_voltage_per_decade: float = -0.05  # voltage falls with age (young adults have tall QRS)
    qrs_sharpness: float = 1.8  # activation fronts rise and fall steeply: real QRS carry energy up to ~45 Hz
    lv_anterior_share: float = 0.38  # the apical-anterior front relative to the main (lateral) LV vector
    terminal_share: float = 0.42  # basal forces relative to the main LV vector
    lbbb_septal_share: float = 0.3  # LBBB waves relative to the main LV vector
    lbbb_lv_share: float = 0.75
    septal_mv: float = 0.18  # small septal q in I, V5-V6 and r in V1
    septal_thickness_reference_mm: float = 9.0
    septal_thickness_exponent: float = 1.2  # septal hypertrophy (HCM) makes deep, narrow septal Q waves
    rv_mv: float = 0.2  # the normal RV is masked by the LV
    rv_mass_reference_g: float = 40.0
    rv_mv_per_ph: float = 1.5  # pressure-overloaded RV: right axis, tall R in V1, deep S in V5-V6
    t_share: float = 0.3  # T vector relative to the main LV vector (ventricular gradient)
    strain_t_gain: float = 0.3  # strain T waves are deeper than normal T waves are tall
    lv_mass_index_strain: tuple[float, float] = (95.0, 140.0)  # g/m2 where strain begins and is complete
    hcm_strain: tuple[float, float] = (0.3, 0.8)  # hcm severity where strain begins and is complete
    rv_strain_per_ph: float = 0.7  # T inversion V1-V3 in RV pressure overload
    scar_t_per_mi: float = 0.5  # an old infarct leaves T inversion facing it
    amyloid_inert_share: float = 0.6  # of LV mass at full severity: amyloid thickens walls but carries no current
    amyloid_voltage_loss: float = 0.7  # and sick myocytes, effusion and oedema damp what is left: low voltage
    amyloid_septal_loss: float = 0.7  # lost septal forces: pseudo-infarct, poor R progression
    dcm_septal_loss: float = 0.4
    infarct_share: float = 1.0  # lost forces of a transmural infarct, relative to the main LV vector
    ra_p_mv: float = 0.14  # right atrium: the first, inferior half of the P wave
    ra_reference_ml: float = 75.0
    la_p_mv: float = 0.08  # left atrium: the later, posterior half (terminal negative P in V1)
    la_reference_ml: float = 65.0
    p_volume_exponent: float = 0.8
    ra_p_share: float = 0.6  # of the P duration: RA activation comes first ...
    la_p_share: float = 0.65  # ... the LA's overlaps it and ends the P wave
    f_wave_mv: float = 0.05  # fibrillatory waves, best seen in V1
    f_wave_hz: tuple[float, float] = (4.0, 7.5)
    f_wave_size_sd: float = 0.8  # log-scale spread between people: real AF spans fine to coarse
    # Variability
    direction_jitter: float = 0.15  # per-subject wave direction spread (~12 degrees)
    t_direction_jitter: float = 0.07  # the T strays less from its typical direction than the QRS fronts ...
    t_turn_with_heart: float = 0.4  # ... and turns only partly with the heart: real T axes spread 19 deg, QRS 27
    lead_gain_sd: float = 0.12  # electrode placement and torso: each limb lead's gain varies between people ...
    chest_lead_gain_sd: float = 0.22  # ... and chest leads' more (a chest electrode 2 cm off changes a lot)
    v1_gain: float = 0.8  # V1 lies over the RV, further from the LV than Dower's typical torso has it: real S in
    # V1 is ~20 % smaller than in V2, Dower's coefficients make them alike
    breathing_voltage: float = 0.05  # breathing moves the heart and the lungs' impedance: +-5% voltage
    beat_voltage_jitter: float = 0.015
    # Breathing also turns the heart, so each wave swells and shrinks in its own phase, and no two beats are
    # activated quite alike: real QRS differ from their median beat by ~9 % RMS (PTB-XL, CinC 2021), more in some
    # people than others.
    breathing_turn: float = 0.04
    beat_morphology_jitter: float = 0.035
    beat_variation_spread: float = 0.55  # log-scale spread of both between people


DEFAULT_CONFIG = EcgModelConfig()

# Wave directions in the body (Frank) frame of a typical heart: X to the patient's left, Y to the feet, Z back.
TYPICAL_DIRECTIONS: dict[str, tuple[float, float, float]] = {
    "septal": (-0.55, 0.15, -0.80),  # left to right and anterior: q in I, V5, V6; r in V1
    # The LV free wall activates from the endocardium of the apex outwards: first towards the apex and the anterior
    # wall (R growing across V2-V4), then towards the lateral and posterior walls (tall R in I, aVL, V5-V6).
    "lv_anterior": (0.60, 0.15, -0.78),  # leftward, anterior, a little inferior
    "lv": (0.85, 0.22, 0.50),  # leftward, posterior, a little inferior (axis ~ +30 deg with the anterior front)
    "basal": (-0.20, 0.05, 0.97),  # last to activate, posterobasal: terminal s in V1-V3 and inferior leads
    "rv": (-0.60, 0.45, -0.65),  # RV free wall: rightward, anterior, inferior
    "t": (0.68, 0.27, -0.68),  # normal T: left, inferior, more anterior than the QRS (upright in V2-V6)
    "lv_strain": (-0.80, -0.10, -0.60),  # LVH strain T: away from the lateral wall (inverted in I, aVL, V5-V6)
    "ra": (0.80, 0.50, -0.45),  # RA: down and forward from the sinus node
    "la": (0.85, 0.40, 0.35),  # LA: leftward and posterior
    "f_wave": (-0.30, 0.60, -0.75),  # fibrillating atria project most on V1 and II
    "lbbb_septal": (0.55, -0.15, 0.80),  # septum activated from the right: no septal q, QS in V1
    "lbbb_lv": (0.80, 0.35, 0.45),  # slow leftward LV activation: broad R in I, aVL, V5-V6 ...
    "lbbb_lv_late": (0.65, -0.25, 0.70),  # ... ending posterobasally: the loop stays open, the R notched
    # Infarct territories: from the LV centre towards the scar; their forces are lost.
    "LAD": (0.20, -0.35, -0.90),  # anterior wall and septum
    "RCA": (-0.25, 1.00, 0.20),  # inferior wall
    "LCx": (1.00, -0.32, 0.40),  # lateral wall (high lateral: Q in I and aVL, not in the inferior leads)
}

# Where each QRS wave sits inside the QRS, as fractions of its duration: (onset, duration, peak).
QRS_TIMING = {
    "septal": (0.0, 0.35, 0.45), "lv_anterior": (0.1, 0.5, 0.5), "lv": (0.2, 0.62, 0.55), "basal": (0.5, 0.5, 0.5),
    "rv": (0.22, 0.7, 0.55),
    "infarct": (0.0, 0.6, 0.45),
    "lbbb_septal": (0.0, 0.35, 0.5), "lbbb_lv": (0.08, 0.6, 0.5), "lbbb_lv_late": (0.35, 0.65, 0.5),
}

# Heart orientation: the LV long axis (apex) points left, down and forward.
TYPICAL_APEX_FRONTAL_DEG = 45.0  # in the frontal plane, 0 = patient's left, 90 = feet
TYPICAL_APEX_ANTERIOR_DEG = 30.0  # tilt out of the frontal plane towards the chest wall
ORIENTATION_SD_DEG = (12.0, 8.0, 12.0)  # between people: frontal angle, anterior tilt, roll about the long axis


def heart_rotation(apex_frontal_deg: float, apex_anterior_deg: float, roll_deg: float = 0.0) -> np.ndarray:
    """(3, 3) heart frame -> body frame (columns: the heart's x, y, z axes in Frank coordinates).

    The heart's z runs along the LV long axis from apex to base, and x from the LV centre towards the RV, which
    lies to the right of and in front of the LV; ``roll_deg`` turns x about z (counter-clockwise seen from the base).
    """
    z = -_body_direction(apex_frontal_deg, apex_anterior_deg)
    towards_rv = np.array([-1.0, 0.0, -0.5])
    x = towards_rv - (towards_rv @ z) * z
    x /= np.linalg.norm(x)
    roll = np.radians(roll_deg)
    x = np.cos(roll) * x + np.sin(roll) * np.cross(z, x)
    return np.column_stack([x, np.cross(z, x), z])


def typical_heart_rotation() -> np.ndarray:
    return heart_rotation(TYPICAL_APEX_FRONTAL_DEG, TYPICAL_APEX_ANTERIOR_DEG)


def random_heart_rotation(rng: np.random.Generator) -> np.ndarray:
    """A heart orientation drawn with the between-person spread of the electrical axis."""
    frontal, anterior, roll = rng.normal(0.0, ORIENTATION_SD_DEG)
    return heart_rotation(TYPICAL_APEX_FRONTAL_DEG + frontal, TYPICAL_APEX_ANTERIOR_DEG + anterior, roll)


def _body_direction(frontal_deg: float, anterior_deg: float) -> np.ndarray:
    frontal, anterior = np.radians(frontal_deg), np.radians(anterior_deg)
    return np.array([np.cos(frontal) * np.cos(anterior), np.sin(frontal) * np.cos(anterior), -np.sin(anterior)])


# The typical directions carried into the heart frame once, so each subject's orientation can turn them.
_DIRECTION_NAMES = tuple(TYPICAL_DIRECTIONS)
_HEART_FRAME_DIRECTIONS = (
    np.array([v / np.linalg.norm(v) for v in TYPICAL_DIRECTIONS.values()]) @ typical_heart_rotation()
)  # (N, 3); each row is R.T @ v


@dataclass(frozen=True)
class EcgTruth:
    """What the model put into the ECG, on its noise-free beat at the mean rate. ms and degrees; P values None in AF.

    Axes follow the cart rule of cardionets.ecg.measure over the true wave boundaries. ``lbbb`` says whether the
    model blocked the left bundle, a finding of the ECG alone (EcgDrivers do not carry it).
    """

    rr_ms: float
    pr_ms: float | None
    qrs_ms: float
    qt_ms: float
    p_axis_deg: float | None
    qrs_axis_deg: float
    t_axis_deg: float
    lbbb: bool


@dataclass(frozen=True)
class ModelBeat:
    """One noise-free beat at the mean rate, with its exact wave boundaries as (sub-)sample indices at fs_hz.

    The P boundaries are None in AF. Recording noise, the cart's filters and beat-to-beat variability are absent.
    """

    waveform_mv: np.ndarray  # (12, L) float64, mV, canonical lead order
    fs_hz: float
    p_onset: float | None
    p_offset: float | None
    qrs_onset: float
    qrs_offset: float
    t_offset: float


@dataclass(frozen=True)
class SimulatedEcg:
    """One simulated recording, with what the model knows about it."""

    ecg: ECG  # canonical: 500 Hz, duration_s, mV
    device_ecg: ECG  # what the site's cart stores, at device.fs_hz
    truth: EcgTruth
    beat: ModelBeat


@dataclass(frozen=True)
class _Intervals:
    """This subject's conduction times in ms; ``pr_ms`` and ``p_ms`` are None without organised atrial activity."""

    rr_ms: float
    pr_ms: float | None
    p_ms: float | None
    qrs_ms: float
    qt_ms: float  # at the mean rate
    lbbb: bool


@dataclass(frozen=True)
class _Shape:
    """This person's T-wave shape, as fractions of the J-to-T-end time."""

    st_fraction: float
    t_peak_fraction: float


@dataclass(frozen=True)
class _Rhythm:
    qrs_onsets_s: np.ndarray  # (B,)
    qt_stretch: np.ndarray  # (B,) repolarisation time scale from the preceding RR
    voltage_scale: np.ndarray  # (B,)
    respiration_hz: float


def simulate_ecg(
    drivers: EcgDrivers, device: EcgDevice, rng: np.random.Generator, duration_s: float = 10.0,
    config: EcgModelConfig = DEFAULT_CONFIG,
) -> SimulatedEcg:
    """Simulate one resting 12-lead ECG of this subject as recorded by ``device``."""
    # Sources of variation added later draw from a stream of their own, so that adding one does not reshuffle
    # the draws behind each subject's intervals, directions and rhythm.
    variation_rng = rng.spawn(1)[0]
    intervals = _intervals(drivers, rng, config)
    directions = _subject_directions(drivers.heart_rotation, rng, config)
    skin_gain = rng.lognormal(0.0, device.gain_sd)
    waves = _heart_waves(drivers, intervals, directions, skin_gain, _shape(variation_rng, config), config)
    lead_gain = _typical_lead_gain(config) * rng.lognormal(0.0, _lead_gain_sd(config))
    stored_s = (CART_SETTLE_S, CART_SETTLE_S + duration_s)  # the window the cart keeps of what it records
    rhythm = _rhythm(drivers, intervals, stored_s[1] + CART_SETTLE_S, rng, variation_rng, config)

    n_recorded, n_settle = (round(s * device.fs_hz) for s in (duration_s + 2 * CART_SETTLE_S, CART_SETTLE_S))
    rhythm, ventricular = _premature_ventricular_beats(rhythm, drivers, variation_rng, config)
    wave_scale = _wave_scale_per_beat(len(waves), rhythm, variation_rng, config) * ~ventricular
    heart_vector = render_heart_vector(waves, rhythm.qrs_onsets_s, wave_scale, rhythm.qt_stretch,
                                       device.fs_hz, n_recorded)  # (3, T)
    if ventricular.any():
        ectopic = _ectopic_waves(waves, intervals, variation_rng, config)
        heart_vector += render_heart_vector(ectopic, rhythm.qrs_onsets_s[ventricular], np.ones(ventricular.sum()),
                                            rhythm.qt_stretch[ventricular], device.fs_hz, n_recorded)
    if drivers.af:
        heart_vector += _fibrillatory_waves(directions["f_wave"], n_recorded, device.fs_hz, rng, config)
    recorded = lead_gain * (DOWER_XYZ_TO_8 @ heart_vector)  # (8, T)
    recorded += recording_noise(len(RECORDED_LEADS), n_recorded, device.fs_hz, device, rhythm.respiration_hz, rng)
    recorded += electrode_noise(len(RECORDED_LEADS), n_recorded, device.fs_hz, variation_rng)
    stored = cart_filter(recorded, device, device.fs_hz)[:, n_settle : n_recorded - n_settle]

    device_ecg = ECG(twelve_leads(stored).astype(np.float32), device.fs_hz, _metadata(drivers, device))
    beat = _model_beat(waves, intervals, lead_gain)
    truth = _truth(beat, intervals, rhythm, stored_s)
    return SimulatedEcg(resample(device_ecg, CANONICAL_FS_HZ), device_ecg, truth, beat)


# --- Timing ---------------------------------------------------------------------------------------------------


def _intervals(d: EcgDrivers, rng: np.random.Generator, c: EcgModelConfig) -> _Intervals:
    male = d.sex == "M"
    pr_noise, p_noise, qrs_noise, qtc_noise = rng.standard_normal(4)
    lbbb = bool(rng.random() < c.lbbb_background + c.lbbb_per_dcm * d.dcm)

    lvedv_index = d.lvedv_ml / d.bsa_m2
    qrs_ms = ((c.qrs_ms_male if male else c.qrs_ms_female) + c.qrs_sd_ms * qrs_noise
              + c.qrs_ms_per_dilation_doubling * max(0.0, np.log2(lvedv_index / c.lvedv_index_reference))
              + c.qrs_ms_per_hcm * d.hcm)
    narrow_qrs_ms = qrs_ms
    if lbbb:
        qrs_ms = float(np.clip(qrs_ms + c.lbbb_extra_qrs_ms, *c.lbbb_qrs_ms))

    rr_ms = 60000.0 / d.hr_bpm
    qtc_ms = ((c.qtc_ms_male if male else c.qtc_ms_female) + c.qtc_sd_ms * qtc_noise
              + c.qtc_ms_per_year_over_50 * max(0.0, d.age_years - 50) + c.qtc_ms_per_hcm * d.hcm
              + c.qtc_ms_per_dcm * d.dcm)
    # Fridericia's cube-root rate correction; a bundle branch block adds its extra depolarisation time.
    qt_ms = qtc_ms * np.cbrt(rr_ms / 1000.0) + (qrs_ms - narrow_qrs_ms)

    if d.af:
        return _Intervals(rr_ms, None, None, float(qrs_ms), float(qt_ms), lbbb)
    p_ms = float(np.clip(c.p_ms_at_reference + c.p_ms_per_la_ml * (d.lav_max_ml - c.la_reference_ml)
                         + c.p_sd_ms * p_noise, *c.p_range_ms))
    pr_ms = float(np.clip(c.pr_ms_at_50 + c.pr_ms_per_year * (d.age_years - 50) + c.pr_sd_ms * pr_noise
                          + c.pr_ms_per_amyloid * d.rcm, *c.pr_range_ms))
    return _Intervals(rr_ms, max(pr_ms, p_ms + c.min_pr_segment_ms), p_ms, float(qrs_ms), float(qt_ms), lbbb)


def _rhythm(d: EcgDrivers, iv: _Intervals, recorded_s: float, rng: np.random.Generator,
            variation_rng: np.random.Generator, c: EcgModelConfig) -> _Rhythm:
    """Beats from before the recording starts (a T wave ends up to ~0.6 s after its QRS onset) to just after it ends
    (a P wave starts up to ~0.3 s before)."""
    rr_s = iv.rr_ms / 1000.0
    n_beats = int(np.ceil((recorded_s + 1.0 + rr_s) / c.min_rr_s))  # enough even if every RR were the shortest
    respiration_hz = rng.uniform(*c.respiration_hz)
    breathing_phase, voltage_phase = rng.uniform(0, 2 * np.pi, 2)
    first_onset_s = -0.6 - rng.uniform(0.0, rr_s)
    approx_times = first_onset_s + rr_s * np.arange(n_beats)
    if d.af:
        sigma = np.sqrt(np.log1p((c.af_rr_cv * variation_rng.lognormal(0.0, c.af_rr_cv_spread)) ** 2))
        rr = rr_s * rng.lognormal(-sigma**2 / 2, sigma, n_beats)
    else:
        arrhythmia = (c.sinus_arrhythmia * np.clip(1.0 - (d.age_years - 20.0) / 80.0, 0.2, 1.0)
                      * rng.lognormal(0.0, c.sinus_arrhythmia_spread))
        drift = c.slow_rr_drift * rng.lognormal(0.0, c.sinus_arrhythmia_spread)
        rr = rr_s * (1 + arrhythmia * np.sin(2 * np.pi * respiration_hz * approx_times + breathing_phase)
                     + drift * np.sin(2 * np.pi * rng.uniform(*c.slow_rr_hz) * approx_times + rng.uniform(0, 7))
                     + c.rr_jitter * rng.standard_normal(n_beats))
        rr = _premature_beats(rr, rng, c)
    rr = np.maximum(rr, c.min_rr_s)
    onsets = first_onset_s + np.concatenate(([0.0], np.cumsum(rr[:-1])))
    keep = onsets < recorded_s + 0.4
    voltage = (1 + c.breathing_voltage * np.sin(2 * np.pi * respiration_hz * onsets + voltage_phase)
               + c.beat_voltage_jitter * rng.standard_normal(n_beats))
    preceding_rr = np.concatenate(([rr_s], rr[:-1]))
    return _Rhythm(onsets[keep], np.cbrt(preceding_rr / rr_s)[keep], voltage[keep], respiration_hz)


def _premature_ventricular_beats(rhythm: _Rhythm, d: EcgDrivers, rng: np.random.Generator,
                                 c: EcgModelConfig) -> tuple[_Rhythm, np.ndarray]:
    """The rhythm with some beats replaced by premature ventricular ones, and which (B,) bool. A PVC comes early
    and the next sinus beat on time, so the pause after it makes up for the early coupling."""
    onsets = rhythm.qrs_onsets_s
    ventricular = np.zeros(onsets.size, dtype=bool)
    if d.af or onsets.size < 3 or rng.random() >= c.pvc_share:
        return rhythm, ventricular
    per_beat = c.pvc_per_min * rng.lognormal(0.0, c.premature_rate_spread) * np.mean(np.diff(onsets)) / 60.0
    ventricular[1:-1] = rng.random(onsets.size - 2) < min(per_beat, 0.3)
    ventricular[1:] &= ~ventricular[:-1]  # no couplets: a PVC follows a sinus beat
    early = onsets.copy()
    index = np.flatnonzero(ventricular)
    early[index] = onsets[index - 1] + rng.uniform(*c.pvc_coupling, index.size) * (onsets[index] - onsets[index - 1])
    return replace(rhythm, qrs_onsets_s=early), ventricular


def _ectopic_waves(waves: list[Wave], iv: _Intervals, rng: np.random.Generator, c: EcgModelConfig) -> list[Wave]:
    """One premature ventricular beat: activation spreads slowly from a random focus, first away from it and
    then turning, and repolarisation runs the other way (T discordant to the QRS)."""
    lv_mv = max(abs(w.amplitude_mv) for w in waves if not w.repolarising)
    qrs_ms = rng.uniform(*c.pvc_qrs_ms)
    first = rng.standard_normal(3)
    first /= np.linalg.norm(first)
    second = first + 0.8 * rng.standard_normal(3)
    second /= np.linalg.norm(second)
    size = c.pvc_size * lv_mv
    qt_ms = iv.qt_ms + (qrs_ms - iv.qrs_ms)
    return [Wave(first, size, 0.0, 0.65 * qrs_ms), Wave(second, 0.7 * size, 0.3 * qrs_ms, 0.7 * qrs_ms),
            Wave(-(first + second) / np.linalg.norm(first + second), 0.4 * size, qrs_ms, qt_ms - qrs_ms,
                 c.t_peak_fraction, repolarising=True)]


def _typical_lead_gain(c: EcgModelConfig) -> np.ndarray:
    return np.array([[c.v1_gain if lead == "V1" else 1.0] for lead in RECORDED_LEADS])


def _lead_gain_sd(c: EcgModelConfig) -> np.ndarray:
    return np.array([[c.chest_lead_gain_sd if lead.startswith("V") else c.lead_gain_sd] for lead in RECORDED_LEADS])


def _wave_scale_per_beat(n_waves: int, rhythm: _Rhythm, rng: np.random.Generator, c: EcgModelConfig) -> np.ndarray:
    """(waves, beats) each wave's voltage factor in each beat: the shared breathing swing, each wave's own
    breathing phase (the heart turning) and beat-to-beat jitter."""
    turn, jitter = np.array([c.breathing_turn, c.beat_morphology_jitter]) * rng.lognormal(
        0.0, c.beat_variation_spread, 2)
    phases = rng.uniform(0, 2 * np.pi, (n_waves, 1))
    own = (turn * np.sin(2 * np.pi * rhythm.respiration_hz * rhythm.qrs_onsets_s + phases)
           + jitter * rng.standard_normal((n_waves, rhythm.qrs_onsets_s.size)))
    return rhythm.voltage_scale * np.maximum(1.0 + own, 0.0)


def _shape(rng: np.random.Generator, c: EcgModelConfig) -> _Shape:
    st_fraction, t_peak = rng.normal((c.st_fraction, c.t_peak_fraction), (c.st_fraction_sd, c.t_peak_sd))
    return _Shape(float(np.clip(st_fraction, 0.05, 0.35)), float(np.clip(t_peak, 0.5, 0.75)))


def _premature_beats(rr: np.ndarray, rng: np.random.Generator, c: EcgModelConfig) -> np.ndarray:
    """Premature atrial beats: an RR cut short to the coupling interval; the sinus node resets, so the next RR
    is an ordinary one (no compensatory pause). ``rr[i]`` is the interval from beat i to beat i + 1."""
    if rng.random() >= c.premature_share:
        return rr
    per_beat = c.premature_per_min * rng.lognormal(0.0, c.premature_rate_spread) * np.mean(rr) / 60.0
    early = np.flatnonzero(rng.random(rr.size) < min(per_beat, 0.3))
    rr = rr.copy()
    rr[early] *= rng.uniform(*c.premature_coupling, early.size)
    return rr


# --- Waves ----------------------------------------------------------------------------------------------------


def _subject_directions(rotation: np.ndarray, rng: np.random.Generator, c: EcgModelConfig) -> dict[str, np.ndarray]:
    """Each wave's direction in this subject's body frame: the typical one, turned with the heart, plus jitter."""
    jitter = np.where(np.array(_DIRECTION_NAMES)[:, None] == "t", c.t_direction_jitter, c.direction_jitter)
    turned = _HEART_FRAME_DIRECTIONS @ rotation.T + jitter * rng.standard_normal(_HEART_FRAME_DIRECTIONS.shape)
    turned /= np.linalg.norm(turned, axis=1, keepdims=True)
    directions = dict(zip(_DIRECTION_NAMES, turned))
    typical_t = np.asarray(TYPICAL_DIRECTIONS["t"]) / np.linalg.norm(TYPICAL_DIRECTIONS["t"])
    t = c.t_turn_with_heart * directions["t"] + (1.0 - c.t_turn_with_heart) * typical_t
    return directions | {"t": t / np.linalg.norm(t)}


def _heart_waves(d: EcgDrivers, iv: _Intervals, directions: dict[str, np.ndarray], skin_gain: float,
                 shape: _Shape, c: EcgModelConfig) -> list[Wave]:
    """Every wave of one beat, sized and timed for this subject."""
    # What reaches the skin: electrode contact and torso conductivity (skin_gain), fat, age, amyloid infiltration.
    body = skin_gain * (d.bmi / c.bmi_reference) ** -c.bmi_exponent * np.exp(
        c.log_voltage_per_decade * (d.age_years - 50.0) / 10.0) * (1.0 - c.amyloid_voltage_loss * d.rcm)
    active_lv_mass_g = d.lv_mass_g * (1.0 - c.amyloid_inert_share * d.rcm)
    lv_mv = c.lv_mv * body * (active_lv_mass_g / c.lv_mass_reference_g) ** c.lv_mass_exponent
    return [*_p_waves(d, iv, directions, body, c), *_qrs_waves(d, iv, directions, body, lv_mv, c),
            _t_wave(d, iv, directions, lv_mv, shape, c)]


def _p_waves(d: EcgDrivers, iv: _Intervals, directions: dict[str, np.ndarray], body: float,
             c: EcgModelConfig) -> list[Wave]:
    """Right atrium first, left atrium later: a big LA delays and enlarges the second hump (notched P, deep
    terminal P in V1); a big RA makes the first one tall (peaked P in II)."""
    if iv.p_ms is None:
        return []
    ra_mv = body * c.ra_p_mv * (d.rav_max_ml / c.ra_reference_ml) ** c.p_volume_exponent
    la_mv = body * c.la_p_mv * (d.lav_max_ml / c.la_reference_ml) ** c.p_volume_exponent
    onset_ms = -iv.pr_ms
    return [Wave(directions["ra"], ra_mv, onset_ms, c.ra_p_share * iv.p_ms),
            Wave(directions["la"], la_mv, onset_ms + (1.0 - c.la_p_share) * iv.p_ms, c.la_p_share * iv.p_ms)]


def _qrs_waves(d: EcgDrivers, iv: _Intervals, directions: dict[str, np.ndarray], body: float, lv_mv: float,
               c: EcgModelConfig) -> list[Wave]:
    def wave(name: str, amplitude_mv: float, direction: str | None = None) -> Wave:
        onset, duration, peak = QRS_TIMING[name]
        return Wave(directions[direction or name], amplitude_mv, onset * iv.qrs_ms, duration * iv.qrs_ms, peak,
                    sharpness=c.qrs_sharpness)

    if iv.lbbb:  # activation crosses the septum from the right, then creeps through the LV in two fronts
        waves = [wave("lbbb_septal", c.lbbb_septal_share * lv_mv), wave("lbbb_lv", c.lbbb_lv_share * lv_mv),
                 wave("lbbb_lv_late", c.lbbb_lv_share * lv_mv)]
    else:
        septal_mv = (c.septal_mv * body * (d.septal_thickness_mm / c.septal_thickness_reference_mm)
                     ** c.septal_thickness_exponent * (1.0 - c.amyloid_septal_loss * d.rcm)
                     * (1.0 - c.dcm_septal_loss * d.dcm))
        waves = [wave("septal", septal_mv), wave("lv_anterior", c.lv_anterior_share * lv_mv), wave("lv", lv_mv),
                 wave("basal", c.terminal_share * lv_mv)]
    rv_mv = body * (c.rv_mv * d.rv_mass_g / c.rv_mass_reference_g + c.rv_mv_per_ph * d.ph)
    waves.append(wave("rv", rv_mv))
    if d.mi > 0 and d.mi_territory:  # the scar's share of the early forces is lost: the vector turns away
        waves.append(wave("infarct", -c.infarct_share * d.mi * lv_mv, direction=d.mi_territory))
    return waves


def _t_wave(d: EcgDrivers, iv: _Intervals, directions: dict[str, np.ndarray], lv_mv: float, shape: _Shape,
            c: EcgModelConfig) -> Wave:
    """The ventricular gradient, pulled away from a strained or scarred region (T inverted in the leads facing it)."""
    lv_strain = max(_ramp(d.lv_mass_g / d.bsa_m2, *c.lv_mass_index_strain), _ramp(d.hcm, *c.hcm_strain))
    pulls = [(lv_strain, directions["lv_strain"]), (c.rv_strain_per_ph * d.ph, -directions["rv"])]
    if d.mi > 0 and d.mi_territory:
        pulls.append((c.scar_t_per_mi * d.mi, -directions[d.mi_territory]))
    if iv.lbbb:  # secondary repolarisation: discordant to the broad QRS
        pulls.append((1.0, -directions["lbbb_lv"]))
    pulled = sum(weight for weight, _ in pulls)
    vector = max(0.0, 1.0 - pulled) * directions["t"] + sum(weight * v for weight, v in pulls)
    # Strain repolarises early: the ST segment slopes straight down into the inverted T.
    st_ms = shape.st_fraction * (iv.qt_ms - iv.qrs_ms) * max(0.0, 1.0 - pulled)
    onset_ms = iv.qrs_ms + st_ms
    return Wave(vector / np.linalg.norm(vector), c.t_share * lv_mv * (1.0 + c.strain_t_gain * lv_strain),
                onset_ms, iv.qt_ms - onset_ms, shape.t_peak_fraction, repolarising=True)


def _ramp(value: float, start: float, full: float) -> float:
    return float(np.clip((value - start) / (full - start), 0.0, 1.0))


def _fibrillatory_waves(direction: np.ndarray, n_samples: int, fs_hz: float, rng: np.random.Generator,
                        c: EcgModelConfig) -> np.ndarray:
    """(3, T) f waves: three 4-9 Hz oscillations whose rate and size wander, never repeating from beat to beat.

    Each phase swings by up to 2 rad at 0.3 Hz (its rate drifts by ~0.6 Hz), each size swells and fades by half
    at 0.2 Hz, and the overall size differs between people (fine to coarse AF).
    """
    t = np.arange(n_samples) / fs_hz
    freqs = rng.uniform(*c.f_wave_hz, (3, 1))
    phases, wanders, swells = rng.uniform(0, 2 * np.pi, (3, 3, 1))
    oscillation = np.sin(2 * np.pi * freqs * t + phases + 2.0 * np.sin(2 * np.pi * 0.3 * t + wanders))
    size = c.f_wave_mv * rng.lognormal(0.0, c.f_wave_size_sd) * (1 + 0.5 * np.sin(2 * np.pi * 0.2 * t + swells))
    return direction[:, None] * np.sum(size * oscillation, axis=0) / np.sqrt(3)


# --- Outputs --------------------------------------------------------------------------------------------------


def _model_beat(waves: list[Wave], iv: _Intervals, lead_gain: np.ndarray) -> ModelBeat:
    fs = CANONICAL_FS_HZ
    before_ms, after_ms = (iv.pr_ms or 0.0) + 100.0, iv.qt_ms + 100.0
    n_samples = round((before_ms + after_ms) * fs / 1000.0)
    one = np.ones(1)
    vector = render_heart_vector(waves, np.array([before_ms / 1000.0]), one, one, fs, n_samples)
    leads = twelve_leads(lead_gain * (DOWER_XYZ_TO_8 @ vector))

    def sample(ms: float) -> float:
        return (before_ms + ms) * fs / 1000.0

    has_p = iv.pr_ms is not None
    return ModelBeat(leads, fs, sample(-iv.pr_ms) if has_p else None, sample(iv.p_ms - iv.pr_ms) if has_p else None,
                     sample(0.0), sample(iv.qrs_ms), sample(iv.qt_ms))


def _truth(beat: ModelBeat, iv: _Intervals, rhythm: _Rhythm, stored_s: tuple[float, float]) -> EcgTruth:
    onsets = rhythm.qrs_onsets_s
    in_view = onsets[(onsets >= stored_s[0]) & (onsets < stored_s[1])]
    rr_ms = float(np.mean(np.diff(in_view)) * 1000.0) if in_view.size > 1 else iv.rr_ms
    p_axis = (frontal_axis_deg(beat.waveform_mv, beat.p_onset, beat.p_offset) if beat.p_onset is not None
              else None)
    return EcgTruth(
        rr_ms=rr_ms, pr_ms=iv.pr_ms, qrs_ms=iv.qrs_ms, qt_ms=iv.qt_ms, p_axis_deg=p_axis,
        qrs_axis_deg=frontal_axis_deg(beat.waveform_mv, beat.qrs_onset, beat.qrs_offset, by="net_deflection"),
        t_axis_deg=frontal_axis_deg(beat.waveform_mv, beat.qrs_offset, beat.t_offset), lbbb=iv.lbbb,
    )


def _metadata(d: EcgDrivers, device: EcgDevice) -> ECGMetadata:
    # Height and weight that give this BMI and BSA (Mosteller: BSA = sqrt(height_cm * weight_kg / 3600)).
    height_cm = float(np.cbrt(d.bsa_m2**2 * 3600.0 * 1e4 / d.bmi))
    return ECGMetadata(
        source_format="simulated", original_fs_hz=float(device.fs_hz), original_leads=STANDARD_LEADS,
        age_years=float(d.age_years), sex=d.sex, height_cm=height_cm, weight_kg=d.bmi * (height_cm / 100.0) ** 2,
    )

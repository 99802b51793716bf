"""Healthy anatomy targets and the shape parameters that realise them.

Targets are drawn per subject (volumes scale with body size and shrink with age, as in UK Biobank), then turned
into a HeartSpec whose *measured* volumes land near them. LV values follow Petersen et al. 2017
(`reference_ranges.PETERSEN_2017`); RV and atrial values are typical adult CMR values used as simulator targets
only (see TARGETS_UNVERIFIED).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .cycle import phases_for
from .geometry import MYOCARDIAL_DENSITY_G_PER_ML, AtriumSpec, HeartGeometry, HeartSpec, LVSpec, RVSpec
from .reference_ranges import PETERSEN_2017

# Mean BSA of the UK Biobank reference cohort by sex (BMI < 30), which this sampler reproduces for BMI < 30.
REFERENCE_BSA_M2 = {"M": 1.96, "F": 1.74}
# Indexed LV mass (g/m2, papillary muscles excluded), Petersen 2017 abstract.
LV_MASS_INDEX = {"M": (53.0, 9.0), "F": (42.0, 7.0)}
# RV and atria: typical adult CMR values by sex (mean, SD), used as simulator targets; NOT verified against
# Petersen 2017's tables, which could not be read offline. RV EF and atrial EF are percentages.
TARGETS_UNVERIFIED = {
    "M": {"rvedv_ml": (182.0, 36.0), "rvef_pct": (56.0, 6.0), "lav_max_ml": (73.0, 19.0), "laef_pct": (60.0, 7.0),
          "rav_max_ml": (95.0, 25.0), "raef_pct": (45.0, 9.0)},
    "F": {"rvedv_ml": (130.0, 24.0), "rvef_pct": (59.0, 6.0), "lav_max_ml": (67.0, 16.0), "laef_pct": (62.0, 7.0),
          "rav_max_ml": (72.0, 19.0), "raef_pct": (48.0, 9.0)},
}
# Share of between-person volume variation explained by body size and age; the rest is individual.
AGE_VOLUME_SLOPE_PER_DECADE = -0.04  # volumes ~4 % smaller per decade in UK Biobank
BSA_VOLUME_EXPONENT = 1.0
CAVITY_SHAPE_EXPONENT = 2.6  # r = a (1 - d^p)^(1/p): p = 2 is an ellipsoid, larger p a blunter, bullet-like LV
SEGMENT_THICKNESS_PROFILE = np.array(  # relative ED wall thickness: basal > mid > apical, septum like free wall
    [1.05] * 6 + [1.0] * 6 + [0.85] * 4
)


@dataclass(frozen=True)
class Demographics:
    age_years: float
    sex: str
    height_cm: float
    weight_kg: float

    @property
    def bsa_m2(self) -> float:
        """Body surface area by Mosteller's formula."""
        return float(np.sqrt(self.height_cm * self.weight_kg / 3600.0))

    @property
    def bmi(self) -> float:
        return self.weight_kg / (self.height_cm / 100.0) ** 2


def sample_demographics(rng: np.random.Generator, age_range: tuple[float, float] = (40.0, 80.0)) -> Demographics:
    sex = "M" if rng.random() < 0.5 else "F"
    height = rng.normal(176.0, 7.0) if sex == "M" else rng.normal(163.0, 6.5)
    bmi = float(np.clip(rng.lognormal(np.log(26.5), 0.15), 17.0, 45.0))
    return Demographics(float(rng.uniform(*age_range)), sex, float(height), float(bmi * (height / 100) ** 2))


@dataclass(frozen=True)
class AnatomyTargets:
    """What one subject's healthy heart should measure; diseases then modify these."""

    lvedv_ml: float
    lvef: float
    lv_mass_g: float | None  # None: segment_thickness_profile is absolute (mm) and the mass follows from it
    cavity_length_mm: float
    rvedv_ml: float
    rvef: float
    rv_wall_mm: float
    lav_max_ml: float
    laef: float
    rav_max_ml: float
    raef: float
    long_axis_shortening: float
    segment_thickness_profile: np.ndarray  # (16,) relative thickness (mm when lv_mass_g is None)
    segment_motion: np.ndarray  # (16,)
    cavity_shape_exponent: float = CAVITY_SHAPE_EXPONENT
    septal_flattening: float = 0.0


def sample_healthy_targets(rng: np.random.Generator, person: Demographics) -> AnatomyTargets:
    sex = person.sex
    size = (person.bsa_m2 / REFERENCE_BSA_M2[sex]) ** BSA_VOLUME_EXPONENT
    ageing = 1.0 + AGE_VOLUME_SLOPE_PER_DECADE * (person.age_years - 60.0) / 10.0

    def volume(mean: float, sd: float) -> float:
        # Body size and age explain part of the spread; the individual factor supplies the rest.
        explained = np.log(size * ageing)
        residual_sd = np.sqrt(max(np.log1p((sd / mean) ** 2) - 0.0085, 0.0025))
        return float(mean * np.exp(explained + rng.normal(0.0, residual_sd)))

    lv = PETERSEN_2017[sex]
    unverified = TARGETS_UNVERIFIED[sex]
    mass_index_mean, mass_index_sd = LV_MASS_INDEX[sex]
    return AnatomyTargets(
        lvedv_ml=volume(lv["lvedv_ml"].mean, lv["lvedv_ml"].sd),
        lvef=float(np.clip(rng.normal(lv["lvef_pct"].mean, lv["lvef_pct"].sd), 45, 75)) / 100.0,
        lv_mass_g=float(person.bsa_m2 * max(rng.normal(mass_index_mean, mass_index_sd), 25.0)),
        cavity_length_mm=float(rng.normal(88.0, 5.0) * (person.height_cm / 170.0) ** 0.5),
        rvedv_ml=volume(*unverified["rvedv_ml"]),
        rvef=float(np.clip(rng.normal(*unverified["rvef_pct"]), 40, 75)) / 100.0,
        rv_wall_mm=float(rng.normal(3.5, 0.4)),
        lav_max_ml=volume(*unverified["lav_max_ml"]),
        laef=float(np.clip(rng.normal(*unverified["laef_pct"]), 40, 80)) / 100.0,
        rav_max_ml=volume(*unverified["rav_max_ml"]),
        raef=float(np.clip(rng.normal(*unverified["raef_pct"]), 25, 70)) / 100.0,
        long_axis_shortening=float(rng.normal(0.14, 0.02)),
        segment_thickness_profile=SEGMENT_THICKNESS_PROFILE * rng.normal(1.0, 0.04, 16),
        segment_motion=np.ones(16),
    )


def _cavity_volume_factor(exponent: float) -> float:
    """Volume of the blunt cavity over pi a^2 L: integral of (1 - x^p)^(2/p) over [0, 1]."""
    x = (np.arange(2000) + 0.5) / 2000
    return float(np.mean((1 - x**exponent) ** (2 / exponent)))


def build_heart(
    targets: AnatomyTargets, hr_bpm: float, relaxation_impairment: float, atrial_fibrillation: bool,
    n_frames: int, rng: np.random.Generator,
) -> HeartSpec:
    """A HeartSpec whose measured volumes and LV mass come out near the targets."""
    length = targets.cavity_length_mm
    shape_factor = _cavity_volume_factor(targets.cavity_shape_exponent)
    radius = float(np.sqrt(targets.lvedv_ml * 1000.0 / (np.pi * length * shape_factor)))
    phases = phases_for(hr_bpm, relaxation_impairment, atrial_fibrillation)

    def lv_spec(thickness_scale: float) -> LVSpec:
        thickness = targets.segment_thickness_profile * thickness_scale
        return LVSpec(radius, length, float(np.mean(thickness[12:])), thickness, targets.segment_motion,
                      targets.lvef, targets.long_axis_shortening, targets.cavity_shape_exponent,
                      targets.septal_flattening)

    lv = lv_spec(1.0) if targets.lv_mass_g is None else lv_spec(_thickness_scale_for_mass(lv_spec, targets, phases))

    outer = radius + float(np.mean(lv.segment_thickness_mm[:12]))
    jitter = rng.normal(1.0, 0.05, 3)
    # The RV ellipsoid sits beside the septum and is wider antero-posteriorly than deep: minus the LV it leaves
    # the crescent seen on short-axis cines.
    rv_axes = np.array([outer * 0.8, outer * 1.45, 0.72 * lv.outer_length_mm]) * jitter
    rv_centre = (outer * 0.95, outer * 0.15, -0.42 * lv.outer_length_mm)
    rv = _scaled_rv(HeartGeometry(HeartSpec(lv, _UNUSED_RV, _UNUSED_ATRIUM, _UNUSED_ATRIUM, phases, 2)),
                    rv_centre, rv_axes, targets)
    la = _atrium((-0.1 * radius, -0.3 * radius), targets.lav_max_ml, targets.laef, (1.0, 0.85, 1.1))
    ra_x = rv.centre_mm[0] + 0.3 * rv.semi_axes_mm[0]
    ra = _atrium((ra_x, -0.2 * radius), targets.rav_max_ml, targets.raef, (1.0, 0.9, 1.15))
    return HeartSpec(lv, rv, la, ra, phases, n_frames)


def _thickness_scale_for_mass(lv_spec, targets: AnatomyTargets, phases) -> float:
    """Wall thickness scale (mm) giving the target mass: mass is close to linear in it; two secant steps."""
    scales = [5.0, 8.0]
    masses = [_lv_mass(lv_spec(scale), phases) for scale in scales]
    for _ in range(2):
        slope = (masses[-1] - masses[-2]) / (scales[-1] - scales[-2])
        scales.append(float(np.clip(scales[-1] + (targets.lv_mass_g - masses[-1]) / slope, 3.0, 40.0)))
        masses.append(_lv_mass(lv_spec(scales[-1]), phases))
    return scales[-1]


# Stand-ins for the parts a partial geometry never evaluates (its quantities are computed lazily).
_UNUSED_RV = RVSpec((0.0, 0.0, 0.0), (1.0, 1.0, 1.0), 1.0, 0.5)
_UNUSED_ATRIUM = AtriumSpec((0.0, 0.0), (1.0, 1.0, 1.0), 0.5)


def _lv_mass(lv: LVSpec, phases) -> float:
    geometry = HeartGeometry(HeartSpec(lv, _UNUSED_RV, _UNUSED_ATRIUM, _UNUSED_ATRIUM, phases, 2))
    return float(geometry.lv_myocardial_volume_ml(0) * MYOCARDIAL_DENSITY_G_PER_ML)


def _scaled_rv(lv_geometry: HeartGeometry, centre, axes: np.ndarray, targets: AnatomyTargets) -> RVSpec:
    """Scale the RV ellipsoid (about the LV axis) until its cavity, outside the LV, holds the target volume."""
    def volume(scale: float) -> float:
        rv = RVSpec(tuple(np.multiply(centre, (scale, scale, 1.0))), tuple(axes * scale), targets.rv_wall_mm,
                    targets.rvef)
        return float(lv_geometry.rv_ray_volume_ml(np.array([0]), 0.0, rv=rv)[0])

    scales = [1.0, 1.15]
    values = [volume(s) for s in scales]
    for _ in range(2):
        if values[-1] == values[-2]:
            break
        slope = (values[-1] - values[-2]) / (scales[-1] - scales[-2])
        scales.append(float(np.clip(scales[-1] + (targets.rvedv_ml - values[-1]) / slope, 0.5, 2.5)))
        values.append(volume(scales[-1]))
    scale = scales[-1]
    return RVSpec((centre[0] * scale, centre[1] * scale, centre[2]), tuple(axes * scale), targets.rv_wall_mm,
                  targets.rvef)


def _atrium(centre_xy, max_volume_ml: float, ejection_fraction: float, shape: tuple[float, float, float]) -> AtriumSpec:
    """An ellipsoid of the given maximum volume and axis ratios."""
    ratios = np.asarray(shape)
    base = np.cbrt(max_volume_ml * 1000.0 / (4.0 / 3.0 * np.pi * ratios.prod()))
    return AtriumSpec(tuple(float(v) for v in centre_xy), tuple(base * ratios), 1.0 - ejection_fraction)

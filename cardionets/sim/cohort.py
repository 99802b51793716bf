"""One simulated subject, end to end: demographics and diseases -> 3D heart -> phenotypes, ECG and cine CMR.

Everything about subject ``i`` of a cohort with seed ``s`` comes from one random stream seeded by (s, i), so any
subject can be regenerated alone, in any process, in any order.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ecg import ECG
from .anatomy import Demographics, build_heart, sample_demographics, sample_healthy_targets
from .cmr import ViewPlane, render_cine, standard_planes
from .diseases import DEFAULT_PREVALENCE, DiseaseState, apply_diseases, sample_diseases
from .drivers import EcgDrivers
from .ecg_model import EcgTruth, random_heart_rotation, simulate_ecg
from .geometry import MYOCARDIAL_DENSITY_G_PER_ML, HeartGeometry
from .phenotypes import measure_phenotypes
from .sites import DEFAULT_SITES, SITES

VIEWS = ("sax", "4ch")
INFILTRATE_FREE_WALL_MM = 7.0  # typical healthy LV wall; beyond it an amyloid wall is infiltrate
# Columns of the manifest besides the phenotypes, in order.
DEMOGRAPHIC_COLUMNS = ("subject_id", "site", "age", "sex", "height_cm", "weight_kg", "bsa_m2", "hr_bpm")


@dataclass(frozen=True)
class CohortConfig:
    """What a cohort looks like: sites, disease prevalences, cine length. Data, so a config file can hold it."""

    seed: int = 0
    sites: tuple[str, ...] = DEFAULT_SITES
    prevalence: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_PREVALENCE))
    n_frames: int = 50
    with_cmr: bool = True
    age_range: tuple[float, float] = (40.0, 80.0)


@dataclass(frozen=True)
class SimulatedSubject:
    """A subject's manifest row, ECGs (canonical 500 Hz and as the site's cart stored it) and cines.

    ``cines`` maps each view to (image (T, 96, 96) float32, labels (T, 96, 96) uint8); empty without CMR.
    """

    row: dict
    ecg: ECG
    device_ecg: ECG
    ecg_truth: EcgTruth
    geometry: HeartGeometry
    planes: dict[str, ViewPlane]
    cines: dict[str, tuple[np.ndarray, np.ndarray]]
    disease: DiseaseState


def subject_id(seed: int, index: int) -> str:
    return f"S{seed:03d}-{index:06d}"


def subject_seeds(seed: int, index: int) -> list[np.random.SeedSequence]:
    """Independent seed sequences (anatomy, ECG, CMR) of subject ``index`` in cohort ``seed``."""
    return np.random.SeedSequence([seed, index]).spawn(3)


def simulate_subject(
    index: int, config: CohortConfig = CohortConfig(), disease: DiseaseState | None = None
) -> SimulatedSubject:
    """Subject ``index`` of the cohort ``config`` describes; ``disease`` forces a diagnosis (tests, samples)."""
    # One child stream per part, so changing the ECG model does not change the anatomy or the images.
    anatomy_rng, ecg_rng, cmr_rng = (np.random.default_rng(seq) for seq in subject_seeds(config.seed, index))
    site = SITES[config.sites[int(anatomy_rng.integers(len(config.sites)))]]
    person = sample_demographics(anatomy_rng, config.age_range)
    sampled = sample_diseases(anatomy_rng, config.prevalence)
    disease = sampled if disease is None else disease
    # Resting rates of real adults (PTB-XL, CinC 2021): sinus 70 +- 12 bpm; AF faster and far more varied, 89 +- 30.
    hr_bpm = float(np.clip(anatomy_rng.normal(88.0 if disease.af else 70.0, 24.0 if disease.af else 11.5), 42.0, 160.0))
    targets = apply_diseases(sample_healthy_targets(anatomy_rng, person), disease, anatomy_rng)
    spec = build_heart(targets, hr_bpm, disease.relaxation_impairment, bool(disease.af), config.n_frames,
                       anatomy_rng)
    geometry = HeartGeometry(spec)
    phenotypes = measure_phenotypes(geometry, hr_bpm)

    drivers = _ecg_drivers(person, disease, hr_bpm, geometry, phenotypes, ecg_rng)
    simulated = simulate_ecg(drivers, site.ecg, ecg_rng)
    planes = standard_planes(geometry, site.scanner, cmr_rng)
    cines = (
        {view: render_cine(geometry, planes[view], site.scanner, cmr_rng) for view in VIEWS}
        if config.with_cmr else {}
    )

    row = {
        "subject_id": subject_id(config.seed, index), "site": site.name, "age": round(person.age_years, 1),
        "sex": person.sex, "height_cm": round(person.height_cm, 1), "weight_kg": round(person.weight_kg, 1),
        "bsa_m2": round(person.bsa_m2, 3), "hr_bpm": round(hr_bpm, 1),
        **{key: round(value, 3) for key, value in phenotypes.items()},
        **disease.labels(),
    }
    return SimulatedSubject(row, simulated.ecg, simulated.device_ecg, simulated.truth, geometry, planes, cines, disease)


def _ecg_drivers(person: Demographics, disease: DiseaseState, hr_bpm: float, geometry: HeartGeometry,
                 phenotypes: dict[str, float], rng: np.random.Generator) -> EcgDrivers:
    """The ECG model's inputs, taken from the measured heart (not from the sampled targets)."""
    septal = np.mean([phenotypes[f"wt_aha{i}_mm"] for i in (2, 3, 8, 9)])
    lateral = np.mean([phenotypes[f"wt_aha{i}_mm"] for i in (5, 6, 11, 12)])
    # Amyloid thickens the wall with infiltrate, not myocytes: the ECG sees only the share of the wall a normal
    # wall would have, which is why voltage is low while the walls are thick.
    myocyte_share = min(1.0, INFILTRATE_FREE_WALL_MM / phenotypes["wt_global_mm"]) if disease.rcm else 1.0
    return EcgDrivers(
        age_years=person.age_years, sex=person.sex, bmi=person.bmi, bsa_m2=person.bsa_m2, hr_bpm=hr_bpm,
        lv_mass_g=phenotypes["lvm_g"] * myocyte_share,
        rv_mass_g=geometry.rv_myocardial_volume_ml * MYOCARDIAL_DENSITY_G_PER_ML,
        lvedv_ml=phenotypes["lvedv_ml"], rvedv_ml=phenotypes["rvedv_ml"],
        lav_max_ml=phenotypes["lav_max_ml"], rav_max_ml=phenotypes["rav_max_ml"],
        septal_thickness_mm=float(septal), lateral_thickness_mm=float(lateral),
        heart_rotation=random_heart_rotation(rng),
        hcm=disease.hcm, dcm=disease.dcm, rcm=disease.rcm, ph=disease.ph, mi=disease.mi,
        mi_territory=disease.mi_territory, af=disease.af > 0,
    )

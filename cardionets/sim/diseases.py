"""Diseases with continuous severity, and how each reshapes a healthy heart.

Hypertrophic and infiltrative diseases set wall thickness in millimetres (``lv_mass_g=None``: the mass then
follows from the walls); the others keep a mass target and let the wall thickness follow.

Each disease is a severity in (0, 1] (0 = absent) drawn with a configurable prevalence. The three
cardiomyopathies exclude each other (the subtype task needs one answer); pulmonary hypertension, prior
infarction and atrial fibrillation can co-occur with anything. Effects act on the anatomy *targets* and shape
parameters; every phenotype is then measured on the resulting geometry.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from .anatomy import AnatomyTargets
from .drivers import MI_TERRITORIES

DISEASES = ("hcm", "dcm", "rcm", "ph", "mi", "af")
CARDIOMYOPATHIES = ("hcm", "dcm", "rcm")
DEFAULT_PREVALENCE = {"hcm": 0.07, "dcm": 0.07, "rcm": 0.05, "ph": 0.06, "mi": 0.09, "af": 0.08}

# AHA segments of each territory (17-segment model, apex cap 17 not modelled) and the septal segments.
TERRITORY_SEGMENTS = {
    "LAD": (1, 2, 7, 8, 13, 14),
    "RCA": (3, 4, 9, 10, 15),
    "LCx": (5, 6, 11, 12, 16),
}
SEPTAL_SEGMENTS = (2, 3, 8, 9, 14)
MI_TERRITORY_SHARE = (0.5, 0.3, 0.2)  # LAD, RCA, LCx: the usual distribution of infarct-related arteries


@dataclass(frozen=True)
class DiseaseState:
    """Severity of each disease (0 = absent) and the infarct territory."""

    hcm: float = 0.0
    dcm: float = 0.0
    rcm: float = 0.0
    ph: float = 0.0
    mi: float = 0.0
    af: float = 0.0
    mi_territory: str | None = None

    def labels(self) -> dict[str, int]:
        return {f"label_{name}": int(getattr(self, name) > 0) for name in DISEASES}

    @property
    def relaxation_impairment(self) -> float:
        """Stiff ventricles fill late: hypertrophy and amyloid shift filling from the E to the A wave."""
        return float(min(1.0, 0.8 * self.hcm + 1.0 * self.rcm + 0.2 * self.dcm))


def sample_diseases(rng: np.random.Generator, prevalence: dict[str, float] | None = None) -> DiseaseState:
    prevalence = {**DEFAULT_PREVALENCE, **(prevalence or {})}
    severity = {}
    # At most one cardiomyopathy: draw which (if any) in one step so prevalences hold.
    draw, start = rng.random(), 0.0
    for name in CARDIOMYOPATHIES:
        if start <= draw < start + prevalence[name]:
            severity[name] = _severity(rng)
        start += prevalence[name]
    for name in ("ph", "mi", "af"):
        if rng.random() < prevalence[name]:
            severity[name] = _severity(rng)
    territory = str(rng.choice(MI_TERRITORIES, p=MI_TERRITORY_SHARE)) if "mi" in severity else None
    return DiseaseState(**severity, mi_territory=territory)


def _severity(rng: np.random.Generator) -> float:
    """Severity in (0.1, 1]: mild cases are common, severe ones rarer (a Beta(2, 2.5) shape)."""
    return float(0.1 + 0.9 * rng.beta(2.0, 2.5))


def apply_diseases(targets: AnatomyTargets, disease: DiseaseState, rng: np.random.Generator) -> AnatomyTargets:
    """The healthy targets reshaped by every present disease, in a fixed order."""
    t = targets
    thickness = t.segment_thickness_profile.copy()
    motion = t.segment_motion.copy()
    changes: dict = {}
    if disease.hcm:
        s = disease.hcm
        # Asymmetric septal hypertrophy: septum 15-30 mm, free wall 10-13 mm; small cavity, hyperdynamic.
        septum_mm = 15.0 + 15.0 * s + rng.normal(0, 1.5)
        free_wall_mm = 10.0 + 3.0 * s
        thickness = np.full(16, free_wall_mm)
        thickness[[i - 1 for i in SEPTAL_SEGMENTS]] = septum_mm
        changes.update(lvedv_ml=t.lvedv_ml * (1 - 0.3 * s), lvef=min(0.82, t.lvef + 0.08 + 0.08 * s),
                       lv_mass_g=None, lav_max_ml=t.lav_max_ml * (1 + 0.6 * s), laef=t.laef - 0.15 * s)
    if disease.dcm:
        s = disease.dcm
        # Dilated, spherical, thin-walled, EF under 40 %; mass rises (eccentric remodelling).
        changes.update(lvedv_ml=t.lvedv_ml * (1.5 + 1.0 * s), lvef=float(np.clip(0.38 - 0.2 * s + rng.normal(0, 0.02), 0.12, 0.39)),
                       lv_mass_g=t.lv_mass_g * (1.15 + 0.35 * s), cavity_length_mm=t.cavity_length_mm * (1.08 + 0.1 * s),
                       cavity_shape_exponent=t.cavity_shape_exponent + 1.2 * s,
                       long_axis_shortening=t.long_axis_shortening * (1 - 0.5 * s),
                       lav_max_ml=t.lav_max_ml * (1.3 + 0.6 * s), laef=t.laef - 0.2 * s,
                       rvef=t.rvef - 0.12 * s)
    if disease.rcm:
        s = disease.rcm
        # Amyloid-like: concentric thickening 13-19 mm, normal-small cavity, EF kept, long axis hardly moves,
        # both atria large and barely contracting.
        thickness = np.full(16, 13.0 + 6.0 * s) * rng.normal(1.0, 0.03, 16)
        changes.update(lvedv_ml=t.lvedv_ml * (0.9 - 0.15 * s), lvef=t.lvef - 0.06 * s, lv_mass_g=None,
                       long_axis_shortening=t.long_axis_shortening * (1 - 0.6 * s),
                       lav_max_ml=t.lav_max_ml * (1.5 + 0.8 * s), laef=t.laef - 0.3 * s,
                       rav_max_ml=t.rav_max_ml * (1.4 + 0.7 * s), raef=t.raef - 0.25 * s)
    if disease.mi:
        s = disease.mi
        # The territory thins and stops moving; the rest of the LV dilates somewhat.
        for segment in TERRITORY_SEGMENTS[disease.mi_territory]:
            thickness[segment - 1] *= 1 - 0.45 * s
            motion[segment - 1] = max(0.0, 1 - 1.2 * s)
        # Remote myocardium compensates only partly: EF falls with the infarct's extent.
        changes.update(lvedv_ml=changes.get("lvedv_ml", t.lvedv_ml) * (1 + 0.35 * s),
                       lvef=changes.get("lvef", t.lvef) - 0.18 * s)
    if disease.ph:
        s = disease.ph
        # Pressure-loaded RV: dilated, thick-walled, poorly contracting; underfilled LV; large RA.
        changes.update(rvedv_ml=t.rvedv_ml * (1.3 + 0.9 * s), rv_wall_mm=t.rv_wall_mm + 2.5 + 4.0 * s,
                       rvef=float(np.clip(changes.get("rvef", t.rvef) - 0.1 - 0.2 * s, 0.15, 0.6)),
                       lvedv_ml=changes.get("lvedv_ml", t.lvedv_ml) * (1 - 0.12 * s),
                       rav_max_ml=changes.get("rav_max_ml", t.rav_max_ml) * (1.3 + 0.8 * s),
                       raef=changes.get("raef", t.raef) - 0.15 * s, septal_flattening=0.3 + 0.7 * s)
    if disease.af:
        s = disease.af
        # No atrial kick: atria dilate and their emptying falls to the passive share.
        changes.update(lav_max_ml=changes.get("lav_max_ml", t.lav_max_ml) * (1.25 + 0.4 * s),
                       rav_max_ml=changes.get("rav_max_ml", t.rav_max_ml) * (1.2 + 0.3 * s),
                       laef=0.12 + 0.1 * rng.random(), raef=0.1 + 0.1 * rng.random(),
                       lvef=changes.get("lvef", t.lvef) - 0.04 * s)
    for key in ("laef", "raef", "rvef", "lvef"):
        if key in changes:
            changes[key] = float(np.clip(changes[key], 0.08, 0.85))
    return dataclasses.replace(t, segment_thickness_profile=thickness, segment_motion=motion, **changes)

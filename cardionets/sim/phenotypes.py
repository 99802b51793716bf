"""Ground-truth CMR phenotypes, measured on the simulated 3D heart (never copied from the sampled targets).

Column names are the project's phenotype schema, used by every model and report.
"""

from __future__ import annotations

import numpy as np

from .geometry import MYOCARDIAL_DENSITY_G_PER_ML, HeartGeometry

N_SEGMENTS = 16
VOLUME_COLUMNS = (
    "lvedv_ml", "lvesv_ml", "lvsv_ml", "lvef_pct", "lvco_l_min", "lvm_g",
    "rvedv_ml", "rvesv_ml", "rvsv_ml", "rvef_pct",
    "lav_max_ml", "lav_min_ml", "lasv_ml", "laef_pct",
    "rav_max_ml", "rav_min_ml", "rasv_ml", "raef_pct",
)
THICKNESS_COLUMNS = tuple(f"wt_aha{i}_mm" for i in range(1, N_SEGMENTS + 1)) + ("wt_global_mm",)
STRAIN_COLUMNS = tuple(f"ecc_aha{i}_pct" for i in range(1, N_SEGMENTS + 1)) + ("ecc_global_pct",)
PHENOTYPE_COLUMNS = VOLUME_COLUMNS + THICKNESS_COLUMNS + STRAIN_COLUMNS


def _chamber(prefix: str, volumes: np.ndarray, largest: str, smallest: str, fraction: str) -> dict[str, float]:
    high, low = float(volumes.max()), float(volumes.min())
    return {
        f"{prefix}{largest}_ml": high,
        f"{prefix}{smallest}_ml": low,
        f"{prefix}sv_ml": high - low,
        f"{prefix}{fraction}_pct": 100.0 * (high - low) / high,
    }


def measure_phenotypes(geometry: HeartGeometry, hr_bpm: float) -> dict[str, float]:
    """Every phenotype column for one simulated heart."""
    spec = geometry.spec
    out: dict[str, float] = {}
    out.update(_chamber("lv", geometry.lv_cavity_volume_ml, "edv", "esv", "ef"))
    out["lvco_l_min"] = out["lvsv_ml"] * hr_bpm / 1000.0
    out["lvm_g"] = float(geometry.lv_myocardial_volume_ml(0)) * MYOCARDIAL_DENSITY_G_PER_ML
    out.update(_chamber("rv", geometry.rv_cavity_volume_ml, "edv", "esv", "ef"))
    out.update(_chamber("la", geometry.atrium_volume_ml(spec.la), "v_max", "v_min", "ef"))
    out.update(_chamber("ra", geometry.atrium_volume_ml(spec.ra), "v_max", "v_min", "ef"))

    endo_ed, epi_ed = geometry.lv_radii(0)
    thickness = geometry.segment_means(epi_ed - endo_ed)
    for i, value in enumerate(thickness, start=1):
        out[f"wt_aha{i}_mm"] = float(value)
    out["wt_global_mm"] = float(thickness.mean())

    # Circumferential strain of the mid-wall: change of its circumference from end-diastole to end-systole.
    # Grid depths are normalised to the current length, so the same cell is the same tissue in both frames.
    endo_es, epi_es = geometry.lv_radii(int(np.argmax(geometry.contraction)))
    mid_ed = geometry.segment_means((endo_ed + epi_ed) / 2)
    mid_es = geometry.segment_means((endo_es + epi_es) / 2)
    strain = 100.0 * (mid_es - mid_ed) / mid_ed
    for i, value in enumerate(strain, start=1):
        out[f"ecc_aha{i}_pct"] = float(value)
    out["ecc_global_pct"] = float(strain.mean())
    return out


"""What the ECG forward model needs to know about one simulated heart: the seam between anatomy and ECG."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MI_TERRITORIES = ("LAD", "RCA", "LCx")


@dataclass(frozen=True)
class EcgDrivers:
    """Anatomy, physiology and disease of one subject, in physical units, as the ECG model consumes them.

    Severities are continuous in [0, 1]; 0 means the disease is absent. ``heart_rotation`` maps heart-frame
    vectors to the body frame (Frank leads: X to the patient's left, Y to the feet, Z to the back). The heart
    frame has z along the LV long axis from apex to base and x from the LV centre towards the RV (septum).
    """

    age_years: float
    sex: str  # "M" or "F"
    bmi: float
    bsa_m2: float
    hr_bpm: float
    lv_mass_g: float  # electrically active LV mass: the whole mass, except the infiltrate of an amyloid wall
    rv_mass_g: float
    lvedv_ml: float
    rvedv_ml: float
    lav_max_ml: float
    rav_max_ml: float
    septal_thickness_mm: float
    lateral_thickness_mm: float
    heart_rotation: np.ndarray  # (3, 3)
    hcm: float = 0.0
    dcm: float = 0.0
    rcm: float = 0.0
    ph: float = 0.0
    mi: float = 0.0
    mi_territory: str | None = None  # one of MI_TERRITORIES when mi > 0
    af: bool = False

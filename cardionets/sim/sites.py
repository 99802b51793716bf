"""Site profiles: the ECG cart and the MRI scanner of each recruiting centre.

A whole site can be held out as an external validation cohort, so sites differ the way real centres do: cart
sampling rate and filters, mains frequency, electrode noise; scanner contrast, in-plane resolution, noise and
coil shading. Profiles are data; add one by adding an entry to SITES.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class EcgDevice:
    """The cart: what it records and how cleanly."""

    fs_hz: float  # rate the cart stores (the canonical simulated ECG is always 500 Hz)
    highpass_hz: float  # the cart's own input filter
    lowpass_hz: float
    mains_hz: float  # 50 in Europe, 60 in the Americas
    mains_mv: float  # typical amplitude of residual mains interference
    muscle_noise_mv: float  # RMS of broadband muscle/electrode noise
    wander_mv: float  # typical baseline-wander amplitude
    gain_sd: float  # between-subject SD of the log voltage gain (electrode placement, skin, torso)


@dataclass(frozen=True)
class Scanner:
    """The MRI scanner and protocol: contrast and quality of the bright-blood cine."""

    pixel_mm: float  # in-plane pixel spacing of the 96 x 96 crop
    slice_mm: float  # slice thickness
    blood_intensity: float  # SSFP signal of blood relative to myocardium = 1 scale (unitless, 0-1 range)
    myocardium_intensity: float
    noise_sd: float  # Rician noise sigma, relative to the blood signal
    bias_strength: float  # peak relative amplitude of the coil sensitivity shading
    jitter_mm: float  # SD of slice-position error between prescriptions


@dataclass(frozen=True)
class Site:
    name: str
    ecg: EcgDevice
    scanner: Scanner


SITES: dict[str, Site] = {
    site.name: site
    for site in (
        # UK Biobank-like: 500 Hz carts, 50 Hz mains, 1.8 mm cine pixels.
        # Noise levels measured against real healthy adults (PTB-XL, CinC 2021; docs/realism.md): residual mains
        # well under the quality check's 0.02 mV warning, as behind a real cart's notch filter.
        Site("cheadle", EcgDevice(500, 0.05, 150, 50, 0.004, 0.012, 0.058, 0.18),
             Scanner(1.8, 8.0, 0.95, 0.30, 0.03, 0.15, 1.0)),
        Site("newcastle", EcgDevice(500, 0.05, 150, 50, 0.005, 0.018, 0.083, 0.20),
             Scanner(1.8, 8.0, 0.90, 0.32, 0.04, 0.20, 1.5)),
        Site("reading", EcgDevice(1000, 0.05, 300, 50, 0.006, 0.010, 0.07, 0.18),
             Scanner(1.9, 8.0, 1.00, 0.28, 0.035, 0.18, 1.2)),
        # An American hospital (the external cohort by default): 60 Hz mains, 250 Hz carts with a 0.5-40 Hz
        # monitoring filter, noisier tracings, a different scanner vendor with coarser pixels and harder shading.
        Site("boston", EcgDevice(250, 0.5, 40, 60, 0.012, 0.025, 0.14, 0.22),
             Scanner(2.1, 8.0, 0.85, 0.36, 0.05, 0.30, 2.0)),
    )
}
DEFAULT_SITES = ("cheadle", "newcastle", "reading")
EXTERNAL_SITE = "boston"

# The range of scanners and protocols the generators' scanner adapter is trained on (the `generator_scanners`
# regime draws each of its scanners uniformly from it): wider than the named sites together, so a site no model
# trained on (the external one included) lies inside it. Slice thickness is the same 8 mm everywhere and not drawn.
SCANNER_RANGES: dict[str, tuple[float, float]] = {
    "pixel_mm": (1.6, 2.2),
    "blood_intensity": (0.80, 1.00),
    "myocardium_intensity": (0.26, 0.40),
    "noise_sd": (0.02, 0.06),
    "bias_strength": (0.10, 0.35),
    "jitter_mm": (0.8, 2.2),
}


def random_scanner(rng: np.random.Generator, slice_mm: float = 8.0) -> Scanner:
    """A scanner whose every property in SCANNER_RANGES is drawn uniformly from its range."""
    return Scanner(slice_mm=slice_mm, **{name: float(rng.uniform(lo, hi)) for name, (lo, hi) in SCANNER_RANGES.items()})


@contextmanager
def registered_sites(sites: list[Site]) -> Iterator[None]:
    """``sites`` added to `SITES` for the duration, so the simulator and the preparation can look them up; removed
    afterwards, also after an error. Only this process sees them: simulate them with one worker (the cohort
    writer's pool spawns fresh processes)."""
    clashes = [site.name for site in sites if site.name in SITES]
    if clashes:
        raise ValueError(f"site names already taken: {clashes}")
    SITES.update({site.name: site for site in sites})
    try:
        yield
    finally:
        for site in sites:
            SITES.pop(site.name, None)

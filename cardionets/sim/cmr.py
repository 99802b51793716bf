"""Bright-blood (SSFP-like) cine rendering of a simulated heart, with per-frame label masks.

Two standard views of the same heart: a mid-ventricular short axis (SAX) and a four-chamber long axis (4CH),
each a 96 x 96 crop at the scanner's pixel spacing, T frames over one beat. Structures are drawn with partial
volume at their edges (a pixel's share of each structure, from an approximate distance to its surface), so
boundaries are anti-aliased and areas stay unbiased. Around the heart: epicardial fat, lungs, liver and chest
wall; then coil shading and Rician noise, as magnitude images have.

Labels: 0 background, 1 LV blood pool, 2 LV myocardium, 3 RV blood pool, 4 LA, 5 RA.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .geometry import HeartGeometry
from .raster import add_rician_noise, rasterise
from .sites import Scanner

IMAGE_SIZE = 96
LABELS = ("background", "lv_blood_pool", "lv_myocardium", "rv_blood_pool", "la", "ra")
TISSUE = {"fat": 0.85, "lung": 0.06, "liver": 0.42, "muscle": 0.30, "body": 0.24}  # SSFP signal, blood ~ 0.9


@dataclass(frozen=True)
class ViewPlane:
    """An image plane in the heart frame: pixel (row, col) sits at origin + (col-c)*pix*u + (row-c)*pix*v."""

    name: str
    origin_mm: np.ndarray  # (3,)
    u_axis: np.ndarray  # (3,) direction of increasing column
    v_axis: np.ndarray  # (3,) direction of increasing row (downwards on screen)
    pixel_mm: float
    size: int = IMAGE_SIZE

    def points(self) -> np.ndarray:
        """(H, W, 3) heart-frame coordinates of every pixel centre."""
        offsets = (np.arange(self.size) - self.size / 2 + 0.5) * self.pixel_mm
        return (self.origin_mm[None, None]
                + offsets[None, :, None] * self.u_axis[None, None]
                + offsets[:, None, None] * self.v_axis[None, None])


def standard_planes(geometry: HeartGeometry, scanner: Scanner, rng: np.random.Generator) -> dict[str, ViewPlane]:
    """Mid-ventricular SAX and 4CH planes as a radiographer prescribes them, with prescription jitter.

    Display follows the clinical convention: RV on the image left; SAX anterior up; 4CH apex up, atria down.
    """
    spec = geometry.spec
    lv, rv = spec.lv, spec.rv
    rv_reach = rv.centre_mm[0] + rv.semi_axes_mm[0]
    lateral = lv.cavity_radius_mm + float(np.max(lv.segment_thickness_mm))
    x_mid = (rv_reach - lateral) / 2
    jitter = rng.normal(0.0, scanner.jitter_mm, size=3)
    sax_z = -0.55 * lv.cavity_length_mm + jitter[0]
    sax = ViewPlane("sax", np.array([x_mid, jitter[1], sax_z]), np.array([-1.0, 0, 0]), np.array([0, -1.0, 0]),
                    scanner.pixel_mm)
    # Keep the apex 10 mm inside the top edge; large atria may run off the bottom, as on real crops.
    field_of_view = scanner.pixel_mm * IMAGE_SIZE
    atria_top = max(spec.la.semi_axes_mm[2], spec.ra.semi_axes_mm[2]) * 2
    z_mid = min((-lv.outer_length_mm + atria_top) / 2, -lv.outer_length_mm - 10.0 + field_of_view / 2)
    tilt = np.radians(rng.normal(0.0, 3.0))  # a few degrees of in-plane rotation between prescriptions
    u = np.array([-np.cos(tilt), 0.0, np.sin(tilt)])
    v = np.array([np.sin(tilt), 0.0, np.cos(tilt)])
    four_chamber = ViewPlane("4ch", np.array([x_mid, jitter[2], z_mid]), u, v, scanner.pixel_mm)
    return {"sax": sax, "4ch": four_chamber}


def rasterise_view(
    geometry: HeartGeometry, points: np.ndarray, frames: np.ndarray, pixel_mm: float, scanner: Scanner
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(heart signal, background share, labels), each (T, H, W), of the heart at ``points`` (H, W, 3)."""
    spec = geometry.spec
    endo, epi = geometry.lv_radii(None if frames.size == spec.n_frames else frames)
    atria = [spec.la, spec.ra]
    return rasterise(
        *(np.ascontiguousarray(points[..., k], dtype=np.float64) for k in range(3)),
        np.ascontiguousarray(endo), np.ascontiguousarray(epi),
        geometry.base_z[frames], geometry.outer_length[frames], -spec.lv.outer_length_mm,
        geometry.rv_centre(frames), geometry.rv_semi_axes(frames), spec.rv.wall_thickness_mm,
        np.stack([geometry.atrium_centre(a, frames) for a in atria]),
        np.stack([geometry.atrium_semi_axes(a, frames) for a in atria]),
        pixel_mm, scanner.blood_intensity, scanner.myocardium_intensity,
    )


def _smooth_field(rng: np.random.Generator, size: int, n_bumps: int, width: float) -> np.ndarray:
    """A random smooth field in [0, 1]: a few Gaussian bumps, for patchy fat and organ placement."""
    grid = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    field = np.zeros((size, size))
    for cx, cy, amp in zip(rng.uniform(-1, 1, n_bumps), rng.uniform(-1, 1, n_bumps), rng.uniform(0.5, 1, n_bumps)):
        field += amp * np.exp(-((xx - cx) ** 2 + (yy - cy) ** 2) / (2 * width**2))
    return field / max(field.max(), 1e-9)


def _surroundings(plane: ViewPlane, rng: np.random.Generator) -> np.ndarray:
    """(H, W) signal of the tissue around the heart: chest wall, lungs either side, liver below in 4CH."""
    size = plane.size
    grid = (np.arange(size) - size / 2 + 0.5) / (size / 2)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    image = TISSUE["body"] + 0.08 * _smooth_field(rng, size, 6, 0.35)
    lung_centres = (rng.uniform(-1.1, -0.8), rng.uniform(0.8, 1.1))
    for cx in lung_centres:
        lung = np.exp(-(((xx - cx) / 0.45) ** 2 + ((yy - rng.uniform(-0.2, 0.2)) / 0.9) ** 2))
        image = image * (1 - lung) + TISSUE["lung"] * lung
    if plane.name == "4ch":
        liver = np.exp(-(((xx + 0.6) / 0.7) ** 2 + ((yy - 1.1) / 0.35) ** 2))
        image = image * (1 - liver) + TISSUE["liver"] * liver
    else:
        wall = np.exp(-(((yy + 1.05) / 0.18) ** 2))
        image = image * (1 - wall) + TISSUE["muscle"] * wall
    return image


def render_cine(
    geometry: HeartGeometry, plane: ViewPlane, scanner: Scanner, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """(image (T, H, W) float32 magnitude, labels (T, H, W) uint8) of one view over the whole beat."""
    frames = np.arange(geometry.spec.n_frames)
    heart, background_share, labels = rasterise_view(geometry, plane.points(), frames, plane.pixel_mm, scanner)
    # Epicardial fat: a bright, patchy rim just outside the heart (within ~4 mm of its outline).
    heart_share = 1.0 - background_share
    rim = np.clip(_blur(heart_share.mean(axis=0), 4.0 / plane.pixel_mm) * 1.6, 0, 1)
    fat = np.clip(rim - heart_share, 0, 1) * _smooth_field(rng, plane.size, 5, 0.5).astype(np.float32)
    around = _surroundings(plane, rng).astype(np.float32)
    background = around * (1 - fat) + np.float32(TISSUE["fat"]) * fat
    image = heart + background_share * background
    image *= _coil_shading(plane.size, scanner.bias_strength, rng)
    # Magnitude of a complex signal with Gaussian noise in both channels: Rician, as in real magnitude images.
    add_rician_noise(image, scanner.noise_sd * scanner.blood_intensity, rng)
    return image, labels


def _blur(image: np.ndarray, sigma_px: float) -> np.ndarray:
    from scipy.ndimage import gaussian_filter

    return gaussian_filter(image, sigma_px)


def _coil_shading(size: int, strength: float, rng: np.random.Generator) -> np.ndarray:
    """Smooth multiplicative receive-coil sensitivity: brighter towards a random side."""
    grid = np.linspace(-1, 1, size)
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    gx, gy = rng.normal(0, 1, 2)
    ramp = (gx * xx + gy * yy) / max(np.hypot(gx, gy), 1e-9)
    return (1.0 + strength * ramp * rng.uniform(0.5, 1.0)).astype(np.float32)

"""The rasteriser: each pixel's share of every structure, for every frame of one view.

A fused numba kernel, because the same arithmetic as numpy array expressions is memory-bound on
(frames x 96 x 96) temporaries and five times slower; the simulator must render two 50-frame views in a few
tens of milliseconds. Inputs are plain arrays prepared by `cmr.structure_shares`, so the kernel knows nothing of
the geometry classes.

Distances are approximate signed distances in mm (positive inside); a pixel's share is
clip(distance / pixel + 1/2, 0, 1), which anti-aliases edges and keeps areas unbiased.
"""

from __future__ import annotations

import functools
import math

import numba
import numpy as np

# Labels. Walls (RV free wall, atrial walls) are drawn as myocardium but carry no label.
BACKGROUND, LV_POOL, LV_MYO, RV_POOL, LA, RA = range(6)
ATRIAL_WALL_MM = 2.0
WALL_MARGIN_MM = 12.0  # thicker than any wall drawn around an ellipsoid (RV free wall up to ~10 mm)


@numba.njit(cache=True, inline="always")
def _share(distance_mm, pixel_mm):
    return min(1.0, max(0.0, distance_mm / pixel_mm + 0.5))


@numba.njit(cache=True, inline="always")
def _ellipsoid_depth(x, y, z, cx, cy, cz, ax, ay, az, grow):
    """Signed distance along the ray from the centre to the ellipsoid grown by ``grow`` mm."""
    rx, ry, rz = x - cx, y - cy, z - cz
    reach = max(ax, max(ay, az)) + grow
    squared = rx * rx + ry * ry + rz * rz
    if squared > (1.1 * reach + WALL_MARGIN_MM) ** 2:  # far outside, walls included: skip the square roots
        return -reach
    length = math.sqrt(squared)
    scaled = math.sqrt((rx / (ax + grow)) ** 2 + (ry / (ay + grow)) ** 2 + (rz / (az + grow)) ** 2)
    if scaled < 1e-9:
        return ax + grow
    return length / scaled - length


@numba.njit(cache=True, inline="always")
def _shell(x, y, z, centre, axes, wall_mm, pixel_mm):
    """(inside share, wall share) of an ellipsoid and a wall of ``wall_mm`` around it.

    The wall's outer surface is taken as the inner one moved out by wall_mm along the same ray, which is exact
    for a sphere and close for these mildly eccentric chambers, and saves a second distance evaluation.
    """
    depth = _ellipsoid_depth(x, y, z, centre[0], centre[1], centre[2], axes[0], axes[1], axes[2], 0.0)
    inner = _share(depth, pixel_mm)
    return inner, max(_share(depth + wall_mm, pixel_mm) - inner, 0.0)


@numba.njit(cache=True, inline="always")
def background_only(x, y, z, t, rv_centre, rv_reach, atria_centre, atria_reach):
    """True when the point is beyond the bounding spheres of the RV and both atria at frame t."""
    for centre, reach in ((rv_centre[t], rv_reach), (atria_centre[0, t], atria_reach), (atria_centre[1, t], atria_reach)):
        if (x - centre[0]) ** 2 + (y - centre[1]) ** 2 + (z - centre[2]) ** 2 < reach * reach:
            return False
    return True


@numba.njit(cache=True)
def rasterise(xs, ys, zs, endo, epi, base_z, outer_length, apex_z, rv_centre, rv_axes, rv_wall_mm,
              atria_centre, atria_axes, pixel_mm, blood, myocardium):  # pragma: no cover - compiled
    """Heart signal, background share and labels of one view, each (T, H, W).

    heart signal: sum over structures of share x SSFP intensity (blood or myocardium); background share: what
    is left of the pixel for the surrounding tissue; labels: the labelled structure with the largest share.
    """
    n_frames, n_depth, n_theta = endo.shape
    height, width = xs.shape
    signal = np.zeros((n_frames, height, width), dtype=np.float32)
    background = np.zeros((n_frames, height, width), dtype=np.float32)
    labels = np.zeros((n_frames, height, width), dtype=np.uint8)
    two_pi = 2.0 * math.pi
    theta_index = np.empty((height, width), dtype=np.int64)
    radius = np.empty((height, width))
    for i in range(height):
        for j in range(width):
            theta = math.atan2(ys[i, j], xs[i, j]) % two_pi
            theta_index[i, j] = min(int(theta / two_pi * n_theta), n_theta - 1)
            radius[i, j] = math.sqrt(xs[i, j] ** 2 + ys[i, j] ** 2)
    # Quick rejection: pixels farther than these reaches from every structure are pure background.
    lv_reach = epi.max() + pixel_mm
    rv_reach = rv_axes.max() + rv_wall_mm + pixel_mm
    atria_reach = atria_axes.max() + ATRIAL_WALL_MM + pixel_mm
    for t in range(n_frames):
        for i in range(height):
            for j in range(width):
                x, y, z = xs[i, j], ys[i, j], zs[i, j]
                ti, rho = theta_index[i, j], radius[i, j]
                if rho > lv_reach and background_only(x, y, z, t, rv_centre, rv_reach, atria_centre, atria_reach):
                    background[t, i, j] = 1.0
                    continue
                # LV: radii on the (depth, theta) grid, linear in depth.
                below_base = _share(base_z[t] - z, pixel_mm)
                along_axis = below_base * _share(z - apex_z, pixel_mm)
                depth = (base_z[t] - z) / outer_length[t] * n_depth - 0.5
                low = min(max(int(math.floor(depth)), 0), n_depth - 1)
                high = min(low + 1, n_depth - 1)
                blend = min(max(depth - low, 0.0), 1.0)
                r_endo = endo[t, low, ti] * (1 - blend) + endo[t, high, ti] * blend
                r_epi = epi[t, low, ti] * (1 - blend) + epi[t, high, ti] * blend
                in_endo = _share(r_endo - rho, pixel_mm) * along_axis
                in_epi = _share(r_epi - rho, pixel_mm) * along_axis
                lv_myo = max(in_epi - in_endo, 0.0)
                # RV: an ellipsoid outside the LV epicardium, below the base; its free wall around it.
                outside_lv = (1.0 - in_epi) * below_base
                rv_in, rv_shell = _shell(x, y, z, rv_centre[t], rv_axes[t], rv_wall_mm, pixel_mm)
                rv_pool = rv_in * outside_lv
                rv_wall = rv_shell * outside_lv
                # Atria: ellipsoids on the base plane; the LA takes the pixels the two share.
                la, la_wall = _shell(x, y, z, atria_centre[0, t], atria_axes[0, t], ATRIAL_WALL_MM, pixel_mm)
                ra, ra_wall = _shell(x, y, z, atria_centre[1, t], atria_axes[1, t], ATRIAL_WALL_MM, pixel_mm)
                ra *= 1.0 - la
                walls = max(max(la_wall, ra_wall) * (1.0 - la - ra), 0.0)
                total = in_endo + lv_myo + rv_pool + la + ra + rv_wall + walls
                scale = 1.0 / total if total > 1.0 else 1.0
                blood_share = (in_endo + rv_pool + la + ra) * scale
                signal[t, i, j] = blood * blood_share + myocardium * (lv_myo + rv_wall + walls) * scale
                rest = max(1.0 - total * scale, 0.0)
                background[t, i, j] = rest
                # Unlabelled walls count as background for the label.
                best, label = rest + (rv_wall + walls) * scale, BACKGROUND
                for candidate, share in ((LV_POOL, in_endo), (LV_MYO, lv_myo), (RV_POOL, rv_pool), (LA, la), (RA, ra)):
                    if share * scale > best:
                        best, label = share * scale, candidate
                labels[t, i, j] = label
    return signal, background, labels


NOISE_BANK_SIZE = 1 << 22  # 4 M standard normals, 16 MB, drawn once per process


@functools.lru_cache(maxsize=1)
def noise_bank() -> np.ndarray:
    """A fixed bank of standard normal samples that every image draws its noise from.

    Drawing two fresh normals per pixel costs more than rendering the heart (about 9 ns each here). Each image
    instead reads two stretches of this bank at random offsets and signs: its noise is still white Gaussian of
    the right size, and different for every image and subject.
    """
    return np.random.default_rng(20250101).standard_normal(NOISE_BANK_SIZE, dtype=np.float32)


def add_rician_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> None:
    """In place: |image + n1 + i n2| with n1, n2 ~ N(0, sigma), the magnitude of a noisy complex signal."""
    bank = noise_bank()
    size = image.size
    starts = rng.integers(0, bank.size - size, size=2)
    signs = rng.choice(np.array([-1.0, 1.0], dtype=np.float32), size=2) * np.float32(sigma)
    _rician(image.reshape(-1), bank[starts[0] : starts[0] + size], bank[starts[1] : starts[1] + size], signs[0], signs[1])


@numba.njit(cache=True)
def _rician(flat, real_noise, imaginary_noise, real_scale, imaginary_scale):  # pragma: no cover - compiled
    for k in range(flat.size):
        real = flat[k] + real_scale * real_noise[k]
        imaginary = imaginary_scale * imaginary_noise[k]
        flat[k] = math.sqrt(real * real + imaginary * imaginary)

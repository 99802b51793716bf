"""One simulated heart in 3D, through one cardiac cycle, and the volumes measured on it.

Heart frame, millimetres: z runs along the LV long axis from apex to base; the LV epicardial apex stays at
z = -lv.outer_length_mm while the base (mitral/tricuspid plane) descends towards it in systole. x points from
the LV axis to the septum and RV, y = z x x points to the anterior wall. Angles theta are measured from +x, so
the septum is at 0 and the anterior wall at 90 degrees (AHA segment layout below).

The LV is a truncated ellipsoidal shell described column by column: for each angle and normalised depth from
the base, an endocardial and an epicardial radius. Myocardium is conserved column by column through the cycle
(what the wall loses in length it gains in thickness), so LV mass is constant by construction. The RV cavity is
the part of an ellipsoid outside the LV epicardium (a crescent wrapped on the septum); atria are ellipsoids on the
base plane. Every volume is integrated numerically from these shapes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from .cycle import CyclePhases, atrial_filling, ventricular_contraction

MYOCARDIAL_DENSITY_G_PER_ML = 1.05
N_THETA = 120  # angular resolution of the LV description (3 degrees)
N_DEPTH = 64  # depth resolution (about 1.5 mm for a 95 mm ventricle)
MAX_RADIAL_CONTRACTION = 0.6
RV_HEIGHT_SAMPLES = 48  # slices for the RV volume integral (about 2 mm); 200 changes volumes by < 0.3 %  # endocardium cannot move inward by more than 60 % of its radius

# AHA 17-segment model: (first segment number, number of segments, angle where the first one starts).
# Basal and mid rings: 60-degree segments starting with the anterior one (1, 7) at 60 degrees, going
# anterior -> anterolateral -> inferolateral -> inferior -> inferoseptal -> anteroseptal. Apical ring: 90-degree
# segments, anterior (13) from 45 degrees.
_RINGS = ((1, 6, 60.0), (7, 6, 60.0), (13, 4, 45.0))


def aha_segment(theta_rad: np.ndarray, depth_fraction: np.ndarray) -> np.ndarray:
    """AHA segment number (1-16) of points given by angle and depth (0 at base, 1 at the cavity apex)."""
    ring = np.clip((np.asarray(depth_fraction) * 3).astype(int), 0, 2)
    theta_deg = np.degrees(np.asarray(theta_rad)) % 360.0
    out = np.zeros(np.broadcast(theta_deg, ring).shape, dtype=int)
    for index, (first, count, start) in enumerate(_RINGS):
        width = 360.0 / count
        # Counting goes from anterior towards lateral, i.e. towards larger theta.
        number = first + (((theta_deg - start) % 360.0) // width).astype(int)
        out = np.where(ring == index, number, out)
    return out


def segment_centres_deg(ring: int) -> np.ndarray:
    first, count, start = _RINGS[ring]
    return (start + 360.0 / count * (np.arange(count) + 0.5)) % 360.0


@dataclass(frozen=True)
class LVSpec:
    """End-diastolic LV shape and how it moves."""

    cavity_radius_mm: float  # endocardial radius at the base
    cavity_length_mm: float  # base to endocardial apex
    apex_thickness_mm: float
    segment_thickness_mm: np.ndarray  # (16,) end-diastolic wall thickness per AHA segment
    segment_motion: np.ndarray  # (16,) 1 = normal inward motion, 0 = akinetic (infarct)
    target_ef: float  # the contraction is solved to reach this EF (geometry may not allow it exactly)
    long_axis_shortening: float  # fraction of the long axis lost at end-systole
    cavity_shape_exponent: float = 2.0  # r = a (1 - depth^p)^(1/p): 2 = ellipsoid, larger = blunter apex
    septal_flattening: float = 0.0  # 0 round; towards 1 the septum is pushed flat (RV pressure overload, D shape)

    @property
    def outer_length_mm(self) -> float:
        return self.cavity_length_mm + self.apex_thickness_mm


@dataclass(frozen=True)
class RVSpec:
    """RV cavity ellipsoid at end-diastole (heart frame, mm) and its free wall."""

    centre_mm: tuple[float, float, float]
    semi_axes_mm: tuple[float, float, float]
    wall_thickness_mm: float
    target_ef: float


@dataclass(frozen=True)
class AtriumSpec:
    """An atrium as an ellipsoid resting on the base plane, at its largest (end-systole)."""

    centre_xy_mm: tuple[float, float]
    semi_axes_mm: tuple[float, float, float]  # at maximum volume
    min_to_max_volume: float  # V_min / V_max: low when the atrium empties well, near 1 in AF


@dataclass(frozen=True)
class HeartSpec:
    lv: LVSpec
    rv: RVSpec
    la: AtriumSpec
    ra: AtriumSpec
    phases: CyclePhases
    n_frames: int = 50

    @property
    def frame_times(self) -> np.ndarray:
        """Fractions of the RR interval, frame 0 at end-diastole (the R wave), as UK Biobank cines start."""
        return np.arange(self.n_frames) / self.n_frames


def _periodic_interp(theta_deg: np.ndarray, centres_deg: np.ndarray, values: np.ndarray) -> np.ndarray:
    order = np.argsort(centres_deg)
    c, v = centres_deg[order], values[order]
    return np.interp(theta_deg % 360.0, np.concatenate([c - 360, c, c + 360]), np.tile(v, 3))


def _segment_field(per_segment: np.ndarray, theta_deg: np.ndarray, depth_fraction: np.ndarray) -> np.ndarray:
    """Smooth (depth, theta) field that takes each segment's value at its centre (linear in between)."""
    rings = np.stack([
        _periodic_interp(theta_deg, segment_centres_deg(r), per_segment[first - 1 : first - 1 + count])
        for r, (first, count, _) in enumerate(_RINGS)
    ])  # (3, Θ)
    # Linear weights of the basal, mid and apical rings at each depth (ring centres at 1/6, 1/2, 5/6).
    position = np.clip((depth_fraction - 1 / 6) * 3, 0.0, 2.0)  # 0 at basal centre, 2 at apical centre
    lower = np.minimum(position.astype(int), 1)
    upper_weight = (position - lower)[:, None]
    return rings[lower] * (1 - upper_weight) + rings[lower + 1] * upper_weight


@dataclass
class HeartGeometry:
    """The heart of one subject at every cine frame; built from a HeartSpec."""

    spec: HeartSpec
    theta: np.ndarray = field(init=False)  # (N_THETA,) radians, cell centres
    depth: np.ndarray = field(init=False)  # (N_DEPTH,) normalised depth from base (0) to epicardial apex (1)

    def __post_init__(self) -> None:
        self.theta = (np.arange(N_THETA) + 0.5) * 2 * np.pi / N_THETA
        self.depth = (np.arange(N_DEPTH) + 0.5) / N_DEPTH
        lv = self.spec.lv
        cavity_depth = self.depth * lv.outer_length_mm / lv.cavity_length_mm  # 0..>1 within the cavity
        self._inside_cavity = cavity_depth < 1.0
        p = lv.cavity_shape_exponent
        profile = np.clip(1.0 - np.clip(cavity_depth, 0.0, 1.0) ** p, 0.0, None) ** (1.0 / p)
        # Septal flattening pulls the cavity in on the septal side (theta near 0), giving the D-shaped LV of
        # pulmonary hypertension.
        septal_pull = 1.0 - 0.3 * lv.septal_flattening * np.clip(np.cos(self.theta), 0.0, None) ** 3
        self.endo_ed = lv.cavity_radius_mm * profile[:, None] * septal_pull[None, :]  # (D, Θ)
        theta_deg = np.degrees(self.theta)
        clamped = np.clip(cavity_depth, 0.0, 1.0)
        thickness = _segment_field(lv.segment_thickness_mm.astype(float), theta_deg, clamped)
        self.motion = _segment_field(lv.segment_motion.astype(float), theta_deg, clamped)
        # Beyond the cavity apex the wall closes over it as a cap of the apex thickness.
        cap_depth = (self.depth * lv.outer_length_mm - lv.cavity_length_mm) / lv.apex_thickness_mm
        cap = np.sqrt(np.clip(1.0 - cap_depth**2, 0.0, None))[:, None] * thickness
        self.epi_ed = np.where(self._inside_cavity[:, None], self.endo_ed + thickness, cap)

    # --- timing ---------------------------------------------------------------------------------------------

    @cached_property
    def contraction(self) -> np.ndarray:
        """(T,) ventricular contraction state at each frame."""
        return ventricular_contraction(self.spec.frame_times, self.spec.phases)

    @cached_property
    def outer_length(self) -> np.ndarray:
        """(T,) apex-to-base length of the LV epicardium."""
        return self.spec.lv.outer_length_mm * (1.0 - self.spec.lv.long_axis_shortening * self.contraction)

    @cached_property
    def base_z(self) -> np.ndarray:
        """(T,) height of the base plane; the apex stays at -outer_length_ed."""
        return self.outer_length - self.spec.lv.outer_length_mm

    # --- LV ----------------------------------------------------------------------------------------------------

    @cached_property
    def radial_contraction(self) -> float:
        """Inward endocardial motion at end-systole (fraction of radius, normal segments) that gives target EF."""
        lv = self.spec.lv
        weight = self.endo_ed**2 / 2
        a, b, c = weight.sum(), (weight * self.motion).sum(), (weight * self.motion**2).sum()
        length_ratio = 1.0 - lv.long_axis_shortening
        target = (1.0 - lv.target_ef) / length_ratio * a  # a(1 - 2xb/a + x^2 c/a) = target
        disc = b * b - c * (a - target)
        if disc < 0 or c <= 0:
            return MAX_RADIAL_CONTRACTION
        return float(np.clip((b - np.sqrt(disc)) / c, 0.0, MAX_RADIAL_CONTRACTION))

    @cached_property
    def _lv_radii_all_frames(self) -> tuple[np.ndarray, np.ndarray]:
        c = self.contraction[:, None, None]
        length_ratio = (self.spec.lv.outer_length_mm / self.outer_length)[:, None, None]
        endo = self.endo_ed * (1.0 - c * self.radial_contraction * self.motion)
        epi = np.sqrt(endo**2 + (self.epi_ed**2 - self.endo_ed**2) * length_ratio)
        return endo, epi  # (T, D, Θ) each

    def lv_radii(self, frame: int | np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(endocardial, epicardial) radii on the (depth, theta) grid at ``frame`` (all frames when None)."""
        endo, epi = self._lv_radii_all_frames
        return (endo, epi) if frame is None else (endo[frame], epi[frame])

    def _column_integral(self, radius_squared: np.ndarray) -> np.ndarray:
        """Volume (ml) of the solid of revolution given r^2 on the grid, for every frame: (T,)."""
        d_theta, d_depth = 2 * np.pi / N_THETA, 1.0 / N_DEPTH
        per_frame = radius_squared.sum(axis=(-2, -1)) / 2 * d_theta * d_depth
        return per_frame * self.outer_length / 1000.0

    @cached_property
    def lv_cavity_volume_ml(self) -> np.ndarray:
        """(T,) LV blood-pool volume at every frame."""
        endo, _ = self.lv_radii()
        return self._column_integral(endo**2)

    def lv_myocardial_volume_ml(self, frames: np.ndarray | None = None) -> np.ndarray:
        """LV myocardial volume at ``frames`` (all when None); the same at every frame by construction."""
        endo, epi = self.lv_radii(frames)
        outer_length = self.outer_length if frames is None else self.outer_length[frames]
        d_theta, d_depth = 2 * np.pi / N_THETA, 1.0 / N_DEPTH
        return (epi**2 - endo**2).sum(axis=(-2, -1)) / 2 * d_theta * d_depth * outer_length / 1000.0

    # --- RV ----------------------------------------------------------------------------------------------------

    def rv_semi_axes(
        self, frame: int | np.ndarray, rv_contraction: float | None = None, rv: RVSpec | None = None
    ) -> np.ndarray:
        """(..., 3) RV cavity semi-axes: the free wall moves in, the long axis shortens with the LV."""
        k = self.rv_radial_contraction if rv_contraction is None else rv_contraction
        c = np.asarray(self.contraction[frame])[..., None]
        ax, ay, az = (rv or self.spec.rv).semi_axes_mm
        shrink = 1.0 - c * k
        long_ratio = (self.outer_length[frame] / self.spec.lv.outer_length_mm)[..., None]
        return np.concatenate([ax * shrink, ay * shrink, az * long_ratio], axis=-1)

    def rv_centre(self, frame: int | np.ndarray, rv: RVSpec | None = None) -> np.ndarray:
        """(..., 3) RV cavity centre; it rides down with the base plane by the fraction it sits above the apex."""
        cx, cy, cz = (rv or self.spec.rv).centre_mm
        apex = -self.spec.lv.outer_length_mm
        long_ratio = self.outer_length[frame] / self.spec.lv.outer_length_mm
        z = apex + (cz - apex) * long_ratio
        return np.stack(np.broadcast_arrays(cx, cy, z), axis=-1)

    def rv_ray_volume_ml(
        self, frames: np.ndarray, rv_contraction: float, wall_mm: float = 0.0, rv: RVSpec | None = None
    ) -> np.ndarray:
        """(F,) volume (ml) of the RV ellipsoid (grown by wall_mm), outside the LV solid and below the base.

        Integrated on rays from the LV axis: at each height and angle the ellipsoid is an interval of radius;
        the part beyond the LV epicardium counts. All frames at once: arrays are (F, Z, Θ). ``rv`` replaces
        the spec's RV, to size an RV against this LV.
        """
        frames = np.atleast_1d(frames)
        n_z = RV_HEIGHT_SAMPLES
        axes = self.rv_semi_axes(frames, rv_contraction, rv) + wall_mm  # (F, 3)
        centre = self.rv_centre(frames, rv)  # (F, 3)
        apex = -self.spec.lv.outer_length_mm
        fraction = (np.arange(n_z) + 0.5) / n_z
        z = apex + (self.base_z[frames][:, None] - apex) * fraction[None]  # (F, Z)
        dz = (self.base_z[frames] - apex) / n_z  # (F,)
        scale = np.sqrt(np.clip(1 - ((z - centre[:, 2:3]) / axes[:, 2:3]) ** 2, 0.0, None))[..., None]  # (F, Z, 1)
        a = axes[:, 0, None, None] * scale + 1e-9
        b = axes[:, 1, None, None] * scale + 1e-9
        cos, sin = np.cos(self.theta), np.sin(self.theta)
        cx, cy = centre[:, 0, None, None], centre[:, 1, None, None]
        alpha = cos**2 / a**2 + sin**2 / b**2
        beta = cx * cos / a**2 + cy * sin / b**2
        gamma = cx**2 / a**2 + cy**2 / b**2 - 1
        disc = np.clip(beta**2 - alpha * gamma, 0.0, None)
        far = (beta + np.sqrt(disc)) / alpha
        near = np.clip((beta - np.sqrt(disc)) / alpha, 0.0, None)
        low = np.maximum(near, self._lv_epi_at_heights(frames, z))
        inside = (disc > 0) & (far > low) & (scale > 0)
        area = np.where(inside, (far**2 - low**2) / 2, 0.0).sum(axis=2) * (2 * np.pi / N_THETA)  # (F, Z)
        return area.sum(axis=1) * dz / 1000.0

    def _lv_epi_at_heights(self, frames: np.ndarray, z: np.ndarray) -> np.ndarray:
        """(F, Z, Θ) LV epicardial radius at heights z (F, Z); 0 where z is outside the LV."""
        _, epi = self.lv_radii(frames)  # (F, D, Θ)
        depth = (self.base_z[frames][:, None] - z) / self.outer_length[frames][:, None]
        index = np.clip((depth * N_DEPTH).astype(int), 0, N_DEPTH - 1)
        valid = (depth >= 0) & (depth < 1)
        gathered = np.take_along_axis(epi, index[..., None], axis=1)
        return np.where(valid[..., None], gathered, 0.0)

    @cached_property
    def rv_radial_contraction(self) -> float:
        """Free-wall inward motion that reaches the target RVEF (secant iterations on the measured volumes)."""
        es = self.end_systolic_frame
        edv = self.rv_ray_volume_ml(np.array([0]), 0.0)[0]
        target_esv = (1.0 - self.spec.rv.target_ef) * edv
        k0, k1 = 0.1, 0.4
        f0 = self.rv_ray_volume_ml(np.array([es]), k0)[0] - target_esv
        for _ in range(6):
            f1 = self.rv_ray_volume_ml(np.array([es]), k1)[0] - target_esv
            if abs(f1) < 0.2 or f1 == f0:
                break
            k0, k1, f0 = k1, float(np.clip(k1 - f1 * (k1 - k0) / (f1 - f0), 0.0, 0.8)), f1
        return k1

    @cached_property
    def end_systolic_frame(self) -> int:
        return int(np.argmax(self.contraction))

    @cached_property
    def rv_cavity_volume_ml(self) -> np.ndarray:
        """(2,) RV cavity volume at end-diastole and end-systole; it shrinks monotonically in between."""
        return self.rv_ray_volume_ml(np.array([0, self.end_systolic_frame]), self.rv_radial_contraction)

    @cached_property
    def rv_myocardial_volume_ml(self) -> float:
        outer = self.rv_ray_volume_ml(np.array([0]), self.rv_radial_contraction, self.spec.rv.wall_thickness_mm)
        return float(outer[0] - self.rv_cavity_volume_ml[0])

    # --- atria -------------------------------------------------------------------------------------------------

    def atrium_semi_axes(self, atrium: AtriumSpec, frame: int | np.ndarray) -> np.ndarray:
        """(..., 3) semi-axes: the ellipsoid scales uniformly between its smallest and largest volume."""
        fill = atrial_filling(self.spec.frame_times[frame], self.spec.phases)
        volume_ratio = atrium.min_to_max_volume + (1.0 - atrium.min_to_max_volume) * fill
        return np.asarray(atrium.semi_axes_mm) * np.cbrt(volume_ratio)[..., None]

    def atrium_centre(self, atrium: AtriumSpec, frame: int | np.ndarray) -> np.ndarray:
        """(..., 3) centre: resting on the base plane, so it follows the AV plane's descent."""
        axes = self.atrium_semi_axes(atrium, frame)
        x, y = atrium.centre_xy_mm
        z = self.base_z[frame] + axes[..., 2] + 1.0  # 1 mm of AV groove between atrium and ventricle
        return np.stack(np.broadcast_arrays(x, y, z), axis=-1)

    def atrium_volume_ml(self, atrium: AtriumSpec) -> np.ndarray:
        axes = self.atrium_semi_axes(atrium, np.arange(self.spec.n_frames))
        return 4.0 / 3.0 * np.pi * axes.prod(axis=-1) / 1000.0

    # --- regional measures -------------------------------------------------------------------------------------

    def segment_means(self, field_grid: np.ndarray) -> np.ndarray:
        """(16,) mean of a (D, Θ) field over each AHA segment's cells (within the cavity's depth)."""
        lv = self.spec.lv
        cavity_depth = self.depth * lv.outer_length_mm / lv.cavity_length_mm
        segments = aha_segment(self.theta[None, :], cavity_depth[:, None])
        valid = self._inside_cavity[:, None] & np.ones((1, N_THETA), dtype=bool)
        return np.array([field_grid[valid & (segments == s)].mean() for s in range(1, 17)])

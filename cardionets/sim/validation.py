"""Checks that the simulator's images agree with its geometry: volumes from a rendered short-axis stack.

A cardiologist measures volumes by contouring every short-axis slice from base to apex and summing area x
slice spacing (the disc-summation, or "Simpson's", method). Doing the same on the rendered label masks and
comparing with the volumes integrated from the 3D shapes checks the renderer and the geometry against each other.
"""

from __future__ import annotations

import numpy as np

from .cmr import ViewPlane, rasterise_view
from .geometry import HeartGeometry
from .raster import LV_MYO, LV_POOL, RV_POOL
from .sites import Scanner

STACK_SIZE = 160  # a wider field than the cine crop, so no slice is cut at the edges


def short_axis_stack(geometry: HeartGeometry, scanner: Scanner, spacing_mm: float) -> tuple[np.ndarray, np.ndarray]:
    """(slice heights (S,), labels (S, T, H, W)) of a short-axis stack covering both ventricles.

    Slices are fixed in space (as a scanner acquires them) from above the base to below the apex.
    """
    lv = geometry.spec.lv
    heights = np.arange(-lv.outer_length_mm - spacing_mm, spacing_mm, spacing_mm) + spacing_mm / 2
    frames = np.arange(geometry.spec.n_frames)
    labels = []
    for z in heights:
        plane = ViewPlane("sax-stack", np.array([15.0, 0.0, z]), np.array([-1.0, 0, 0]), np.array([0, -1.0, 0]),
                          scanner.pixel_mm, STACK_SIZE)
        labels.append(rasterise_view(geometry, plane.points(), frames, plane.pixel_mm, scanner)[2])
    return heights, np.stack(labels)


def disc_summation_volumes_ml(labels: np.ndarray, pixel_mm: float, spacing_mm: float) -> dict[str, np.ndarray]:
    """(T,) volumes of the LV pool, LV myocardium and RV pool: pixel counts x pixel area x slice spacing."""
    voxel_ml = pixel_mm * pixel_mm * spacing_mm / 1000.0
    return {
        name: (labels == label).sum(axis=(0, 2, 3)) * voxel_ml
        for name, label in (("lv_pool", LV_POOL), ("lv_myocardium", LV_MYO), ("rv_pool", RV_POOL))
    }



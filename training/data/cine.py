"""Cutting a real cine to the crop the models were built around.

The virtual cohort renders each view as a 96 x 96 crop around the heart, 1.8 mm pixels at its UK Biobank-like
sites (`cardionets.sim.cmr`, `cardionets.sim.sites`): a 172.8 mm square. A real series covers much more of the
chest, and pixel sizes vary between scanners, so a real cine is cut to the same 172.8 mm square and resampled to
96 x 96; the heart then appears at the scale the cine encoder learned, whatever the scanner.

The square is centred on the image centre. Radiographers centre cardiac views on the heart, but not exactly; a
crop centred on the heart itself (from a segmentation, or where the short- and long-axis planes intersect) would
be better and is future work.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import zoom

from cardionets.sim.cmr import IMAGE_SIZE

CINE_FOV_MM = 172.8  # 96 pixels of 1.8 mm, the virtual cohort's crop


def crop_to_field_of_view(frames: np.ndarray, row_mm: float, column_mm: float, labels: bool = False) -> np.ndarray:
    """(T, H, W) cine with the given pixel spacing -> (T, 96, 96) float32: the central CINE_FOV_MM square,
    resampled to IMAGE_SIZE pixels; zero where the image is smaller than the square. ``labels``: the frames are
    label maps, resampled by nearest neighbour (returned as uint8) so that no pixel gets an in-between class."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise ValueError(f"a cine is (frames, rows, columns); got shape {frames.shape}")
    if not (row_mm > 0 and column_mm > 0):
        raise ValueError(f"pixel spacing must be positive, got {row_mm} x {column_mm} mm")
    rows, columns = (max(1, round(CINE_FOV_MM / spacing)) for spacing in (row_mm, column_mm))
    square = np.zeros((frames.shape[0], rows, columns), dtype=np.float32)
    source_rows, target_rows = _centred(frames.shape[1], rows)
    source_columns, target_columns = _centred(frames.shape[2], columns)
    square[:, target_rows, target_columns] = frames[:, source_rows, source_columns]
    if (rows, columns) != (IMAGE_SIZE, IMAGE_SIZE):
        square = zoom(square, (1.0, IMAGE_SIZE / rows, IMAGE_SIZE / columns), order=0 if labels else 1)
    return square.astype(np.uint8) if labels else square.astype(np.float32)


def _centred(length: int, size: int) -> tuple[slice, slice]:
    """Slices of an axis of ``length`` and of a window of ``size`` that put their centres together."""
    if length >= size:
        start = (length - size) // 2
        return slice(start, start + size), slice(0, size)
    start = (size - length) // 2
    return slice(0, length), slice(start, start + length)

"""Cine files that leave CardioNets: 4-D NIfTI for analysis tools and looping GIFs for eyes, both marked SYNTHETIC.

The simulator's subjects (`cardionets.sim.export`) and the generator's cines (`export_generated_cine`) are written
by the same two functions, so every cine file carries the mark the same way: the NIfTI description begins
SYNTHETIC and the word is burned into every GIF frame.

NIfTI orientation: data are stored (W, H, 1, T), first index the image column (x), as DICOM-to-NIfTI converters
(dcm2niix, the UK Biobank cardiac pipeline) store a cine, so tools that take the first axis as x see the image as
it was shown. Pixel spacing, slice thickness and the frame interval go to pixdim, in mm and seconds.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import BinaryIO

import nibabel as nib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

SYNTHETIC = "SYNTHETIC"
NIFTI_DESCRIPTION_CHARS = 79  # descrip is 80 bytes with its terminating NUL
# 96 px cines become 288 px, large enough for a readable label; nearest-neighbour shows the true pixels and keeps
# the file 40% smaller than bilinear (about 2 MB for 50 noisy frames).
GIF_SCALE = 3
GIF_WINDOW_PERCENTILE = 99.5  # the cine's brightest blood, not a single noise spike, maps to white
# GIF delays are whole centiseconds and browsers slow any delay under 2 cs to 10 cs, so 50 fps is the fastest.
GIF_MIN_DELAY_CS = 2
EXPORT_FORMATS = ("nifti", "gif", "png")
GENERATED_SLICE_MM = 8.0  # the slice thickness of the cines the generator learnt from (UK Biobank's protocol)


def write_nifti_cine(frames: np.ndarray, affine: np.ndarray, pixel_mm: float, slice_mm: float,
                     frame_duration_s: float, path: Path, description: str, intent: str | None = None,
                     slope: float = 1.0) -> None:
    """``frames`` (T, H, W), already in the stored dtype, as a 4-D NIfTI-1 (W, H, 1, T) with ``affine`` (voxel
    column, row, slice -> mm). The stored description is "SYNTHETIC " + ``description``."""
    frames = np.asarray(frames)
    if frames.ndim != 3 or frames.shape[0] == 0:
        raise ValueError(f"expected cine frames of shape (T, H, W) with T >= 1, got {frames.shape}")
    text = f"{SYNTHETIC} {description}"
    if len(text) > NIFTI_DESCRIPTION_CHARS or not text.isascii():
        raise ValueError(f"NIfTI descriptions hold {NIFTI_DESCRIPTION_CHARS} ASCII characters: {text!r}")
    volume = frames.transpose(2, 1, 0)[:, :, None, :]  # (T, row, col) -> (col, row, 1, T)
    nifti = nib.Nifti1Image(volume, affine)
    # "aligned", not "scanner": the grid is placed in a heart frame or at the origin, never in a patient's RAS.
    nifti.set_sform(affine, code="aligned")
    nifti.set_qform(affine, code="aligned")
    header = nifti.header
    header.set_zooms((pixel_mm, pixel_mm, slice_mm, frame_duration_s))
    header.set_xyzt_units("mm", "sec")
    header["descrip"] = text.encode("ascii")
    if intent is not None:
        header.set_intent(intent)
    header.set_slope_inter(slope, 0.0)
    nib.save(nifti, path)


def as_uint8_with_slope(image: np.ndarray) -> tuple[np.ndarray, float]:
    """Float frames -> (uint8 frames, scale factor): magnitude cines need no more depth, and noisy float32
    compresses to four times the size."""
    image = np.asarray(image, dtype=np.float32)
    slope = max(float(image.max()), 1e-6) / 255.0
    return np.round(np.clip(image, 0, None) / slope).astype(np.uint8), slope


def labelled_frames(image: np.ndarray, label: str = SYNTHETIC) -> list[Image.Image]:
    """Greyscale pictures of a cine (T, H, W), enlarged GIF_SCALE times, ``label`` burned into each one."""
    image = np.asarray(image, dtype=np.float32)
    if image.ndim != 3 or image.shape[0] == 0:
        raise ValueError(f"a cine needs frames of shape (T, H, W) with T >= 1, got {image.shape}")
    white = float(np.percentile(image, GIF_WINDOW_PERCENTILE))
    counts_per_unit = 255.0 / white if white > 0 else 0.0
    grey = np.round(np.clip(image * counts_per_unit, 0, 255)).astype(np.uint8)
    height, width = image.shape[1:]
    size = (width * GIF_SCALE, height * GIF_SCALE)
    font = ImageFont.load_default(size=max(12, min(size) // 16))
    pictures = []
    for frame in grey:
        picture = Image.fromarray(frame).resize(size, Image.Resampling.NEAREST)
        # White text in a black outline stays readable on bright blood and on dark lung alike.
        ImageDraw.Draw(picture).text((6, 4), label, fill=255, font=font, stroke_width=2, stroke_fill=0)
        pictures.append(picture)
    return pictures


def write_cine_gif(image: np.ndarray, path: Path | BinaryIO, fps: float, label: str = SYNTHETIC) -> None:
    """An endlessly looping GIF of the cine (T, H, W), `labelled_frames` at ``fps``.

    Playback is capped at 50 fps (GIF_MIN_DELAY_CS); Pillow merges identical consecutive frames into one.
    """
    if not fps > 0:
        raise ValueError(f"fps must be positive, got {fps}")
    pictures = labelled_frames(image, label)
    delay_ms = 10 * max(GIF_MIN_DELAY_CS, round(100 / fps))
    pictures[0].save(path, format="GIF", save_all=True, append_images=pictures[1:], duration=delay_ms, loop=0)


def side_by_side_gif(cine: np.ndarray, fps: float, label: str = SYNTHETIC) -> bytes:
    """A looping GIF of a cine's views (V, T, H, W) side by side, ``label`` burned in: for showing, in memory."""
    buffer = io.BytesIO()
    write_cine_gif(np.concatenate(list(np.asarray(cine, dtype=np.float32)), axis=2), buffer, fps, label)
    return buffer.getvalue()


def write_png_frames(image: np.ndarray, directory: Path, stem: str, label: str = SYNTHETIC) -> list[Path]:
    """One PNG per frame of the cine (T, H, W), ``{stem}_frame{NN}.png``, ``label`` burned into each."""
    directory = Path(directory)
    paths = []
    for index, picture in enumerate(labelled_frames(image, label)):
        paths.append(directory / f"{stem}_frame{index:02d}.png")
        picture.save(paths[-1], format="PNG")
    return paths


def generated_affine(size: int, pixel_mm: float, slice_mm: float = GENERATED_SLICE_MM) -> np.ndarray:
    """A generated cine has no scanner geometry: an axis-aligned grid of the right spacing, centred on the
    origin (so that its orientation is not mistaken for a patient's)."""
    affine = np.diag([pixel_mm, pixel_mm, slice_mm, 1.0])
    affine[:2, 3] = -(size - 1) / 2 * pixel_mm
    return affine


def export_generated_cine(cine: np.ndarray, views: tuple[str, ...], pixel_mm: float, frame_duration_s: float,
                          directory: Path, stem: str, formats: tuple[str, ...] = ("nifti", "gif")) -> dict[str, Path]:
    """A generated cine (V, T, H, W) in [0, 1]: per view ``{stem}_{view}_SYNTHETIC.nii.gz``, ``.gif`` and PNG
    frames, plus ``{stem}_SYNTHETIC.gif`` with the views side by side. Returns the paths by role ("nifti_sax",
    "gif_4ch", "gif", "png_sax_frame00")."""
    unknown = set(formats) - set(EXPORT_FORMATS)
    if unknown:
        raise ValueError(f"unknown export formats {sorted(unknown)}; choose from {EXPORT_FORMATS}")
    cine = np.asarray(cine, dtype=np.float32)
    if cine.ndim != 4 or cine.shape[0] != len(views) or cine.shape[2] != cine.shape[3]:
        raise ValueError(f"expected a cine of shape ({len(views)} views, frames, side, side), got {cine.shape}")
    if not (np.isfinite(cine).all() and frame_duration_s > 0 and pixel_mm > 0):
        raise ValueError("a generated cine needs finite pixels, a positive frame interval and pixel size")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    affine = generated_affine(cine.shape[-1], pixel_mm)
    for view, frames in zip(views, cine):
        if "nifti" in formats:
            files[f"nifti_{view}"] = directory / f"{stem}_{view}_{SYNTHETIC}.nii.gz"
            stored, slope = as_uint8_with_slope(frames)
            write_nifti_cine(stored, affine, pixel_mm, GENERATED_SLICE_MM, frame_duration_s,
                             files[f"nifti_{view}"], f"generated cine CMR {view}, CardioNets", slope=slope)
        if "gif" in formats:
            files[f"gif_{view}"] = directory / f"{stem}_{view}_{SYNTHETIC}.gif"
            write_cine_gif(frames, files[f"gif_{view}"], fps=1.0 / frame_duration_s)
        if "png" in formats:
            for path in write_png_frames(frames, directory, f"{stem}_{view}_{SYNTHETIC}"):
                files[f"png_{view}_{path.stem.rsplit('_', 1)[-1]}"] = path
    if "gif" in formats:
        files["gif"] = directory / f"{stem}_{SYNTHETIC}.gif"
        files["gif"].write_bytes(side_by_side_gif(cine, fps=1.0 / frame_duration_s))
    return files

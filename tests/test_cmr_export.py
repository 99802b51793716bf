"""Generated cines leave as NIfTI and GIF files that other tools open with the right shape, spacing and mark."""

import imageio.v3 as iio
import nibabel as nib
import numpy as np
import pytest

from cardionets.cmr.export import SYNTHETIC, export_generated_cine, generated_affine

VIEWS = ("sax", "4ch")


def _cine(frames: int = 16, size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(0)
    cine = rng.uniform(0.0, 0.2, size=(len(VIEWS), frames, size, size)).astype(np.float32)
    cine[:, :, 20:40, 20:40] = np.linspace(0.6, 1.0, frames)[None, :, None, None]  # a bright, beating square
    return cine


def test_nifti_export_opens_in_nibabel_with_shape_spacing_and_synthetic_mark(tmp_path):
    cine = _cine()
    files = export_generated_cine(cine, VIEWS, pixel_mm=2.7, frame_duration_s=0.05, directory=tmp_path, stem="S1")
    for v, view in enumerate(VIEWS):
        image = nib.load(files[f"nifti_{view}"])
        assert SYNTHETIC in files[f"nifti_{view}"].name
        assert image.shape == (64, 64, 1, 16)  # (columns, rows, slice, time)
        assert image.header.get_zooms() == pytest.approx((2.7, 2.7, 8.0, 0.05))
        assert image.header.get_xyzt_units() == ("mm", "sec")
        assert image.header["descrip"].tobytes().decode().startswith(SYNTHETIC)
        np.testing.assert_allclose(image.affine, generated_affine(64, 2.7))
        # 8-bit storage with a scale factor: within half a grey level of the float frames.
        stored = image.get_fdata()[:, :, 0, :].transpose(2, 1, 0)
        assert np.abs(stored - cine[v]).max() <= cine[v].max() / 255 / 2 + 1e-6


def test_affine_centres_the_grid_and_steps_one_pixel_per_voxel():
    affine = generated_affine(64, 2.7)
    centre = affine @ np.array([31.5, 31.5, 0, 1])
    np.testing.assert_allclose(centre[:3], 0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.norm(affine[:3, :3], axis=0), [2.7, 2.7, 8.0])


def test_gif_export_opens_in_imageio_with_every_frame_and_both_views(tmp_path):
    cine = _cine()
    files = export_generated_cine(cine, VIEWS, pixel_mm=2.7, frame_duration_s=0.05, directory=tmp_path, stem="S1",
                                  formats=("gif",))
    assert set(files) == {"gif_sax", "gif_4ch", "gif"}
    single = iio.imread(files["gif_sax"], index=None)
    both = iio.imread(files["gif"], index=None)
    assert single.shape[:3] == (16, 192, 192)  # every frame, enlarged 3x
    assert both.shape[:3] == (16, 192, 384)  # the views side by side
    assert iio.immeta(files["gif"])["duration"] == 50  # ms per frame, from the frame interval


def test_gif_frames_carry_the_synthetic_label(tmp_path):
    # The label is burned in: the top-left corner of a dark cine holds bright text pixels in every frame.
    cine = np.zeros((2, 4, 64, 64), np.float32)
    cine[:, :, 40:60, 40:60] = 1.0
    files = export_generated_cine(cine, VIEWS, 2.7, 0.05, tmp_path, "S2", formats=("gif",))
    frames = iio.imread(files["gif_sax"], index=None)
    corner = frames[:, :20, :100]
    assert (corner.reshape(len(frames), -1).max(axis=1) > 200).all()


@pytest.mark.parametrize("bad, message", [
    (np.zeros((3, 16, 64, 64), np.float32), "2 views"),
    (np.full((2, 16, 64, 64), np.nan, np.float32), "finite"),
])
def test_bad_cines_are_refused_with_a_message(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message):
        export_generated_cine(bad, VIEWS, 2.7, 0.05, tmp_path, "S3")
    assert not list(tmp_path.iterdir())

"""Phenotypes measured on label maps: geometry on shapes of known size, calibration, and the virtual cohort."""

import numpy as np
import pytest

from cardionets.cmr.measure import (IMAGE_PHENOTYPES, LA, LV, MYO, RV, ImagePhenotypeCalibration,
                                    ImagePhenotypeEstimate, geometric_phenotypes, long_axis_mm)


def disc(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius**2


def ellipse(size: int, centre: tuple[float, float], half_rows: float, half_columns: float) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    return ((yy - centre[0]) / half_rows) ** 2 + ((xx - centre[1]) / half_columns) ** 2 <= 1


def beating_heart(radii=(20, 12), lengths=(40, 32), size=128):
    """Label maps of two frames: a round LV cavity in a 5-pixel myocardial ring in SAX, a long LV plus an atrium
    in 4CH; pixel 1 mm."""
    sax, four = np.zeros((2, size, size), np.uint8), np.zeros((2, size, size), np.uint8)
    for t, (radius, half_length) in enumerate(zip(radii, lengths)):
        sax[t][disc(size, (64, 64), radius + 5)] = MYO
        sax[t][disc(size, (64, 64), radius)] = LV
        sax[t][disc(size, (64, 20), 10)] = RV
        four[t][ellipse(size, (50, 64), half_length, radius)] = LV
        four[t][ellipse(size, (105, 64), 12, 15)] = LA
        four[t][ellipse(size, (64, 100), 30, 8)] = RV
    return sax, four


def test_long_axis_follows_the_structure_whatever_its_tilt():
    mask = np.zeros((100, 100), bool)
    for i in range(60):  # a 60-pixel diagonal bar, 3 pixels thick
        mask[20 + i, 20 + i:23 + i] = True
    assert long_axis_mm(mask, 2.0) == pytest.approx(60 * np.sqrt(2) * 2.0, rel=0.05)


def test_bullet_volumes_and_ejection_fraction_of_a_known_shape():
    sax, four = beating_heart()
    values = geometric_phenotypes(sax, four, pixel_mm=1.0)
    expected_edv = 5 / 6 * np.pi * 2.0**2 * 8.0  # radius 2 cm, length 8 cm -> mL
    expected_esv = 5 / 6 * np.pi * 1.2**2 * 6.4
    assert values["lvedv_ml"] == pytest.approx(expected_edv, rel=0.05)
    assert values["lvesv_ml"] == pytest.approx(expected_esv, rel=0.05)
    assert values["lvef_pct"] == pytest.approx(100 * (1 - expected_esv / expected_edv), abs=2.0)
    assert values["lvm_g"] > 0 and values["lav_max_ml"] > 0 and values["rvedv_ml"] > 0


def test_halving_the_pixel_size_shrinks_volumes_eightfold():
    sax, four = beating_heart()
    coarse, fine = geometric_phenotypes(sax, four, 2.0), geometric_phenotypes(sax, four, 1.0)
    assert coarse["lvedv_ml"] == pytest.approx(8 * fine["lvedv_ml"], rel=1e-6)
    assert coarse["lvef_pct"] == pytest.approx(fine["lvef_pct"], rel=1e-6)


def test_views_must_match():
    with pytest.raises(ValueError, match="same"):
        geometric_phenotypes(np.zeros((2, 8, 8)), np.zeros((3, 8, 8)), 1.0)


def test_calibration_recovers_a_linear_bias_and_round_trips(tmp_path):
    rng = np.random.default_rng(0)
    geometric = [{name: float(v) for name in IMAGE_PHENOTYPES} for v in rng.uniform(50, 200, 40)]
    reference = {name: np.array([1.1 * g[name] + 7.0 for g in geometric]) for name in IMAGE_PHENOTYPES}
    calibration = ImagePhenotypeCalibration.fit(geometric, reference)
    assert calibration.apply({name: 100.0 for name in IMAGE_PHENOTYPES})["lvedv_ml"] == pytest.approx(117.0)
    assert calibration.residual_sd["lvedv_ml"] == pytest.approx(0.0, abs=1e-9)
    calibration.save(tmp_path / "calibration.json")
    assert ImagePhenotypeCalibration.load(tmp_path / "calibration.json") == calibration
    noisy = {name: values + rng.normal(0, 5.0, len(values)) for name, values in reference.items()}
    assert ImagePhenotypeCalibration.fit(geometric, noisy).residual_sd["lvedv_ml"] == pytest.approx(5.0, rel=0.3)


def test_shipped_sample_label_maps_measure_close_to_their_ground_truth():
    """The geometric models on the virtual cohort's own label maps (NIfTI, as a user would have them), before any
    calibration: volumes within 15 %, EF within 6 points of the simulator's exact values."""
    import nibabel as nib
    import pandas as pd

    from cardionets.samples import SAMPLES_DIR

    manifest = pd.read_csv(SAMPLES_DIR / "manifest.csv")
    for _, row in manifest.iterrows():
        maps = {}
        for view in ("sax", "4ch"):
            image = nib.load(SAMPLES_DIR / row[f"{view}_cine"].replace("_cine", "_labels"))
            maps[view] = np.asarray(image.dataobj)[:, :, 0, :].transpose(2, 1, 0)  # (W, H, 1, T) -> (T, H, W)
            pixel_mm = float(image.header.get_zooms()[0])
        values = geometric_phenotypes(maps["sax"], maps["4ch"], pixel_mm)
        assert values["lvedv_ml"] == pytest.approx(row["lvedv_ml"], rel=0.15), row["sample"]
        assert values["lvm_g"] == pytest.approx(row["lvm_g"], rel=0.15), row["sample"]
        assert abs(values["lvef_pct"] - row["lvef_pct"]) < 6.0, row["sample"]


def test_estimate_from_samples_flags_a_head_value_outside_the_combined_spread():
    samples = [{"lvedv_ml": v} for v in (140.0, 150.0, 160.0)]
    estimate = ImagePhenotypeEstimate.from_samples(samples)
    assert estimate.mean["lvedv_ml"] == 150.0 and estimate.spread["lvedv_ml"] == pytest.approx(10.0)
    calibration = ImagePhenotypeCalibration()
    calibration.residual_sd["lvedv_ml"] = 0.0
    assert estimate.disagreements({"lvedv_ml": 165.0}, calibration) == {"lvedv_ml": False}  # within 2 SD
    assert estimate.disagreements({"lvedv_ml": 175.0}, calibration) == {"lvedv_ml": True}
    calibration.residual_sd["lvedv_ml"] = 20.0  # the measurement's own error widens the tolerance
    assert estimate.disagreements({"lvedv_ml": 175.0}, calibration) == {"lvedv_ml": False}
    with pytest.raises(ValueError, match="at least one"):
        ImagePhenotypeEstimate.from_samples([])
    assert estimate.cell("lvedv_ml") == "150.0 ± 10.0"


def test_one_sample_has_no_spread_to_judge_a_disagreement_by():
    estimate = ImagePhenotypeEstimate.from_samples([{"lvedv_ml": 150.0}])
    calibration = ImagePhenotypeCalibration()
    calibration.residual_sd["lvedv_ml"] = 0.0
    # Its spread is unknown, not zero: no verdict, and the value is not shown as '± 0.0'.
    assert estimate.disagreements({"lvedv_ml": 151.0}, calibration) == {"lvedv_ml": None}
    assert estimate.cell("lvedv_ml") == "150.0 (one sample: no spread)"

"""What every ECG file carries, as model inputs: patient fields, the cart's measurements on the model view, the
covariate head's missing-value path, split-conformal intervals and flags made on them."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from cardionets.covariates import CART_MEASUREMENTS, COVARIATES, bsa_m2, covariate_values, patient_values
from cardionets.ecg import load, model_view
from cardionets.models.ecg_encoder import ECGEncoderConfig
from cardionets.models.predictor import CardioNetsPredictor, PredictorConfig
from cardionets.prediction import PhenotypeResult
from training.covariate_heads import conformal_half_widths, interval_coverage

PTBXL = Path(__file__).parent / "data" / "real-ecg" / "ptbxl"


def test_bsa_is_mosteller_and_unknown_without_both_height_and_weight():
    assert bsa_m2(180, 80) == pytest.approx(math.sqrt(180 * 80 / 3600))
    assert bsa_m2(None, 80) is None and bsa_m2(180, None) is None and bsa_m2(0, 80) is None
    values = patient_values(63.0, "F", None, 70.0)
    assert values[:2].tolist() == [63.0, 0.0] and math.isnan(values[2])
    assert np.isnan(patient_values(None, None)).all() and patient_values(40, "M", 170, 70)[1] == 1.0


def test_a_real_ecg_gets_its_cart_measurements_on_the_model_view(mortara_path):
    ecg = load(mortara_path)
    values = covariate_values(model_view(ecg), 55, "M", 175, 80)
    assert values.shape == (len(COVARIATES),)
    cart = dict(zip(CART_MEASUREMENTS, values[-len(CART_MEASUREMENTS):]))
    assert 55 <= cart["hr_bpm"] <= 70  # the cart printed RR 982 ms: 61 bpm
    assert 60 <= cart["qrs_ms"] <= 110 and 300 <= cart["qt_ms"] <= 440


def test_a_flat_view_has_unknown_measurements_not_an_error():
    values = covariate_values(np.zeros((12, 5000), np.float32), None, None)
    assert np.isnan(values).all()


def _model(covariates=COVARIATES) -> CardioNetsPredictor:
    torch.manual_seed(0)
    return CardioNetsPredictor(PredictorConfig(
        ecg_encoder=ECGEncoderConfig(dim=32, depth=1, n_heads=2), phenotypes=("lvedv_ml", "lvef_pct"),
        phenotype_mean=(150.0, 60.0), phenotype_std=(30.0, 6.0), diseases=("hcm", "dcm", "rcm"),
        covariates=covariates, covariate_mean=tuple(0.0 for _ in covariates),
        covariate_std=tuple(1.0 for _ in covariates), phenotype_interval={"0.95": (40.0, 9.0)}))


def test_the_covariate_head_reads_covariates_and_has_a_missing_path(tmp_path):
    model = _model().eval()
    ecg = torch.randn(2, 12, 5000) * 0.3
    known = torch.tensor([[60.0, 1.0, 1.9, *[1.0] * len(CART_MEASUREMENTS)]] * 2)
    with_values = model.predict(ecg, covariates=known)["phenotypes"]
    missing = model.predict(ecg)["phenotypes"]  # no covariates: every one unknown
    assert torch.isfinite(missing).all() and not torch.allclose(with_values, missing)
    partly = known.clone()
    partly[:, 2] = float("nan")  # height or weight not given
    assert torch.isfinite(model.predict(ecg, covariates=partly)["phenotypes"]).all()
    model.save_pretrained(tmp_path / "m")
    again = CardioNetsPredictor.from_pretrained(tmp_path / "m").eval()
    assert torch.allclose(again.predict(ecg, covariates=known)["phenotypes"], with_values, atol=1e-5)
    assert again.config.phenotype_interval["0.95"] == [40.0, 9.0] or again.config.phenotype_interval["0.95"] == (
        40.0, 9.0)


def test_an_unknown_value_stands_in_as_the_mean_of_the_patients_sex():
    """Height and weight not given: a woman's BSA enters as the women's mean (with its missing flag), not as an
    average adult's, which made every such woman's heart too large; sex unknown too: the overall mean."""
    model = _model().eval()
    bsa = COVARIATES.index("bsa_m2")
    by_sex = [[0.0] * len(COVARIATES), [0.0] * len(COVARIATES)]
    by_sex[0][bsa], by_sex[1][bsa] = -1.0, 1.0  # standardised: women below the mean, men above
    model.covariate_mean_by_sex = torch.tensor(by_sex)
    ecg = torch.randn(3, 12, 5000) * 0.3
    unknown_bsa = torch.tensor([[60.0, sex, float("nan"), *[1.0] * len(CART_MEASUREMENTS)] for sex in (0.0, 1.0, 0.0)])
    unknown_bsa[2, 1] = float("nan")  # sex not given either
    embedding = model.encoder.embed(ecg)
    captured = {}
    model.covariate_head.register_forward_hook(lambda _, inputs, __: captured.update(inputs=inputs))
    model.heads(embedding, unknown_bsa)
    values, missing = captured["inputs"][1], captured["inputs"][2]
    assert values[:, bsa].tolist() == [-1.0, 1.0, 0.0]
    assert missing[:, bsa].all() and missing[2, 1] and not missing[:2, 1].any()
    assert torch.allclose(values[:, 0], torch.full((3,), 60.0))  # known values pass as they are


def test_the_generator_condition_does_not_depend_on_the_covariate_head():
    """The generator was trained on the ECG-only heads' outputs: adding a covariate head leaves its input as it
    was."""
    with_head, without = _model().eval(), _model(covariates=()).eval()
    state = {k: v for k, v in with_head.state_dict().items() if not k.startswith("covariate_")}
    without.load_state_dict(state)
    ecg = torch.randn(1, 12, 5000) * 0.3
    assert torch.allclose(with_head.generator_condition(ecg), without.generator_condition(ecg))


def test_split_conformal_intervals_cover_fresh_exchangeable_subjects():
    rng = np.random.default_rng(0)
    predicted = rng.normal(size=(4000, 2))
    truth = predicted + rng.normal(size=(4000, 2)) * np.array([1.0, 5.0])
    widths = conformal_half_widths(predicted[:1000], truth[:1000])
    assert widths["0.95"][1] == pytest.approx(5 * 1.96, rel=0.1) and widths["0.8"][0] < widths["0.95"][0]
    coverage = interval_coverage(predicted[1000:], truth[1000:], widths, ("a", "b"))
    assert all(0.93 <= share <= 0.97 for share in coverage["0.95"].values())
    assert all(0.75 <= share <= 0.85 for share in coverage["0.8"].values())  # 1000 calibration cases
    few = conformal_half_widths(predicted[:5], truth[:5])  # too few cases for a 95 % guarantee
    assert math.isinf(few["0.95"][0])


def test_a_flag_is_made_only_when_the_whole_interval_lies_outside_the_reference():
    # LVEDV, men: UK Biobank reference about 100-230 mL
    far = PhenotypeResult.of("lvedv_ml", 330.0, "M", {"0.8": 40.0, "0.95": 60.0})
    assert far.flag == "high" and far.interval_95 == [270.0, 390.0] and far.interval_80 == [290.0, 370.0]
    near = PhenotypeResult.of("lvedv_ml", 240.0, "M", {"0.95": 60.0})
    assert near.flag == "uncertain"
    assert PhenotypeResult.of("lvedv_ml", 240.0, "M").flag == "high"  # no interval: the point decides
    inside = PhenotypeResult.of("lvedv_ml", 160.0, "M", {"0.95": 20.0})
    assert inside.flag == "normal"
    floored = PhenotypeResult.of("lvesv_ml", 30.0, "F", {"0.95": 50.0})
    assert floored.interval_95[0] == 0.0  # a volume's interval stops at zero


def test_the_thickest_segment_is_held_against_the_hcm_criterion_and_lv_mass_is_indexed_to_bsa():
    from cardionets.prediction import WALL_SEGMENTS, with_derived_phenotypes

    def segments(thickest: float, width: float) -> dict:
        values = [6.0] * 15 + [thickest]
        return {name: PhenotypeResult.of(name, value, "F", {"0.8": width / 2, "0.95": width})
                for name, value in zip(WALL_SEGMENTS, values)}

    mass = {"lvm_g": PhenotypeResult.of("lvm_g", 150.0, "F", {"0.95": 20.0}), "wt_global_mm":
            PhenotypeResult.of("wt_global_mm", 8.0, "F", {"0.95": 3.0})}
    thick = with_derived_phenotypes({**mass, **segments(21.0, 4.0)}, "F", 1.5)
    assert list(thick)[:4] == ["lvm_g", "lvm_g_m2", "wt_global_mm", "wt_max_mm"]  # each after its source
    assert thick["wt_max_mm"].value == 21.0 and thick["wt_max_mm"].interval_95 == [17.0, 25.0]
    assert thick["wt_max_mm"].flag == "high" and "ESC" in thick["wt_max_mm"].reference
    assert with_derived_phenotypes(segments(16.0, 4.0), "F", None)["wt_max_mm"].flag == "uncertain"
    assert with_derived_phenotypes(segments(9.0, 4.0), "F", None)["wt_max_mm"].flag == "normal"
    # The interval of the maximum ends where the segments' ends are largest, even when another segment has it.
    mixed = segments(9.0, 1.0)
    mixed["wt_aha1_mm"] = PhenotypeResult.of("wt_aha1_mm", 8.0, "F", {"0.95": 8.0})
    assert with_derived_phenotypes(mixed, "F", None)["wt_max_mm"].interval_95 == [8.0, 16.0]
    index = thick["lvm_g_m2"]  # 150 g over 1.5 m2, women's reference 42 +/- 7 g/m2: about 28-56
    assert index.value == 100.0 and index.interval_95 == [86.67, 113.33] and index.unit == "g/m²"
    assert index.flag == "high" and (index.ref_low, index.ref_high) == (28.28, 55.72)
    assert "lvm_g_m2" not in with_derived_phenotypes(mass, "F", None)  # no height and weight, no index

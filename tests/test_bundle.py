"""The weights bundle, on a real one: the tiny recipe's trained models exported by `training.export_bundle`, then
loaded by `CardioNets.from_pretrained` from a folder, from a Hub-style cache offline, and refused when damaged;
then `predict` and `generate_cmr` on the real Mortara ECG."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import wfdb

from cardionets.__main__ import main as cli
from cardionets.bundle import (
    ACTIVE_POINTER,
    MANIFEST_NAME,
    MANIFEST_PIN_ENV,
    MODEL_CARD_NAME,
    SCHEMA_VERSION,
    BundleError,
    Manifest,
    promote,
    resolve,
    sha256_of,
)
from cardionets.cmr.measure import IMAGE_CALIBRATION_FILE, IMAGE_PHENOTYPES, ImagePhenotypeCalibration
from cardionets.ecg import ECG, STANDARD_LEADS, ECGMetadata
from cardionets.ecg.errors import MissingLeadsError
from cardionets.inference import CardioNets, ECGRejectedError, disease_result
from cardionets.models.predictor import PredictorConfig
from cardionets.prediction import PhenotypeResult, Prediction
from training.model_card import generated_cine_limitations

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def copy_of(bundle, tmp_path):
    def make() -> Path:
        return Path(shutil.copytree(bundle, tmp_path / "copy"))
    return make


def test_an_exported_bundle_loads_every_model_with_its_schema(bundle):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    manifest = json.loads((bundle / MANIFEST_NAME).read_text())
    assert manifest["schema_version"] == SCHEMA_VERSION
    # Every file but the manifest is hashed, weights included.
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*")
               if p.is_file() and p.name not in (MANIFEST_NAME, MODEL_CARD_NAME)}
    assert set(manifest["files"]) == on_disk
    assert "generator/model.safetensors" in on_disk and "segmenter/image_phenotypes.json" in on_disk
    assert list(model.predictor.config.phenotypes) == manifest["metadata"]["schema"]["phenotypes"]
    assert model.generator.anchor is not None  # the MAR ships with the regressor it generates residuals around
    assert model.sampler.autoregressive_steps >= 1 and not model.predictor.training


def test_the_export_writes_a_model_card_from_the_run_s_own_results(bundle, tiny_run):
    run, _ = tiny_run
    results = json.loads((run / "results.json").read_text())
    card = (bundle / MODEL_CARD_NAME).read_text()
    assert card.startswith("---\nlicense:") and "Research use only, not for diagnosis" in card
    assert f"| internal | {results['predictive']['internal']['aligned']['r2_mean']:.3f} |" in card
    assert f"{results['generative']['external']['scores']['mar']['ssim']:.3f}" in card


def test_the_model_card_is_rewritten_from_a_later_evaluation_and_the_bundle_stays_sealed(copy_of, tiny_run,
                                                                                           tmp_path):
    from cardionets.bundle import load_verified
    from training.model_card import main as card_main

    run, _ = tiny_run
    results = json.loads((run / "results.json").read_text())
    results["generative"]["external"]["scores"]["mar"]["ssim"] = 0.1111  # as a later evaluation would find
    (tmp_path / "later.json").write_text(json.dumps(results))
    copy = copy_of()
    assert "0.111" not in (copy / MODEL_CARD_NAME).read_text()
    assert card_main(["--bundle", str(copy), "--results", str(tmp_path / "later.json")]) == 0
    assert "0.111" in (copy / MODEL_CARD_NAME).read_text()
    load_verified(copy)  # the card is outside the checksums


def test_the_model_card_names_each_generated_cine_shortfall_the_checks_found_and_no_other():
    checks = {"internal": {"mar_beats_mean_and_retrieval_ssim": True, "mar_frechet_below_regression_decoder": True},
              "external": {"mar_beats_mean_and_retrieval_ssim": True, "mar_beats_mean_and_retrieval_psnr": False}}
    lines = generated_cine_limitations({"checks": checks})
    assert len(lines) == 1 and lines[0].startswith("- On the external test split") and "PSNR" in lines[0]
    assert "SSIM" not in lines[0] and generated_cine_limitations(None) == []


def test_a_tampered_weight_file_is_refused(copy_of):
    folder = copy_of()
    weights = folder / "predictor" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="predictor/model.safetensors.*checksum"):
        CardioNets.from_pretrained(folder, device="cpu")


def test_a_missing_file_or_another_schema_version_is_refused(copy_of):
    folder = copy_of()
    (folder / "segmenter" / "image_phenotypes.json").unlink()
    with pytest.raises(BundleError, match="incomplete.*image_phenotypes.json"):
        CardioNets.from_pretrained(folder, device="cpu")
    shutil.rmtree(folder)
    folder = copy_of()
    record = json.loads((folder / MANIFEST_NAME).read_text())
    record["schema_version"] = SCHEMA_VERSION + 1
    (folder / MANIFEST_NAME).write_text(json.dumps(record))
    with pytest.raises(BundleError, match=f"schema version {SCHEMA_VERSION + 1}"):
        CardioNets.from_pretrained(folder, device="cpu")


def _edit_manifest(folder: Path, change) -> None:
    record = json.loads((folder / MANIFEST_NAME).read_text())
    change(record)
    (folder / MANIFEST_NAME).write_text(json.dumps(record))


WEIGHTS = "predictor/model.safetensors"


@pytest.mark.parametrize("edit, message", [
    (lambda r: r["files"].pop(WEIGHTS), "does not vouch for .*predictor/model.safetensors"),  # its entry deleted
    (lambda r: r.update(files={}), "does not vouch for"),
    (lambda r: r["components"].update(predictor="../elsewhere"), "points outside its folder"),
    (lambda r: r["components"].update(predictor="/tmp"), "points outside its folder"),
    (lambda r: r["files"].update({"../outside.bin": "0" * 64}), "points outside its folder"),
    (lambda r: r.update(files=[]), "must map names to text"),
])
def test_a_manifest_edited_to_hide_a_change_is_refused(copy_of, edit, message):
    """Tampered weights used to load when their manifest entry was deleted, with files: {}, or with a component
    outside the bundle."""
    folder = copy_of()
    _edit_manifest(folder, edit)
    with pytest.raises(BundleError, match=message):
        CardioNets.from_pretrained(folder, device="cpu")


def test_a_deep_manifest_a_rehashed_truncated_file_and_a_pin_are_handled(copy_of, monkeypatch):
    folder = copy_of()
    manifest_text = (folder / MANIFEST_NAME).read_text()
    (folder / MANIFEST_NAME).write_text('{"format": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(BundleError, match="nested too deeply"):  # was a raw RecursionError
        CardioNets.from_pretrained(folder, device="cpu")
    (folder / MANIFEST_NAME).write_text(manifest_text)
    pinned = sha256_of(folder / MANIFEST_NAME)
    monkeypatch.setenv(MANIFEST_PIN_ENV, "0" * 64)
    with pytest.raises(BundleError, match="pinned"):
        CardioNets.from_pretrained(folder, device="cpu")
    monkeypatch.setenv(MANIFEST_PIN_ENV, pinned)
    CardioNets.from_pretrained(folder, device="cpu")  # the pinned manifest loads
    monkeypatch.delenv(MANIFEST_PIN_ENV)
    weights = folder / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])  # truncated, and the manifest made to match
    _edit_manifest(folder, lambda r: r["files"].update({WEIGHTS: sha256_of(weights)}))
    with pytest.raises(BundleError, match="does not fit"):  # was a raw SafetensorError
        CardioNets.from_pretrained(folder, device="cpu")


def test_a_bundle_that_verifies_but_does_not_load_is_not_promoted(copy_of, monkeypatch, tmp_path):
    monkeypatch.setenv("CARDIONETS_HOME", str(tmp_path / "workspace"))
    folder = copy_of()
    weights = folder / WEIGHTS
    weights.write_bytes(weights.read_bytes()[:1000])
    _edit_manifest(folder, lambda r: r["files"].update({WEIGHTS: sha256_of(weights)}))
    with pytest.raises(BundleError):
        promote(folder)
    assert not (tmp_path / "workspace" / ACTIVE_POINTER).exists()


def test_a_folder_without_a_manifest_or_a_bad_source_is_explained(tmp_path):
    with pytest.raises(BundleError, match="no manifest.json"):
        CardioNets.from_pretrained(tmp_path)
    with pytest.raises(BundleError, match="neither a bundle folder nor"):
        resolve(tmp_path / "nowhere" / "deeper")


def test_save_pretrained_writes_a_bundle_that_loads_to_the_same_models(bundle, tmp_path):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    again = CardioNets.from_pretrained(model.save_pretrained(tmp_path / "saved"), device="cpu")
    ecg = torch.randn(2, 12, 5000) * 0.1
    assert torch.equal(model.predictor.generator_condition(ecg), again.predictor.generator_condition(ecg))
    assert again.sampler == model.sampler
    assert Manifest.read(tmp_path / "saved").files.keys() == Manifest.read(bundle).files.keys()


def test_a_hub_snapshot_in_the_local_cache_loads_offline(bundle, tmp_path):
    # The layout huggingface_hub keeps: models--<owner>--<name>/snapshots/<commit>/ and refs/main naming it.
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--cardionets--demo"
    snapshot = repo / "snapshots" / commit
    shutil.copytree(bundle, snapshot)
    (repo / "blobs").mkdir()
    for path in [p for p in snapshot.rglob("*") if p.is_file()]:  # as the cache keeps them: links into blobs/
        blob = repo / "blobs" / sha256_of(path)
        shutil.move(path, blob)
        path.symlink_to(os.path.relpath(blob, path.parent))
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    script = ("from cardionets.bundle import BundleError\n"
              "from cardionets.inference import CardioNets\n"
              "model = CardioNets.from_pretrained('cardionets/demo', device='cpu')\n"
              "print('loaded', model.source.name)\n"
              "try:\n"
              "    CardioNets.from_pretrained('cardionets/absent')\n"
              "except BundleError as error:\n"
              "    print('refused:', error)\n")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path / "hub"), "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120,
                            check=False)
    assert result.returncode == 0, result.stderr
    assert f"loaded {commit}" in result.stdout
    assert "refused: cardionets/absent is not in the local Hugging Face cache" in result.stdout


def test_generate_cmr_on_the_real_ecg_is_seeded_measured_and_exported_as_synthetic(bundle, mortara_path, tmp_path):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    settings = {"n_samples": 2, "seed": 3, "steps": 4, "autoregressive_steps": 2}
    first, again = model.generate_cmr(mortara_path, **settings), model.generate_cmr(mortara_path, **settings)
    assert first.cines.shape == (2, 2, 16, 64, 64) and np.array_equal(first.cines, again.cines)
    assert first.seeds == (3, 4) and first.settings.diffusion_steps == 4
    assert set(first.image_phenotypes.mean) == set(IMAGE_PHENOTYPES) == set(first.disagreements)
    assert 0.8 < first.frame_duration_s * 16 < 1.2  # one beat at this ECG's ~61 bpm
    files = first.export(tmp_path, stem="mortara")
    assert len([p for p in files.values() if p.suffix == ".png"]) == 2 * 16
    assert all("SYNTHETIC" in p.name and p.is_file() for p in files.values())


def test_generated_cines_are_measured_with_the_lines_fitted_on_the_generator_s_own_cines(bundle, tiny_run,
                                                                                           mortara_path, tmp_path):
    run, _ = tiny_run
    assert (run / "regression_decoder" / IMAGE_CALIBRATION_FILE).is_file()  # the generator stage fits both
    assert (bundle / "generator" / IMAGE_CALIBRATION_FILE).is_file()  # and the export ships the MAR's
    model = CardioNets.from_pretrained(bundle, device="cpu")
    assert model.generated_calibration != model.image_calibration
    lines = ImagePhenotypeCalibration()
    lines.slope["lvef_pct"], lines.intercept["lvef_pct"] = 0.0, 42.0  # whatever the cine, EF reads 42 %
    model.generated_calibration = lines
    again = CardioNets.from_pretrained(model.save_pretrained(tmp_path / "saved"), device="cpu")
    assert again.generated_calibration == lines and again.image_calibration == model.image_calibration
    generated = again.generate_cmr(mortara_path, steps=2, autoregressive_steps=2)
    assert generated.image_phenotypes.mean["lvef_pct"] == pytest.approx(42.0)


def test_generate_cmr_refuses_an_ecg_the_quality_gate_rejects(bundle):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    flat = ECG(np.zeros((12, 5000), dtype=np.float32), 500.0, ECGMetadata("npy", 500.0, STANDARD_LEADS))
    with pytest.raises(ECGRejectedError, match="quality check"):
        model.generate_cmr(flat)


def test_each_reference_range_names_its_own_source_and_flags_by_sex():
    lv, rv = PhenotypeResult.of("lvedv_ml", 150.0, "M"), PhenotypeResult.of("rvedv_ml", 300.0, "M")
    assert "UK Biobank healthy men" in lv.reference and "Petersen" in lv.reference and lv.flag == "normal"
    assert "Hudsmith" in rv.reference and rv.flag == "high"  # men: 190 +/- 33 ml, so above 254.7 ml
    assert PhenotypeResult.of("rvedv_ml", 100.0, "M").flag == "low"
    assert PhenotypeResult.of("rvedv_ml", 100.0, None).flag == "normal"  # sex unknown: women's lower limit, 79.4 ml
    assert PhenotypeResult.of("lav_max_ml", 300.0, "M").flag is None


def test_predict_on_the_real_ecg_gives_every_output_with_units_and_round_trips_json(bundle, mortara_path):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    result = model.predict(mortara_path)
    assert result.qc["verdict"] != "reject"
    assert {key: result.patient[key] for key in ("age_years", "sex")} == {"age_years": 42.0, "sex": "F"}
    assert result.patient["bsa_m2"] is None or result.patient["bsa_m2"] == pytest.approx(
        (result.patient["height_cm"] * result.patient["weight_kg"] / 3600) ** 0.5)
    derived = {"wt_max_mm"} | ({"lvm_g_m2"} if result.patient["bsa_m2"] else set())  # with_derived_phenotypes
    assert set(result.phenotypes) == set(model.predictor.config.phenotypes) | derived
    lvef = result.phenotypes["lvef_pct"]  # women in UK Biobank: 61 +/- 5 %
    assert lvef.unit == "%" and lvef.ref_low == pytest.approx(61 - 1.96 * 5)
    assert lvef.flag in ("low", "normal", "high", "uncertain")
    # The tiny run's covariate head ships with conformal intervals: 80 % inside 95 %, both around the value.
    assert lvef.interval_95[0] <= lvef.interval_80[0] <= lvef.value <= lvef.interval_80[1] <= lvef.interval_95[1]
    rvedv = result.phenotypes["rvedv_ml"]  # women in Hudsmith 2005: 148 +/- 35 ml
    assert rvedv.unit == "mL" and rvedv.ref_low == pytest.approx(148 - 1.96 * 35) and "Hudsmith" in rvedv.reference
    assert result.phenotypes["rvef_pct"].flag is None  # no published source held
    assert set(result.diseases) == set(model.predictor.config.disease_outputs)
    assert all(d.positive == (d.probability >= d.threshold) for d in result.diseases.values())
    assert sum(result.subtypes.values()) == pytest.approx(1.0, abs=1e-3)
    assert result.ood.score > 0 and result.measurements["hr_bpm"] == pytest.approx(61, abs=2)
    assert Prediction.from_json(result.to_json()) == result


def test_predict_warns_for_a_child_or_a_paced_ecg_and_gives_no_model_output_for_a_rejected_one(
        bundle, mortara_path, mortara_ecg):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    child = model.predict(mortara_path, age_years=9)
    assert child.ood.out_of_distribution and child.ood.warnings[0].startswith("Paediatric ECG")
    stimuli = mortara_ecg.signal_mv.copy()
    stimuli[:, [500 + 1000 * beat for beat in range(9)]] += 2.0  # a pacemaker stimulus before every beat
    paced = model.predict(ECG(stimuli, mortara_ecg.fs_hz, mortara_ecg.meta))
    assert paced.ood.out_of_distribution and paced.ood.warnings[0].startswith("Paced ECG (9 pacing spikes")
    flat = ECG(np.zeros((12, 5000), dtype=np.float32), 500.0, ECGMetadata("npy", 500.0, STANDARD_LEADS))
    rejected = model.predict(flat)
    assert rejected.rejected and rejected.phenotypes == {} and rejected.diseases == {} and rejected.ood.score is None
    assert "rejected" in rejected.ood.warnings[-1] and Prediction.from_json(rejected.to_json()) == rejected


def test_the_predict_command_prints_the_issue_s_json_and_writes_a_synthetic_cmr(bundle, mortara_path, tmp_path,
                                                                                capsys):
    assert cli(["predict", str(mortara_path), "--weights", str(bundle), "--json", "--cmr", str(tmp_path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert {"qc", "measurements", "phenotypes", "diseases", "ood", "model", "cmr"} <= set(record)
    assert set(record["phenotypes"]["lvef_pct"]) >= {"value", "unit", "ref_low", "ref_high", "flag"}
    assert set(record["diseases"]["hcm"]) >= {"probability", "threshold", "positive", "screening_threshold"}
    assert record["cmr"]["files"] and all("SYNTHETIC" in Path(f).name for f in record["cmr"]["files"])
    assert cli(["predict", str(tmp_path / "absent.xml"), "--weights", str(bundle)]) == 1
    assert "error:" in capsys.readouterr().err


def test_a_single_lead_recording_is_refused_with_a_reason(bundle, mortara_ecg, tmp_path, capsys):
    wfdb.wrsamp("single", fs=mortara_ecg.fs_hz, units=["mV"], sig_name=["II"],
                p_signal=mortara_ecg.lead("II")[:, None].astype(float), fmt=["16"], write_dir=str(tmp_path))
    model = CardioNets.from_pretrained(bundle, device="cpu")
    with pytest.raises(MissingLeadsError, match="only 1 standard lead"):
        model.predict(tmp_path / "single.hea")
    assert cli(["predict", str(tmp_path / "single.hea"), "--weights", str(bundle)]) == 1
    assert "only 1 standard lead" in capsys.readouterr().err


def test_a_disease_call_agrees_with_the_rounded_probability_and_threshold_it_shows():
    config = PredictorConfig(disease_threshold=(0.31246, 0.4))
    straddling = disease_result(config, 0, 0.312451)  # below 0.31246, but both are shown as 0.3125
    assert straddling.probability == straddling.threshold == 0.3125 and straddling.positive
    assert not disease_result(config, 1, 0.39994).positive and disease_result(config, 1, 0.39996).positive
    assert disease_result(PredictorConfig(), 0, 0.5).threshold == 0.5  # no stored operating point: 0.5


def test_for_a_child_no_call_and_no_flag_is_made_anywhere_the_result_goes(bundle, mortara_path):
    from cardionets.presentation import WITHHELD, disease_rows, phenotype_rows
    from cardionets.screening import row_of

    model = CardioNets.from_pretrained(bundle, device="cpu")
    child = model.predict(mortara_path, age_years=11)
    assert child.ood.withheld and child.diseases and child.phenotypes
    assert all(d.positive is None and d.screen_positive is None for d in child.diseases.values())
    assert all(p.flag is None for p in child.phenotypes.values()) and child.positive_calls == []
    assert all(0 <= d.probability <= 1 for d in child.diseases.values())  # the values stay, for research
    record = json.loads(child.to_json())
    assert record["ood"]["withheld"] and {d["positive"] for d in record["diseases"].values()} == {None}
    assert Prediction.from_json(child.to_json()) == child
    assert {row[3] for row in disease_rows(child)[1:]} == {WITHHELD}
    rows = phenotype_rows(child)
    flags = {row[0]: row[rows[0].index("Flag")] for row in rows[1:]}
    assert flags["LV ejection fraction"] == WITHHELD and flags["RV ejection fraction"] == ""  # no range, no flag
    row = row_of("child.dcm", child, None)
    assert row["calls"] == "withheld" and row["age_years"] == 11 and row["sex"] == "F"
    assert "Paediatric ECG" in row["warnings"] and row["unusual_ecg"] is True
    adult = model.predict(mortara_path)
    assert not adult.ood.withheld and all(isinstance(d.positive, bool) for d in adult.diseases.values())
    assert row_of("adult.dcm", adult, None)["calls"] in ("none", "; ".join(adult.positive_calls))

"""The weights bundle, on a real one: the tiny recipe's trained models exported by `training.export_bundle`, then
loaded by `CardioNets.from_pretrained` from a folder, from a Hub-style cache offline, and refused when damaged."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cardionets.bundle import MANIFEST_NAME, SCHEMA_VERSION, BundleError, Manifest, resolve
from cardionets.inference import CardioNets
from training.export_bundle import main as export_main
from tests.conftest import TINY

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bundle(tiny_run, tmp_path_factory) -> Path:
    run, data = tiny_run
    out = tmp_path_factory.mktemp("bundle") / "weights"
    assert export_main(["--config", str(TINY), "--output", str(run), "--out", str(out)]) == 0
    return out


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
    on_disk = {p.relative_to(bundle).as_posix() for p in bundle.rglob("*") if p.is_file() and p.name != MANIFEST_NAME}
    assert set(manifest["files"]) == on_disk
    assert "generator/model.safetensors" in on_disk and "segmenter/image_phenotypes.json" in on_disk
    assert list(model.predictor.config.phenotypes) == manifest["metadata"]["schema"]["phenotypes"]
    assert model.generator.anchor is not None  # the MAR ships with the regressor it generates residuals around
    assert model.sampler.autoregressive_steps >= 1 and not model.predictor.training


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
    shutil.copytree(bundle, repo / "snapshots" / commit)
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
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert f"loaded {commit}" in result.stdout
    assert "refused: cardionets/absent is not in the local Hugging Face cache" in result.stdout

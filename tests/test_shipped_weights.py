"""The weights the repo ships (weights/, the default recipe's export): they load offline by default, fit the size
budget, and read the real Mortara ECG of a healthy adult as healthy."""

from pathlib import Path

import pytest
import torch

from cardionets.bundle import DEFAULT_BUNDLE, MODEL_CARD_NAME, BundleError
from cardionets.inference import CardioNets
from cardionets.prediction import implausible_outputs

MAX_WEIGHTS_BYTES = 60_000_000


@pytest.fixture(scope="module")
def shipped():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")  # the default must never need the network
        yield CardioNets.from_pretrained(device="cpu")


def test_the_shipped_bundle_is_the_default_fits_the_budget_and_has_a_card(shipped):
    assert shipped.source == Path(DEFAULT_BUNDLE).resolve()
    size = sum(path.stat().st_size for path in Path(DEFAULT_BUNDLE).rglob("*") if path.is_file())
    assert size <= MAX_WEIGHTS_BYTES
    card = (Path(DEFAULT_BUNDLE) / MODEL_CARD_NAME).read_text()
    assert "not for diagnosis" in card and "## Training data" in card and "## Limitations" in card
    recipe = shipped.manifest.metadata["recipe"]  # a committed recipe, so that the card's commands retrain it
    assert (Path(__file__).resolve().parents[1] / "training" / "configs" / f"{recipe}.yaml").is_file(), recipe


def test_the_real_healthy_ecg_reads_as_healthy(shipped, mortara_path):
    result = shipped.predict(mortara_path)
    assert result.qc["verdict"] != "reject" and not result.ood.out_of_distribution
    ranged = {name: p for name, p in result.phenotypes.items() if p.flag is not None}
    # No value flagged: every 95 % interval lies inside its reference range or spans one of its limits.
    assert ranged and all(p.flag in ("normal", "uncertain") for p in ranged.values()), ranged
    assert all(p.interval_95[0] <= p.value <= p.interval_95[1] for p in result.phenotypes.values())
    assert not any(d.positive for d in result.diseases.values()), result.diseases


def test_a_model_that_outputs_the_impossible_shows_nothing(shipped, mortara_ecg):
    """A damaged or tampered model (here an LVEF 340 points too high) must not put its numbers on screen."""
    assert implausible_outputs({"lvef_pct": 60.0, "lvedv_ml": 150.0}, {"hcm": 0.2}) == []
    assert implausible_outputs({"lvef_pct": 399.6}, {"hcm": float("nan")}) == ["lvef_pct 399.6 %",
                                                                                 "hcm probability nan"]
    predictor = shipped.predictor
    index = list(predictor.config.phenotypes).index("lvef_pct")
    original = predictor.phenotype_mean.clone()
    try:
        with torch.no_grad():
            predictor.phenotype_mean[index] += 340.0
        with pytest.raises(BundleError, match="impossible values .*lvef_pct"):
            shipped.predict(mortara_ecg, sex="M", age_years=60)
    finally:
        with torch.no_grad():
            predictor.phenotype_mean.copy_(original)
    assert 10 < shipped.predict(mortara_ecg, sex="M", age_years=60).phenotypes["lvef_pct"].value < 90

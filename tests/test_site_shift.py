"""The site-shift table (training/site_shift.py): each row swaps in only its part of the external site, images the
same hearts, and the stage adds its section to an existing results.json."""

import json
import shutil

import numpy as np
import pytest

from cardionets.sim.sites import SITES, registered_sites
from tests.conftest import TINY
from training.__main__ import main as training_main
from training.config import load_run_config
from training.distributed import Context
from training.run import Run
from training.site_shift import REFERENCE, SCANNER_PARTS, changed_properties, imaged_subjects, site_variants

TRAINING, EXTERNAL = SITES["cheadle"], SITES["boston"]


def test_each_row_swaps_in_only_its_part_of_the_external_site():
    variants = site_variants(TRAINING, EXTERNAL)
    assert changed_properties(variants[REFERENCE], TRAINING) == []
    for label, parts in SCANNER_PARTS.items():
        assert changed_properties(variants[label], TRAINING) == [
            f"scanner.{name}" for name in parts if getattr(TRAINING.scanner, name) != getattr(EXTERNAL.scanner, name)]
    assert all(name.startswith("ecg.") for name in changed_properties(variants["external ECG cart"], TRAINING))
    assert variants["external site"].ecg == EXTERNAL.ecg and variants["external site"].scanner == EXTERNAL.scanner
    names = [site.name for site in variants.values()]
    assert len(set(names)) == len(names) and not set(names) & set(SITES)


def test_registered_sites_are_gone_afterwards_even_after_an_error():
    extra = site_variants(TRAINING, EXTERNAL)["external noise"]
    with pytest.raises(RuntimeError, match="inside"):
        with registered_sites([extra]):
            assert SITES[extra.name] is extra
            raise RuntimeError("inside")
    assert extra.name not in SITES
    with pytest.raises(ValueError, match="already taken"):
        with registered_sites([TRAINING]):
            pass
    assert SITES["cheadle"] is TRAINING


def test_every_row_images_the_same_hearts(tmp_path):
    run = Run(load_run_config(TINY, str(tmp_path / "run")), Context())
    variants = site_variants(TRAINING, EXTERNAL)
    rows = [REFERENCE, "external contrast", "external ECG cart"]
    with registered_sites([variants[label] for label in rows]):
        reference, contrast, cart = (imaged_subjects(run, variants[label], 2) for label in rows)
    assert not (run.stage_dir("site_shift") / variants[REFERENCE].name / "cohort").exists()
    np.testing.assert_array_equal(contrast.masks, reference.masks)  # the same anatomy and slice positions
    assert not np.array_equal(contrast.cine, reference.cine)  # imaged with another contrast
    np.testing.assert_array_equal(contrast.ecg, reference.ecg)
    np.testing.assert_array_equal(cart.cine, reference.cine)  # another cart changes the ECG only
    assert not np.array_equal(cart.ecg, reference.ecg)


def test_the_stage_adds_its_section_and_keeps_the_rest(tiny_run, tmp_path):
    original, data = tiny_run
    run_dir = shutil.copytree(original, tmp_path / "run")
    before = json.loads((run_dir / "results.json").read_text())
    assert training_main(["site-shift", "--config", str(TINY), "--output", str(run_dir),
                          "--data-root", str(data)]) == 0
    after = json.loads((run_dir / "results.json").read_text())
    assert after["predictive"] == before["predictive"] and after["generative"] == before["generative"]
    section = after["site_shift"]
    assert list(section["variants"]) == list(site_variants(TRAINING, EXTERNAL))
    assert section["subjects"] == 3 and "site-shift" in section["command"]
    for row in section["variants"].values():
        for model in ("population_mean", "regression_decoder", "mar"):
            assert 0 < row["scores"][model]["psnr_db"] < 100 and -1 <= row["scores"][model]["ssim"] <= 1
    markdown = (run_dir / "results.md").read_text()
    assert "what the external site's differences cost" in markdown and "| external coil shading |" in markdown
    assert not set(site.name for site in site_variants(TRAINING, EXTERNAL).values()) & set(SITES)

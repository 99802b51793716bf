"""The out-of-distribution reference fitted on real and simulated ECGs together (training.real_ood)."""

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd

from cardionets import CardioNets
from cardionets.ood import UNUSUAL_SCORE, EmbeddingReference
from training.real_ood import fit_reference, held_out_flags, main


def _embeddings(seed: int = 0):
    rng = np.random.default_rng(seed)
    simulated = rng.normal(0.0, 1.0, (600, 8))
    real = rng.normal(0.0, 1.0, (300, 8)) + np.array([3.5, -3.0, 0, 0, 0, 0, 0, 0])  # a domain shift
    return simulated, real


def test_real_healthy_ecgs_are_typical_of_a_reference_that_saw_real_ones_and_outliers_stay_flagged():
    simulated, real = _embeddings()
    groups = np.repeat(np.arange(150), 2)  # two records per patient
    simulated_only = EmbeddingReference.fit(simulated[:480], simulated[480:])
    assert np.mean(simulated_only.score(real) > UNUSUAL_SCORE) > 0.5  # real ECGs look foreign to it
    joint = fit_reference(simulated, real[:240], groups[:240], seed=0)
    assert np.mean(joint.score(real[240:]) > UNUSUAL_SCORE) < 0.1  # patients it never saw
    assert np.mean(joint.score(simulated) > UNUSUAL_SCORE) < 0.1
    outliers = np.full((5, 8), 8.0)
    assert (joint.score(outliers) > UNUSUAL_SCORE).all()


def test_held_out_flags_never_judge_a_patient_with_a_reference_that_saw_them():
    simulated, real = _embeddings(1)
    table = pd.DataFrame({"patient": np.repeat(np.arange(150), 2), "healthy": 1.0})
    duplicate = real.copy()
    duplicate[:2] = 30.0  # one patient far away: only a reference fitted on them would call them typical
    flags = held_out_flags(simulated, table, duplicate, seed=0)
    assert flags[:2].all() and flags.dtype == bool and len(flags) == len(table)
    assert flags[2:].mean() < 0.1


def test_the_command_refits_a_bundles_reference_on_the_committed_real_records(bundle, tmp_path):
    """End to end on the tiny run's bundle and the real records under tests/data: the section is written, the
    bundle still verifies and loads, and its reference is the new one."""
    real = Path(__file__).resolve().parent / "data" / "real-ecg"
    copy = tmp_path / "weights"
    shutil.copytree(bundle, copy)
    before = CardioNets.from_pretrained(copy).ood_reference
    out = tmp_path / "docs"
    assert main(["--data", str(real), "--bundle", str(copy), "--simulated", "40", "--out", str(out)]) == 0
    section = json.loads((out / "results.json").read_text())["real_ood"]
    assert section["simulated"] == 40 and section["real_healthy"] >= 5
    held_out = section["flagged"]["real + simulated, held out by patient"]["healthy adults"]
    assert held_out["n"] == section["real_healthy"]
    assert set(section["warnings"]["real + simulated"]) >= {"V2, V4, V6 lost", "stored at 50 Hz"}
    assert section["warnings"]["real + simulated"]["stored at 50 Hz"]["any warning"]["share"] == 1.0
    after = CardioNets.from_pretrained(copy)  # verifies the checksums
    assert not np.allclose(after.ood_reference.mean, before.mean)
    assert "real_ood" in after.manifest.metadata and "Out-of-distribution" in (out / "results.md").read_text()

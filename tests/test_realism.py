"""The realism comparison on the committed real records (PTB-XL and CinC 2021 healthy adults and AF) against a
few simulated adults: features at the common 100 Hz rate, distributions that match a recomputation, and a
classifier whose AUROC is a cross-validated number with its interval."""

from pathlib import Path

import numpy as np
import pytest

from cardionets.ecg import load, measure, resample
from cardionets.ecg.features import ecg_features, feature_names
from cardionets.sim.__main__ import main as sim_main
from cardionets.sim.realism import COMMON_RATE_HZ, matched, real_features, simulated_features

REAL = Path(__file__).resolve().parent / "data" / "real-ecg"


def test_every_feature_is_measured_on_a_real_100_hz_ecg_and_af_reads_as_af():
    sinus = ecg_features(load(REAL / "ptbxl" / "records100" / "00000" / "00001_lr.hea"))
    af = ecg_features(load(REAL / "ptbxl" / "records100" / "00000" / "00282_lr.hea"))
    assert list(sinus) == feature_names()
    measured = {name for name, value in sinus.items() if np.isfinite(value)}
    assert set(feature_names()) - measured == set()  # at 100 Hz every band up to 45 Hz still exists
    assert sinus["p_wave_present"] == 1 and af["p_wave_present"] == 0
    assert af["rr_irregularity"] > 4 * sinus["rr_irregularity"] and af["f_wave_mv"] > sinus["f_wave_mv"]
    assert sinus["r_V5_mv"] > 0.3 and sinus["s_V1_mv"] > 0.3 and 1.0 < sinus["t_rise_to_fall"] < 4.0


def test_real_healthy_adults_are_compared_at_the_common_rate_with_their_age_and_sex():
    real = real_features(REAL, "healthy")
    assert len(real) == 6 and set(real["sex"]) == {"M", "F"}  # 4 PTB-XL, 2 CinC 2021 healthy adults aged 40-80
    cinc = real[real["patient"] == "cinc2021-E07506"].iloc[0]
    at_100_hz = resample(load(REAL / "cinc2021" / "records" / "E07506.hea"), COMMON_RATE_HZ)
    assert cinc["hr_bpm"] == pytest.approx(measure(at_100_hz).hr_bpm)


def test_simulated_adults_are_drawn_to_the_real_mix_of_sex_and_age():
    real = real_features(REAL, "healthy")
    simulated = simulated_features(24, seed=3, rhythm="healthy")
    assert len(simulated) == 24 and (simulated["p_wave_present"] == 1).mean() > 0.9
    drawn = matched(simulated, real, seed=0)
    assert 0 < len(drawn) <= 24
    real_women = (real["sex"] == "F").mean()
    assert (drawn["sex"] == "F").mean() == pytest.approx(real_women, abs=0.1)


def test_the_realism_command_writes_its_section_and_page(tmp_path):
    assert sim_main(["realism", "--real", str(REAL), "--n", "24", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "realism.md").read_text()
    assert "Healthy adults" in page and "Atrial fibrillation" in page and "AUROC" in page
    import json

    report = json.loads((tmp_path / "results.json").read_text())["realism"]
    classifier = report["healthy"]["classifier"]
    assert 0 <= classifier["ci"][0] <= classifier["auroc"] <= classifier["ci"][1] <= 1
    kinds = report["healthy"]["by_kind"]
    assert all(0 <= row["ci"][0] <= row["auroc"] <= row["ci"][1] <= 1 for row in kinds) and "one kind" in page
    hr = next(row for row in report["healthy"]["distributions"] if row["feature"] == "hr_bpm")
    assert hr["n_real"] == 6 and hr["real"]["mean"] == pytest.approx(real_features(REAL, "healthy")["hr_bpm"].mean())


def test_the_kinds_of_features_cover_every_feature_once():
    from cardionets.sim.realism import feature_groups

    kinds = feature_groups(feature_names())
    listed = [name for columns in kinds.values() for name in columns]
    assert sorted(listed) == sorted(feature_names()) and all(kinds.values())

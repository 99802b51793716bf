"""Shared fixtures: the real Mortara 12-lead ECG that pydicom ships, as a path and as a canonical ECG; the tiny
recipe trained end to end once per session."""

import sys
from pathlib import Path

import pytest
from pydicom.data import get_testdata_file

from cardionets.ecg import ECG, load, resample

# The cart's own global measurements stored in the file (SCP-ECG annotations), the reference for ours.
MORTARA_DEVICE = {
    "rr_ms": 982, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370,
    "p_axis_deg": 74, "qrs_axis_deg": 52, "t_axis_deg": 57,
}


TINY = Path(__file__).resolve().parents[1] / "training" / "configs" / "tiny.yaml"
PYTEST_MAIN = sys.modules["__main__"]


@pytest.fixture(autouse=True)
def main_module_restored():
    """Streamlit's AppTest leaves the page it ran as ``__main__``, and every worker process that screening starts
    later would run that page again on start-up (multiprocessing re-runs the parent's main script). Put pytest
    back after each test."""
    yield
    sys.modules["__main__"] = PYTEST_MAIN


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """(run folder, prepared-data folder) of the tiny recipe, every stage trained (about two minutes)."""
    from training.__main__ import main

    root = tmp_path_factory.mktemp("tiny")
    run, data = root / "run", root / "data"
    assert main(["all", "--config", str(TINY), "--output", str(run), "--data-root", str(data)]) == 0
    return run, data


@pytest.fixture(scope="session")
def bundle(tiny_run, tmp_path_factory) -> Path:
    """The tiny run exported as a weights bundle (`training.export_bundle`), for the inference tests."""
    from training.export_bundle import main

    run, data = tiny_run
    out = tmp_path_factory.mktemp("bundle") / "weights"
    assert main(["--config", str(TINY), "--output", str(run), "--data-root", str(data), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def mortara_path() -> Path:
    return Path(get_testdata_file("waveform_ecg.dcm"))


@pytest.fixture(scope="session")
def mortara_ecg(mortara_path) -> ECG:
    return load(mortara_path)


@pytest.fixture(scope="session")
def mortara_500hz(mortara_ecg) -> ECG:
    """The real ECG at 500 Hz, the rate most formats below are written at."""
    return resample(mortara_ecg, 500)

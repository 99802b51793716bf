"""`python -m cardionets.ecg info` prints the documented JSON keys, and one line per bad file."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cardionets.ecg import MEASUREMENT_KEYS
from cardionets.ecg.__main__ import main


def test_json_output_has_every_documented_key(mortara_path, capsys):
    assert main(["info", str(mortara_path), "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    for key in ("format", "leads", "fs_hz", "n_samples", "duration_s", "qc", "measurements", "device_measurements"):
        assert key in record
    assert record["format"] == "dicom" and len(record["leads"]) == 12
    assert set(record["qc"]) >= {"verdict", "findings"}
    assert set(MEASUREMENT_KEYS) <= set(record["measurements"])
    assert record["device_measurements"]["qrs_ms"] == 75


def test_one_object_per_ecg_and_an_error_line_per_bad_file(mortara_path, tmp_path, capsys):
    bad = tmp_path / "broken.xml"
    bad.write_bytes(b"<RestingECG><Waveform>")
    assert main(["info", str(mortara_path), str(bad), str(mortara_path), "--json"]) == 1
    out, err = capsys.readouterr()
    assert len(out.strip().splitlines()) == 2
    assert len(err.strip().splitlines()) == 1 and err.startswith(f"error: {bad}:")


def test_runs_as_a_module_without_traceback(tmp_path):
    missing = tmp_path / "nothing.hea"
    command = [sys.executable, "-m", "cardionets.ecg", "info", str(missing)]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr and "No such ECG file" in result.stderr


def test_make_app_serves_this_machine_only_unless_told_otherwise():
    """The page asks for patient details: `make app` must not listen on every interface by default."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parent.parent

    def app_command(*overrides: str) -> str:
        lines = subprocess.run(["make", "-n", "-s", "app", *overrides], cwd=root, capture_output=True, text=True,
                               check=True).stdout.splitlines()
        return next(line for line in lines if "streamlit run app.py" in line)

    assert app_command().endswith("--server.address localhost")
    assert app_command("ADDRESS=0.0.0.0").endswith("--server.address 0.0.0.0")


def test_the_app_server_does_not_watch_files():
    """Streamlit's file watcher over the repository (virtual environment included) overflowed the inotify queue
    on a busy machine and made the first page take minutes (docs/performance.md, cold start)."""
    import tomllib

    config = tomllib.loads((Path(__file__).resolve().parents[1] / ".streamlit" / "config.toml").read_text())
    assert config["server"]["fileWatcherType"] == "none" and config["server"]["runOnSave"] is False

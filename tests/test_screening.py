"""Screening a folder of real and broken files with the tiny recipe's exported bundle: one row per input, the
reason in `error` for each bad file, resumable, and the same rows from two torchrun processes."""

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cardionets.inference import CardioNets
from cardionets.screening import cli_workers, find_inputs, screen

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


@pytest.fixture
def inbox(tmp_path, mortara_path) -> Path:
    """Three sample ECGs (DICOM, WFDB with its .dat, MUSE XML), the real Mortara ECG, and three bad files."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    for pattern in ("healthy-a/*_ecg.dcm", "healthy-b/*_ecg.*", "hcm/*_ecg_muse.xml"):
        for path in SAMPLES.glob(pattern):
            shutil.copy(path, folder / path.name)
    shutil.copy(mortara_path, folder / "mortara.dcm")
    (folder / "truncated.dcm").write_bytes(mortara_path.read_bytes()[:400])
    (folder / "notes.txt").write_text("not an ECG\n")
    (folder / "hostile.xml").write_text('<?xml version="1.0"?><!DOCTYPE r [<!ENTITY e "x">]><RestingECG>&e;'
                                        "</RestingECG>")
    return folder


def rows_of(path: Path) -> list[dict]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_a_folder_gets_one_row_per_input_with_errors_for_bad_files_and_resumes(bundle, inbox, tmp_path):
    model = CardioNets.from_pretrained(bundle, device="cpu")
    inputs = find_inputs(inbox)
    assert len(inputs) == 7 and not any(p.suffix == ".dat" for p in inputs)  # the .dat belongs to its .hea
    out = tmp_path / "results.csv"
    summary = screen(model, inbox, out, progress=False)
    rows = {Path(row["file"]).name: row for row in rows_of(out)}
    assert summary.written == len(rows) == 7 and summary.errors == 3
    assert summary.seconds > 0 and summary.rate == pytest.approx(7 / summary.seconds)
    for bad in ("truncated.dcm", "notes.txt", "hostile.xml"):
        assert rows[bad]["error"] and not rows[bad]["lvef_pct"]
    good = rows["mortara.dcm"]
    assert not good["error"] and good["qc_verdict"] in ("ok", "warn")
    assert float(good["lvedv_ml"]) > 0 and 0 <= float(good["p_hcm"]) <= 1 and float(good["ood_score"]) > 0
    assert set(rows_of(out)[0]) >= {"file", "error", "qc_verdict", "ood_score", "p_any_cm", "wt_global_mm"}
    again = screen(model, inbox, out, progress=False)  # resumed: nothing left to do
    assert again.written == 0 and len(rows_of(out)) == 7


def test_two_torchrun_processes_write_exactly_one_row_per_input(bundle, inbox, tmp_path):
    out = tmp_path / "results.csv"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29533",
         "-m", "cardionets", "screen", str(inbox), "--out", str(out), "--weights", str(bundle), "--device", "cpu"],
        env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    rows = rows_of(out)
    assert sorted(row["file"] for row in rows) == sorted(str(p) for p in find_inputs(inbox))
    assert sum(bool(row["error"]) for row in rows) == 3
    assert not list(tmp_path.glob("results.csv.part*"))
    assert " ECG/s, " in result.stderr  # the command reports its rate


def test_the_command_line_gives_each_local_rank_its_share_of_the_cores_as_workers(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    assert cli_workers() == 8
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "4")
    assert cli_workers() == 2
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "8")  # one core per rank: a worker would only compete with it
    assert cli_workers() == 0


def test_worker_processes_give_the_same_rows_in_the_same_order(bundle, inbox, tmp_path):
    originals = find_inputs(inbox)
    for copy in range(5):  # 42 files: more than one model batch, so the workers prepare them
        for path in originals:
            shutil.copy(path, inbox / f"{copy}_{path.name}")
            if path.suffix == ".hea":
                shutil.copy(path.with_suffix(".dat"), inbox / f"{copy}_{path.stem}.dat")
    model = CardioNets.from_pretrained(bundle, device="cpu")
    serial, pooled = tmp_path / "serial.csv", tmp_path / "pooled.csv"
    screen(model, inbox, serial, progress=False, workers=0)
    screen(model, inbox, pooled, progress=False, workers=2)
    assert len(rows_of(serial)) == 42 and rows_of(pooled) == rows_of(serial)


def test_a_worker_that_dies_does_not_stop_the_screen(bundle, inbox, tmp_path, monkeypatch):
    from concurrent.futures.process import BrokenProcessPool

    from cardionets import screening

    originals = find_inputs(inbox)
    for copy in range(5):
        for path in originals:
            shutil.copy(path, inbox / f"{copy}_{path.name}")
            if path.suffix == ".hea":
                shutil.copy(path.with_suffix(".dat"), inbox / f"{copy}_{path.stem}.dat")
    collect = screening._collect
    calls = []

    def dies_once(pending):
        calls.append(1)
        if len(calls) == 1:
            raise BrokenProcessPool("a worker was killed")
        return collect(pending)

    monkeypatch.setattr(screening, "_collect", dies_once)
    model = CardioNets.from_pretrained(bundle, device="cpu")
    out = tmp_path / "results.csv"
    screen(model, inbox, out, progress=False, workers=2)
    rows = rows_of(out)
    assert len(rows) == 42 and sum(bool(row["error"]) for row in rows) == 18  # 3 bad files in each of 6 sets


def test_a_wfdb_folder_with_annotation_files_gives_one_input_per_record(tmp_path):
    """LUDB keeps twelve annotation files (.i, .ii, ... .v6) beside each record's .hea and .dat: each record is
    one input, read through its header, not thirteen errors."""
    ludb = ROOT / "tests" / "data" / "real-ecg" / "ludb" / "data"
    folder = tmp_path / "ludb"
    shutil.copytree(ludb, folder)
    (folder / "119.xml").write_text("<RestingECG/>")  # a file of its own that shares a record's name
    inputs = find_inputs(folder)
    assert sorted(p.name for p in inputs) == ["1.hea", "119.hea", "119.xml", "123.hea", "51.hea", "83.hea"]


def test_a_file_name_that_is_not_utf8_gets_its_row_and_resumes(bundle, tmp_path, mortara_path):
    """Linux allows any bytes in a name: the CSV must take that row (it stopped the whole screen) and a resumed
    run must recognise it."""
    folder = tmp_path / "inbox"
    folder.mkdir()
    shutil.copy(mortara_path, folder / "plain.dcm")
    try:
        odd = folder / os.fsdecode(b"caf\xe9.dcm")  # Latin-1 bytes, not UTF-8
        shutil.copy(mortara_path, odd)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    model = CardioNets.from_pretrained(bundle, device="cpu")
    out = tmp_path / "results.csv"
    assert screen(model, folder, out, progress=False).written == 2
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        rows = list(csv.DictReader(handle))
    assert {row["file"] for row in rows} == {str(folder / "plain.dcm"), str(odd)}
    assert not any(row["error"] for row in rows)
    assert screen(model, folder, out, progress=False).written == 0  # resumed: both already there


def test_a_memory_bomb_a_file_that_kills_its_reader_and_an_odd_name_among_50_good_give_53_rows(
        bundle, tmp_path, mortara_path, monkeypatch):
    """One command, one row per input, and a resumed run finds them all: issue 25's acceptance."""
    import numpy as np

    from cardionets import screening
    from cardionets.ecg.isolated import MEMORY_ENV as READER_MEMORY_ENV
    from tests.reader_that_dies import MARK, prepare_or_die

    folder = tmp_path / "inbox"
    folder.mkdir()
    for index in range(50):
        shutil.copy(mortara_path, folder / f"good_{index:02d}.dcm")
    # 12 leads of 40 million zeros: about 450 KB compressed, 3.8 GB once decoded as float64.
    np.savez_compressed(folder / "bomb.npz", signal=np.zeros((12, 40_000_000)), fs=np.array(500.0))
    shutil.copy(mortara_path, folder / f"{MARK}.dcm")
    try:
        shutil.copy(mortara_path, folder / os.fsdecode(b"caf\xe9.dcm"))
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    monkeypatch.setattr(screening, "prepare_file", prepare_or_die)
    monkeypatch.setenv(READER_MEMORY_ENV, str(2 * 2**30))  # the readers get 2 GB of address space
    model = CardioNets.from_pretrained(bundle, device="cpu")
    out = tmp_path / "results.csv"
    summary = screen(model, folder, out, progress=False, workers=2)
    with open(out, newline="", encoding="utf-8", errors="surrogateescape") as handle:
        rows = {Path(row["file"]).name: row for row in csv.DictReader(handle)}
    assert summary.written == len(rows) == 53 and summary.errors == 2
    assert "stopped its reader process" in rows[f"{MARK}.dcm"]["error"]
    assert rows["bomb.npz"]["error"] and not rows["bomb.npz"]["lvef_pct"]
    assert not rows[os.fsdecode(b"caf\xe9.dcm")]["error"] and not rows["good_49.dcm"]["error"]
    assert screen(model, folder, out, progress=False, workers=2).written == 0  # resumed: all 53 there

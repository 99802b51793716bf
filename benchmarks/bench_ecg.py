"""Time the ECG front end on a real 10 s 12-lead ECG: load + preprocess + quality gate + measurements.

    python benchmarks/bench_ecg.py [--repeats 50]

Runs on the Mortara DICOM shipped with pydicom (1000 Hz) and on the same ECG written as WFDB at 500 Hz, and
prints the median and 95th percentile of each stage and of the whole chain, with the machine it ran on.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import wfdb
from pydicom.data import get_testdata_file

from cardionets.ecg import STANDARD_LEADS, load, preprocess, resample
from cardionets.ecg.measure import measure
from cardionets.ecg.quality import check_quality


def _write_wfdb_500hz(folder: Path) -> Path:
    ecg = resample(load(get_testdata_file("waveform_ecg.dcm")), 500)
    wfdb.wrsamp("mortara500", fs=500, units=["mV"] * 12, sig_name=list(STANDARD_LEADS),
                p_signal=ecg.signal_mv.T.astype(np.float64), fmt=["16"] * 12, adc_gain=[200] * 12,
                baseline=[0] * 12, write_dir=str(folder))
    return folder / "mortara500.hea"


def _time(function, repeats: int) -> list[float]:
    function()  # warm caches (filter designs, imports)
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def _row(name: str, times: list[float]) -> str:
    p95 = float(np.percentile(times, 95))
    return f"| {name} | {statistics.median(times):.1f} | {p95:.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    print(f"Machine: {_cpu_name()}, {os.cpu_count()} cores, Python {platform.python_version()}; "
          f"{args.repeats} repeats\n")
    with tempfile.TemporaryDirectory() as scratch:
        files = {
            "DICOM 1000 Hz": Path(get_testdata_file("waveform_ecg.dcm")),
            "WFDB 500 Hz": _write_wfdb_500hz(Path(scratch)),
        }
        print("| stage | median ms | p95 ms |\n|---|---|---|")
        for label, path in files.items():
            _report(label, path, args.repeats)


def _cpu_name() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.exists() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor()


def _report(label: str, path: Path, repeats: int) -> None:
    ecg = load(path)
    print(_row(f"{label}: load", _time(lambda: load(path), repeats)))
    print(_row(f"{label}: preprocess", _time(lambda: preprocess(ecg), repeats)))
    print(_row(f"{label}: quality gate", _time(lambda: check_quality(ecg), repeats)))
    print(_row(f"{label}: measure", _time(lambda: measure(ecg), repeats)))

    def chain():
        record = load(path)
        preprocess(record)
        check_quality(record)
        measure(record)

    print(_row(f"**{label}: whole chain**", _time(chain, repeats)))


if __name__ == "__main__":
    main()

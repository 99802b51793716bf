"""Virtual cohort speed: subjects per second per core, in memory and written to disk.

    python benchmarks/bench_sim.py [--n 200] [--workers 2]

(1) one process simulating subjects (two 50-frame 96 x 96 views with masks, ECG, phenotypes) after warm-up;
(2) `write_cohort` end to end (process start, numba cache load, uint8 conversion, .npy writing) with N workers.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from cardionets.sim.cohort import CohortConfig, simulate_subject
from cardionets.sim.dataset import write_cohort


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    print(f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}\n")
    config = CohortConfig(seed=123)
    simulate_subject(0, config)
    started = time.perf_counter()
    for index in range(1, args.n + 1):
        simulate_subject(index, config)
    in_memory = args.n / (time.perf_counter() - started)
    with tempfile.TemporaryDirectory() as scratch:
        started = time.perf_counter()
        write_cohort(Path(scratch), args.n, config, workers=args.workers, progress=False)
        on_disk = args.n / (time.perf_counter() - started)
    print("| measure | subjects/s | per core |\n|---|---|---|")
    print(f"| simulate_subject, 1 process | {in_memory:.1f} | {in_memory:.1f} |")
    print(f"| write_cohort, {args.workers} workers, {args.n} subjects | {on_disk:.1f} | {on_disk / args.workers:.1f} |")


if __name__ == "__main__":
    main()

"""The app in a real browser: from handing it an ECG file to the phenotype table on screen.

    PYTHONPATH=. python benchmarks/bench_app.py [--repeats 3]

Starts `streamlit run app.py`, opens the Analyze page in Debian's chromium (Playwright) and waits for its
first run, which loads the models (excluded, as the issue asks). Then uploads each committed sample ECG (and
the real Mortara ECG) in turn, ``--repeats`` rounds, on a fresh page per round, and reports the median and the
worst time to phenotypes, for a first upload on a page and for the later ones (cached results excluded:
every upload in a round is a different file, and each round restarts the server).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
from pathlib import Path

import numpy as np

from cardionets.samples import sample_ecgs
from tests.streamlit_server import chromium, open_analyze, running_app, seconds_to_phenotypes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=1280)
    args = parser.parse_args()
    files = list(sample_ecgs().values())
    first, later = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workspace, running_app(Path(workspace)) as url, chromium() as browser:
            page = open_analyze(browser, url, (args.width, 800))
            times = [seconds_to_phenotypes(page, path) for path in files]
            first.append(times[0])
            later += times[1:]
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
          f"{platform.python_version()}; chromium headless, {args.width} px wide\n")
    print("| upload to phenotypes on screen | median | worst |\n|---|---|---|")
    print(f"| first upload on a freshly opened page ({len(first)}) | {np.median(first):.2f} s | {max(first):.2f} s |")
    print(f"| later uploads, each a different file ({len(later)}) | {np.median(later):.2f} s | "
          f"{max(later):.2f} s |")


if __name__ == "__main__":
    main()

"""The app in a real browser: from handing it an ECG file to the phenotype table on screen, and a first visit
to a cold server.

    PYTHONPATH=. python benchmarks/bench_app.py [--repeats 3]
    PYTHONPATH=. python benchmarks/bench_app.py --cold [--repeats 3]

Starts `streamlit run app.py`, opens the Analyze page in Debian's chromium (Playwright) and waits for its
first run, which loads the models (excluded, as the issue asks). Then uploads each committed sample ECG (and
the real Mortara ECG) in turn, ``--repeats`` rounds, on a fresh page per round, and reports the median and the
worst time to phenotypes, for a first upload on a page and for the later ones (cached results excluded:
every upload in a round is a different file, and each round restarts the server).

``--cold``: per round, a freshly started server (new process, nothing cached; the machine's file cache is warm,
as on any server that has run before). Reports how long the server takes to answer its health check, then, from
the first page request: until the uploader is on screen, and until the first ECG's phenotypes are (the file is
handed over as soon as the uploader shows, so the models' first load is inside this figure).
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import numpy as np

from cardionets.samples import sample_ecgs
from tests.streamlit_server import chromium, open_analyze, running_app, seconds_to_phenotypes, upload_files


def cold_visit(width: int) -> tuple[float, float, float]:
    """(server start to healthy, first request to uploader on screen, first request to first phenotypes)."""
    ecg_file = next(iter(sample_ecgs().values()))
    with tempfile.TemporaryDirectory() as workspace, chromium() as browser:
        page = browser.new_page(viewport={"width": width, "height": 800})
        started = time.perf_counter()
        with running_app(Path(workspace)) as url:
            healthy = time.perf_counter() - started
            requested = time.perf_counter()
            page.goto(url, wait_until="commit")
            page.locator("input[type=file]").first.wait_for(state="attached", timeout=300_000)
            uploader = time.perf_counter() - requested
            page.locator("input[type=file]").first.set_input_files(upload_files(ecg_file))
            page.get_by_text("LV ejection fraction").first.wait_for(timeout=300_000)
            return healthy, uploader, time.perf_counter() - requested


def machine(width: int) -> str:
    return (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python "
            f"{platform.python_version()}; chromium headless, {width} px wide\n")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--cold", action="store_true", help="time a first visit to a freshly started server")
    args = parser.parse_args()
    if args.cold:
        visits = np.array([cold_visit(args.width) for _ in range(args.repeats)])
        print(machine(args.width))
        print(f"| cold start ({args.repeats} fresh servers) | median | worst |\n|---|---|---|")
        for label, column in zip(("server start to health check", "first request to uploader on screen",
                                  "first request to first ECG's phenotypes"), visits.T):
            print(f"| {label} | {np.median(column):.1f} s | {column.max():.1f} s |")
        return
    files = list(sample_ecgs().values())
    first, later = [], []
    for _ in range(args.repeats):
        with tempfile.TemporaryDirectory() as workspace, running_app(Path(workspace)) as url, chromium() as browser:
            page = open_analyze(browser, url, (args.width, 800))
            times = [seconds_to_phenotypes(page, path) for path in files]
            first.append(times[0])
            later += times[1:]
    print(machine(args.width))
    print("| upload to phenotypes on screen | median | worst |\n|---|---|---|")
    print(f"| first upload on a freshly opened page ({len(first)}) | {np.median(first):.2f} s | {max(first):.2f} s |")
    print(f"| later uploads, each a different file ({len(later)}) | {np.median(later):.2f} s | "
          f"{max(later):.2f} s |")


if __name__ == "__main__":
    main()

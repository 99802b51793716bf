"""A real `streamlit run app.py` and Debian's chromium under Playwright, for the browser test and the app
benchmark (`benchmarks/bench_app.py`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
STREAMLIT = Path(sys.executable).parent / "streamlit"
_PROCESSES: dict = {}  # url -> the server process, for kill_app
LAUNCH_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def running_app(workspace: Path, timeout_s: float = 60) -> Iterator[str]:
    """The app served on a free local port (its run-time files in ``workspace``); yields its URL."""
    port = free_port()
    env = {**os.environ, "CARDIONETS_HOME": str(workspace)}
    env.pop("CARDIONETS_WEIGHTS", None)
    process = subprocess.Popen(
        [str(STREAMLIT), "run", "app.py", "--server.port", str(port), "--server.headless", "true",
         "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    _PROCESSES[url] = process
    try:
        deadline = time.time() + timeout_s
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError(f"streamlit did not start: {process.stdout.read()[-2000:]}") from None
                time.sleep(0.5)
        yield url
    finally:
        _PROCESSES.pop(url, None)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def kill_app(url: str) -> None:
    """SIGKILL the server behind ``url``, as a crash or an out-of-memory kill would: no shutdown code runs."""
    process = _PROCESSES[url]
    process.kill()
    process.wait(timeout=20)


@contextlib.contextmanager
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_FLAGS)
        try:
            yield browser
        finally:
            browser.close()


def open_analyze(browser, url: str, viewport: tuple[int, int], requests: list[str] | None = None):
    """A page on the app, once it has finished its first run (which loads the models); every URL the page
    requests is appended to ``requests`` when one is given."""
    page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
    if requests is not None:
        page.on("request", lambda request: requests.append(request.url))
    page.goto(url, wait_until="networkidle")
    page.get_by_text("Analyze an ECG").wait_for(timeout=60_000)
    page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=120_000)
    page.locator("input[type=file]").first.wait_for(state="attached", timeout=60_000)
    return page


def upload_files(ecg_file: Path) -> list[str]:
    """What a user selects for one ECG: the file, and for a WFDB header its signal file too."""
    companions = [ecg_file.with_suffix(suffix) for suffix in (".dat", ".mat")] if ecg_file.suffix == ".hea" else []
    return [str(ecg_file), *(str(path) for path in companions if path.is_file())]


def seconds_to_phenotypes(page, ecg_file: Path) -> float:
    """From handing the browser a file to the phenotype table on screen. An earlier result is cleared first
    (its file removed from the uploader), so the table waited for is the new file's."""
    shown = page.get_by_text("LV ejection fraction")
    if shown.count():
        remove = page.locator("[data-testid=stFileChipDeleteBtn] button")
        while remove.count():
            remove.first.click()
        shown.first.wait_for(state="detached", timeout=60_000)
        # The removal reruns the page; a file handed over mid-rerun can land on an uploader about to be replaced.
        page.locator("[data-testid=stStatusWidget]").wait_for(state="detached", timeout=60_000)
    started = time.perf_counter()
    page.locator("input[type=file]").first.set_input_files(upload_files(ecg_file))
    page.get_by_text("LV ejection fraction").first.wait_for(timeout=60_000)
    return time.perf_counter() - started

"""Background jobs the admin page starts: training stages and virtual cohorts, run as separate processes that
outlive the page (and a browser reload, or the Streamlit session) and are found again from disk.

    job = launch("tiny: all", training_command("all", "training/configs/tiny.yaml"), run_dir="runs/tiny")
    job.status          # "running", "finished", "failed" or "cancelled"
    job.tail(40)        # the last lines of its log
    job.metrics()       # its run's metrics.jsonl records (losses, steps) for the curves
    job.cancel()

Each job is a folder under ``<workspace>/jobs/<id>/``: ``job.json`` (what was run, where, when), ``log.txt``
(stdout and stderr) and, once the process ends, ``exit_code``. The process runs in its own session, so a
cancel stops it and every process it started.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from .workspace import REPO_ROOT, workspace

JOB_FILE, LOG_FILE, EXIT_FILE, CANCELLED_FILE = "job.json", "log.txt", "exit_code", "cancelled"
METRICS_FILE = "metrics.jsonl"  # what `training.trainer.MetricsLog` writes in a run folder


@dataclass
class Job:
    id: str
    label: str
    command: list[str]
    run_dir: str | None  # the training run folder, whose metrics.jsonl gives the curves
    pid: int
    started: float
    folder: str

    @property
    def status(self) -> str:
        folder = Path(self.folder)
        if (folder / CANCELLED_FILE).exists():
            return "cancelled"
        if (folder / EXIT_FILE).exists():
            return "finished" if self.exit_code == 0 else "failed"
        return "running" if _alive(self.pid) else "failed"  # gone without an exit code: killed from outside

    @property
    def exit_code(self) -> int | None:
        path = Path(self.folder) / EXIT_FILE
        try:
            return int(path.read_text().strip())
        except (OSError, ValueError):
            return None

    def tail(self, lines: int = 40) -> str:
        path = Path(self.folder) / LOG_FILE
        if not path.is_file():
            return ""
        with open(path, "rb") as handle:  # the end of a long log without reading all of it
            handle.seek(0, os.SEEK_END)
            handle.seek(max(0, handle.tell() - 200 * lines))
            text = handle.read().decode("utf-8", errors="replace")
        # tqdm redraws its bar with carriage returns (and blanks it when done): keep the last redraw with text.
        shown = [next((part for part in reversed(line.split("\r")) if part.strip()), "")
                 for line in text.replace("\r\n", "\n").split("\n")]
        return "\n".join([line for line in shown if line.strip()][-lines:])

    def metrics(self) -> list[dict]:
        if not self.run_dir:
            return []
        path = Path(self.run_dir) / METRICS_FILE
        if not path.is_file():
            return []
        records = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line being written as we read
            if record.get("time", 0) >= self.started - 1:
                records.append(record)
        return records

    def cancel(self) -> None:
        if self.status != "running":
            return
        (Path(self.folder) / CANCELLED_FILE).write_text(str(time.time()))
        try:
            os.killpg(self.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass


def launch(label: str, command: list[str], run_dir: str | Path | None = None, root: Path | None = None) -> Job:
    """Start ``command`` in the background, from the repository root, its output going to the job's log."""
    folder = jobs_folder(root) / f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}"
    folder.mkdir(parents=True)
    log = folder / LOG_FILE
    # The shell records the exit code after the command ends, so a finished job is told from a killed one.
    script = f"{shlex.join(command)} > {shlex.quote(str(log))} 2>&1; echo $? > {shlex.quote(str(folder / EXIT_FILE))}"
    process = subprocess.Popen(["/bin/sh", "-c", script], cwd=REPO_ROOT, start_new_session=True,
                               stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(REPO_ROOT), "PYTHONUNBUFFERED": "1"})
    job = Job(folder.name, label, list(command), None if run_dir is None else str(Path(run_dir).resolve()),
              process.pid, time.time(), str(folder))
    (folder / JOB_FILE).write_text(json.dumps(asdict(job), indent=2))
    return job


def list_jobs(root: Path | None = None) -> list[Job]:
    """Every job started here, newest first."""
    jobs = []
    for path in sorted(jobs_folder(root).glob(f"*/{JOB_FILE}"), reverse=True):
        try:
            jobs.append(Job(**json.loads(path.read_text())))
        except (json.JSONDecodeError, TypeError):
            continue
    return jobs


def jobs_folder(root: Path | None = None) -> Path:
    return Path(root or workspace()) / "jobs"


def training_command(stage: str, config: str | Path, output: str | Path | None = None,
                     data_root: str | Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "training", stage, "--config", str(config)]
    if output:
        command += ["--output", str(output)]
    if data_root:
        command += ["--data-root", str(data_root)]
    return command


def export_command(config: str | Path, run: str | Path, out: str | Path) -> list[str]:
    return [sys.executable, "-m", "training.export_bundle", "--config", str(config), "--output", str(run),
            "--out", str(out)]


def cohort_command(n: int, out: str | Path, seed: int = 0, with_cmr: bool = True) -> list[str]:
    return [sys.executable, "-m", "cardionets.sim", "make", "--n", str(int(n)), "--out", str(out), "--seed",
            str(int(seed)), *([] if with_cmr else ["--no-cmr"])]


def _alive(pid: int) -> bool:
    try:
        finished, _ = os.waitpid(pid, os.WNOHANG)  # reaps our own child once it has ended
        if finished == pid:
            return False
    except ChildProcessError:
        pass  # not our child (started by an earlier server process): ask the OS instead
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

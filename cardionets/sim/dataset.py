"""A virtual cohort on disk: a manifest plus sharded arrays that training reads with random access.

Layout of DIR:
    cohort.json                      the CohortConfig and array encodings
    manifest.csv                     one row per subject: ids, demographics, phenotypes, labels, shard, row
    shards/shard-00000/              one folder per shard of SHARD_SIZE subjects
        manifest.csv                 that shard's rows
        ecg.npy                      (n, 12, 5000) float16, canonical ECG in mV
        sax.npy, 4ch.npy             (n, T, 96, 96) uint8 cine magnitude (x IMAGE_SCALE for signal units)
        sax_labels.npy, 4ch_labels.npy   (n, T, 96, 96) uint8 labels 0-5
    ecg/<subject_id>.hea/.dat        with --export-ecg wfdb: each ECG as the site's cart stored it

A shard is written to a temporary folder and renamed when complete, so an interrupted run leaves no half shard
and a rerun skips finished ones (resumable). Shards are independent, so processes work on them in parallel.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import shutil
from functools import cached_property
from pathlib import Path

import numpy as np
import pandas as pd

from .cohort import VIEWS, CohortConfig, simulate_subject

SHARD_SIZE = 64
IMAGE_SCALE = 1.5 / 255.0  # uint8 -> signal; cine magnitudes stay below ~1.4 so 1.5 leaves headroom
ECG_DTYPE = np.float16  # ~1 uV resolution at 2 mV, half the disk of float32


def shard_name(shard: int) -> str:
    return f"shard-{shard:05d}"


def write_cohort(
    directory: Path, n_subjects: int, config: CohortConfig = CohortConfig(), workers: int = 1,
    export_ecg: str | None = None, progress: bool = True,
) -> Path:
    """Simulate ``n_subjects`` into ``directory`` (resuming an earlier run) and return the manifest path."""
    directory = Path(directory)
    (directory / "shards").mkdir(parents=True, exist_ok=True)
    _check_or_write_config(directory, config)
    n_shards = -(-n_subjects // SHARD_SIZE)
    jobs = [
        (directory, shard, range(shard * SHARD_SIZE, min((shard + 1) * SHARD_SIZE, n_subjects)), config, export_ecg)
        for shard in range(n_shards)
        if not (directory / "shards" / shard_name(shard)).is_dir()
    ]
    if workers > 1 and len(jobs) > 1:
        with multiprocessing.get_context("spawn").Pool(workers) as pool:
            for done, _ in enumerate(pool.imap_unordered(_write_shard_job, jobs), start=1):
                _report(progress, done, len(jobs))
    else:
        for done, job in enumerate(jobs, start=1):
            _write_shard_job(job)
            _report(progress, done, len(jobs))
    parts = [pd.read_csv(directory / "shards" / shard_name(s) / "manifest.csv") for s in range(n_shards)]
    manifest = pd.concat(parts, ignore_index=True)
    manifest.to_csv(directory / "manifest.csv", index=False)
    return directory / "manifest.csv"


def _report(progress: bool, done: int, total: int) -> None:
    if progress:
        print(f"\rshards {done}/{total}", end="\n" if done == total else "", flush=True)


def _check_or_write_config(directory: Path, config: CohortConfig) -> None:
    path = directory / "cohort.json"
    record = {"config": dataclasses.asdict(config), "image_scale": IMAGE_SCALE, "shard_size": SHARD_SIZE,
              "ecg_dtype": np.dtype(ECG_DTYPE).name}
    record = json.loads(json.dumps(record))  # tuples -> lists, as they come back from disk
    if path.exists():
        if json.loads(path.read_text()) != record:
            raise ValueError(f"{directory} holds a cohort made with other settings; use a new folder to resume.")
        return
    path.write_text(json.dumps(record, indent=2))


def _write_shard_job(job) -> None:
    directory, shard, indices, config, export_ecg = job
    final = directory / "shards" / shard_name(shard)
    scratch = directory / "shards" / (shard_name(shard) + ".tmp")
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir()
    rows, ecgs = [], []
    cines = {view: [] for view in VIEWS}
    labels = {view: [] for view in VIEWS}
    for position, index in enumerate(indices):
        subject = simulate_subject(index, config)
        rows.append({**subject.row, "shard": shard, "shard_row": position})
        ecgs.append(subject.ecg.signal_mv.astype(ECG_DTYPE))
        for view, (image, label_map) in subject.cines.items():
            cines[view].append(np.clip(np.round(image / IMAGE_SCALE), 0, 255).astype(np.uint8))
            labels[view].append(label_map)
        if export_ecg == "wfdb":
            from .export import write_wfdb

            write_wfdb(subject.device_ecg, directory / "ecg", subject.row["subject_id"])
    np.save(scratch / "ecg.npy", np.stack(ecgs))
    for view in VIEWS:
        if cines[view]:
            np.save(scratch / f"{view}.npy", np.stack(cines[view]))
            np.save(scratch / f"{view}_labels.npy", np.stack(labels[view]))
    pd.DataFrame(rows).to_csv(scratch / "manifest.csv", index=False)
    scratch.rename(final)


class VirtualCohort:
    """Random access to a cohort written by `write_cohort`: manifest rows, ECGs and cines by position."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.manifest = pd.read_csv(self.directory / "manifest.csv")
        self.image_scale = json.loads((self.directory / "cohort.json").read_text())["image_scale"]

    def __len__(self) -> int:
        return len(self.manifest)

    @cached_property
    def _arrays(self) -> dict:
        return {}

    def _array(self, shard: int, name: str) -> np.ndarray:
        key = (shard, name)
        if key not in self._arrays:
            path = self.directory / "shards" / shard_name(shard) / f"{name}.npy"
            self._arrays[key] = np.load(path, mmap_mode="r", allow_pickle=False)
        return self._arrays[key]

    def _locate(self, position: int) -> tuple[int, int]:
        row = self.manifest.iloc[position]
        return int(row["shard"]), int(row["shard_row"])

    def ecg(self, position: int) -> np.ndarray:
        """(12, 5000) float32 mV."""
        shard, row = self._locate(position)
        return np.asarray(self._array(shard, "ecg")[row], dtype=np.float32)

    def cine(self, position: int, view: str) -> np.ndarray:
        """(T, 96, 96) float32 magnitude."""
        shard, row = self._locate(position)
        return np.asarray(self._array(shard, view)[row], dtype=np.float32) * self.image_scale

    def labels(self, position: int, view: str) -> np.ndarray:
        """(T, 96, 96) uint8 label maps."""
        shard, row = self._locate(position)
        return np.asarray(self._array(shard, f"{view}_labels")[row])

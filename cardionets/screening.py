"""Screening many ECGs: one CSV row per input file, whatever happens to that file.

    python -m cardionets screen INPUT_DIR|manifest.csv --out results.csv
    torchrun --nproc_per_node 4 -m cardionets screen INPUT_DIR --out results.csv    # shards across processes

Inputs are every file under a folder (WFDB signal files beside their .hea are the header's companions, not
inputs), or the ``file`` (or ``path``) column of a manifest CSV, relative to the manifest. A file that cannot be
read, or that the quality gate rejects, gets its row with the reason in ``error``; the run never stops on one
bad file. Rows are written as they are made, so an interrupted run resumes where it stopped. Under torchrun each
rank takes every WORLD_SIZE-th input and writes its own part file; rank 0 merges the parts in input order.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

from .ecg import ECG, load
from .ecg.errors import ECGError
from .inference import CardioNets
from .prediction import Prediction

WFDB_SIGNAL_SUFFIXES = (".dat", ".mat")
MANIFEST_COLUMNS = ("file", "path")
BATCH = 32  # ECGs per batched model pass


@dataclass
class ScreenSummary:
    inputs: int
    written: int  # rows added in this run (the rest were there from an earlier, interrupted one)
    errors: int  # rows of this run with an error
    out: Path


def find_inputs(source: Path) -> list[Path]:
    """The ECG files to screen, in a stable order."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        headers = {p.with_suffix("") for p in files if p.suffix.lower() == ".hea"}
        return [p for p in files if not (p.suffix.lower() in WFDB_SIGNAL_SUFFIXES and p.with_suffix("") in headers)]
    if source.is_file():
        with open(source, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            column = next((c for c in MANIFEST_COLUMNS if c in (reader.fieldnames or [])), None)
            if column is None:
                raise ValueError(f"{source} has no '{MANIFEST_COLUMNS[0]}' or '{MANIFEST_COLUMNS[1]}' column of ECG "
                                 "files")
            return [(source.parent / row[column]).resolve() if not Path(row[column]).is_absolute()
                    else Path(row[column]) for row in reader if row[column]]
    raise FileNotFoundError(f"No such folder or manifest: {source}")


def columns(model: CardioNets) -> list[str]:
    config = model.predictor.config
    return ["file", "error", "qc_verdict", *config.phenotypes, *(f"p_{d}" for d in config.disease_outputs),
            "ood_score"]


def row_of(file: str, result: Prediction | None, error: str | None) -> dict:
    row = {"file": file, "error": error or "", "qc_verdict": "" if result is None else result.qc["verdict"]}
    if result is not None:
        if result.rejected and not error:
            row["error"] = "rejected by the quality check: " + " ".join(
                f["message"] for f in result.qc["findings"] if f["severity"] == "reject")
        row.update({name: p.value for name, p in result.phenotypes.items()})
        row.update({f"p_{name}": d.probability for name, d in result.diseases.items()})
        row["ood_score"] = "" if result.ood.score is None else result.ood.score
    return row


def _done(path: Path) -> set[str]:
    if not path.is_file():
        return set()
    with open(path, newline="") as handle:
        return {row["file"] for row in csv.DictReader(handle)}


def _batches(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def screen_files(model: CardioNets, inputs: list[Path], out: Path, progress: bool = True) -> ScreenSummary:
    """Screen ``inputs`` into the CSV ``out`` (appending; files already in it are skipped)."""
    out = Path(out)
    done = _done(out)
    todo = [path for path in inputs if str(path) not in done]
    header = columns(model)
    new_file = not out.is_file()
    out.parent.mkdir(parents=True, exist_ok=True)
    written = errors = 0
    with open(out, "a", newline="") as handle, tqdm(total=len(todo), desc="screening", unit="ECG",
                                                    disable=not progress) as bar:
        writer = csv.DictWriter(handle, fieldnames=header, restval="")
        if new_file:
            writer.writeheader()
        for batch in _batches(todo, BATCH):
            rows = _screen_batch(model, batch)
            for row in rows:
                writer.writerow(row)
                errors += bool(row["error"])
            handle.flush()  # an interruption loses at most the batch in flight
            written += len(rows)
            bar.update(len(batch))
    return ScreenSummary(len(inputs), written, errors, out)


def _screen_batch(model: CardioNets, batch: list[Path]) -> list[dict]:
    records: dict[int, ECG] = {}
    rows: dict[int, dict] = {}
    for index, path in enumerate(batch):
        try:
            records[index] = load(path)
        except ECGError as error:
            rows[index] = row_of(str(path), None, str(error))
        except Exception as error:  # noqa: BLE001 - a screen never stops on one file; the reason goes in its row
            rows[index] = row_of(str(path), None, f"could not be read ({type(error).__name__}: {error})")
    if records:
        order = sorted(records)
        for index, result in zip(order, model.predict_records([records[i] for i in order])):
            rows[index] = row_of(str(batch[index]), result, None)
    return [rows[index] for index in range(len(batch))]


def screen(model: CardioNets, source: Path, out: Path, progress: bool = True) -> ScreenSummary:
    """Screen a folder or manifest; under torchrun (WORLD_SIZE > 1) each rank takes its shard and rank 0 merges."""
    inputs = find_inputs(source)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world == 1:
        return screen_files(model, inputs, out, progress)
    import torch.distributed as dist

    dist.init_process_group(backend="gloo")  # CPU-side coordination only: the merge waits for every shard
    try:
        part = part_path(out, rank)
        summary = screen_files(model, inputs[rank::world], part, progress and rank == 0)
        dist.barrier()
        if rank == 0:
            merge_parts(out, [part_path(out, r) for r in range(world)], inputs, columns(model))
        dist.barrier()
        return ScreenSummary(len(inputs), summary.written, summary.errors, out)
    finally:
        dist.destroy_process_group()


def part_path(out: Path, rank: int) -> Path:
    return Path(out).with_name(f"{Path(out).name}.part{rank}")


def merge_parts(out: Path, parts: list[Path], inputs: list[Path], header: list[str]) -> None:
    """Rows of every part (and of an earlier ``out``), one per input, in input order; the parts are removed."""
    rows: dict[str, dict] = {}
    for path in [out, *parts]:
        if path.is_file():
            with open(path, newline="") as handle:
                rows.update({row["file"]: row for row in csv.DictReader(handle)})
    with open(out, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows[str(path)] for path in inputs if str(path) in rows)
    for path in parts:
        path.unlink(missing_ok=True)

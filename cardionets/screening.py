"""Screening many ECGs: one CSV row per input file, whatever happens to that file.

    python -m cardionets screen INPUT_DIR|manifest.csv --out results.csv
    torchrun --nproc_per_node 4 -m cardionets screen INPUT_DIR --out results.csv    # shards across processes

Inputs are every file under a folder (WFDB signal files beside their .hea are the header's companions, not
inputs), or the ``file`` (or ``path``) column of a manifest CSV, relative to the manifest. A file that cannot be
read, or that the quality gate rejects, gets its row with the reason in ``error``; the run never stops on one
bad file. Rows are written as they are made, so an interrupted run resumes where it stopped. Under torchrun each
rank takes every WORLD_SIZE-th input and writes its own part file; rank 0 merges the parts in input order.

Reading, the quality check and the model view (``prepare_ecg``) cost far more than the models on CPU, so
``workers`` processes make them while this one runs the batched models; the next batch is read while this one
is predicted. Measurements are not made: the screening table has no column for them.
"""

from __future__ import annotations

import csv
import io
import logging
import multiprocessing
import os
import shutil
import time
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import torch
from tqdm import tqdm

from .ecg import ECG, load
from .ecg.errors import ECGError
from .ecg.isolated import limit_address_space
from .inference import CardioNets
from .prediction import DERIVED_PHENOTYPES, Prediction
from .preparation import PreparedECG, prepare_file

# Files that are ECGs of their own even when a WFDB header of the same name lies beside them.
STANDALONE_SUFFIXES = (".xml", ".dcm", ".edf", ".csv", ".txt", ".npy", ".npz", ".zip")
MANIFEST_COLUMNS = ("file", "path")
log = logging.getLogger(__name__)
BATCH = 32  # ECGs per batched model pass
KILLED_READER = ("reading this file stopped its reader process (it ran out of memory or crashed): the file is "
                 "damaged or was made to do that, so it was not analysed")
# The results CSV is UTF-8, but a file name need not be: Linux keeps a name's raw bytes, which Python holds as
# surrogates; writing them back as those bytes lets the row be written and a resumed run recognise the file.
CSV_TEXT = {"encoding": "utf-8", "errors": "surrogateescape"}
MAX_ARCHIVE_FILES = 20_000  # an uploaded zip; bigger archives belong on the command line
MAX_ARCHIVE_BYTES = 2_000_000_000


def cli_workers() -> int:
    """`python -m cardionets screen`'s default: one worker process per core (shared among torchrun's ranks on a
    node), none below 2. The command line is a package's ``__main__``, which forkserver workers do not re-run, so
    they start in milliseconds; on this 2-core machine 600 DICOM files went from 38.3 to 52.3 ECG/s. Library callers
    (the app, scripts) opt in: there each worker first re-imports the caller's main file (from the benchmark
    script, 48.8 ECG/s), and the app's server should not start processes unasked."""
    cores = (os.cpu_count() or 1) // int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    return cores if cores >= 2 else 0


@dataclass
class ScreenSummary:
    inputs: int
    written: int  # rows added in this run (the rest were there from an earlier, interrupted one)
    errors: int  # rows of this run with an error
    out: Path
    seconds: float  # reading, checking and the models for the rows of this run (loading the models not included)

    @property
    def rate(self) -> float:
        """ECGs screened per second in this run."""
        return self.written / self.seconds if self.seconds > 0 else 0.0


def find_inputs(source: Path) -> list[Path]:
    """The ECG files to screen, in a stable order."""
    source = Path(source)
    if source.is_dir():
        files = sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith("."))
        headers = {p.with_suffix("") for p in files if p.suffix.lower() == ".hea"}
        return [p for p in files if not _wfdb_companion(p, headers)]
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


def _wfdb_companion(path: Path, headers: set[Path]) -> bool:
    """A file beside a WFDB header of the same name that is not an ECG of its own: the signal file, or an
    annotation file of any extension (LUDB's .i, .ii, ..., .v6; MIT's .atr). They are read through the header."""
    suffix = path.suffix.lower()
    return suffix != ".hea" and path.with_suffix("") in headers and suffix not in STANDALONE_SUFFIXES


class ArchiveTooLargeError(ECGError):
    """An uploaded archive that would unpack to more than the server takes at once."""


def extract_archive(data: bytes, folder: Path, max_files: int = MAX_ARCHIVE_FILES,
                    max_bytes: int = MAX_ARCHIVE_BYTES) -> tuple[Path, list[tuple[str, str]]]:
    """Unpack an uploaded zip of ECGs into ``folder``, refusing what could harm the server: more than
    ``max_files`` files, more than ``max_bytes`` once unpacked (a zip bomb), or paths that leave the folder.
    Returns the folder and the entries that could not be unpacked, each with the reason (a damaged or encrypted
    entry, an unsupported compression, a name that clashes with a folder): those become error rows, the rest of
    the archive is still screened."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, ValueError, NotImplementedError):
        raise ECGError("The upload is not a readable zip archive.") from None
    skipped: list[tuple[str, str]] = []
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        if len(members) > max_files:
            raise ECGError(f"The archive holds {len(members)} files; at most {max_files} can be screened at once here.")
        if sum(info.file_size for info in members) > max_bytes:
            raise ArchiveTooLargeError(f"The archive unpacks to more than {max_bytes / 1e9:g} GB; split it or use "
                                       "the command line (python -m cardionets screen).")
        root = Path(folder).resolve()
        root.mkdir(parents=True, exist_ok=True)
        for info in members:
            target = (root / info.filename).resolve()
            if not target.is_relative_to(root) or target == root:
                raise ECGError(f"The archive's entry {info.filename!r} points outside the archive; refused.")
            created = False
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(info) as source, open(target, "xb") as sink:
                    created = True  # "x": an entry never overwrites another of the same name
                    shutil.copyfileobj(source, sink)
            except (zipfile.BadZipFile, RuntimeError, NotImplementedError, OSError, EOFError) as error:
                if created:  # a half-written file (a bad CRC shows only at the end) is not screened
                    target.unlink(missing_ok=True)
                skipped.append((info.filename, _unpack_problem(error)))
    return root, skipped


def _unpack_problem(error: Exception) -> str:
    if isinstance(error, RuntimeError) and "encrypted" in str(error).lower():
        return "this entry of the archive is encrypted (password-protected), so it could not be unpacked"
    if isinstance(error, NotImplementedError):
        return f"this entry of the archive uses a compression the server cannot unpack ({error})"
    if isinstance(error, (FileExistsError, NotADirectoryError, IsADirectoryError)):
        return "another entry of the archive has the same name (a file and a folder, or twice), so it was left out"
    if isinstance(error, OSError):
        return f"this entry of the archive could not be written ({error.strerror or error})"
    return "this entry of the archive is damaged (bad CRC or truncated), so it could not be unpacked"


def stage_uploads(uploads: list[tuple[str, bytes]], inbox: Path,
                  max_bytes: int = MAX_ARCHIVE_BYTES) -> list[tuple[str, str]]:
    """Put browser uploads (name, bytes) in ``inbox`` for a screen: each zip unpacked into a folder of its own,
    every other file under its own name. Two uploads of the same name both stay (the second in a folder ``2/``,
    ...), a name that is a path or a dot is reduced to a plain file name, and the unpack limit holds for all the
    uploads together. Returns (entry, reason) for what could not be staged."""
    skipped: list[tuple[str, str]] = []
    budget = max_bytes
    seen: dict[str, int] = {}
    for index, (name, data) in enumerate(uploads):
        plain = _plain_name(name, index)
        count = seen[plain.lower()] = seen.get(plain.lower(), 0) + 1
        home = inbox if count == 1 else inbox / str(count)  # same names, different files: both screened
        if plain.lower().endswith(".zip"):
            unpacked = home / plain  # a folder named as the zip, so a row reads "batch.zip/ecgs/1.dcm"
            try:
                _, problems = extract_archive(data, unpacked, max_bytes=budget)
            except ArchiveTooLargeError:
                if budget == max_bytes:  # this archive alone is too big: its own message says so
                    raise
                budget = -1  # too big for what the other uploads left
            else:
                budget -= sum(path.stat().st_size for path in unpacked.rglob("*") if path.is_file())
                skipped += [(f"{plain}/{entry}", reason) for entry, reason in problems]
        else:
            budget -= len(data)
            home.mkdir(parents=True, exist_ok=True)
            (home / plain).write_bytes(data)
        if budget < 0:
            raise ECGError(f"The uploads unpack to more than {max_bytes / 1e9:g} GB together; split them or use the "
                           "command line (python -m cardionets screen).")
    return skipped


def _plain_name(name: str, index: int) -> str:
    """The last part of an upload's name, at most 150 characters (its extension kept), never empty or a dot."""
    plain = Path(name.replace("\\", "/")).name.strip()
    if plain in ("", ".", ".."):
        return f"upload-{index + 1}"
    if len(plain) > 150:
        suffix = "".join(Path(plain).suffixes[-2:])[:20]
        plain = plain[:150 - len(suffix)] + suffix
    return plain


def columns(model: CardioNets) -> list[str]:
    return ["file", "error", "qc_verdict", "age_years", "sex", "calls", "unusual_ecg", "warnings",
            *model.predictor.config.phenotypes, *DERIVED_PHENOTYPES, *(f"p_{d}" for d in model.disease_names),
            "ood_score"]


def row_of(file: str, result: Prediction | None, error: str | None) -> dict:
    """One CSV row. ``calls`` is what a single result shows: the positive calls joined by "; ", "none", or
    "withheld" when the outputs do not apply to the patient; ``warnings`` are the result's own, verbatim."""
    row = {"file": file, "error": error or "", "qc_verdict": "" if result is None else result.qc["verdict"]}
    if result is not None:
        if result.rejected and not error:
            row["error"] = "rejected by the quality check: " + " ".join(
                f["message"] for f in result.qc["findings"] if f["severity"] == "reject")
        row.update({"age_years": _blank(result.patient.get("age_years")), "sex": _blank(result.patient.get("sex")),
                    "unusual_ecg": result.ood.out_of_distribution, "warnings": " | ".join(result.ood.warnings)})
        if not result.rejected:
            row["calls"] = "withheld" if result.ood.withheld else "; ".join(result.positive_calls) or "none"
        row.update({name: p.value for name, p in result.phenotypes.items()})
        row.update({f"p_{name}": d.probability for name, d in result.diseases.items()})
        row["ood_score"] = _blank(result.ood.score)
    return row


def _blank(value) -> object:
    return "" if value is None else value


def _done(path: Path, header: list[str]) -> set[str]:
    """Files an earlier run of the same columns already screened into ``path``."""
    if not path.is_file():
        return set()
    with open(path, newline="", **CSV_TEXT) as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames and reader.fieldnames != header:
            raise ValueError(f"{path} was written with other columns (an older version or other weights); "
                             "write to a new file instead of resuming into it.")
        return {row["file"] for row in reader}


def _batches(items: list[Path], size: int) -> Iterator[list[Path]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def screen_files(model: CardioNets, inputs: list[Path], out: Path, progress: bool = True,
                 workers: int = 0, on_progress: Callable[[int, int], None] | None = None,
                 read: Callable[[Path], ECG] = load) -> ScreenSummary:
    """Screen ``inputs`` into the CSV ``out`` (appending; files already in it are skipped). ``workers``
    processes read and prepare the ECGs (0: this process does; see `cli_workers`). ``on_progress(done, total)``
    is called after each batch (the app's progress bar). Without workers, ``read`` reads each file (the app passes
    its isolated reader's `load_path`, so that no file is parsed in the server's own process)."""
    started = time.perf_counter()
    out = Path(out)
    header = columns(model)
    done = _done(out, header)
    todo = [path for path in inputs if str(path) not in done]
    new_file = not out.is_file()
    out.parent.mkdir(parents=True, exist_ok=True)
    written = errors = 0
    pool = _reader_pool(workers) if workers > 0 and todo else None
    threads = torch.get_num_threads()
    if pool is not None:  # the workers have the cores; more model threads would only fight them for them
        torch.set_num_threads(max(1, (os.cpu_count() or 1) - workers))
    pooled = pool is not None
    try:
        with open(out, "a", newline="", **CSV_TEXT) as handle, tqdm(total=len(todo), desc="screening", unit="ECG",
                                                        disable=not progress) as bar:
            writer = csv.DictWriter(handle, fieldnames=header, restval="")
            if new_file:
                writer.writeheader()
            batches = list(_batches(todo, BATCH))
            pending = _submit(pool, batches[0], read) if batches else None
            for index, batch in enumerate(batches):
                try:
                    prepared = _collect(pending)
                except BrokenProcessPool:
                    # A worker died: a file made its reader run out of memory or crash. Each file of this batch
                    # is read again alone, in a process of its own, so the one that kills its reader gets an
                    # error row, and a fresh pool reads the rest.
                    log.warning("A screening worker process died; reading that batch's files one by one.")
                    pool.shutdown(wait=False, cancel_futures=True)
                    prepared = [_read_alone(path) for path in batch]
                    pool = _reader_pool(workers)
                # Workers read the next batch while this process runs the models on this one (without workers,
                # the next batch is read only after this one's rows are written).
                pending = _submit(pool, batches[index + 1], read) if index + 1 < len(batches) else None
                rows = _rows(model, batch, prepared)
                for row in rows:
                    writer.writerow(row)
                    errors += bool(row["error"])
                handle.flush()  # an interruption loses at most the batch in flight
                written += len(rows)
                bar.update(len(batch))
                if on_progress is not None:
                    on_progress(written, len(todo))
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
        if pooled:
            torch.set_num_threads(threads)
    return ScreenSummary(len(inputs), written, errors, out, time.perf_counter() - started)


def _worker_context():
    """forkserver, not fork: forking a process whose torch threads are running can deadlock the child. The
    server preloads the torch-free `cardionets.preparation`, so each worker starts in milliseconds instead of
    importing torch (seconds) before its first file."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["cardionets.preparation"])
    return context


def _reader_pool(workers: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(workers, mp_context=_worker_context(), initializer=limit_address_space)


def _read_alone(path: Path) -> PreparedECG | str:
    with _reader_pool(1) as alone:
        try:
            return alone.submit(prepare_file, path).result()
        except BrokenProcessPool:
            return KILLED_READER


def _submit(pool: Executor | None, batch: list[Path], read: Callable[[Path], ECG]) -> list[Future] | list[Callable]:
    """The batch handed to the workers, or without workers a reading of each path, done when collected."""
    if pool is None:
        return [partial(prepare_file, path, read) for path in batch]
    return [pool.submit(prepare_file, path) for path in batch]


def _collect(pending: list) -> list[PreparedECG | str]:
    return [item.result() if isinstance(item, Future) else item() for item in pending]


def _rows(model: CardioNets, batch: list[Path], prepared: list[PreparedECG | str]) -> list[dict]:
    usable = [i for i, item in enumerate(prepared) if not isinstance(item, str)]
    results = dict(zip(usable, model.predict_prepared([prepared[i] for i in usable])))
    return [row_of(str(path), results.get(i), prepared[i] if isinstance(prepared[i], str) else None)
            for i, path in enumerate(batch)]


def screen(model: CardioNets, source: Path, out: Path, progress: bool = True, workers: int = 0) -> ScreenSummary:
    """Screen a folder or manifest; under torchrun (WORLD_SIZE > 1) each rank takes its shard and rank 0 merges."""
    inputs = find_inputs(source)
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if world == 1:
        return screen_files(model, inputs, out, progress, workers)
    import torch.distributed as dist

    dist.init_process_group(backend="gloo")  # CPU-side coordination only: the merge waits for every shard
    try:
        part = part_path(out, rank)
        summary = screen_files(model, inputs[rank::world], part, progress and rank == 0, workers)
        dist.barrier()
        if rank == 0:
            merge_parts(out, [part_path(out, r) for r in range(world)], inputs, columns(model))
        dist.barrier()
        return ScreenSummary(len(inputs), summary.written, summary.errors, out, summary.seconds)
    finally:
        dist.destroy_process_group()


def part_path(out: Path, rank: int) -> Path:
    return Path(out).with_name(f"{Path(out).name}.part{rank}")


def merge_parts(out: Path, parts: list[Path], inputs: list[Path], header: list[str]) -> None:
    """Rows of every part (and of an earlier ``out``), one per input, in input order; the parts are removed."""
    rows: dict[str, dict] = {}
    for path in [out, *parts]:
        if path.is_file():
            with open(path, newline="", **CSV_TEXT) as handle:
                rows.update({row["file"]: row for row in csv.DictReader(handle)})
    with open(out, "w", newline="", **CSV_TEXT) as handle:
        writer = csv.DictWriter(handle, fieldnames=header, restval="")
        writer.writeheader()
        writer.writerows(rows[str(path)] for path in inputs if str(path) in rows)
    for path in parts:
        path.unlink(missing_ok=True)

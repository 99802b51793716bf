"""The readers' fuzz campaign (issue 25): mutated real files of every format, each read as the app reads uploads.

Seeds are the real Mortara DICOM ECG, a real PTB-XL WFDB record and the Mortara ECG written in every other format
CardioNets reads. Each mutant (bytes overwritten, a number in the text swapped for an extreme one, a slice
repeated, deleted or cut off) goes to an `IsolatedReader` worker capped at 1 GiB of address space and 10 s. Any
of these is a failure: the worker running out of memory (even caught: every reader must bound what it decodes
first), the worker dying, a read over 10 s, or anything but an ECG or an `ECGError` with a short sentence.

    python -m tests.fuzz_readers --per-format 2000 --out fuzz-failures   # the nightly-sized run (make fuzz)

`tests/test_isolated_reading.py` runs a small campaign in `make test`. Failing mutants are written to ``--out``
so that each can be read again by hand.
"""

from __future__ import annotations

import argparse
import io
import random
import re
import sys
import time
import zipfile
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyedflib
from pydicom.data import get_testdata_file

from cardionets.ecg import ECG, STANDARD_LEADS, ECGError, load, resample
from cardionets.ecg.isolated import IsolatedReader, ReaderBugError, ReaderStoppedError, ReadTimeoutError
from cardionets.ecg.readers.scratch import scratch_folder
from cardionets.ecg.writers.recording import EXAMPLE_MEASUREMENTS, EXAMPLE_STATEMENTS, Recording
from tests.writers import philips, vendor_files

MEMORY_BYTES = 2**30
TIMEOUT_S = 10.0
REAL_WFDB = Path(__file__).parent / "data" / "real-ecg" / "ptbxl" / "records100" / "00000" / "00001_lr"
EXTREME_NUMBERS = [b"0", b"-1", b"1", b"65535", b"2147483647", b"4294967296", b"9223372036854775808",
                   b"1000000000", b"-1000000000", b"1e308", b"-1e308", b"1e-308", b"nan", b"inf", b"0.0"]
FAILURES = ("memory", "crash", "hang", "unexpected")


def seed_files() -> dict[str, dict[str, bytes]]:
    """One real record per format, as ``{format: {file name: bytes}}``."""
    dicom = Path(get_testdata_file("waveform_ecg.dcm")).read_bytes()
    ecg = resample(load(dicom, filename="ecg.dcm"), 500)
    seeds = {"dicom": {"ecg.dcm": dicom}}
    npy, npz, csv = io.BytesIO(), io.BytesIO(), io.StringIO()
    np.save(npy, ecg.signal_mv)
    seeds["npy"] = {"ecg.npy": npy.getvalue()}
    np.savez_compressed(npz, signal=ecg.signal_mv, fs=np.array(500.0), leads=np.array(STANDARD_LEADS))
    seeds["npz_compressed"] = {"ecg.npz": npz.getvalue()}
    npz = io.BytesIO()  # stored, not deflated: mutations reach the arrays' headers, not only the compressed stream
    np.savez(npz, signal=ecg.signal_mv, fs=np.array(500.0), leads=np.array(STANDARD_LEADS))
    seeds["npz"] = {"ecg.npz": npz.getvalue()}
    np.savetxt(csv, ecg.signal_mv.T, delimiter=",", fmt="%.4f", header=",".join(STANDARD_LEADS), comments="")
    seeds["csv"] = {"ecg.csv": csv.getvalue().encode()}
    with scratch_folder() as folder:
        headers = pyedflib.highlevel.make_signal_headers(list(STANDARD_LEADS), dimension="uV", sample_frequency=500,
                                                         physical_min=-5000, physical_max=5000)
        pyedflib.highlevel.write_edf(f"{folder}/ecg.edf", ecg.signal_mv.astype(float) * 1000, headers)
        seeds["edf"] = {"ecg.edf": Path(folder, "ecg.edf").read_bytes()}
    seeds["wfdb"] = {REAL_WFDB.name + suffix: REAL_WFDB.with_suffix(suffix).read_bytes() for suffix in (".hea", ".dat")}
    for name, data in vendor_files(ecg).items():
        seeds[name] = {f"ecg_{name}.xml": data}
    recording = Recording(np.asarray(ecg.signal_mv, dtype=np.float64), 500, 42, "F", 168, 62,
                          dict(EXAMPLE_MEASUREMENTS), list(EXAMPLE_STATEMENTS))
    seeds["philips_plain_xml"] = {"ecg_plain.xml": philips.write(recording, compressed=False)}
    return seeds


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One mutant of ``data``: the kind of damage is drawn, then where."""
    content = bytearray(data)
    kind = rng.choice(("bytes", "bytes", "number", "number", "repeat", "delete", "truncate"))
    if kind == "number":
        numbers = list(re.finditer(rb"-?\d+(?:\.\d+)?", data[:200_000]))
        if numbers:
            chosen = rng.choice(numbers)
            return data[:chosen.start()] + rng.choice(EXTREME_NUMBERS) + data[chosen.end():]
        kind = "bytes"
    if kind == "bytes":
        for _ in range(rng.randint(1, 20)):
            content[rng.randrange(len(content))] = rng.randrange(256)
        return bytes(content)
    start = rng.randrange(len(content))
    if kind == "truncate":
        return bytes(content[:start])
    length = rng.randint(1, min(4096, len(content) - start))
    if kind == "delete":
        return bytes(content[:start] + content[start + length:])
    return bytes(content[:start] + content[start:start + length] * rng.randint(2, 64) + content[start:])


def mutate_archive_member(data: bytes, rng: random.Random) -> bytes:
    """A zip with one member mutated and the archive rebuilt, so the damage reaches the member's reader rather
    than stopping at the zip's checksum."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = {info.filename: archive.read(info) for info in archive.infolist()}
    chosen = rng.choice(sorted(members))
    members[chosen] = mutate(members[chosen], rng)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return out.getvalue()


@dataclass
class Outcome:
    format: str
    kind: str  # "ecg", "refused", or one of FAILURES
    seconds: float
    detail: str = ""
    files: dict[str, bytes] = field(default_factory=dict, repr=False)


def read_mutant(reader: IsolatedReader, fmt: str, files: dict[str, bytes]) -> Outcome:
    started = time.perf_counter()
    try:
        result = reader.load_upload(files)
        usable = isinstance(result, ECG) and result.signal_mv.shape[0] == 12 and np.isfinite(result.signal_mv).all()
        kind, detail = ("ecg", "") if usable else ("unexpected", f"not a finite 12-lead ECG: {result!r:.200}")
    except ReadTimeoutError as error:
        kind, detail = "hang", str(error)
    except ReaderStoppedError as error:
        kind, detail = "crash", str(error)
    except ECGError as error:
        message = str(error)
        if isinstance(error.__cause__, MemoryError):
            kind, detail = "memory", message
        elif isinstance(error.__cause__, ReaderBugError):
            kind, detail = "unexpected", message
        elif not message or "Traceback" in message or len(message) > 600:
            kind, detail = "unexpected", f"unreadable message: {message[:200]!r}"
        else:
            kind, detail = "refused", message
    except Exception as error:  # noqa: BLE001 - a failure of the campaign's own kind, recorded not raised
        kind, detail = "unexpected", f"{type(error).__name__}: {error}"
    seconds = time.perf_counter() - started
    if kind not in FAILURES and seconds > TIMEOUT_S:
        kind, detail = "hang", f"{seconds:.1f} s"
    return Outcome(fmt, kind, seconds, detail, files if kind in FAILURES else {})


def campaign(per_format: int, seed: int = 0, workers: int = 2, formats: list[str] | None = None,
             memory_bytes: int = MEMORY_BYTES) -> list[Outcome]:
    """``per_format`` mutants of each seed, read by ``workers`` capped readers in parallel."""
    seeds = seed_files()
    jobs = []
    for fmt in formats or sorted(seeds):
        rng = random.Random(f"{seed}-{fmt}")
        for _ in range(per_format):
            files = dict(seeds[fmt])
            name = rng.choice(sorted(files))
            files[name] = (mutate_archive_member if fmt == "npz" else mutate)(files[name], rng)
            jobs.append((fmt, files))
    readers = [IsolatedReader(memory_bytes=memory_bytes, timeout_s=TIMEOUT_S).start()
               for _ in range(workers)]
    try:
        for reader in readers:  # started and warmed up, so no mutant's time includes the worker's imports
            reader.load_upload(seeds["dicom"])
        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda item: read_mutant(readers[item[0] % workers], *item[1]), enumerate(jobs)))
    finally:
        for reader in readers:
            reader.close()


def summary_table(outcomes: list[Outcome]) -> str:
    """A Markdown table: per format, how many mutants gave each outcome, and the slowest read."""
    kinds = ("ecg", "refused", *FAILURES)
    lines = ["| format | mutants | " + " | ".join(kinds) + " | slowest (s) |",
             "|---|" + "---|" * (len(kinds) + 2)]
    for fmt in sorted({o.format for o in outcomes}):
        mine = [o for o in outcomes if o.format == fmt]
        counts = Counter(o.kind for o in mine)
        lines.append(f"| {fmt} | {len(mine)} | " + " | ".join(str(counts[k]) for k in kinds)
                     + f" | {max(o.seconds for o in mine):.2f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-format", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"), help="where failing mutants go")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    outcomes = campaign(args.per_format, args.seed, args.workers)
    print(summary_table(outcomes))
    failures = [o for o in outcomes if o.kind in FAILURES]
    for index, outcome in enumerate(failures):
        folder = args.out / f"{outcome.format}-{index:04d}-{outcome.kind}"
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in outcome.files.items():
            (folder / name).write_bytes(data)
        print(f"{outcome.kind}: {outcome.format} ({outcome.seconds:.1f} s) {outcome.detail[:200]} -> {folder}")
    print(f"{len(outcomes)} mutants, {len(failures)} failures, {time.perf_counter() - started:.0f} s "
          f"(seed {args.seed}, {MEMORY_BYTES // 2**20} MiB address space, {TIMEOUT_S:.0f} s per file)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

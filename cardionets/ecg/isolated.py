"""Reading untrusted ECG files in a separate, memory-capped process, so that no file can take the server down.

Every reader bounds what it decodes before allocating, but a parser bug we have not met could still expand a
small file into gigabytes, loop, or crash the interpreter. The app therefore reads uploads through an
:class:`IsolatedReader`: one long-lived worker process (``python -m cardionets.ecg.isolated``) with an
address-space limit, fed one file at a time over a pipe. A file that exhausts the worker's memory gets a typed
error, one that runs past the time limit or kills the worker gets its own typed error, and the worker is
replaced for the next file; the server itself never holds more than the bytes uploaded and the ECG read.

The worker, not ``multiprocessing``, because multiprocessing's forkserver and spawn re-run the parent's
``__main__``, which in a Streamlit server is the page being shown. Nothing is pickled in either direction: a
request is JSON plus the raw file bytes, a reply is JSON plus the float32 samples.
"""

from __future__ import annotations

import dataclasses
import json
import os
import select
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import errors
from .errors import ECGError
from .record import ECG, ECGMetadata

# The worker's address-space limit: far above what any real ECG needs (a 64 MB Holter record reads in under
# 1 GB), below what would starve the machine. CARDIONETS_READER_MEMORY_BYTES overrides it.
MEMORY_ENV = "CARDIONETS_READER_MEMORY_BYTES"
MEMORY_BYTES = 4 * 2**30
TIMEOUT_S = 20.0  # a real ECG reads in well under a second; a 64 MB record in a few
START_TIMEOUT_S = 120.0  # the worker imports numpy, scipy, wfdb and pydicom before its first file
IN_PROCESS_ENV = "CARDIONETS_READ_IN_PROCESS"  # "1": read in the server's own process (debugging, Windows)
# The worker's environment: one BLAS thread (a reader needs no more, and each thread reserves address space), and
# pyarrow's system allocator: its default reserves 1 GiB of address space at import (pulled in by wfdb's pandas).
WORKER_ENVIRONMENT = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "ARROW_DEFAULT_MEMORY_POOL": "system"}
# All the worker inherits of the server's environment: it parses untrusted files, so it is not handed the
# server's secrets (the admin's password hash, a Hub token), should a parser bug ever give a file control of it.
INHERITED_ENVIRONMENT = ("PATH", "HOME", "TMPDIR", "TEMP", "TMP", "LANG", "LC_ALL", "LC_CTYPE", "VIRTUAL_ENV",
                         "PYTHONHOME")
_FRAME = struct.Struct("<Q")
_MAX_REPLY_HEADER = 1 << 20
# The worker names the error type; the parent raises the same one (any other name: a plain ECGError).
_ERRORS = {name: cls for name, cls in vars(errors).items() if isinstance(cls, type) and issubclass(cls, ECGError)}


class ReaderBugError(Exception):
    """The cause of an error the worker answered for an exception `load` should never have let out."""


class ReaderStoppedError(ECGError):
    """Reading the file stopped the reader process (it ran out of memory or crashed)."""


class ReadTimeoutError(ECGError):
    """Reading the file took longer than any real ECG takes."""


STOPPED_MESSAGE = ("Reading this file stopped its reader process (it ran out of memory or crashed): the file is "
                   "damaged or was made to do that, so it was not analysed. Export the ECG again from the cart.")


@dataclass
class IsolatedReader:
    """`cardionets.ecg.load_upload` and `load`, run in a worker process limited to ``memory_bytes`` of address
    space and ``timeout_s`` per file. Thread-safe: calls from several browser sessions take turns on the one
    worker (a file that hangs holds the others up for ``timeout_s`` at most)."""

    memory_bytes: int = MEMORY_BYTES
    timeout_s: float = TIMEOUT_S
    in_process: bool = False  # read in this process after all (IN_PROCESS_ENV, or no pipes to wait on: Windows)
    worker_module: str = "cardionets.ecg.isolated"  # what the worker runs; tests swap in one that misbehaves
    # Drop the worker's stderr (library warnings, which a crafted file can make by the thousand): passed on to a
    # pipe nobody reads, as a server's output often is, they would fill it and stall the worker. False to debug.
    quiet: bool = True

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._worker: subprocess.Popen | None = None
        self._ready = False

    @classmethod
    def from_environment(cls) -> IsolatedReader:
        in_process = os.environ.get(IN_PROCESS_ENV) == "1" or sys.platform == "win32"
        return cls(memory_bytes=int(os.environ.get(MEMORY_ENV) or MEMORY_BYTES), in_process=in_process)

    def start(self) -> IsolatedReader:
        """Start the worker without waiting for it (it takes a second or two to import), so that by the time the
        first file arrives it is ready."""
        if not self.in_process:
            with self._lock:
                self._ensure_worker()
        return self

    def load_upload(self, files: dict[str, bytes], **options) -> ECG:
        """`cardionets.ecg.load_upload` in the worker."""
        if self.in_process:
            from .load import load_upload

            return load_upload(files, **options)
        names = list(files)
        return self._request({"files": names, "options": options}, [bytes(files[name]) for name in names])

    def load_path(self, path: str | os.PathLike, **options) -> ECG:
        """`cardionets.ecg.load` of a file on this machine (a WFDB header finds its signal files beside it)."""
        if self.in_process:
            from .load import load

            return load(path, **options)
        return self._request({"path": os.fspath(path), "options": options}, [])

    def close(self) -> None:
        with self._lock:
            self._stop()

    # --- the parent's side of the pipe

    def _request(self, header: dict, blobs: list[bytes]) -> ECG:
        with self._lock:
            self._ensure_worker()
            if not self._ready:
                self._wait_until_ready()
            try:
                self._send(header, blobs)
                reply = self._receive(time.monotonic() + self.timeout_s)
            except TimeoutError:
                self._stop()
                raise ReadTimeoutError(
                    f"Reading this file took over {self.timeout_s:.0f} s, far longer than any real ECG takes, so it "
                    "was stopped. The file is damaged or was made to do that; export the ECG again.") from None
            except (OSError, EOFError, ValueError):  # the worker died (or wrote nonsense, which it never should)
                self._stop()
                raise ReaderStoppedError(STOPPED_MESSAGE) from None
        return _result(reply)

    def _ensure_worker(self) -> None:
        if self._worker is not None and self._worker.poll() is None:
            return
        self._stop()
        package_root = str(Path(__file__).resolve().parents[2])
        environment = {name: os.environ[name] for name in INHERITED_ENVIRONMENT if name in os.environ}
        environment |= {**WORKER_ENVIRONMENT, MEMORY_ENV: str(self.memory_bytes),
                        "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
        self._worker = subprocess.Popen([sys.executable, "-m", self.worker_module], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, env=environment, close_fds=True,
                                        stderr=subprocess.DEVNULL if self.quiet else None)
        self._ready = False

    def _wait_until_ready(self) -> None:
        """The worker says "ready" once it has imported every reader and capped its memory."""
        try:
            ready = _read_frame(self._worker.stdout, time.monotonic() + START_TIMEOUT_S)
        except (OSError, EOFError, ValueError, TimeoutError):
            ready = b""
        if ready != b"ready":
            self._stop()
            raise ReaderStoppedError("The ECG reader process could not start; try again, or tell the administrator.")
        self._ready = True

    def _send(self, header: dict, blobs: list[bytes]) -> None:
        stream = self._worker.stdin
        for part in (json.dumps(header).encode(), *blobs):
            stream.write(_FRAME.pack(len(part)))
            stream.write(part)
        stream.flush()

    def _receive(self, deadline: float) -> tuple[dict, bytes]:
        header = json.loads(_read_frame(self._worker.stdout, deadline, _MAX_REPLY_HEADER))
        samples = _read_frame(self._worker.stdout, deadline) if header.get("ok") else b""
        return header, samples

    def _stop(self) -> None:
        if self._worker is not None:
            self._worker.kill()
            self._worker.wait()
            for stream in (self._worker.stdin, self._worker.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
            self._worker = None
            self._ready = False


def _read_frame(stream, deadline: float, limit: int | None = None) -> bytes:
    size = _FRAME.unpack(_read_exactly(stream, _FRAME.size, deadline))[0]
    if limit is not None and size > limit:
        raise ValueError("reply header too long")
    return _read_exactly(stream, size, deadline)


def _read_exactly(stream, size: int, deadline: float) -> bytes:
    """``size`` bytes from a pipe, waiting no later than ``deadline``; EOFError when the other side is gone."""
    chunks, remaining, descriptor = [], size, stream.fileno()
    # poll, not select: a busy server's descriptors pass select's limit of 1024, and select then fails.
    ready = select.poll()
    ready.register(descriptor, select.POLLIN)
    while remaining:
        wait = deadline - time.monotonic()
        if wait <= 0 or not ready.poll(wait * 1000):
            raise TimeoutError
        chunk = os.read(descriptor, min(remaining, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _result(reply: tuple[dict, bytes]) -> ECG:
    header, samples = reply
    if not header.get("ok"):
        error = _ERRORS.get(header.get("error"), ECGError)(header.get("message") or "The file could not be read.")
        cause = {"MemoryError": MemoryError, ReaderBugError.__name__: ReaderBugError}.get(header.get("cause"))
        if cause is not None:  # kept so that callers (the fuzz campaign) can tell these apart
            raise error from cause()
        raise error
    shape = tuple(header["shape"])
    signal = np.frombuffer(samples, dtype="<f4").reshape(shape).copy()  # writable, as a reader's own would be
    return ECG(signal, float(header["fs_hz"]), metadata_from_json(header["meta"]))


def metadata_to_json(meta: ECGMetadata) -> dict:
    return dataclasses.asdict(meta)


def metadata_from_json(fields: dict) -> ECGMetadata:
    """The inverse of `metadata_to_json`: JSON has lists where the metadata has tuples."""
    tuples = {f.name for f in dataclasses.fields(ECGMetadata) if str(f.type).startswith("tuple")}
    return ECGMetadata(**{name: tuple(value) if name in tuples else value for name, value in fields.items()})


# --- the worker's side


def serve(requests, replies, load, load_upload) -> None:
    """The worker loop: read a request, load, reply; until the parent closes the pipe."""
    replies.write(_FRAME.pack(5) + b"ready")
    replies.flush()
    while True:
        try:
            header = json.loads(_read_blocking(requests))
            blobs = [_read_blocking(requests) for _ in header.get("files", [])]
        except EOFError:
            return
        options = header.get("options") or {}
        try:
            if "path" in header:
                ecg = load(header["path"], **options)
            else:
                ecg = load_upload(dict(zip(header["files"], blobs)), **options)
            signal = np.ascontiguousarray(ecg.signal_mv, dtype="<f4")
            parts = [json.dumps({"ok": True, "shape": list(signal.shape), "fs_hz": ecg.fs_hz,
                                 "meta": metadata_to_json(ecg.meta)}).encode(), signal.tobytes()]
        except ECGError as error:
            cause = type(error.__cause__).__name__ if error.__cause__ is not None else None
            parts = [json.dumps({"ok": False, "error": type(error).__name__, "message": str(error),
                                 "cause": cause}).encode()]
        except MemoryError:
            parts = [json.dumps({"ok": False, "error": "FileTooLargeError", "cause": "MemoryError",
                                 "message": "This file is too large to read safely."}).encode()]
        except Exception as error:  # noqa: BLE001 - `load` lets no exception out but ECGError; should one, the
            # worker answers with a sentence and lives, and the cause marks it as a bug (the fuzz campaign counts it)
            parts = [json.dumps({"ok": False, "error": "CorruptFileError", "cause": ReaderBugError.__name__,
                                 "message": f"This file could not be read ({type(error).__name__})."}).encode()]
        for part in parts:
            replies.write(_FRAME.pack(len(part)))
            replies.write(part)
        replies.flush()


def _read_blocking(stream) -> bytes:
    head = stream.read(_FRAME.size)
    if len(head) < _FRAME.size:
        raise EOFError
    size = _FRAME.unpack(head)[0]
    body = stream.read(size)
    if len(body) < size:
        raise EOFError
    return body


def limit_address_space() -> None:
    """Cap this process's address space at MEMORY_ENV's value (default MEMORY_BYTES), so that a file built to
    decode into gigabytes fails in its reader with MemoryError. Run in every reader process: this worker, and
    screening's pool (its initializer; screening's workers preload the modules this one lives in)."""
    try:
        import resource

        limit = int(os.environ.get(MEMORY_ENV) or MEMORY_BYTES)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ImportError, ValueError, OSError):  # not on this platform, or not allowed: the readers' bounds remain
        pass


def run_worker(load=None, load_upload=None) -> None:
    """The worker process's main: ``load`` and ``load_upload`` default to `cardionets.ecg`'s."""
    # The pipe to the parent is a private copy of stdout; stdout itself goes to stderr, so a library that prints
    # cannot corrupt a reply.
    replies = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    # The loader (numpy, scipy) is imported before the cap; each format's reader is imported by its first file.
    from .load import load as load_file
    from .load import load_upload as load_files

    limit_address_space()
    serve(sys.stdin.buffer, replies, load or load_file, load_upload or load_files)


_SHARED: IsolatedReader | None = None
_SHARED_LOCK = threading.Lock()


def shared_reader() -> IsolatedReader:
    """This process's one isolated reader (started on first use), configured from the environment."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = IsolatedReader.from_environment().start()
        return _SHARED


if __name__ == "__main__":
    run_worker()

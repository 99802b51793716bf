"""Scratch space for the readers that can only read from disk (wfdb, pyedflib): an upload is written to a private
temporary file or folder and removed as soon as it is read. A process killed mid-read (out of memory, a restart)
cannot remove its own, so each new one first removes those left behind over an hour ago: an uploaded ECG does not
linger on the server."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

PREFIX = "cardionets-upload-"
STALE_AFTER_S = 3600.0  # far longer than any read takes; younger ones may belong to a read in progress


def remove_stale(now: float | None = None, folder: Path | None = None) -> int:
    """Remove scratch files and folders of this prefix older than STALE_AFTER_S; returns how many went."""
    now = time.time() if now is None else now
    removed = 0
    for path in Path(folder or tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            if now - path.lstat().st_mtime < STALE_AFTER_S:
                continue
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed += 1
        except OSError:  # another process removed it first, or it is not ours to remove
            continue
    return removed


def scratch_file(suffix: str) -> tuple[int, str]:
    """``tempfile.mkstemp`` under PREFIX, after clearing stale ones."""
    remove_stale()
    return tempfile.mkstemp(prefix=PREFIX, suffix=suffix)


def scratch_folder() -> tempfile.TemporaryDirectory:
    """``tempfile.TemporaryDirectory`` under PREFIX, after clearing stale ones."""
    remove_stale()
    return tempfile.TemporaryDirectory(prefix=PREFIX)

"""An isolated-reader worker (`cardionets.ecg.isolated.run_worker`) that dies or hangs on marked files, as a
worker would that a crafted file crashed, the kernel killed, or a parser bug sent into an endless loop."""

import os
import time

from cardionets.ecg.isolated import run_worker
from cardionets.ecg.load import load_upload

DIES = "kills-its-reader"
HANGS = "hangs-its-reader"
RAISES = "raises-in-its-reader"  # an exception `load` should never let out: a bug in a reader


def load_or_misbehave(files: dict[str, bytes], **options):
    if any(DIES in name for name in files):
        os._exit(9)  # no exception, no reply: the process is simply gone
    if any(HANGS in name for name in files):
        time.sleep(3600)
    if any(RAISES in name for name in files):
        raise RuntimeError("a reader bug")
    return load_upload(files, **options)


if __name__ == "__main__":
    run_worker(load_upload=load_or_misbehave)

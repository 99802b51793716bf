"""Inference speed and memory of `CardioNets` loaded from a weights bundle, the way the app and screening use it.

    PYTHONPATH=. python benchmarks/bench_inference.py [--weights weights] [--repeats 30] [--screen 600]

Reports, in one run on this machine:
- cold load: a fresh process importing cardionets and loading the bundle (checksums included), median of 3;
- `predict` latency on the real Mortara ECG that pydicom ships (read, QC, measurements, models): median, p95;
- `generate_cmr` latency at the bundle's default sampler settings (both views, one sample): median, p95;
- screening throughput (ECGs per second, batched model passes) of `python -m cardionets screen` at its defaults,
  of `screen_files` in one process as the app calls it, and of `screen_files` with workers started from this
  script (each re-imports it), next to the bound that the ECG encoder's FLOPs and this machine's measured float32
  matmul rate allow; the model-only rate; what preparing one file (read, quality check, model view) costs on one
  core; and the core time per ECG that half the bound leaves for that;
- peak resident memory of the process holding the models.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from pydicom.data import get_testdata_file
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from cardionets.device import autocast
from cardionets.ecg import load
from cardionets.inference import CardioNets
from cardionets.preparation import prepare_file
from cardionets.screening import screen_files

ROOT = Path(__file__).resolve().parents[1]


def _with_root_on_path() -> dict[str, str]:
    """This process's environment with the repository first on the import path (what it had there kept)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def cold_load_seconds(weights: Path) -> float:
    code = ("import time; t = time.perf_counter(); from cardionets.inference import CardioNets; "
            f"CardioNets.from_pretrained({str(weights)!r}); print(time.perf_counter() - t)")
    times = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                                  env=_with_root_on_path()).stdout) for _ in range(3)]
    return float(np.median(times))


def matmul_gflops(device: torch.device, size: int = 1024, repeats: int = 20) -> float:
    """The matmul rate the models get on ``device``: float32 on a CPU, bf16 on CUDA (their autocast dtype)."""
    dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
    size = 8192 if device.type == "cuda" else size
    a, b = (torch.randn(size, size, device=device, dtype=dtype) for _ in range(2))
    (a @ b).sum().item()
    started = time.perf_counter()
    for _ in range(repeats):
        c = a @ b
    c.sum().item()  # waits for the GPU
    return 2 * size**3 * repeats / (time.perf_counter() - started) / 1e9


def encoder_gflop(model: CardioNets, batch: int = 8) -> float:
    """FLOPs per ECG of the predictor (encoder and heads). Attention runs on the math backend here because the
    counter has no formula for the CPU flash-attention kernel: counted that way it missed 0.118 of 0.503 GFLOP
    and overstated the bound by 31 %."""
    inputs = torch.zeros(batch, 12, 5000, device=model.device)
    with (sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, torch.inference_mode()):
        model.predictor.predict(inputs, with_embedding=True)
    return counter.get_total_flops() / batch / 1e9


def screen_command(weights: Path, inbox: Path, out: Path) -> tuple[float, int]:
    """`python -m cardionets screen` as a user runs it (its default workers): the rate and worker count it
    reports, which leave out loading the models."""
    done = subprocess.run([sys.executable, "-m", "cardionets", "screen", str(inbox), "--out", str(out), "--weights",
                           str(weights)], capture_output=True, text=True, check=True,
                          env=_with_root_on_path())
    found = re.search(r"\(([\d.]+) ECG/s, (\d+) worker processes\)", done.stderr)
    if found is None:
        raise RuntimeError(f"the screen command did not report its rate:\n{done.stderr[-2000:]}")
    return float(found.group(1)), int(found.group(2))


def timed(call, repeats: int) -> list[float]:
    call()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--weights", type=Path, default=ROOT / "weights")
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--generate-repeats", type=int, default=5)
    parser.add_argument("--screen", type=int, default=600, help="ECG files in the screening run")
    args = parser.parse_args()
    cold = cold_load_seconds(args.weights)
    model = CardioNets.from_pretrained(args.weights)
    ecg = Path(get_testdata_file("waveform_ecg.dcm"))
    predict = timed(lambda: model.predict(ecg), args.repeats)
    generate = timed(lambda: model.generate_cmr(ecg), args.generate_repeats)

    prepare = timed(lambda: prepare_file(ecg), args.repeats)
    read = timed(lambda: load(ecg), args.repeats)
    gflops, per_ecg = matmul_gflops(model.device), encoder_gflop(model)
    with tempfile.TemporaryDirectory() as folder:
        inbox = Path(folder) / "ecgs"
        inbox.mkdir()
        files = [inbox / f"ecg{index:05d}.dcm" for index in range(args.screen)]
        for path in files:
            shutil.copyfile(ecg, path)
        in_process = screen_files(model, files, Path(folder) / "library.csv", progress=False).rate
        # Workers started from this script re-import it first, unlike the command line's.
        from_script = screen_files(model, files, Path(folder) / "script_workers.csv", progress=False,
                                   workers=os.cpu_count() or 1).rate
        cli_rate, cli_workers = screen_command(args.weights, inbox, Path(folder) / "cli.csv")
    batch = 32 if model.device.type == "cpu" else 512
    inputs = torch.zeros(batch, 12, 5000, device=model.device)
    with torch.inference_mode(), autocast(model.device):
        model_only = batch / np.median(timed(
            lambda: model.predictor.predict(inputs, with_embedding=True)["phenotypes"].cpu(), 5))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    gpu = f" ({torch.cuda.get_device_name(model.device)})" if model.device.type == "cuda" else ""
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{torch.get_num_threads()}, device {model.device}{gpu}, Python {platform.python_version()}, torch "
          f"{torch.__version__}\n")
    print("| measure | value |\n|---|---|")
    print(f"| cold load (new process, import + verify + load), median of 3 | {cold:.2f} s |")
    print(f"| `predict` on the Mortara ECG, median / p95 of {args.repeats} | {1000 * np.median(predict):.0f} / "
          f"{1000 * np.percentile(predict, 95):.0f} ms |")
    print(f"| `generate_cmr`, both views, default settings, median / p95 of {args.generate_repeats} | "
          f"{np.median(generate):.2f} / {np.percentile(generate, 95):.2f} s |")
    print(f"| screening throughput: `python -m cardionets screen` on {args.screen} DICOM files ({cli_workers} worker "
          f"processes read and check, batched models; as the command reports it, loading excluded) | "
          f"{cli_rate:.1f} ECG/s |")
    print(f"| the same through `screen_files` in one process (the app's way) | {in_process:.1f} ECG/s |")
    print(f"| `screen_files` with {os.cpu_count()} worker processes, called from this script | {from_script:.1f} ECG/s |")
    print(f"| preparing one file for screening (read, quality check, model view), one core, median | "
          f"{1000 * np.median(prepare):.1f} ms |")
    print(f"| of which reading the file (pydicom), one core, median | {1000 * np.median(read):.1f} ms |")
    print(f"| models alone, batches of {batch} | {model_only:.1f} ECG/s |")
    precision = "bf16" if model.device.type == "cuda" else "float32"
    print(f"| FLOP bound: {per_ecg:.3f} GFLOP per ECG at a measured {gflops:.0f} GFLOP/s ({precision} matmul) | "
          f"{gflops / per_ecg:.1f} ECG/s |")
    print(f"| screening as a share of the FLOP bound | {cli_rate / (gflops / per_ecg):.0%} |")
    # Half the bound leaves each ECG 2 / bound seconds on all cores; a model at the bound takes half of that.
    spare_ms = 1000 * (os.cpu_count() or 1) / (gflops / per_ecg)
    print(f"| core time per ECG left for reading and checking at half the bound with a model at the bound | "
          f"{spare_ms:.1f} ms |")
    print(f"| peak resident memory of this process | {peak_mb:.0f} MB |")


if __name__ == "__main__":
    main()

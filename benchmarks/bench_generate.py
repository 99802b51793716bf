"""Cine generation speed: both views of one subject, default sampler settings against the paper's, in one run.

    PYTHONPATH=. python benchmarks/bench_generate.py [--config training/configs/default.yaml] [--subjects 100]

For each of the first N internal-test subjects, one at a time (as the app generates): the generator condition
from the ECG, MAR sampling, decoding to the two-view cine. Reports the median and p95 seconds per subject for
each setting, the speed-up, and each setting's mean SSIM against the true cines of the same subjects, so that
what the faster sampler costs in fidelity is measured beside what it saves. The SSIM difference gets a paired
bootstrap CI over subjects: 10 subjects read -3.2 % where the tuning's 32 validation subjects had read -1.7 %, so
the default is the evaluation's 100 internal-test subjects.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from cardionets import metrics
from cardionets.models.cine_tokenizer import CineTokenizer
from cardionets.models.mar import CineMAR
from cardionets.models.mar_sampler import SamplerSettings, reference_settings, sample_cines
from cardionets.models.predictor import CardioNetsPredictor
from training.config import load_config
from training.data.prepared import PreparedDataset
from training.distributed import Context
from training.evaluate_generative import sampler_settings
from training.run import Run


def describe(settings: SamplerSettings) -> str:
    solver = "DDIM" if settings.eta == 0 else ("ancestral" if settings.eta == 1 else f"eta {settings.eta}")
    return (f"{settings.autoregressive_steps} AR steps, {settings.diffusion_steps} {solver} diffusion steps, "
            f"CFG {settings.cfg_scale} ({settings.cfg_schedule}), temperature {settings.temperature}, "
            f"residual scale {settings.residual_scale}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=Path("training/configs/default.yaml"))
    parser.add_argument("--data", type=Path, default=Path("data/prepared/internal_test"))
    parser.add_argument("--subjects", type=int, default=100)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    run = Run(load_config(args.config), Context())
    torch.set_num_threads(args.threads)  # after Run, which applies the recipe's own thread count
    default = sampler_settings(run)
    predictor = CardioNetsPredictor.from_pretrained(run.stage_dir("finetune") / "aligned" / "model").eval()
    mar = CineMAR.from_pretrained(run.stage_dir("generator") / "model").eval()
    tokenizer = CineTokenizer.from_pretrained(run.stage_dir("tokenizer") / "model").eval()
    prepared = PreparedDataset(args.data)
    n = min(args.subjects, len(prepared))
    print(f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, torch threads "
          f"{args.threads}, Python {platform.python_version()}, torch {torch.__version__}; {n} subjects, "
          f"generator {sum(p.numel() for p in mar.parameters()) / 1e6:.1f} M parameters\n")

    def generate(index: int, settings: SamplerSettings) -> np.ndarray:
        ecg = torch.from_numpy(prepared.ecg[index:index + 1].astype(np.float32))
        return sample_cines(mar, tokenizer, predictor.generator_condition(ecg), settings)[0].numpy()

    generate(0, SamplerSettings(autoregressive_steps=2, diffusion_steps=2))  # warm-up: allocator, kernels
    rows = []
    for label, settings in (("default", default), ("reference (paper's steps)", reference_settings(default))):
        seconds, ssim = [], []
        for index in range(n):
            started = time.perf_counter()
            cine = generate(index, settings)
            seconds.append(time.perf_counter() - started)
            truth = prepared.cine[index].astype(np.float32) / 255.0
            ssim.append(np.mean([metrics.ssim_per_frame(cine[v], truth[v]).mean() for v in range(len(cine))]))
        rows.append((label, settings, np.median(seconds), np.percentile(seconds, 95), np.array(ssim)))
    print("| settings | sampler | median s / subject | p95 s | mean SSIM |\n|---|---|---|---|---|")
    for label, settings, median, p95, ssim in rows:
        print(f"| {label} | {describe(settings)} | {median:.2f} | {p95:.2f} | {ssim.mean():.4f} |")
    (_, _, fast, _, ssim_fast), (_, _, slow, _, ssim_slow) = rows
    change = metrics.bootstrap_ci(lambda a, b: a.mean() / b.mean() - 1, ssim_fast, ssim_slow)  # paired: same rows
    print(f"\nSpeed-up of the default settings: {slow / fast:.1f}x; SSIM {change.point:+.2%} relative to the reference "
          f"settings (95 % CI over subjects {change.low:+.2%} to {change.high:+.2%}).")


if __name__ == "__main__":
    main()

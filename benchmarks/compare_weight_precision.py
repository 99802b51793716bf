"""How much storing the weights as float16 changes the outputs: two exports of the same run, compared.

    python -m training.export_bundle --config training/configs/default.yaml --out /tmp/bundle32
    PYTHONPATH=. python benchmarks/compare_weight_precision.py --float32 /tmp/bundle32 --float16 weights

Predictions on the first ``--ecgs`` internal-test ECGs of the run (phenotypes in units of their spread, disease
probabilities) and generated cines for ``--subjects`` of them with the same seed (mean and max absolute pixel
difference, intensities in [0, 1]).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from cardionets.inference import CardioNets
from cardionets.models.mar_sampler import sample_cines
from training.config import load_run_config
from training.distributed import Context
from training.run import Run


@torch.inference_mode()
def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--float32", type=Path, required=True)
    parser.add_argument("--float16", type=Path, required=True)
    parser.add_argument("--config", default="training/configs/default.yaml")
    parser.add_argument("--ecgs", type=int, default=300)
    parser.add_argument("--subjects", type=int, default=3)
    args = parser.parse_args()
    wide, half = CardioNets.from_pretrained(args.float32), CardioNets.from_pretrained(args.float16)
    ecgs = torch.from_numpy(Run(load_run_config(args.config), Context()).prepared("internal_test")
                            .ecg[:args.ecgs].astype(np.float32))
    a, b = (model.predictor.predict(ecgs, with_embedding=True) for model in (wide, half))
    spread = a["phenotypes"].std(0)
    phenotype = ((a["phenotypes"] - b["phenotypes"]).abs() / spread).max().item()
    probability = (a["disease_probabilities"] - b["disease_probabilities"]).abs().max().item()
    pixels = []
    for i in range(args.subjects):
        cines = [sample_cines(m, t, out["generator_condition"][i:i + 1], wide.sampler).float().numpy()
                 for m, t, out in ((wide.generator, wide.tokenizer, a), (half.generator, half.tokenizer, b))]
        pixels.append(np.abs(cines[0] - cines[1]))
    print(f"| largest phenotype difference, in SDs of that phenotype ({args.ecgs} ECGs) | {phenotype:.4f} |")
    print(f"| largest disease-probability difference | {probability:.4f} |")
    print(f"| generated cines ({args.subjects} subjects, same seed): mean / max absolute pixel difference | "
          f"{np.mean(pixels):.5f} / {np.max(pixels):.3f} |")


if __name__ == "__main__":
    main()

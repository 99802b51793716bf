"""Calibrate what the segmenter measures on generated cines, on validation data.

    python -m training.calibrate_generated --config training/configs/default.yaml

The segmenter's calibration (RUN/segmenter/model/image_phenotypes.json) maps its geometric measurements of
acquired cines to the reference phenotypes. A generated cine is not an acquired one. The regression decoder's
cines are blurred, and the MAR's borders move from frame to frame. Measured with the acquired-cine lines,
their volumes and ejection fraction carry a bias of their own, which R2 against the truth counts as error
even when the generated hearts rank the subjects as the truth does. So each generator gets its own lines:
fitted on its cines of the downstream calibration share against those subjects' reference phenotypes, at the
generator's default sampler settings. No generative model trained on that share. The MAR's go to
RUN/generator/image_phenotypes.json (beside sampler.json; `tune_sampler` refits them when it changes the
settings), the regression decoder's to RUN/regression_decoder/image_phenotypes.json. Their residual SD mixes
the generator's error against the truth with the segmenter's, so the disagreement flag keeps the acquired-cine
lines' residual SD, the measurement's own error, as its floor.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from cardionets.cmr.measure import IMAGE_CALIBRATION_FILE, IMAGE_PHENOTYPES, ImagePhenotypeCalibration, measure_cines

from .datasets import PreparedTorchDataset
from .evaluate_generative import (
    GenerativeModels,
    generate,
    generator_conditions,
    regress,
    sampler_settings,
    stack_items,
    trained_run,
)
from .run import VALIDATION_SHARE, Run, split_indices

SUBJECTS = 400  # the whole calibration share of the default recipe


def calibration_share(run: Run, subjects: int = SUBJECTS) -> tuple[torch.Tensor, dict[str, np.ndarray], list[str]]:
    """ECGs, reference phenotypes and sites of the first ``subjects`` of the downstream calibration share."""
    downstream = run.prepared("downstream")
    _, validation = split_indices(len(downstream), VALIDATION_SHARE, run.config.seed)
    rows = validation[:subjects]
    ecg = stack_items(PreparedTorchDataset(downstream, rows), "ecg")
    names = list(downstream.schema.phenotypes)
    return (ecg, {name: downstream.phenotypes[rows, names.index(name)] for name in IMAGE_PHENOTYPES},
            list(downstream.manifest["site"].values[rows]))


def calibrate_generators(run: Run, models: GenerativeModels, subjects: int = SUBJECTS) -> dict[str, Path]:
    """Fit and save both generators' lines; prints how far the acquired-cine lines were off on the same cines."""
    ecg, reference, sites = calibration_share(run, subjects)
    conditions = generator_conditions(models, ecg, run.device)
    shifts = models.scanner_shifts(conditions, sites)  # told each subject's scanner, as the evaluation does
    settings = sampler_settings(run)
    generators = {
        "generator": lambda c: generate(models, c, settings, run.device, shifts),
        "regression_decoder": lambda c: regress(models, c, run.device, shifts),
    }
    written = {}
    for stage, cines_of in generators.items():
        cines = cines_of(conditions)
        geometric = measure_cines(models.segmenter, cines, models.tokenizer.config.pixel_mm)
        calibration = ImagePhenotypeCalibration.fit(geometric, reference)
        acquired = [models.calibration.apply(values) for values in geometric]
        for name in ("lvedv_ml", "lvesv_ml", "lvef_pct", "lvm_g"):
            bias = np.mean([values[name] for values in acquired]) - np.mean(reference[name])
            print(f"{stage}: {name} read {bias:+.1f} off the truth on average with the acquired-cine lines; own "
                  f"lines' residual SD {calibration.residual_sd[name]:.1f}")
        written[stage] = run.stage_dir(stage) / IMAGE_CALIBRATION_FILE
        calibration.save(written[stage])
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.calibrate_generated")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--output", help="run folder (default: the config's)")
    parser.add_argument("--subjects", type=int, default=SUBJECTS)
    args = parser.parse_args(argv)
    run, models = trained_run(args.config, args.output)
    for stage, path in calibrate_generators(run, models, args.subjects).items():
        print(f"{stage}: wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

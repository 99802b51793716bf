"""Put a weights bundle's models back into a run folder: the inverse of `training.export_bundle`.

    python -m training.restore_run --bundle weights --config training/configs/gpu.yaml

The commands that judge or tune the generators (`python -m training evaluate`, `training.tune_sampler`,
`training.calibrate_generated`, `training.gallery`, `benchmarks/bench_generate.py`) read a run folder, and a run
folder is what training leaves on the machine that trained. With this, they work on any machine that has the
bundle: the shipped weights, or one downloaded from the Hub, evaluated on your own prepared data.

A bundle holds four models (five with a scanner adapter); a run also needs the regression decoder, which is the
generator's frozen anchor and is written from it, and the pretrained CMR encoder whose features the Fréchet
distance compares, which no bundle ships: `python -m training pretrain-cmr --config ...` trains it (minutes on a
CPU). That encoder is seeded but not bit for bit the training machine's, so Fréchet distances are comparable
between models scored with the same encoder, not with figures from another one. The generators' measuring lines are refitted by
`python -m training.calibrate_generated --config ...` (the regression decoder's are not in a bundle). Model
folders the run already has are kept, never overwritten.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from cardionets.bundle import BundleError, load_verified
from cardionets.cmr.measure import IMAGE_CALIBRATION_FILE
from cardionets.inference import COMPONENT_CLASSES
from cardionets.models.mar_sampler import SAMPLER_FILE

from .config import load_run_config
from .distributed import Context
from .evaluate_generative import FEATURE_ENCODER
from .export_bundle import CLASSES, OPTIONAL_SOURCES, SOURCES
from .generative import regressor_from_anchor
from .run import Run

# Files beside a component's weights, and where a run keeps them, relative to the stage folder: the segmenter's
# lines sit in its model folder, the generator's lines and tuned sampler settings beside it.
SIDECARS = {"segmenter": {IMAGE_CALIBRATION_FILE: "model"},
            "generator": {IMAGE_CALIBRATION_FILE: ".", SAMPLER_FILE: "."}}


def restore(bundle: str | Path, run: Run) -> dict[str, str]:
    """Write the bundle's models (checksums verified first) into ``run``'s stage folders; returns, for each
    model folder, "restored" or "kept" (already there)."""
    directory, manifest = load_verified(bundle)
    report = {}
    for name, (stage, folder) in {**SOURCES, **OPTIONAL_SOURCES}.items():
        target = run.stage_dir(stage) / folder
        if name in OPTIONAL_SOURCES and name not in manifest.components:  # a scanner adapter this bundle lacks
            continue
        if (target / "config.json").is_file():
            report[str(target)] = "kept"
            continue
        # Loading and saving (not copying) stores float32 weights, as training would have left them.
        model = CLASSES[name].from_pretrained(directory / name)
        model.save_pretrained(target)
        for sidecar, where in SIDECARS.get(name, {}).items():
            if (directory / name / sidecar).is_file():
                shutil.copyfile(directory / name / sidecar, run.stage_dir(stage) / where / sidecar)
        report[str(target)] = "restored"
    decoder = run.stage_dir("regression_decoder") / "model"
    if (decoder / "config.json").is_file():
        report[str(decoder)] = "kept"
    else:
        mar = COMPONENT_CLASSES["generator"].from_pretrained(directory / "generator")
        if mar.anchor is None:
            raise SystemExit(f"the generator in {directory} has no anchor, so no regression decoder to restore")
        regressor_from_anchor(mar).save_pretrained(decoder)
        report[str(decoder)] = "restored (the generator's anchor)"
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.restore_run")
    parser.add_argument("--bundle", default="weights", help="bundle folder or Hub repo id (default: weights)")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--output", help="run folder (default: the config's)")
    args = parser.parse_args(argv)
    run = Run(load_run_config(args.config, args.output), Context())
    try:
        report = restore(args.bundle, run)
    except BundleError as error:  # damaged, incomplete or not a bundle: say so, restore nothing more
        raise SystemExit(str(error)) from None
    for folder, what in report.items():
        print(f"{folder}: {what}")
    stage, folder = FEATURE_ENCODER
    if not (run.stage_dir(stage) / folder / "config.json").is_file():
        print(f"{run.stage_dir(stage) / folder} is missing: the Fréchet distance needs it; train it with "
              f"python -m training pretrain-cmr --config {args.config}"
              + (f" --output {args.output}" if args.output else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

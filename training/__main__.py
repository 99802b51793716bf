"""``python -m training <stage> --config training/configs/<name>.yaml [--output DIR]``.

Stages: data, pretrain-ecg, pretrain-cmr, align, finetune, evaluate, all. ``python -m training evaluate-real``
runs a weights bundle on the real ECG sets instead (`training.evaluate_real`). Under ``torchrun --nproc_per_node N``
each stage trains with DistributedDataParallel (gloo on CPU, NCCL on GPUs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .config import load_run_config, to_dict
from .distributed import init_from_environment, shutdown
from .pipeline import missing_prerequisites, run_stage, stage_names
from .run import Run


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if arguments[:1] == ["evaluate-real"]:  # runs a weights bundle on the real ECG sets; it needs no recipe
        from .evaluate_real import main as evaluate_real

        return evaluate_real(arguments[1:])
    parser = argparse.ArgumentParser(prog="python -m training", description="Train CardioNets.")
    parser.add_argument("stage", choices=stage_names())
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--output", help="run folder (default: the config's)")
    parser.add_argument("--data-root", help="prepared-data folder (default: the config's)")
    parser.add_argument("--regimes", nargs="+", help="data stage only: make just these regimes (e.g. paired "
                        "downstream generator_extra, what the generator stage reads)")
    args = parser.parse_args(arguments)
    config = load_run_config(args.config, args.output, args.data_root)
    missing = missing_prerequisites(args.stage, Path(config.output), Path(config.data.root))
    if missing:
        print(f"The '{args.stage}' stage cannot start; it needs " + "; ".join(missing) + ".", file=sys.stderr)
        return 2
    context = init_from_environment()
    run = Run(config, context, command=" ".join(["python -m training", *arguments]))
    if context.is_main:
        run.directory.mkdir(parents=True, exist_ok=True)
        (run.directory / "config.json").write_text(json.dumps(to_dict(config), indent=2))
    try:
        run_stage(args.stage, run, tuple(args.regimes) if args.regimes else None)
    finally:
        shutdown(context)
    return 0


if __name__ == "__main__":
    sys.exit(main())

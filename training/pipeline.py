"""The pipeline: every stage by name, in order, for `python -m training` and the admin page. It sits above the
stages and the evaluations, so they never import it.
"""

from __future__ import annotations

import time
from pathlib import Path

from . import generative
from .covariate_heads import covariate_heads
from .evaluate import evaluate, evaluate_generative_only, site_shift_only
from .rhythm import rhythm
from .run import Run
from .stages import align, finetune, make_data, pretrain_cmr, pretrain_ecg, recalibrate

PIPELINE = ("data", "pretrain-ecg", "pretrain-cmr", "align", "finetune", "rhythm", "tokenizer", "segmenter",
            "generator", "scanner-adapter", "evaluate", "covariate-heads")


def stage_names() -> tuple[str, ...]:
    # calibrate: refit the fine-tuned models' operating points only; evaluate-generative: refresh only the
    # generators' section of the results (a run restored from a bundle has nothing else to score); site-shift:
    # add what each difference of the external site costs the generators (training/site_shift.py)
    return (*PIPELINE, "calibrate", "evaluate-generative", "site-shift", "all")


# What a stage reads that an earlier one makes: prepared regimes (under the recipe's data.root) and the files of
# earlier stages (under the run folder), each with the stage that makes it. Checked before a stage starts, so a
# fresh checkout's first launch says which stage to run first instead of raising FileNotFoundError.
NEEDS: dict[str, tuple[tuple[str, ...], tuple[tuple[str, str], ...]]] = {
    "pretrain-ecg": (("ecg_only", "paired", "downstream"), ()),
    "pretrain-cmr": (("paired",), ()),
    "align": (("paired",), (("pretrain_ecg/encoder", "pretrain-ecg"), ("pretrain_cmr/encoder", "pretrain-cmr"))),
    "finetune": (("downstream",), (("pretrain_ecg/encoder", "pretrain-ecg"), ("pretrain_cmr/encoder", "pretrain-cmr"),
                                   ("align/encoder", "align"))),
    "rhythm": (("ecg_only", "downstream"), ()),
    "calibrate": (("downstream",), (("finetune/aligned/model", "finetune"),)),
    "evaluate": (("downstream",), (("finetune/aligned/model", "finetune"),)),
    "covariate-heads": (("downstream",), (("finetune/aligned/model", "finetune"),)),
    "generator": ((), (("tokenizer/model", "tokenizer"),)),
    "scanner-adapter": ((), (("tokenizer/model", "tokenizer"), ("regression_decoder/model", "generator"))),
}


def missing_prerequisites(stage: str, run_dir: Path, data_root: Path) -> list[str]:
    """Sentences naming what ``stage`` needs and does not find, and the stage that makes it; empty when ready."""
    regimes, files = NEEDS.get(stage, ((), ()))
    missing = [f"the prepared '{regime}' data in {data_root} (run the 'data' stage first)" for regime in regimes
               if not (data_root / regime / "schema.json").is_file()]
    missing += [f"{run_dir / path} (run the '{maker}' stage first)" for path, maker in files
                if not (run_dir / path).exists()]
    return missing


def run_stage(name: str, run: Run, regimes: tuple[str, ...] | None = None) -> None:
    """Run one stage (or "all"); ``regimes`` limits the data stage to those regimes."""
    started = time.perf_counter()
    steps = {
        "data": lambda run: make_data(run, regimes), "pretrain-ecg": pretrain_ecg, "pretrain-cmr": pretrain_cmr,
        "align": align, "finetune": finetune, "rhythm": rhythm, "covariate-heads": covariate_heads,
        "calibrate": recalibrate,
        "tokenizer": generative.tokenizer, "segmenter": generative.segmenter, "generator": generative.generator,
        "scanner-adapter": generative.scanner_adapter, "evaluate": evaluate,
        "evaluate-generative": evaluate_generative_only, "site-shift": site_shift_only,
    }
    if name == "all":
        for step in PIPELINE:
            run_stage(step, run)
    else:
        steps[name](run)
    run.log.write(stage=name, finished=True, seconds=time.perf_counter() - started)



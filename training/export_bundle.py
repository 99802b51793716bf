"""Turn a trained run into a weights bundle that `cardionets.CardioNets.from_pretrained` loads.

    python -m training.export_bundle --config training/configs/default.yaml --out weights --storage-dtype float16

Copies the four models the app uses (the fine-tuned aligned predictor with the reference of its training ECGs'
embeddings for the out-of-distribution score, the cine tokenizer, the generator with its tuned sampler
settings and the lines that measure its cines, the segmenter with its image-phenotype calibration), records
what they were trained on, and seals the folder with a manifest of sha256 checksums. The model card (README.md)
is written from the run's results.json (`training.model_card`); it is not part of the checksums.
"""

from __future__ import annotations

import argparse
import datetime
import json
import shutil
from pathlib import Path

import numpy as np
import torch

from cardionets.bundle import COMPONENTS, MANIFEST_NAME, MODEL_CARD_NAME, OPTIONAL_COMPONENTS, Manifest, seal
from cardionets.cmr.measure import IMAGE_CALIBRATION_FILE
from cardionets.inference import COMPONENT_CLASSES, OPTIONAL_COMPONENT_CLASSES
from cardionets.models.mar_sampler import SAMPLER_FILE, save_sampler_settings
from cardionets.models.predictor import SUBTYPES, CardioNetsPredictor
from cardionets.ood import OOD_REFERENCE_FILE, EmbeddingReference

from .config import load_run_config
from .data.prepared import PreparedDataset
from .distributed import Context
from .evaluate_generative import sampler_settings
from .model_card import write_model_card
from .run import VALIDATION_SHARE, Run, recipe_regimes, split_indices

STORAGE_DTYPES = {"float32": None, "float16": torch.float16}
SOURCES = {"predictor": ("finetune", "aligned/model"), "tokenizer": ("tokenizer", "model"),
           "generator": ("generator", "model"), "segmenter": ("segmenter", "model")}
OPTIONAL_SOURCES = {"scanner_adapter": ("scanner_adapter", "model"),  # exported when the run trained them
                    "rhythm": ("rhythm", "model")}
CLASSES = {**COMPONENT_CLASSES, **OPTIONAL_COMPONENT_CLASSES}


def export(run: Run, out: Path, storage_dtype: torch.dtype | None = None) -> Manifest:
    """Write the bundle; ``storage_dtype`` (float16 for the shipped weights) halves the weight files."""
    folders = {name: run.stage_dir(stage) / folder for name, (stage, folder) in SOURCES.items()}
    with_covariates = run.stage_dir("covariate_heads") / "model"
    if (with_covariates / "config.json").is_file():  # the aligned predictor with its covariate head
        folders["predictor"] = with_covariates
    folders |= {name: path for name, (stage, folder) in OPTIONAL_SOURCES.items()
                if ((path := run.stage_dir(stage) / folder) / "config.json").is_file()}
    missing = [f"{name} ({path})" for name, path in folders.items() if not (path / "config.json").is_file()]
    if missing:
        raise SystemExit(f"{run.directory} lacks trained models: {', '.join(missing)}; run the stages first.")
    if not (folders["segmenter"] / IMAGE_CALIBRATION_FILE).is_file():
        raise SystemExit(f"{folders['segmenter']} has no {IMAGE_CALIBRATION_FILE}; rerun the segmenter stage.")
    out.mkdir(parents=True, exist_ok=True)
    for name in (*COMPONENTS, *OPTIONAL_COMPONENTS):  # an earlier export's files must not linger
        if (out / name).is_dir():
            shutil.rmtree(out / name)
    (out / MANIFEST_NAME).unlink(missing_ok=True)
    for name, source in folders.items():
        shutil.copytree(source, out / name)
        if storage_dtype is not None:
            CLASSES[name].from_pretrained(out / name).save_pretrained(out / name, storage_dtype)
    save_sampler_settings(out / "generator", sampler_settings(run), run.stage_dir("generator") / SAMPLER_FILE)
    generated_lines = run.stage_dir("generator") / IMAGE_CALIBRATION_FILE  # `training.calibrate_generated`
    if generated_lines.is_file():
        shutil.copyfile(generated_lines, out / "generator" / IMAGE_CALIBRATION_FILE)
    fit_ood_reference(run, CardioNetsPredictor.from_pretrained(folders["predictor"])).save(
        out / "predictor" / OOD_REFERENCE_FILE)
    manifest = seal(out, {name: name for name in folders}, metadata(run, folders))
    results = run.results_dir / "results.json"
    if results.is_file():  # the card is outside the checksums: it can be rewritten without re-sealing
        write_model_card(out, json.loads(results.read_text()))
    return manifest


@torch.inference_mode()
def fit_ood_reference(run: Run, predictor: CardioNetsPredictor) -> EmbeddingReference:
    """Embeddings of the training ECGs (paired set, downstream training split) set the reference; the downstream
    calibration share, which no model trained on, sets its 99th-percentile threshold."""
    predictor.to(run.device).eval()

    def embed(prepared: PreparedDataset, rows: np.ndarray) -> np.ndarray:
        return np.concatenate([predictor.encoder.embed(torch.from_numpy(
            prepared.ecg[rows[i:i + 256]].astype(np.float32)).to(run.device)).float().cpu().numpy()
            for i in range(0, len(rows), 256)])

    downstream = run.prepared("downstream")
    train_rows, validation_rows = split_indices(len(downstream), VALIDATION_SHARE, run.config.seed)
    paired = run.prepared("paired")
    train = np.concatenate([embed(paired, np.arange(len(paired))), embed(downstream, train_rows)])
    return EmbeddingReference.fit(train, embed(downstream, np.sort(validation_rows)))


def metadata(run: Run, folders: dict[str, Path]) -> dict:
    predictor = CardioNetsPredictor.from_pretrained(folders["predictor"])
    config = run.config
    return {
        "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "recipe": config.name,
        "schema": {"phenotypes": list(predictor.config.phenotypes), "diseases": list(predictor.config.diseases),
                   "disease_outputs": list(predictor.config.disease_outputs), "subtypes": list(SUBTYPES)},
        "training_data": {
            "source": "CardioNets virtual cohort (simulated subjects; no patient data)",
            "regimes": {regime: getattr(config.data, regime) for regime in recipe_regimes(config.data)},
            "external_site": config.data.external_site,
            "seed": config.seed,
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.export_bundle")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--output", help="run folder (default: the config's)")
    parser.add_argument("--data-root", help="prepared-data folder (default: the config's)")
    parser.add_argument("--out", type=Path, required=True, help="bundle folder to write (e.g. weights)")
    parser.add_argument("--storage-dtype", choices=sorted(STORAGE_DTYPES), default="float32",
                        help="precision of the stored weights (float16: half the size; they load as float32)")
    args = parser.parse_args(argv)
    run = Run(load_run_config(args.config, args.output, args.data_root), Context())
    manifest = export(run, args.out, STORAGE_DTYPES[args.storage_dtype])
    size = sum(path.stat().st_size for path in args.out.rglob("*") if path.is_file())
    card = "written" if (args.out / MODEL_CARD_NAME).is_file() else "none (no results.json: run evaluate first)"
    print(f"wrote {args.out}: {len(manifest.files)} files, {size / 1e6:.1f} MB; model card: {card}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

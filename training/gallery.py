"""Generated cines next to the truth, one held-out subject per disease: docs/generated_gallery.md and its images.

    python -m training.gallery --config training/configs/default.yaml [--out docs]

For each disease (and a healthy subject) the first internal-test subject with that label alone is drawn. Its
picture has two rows per view, the true cine above the generated one, eight frames across one beat; every
generated row carries SYNTHETIC. Beside it: the true phenotypes, the regression head's, and those measured on
the generated cines (mean and SD over the samples), so a reader can judge whether the heart beats like that
disease. An animated GIF of the first sample (both views, SYNTHETIC burned in) goes with each picture.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from cardionets.cmr.export import SYNTHETIC, write_cine_gif
from cardionets.cmr.measure import ImagePhenotypeEstimate
from cardionets.models.mar_sampler import sample_cines
from cardionets.sim.diseases import DISEASES

from .datasets import PreparedTorchDataset
from .evaluate_generative import measured_phenotypes, sampler_settings, trained_run

FRAMES_SHOWN = 8
SCALE = 2
SHOWN_PHENOTYPES = ("lvedv_ml", "lvef_pct", "lvm_g", "rvedv_ml", "lav_max_ml")
SAMPLES = 4


def pick_subjects(labels: np.ndarray, names: tuple[str, ...]) -> dict[str, int]:
    """First subject with each disease alone, and the first with none ("healthy")."""
    known = np.nan_to_num(labels, nan=0.0)
    picks = {}
    if (rows := np.flatnonzero(known.sum(axis=1) == 0)).size:
        picks["healthy"] = int(rows[0])
    for column, name in enumerate(names):
        rows = np.flatnonzero((known[:, column] == 1) & (known.sum(axis=1) == 1))
        if rows.size:
            picks[name] = int(rows[0])
    return picks


def strip(true_cine: np.ndarray, generated: np.ndarray) -> Image.Image:
    """Rows: truth and generated for each view; FRAMES_SHOWN frames across the beat."""
    frames = np.linspace(0, true_cine.shape[1] - 1, FRAMES_SHOWN).round().astype(int)
    rows = []
    for view in range(true_cine.shape[0]):
        for cine in (true_cine, generated):
            rows.append(np.concatenate([cine[view, t] for t in frames], axis=1))
    grey = (np.clip(np.concatenate(rows, axis=0), 0, 1) * 255).astype(np.uint8)
    picture = Image.fromarray(grey).resize((grey.shape[1] * SCALE, grey.shape[0] * SCALE), Image.Resampling.NEAREST)
    draw = ImageDraw.Draw(picture)
    font = ImageFont.load_default(size=14)
    side = true_cine.shape[-1] * SCALE
    for row in range(len(rows)):
        text = f"{SYNTHETIC} (generated)" if row % 2 else "truth"
        draw.text((4, row * side + 2), text, fill=255, font=font, stroke_width=2, stroke_fill=0)
    return picture


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.gallery")
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--output", help="run folder (default: the config's)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args(argv)
    run, models = trained_run(args.config, args.output)
    prepared = run.prepared("internal_test")
    names = tuple(label.removeprefix("label_") for label in prepared.schema.labels)
    picks = pick_subjects(prepared.labels, names)
    folder = args.out / "generated_gallery"
    folder.mkdir(parents=True, exist_ok=True)
    columns = list(prepared.schema.phenotypes)
    settings = sampler_settings(run)
    lines = ["# Generated cines next to the truth", "",
             "Every generated image here is SYNTHETIC: made by the MAR generator from the ECG alone. Held-out "
             "internal-test subjects of the virtual cohort; research use, not for diagnosis. The command also "
             "writes an animated\nGIF of each generated cine (SYNTHETIC burned into every frame) beside the "
             "pictures; they are not committed (about\n0.5 MB each).", "",
             f"Made by `python -m training.gallery --config {args.config}`. Per picture: short axis (truth, then "
             f"generated), then four-chamber (truth, then generated), {FRAMES_SHOWN} frames across one beat. "
             f"Phenotypes measured on the generated cines are the mean ± SD over {SAMPLES} samples "
             f"({settings.autoregressive_steps} autoregressive steps, {settings.diffusion_steps} diffusion steps, "
             f"CFG {settings.cfg_scale}, temperature {settings.temperature}, residual scale "
             f"{settings.residual_scale}).", ""]
    for disease in ("healthy", *DISEASES):
        if disease not in picks:
            continue
        row = picks[disease]
        item = PreparedTorchDataset(prepared, np.array([row]), with_cine=True)[0]
        condition = models.predictor.generator_condition(item["ecg"][None].to(run.device))
        samples = [sample_cines(models.mar, models.tokenizer, condition, replace(settings, seed=seed))[0].cpu().numpy()
                   for seed in range(SAMPLES)]
        estimate = ImagePhenotypeEstimate.from_samples(measured_phenotypes(models, np.stack(samples),
                                                                           models.mar_calibration))
        head = models.predictor.predict(item["ecg"][None].to(run.device))["phenotypes"][0].cpu().numpy()
        truth = item["cine"].numpy()
        strip(truth, samples[0]).save(folder / f"{disease}.png", optimize=True)
        write_cine_gif(np.concatenate(list(samples[0]), axis=2), folder / f"{disease}_{SYNTHETIC}.gif", fps=16)
        lines += [f"## {disease}", "", f"![{disease}: truth and SYNTHETIC generated cine](generated_gallery/{disease}.png)",
                  "", "| phenotype | truth | regression head | measured on generated cines |", "|---|---|---|---|"]
        for name in SHOWN_PHENOTYPES:
            value = float(prepared.phenotypes[row, columns.index(name)])
            lines.append(f"| {name} | {value:.1f} | {head[columns.index(name)]:.1f} | "
                         f"{estimate.mean[name]:.1f} ± {estimate.spread[name]:.1f} |")
        lines.append("")
    (args.out / "generated_gallery.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    raise SystemExit(main())

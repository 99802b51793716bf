"""Which difference of the external site costs the generators their lead over the population mean.

The external site differs from the training sites in its ECG cart and in several properties of its scanner at
once, so `evaluate`'s external column cannot say which of them a score drop comes from. Here the same simulated
hearts (one cohort seed, so the same anatomy, ECG and image noise draws) are imaged at the first training site
with one part of the external site swapped in at a time, and the population mean, the regression decoder and
the MAR are scored on each version as `evaluate` scores them:

    training site                       nothing swapped (the reference row)
    external contrast                   blood and myocardium signal
    external coil shading               strength of the receive-coil shading
    external noise                      Rician noise level
    external pixel size and slicing     pixel size, slice thickness and slice-position error
    external scanner                    all of the above
    external ECG cart                   the cart (rate, filters, mains, noise), the training site's scanner
    external site                       both: the external site itself

The subjects are new draws (a seed no regime of the data stage uses), so no model has seen them.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, fields, replace

import numpy as np
import torch

from cardionets.sim.cohort import CohortConfig
from cardionets.sim.dataset import write_cohort
from cardionets.sim.sites import DEFAULT_SITES, SITES, EcgDevice, Scanner, Site, registered_sites

from .data.prepared import PreparedDataset
from .data.virtual import prepare_virtual
from .datasets import PreparedTorchDataset
from .evaluate_generative import (
    GenerativeModels,
    generate,
    generator_conditions,
    image_scores,
    mean_cine,
    regress,
    sampler_settings,
    stack_items,
    told_scanner_sentence,
)
from .run import Run, generator_training_cines

# What each row takes from the external scanner; everything else stays the training site's.
SCANNER_PARTS = {
    "external contrast": ("blood_intensity", "myocardium_intensity"),
    "external coil shading": ("bias_strength",),
    "external noise": ("noise_sd",),
    "external pixel size and slicing": ("pixel_mm", "slice_mm", "jitter_mm"),
}
REFERENCE = "training site"
# The data stage seeds its regimes data.seed * 100 + 0..5; this offset keeps these subjects apart from all of them.
COHORT_SEED_OFFSET = 50


def site_variants(training: Site, external: Site) -> dict[str, Site]:
    """The rows of the table, each a `Site` with a name of its own (the simulator looks sites up by name)."""
    scanner_fields = {f.name for f in fields(Scanner)}
    covered = {name for parts in SCANNER_PARTS.values() for name in parts}
    if covered != scanner_fields:  # a new scanner property must get a row, or the rows would not add up
        raise ValueError(f"SCANNER_PARTS does not cover the scanner's properties {sorted(scanner_fields - covered)}")
    variants = {REFERENCE: Site(f"{training.name}-site-shift-reference", training.ecg, training.scanner)}
    for label, parts in SCANNER_PARTS.items():
        swapped = replace(training.scanner, **{name: getattr(external.scanner, name) for name in parts})
        variants[label] = Site(f"{training.name}-with-{external.name}-{_slug(label)}", training.ecg, swapped)
    variants["external scanner"] = Site(f"{training.name}-with-{external.name}-scanner", training.ecg,
                                        external.scanner)
    variants["external ECG cart"] = Site(f"{training.name}-with-{external.name}-cart", external.ecg,
                                         training.scanner)
    variants["external site"] = Site(f"{external.name}-site-shift", external.ecg, external.scanner)
    return variants


def changed_properties(site: Site, training: Site) -> list[str]:
    """The cart and scanner properties in which ``site`` differs from ``training`` ("ecg." / "scanner." names)."""
    return [f"{part}.{name}" for part in ("ecg", "scanner")
            for name, value in asdict(getattr(site, part)).items() if getattr(getattr(training, part), name) != value]


def imaged_subjects(run: Run, site: Site, subjects: int) -> PreparedDataset:
    """``subjects`` new simulated subjects imaged at ``site``, prepared as the test splits are (RUN/site_shift/)."""
    data = run.config.data
    folder = run.stage_dir("site_shift") / site.name
    shutil.rmtree(folder, ignore_errors=True)  # never reuse: the folder name does not record the site's values
    config = CohortConfig(seed=data.seed * 100 + COHORT_SEED_OFFSET, sites=(site.name,), n_frames=data.n_frames,
                          with_cmr=True)
    write_cohort(folder / "cohort", subjects, config, workers=1, progress=False)
    prepare_virtual(folder / "cohort", folder / "prepared", with_cine=True, workers=1)
    shutil.rmtree(folder / "cohort")  # the prepared arrays are what is scored
    return PreparedDataset(folder / "prepared")


def score_imaged(run: Run, models: GenerativeModels, population_mean: np.ndarray, prepared: PreparedDataset,
                 seeds: int) -> dict[str, dict[str, float]]:
    """SSIM and PSNR (plain and intensity-matched) of the population mean, the regression decoder and the MAR
    (means over ``seeds`` samples) on ``prepared``'s cines."""
    dataset = PreparedTorchDataset(prepared, np.arange(len(prepared)), with_cine=True)
    truth = stack_items(dataset, "cine").numpy()
    conditions = generator_conditions(models, stack_items(dataset, "ecg"), run.device)
    shifts = models.scanner_shifts(conditions, list(prepared.manifest["site"].values))  # told the row's scanner
    settings = sampler_settings(run)
    outputs = {
        "population_mean": [np.repeat(population_mean[None], len(truth), axis=0)],
        "regression_decoder": [regress(models, conditions, run.device, shifts)],
        "mar": [generate(models, conditions, replace(settings, seed=seed), run.device, shifts)
                for seed in range(seeds)],
    }
    scores = {}
    for name, cines in outputs.items():
        per_sample = [image_scores(cine, truth) for cine in cines]
        scores[name] = {key: float(np.mean([s[key] for s in per_sample]))
                        for key in ("ssim", "psnr_db", "psnr_db_matched")}
    return scores


@torch.no_grad()
def site_shift(run: Run) -> dict | None:
    """The ``site_shift`` section of results.json, or None when the generative stages have not run."""
    models = GenerativeModels.load(run)
    if models is None:
        return None
    config, data = run.config.generative_eval, run.config.data
    training, external = SITES[DEFAULT_SITES[0]], SITES[data.external_site]
    variants = site_variants(training, external)
    population_mean = mean_cine(generator_training_cines(run))
    rows = {}
    with registered_sites(list(variants.values())):
        for label, site in variants.items():
            prepared = imaged_subjects(run, site, config.site_shift_subjects)
            rows[label] = {"changed": changed_properties(site, training),
                           "scores": score_imaged(run, models, population_mean, prepared, config.site_shift_seeds)}
            run.log.write(stage="site-shift", variant=label, **{f"{name}_psnr_db": s["psnr_db"]
                                                                 for name, s in rows[label]["scores"].items()})
    return {"subjects": config.site_shift_subjects, "seeds": config.site_shift_seeds,
            "told_scanner": models.scanner_adapter is not None,
            "training_site": training.name, "external_site": external.name,
            "cohort_seed": data.seed * 100 + COHORT_SEED_OFFSET, "variants": rows}


def site_shift_markdown(section: dict) -> str:
    training, external = section["training_site"], section["external_site"]
    lines = ["# Results, continued: what the external site's differences cost", "",
             "Every generated cine is SYNTHETIC. On the virtual cohort: research use, not for diagnosis.", "",
             *([f"Produced by `{section['command']}`.", ""] if "command" in section else []),
             f"The same {section['subjects']} new simulated subjects (cohort seed {section['cohort_seed']}) imaged "
             f"at the training site `{training}`, then with one part of the external site `{external}` swapped in "
             f"at a time. The MAR's scores are means over {section['seeds']} samples per subject at the default "
             "settings. A lead is the model's PSNR (dB) or SSIM minus the population mean's on the same cines; "
             "matched: after a per-cine gain and offset fit to the truth.", "",
             *([told_scanner_sentence("row"), ""] if section.get("told_scanner") else []),
             "| imaged with | population mean PSNR | regression decoder PSNR | MAR PSNR | decoder lead | MAR lead | "
             "MAR lead, matched | MAR SSIM lead | what changed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for label, row in section["variants"].items():
        s = row["scores"]
        mean, decoder, mar = s["population_mean"], s["regression_decoder"], s["mar"]
        lines.append(
            f"| {label} | {mean['psnr_db']:.2f} | {decoder['psnr_db']:.2f} | {mar['psnr_db']:.2f} | "
            f"{decoder['psnr_db'] - mean['psnr_db']:+.2f} | {mar['psnr_db'] - mean['psnr_db']:+.2f} | "
            f"{mar['psnr_db_matched'] - mean['psnr_db_matched']:+.2f} | {mar['ssim'] - mean['ssim']:+.4f} | "
            f"{_describe(row['changed'])} |")
    return "\n".join(lines) + "\n"


def _describe(changed: list[str]) -> str:
    """["ecg.fs_hz", ..., "scanner.noise_sd"] -> "the whole cart, noise_sd": a part that changed entirely is named
    once."""
    parts = {"ecg": ("cart", EcgDevice), "scanner": ("scanner", Scanner)}
    words = []
    for prefix, (noun, kind) in parts.items():
        names = [item.split(".", 1)[1] for item in changed if item.startswith(prefix + ".")]
        if names and len(names) == len(fields(kind)):
            words.append(f"the whole {noun}")
        else:
            words += names
    return ", ".join(words) or "-"


def _slug(label: str) -> str:
    return label.removeprefix("external ").replace(" ", "-")

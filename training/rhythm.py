"""Train the rhythm branch (`cardionets.models.rhythm`): atrial fibrillation from the RR series and the P wave.

    python -m training rhythm                       # a stage of a run: its ECG-only and downstream training ECGs
    python -m training.rhythm --n 4000 --bundle weights   # standalone: a fresh ECG-only simulated cohort, the
                                                          # model added to (or replaced in) an existing bundle

The rhythm of each training ECG is read exactly as the app reads an upload (`cardionets.ecg.rhythm`); a logistic
regression on the three `rhythm_features` is fitted on 80 % of them and its call threshold set on the other 20 %
to keep 98 % specificity (TARGET_SPECIFICITY), with Wilson CIs on the sensitivity and specificity there. Not
Youden's J as for the predictor's heads: AF is common and a false AF call starts anticoagulation talk, so the
call favours specificity, and on irregular rhythms without P waves it loses little sensitivity. It learns
from simulated ECGs only, whose RR statistics and f waves were matched to real ones (docs/realism.md), so every
real development ECG stays held out: `python -m training evaluate-real` measures it on them.
"""

from __future__ import annotations

import argparse
import json
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch

from cardionets import metrics
from cardionets.bundle import add_component
from cardionets.ecg import ECG, MODEL_FS_HZ, STANDARD_LEADS, ECGMetadata, MeasurementError
from cardionets.ecg.rhythm import RhythmRead, read_rhythm
from cardionets.models.rhythm import RhythmModel, rhythm_features

from .run import VALIDATION_SHARE, Run, split_indices

COMPONENT = "rhythm"
TARGET_SPECIFICITY = 0.98


def read_or_none(ecg: ECG) -> RhythmRead | None:
    try:
        return read_rhythm(ecg)
    except (MeasurementError, ValueError):
        return None  # too few beats to read a rhythm: left out of training, as the app withholds its AF call


def fit_rhythm_model(reads: list[RhythmRead | None], af: np.ndarray, seed: int, trained_on: str) -> RhythmModel:
    """The logistic rhythm model on the readable ``reads`` with labels ``af`` (1 = AF), its threshold and
    operating figures from a held-back validation share."""
    from sklearn.linear_model import LogisticRegression

    readable = np.array([read is not None for read in reads])
    features = np.stack([rhythm_features(read) for read in reads if read is not None])
    labels = np.asarray(af, dtype=int)[readable]
    if labels.min() == labels.max():
        raise ValueError("The rhythm model needs ECGs with and without atrial fibrillation.")
    train, validation = split_indices(len(labels), VALIDATION_SHARE, seed)
    mean, std = features[train].mean(axis=0), features[train].std(axis=0) + 1e-6
    fitted = LogisticRegression(C=1.0).fit((features[train] - mean) / std, labels[train])
    model = RhythmModel.from_logistic(fitted.coef_[0], fitted.intercept_[0], mean, std, trained_on=trained_on)
    with torch.no_grad():
        scores = model(torch.from_numpy(features[validation]).float()).numpy()
    threshold = metrics.threshold_at_specificity(labels[validation], scores, TARGET_SPECIFICITY)
    called, truth = scores >= threshold, labels[validation] == 1
    sensitivity = metrics.wilson_ci(int((called & truth).sum()), int(truth.sum()))
    specificity = metrics.wilson_ci(int((~called & ~truth).sum()), int((~truth).sum()))
    model.config.threshold = float(threshold)
    model.config.sensitivity, model.config.specificity = sensitivity.point, specificity.point
    model.config.sensitivity_ci = (sensitivity.low, sensitivity.high)
    model.config.specificity_ci = (specificity.low, specificity.high)
    return model


# --- a stage of a run ----------------------------------------------------------------------------------------------
def rhythm(run: Run) -> Path:
    """Fit on the run's ECG-only regime and the downstream training split (the predictor's validation share and
    the test splits stay unseen); saved to RUN/rhythm/model."""
    parts = [(run.prepared("ecg_only"), None), (run.prepared("downstream"), "train")]
    reads, af = [], []
    for prepared, split in parts:
        rows = np.arange(len(prepared)) if split is None else split_indices(
            len(prepared), VALIDATION_SHARE, run.config.seed)[0]
        column = prepared.schema.labels.index("label_af")
        for row in rows:
            view = np.asarray(prepared.ecg[row], np.float32)  # the model view: 500 Hz, 10 s, filtered
            reads.append(read_or_none(ECG(view, MODEL_FS_HZ, ECGMetadata("prepared", MODEL_FS_HZ, STANDARD_LEADS))))
            af.append(prepared.labels[row, column])
    folder = run.stage_dir("rhythm") / "model"
    if run.context.is_main:
        model = fit_rhythm_model(reads, np.nan_to_num(np.asarray(af, float)), run.config.seed,
                                 f"the run's simulated ECG-only and downstream training ECGs ({len(reads)})")
        model.save_pretrained(folder)
        run.log.write(stage="rhythm", done=True, threshold=model.config.threshold,
                      sensitivity=model.config.sensitivity, specificity=model.config.specificity)
    return folder


# --- standalone: a fresh simulated cohort, into a bundle ----------------------------------------------------------
def _simulated_reads(args: tuple[int, int, int, float]) -> list[tuple[RhythmRead | None, int]]:
    from cardionets.sim.cohort import CohortConfig, simulate_subject
    from cardionets.sim.diseases import DEFAULT_PREVALENCE

    seed, start, count, af_share = args
    config = CohortConfig(seed=seed, with_cmr=False, prevalence={**DEFAULT_PREVALENCE, "af": af_share})
    out = []
    for index in range(start, start + count):
        subject = simulate_subject(index, config)
        out.append((read_or_none(subject.device_ecg), int(subject.row["label_af"])))
    return out


def simulated_rhythm_data(n: int, seed: int, af_share: float, workers: int) -> tuple[list, np.ndarray]:
    chunks = [(seed, start, min(250, n - start), af_share) for start in range(0, n, 250)]
    with ProcessPoolExecutor(workers) as pool:
        pairs = [pair for chunk in pool.map(_simulated_reads, chunks) for pair in chunk]
    return [read for read, _ in pairs], np.array([label for _, label in pairs])



def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m training.rhythm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=4000, help="simulated ECGs (default 4000)")
    parser.add_argument("--af-share", type=float, default=0.3, help="share with AF (default 0.3)")
    parser.add_argument("--seed", type=int, default=23)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--bundle", type=Path, default=None, help="add the model to this bundle folder")
    parser.add_argument("--out", type=Path, default=None, help="or save it to this folder")
    args = parser.parse_args(argv)
    reads, af = simulated_rhythm_data(args.n, args.seed, args.af_share, args.workers)
    trained_on = (f"{len(reads)} simulated ECGs of the virtual cohort (training sites, seed {args.seed}, "
                  f"{args.af_share:.0%} with AF, the other diseases at their default prevalence)")
    model = fit_rhythm_model(reads, af, args.seed, trained_on)
    if args.bundle:
        add_component(args.bundle, COMPONENT, model)
    if args.out:
        model.save_pretrained(args.out)
    print(json.dumps({"unreadable": int(sum(read is None for read in reads)), **{
        key: getattr(model.config, key) for key in ("threshold", "sensitivity", "specificity", "sensitivity_ci",
                                                    "specificity_ci", "trained_on")}}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The out-of-distribution reference (`cardionets.ood.EmbeddingReference`) fitted on real and simulated ECGs
together, so that a real healthy adult is not "unlike the training ECGs" merely for being recorded from a person.

    python -m training.real_ood [--bundle weights] [--data ../shared/data/real-ecg] [--simulated 2000] [--dry-run]

Fitted on the encoder's embeddings of simulated adults of the training sites, drawn as the cohort draws them
(most of them healthy), and of the real healthy adults of the tuning sets (PTB-XL, CinC 2021). The threshold is
the 99th percentile of held-out ECGs of both kinds: a fifth of the simulated ones and a patient-grouped fifth of
the real ones, which the mean and covariance did not see. Nothing else in the bundle changes: the reference reads
the encoder's embedding only.

What it is worth is measured on patients it did not learn from (FOLDS-fold CV grouped by patient): the share of
held-out real healthy adults and of real AF, MI and LVH flagged. A wider reference must not silence the warnings
that matter, so the same is measured, with the shipped reference and the new one, for what must still be warned
(by the embedding score, the quality check or the age and pacing rules): real paced and paediatric records, and
real healthy ECGs with three chest leads lost, stored at 50 Hz, or buried in noise.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.model_selection import GroupKFold, GroupShuffleSplit

from cardionets.bundle import Manifest, seal
from cardionets.ecg import ECG, STANDARD_LEADS
from cardionets.ecg.errors import ECGError
from cardionets.ecg.load import load
from cardionets.ecg.resample import resample
from cardionets.inference import CardioNets
from cardionets.ood import OOD_REFERENCE_FILE, UNUSUAL_SCORE, EmbeddingReference
from cardionets.preparation import prepare_ecg

from .evaluate_real import FOLDS, TUNING_SETS, bundle_command_parser, wilson_share
from .real_findings import real_inputs

SECTION = "real_ood"
SIMULATED = 2000
SIMULATION_SEED = 4242  # not a seed any training regime uses
HELD_OUT_SHARE = 0.2  # of each kind, for the threshold
BATCH = 64
FINDINGS = ("af", "mi", "lvh")
STRESS_CASES = 60  # real healthy adults per degradation
DEGRADED_LEADS = ("V2", "V4", "V6")
LOW_RATE_HZ = 50.0
NOISE_MV = 0.3


def simulated_embeddings(model: CardioNets, n: int, seed: int) -> np.ndarray:
    """(n, E) embeddings of simulated adults of the training sites, through the app's own preparation."""
    from cardionets.sim.cohort import CohortConfig, simulate_subject

    config = CohortConfig(seed=seed, with_cmr=False)
    views = []
    for index in range(n):
        subject = simulate_subject(index, config)
        prepared = prepare_ecg(subject.device_ecg, subject.row["sex"], float(subject.row["age"]),
                               with_measurements=False)
        if prepared.view is not None:
            views.append(prepared.view)
    return _embed(model, views)


def _embed(model: CardioNets, views: list[np.ndarray]) -> np.ndarray:
    chunks = []
    with torch.inference_mode():
        for start in range(0, len(views), BATCH):
            batch = torch.from_numpy(np.stack(views[start:start + BATCH])).to(model.device)
            chunks.append(model.predictor.encoder.embed(batch).float().cpu().numpy())
    return np.concatenate(chunks)


def fit_reference(simulated: np.ndarray, real: np.ndarray, real_groups: np.ndarray, seed: int) -> EmbeddingReference:
    """Mean and covariance from four fifths of each kind, threshold from the other fifth of each (the real ones
    split by patient)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(simulated))
    n_held = int(round(HELD_OUT_SHARE * len(simulated)))
    fit_rows, threshold_rows = next(GroupShuffleSplit(1, test_size=HELD_OUT_SHARE, random_state=seed).split(
        real, groups=real_groups))
    return EmbeddingReference.fit(np.concatenate([simulated[order[n_held:]], real[fit_rows]]),
                                  np.concatenate([simulated[order[:n_held]], real[threshold_rows]]))


def held_out_flags(simulated: np.ndarray, table: pd.DataFrame, embeddings: np.ndarray, seed: int) -> np.ndarray:
    """(N,) bool: each real record flagged by the reference of the fold that did not see its patient (records
    that are not healthy are never in a reference, so every fold's verdict on them is held out; the first is kept)."""
    healthy = (table["healthy"] == 1).to_numpy()
    groups = table["patient"].to_numpy()
    flagged = np.full(len(table), np.nan)
    for fold, (train, test) in enumerate(GroupKFold(FOLDS).split(embeddings, groups=groups)):
        train = train[healthy[train]]
        reference = fit_reference(simulated, embeddings[train], groups[train], seed + fold)
        unset = test[np.isnan(flagged[test])]
        flagged[unset] = reference.score(embeddings[unset]) > UNUSUAL_SCORE
    return flagged.astype(bool)


def _shares(table: pd.DataFrame, flagged: np.ndarray) -> dict:
    rows = {"healthy adults": (table["healthy"] == 1).to_numpy()}
    rows |= {name.upper(): (table[name] == 1).to_numpy() for name in FINDINGS}
    return {name: wilson_share(pd.Series(flagged[mask])) for name, mask in rows.items() if mask.any()}


# --- what must still be warned -------------------------------------------------------------------------------------
def _without_leads(record: ECG) -> ECG:
    signal = record.signal_mv.copy()
    for lead in DEGRADED_LEADS:
        signal[STANDARD_LEADS.index(lead)] = 0.0
    return record.with_signal(signal)


def _low_rate(record: ECG) -> ECG:
    """As a cart storing LOW_RATE_HZ would have written it."""
    low = resample(record, LOW_RATE_HZ)
    return ECG(low.signal_mv, low.fs_hz, dataclasses.replace(low.meta, original_fs_hz=low.fs_hz))


def _noisy(record: ECG, seed: int) -> ECG:
    rng = np.random.default_rng(seed)
    return record.with_signal((record.signal_mv + rng.normal(0.0, NOISE_MV, record.signal_mv.shape)).astype(
        np.float32))


def stress_cases(data: Path, seed: int) -> dict[str, list[tuple[ECG, str | None, float | None]]]:
    """{case: [(record, sex, age)]}: the real ECGs whose warning must survive a wider reference."""
    from cardionets.ecg.real_sets import real_ecg_table

    table = real_ecg_table(data, TUNING_SETS)
    rng = np.random.default_rng(seed)

    def records(rows: pd.DataFrame) -> list[tuple[ECG, str | None, float | None]]:
        out = []
        for _, row in rows.iterrows():
            try:
                out.append((load(row["record"]), row["sex"] if isinstance(row["sex"], str) else None,
                            None if pd.isna(row["age_years"]) else float(row["age_years"])))
            except ECGError:
                continue
        return out

    healthy = table[table["healthy"] == 1]
    sample = records(healthy.iloc[rng.permutation(len(healthy))[:STRESS_CASES]])
    return {
        "paced": records(table[table["paced"] == 1]),
        "paediatric (under 18)": records(table[table["age_years"] < 18]),
        f"{', '.join(DEGRADED_LEADS)} lost": [(_without_leads(r), s, a) for r, s, a in sample],
        f"stored at {LOW_RATE_HZ:g} Hz": [(_low_rate(r), s, a) for r, s, a in sample],
        f"noise {NOISE_MV:g} mV SD": [(_noisy(r, seed + i), s, a) for i, (r, s, a) in enumerate(sample)],
        "healthy, unchanged": sample,
    }


def warned_shares(model: CardioNets, cases: dict) -> dict[str, dict]:
    """{case: {"any warning", "embedding score"}}: shares of each case's records the app warns about (the
    out-of-distribution flag, a quality-check warning or rejection) and flagged by the embedding score alone."""
    out = {}
    for name, items in cases.items():
        if not items:
            continue
        results = model.predict_records([r for r, _, _ in items], [s for _, s, _ in items], [a for _, _, a in items])
        warned = [result.ood.out_of_distribution or result.qc["verdict"] != "ok" for result in results]
        scored = [result.ood.score is not None and result.ood.score > UNUSUAL_SCORE for result in results]
        out[name] = {"any warning": wilson_share(pd.Series(warned)), "embedding score": wilson_share(
            pd.Series(scored))}
    return out


# --- the command ---------------------------------------------------------------------------------------------------
def real_ood(model: CardioNets, data: Path, n_simulated: int = SIMULATED,
             seed: int = SIMULATION_SEED) -> tuple[EmbeddingReference, dict]:
    from cardionets.ecg.real_sets import real_ecg_table

    started = time.perf_counter()
    table, embeddings, _ = real_inputs(model, real_ecg_table(data, TUNING_SETS))
    simulated = simulated_embeddings(model, n_simulated, seed)
    healthy = (table["healthy"] == 1).to_numpy()
    reference = fit_reference(simulated, embeddings[healthy], table["patient"].to_numpy()[healthy], seed)
    shipped_flags = model.ood_reference.score(embeddings) > UNUSUAL_SCORE
    cases = stress_cases(data, seed)
    widened = copy.copy(model)
    widened.ood_reference = reference
    section = {
        "simulated": int(len(simulated)), "real_healthy": int(healthy.sum()), "sets": list(TUNING_SETS),
        "folds": FOLDS, "held_out_share": HELD_OUT_SHARE,
        "flagged": {"shipped reference (simulated only)": _shares(table, shipped_flags),
                    "real + simulated, held out by patient": _shares(
                        table, held_out_flags(simulated, table, embeddings, seed))},
        "warnings": {"shipped reference": warned_shares(model, cases), "real + simulated": warned_shares(widened,
                                                                                                         cases)},
    }
    section["seconds"] = time.perf_counter() - started
    return reference, section


def apply_to_bundle(bundle: Path, reference: EmbeddingReference, section: dict) -> Manifest:
    manifest = Manifest.read(bundle)
    reference.save(bundle / manifest.components["predictor"] / OOD_REFERENCE_FILE)
    note = {"fitted_on": f"{section['simulated']} simulated adults of the training sites and "
                         f"{section['real_healthy']} real healthy adults of {', '.join(section['sets'])} "
                         "(python -m training.real_ood)"}
    return seal(bundle, manifest.components, manifest.metadata | {SECTION: note})


def main(argv: list[str] | None = None) -> int:
    parser = bundle_command_parser("python -m training.real_ood", __doc__)
    parser.add_argument("--simulated", type=int, default=SIMULATED)
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        raise SystemExit(f"No real ECG data at {args.data}: give --data (see ../shared/data/README.md)")
    reference, section = real_ood(CardioNets.from_pretrained(args.bundle), args.data, args.simulated)
    section["command"] = "python -m training.real_ood" + (" " + " ".join(argv) if argv else "")
    if not args.dry_run:
        apply_to_bundle(args.bundle, reference, section)
    from .evaluate import write_results_section  # it loads every model: only the command needs it

    write_results_section(args.out, SECTION, section)
    print(json.dumps(section, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

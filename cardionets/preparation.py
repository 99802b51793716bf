"""Everything done to one ECG before the models see it: quality, measurements, pacing, the model view.

Kept free of torch and the models so that screening's worker processes import it in a fraction of a second
(`cardionets.screening` preloads it in the fork server); `CardioNets.predict_prepared` turns what it makes
into results.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .covariates import covariate_values
from .ecg import ECG, load, model_view
from .ecg.errors import ECGError
from .ecg.pacing import PacingEvidence, detect_pacing
from .ecg.summary import summarize


@dataclass
class PreparedECG:
    """What the models need from one ECG, made without them, so screening workers can make it in parallel."""

    summary: dict  # `cardionets.ecg.summary.summarize`: quality, measurements (unless skipped), cart's values
    view: np.ndarray | None  # the (12, 5000) model view; None when the quality gate rejected the ECG
    pacing: PacingEvidence
    sex: str | None
    age_years: float | None
    prepare_ms: float
    # `cardionets.covariates.COVARIATES` of this ECG (NaN = unknown) for the covariate head; None when rejected
    covariates: np.ndarray | None = None
    height_cm: float | None = None
    weight_kg: float | None = None


def prepare_ecg(record: ECG, sex: str | None = None, age_years: float | None = None,
                with_measurements: bool = True) -> PreparedECG:
    """Quality, measurements, pacing and the model view of one ECG; ``sex`` and ``age_years`` override the
    file's."""
    started = time.perf_counter()
    summary = summarize(record, with_measurements)
    view = model_view(record) if summary["qc"]["verdict"] != "reject" else None
    sex = sex or record.meta.sex
    age_years = age_years if age_years is not None else record.meta.age_years
    covariates = None if view is None else covariate_values(view, age_years, sex, record.meta.height_cm,
                                                            record.meta.weight_kg)
    return PreparedECG(summary, view, detect_pacing(record), sex, age_years, 1000 * (time.perf_counter() - started),
                       covariates, record.meta.height_cm, record.meta.weight_kg)


def prepare_file(path: Path, read: Callable[[Path], ECG] = load) -> PreparedECG | str:
    """One file read (by ``read``) and prepared for the models, or the reason it cannot be used (never raises: a
    screen never stops on one file)."""
    try:
        return prepare_ecg(read(path), with_measurements=False)
    except ECGError as error:
        return str(error)
    except Exception as error:  # noqa: BLE001 - the reason goes in the file's row
        return f"could not be read ({type(error).__name__}: {error})"

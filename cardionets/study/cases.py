"""The case sets a study can use: the shipped virtual-cohort samples by default (their truth from
``samples/manifest.csv``), each with its ECG file and its real (simulated-acquired) two-view cine."""

from __future__ import annotations

from pathlib import Path

from ..samples import virtual_samples
from ..workspace import REPO_ROOT
from .design import DIAGNOSES
from .store import StudyCase

STUDY_LABELS = tuple(label for label in DIAGNOSES if label != "normal")  # the manifest's label_<name> columns


def shipped_cases() -> list[StudyCase]:
    """One case per committed sample whose diagnosis is one of the study's (the AF sample has no structural
    diagnosis among them and is left out); a subject with no label is normal."""
    cases = []
    for row in virtual_samples().to_dict("records"):
        positive = [label for label in STUDY_LABELS if str(row.get(f"label_{label}", 0)) in ("1", "1.0", "True")]
        if str(row.get("label_af", 0)) in ("1", "1.0", "True") and not positive:
            continue
        truth = positive[0] if positive else "normal"
        cases.append(StudyCase(row["sample"], truth, {role: _portable(row[column]) for role, column in (
            ("ecg", "ecg_file"), ("cine_sax", "sax_cine"), ("cine_4ch", "4ch_cine"))}))
    return cases


def material_path(path: str) -> Path:
    """A case file as stored (relative to the repository when it lies inside it) on this machine."""
    return Path(path) if Path(path).is_absolute() else REPO_ROOT / path


def _portable(path: str) -> str:
    """Inside the repository, stored relative to it, so a study survives the app moving to another folder."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)

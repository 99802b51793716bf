"""The case sets a study can use: the shipped virtual-cohort samples by default (their truth from
``samples/manifest.csv``), each with its ECG file and its real (simulated-acquired) two-view cine; or an
organiser's own cases, imported from a zip (`import_cases`)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Callable
from pathlib import Path

from ..ecg import ECG, ECGError, load
from ..samples import virtual_samples
from ..workspace import REPO_ROOT
from .design import DIAGNOSES
from .store import StudyCase, StudyError

CASES_FILE = "cases.csv"  # in an imported zip: key, diagnosis, ecg[, cine_sax, cine_4ch], paths inside the zip
MATERIAL_COLUMNS = ("ecg", "cine_sax", "cine_4ch")

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


def material_key(study: str, case: StudyCase) -> str:
    """What the app may cache a case's printout, prediction and cine under: the study, the case and a hash of
    every material file's bytes. Case keys repeat across studies (two studies' "case-1"), and an organiser may
    re-import a case with other files, so neither the key alone nor the paths can name what is shown."""
    hasher = hashlib.sha256(f"{study}\0{case.key}".encode())
    for role in sorted(case.material):
        content = hashlib.sha256(material_path(case.material[role]).read_bytes()).digest()
        hasher.update(f"\0{role}\0".encode() + content)
    return f"study-{hasher.hexdigest()}"


def _portable(path: str) -> str:
    """Inside the repository, stored relative to it, so a study survives the app moving to another folder."""
    resolved = Path(path).resolve()
    return str(resolved.relative_to(REPO_ROOT)) if resolved.is_relative_to(REPO_ROOT) else str(resolved)


def import_cases(archive: bytes, folder: Path, read: Callable[[Path], ECG] = load) -> list[StudyCase]:
    """An organiser's cases from a zip holding ``cases.csv`` (columns ``key``, ``diagnosis`` and ``ecg``, and
    optionally ``cine_sax``/``cine_4ch`` NIfTI cines; paths relative to the zip) and the files it names. The
    zip is unpacked into ``folder`` (kept: readers need the files for the whole study) with the same guards
    as a screening upload, and every ECG is read once now (by ``read``: the app passes its isolated reader's), so
    a bad file is refused before the study starts."""
    from ..screening import extract_archive  # screening imports the models; only importing needs it

    try:
        root, skipped = extract_archive(archive, Path(folder))
    except ECGError as error:
        raise StudyError(str(error)) from None
    if skipped:  # a study's cases must all be there: refuse rather than start with some missing
        entry, reason = skipped[0]
        raise StudyError(f"The zip's entry {entry!r} could not be unpacked: {reason}.")
    table = next(root.rglob(CASES_FILE), None)
    if table is None:
        raise StudyError(f"The zip has no {CASES_FILE} (columns: key, diagnosis, ecg, and optionally cine_sax, "
                         "cine_4ch).")
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8-sig"))))
    cases = []
    for line, row in enumerate(rows, start=2):
        key, truth = (row.get("key") or "").strip(), (row.get("diagnosis") or "").strip().lower()
        if not key or truth not in DIAGNOSES:
            raise StudyError(f"{CASES_FILE} line {line}: needs a key and a diagnosis among {sorted(DIAGNOSES)}.")
        material = {}
        for role in MATERIAL_COLUMNS:
            if (row.get(role) or "").strip():
                path = (table.parent / row[role].strip()).resolve()
                if not path.is_relative_to(root) or not path.is_file():
                    raise StudyError(f"{CASES_FILE} line {line}: {row[role]!r} is not a file in the zip.")
                material[role] = str(path)
        if "ecg" not in material:
            raise StudyError(f"{CASES_FILE} line {line}: every case needs its ECG file.")
        try:
            read(Path(material["ecg"]))
        except ECGError as error:
            raise StudyError(f"{CASES_FILE} line {line}: the ECG of case {key!r} cannot be read: {error}") from None
        cases.append(StudyCase(key, truth, material))
    if not cases:
        raise StudyError(f"{CASES_FILE} lists no cases.")
    return cases

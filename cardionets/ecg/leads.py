"""Lead names, aliases and the derivation of the limb leads.

Every reader hands :func:`assemble_12_lead` whatever leads its file holds, under whatever names the vendor used;
this module is the one place that knows how to turn them into the standard 12 leads.
"""

from __future__ import annotations

import re

import numpy as np

from .errors import CorruptFileError, MissingLeadsError

STANDARD_LEADS: tuple[str, ...] = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
LIMB_LEADS = STANDARD_LEADS[:6]
PRECORDIAL_LEADS = STANDARD_LEADS[6:]

# Vendor spellings, after upper-casing and stripping "lead", spaces, dashes and underscores.
_ALIASES = {
    "I": "I", "1": "I", "DI": "I", "LEADI": "I", "EINTHOVENI": "I", "MDCECGLEADI": "I",
    "II": "II", "2": "II", "DII": "II", "MDCECGLEADII": "II",
    "III": "III", "3": "III", "DIII": "III", "MDCECGLEADIII": "III",
    "AVR": "aVR", "MDCECGLEADAVR": "aVR",
    "AVL": "aVL", "MDCECGLEADAVL": "aVL",
    "AVF": "aVF", "MDCECGLEADAVF": "aVF",
}
for _n in range(1, 7):
    for _spelling in (f"V{_n}", f"C{_n}", f"MDCECGLEADV{_n}", f"CHESTV{_n}"):
        _ALIASES[_spelling] = f"V{_n}"


def canonical_lead_name(name: str) -> str | None:
    """Map a vendor's lead label ("Lead I (Einthoven)", "MDC_ECG_LEAD_AVR", "C1", "avf") to a standard name.

    Returns None for leads that are not part of the standard 12 (e.g. "V4R", "X", "Pleth").
    """
    text = re.sub(r"\(.*?\)", "", str(name)).upper()
    text = re.sub(r"[\s_\-.:]", "", text)
    for prefix in ("LEAD", "ECG", "EKG"):  # "Lead II", "ECG V1", "EKG aVF" (EDF labels)
        if text.startswith(prefix) and text != prefix:
            text = text[len(prefix):]
    return _ALIASES.get(text)


def default_lead_names(count: int) -> list[str]:
    """Names for unlabelled rows or columns: 12 in standard order, or 8 as I, II, V1-V6 (many research exports).

    Any other count cannot be named safely; fewer than 8 cannot make a 12-lead ECG at all.
    """
    if count == len(STANDARD_LEADS):
        return list(STANDARD_LEADS)
    if count == 8:
        return ["I", "II", *PRECORDIAL_LEADS]
    if count < 8:
        raise MissingLeadsError(f"The data holds {count} unlabelled lead(s); a 12-lead ECG is needed.")
    raise CorruptFileError(
        f"The data holds {count} unlabelled leads; only 12 (standard order) or 8 (I, II, V1-V6) can be named "
        "without labels. Add lead names (a header row, or 'leads' in an .npz)."
    )


def derive_limb_leads(leads: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], list[str]]:
    """Complete the six limb leads from any two of I, II and III (Einthoven and Goldberger equations).

    Returns the completed mapping and the names that were computed rather than recorded.
    """
    out = dict(leads)
    derived: list[str] = []

    def put(name: str, value: np.ndarray) -> None:
        out[name] = value
        derived.append(name)

    if "I" not in out and {"II", "III"} <= out.keys():
        put("I", out["II"] - out["III"])
    if "II" not in out and {"I", "III"} <= out.keys():
        put("II", out["I"] + out["III"])
    if {"I", "II"} <= out.keys():
        lead_i, lead_ii = out["I"], out["II"]
        if "III" not in out:
            put("III", lead_ii - lead_i)
        if "aVR" not in out:
            put("aVR", -(lead_i + lead_ii) / 2)
        if "aVL" not in out:
            put("aVL", lead_i - lead_ii / 2)
        if "aVF" not in out:
            put("aVF", lead_ii - lead_i / 2)
    return out, derived


def assemble_12_lead(named_signals: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str], list[str]]:
    """Stack signals given under any lead names into a (12, n_samples) float32 array in standard order.

    Leads that cannot be recorded or derived are left as zeros and reported as missing; the quality gate judges
    whether the ECG is still usable. Raises MissingLeadsError when there are no two limb leads to build from,
    since then neither the frontal axis nor half of the 12 leads exist.

    Returns (signal, derived lead names, missing lead names).
    """
    by_name: dict[str, np.ndarray] = {}
    for raw_name, values in named_signals.items():
        name = canonical_lead_name(raw_name)
        if name is not None and name not in by_name:
            by_name[name] = np.asarray(values, dtype=np.float64)
    if not by_name:
        found = ", ".join(map(str, named_signals)) or "none"
        raise MissingLeadsError(f"No standard ECG lead was found in this file (leads found: {found}).")
    completed, derived = derive_limb_leads(by_name)
    if not {"I", "II"} <= completed.keys():
        have = ", ".join(name for name in STANDARD_LEADS if name in by_name)
        raise MissingLeadsError(
            f"This file holds only {len(by_name)} standard lead(s) ({have}). A 12-lead ECG needs at least two of "
            "the limb leads I, II and III plus the chest leads V1-V6."
        )
    n_samples = min(len(v) for v in completed.values())
    signal = np.zeros((len(STANDARD_LEADS), n_samples), dtype=np.float32)
    missing: list[str] = []
    for row, name in enumerate(STANDARD_LEADS):
        if name in completed:
            signal[row] = completed[name][:n_samples]
        else:
            missing.append(name)
    return signal, derived, missing

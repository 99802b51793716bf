"""What every writer takes: a 12-lead recording with the facts a cart stores next to it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from cardionets.ecg.leads import STANDARD_LEADS

# What a cart typically stores beside the waveform; the writers put these in each vendor's own fields.
EXAMPLE_MEASUREMENTS = {
    "hr_bpm": 61, "rr_ms": 982, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370, "qtc_bazett_ms": 371,
    "qtc_fridericia_ms": 369, "p_axis_deg": 74, "qrs_axis_deg": 52, "t_axis_deg": 57,
}
EXAMPLE_STATEMENTS = ["Sinus rhythm", "Borderline T wave abnormalities", "Borderline ECG"]


@dataclass
class Recording:
    """A 12-lead ECG in mV with demographics, device measurements (MEASUREMENT_KEYS) and statements."""

    signal_mv: np.ndarray  # (12, n_samples), STANDARD_LEADS order
    fs_hz: int
    age_years: int
    sex: str  # "M" or "F"
    height_cm: int
    weight_kg: int
    measurements: dict[str, int] = field(default_factory=dict)
    interpretation: list[str] = field(default_factory=list)

    @property
    def duration_ms(self) -> int:
        return round(self.signal_mv.shape[1] * 1000 / self.fs_hz)

    def counts(self, uv_per_count: float) -> np.ndarray:
        """The signal quantised to integer ADC counts, (12, n_samples) int64."""
        return np.round(self.signal_mv * 1000.0 / uv_per_count).astype(np.int64)

    def lead_counts(self, uv_per_count: float) -> dict[str, np.ndarray]:
        return dict(zip(STANDARD_LEADS, self.counts(uv_per_count), strict=True))


def add(parent: ET.Element, tag: str, text: object = None, **attributes: str) -> ET.Element:
    """Append a child element with optional text; attribute names may carry a prefix (``**{"xsi:type": "PQ"}``)."""
    child = ET.SubElement(parent, tag, attributes)
    if text is not None:
        child.text = str(text)
    return child


def document(root: ET.Element, encoding: str = "UTF-8", doctype: str | None = None) -> bytes:
    """Serialise with an XML declaration (and DOCTYPE line), indented like vendor exports."""
    ET.indent(root, space="  ")
    head = f'<?xml version="1.0" encoding="{encoding}"?>\n' + (f"{doctype}\n" if doctype else "")
    return (head + ET.tostring(root, encoding="unicode") + "\n").encode(encoding)

"""What the writers share: a 12-lead recording with the facts a cart stores next to it, ADC quantisation and
XML helpers."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

import numpy as np

from ..leads import STANDARD_LEADS
from ..record import ECG

# -32768 is left out: WFDB reserves it for missing samples and some readers follow suit.
INT16_LIMIT = 32767

# What a cart typically stores beside the waveform; the writers put these in each vendor's own fields.
EXAMPLE_MEASUREMENTS = {
    "hr_bpm": 61, "rr_ms": 982, "pr_ms": 161, "qrs_ms": 75, "qt_ms": 368, "qtc_ms": 370, "qtc_bazett_ms": 371,
    "qtc_fridericia_ms": 369, "p_axis_deg": 74, "qrs_axis_deg": 52, "t_axis_deg": 57,
}
EXAMPLE_STATEMENTS = ["Sinus rhythm", "Borderline T wave abnormalities", "Borderline ECG"]


@dataclass
class Recording:
    """A 12-lead ECG in mV with demographics, device measurements (MEASUREMENT_KEYS) and statements.

    Demographics are None when unknown; writers then leave the field out, as carts do.
    """

    signal_mv: np.ndarray  # (12, n_samples), STANDARD_LEADS order
    fs_hz: int
    age_years: int | None
    sex: str | None  # "M" or "F"
    height_cm: int | None
    weight_kg: int | None
    measurements: dict[str, int] = field(default_factory=dict)
    interpretation: list[str] = field(default_factory=list)

    @classmethod
    def from_ecg(cls, ecg: ECG) -> Recording:
        """The canonical ECG with the demographics, measurements and statements its metadata carries."""
        fs_hz = round(ecg.fs_hz)
        if abs(ecg.fs_hz - fs_hz) > 1e-6:
            raise ValueError(f"vendor files store whole-Hz sampling rates; resample the {ecg.fs_hz} Hz ECG first")
        meta = ecg.meta
        return cls(
            np.asarray(ecg.signal_mv, dtype=np.float64),
            fs_hz,
            # Ages are stated in completed years, so 52.9 is 52.
            None if meta.age_years is None else int(meta.age_years),
            meta.sex,
            None if meta.height_cm is None else round(meta.height_cm),
            None if meta.weight_kg is None else round(meta.weight_kg),
            {key: round(value) for key, value in meta.device_measurements.items()},
            list(meta.interpretation),
        )

    @property
    def duration_ms(self) -> int:
        return round(self.signal_mv.shape[1] * 1000 / self.fs_hz)

    def counts(self, uv_per_count: float) -> np.ndarray:
        """The signal quantised to integer ADC counts, (12, n_samples) int64."""
        return quantise(self.signal_mv, uv_per_count)

    def lead_counts(self, uv_per_count: float) -> dict[str, np.ndarray]:
        return dict(zip(STANDARD_LEADS, self.counts(uv_per_count), strict=True))


def quantise(signal_mv: np.ndarray, uv_per_count: float) -> np.ndarray:
    """Millivolts to the nearest whole ADC count, int64."""
    return np.round(np.asarray(signal_mv, dtype=np.float64) * 1000.0 / uv_per_count).astype(np.int64)


def int16_counts(signal_mv: np.ndarray, uv_per_count: float) -> np.ndarray:
    """Millivolts to 16-bit ADC counts; refuses a signal the format cannot hold rather than wrapping it round."""
    counts = quantise(signal_mv, uv_per_count)
    limit_mv = INT16_LIMIT * uv_per_count / 1000.0
    if counts.size and np.abs(counts).max() > INT16_LIMIT:
        raise ValueError(
            f"the ECG reaches {np.abs(signal_mv).max():.1f} mV, beyond the {limit_mv:.1f} mV that 16-bit samples "
            f"at {uv_per_count} uV per count can hold"
        )
    return counts.astype(np.int16)


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

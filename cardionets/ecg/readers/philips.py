"""Philips resting ECG XML (root ``<restingecgdata>``, PageWriter and TraceMasterVue, schema 1.03 to 1.04.02).

Layout, from the Philips schema (SierraECGSchema_1_04_01.xsd, published with sierra-ecg-tools):

* ``<waveforms><parsedwaveforms>`` holds every lead: all of lead 1's samples, then all of lead 2's, and so on
  (not interleaved). Its attributes give ``leadlabels``, ``numberofleads``, ``durationperchannel`` (ms),
  ``samplespersecond``, ``resolution`` (uV per count), ``signaloffset`` (subtracted from every sample),
  ``dataencoding`` (Base64 of little-endian int16, or Plain decimal text) and ``compression="XLI"`` when
  compressed (see :mod:`.philips_xli`).
* Version 1.03 files keep the rate and resolution in ``<dataacquisition><signalcharacteristics>``
  (``<samplingrate>``, ``<signalresolution>``), flag compression with ``compressflag``/``compressmethod`` and
  carry no lead labels: the channels are then the standard 12 in order.
* In XLI data, leads III, aVR, aVL and aVF are stored as residuals against I and II and are rebuilt here with
  integer halving rounded down, as pysierraecg and ecgdatakit do (the C# reference rounds toward zero; the two
  differ by at most one count).
* The final, possibly over-read, measurements are in ``<interpretations><interpretation><globalmeasurements>``
  (QTc there is explicitly Bazett or Fridericia); the algorithm's own means are in
  ``<internalmeasurements><crossleadmeasurements>``, whose ``meanqtc`` does not name its formula.
"""

from __future__ import annotations

import base64
import binascii
import xml.etree.ElementTree as ET

import numpy as np

from ..errors import CorruptFileError, UnsupportedFormatError
from ..leads import STANDARD_LEADS, canonical_lead_name
from . import philips_xli
from .base import RawECG, acquisition_time
from .bounds import numbers_in_text
from .xml import child_text, parse_xml, to_float

_FORMAT = "Philips XML"

# Our key -> element names, searched in the sections of _measurement_sections in order.
_MEASUREMENT_NAMES = {
    "hr_bpm": ("heartrate", "meanventrate"),
    "rr_ms": ("rrint",),
    "pr_ms": ("print", "meanprint"),
    "qrs_ms": ("qrsdur", "meanqrsdur"),
    "qt_ms": ("qtint", "meanqtint"),
    "qtc_bazett_ms": ("qtcb",),
    "qtc_fridericia_ms": ("qtcf",),
    "qtc_ms": ("meanqtc",),
    "p_axis_deg": ("pfrontaxis",),
    "qrs_axis_deg": ("qrsfrontaxis",),
    "t_axis_deg": ("tfrontaxis",),
}
MAX_CHANNELS = 32  # PageWriters record 12 or 16 leads
_AGE_UNITS_IN_YEARS = {"years": 1.0, "months": 1 / 12, "weeks": 7 / 365.25, "days": 1 / 365.25}
_HEIGHT_UNITS_IN_CM = {"cm": 1.0, "inch": 2.54}
_WEIGHT_UNITS_IN_KG = {"kg": 1.0, "lb": 0.45359237}


def read(data: bytes) -> RawECG:
    root = parse_xml(data, _FORMAT)
    parsed = root.find("waveforms/parsedwaveforms")
    if parsed is None:
        raise CorruptFileError("This Philips file holds no rhythm waveform (<parsedwaveforms> is missing).")
    characteristics = root.find("dataacquisition/signalcharacteristics")
    fs_hz = to_float(parsed.get("samplespersecond")) or to_float(child_text(characteristics, "samplingrate"))
    duration_ms = to_float(parsed.get("durationperchannel"))
    if not fs_hz or not duration_ms:
        raise CorruptFileError("This Philips file does not state its sampling rate and recording duration.")
    labels = _lead_labels(parsed, characteristics)
    xli = _is_xli(parsed)
    counts = _lead_counts(parsed, xli, len(labels), round(duration_ms * fs_hz / 1000))
    if xli and [canonical_lead_name(label) for label in labels[:6]] == list(STANDARD_LEADS[:6]):
        _rebuild_limb_leads(counts)
    counts = [lead - int(to_float(parsed.get("signaloffset")) or 0) for lead in counts]
    resolution_uv = (
        to_float(parsed.get("resolution"))
        or to_float(child_text(characteristics, "resolution"))
        or to_float(child_text(characteristics, "signalresolution"))
    )
    patient = root.find("patient/generalpatientdata")
    interpretation = root.find("interpretations/interpretation")
    return RawECG(
        named_signals={label: lead * (resolution_uv or 1.0) for label, lead in zip(labels, counts, strict=True)},
        fs_hz=fs_hz,
        units="uV" if resolution_uv else None,
        source_format="philips_xml",
        age_years=_value_in_units(patient, "age", _AGE_UNITS_IN_YEARS),
        sex=_sex(child_text(patient, "sex")),
        height_cm=_value_in_units(patient, "height", _HEIGHT_UNITS_IN_CM),
        weight_kg=_value_in_units(patient, "weight", _WEIGHT_UNITS_IN_KG),
        device_measurements=_device_measurements(root, interpretation),
        interpretation=_statements(interpretation),
        acquired=_acquired(root.find("dataacquisition")),
    )


def _acquired(acquisition: ET.Element | None) -> str | None:
    if acquisition is None:
        return None
    return acquisition_time(f"{acquisition.get('date', '')} {acquisition.get('time', '')}".strip(),
                            "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def _lead_labels(parsed: ET.Element, characteristics: ET.Element | None) -> list[str]:
    labels = (parsed.get("leadlabels") or "").split()
    if labels:
        return labels[: int(to_float(parsed.get("numberofleads")) or len(labels))]
    # 1.03: no labels; the acquired channels are the standard 12 in standard order.
    count = int(to_float(child_text(characteristics, "numberchannelsallocated")) or len(STANDARD_LEADS))
    if not 0 < count <= MAX_CHANNELS:
        raise CorruptFileError(f"This Philips file states {count} channels; a cardiograph records at most "
                               f"{MAX_CHANNELS}.")
    return [STANDARD_LEADS[i] if i < len(STANDARD_LEADS) else f"channel {i + 1}" for i in range(count)]


def _is_xli(parsed: ET.Element) -> bool:
    method = (parsed.get("compression") or parsed.get("compressmethod") or "").strip()
    flag = (parsed.get("compressflag") or "").strip().lower()
    if flag in ("false", "no", "0"):
        return False
    if method.upper() == "XLI" or flag in ("true", "yes", "1"):  # XLI is the only Philips compression
        return True
    if method and method.lower() not in ("uncompressed", "none"):
        raise UnsupportedFormatError(f"This Philips file uses '{method}' compression, which CardioNets cannot read.")
    return False


def _lead_counts(parsed: ET.Element, xli: bool, n_leads: int, n_samples: int) -> list[np.ndarray]:
    """Integer samples per lead, before the signal offset and resolution are applied."""
    encoding = (parsed.get("dataencoding") or "").strip().lower()
    text = parsed.text or ""
    if encoding == "plain" and not xli:
        values = numbers_in_text(text, np.int64, "This Philips file's waveform")
        return _split_lead_blocks(values, n_leads, n_samples)
    if encoding != "base64":
        raise UnsupportedFormatError(f"This Philips file uses waveform encoding '{encoding}', which is not supported.")
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError) as error:
        raise CorruptFileError("The Philips waveform data is not valid Base64; the file is damaged.") from error
    if not xli:
        return _split_lead_blocks(np.frombuffer(raw[: len(raw) // 2 * 2], dtype="<i2"), n_leads, n_samples)
    leads = philips_xli.decode_leads(raw)
    if len(leads) < n_leads or any(lead.size < n_samples for lead in leads[:n_leads]):
        raise CorruptFileError(
            f"The Philips waveform data is incomplete: {n_leads} leads of {n_samples} samples were announced."
        )
    return [lead[:n_samples] for lead in leads[:n_leads]]


def _split_lead_blocks(values: np.ndarray, n_leads: int, n_samples: int) -> list[np.ndarray]:
    if values.size < n_leads * n_samples:
        raise CorruptFileError(
            f"The Philips waveform data is truncated: {values.size} samples for {n_leads} leads of {n_samples}."
        )
    return [values[i * n_samples : (i + 1) * n_samples].astype(np.int64) for i in range(n_leads)]


def _rebuild_limb_leads(counts: list[np.ndarray]) -> None:
    """Turn the stored residuals of III, aVR, aVL and aVF back into the leads themselves (in place)."""
    lead_i, lead_ii = counts[0], counts[1]
    lead_iii = lead_ii - lead_i - counts[2]
    counts[2] = lead_iii
    counts[3] = -counts[3] - (lead_i + lead_ii) // 2
    counts[4] = (lead_i - lead_iii) // 2 - counts[4]
    counts[5] = (lead_ii + lead_iii) // 2 - counts[5]


def _measurement_sections(root: ET.Element, interpretation: ET.Element | None) -> list[ET.Element]:
    paths = [
        (interpretation, "globalmeasurements"),  # final values, edited by an over-reader if any
        (interpretation, "interpretationmeasurements"),  # 1.03
        (root, "internalmeasurements/crossleadmeasurements"),
        (root, "measurements/globalmeasurements"),  # 1.03
    ]
    return [found for parent, path in paths if parent is not None and (found := parent.find(path)) is not None]


def _device_measurements(root: ET.Element, interpretation: ET.Element | None) -> dict[str, float]:
    sections = _measurement_sections(root, interpretation)
    out: dict[str, float] = {}
    for key, names in _MEASUREMENT_NAMES.items():
        # Placeholders such as "Failed" or "---" read as None and fall through to the next source.
        values = (to_float(child_text(section, name)) for section in sections for name in names)
        value = next((v for v in values if v is not None), None)
        if value is not None:
            out[key] = value
    return out


def _statements(interpretation: ET.Element | None) -> list[str]:
    if interpretation is None:
        return []
    lines = []
    for statement in interpretation.findall("statement"):
        left, right = child_text(statement, "leftstatement"), child_text(statement, "rightstatement")
        if left and right:
            lines.append(f"{left} ({right})")
        elif left or right:
            lines.append(left or right)
    return lines


def _value_in_units(patient: ET.Element | None, element: str, factors: dict[str, float]) -> float | None:
    """A quantity stored as one child named by its unit (<age><years>, <height><cm>), converted."""
    for unit, factor in factors.items():
        value = to_float(child_text(patient, f"{element}/{unit}"))
        if value is not None:
            return value * factor
    return None


def _sex(text: str | None) -> str | None:
    return {"male": "M", "female": "F"}.get((text or "").strip().lower())

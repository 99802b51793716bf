"""Our global intervals against the cardiologists' wave boundaries of LUDB.

For each record the reference PR, QRS and QT are the medians over its annotated beats, each beat's boundaries
being the medians over the leads that annotated them (`cardionets.ecg.real_sets.ludb_reference_beats`); ours are
the cart measurements on the median beat (`cardionets.ecg.measure`). The differences (ours minus reference) are
summarised by their mean and SD over records, next to the IEC 60601-2-25 tolerances for global intervals.

Detection: an annotated QRS is detected when one of our R peaks lies within 150 ms of its peak. An annotated P
wave counts as detected when its QRS is detected and our median beat has a P wave: the measurements look for
the P wave once per record, on the median beat, not beat by beat.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cardionets.ecg import ECGError, load
from cardionets.ecg.measure import MeasurementError, measure_with_beat
from cardionets.ecg.real_sets import ludb_reference_beats

# IEC 60601-2-25 (2011), global intervals: the largest allowed |mean difference| and SD, in ms.
IEC_TOLERANCE_MS = {"pr_ms": (10.0, 10.0), "qrs_ms": (10.0, 10.0), "qt_ms": (25.0, 30.0)}
DETECTION_WINDOW_MS = 150.0


def record_comparison(record: Path) -> dict:
    """One record: our intervals, the reference's (median over its beats) and how many waves we found."""
    beats = ludb_reference_beats(record)
    reference = reference_intervals(beats)
    row = {"record": Path(record).stem, "reference": reference, "ours": None, "error": "",
           "qrs_annotated": len(beats), "qrs_detected": 0,
           "p_annotated": sum(beat.p_onset_ms is not None for beat in beats), "p_detected": 0}
    try:
        measured = measure_with_beat(load(record))
    except (ECGError, MeasurementError, ValueError) as error:
        return row | {"error": str(error)}
    m = measured.measurements
    row["ours"] = {"pr_ms": m.pr_ms, "qrs_ms": m.qrs_ms, "qt_ms": m.qt_ms}
    peaks_ms = measured.beat.r_peaks * 1000.0 / measured.beat.fs_hz
    found = [bool(peaks_ms.size) and float(np.min(np.abs(peaks_ms - beat.qrs_peak_ms))) <= DETECTION_WINDOW_MS
             for beat in beats]
    row["qrs_detected"] = int(sum(found))
    if m.pr_ms is not None:
        row["p_detected"] = int(sum(hit for hit, beat in zip(found, beats) if beat.p_onset_ms is not None))
    return row


def reference_intervals(beats: list) -> dict[str, float | None]:
    """A record's reference PR, QRS and QT: the median over its annotated beats (`ReferenceBeat`)."""
    return {name: _median([getattr(beat, name) for beat in beats]) for name in IEC_TOLERANCE_MS}


def delineation_section(records: list[str | Path], paced: list[bool] | None = None) -> dict:
    """The comparison over ``records``; ``paced`` marks paced ones, which the IEC figures leave out (the
    standard's test ECGs have no pacing, and our measurements are not made for paced beats)."""
    rows = [record_comparison(Path(record)) | {"paced": bool(is_paced)}
            for record, is_paced in zip(records, paced or [False] * len(records))]
    unpaced = [row for row in rows if not row["paced"]]
    detection = {wave: {"annotated": sum(r[f"{wave}_annotated"] for r in unpaced),
                        "detected": sum(r[f"{wave}_detected"] for r in unpaced)} for wave in ("qrs", "p")}
    for wave in detection.values():
        wave["rate"] = wave["detected"] / wave["annotated"] if wave["annotated"] else None
    return {"records": len(rows), "paced": len(rows) - len(unpaced),
            "unmeasured": sum(bool(r["error"]) for r in rows), "intervals": _intervals(unpaced),
            "intervals_with_paced": _intervals(rows), "detection": detection, "per_record": rows}


def _intervals(rows: list[dict]) -> dict:
    intervals = {}
    for name, (mean_limit, sd_limit) in IEC_TOLERANCE_MS.items():
        differences = np.array([row["ours"][name] - row["reference"][name] for row in rows
                                if row["ours"] and row["ours"][name] is not None
                                and row["reference"][name] is not None])
        mean = float(differences.mean()) if differences.size else None
        sd = float(differences.std(ddof=1)) if differences.size > 1 else None
        intervals[name] = {"n": int(differences.size), "mean_difference_ms": mean, "sd_ms": sd,
                           "tolerance_mean_ms": mean_limit, "tolerance_sd_ms": sd_limit,
                           "within": None if sd is None else bool(abs(mean) <= mean_limit and sd <= sd_limit)}
    return intervals


def _median(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return float(np.median(known)) if known else None

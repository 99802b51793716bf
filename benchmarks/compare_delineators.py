"""Interval accuracy of our global median-beat delineation against neurokit2's, on the real Mortara ECG.

    pip install neurokit2==0.3.0   # optional, only for this comparison
    python benchmarks/compare_delineators.py

The reference is the cart's own global measurement stored in the file. neurokit2 delineates one lead at a
time (lead II here, the usual choice) and its per-beat intervals are summarised by their median.
"""

from __future__ import annotations

import warnings

import numpy as np
from pydicom.data import get_testdata_file

from cardionets.ecg import load, measure

KEYS = ("pr_ms", "qrs_ms", "qt_ms")


def neurokit_intervals(ecg, method: str) -> dict[str, float]:
    import neurokit2 as nk

    fs = int(ecg.fs_hz)
    lead = nk.ecg_clean(ecg.lead("II"), sampling_rate=fs)
    _, peaks = nk.ecg_peaks(lead, sampling_rate=fs)
    _, waves = nk.ecg_delineate(lead, peaks, sampling_rate=fs, method=method)

    def median_ms(start_key, end_key):
        # neurokit2 may return a different number of onsets and offsets: pair each offset with the latest
        # onset before it, within 700 ms.
        starts = np.asarray(waves[start_key], dtype=float)
        starts = starts[np.isfinite(starts)]
        spans = []
        for end in np.asarray(waves[end_key], dtype=float):
            before = starts[(starts < end) & (starts > end - 0.7 * fs)]
            if np.isfinite(end) and before.size:
                spans.append(end - before.max())
        return float(np.median(spans) * 1000 / fs)

    return {
        "pr_ms": median_ms("ECG_P_Onsets", "ECG_R_Onsets"),
        "qrs_ms": median_ms("ECG_R_Onsets", "ECG_R_Offsets"),
        "qt_ms": median_ms("ECG_R_Onsets", "ECG_T_Offsets"),
    }


def main() -> None:
    ecg = load(get_testdata_file("waveform_ecg.dcm"))
    device = ecg.meta.device_measurements
    ours = measure(ecg).to_dict()
    rows = {"CardioNets (global, median beat)": {k: ours[k] for k in KEYS}}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for method in ("dwt", "cwt"):
                rows[f"neurokit2 0.3 {method} (lead II)"] = neurokit_intervals(ecg, method)
    except ImportError:
        print("neurokit2 not installed: only our numbers are shown\n")
    print("| method | " + " | ".join(f"{k} (error)" for k in KEYS) + " |")
    print("|---|" + "---|" * len(KEYS))
    print("| Mortara ELI 250 cart (reference) | " + " | ".join(f"{device[k]:.0f}" for k in KEYS) + " |")
    for name, values in rows.items():
        cells = [f"{values[k]:.1f} ({values[k] - device[k]:+.1f})" for k in KEYS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()

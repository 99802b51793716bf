"""Analyze: upload an ECG (or pick a sample), see its quality, measurements and the 12-lead on ECG paper."""

import pandas as pd
import streamlit as st

from cardionets.ecg import ECGError, load, load_upload, preprocess
from cardionets.ecg.plot import ecg_paper_figure
from cardionets.ecg.summary import summarize
from cardionets.samples import sample_ecgs

RESEARCH_USE = "Research use only, not for diagnosis."
VERDICT_STYLE = {"ok": st.success, "warn": st.warning, "reject": st.error}
MEASUREMENT_LABELS = {
    "hr_bpm": ("Heart rate", "bpm"), "rr_ms": ("RR interval", "ms"), "pr_ms": ("PR interval", "ms"),
    "qrs_ms": ("QRS duration", "ms"), "qt_ms": ("QT interval", "ms"), "qtc_bazett_ms": ("QTc (Bazett)", "ms"),
    "qtc_fridericia_ms": ("QTc (Fridericia)", "ms"), "p_axis_deg": ("P axis", "°"),
    "qrs_axis_deg": ("QRS axis", "°"), "t_axis_deg": ("T axis", "°"),
    "sokolow_lyon_mv": ("Sokolow-Lyon voltage", "mV"), "cornell_mv": ("Cornell voltage", "mV"),
    "qtc_ms": ("QTc (cart's own formula)", "ms"),
}

st.title("Analyze an ECG")
st.caption(RESEARCH_USE)

uploads = st.file_uploader(
    "Upload a 12-lead ECG (DICOM, GE MUSE XML, Philips XML, HL7 aECG, UK Biobank XML, WFDB .hea + .dat, EDF, "
    "CSV, NumPy). The file is read in memory and not stored.",
    accept_multiple_files=True,
)
samples = sample_ecgs()
sample_name = st.selectbox("…or try a sample ECG", ["(none)", *samples])

ecg = None
try:
    if uploads:
        ecg = load_upload({f.name: f.getvalue() for f in uploads})
    elif sample_name != "(none)":
        ecg = load(samples[sample_name])
except ECGError as error:
    st.error(f"This file cannot be used: {error}")

if ecg is not None:
    summary = summarize(ecg)
    VERDICT_STYLE[summary["qc"]["verdict"]](
        f"Signal quality: {summary['qc']['verdict'].upper()}"
        + "".join(f"\n- {finding['message']}" for finding in summary["qc"]["findings"])
    )
    st.plotly_chart(ecg_paper_figure(preprocess(ecg)), use_container_width=True)
    st.subheader("Measurements")
    device = summary["device_measurements"]
    rows = [
        {"Measurement": label, "CardioNets": (summary["measurements"] or {}).get(key), "Unit": unit,
         "ECG cart": device.get(key)}
        for key, (label, unit) in MEASUREMENT_LABELS.items()
    ]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.caption(
        f"{summary['format']} · {summary['fs_hz']:g} Hz · {summary['duration_s']:g} s · "
        + (" · ".join(summary["notes"]) if summary["notes"] else "no conversions")
    )

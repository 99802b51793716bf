"""Batch screening: a zip of ECGs (or several files, with a manifest.csv if you like) in, one row per ECG out,
with the positive calls flagged, the unusable files listed with their reasons, and the CSV to download.
Uploads are unpacked into a temporary folder that is deleted when the screen ends."""

import tempfile
from pathlib import Path

import pandas as pd
import streamlit as st

from cardionets.ecg import ECGError
from cardionets.ecg.isolated import shared_reader
from cardionets.presentation import DISEASE_LABELS
from cardionets.screening import MAX_ARCHIVE_FILES, columns, find_inputs, screen_files, stage_uploads
from pages.common import models, research_banner

MANIFEST = "manifest.csv"

st.title("Batch screening")
research_banner()
st.write("Upload a **zip** of ECG files (any format the Analyze page reads; a WFDB record as its .hea and .dat), or "
         f"several files at once. A `{MANIFEST}` with a `file` column, if present, chooses and orders the files. "
         f"Up to {MAX_ARCHIVE_FILES:,} files; for a whole archive use `python -m cardionets screen`.")
uploads = st.file_uploader("ECGs to screen", accept_multiple_files=True)

if uploads and st.button("Screen", type="primary"):
    model = models()
    with tempfile.TemporaryDirectory(prefix="cardionets-screen-") as folder:
        inbox = Path(folder) / "inbox"
        inbox.mkdir()
        try:
            skipped = stage_uploads([(upload.name, upload.getvalue()) for upload in uploads], inbox)
            manifests = sorted(inbox.rglob(MANIFEST))
            inputs = find_inputs(manifests[0]) if manifests else find_inputs(inbox)
            inputs = [p for p in inputs if p.resolve().is_relative_to(inbox.resolve()) and p.name != MANIFEST]
        except (ECGError, ValueError) as error:
            st.error(f"These files cannot be screened: {error}")
            st.stop()
        if not inputs and not skipped:
            st.error("No ECG files were found in the upload.")
            st.stop()
        bar = st.progress(0.0, text=f"Screening {len(inputs)} ECGs…")
        out = Path(folder) / "results.csv"
        # Each file is read in the isolated reader's memory-capped worker, never in this server process.
        screen_files(model, inputs, out, progress=False, read=shared_reader().load_path,
                     on_progress=lambda done, total: bar.progress(done / total, text=f"{done} of {total} ECGs"))
        table = pd.read_csv(out, keep_default_na=False) if inputs else pd.DataFrame(columns=columns(model))
        table["file"] = [str(Path(p).resolve().relative_to(inbox.resolve())) for p in table["file"]]
        if skipped:  # what could not even be unpacked gets its row too: no upload entry is silently dropped
            unpacked = pd.DataFrame([{"file": entry, "error": reason} for entry, reason in skipped])
            table = pd.concat([table, unpacked], ignore_index=True)
            table["error"] = table["error"].fillna("")
    st.session_state["screening"] = table

table = st.session_state.get("screening")
if table is not None:
    diseases = models().disease_names
    good = table[table["error"] == ""].copy()
    bad = table[table["error"] != ""][["file", "error"]]
    for name in diseases:
        good[f"p_{name}"] = pd.to_numeric(good[f"p_{name}"])
    # The calls are the results' own (`screening.row_of`): "withheld" where the outputs do not apply.
    good["calls"] = [", ".join(DISEASE_LABELS.get(n, n) for n in calls.split("; ")) if calls not in ("none", "withheld")
                     else calls for calls in good["calls"]]
    good["unusual_ecg"] = good["unusual_ecg"].astype(str) == "True"
    st.success(f"{len(table)} files screened: {len(good)} analysed, {len(bad)} could not be used.")
    shown = ["file", "qc_verdict", "age_years", "sex", "calls", "unusual_ecg", "warnings",
             *(f"p_{n}" for n in diseases), "lvedv_ml", "lvef_pct", "lvm_g", "rvedv_ml", "rvef_pct", "ood_score"]
    st.dataframe(good[[c for c in shown if c in good]], hide_index=True,
                 column_config={"file": "File", "qc_verdict": "Quality", "age_years": "Age", "sex": "Sex",
                                "calls": "Positive calls", "unusual_ecg": "Unusual ECG", "warnings": "Warnings",
                                "lvedv_ml": "LVEDV (mL)", "lvef_pct": "LVEF (%)",
                                "lvm_g": "LV mass (g)", "rvedv_ml": "RVEDV (mL)", "rvef_pct": "RVEF (%)",
                                "ood_score": "Unusualness (>1 unusual)",
                                **{f"p_{n}": st.column_config.ProgressColumn(
                                    DISEASE_LABELS.get(n, n), min_value=0.0, max_value=1.0, format="percent")
                                   for n in diseases}})
    st.caption("Click a column header to sort. A call is positive at or above the threshold that balanced "
               "sensitivity and specificity on validation data; 'withheld' means the models' outputs do not apply "
               "to that patient (a child, a paced rhythm), so no call is made. 'Unusual ECG': unlike the reference "
               "ECGs (simulated and real healthy adults), or outside the ages and rhythms the models learnt from.")
    if len(bad):
        st.subheader("Files that could not be used")
        st.dataframe(bad, hide_index=True)
    st.download_button("Download all rows (CSV)", table.to_csv(index=False), file_name="cardionets_screening.csv",
                       mime="text/csv")

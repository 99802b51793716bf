"""Analyze: upload an ECG (or pick a sample) and see its quality, the 12-lead, the measurements, the CMR
phenotypes and disease probabilities the models estimate, and a SYNTHETIC cine CMR on request."""

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from cardionets.presentation import (
    DISEASE_LABELS,
    UNFLAGGED,
    WITHHELD,
    disease_rows,
    measurement_rows,
    phenotype_label,
    phenotype_rows,
    recording_description,
    subtype_rows,
    subtypes_apply,
)
from cardionets.samples import sample_ecgs
from cardionets.workspace import workspace
from pages.common import bundle_key, digest, ecg_printout, models, predict, read_upload, research_banner

VERDICT_STYLE = {"ok": st.success, "warn": st.warning, "reject": st.error}
SEXES = {"not given": None, "female": "F", "male": "M"}


def frame(rows: list[list]) -> pd.DataFrame:
    return pd.DataFrame(rows[1:], columns=rows[0])


def flag_style(row: pd.Series) -> list[str]:
    colour = {**dict.fromkeys(UNFLAGGED, ""), WITHHELD: "color: #9e9e9e"}.get(row["Flag"], "background-color: #fde2e1")
    return [colour] * len(row)


def withheld_style(row: pd.Series) -> list[str]:
    return ["color: #9e9e9e"] * len(row)


def probability_chart(result) -> go.Figure:
    names = [DISEASE_LABELS.get(n, n) for n in result.diseases]
    probabilities = [d.probability for d in result.diseases.values()]
    figure = go.Figure(go.Bar(x=probabilities, y=names, orientation="h", name="probability",
                              marker_color=["#c62828" if d.positive else "#607d8b" for d in result.diseases.values()],
                              text=[f"{p:.0%}" for p in probabilities], textposition="outside"))
    figure.add_trace(go.Scatter(x=[d.threshold for d in result.diseases.values()], y=names, mode="markers",
                                name="call threshold", marker={"symbol": "line-ns-open", "size": 18, "color": "black"}))
    figure.update_layout(height=300, margin={"l": 10, "r": 10, "t": 10, "b": 10}, xaxis={"range": [0, 1.12], "tickvals": [0, 0.25, 0.5, 0.75, 1], "tickformat": ".0%"},
                         yaxis={"autorange": "reversed"}, legend={"orientation": "h", "y": -0.15})
    return figure


st.title("Analyze an ECG")
research_banner()

NO_SAMPLE = "(none)"
# The latest choice wins, and only one is ever shown: picking a sample empties the uploader (a new key), and an
# upload sets the sample back to none, so results never belong to another ECG than the one chosen last.
st.session_state.setdefault("uploader_generation", 0)


def _sample_chosen() -> None:
    if st.session_state["sample_choice"] != NO_SAMPLE:
        st.session_state["uploader_generation"] += 1


def _file_uploaded() -> None:
    st.session_state["sample_choice"] = NO_SAMPLE


uploads = st.file_uploader(
    "Upload a 12-lead ECG (DICOM, GE MUSE XML, Philips XML, HL7 aECG, UK Biobank XML, WFDB .hea + .dat, EDF, "
    "CSV, NumPy). For WFDB, select the .hea and the .dat together. The file is read in a separate process and not stored.",
    accept_multiple_files=True, key=f"upload-{st.session_state['uploader_generation']}", on_change=_file_uploaded,
)
keep_copy = st.checkbox("Keep a copy of my upload on this server (off: nothing is saved)", value=False)
samples = sample_ecgs()
sample_name = st.selectbox("…or try a sample ECG", [NO_SAMPLE, *samples], key="sample_choice",
                           on_change=_sample_chosen)

# Imported only now, with the uploader already on screen: these pull in torch, scipy and matplotlib, about 4 s
# on a cold 2-core server (docs/performance.md, cold start).
from cardionets.cmr.export import SYNTHETIC, labelled_frames  # noqa: E402
from cardionets.ecg import ECGError, preprocess  # noqa: E402
from cardionets.ecg.isolated import shared_reader  # noqa: E402
from cardionets.ecg.plot import ecg_paper_figure  # noqa: E402
from cardionets.inference import ECGRejectedError  # noqa: E402
from cardionets.report import pdf_report  # noqa: E402

shared_reader()  # the upload reader's worker process starts importing now, before the first file arrives

record, key, name = None, None, None
try:
    if uploads:
        files = {f.name: f.getvalue() for f in uploads}
        key, name = digest(files), ", ".join(sorted(files))
        record = read_upload(key, files)
        if keep_copy:  # only on the user's say-so; the folder is the server's workspace, never the repository
            folder = workspace() / "uploads" / key[:16]
            folder.mkdir(parents=True, exist_ok=True)
            for file_name, data in files.items():
                (folder / file_name.replace("/", "_")).write_bytes(data)
    elif sample_name != NO_SAMPLE:
        path = samples[sample_name]
        files = {path.name: path.read_bytes()}
        key, name = digest(files), sample_name
        record = read_upload(key, files)
except ECGError as error:
    st.error(f"This file cannot be used: {error}")

if record is None:
    st.subheader("What you will see")
    st.table(pd.DataFrame({"Section": ["Signal quality", "12-lead ECG", "Measurements", "CMR phenotypes",
                                       "Disease probabilities", f"{SYNTHETIC} cine CMR", "Downloads"],
                           "What it shows": [
                               "whether the recording can be used, and why not",
                               "the printout on ECG paper (25 mm/s, 10 mm/mV), zoomable on request",
                               "intervals, axes and voltages, next to the cart's own",
                               ("chamber volumes, ejection fractions, mass, wall thickness, with UK Biobank "
                                "reference ranges"),
                               "calibrated probabilities against their thresholds, and the cardiomyopathy subtype",
                               "both views animated, generated from the ECG, with image-derived volumes",
                               "PDF report, JSON result, NIfTI and GIF of the generated cine"]}).style.hide(axis="index"))
    # The models load once per server, here, when the first visitor opens the page: after the uploader is on
    # screen (a cold server takes seconds to load them), and before their first click needs them.
    models()

if record is not None:
    st.caption(f"Showing: {'sample ECG ' if sample_name != NO_SAMPLE and not uploads else ''}{name}")
    st.subheader("Patient")
    left, middle, height_column, weight_column, right = st.columns([1, 1, 1, 1, 2])
    file_age = record.meta.age_years
    age = left.number_input("Age (years)", min_value=0.0, max_value=120.0, step=1.0, format="%.0f",
                            value=float(file_age) if file_age is not None else None, key=f"age-{key}",
                            help="Prefilled from the file when it says; sets the reference ranges and warnings.")
    file_sex = {v: k for k, v in SEXES.items()}.get(record.meta.sex, "not given")
    sex_label = middle.selectbox("Sex", list(SEXES), index=list(SEXES).index(file_sex), key=f"sex-{key}")
    height = height_column.number_input("Height (cm)", min_value=40.0, max_value=250.0, step=1.0, format="%.0f",
                                        value=record.meta.height_cm, key=f"height-{key}",
                                        help="With the weight, gives the body surface area the models read.")
    weight = weight_column.number_input("Weight (kg)", min_value=2.0, max_value=350.0, step=1.0, format="%.0f",
                                        value=record.meta.weight_kg, key=f"weight-{key}")
    patient_id = right.text_input("Name or ID for the PDF report (not stored)", key=f"id-{key}")

    try:
        result = predict(key, record, SEXES[sex_label], age, height, weight, bundle_key())
    except Exception as error:  # noqa: BLE001 - a clinician sees a sentence, never a traceback
        st.error(f"The models could not analyse this ECG: {error}")
        st.stop()

    VERDICT_STYLE[result.qc["verdict"]](
        f"Signal quality: {result.qc['verdict'].upper()}"
        + "".join(f"\n- {finding['message']}" for finding in result.qc["findings"]))
    for warning in result.ood.warnings:
        st.warning(f"⚠️ {warning}")

    # The printout as an image first (it shows at once, like ECG paper); the zoomable plot only on request,
    # since plotting 20,000 points in the browser takes seconds on a small machine.
    st.image(ecg_printout(key, record), width="stretch")
    if st.toggle("Zoomable 12-lead", key=f"zoom-{key}"):
        st.plotly_chart(ecg_paper_figure(preprocess(record)))
    st.caption(recording_description(record))

    st.subheader("Measurements")
    st.table(frame(measurement_rows(result)).style.hide(axis="index"))
    if result.interpretation:
        st.caption("The cart's own interpretation: " + " · ".join(result.interpretation))

    if not result.rejected:
        st.subheader("CMR phenotypes estimated from the ECG")
        # st.table, not st.dataframe: plain text that prints, copies and reads aloud, and the flags stay visible.
        st.table(frame(phenotype_rows(result)).style.apply(flag_style, axis=1).hide(axis="index"))
        st.caption("Reference ranges: healthy adults of the given sex, mean ± 1.96 SD: LV volumes, EF and mass index "
                   "(with height and weight) from UK Biobank (Petersen et al., JCMR 2017), RV volumes from Hudsmith "
                   "et al., JCMR 2005. Maximum wall thickness is held against the HCM criterion of the ESC "
                   "guidelines (15 mm or more in any segment). No range is held for the other phenotypes. ▲/▼ mark "
                   "values whose whole 95 % prediction interval lies outside the range; where the interval spans a "
                   "limit, the ECG cannot say which side the heart is on. The intervals are conformal, from the "
                   "model's errors on held-back simulated subjects.")
        with st.expander("Regional wall thickness and circumferential strain (16 AHA segments)"):
            segments = [row for row in phenotype_rows(result, segmental=True)[1:] if "AHA segment" in row[0]]
            st.dataframe(pd.DataFrame(segments, columns=phenotype_rows(result)[0]), hide_index=True)

        st.subheader("Disease probabilities")
        if result.ood.withheld:
            st.error("Calls withheld: the models' outputs do not apply to this patient (see the warning above). The "
                     "probabilities are shown greyed, for research only; no call is made from them.")
        chart, table = st.columns([3, 2])
        chart.plotly_chart(probability_chart(result))
        if subtypes_apply(result):
            table.dataframe(frame(subtype_rows(result)), hide_index=True)
            table.caption("If this is a cardiomyopathy, which kind (the subtype head's distribution).")
        for disagreement in result.disagreements:
            st.warning(f"⚠️ {disagreement}")
        diseases = frame(disease_rows(result)).style.hide(axis="index")
        st.table(diseases.apply(withheld_style, axis=1) if result.ood.withheld else diseases)
        st.caption("Calibrated probabilities. A call is POSITIVE at or above the threshold that balanced sensitivity "
                   "and specificity on validation data; the last column says how well that call did there.")
        st.caption(f"Analysed in {result.timing_ms['total'] / 1000:.2f} s (models {result.timing_ms['models']:.0f} ms) · "
                   f"CardioNets {result.model['cardionets_version']} · weights {result.model['recipe']} "
                   f"({result.model['bundle_created']}) · {result.model['device']}")

    cmr = None
    if not result.rejected:
        st.subheader(f"{SYNTHETIC} cine CMR")
        st.caption("Generated by a model from this ECG alone: not an image of this patient. Research use only.")
        model = models()
        with st.form(f"cmr-{key}"):
            c1, c2, c3 = st.columns(3)
            n_samples = c1.slider("Samples (different seeds)", 1, 4, 1,
                                  help="Several samples give a spread for the image-derived phenotypes.")
            steps = c2.slider("Diffusion steps per token", 4, 100, model.sampler.diffusion_steps)
            cfg = c3.slider("Guidance (1 = none)", 0.5, 4.0, float(model.sampler.cfg_scale), step=0.5,
                            help="Above 1 follows the ECG more strongly; below 1 mixes in the unconditional model.")
            scanner = None
            if model.scanner_choices:
                scanner = st.selectbox(
                    "Imitate the scanner of", [None, *model.scanner_choices],
                    format_func=lambda site: "the training sites (default)" if site is None else site,
                    help="The look (contrast, shading, noise, pixel size) of the cines a site's scanner makes: pick "
                         "the site whose scans you will compare these with.")
            # Timing this machine for the estimate takes about 2 s of both cores, which would hold up the first
            # result on screen: the first generation does it instead.
            estimate = (f"about {model.generation_seconds(n_samples, steps, cfg):.1f} s" if model.generation_timed
                        else "the first one also times this machine, a few seconds more")
            generate = st.form_submit_button(f"Generate the {SYNTHETIC} CMR ({estimate})")
        state_key = f"cmr-{key}-{n_samples}-{steps}-{cfg}-{scanner}-{bundle_key()}"
        if generate and state_key not in st.session_state:
            with st.spinner(f"Generating {n_samples} sample(s) of both views…"):
                try:
                    st.session_state[state_key] = model.generate_cmr(record, n_samples=n_samples, seed=0,
                                                                     steps=steps, cfg=cfg, scanner=scanner)
                except ECGRejectedError as error:
                    st.error(str(error))
        cmr = st.session_state.get(state_key)
        if cmr is not None:
            sample = st.radio("Sample", list(range(len(cmr.seeds))), horizontal=True,
                              format_func=lambda i: f"seed {cmr.seeds[i]}") if len(cmr.seeds) > 1 else 0
            st.image(cmr.gif(sample), caption=f"{SYNTHETIC} · short axis (left) and four-chamber (right), "
                     "looping at the ECG's heart rate", width=640)
            with st.expander("Step through the frames"):
                frame_index = st.slider("Frame", 1, cmr.cines.shape[2], 1, key=f"frame-{state_key}") - 1
                both = np.concatenate(list(cmr.cines[sample][:, frame_index:frame_index + 1]), axis=2)
                st.image(labelled_frames(both)[0], caption=f"{SYNTHETIC} · frame {frame_index + 1} of "
                         f"{cmr.cines.shape[2]}", width=640)
            rows = [{"Phenotype": phenotype_label(name),
                     "From the generated images (mean ± SD)": cmr.image_phenotypes.cell(name),
                     "Regression head": round(cmr.predicted_phenotypes.get(name, float("nan")), 1),
                     "Disagree?": {True: "⚠️ yes", None: "needs 2+ samples"}.get(cmr.disagreements.get(name, False), "")}
                    for name in cmr.image_phenotypes.mean]
            st.dataframe(pd.DataFrame(rows), hide_index=True)
            st.caption(f"Generated in {cmr.seconds:.1f} s. A disagreement means the head's value lies outside the "
                       "spread of the image measurements: trust neither without a real scan.")

    st.subheader("Downloads")
    d1, d2, d3 = st.columns(3)
    patient = {"name_or_id": patient_id} if patient_id else {}
    # Callables: the report and the archive are built when clicked, not on every rerun of the page.
    d1.download_button("PDF report", lambda: pdf_report(result, record, cmr, patient, source=name),
                       file_name="cardionets_report.pdf", mime="application/pdf")
    d2.download_button("Result (JSON)", result.to_json(), file_name="cardionets_result.json",
                       mime="application/json")
    if cmr is not None:
        d3.download_button(f"{SYNTHETIC} cine (NIfTI + GIF, zip)", cmr.archive,
                           file_name=f"cardionets_{SYNTHETIC}_cine.zip", mime="application/zip")
    st.caption(f"Source: {name}")

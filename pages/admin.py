"""Admin (hidden, at /admin): make virtual cohorts, train any stage in the background, watch logs and losses,
cancel, compare runs, promote a run's weights to the app, push weights to the Hugging Face Hub.

Locked unless an admin password hash is configured (`cardionets.admin_auth`); jobs are separate processes
(`cardionets.jobs`), so they keep running when this page is closed or reloaded."""

import json
import uuid
from pathlib import Path

import pandas as pd
import plotly.express as px
import streamlit as st

from cardionets.admin_auth import (
    ADMIN_HASH_SETTING,
    HUB_TOKEN_SETTING,
    LEGACY_HASH_SETTING,
    configured_hash,
    password_matches,
    setting,
)
from cardionets.bundle import ACTIVE_POINTER, DEFAULT_BUNDLE, BundleError, active_bundle, promote
from cardionets.ecg.isolated import shared_reader
from cardionets.inference import CardioNets
from cardionets.jobs import cohort_command, export_command, launch, list_jobs, training_command
from cardionets.study.analysis import (
    agreement,
    aided_minus_unaided,
    imrmc_csv,
    model_against_readers,
    model_read,
    per_reader,
    reader_mrmc,
)
from cardionets.study.cases import import_cases, material_path, shipped_cases
from cardionets.study.design import ARMS, CROSSOVERS, RATINGS, StudyDesign
from cardionets.study.sizing import VAN_DYKE_PILOT, VAN_DYKE_SOURCE, sizing_table
from cardionets.study.store import StudyError, display_code
from cardionets.workspace import REPO_ROOT, workspace
from pages.common import attempt_keys, backoff, models, research_banner, study_store
from training.config import load_config
from training.pipeline import missing_prerequisites, stage_names

CONFIGS = sorted((REPO_ROOT / "training" / "configs").glob("*.yaml"))
RUNS = REPO_ROOT / "runs"

st.title("Admin")
research_banner()
expected = configured_hash(st.secrets)
if expected is None:
    st.error(f"The admin page is disabled: no admin password is configured. Set {ADMIN_HASH_SETTING} (make it with "
             "`python -m cardionets.admin_auth`) in the environment or in .streamlit/secrets.toml.")
    st.stop()
if not st.session_state.get("admin"):
    with st.form("login"):
        password = st.text_input("Admin password", type="password")
        if st.form_submit_button("Unlock"):
            keys = attempt_keys()
            wait = backoff("admin").wait_s(*keys)
            if wait > 0:  # not even checked: a guess costs the guesser time, not the server a hash
                st.error(f"Too many wrong passwords. Try again in {wait:.0f} s.")
            elif password_matches(password, expected):
                backoff("admin").succeeded(*keys)
                st.session_state["admin"] = True
                st.rerun()
            else:
                backoff("admin").failed(*keys)
                st.error("Wrong password.")
    st.stop()
if expected is not None and expected.legacy:  # (st.stop above ends a real run; a bare import goes on)
    st.warning(f"The admin password is set as an unsalted SHA-256 ({LEGACY_HASH_SETTING}). Make a salted hash with "
               f"`python -m cardionets.admin_auth`, set it as {ADMIN_HASH_SETTING} and remove the old setting.")


def absolute(folder: str) -> Path:
    path = Path(folder).expanduser()
    return path if path.is_absolute() else REPO_ROOT / path


if st.button("Log out", key="logout"):
    st.session_state["admin"] = False
    st.rerun()

train, cohort, runs, jobs, studies = st.tabs(["Train", "Virtual cohort", "Runs and weights", "Jobs",
                                              "Reader studies"])

with train:
    with st.form("train"):
        config_path = st.selectbox("Recipe", CONFIGS, format_func=lambda p: p.name)
        stage = st.selectbox("Stage", stage_names(), index=stage_names().index("all"))
        # Fixed labels and placeholders: a widget whose parameters change with the recipe would lose its text.
        output = st.text_input("Run folder (blank: the recipe's `output`)", key="train-output")
        data_root = st.text_input("Prepared-data folder (blank: the recipe's `data.root`)", key="train-data")
        if st.form_submit_button("Launch", type="primary"):
            recipe = load_config(config_path)
            run_dir = absolute(output or recipe.output)
            missing = missing_prerequisites(stage, run_dir, absolute(data_root or recipe.data.root))
            if missing:
                st.error(f"The '{stage}' stage cannot start yet. It needs " + "; ".join(missing) + ".")
            else:
                job = launch(f"{config_path.stem}: {stage}", training_command(stage, config_path, output or None,
                                                                              data_root or None), run_dir=run_dir)
                st.success(f"Started job {job.id} ({stage} of {config_path.name}); follow it under Jobs.")

with cohort:
    with st.form("cohort"):
        name = st.text_input("Cohort name", value="cohort")
        n = st.number_input("Subjects", min_value=1, max_value=100_000, value=200)
        seed = st.number_input("Seed", min_value=0, value=0)
        with_cmr = st.checkbox("With cine CMR (much slower)", value=True)
        if st.form_submit_button("Generate"):
            out = workspace() / "cohorts" / Path(name).name
            job = launch(f"cohort {out.name} ({n})", cohort_command(n, out, seed, with_cmr))
            st.success(f"Started job {job.id}: {n} virtual subjects into {out}.")

with runs:
    st.write(f"Active weights: `{active_bundle()}`")
    folders = sorted(p.parent for p in RUNS.glob("*/config.json")) if RUNS.is_dir() else []
    for folder in folders:
        with st.expander(folder.name):
            results = next((p for p in (folder / "results.md", folder / "results" / "results.md") if p.is_file()),
                           None)
            st.markdown(results.read_text() if results else "No evaluation yet (run the `evaluate` stage).")
            bundle = folder / "bundle"
            left, right = st.columns(2)
            if left.button("Export its weights bundle", key=f"export-{folder.name}"):
                config = json.loads((folder / "config.json").read_text()).get("name", folder.name)
                recipe_file = REPO_ROOT / "training" / "configs" / f"{config}.yaml"
                job = launch(f"export {folder.name}", export_command(recipe_file, folder, bundle))
                st.success(f"Started job {job.id}: the bundle goes to {bundle}.")
            if right.button("Make it the active weights", key=f"promote-{folder.name}",
                            disabled=not (bundle / "manifest.json").is_file()):
                try:
                    st.success(f"The app now serves {promote(bundle)}.")
                except BundleError as error:
                    st.error(str(error))
    if st.button("Go back to the shipped weights"):
        (workspace() / ACTIVE_POINTER).unlink(missing_ok=True)
        st.success(f"The app now serves {DEFAULT_BUNDLE}.")
    st.subheader("Push weights to the Hugging Face Hub")
    with st.form("push"):
        source = st.text_input("Bundle folder", value=active_bundle())
        repo_id = st.text_input("Hub repo id (owner/name)")
        private = st.checkbox("Private repo", value=True)
        if st.form_submit_button("Push"):
            token = setting(HUB_TOKEN_SETTING, st.secrets)
            if not token:
                st.error("No Hub token: set HF_TOKEN in the environment or in .streamlit/secrets.toml.")
            else:
                try:
                    url = CardioNets.from_pretrained(source, device="cpu").push_to_hub(repo_id, private=private,
                                                                                        token=token)
                    st.success(f"Pushed: {url}")
                except Exception as error:  # noqa: BLE001 - network and permission errors, shown as a sentence
                    st.error(f"The push failed: {error}")


@st.fragment(run_every="3s")
def job_monitor() -> None:
    listed = list_jobs()
    if not listed:
        st.info("No jobs yet.")
        return
    for job in listed[:20]:
        status = job.status
        with st.expander(f"{job.label} · {status} · {job.id}", expanded=job is listed[0]):
            st.caption(" ".join(job.command))
            records = job.metrics()
            latest = next((r for r in reversed(records) if "step" in r), None)
            if latest is not None:  # where the run is: the last step the trainer logged
                st.caption(f"{latest['stage']}: epoch {latest.get('epoch', 0) + 1}, step {latest['step']}"
                           + (f", loss {latest['loss']:.4f}" if "loss" in latest else ""))
            losses = [r for r in records if "loss" in r and "step" in r]
            if losses:
                curve = pd.DataFrame(losses)[["stage", "step", "loss"]]
                st.plotly_chart(px.line(curve, x="step", y="loss", color="stage", height=260),
                                key=f"curve-{job.id}")
            st.code(job.tail(30) or "(no output yet)", language=None)
            if status == "running" and st.button("Cancel", key=f"cancel-{job.id}"):
                job.cancel()
                st.warning(f"Cancelled {job.id}.")


with jobs:
    job_monitor()


@st.cache_data(show_spinner="CardioNets reads the study's cases…")
def model_reads(code: str) -> pd.DataFrame:
    """CardioNets as one more reader of a study's cases (cached per study: the cases never change)."""
    model = models()
    return pd.DataFrame([{"case": case.key, **model_read(model.predict(material_path(case.material["ecg"])))}
                         for case in study_store().cases(code)])


def study_sizing(store) -> None:
    """Readers and cases a new study needs, from a finished pilot's variance components or the published
    default, for each of the three MRMC analyses."""
    pilots = {f"Published default: {VAN_DYKE_SOURCE}": VAN_DYKE_PILOT}
    for study in store.studies():
        answers = pd.DataFrame(store.answers(study["code"]))
        if len(study["design"].arms) > 1 and not answers.empty:
            try:
                pilots[f"Pilot: {study['name']} (code {display_code(study['code'])})"] = reader_mrmc(
                    answers).components
            except ValueError:  # not fully crossed yet, or one kind of case only: not a usable pilot
                pass
    source = st.selectbox("Variance components from", list(pilots))
    left, middle, right = st.columns(3)
    difference = left.number_input("AUC difference to detect", min_value=0.01, max_value=0.5, value=0.05, step=0.01)
    alpha = middle.number_input("Significance level", min_value=0.001, max_value=0.2, value=0.05, step=0.01)
    target = right.number_input("Power", min_value=0.5, max_value=0.99, value=0.8, step=0.05)
    table = sizing_table(pilots[source], difference, target, alpha)
    st.dataframe(table, hide_index=True)
    st.caption("Cases each reader reads in both arms (blank: more than 2000). Plan for random readers and cases to "
               "claim a result for readers and cases in general; Hillis, Obuchowski and Berbaum (2011).")


with studies:
    store = study_store()
    with st.expander("Size a new study: readers and cases for a chosen AUC difference"):
        study_sizing(store)
    with st.form("study"):
        st.write("A new study, on the shipped virtual-cohort cases or your own (true diagnoses are never shown to "
                 "readers).")
        name = st.text_input("Study name", value="Pilot reader study")
        arms = st.multiselect("Arms", list(ARMS), default=["ecg", "ecg_cardionets"], format_func=ARMS.get)
        crossover = st.selectbox("Crossover", CROSSOVERS, format_func={
            "sequential": "every case in each arm in turn (unaided, then aided after a washout)",
            "latin_square": "Latin square (each reader sees each case once, arms rotated across readers)"}.get)
        washout = st.number_input("Washout between arms (days)", min_value=0, value=0)
        limit = st.number_input("Time limit per case (s, 0 = none)", min_value=0, value=0)
        seed = st.number_input("Randomisation seed", min_value=0, value=0)
        going_back = st.checkbox("Readers may go back and change earlier answers", value=False)
        rating = st.radio("Readers give", list(RATINGS), format_func=RATINGS.get)
        own = st.file_uploader("Your own cases instead (a zip with cases.csv: key, diagnosis, ecg, and optionally "
                               "cine_sax, cine_4ch; paths inside the zip)", type=["zip"])
        if st.form_submit_button("Create study"):
            try:
                cases = (import_cases(own.getvalue(), workspace() / "study_cases" / uuid.uuid4().hex[:12],
                                      read=shared_reader().load_path) if own
                         else shipped_cases())
                code = store.create_study(name, StudyDesign(tuple(arms), crossover, int(seed), int(washout),
                                                            int(limit) or None, going_back, rating), cases)
                st.success(f"Study created. Readers join on the Reader study page with the code "
                           f"**{display_code(code)}**.")
            except (StudyError, ValueError) as error:
                st.error(str(error))
    for study in store.studies():
        with st.expander(f"{study['name']} · code {display_code(study['code'])}"
                         f"{' · CLOSED' if study['closed'] is not None else ''} · {study['readers']} readers · "
                         f"{study['answers']} answers"):
            if study["closed"] is None:
                if st.button("Close the study: no new readers or answers", key=f"close-{study['code']}"):
                    store.set_closed(study["code"], True)
                    st.rerun()
            else:
                st.caption(f"Closed {study['closed']:%Y-%m-%d %H:%M} UTC: no new readers or answers.")
                if st.button("Open it again", key=f"reopen-{study['code']}"):
                    store.set_closed(study["code"], False)
                    st.rerun()
            answers = pd.DataFrame(store.answers(study["code"]))
            if answers.empty:
                st.info("No answers yet.")
                continue
            st.dataframe(per_reader(answers, n_resamples=500), hide_index=True)
            design = study["design"]
            if len(design.arms) > 1:
                try:
                    gain = aided_minus_unaided(answers, design.arms[0], design.arms[-1], n_resamples=500)
                    st.write(f"Accuracy {ARMS[design.arms[-1]]} minus {ARMS[design.arms[0]]}: "
                             f"{gain['mean']:+.1%} (95 % CI {gain['low']:+.1%} to {gain['high']:+.1%}; "
                             + (f"paired t-test over {gain['readers']} readers p = {gain['p']:.3f})"
                                if gain["p"] is not None else "one reader, no test)"))
                except ValueError as error:
                    st.caption(str(error))
                try:
                    mrmc = reader_mrmc(answers, design.arms)
                    aucs = ", ".join(f"{ARMS[arm]} {auc:.3f}" for arm, auc in mrmc.treatment_auc.items())
                    st.write(f"Readers' AUC for 'abnormal' (mean over {len(mrmc.readers)} readers, {mrmc.cases} "
                             f"cases): {aucs}. Multi-reader multi-case analyses (Obuchowski-Rockette):")
                    st.dataframe(mrmc.table(), hide_index=True)
                except ValueError as error:
                    st.caption(f"No MRMC analysis yet: {error}")
            try:
                versus = model_against_readers(answers, model_reads(study["code"]), n_resamples=500)
                st.caption(f"CardioNets on these {versus['cases']} cases: accuracy {versus['accuracy']:.0%} (95 % CI "
                           f"{versus['accuracy_low']:.0%}-{versus['accuracy_high']:.0%}); AUC for 'abnormal' "
                           f"{versus['auc_abnormal']:.2f}. Each marker is a reader in one arm.")
                roc = px.line(pd.DataFrame(versus["roc"]), x="false_positive_rate", y="sensitivity", height=320,
                              labels={"false_positive_rate": "1 - specificity"})
                for arm, points in versus["readers"].groupby("arm"):
                    roc.add_scatter(x=points["false_positive_rate"], y=points["sensitivity"], mode="markers",
                                    name=ARMS[arm], text=points["reader"])
                st.plotly_chart(roc, key=f"roc-{study['code']}")
            except (ValueError, KeyError) as error:
                st.caption(f"No model comparison: {error}")
            for arm in design.arms:
                found = agreement(answers, arm)
                if found["fleiss"] is not None:
                    st.caption(f"{ARMS[arm]}: Fleiss' kappa {found['fleiss']:.2f} over {found['cases_all_read']} "
                               "cases read by everyone")
            left, right = st.columns(2)
            left.download_button("Answers (CSV)", answers.to_csv(index=False),
                                 file_name=f"study_{study['code']}_answers.csv", key=f"csv-{study['code']}")
            right.download_button("iMRMC input", imrmc_csv(answers), file_name=f"study_{study['code']}_imrmc.csv",
                                  key=f"imrmc-{study['code']}")

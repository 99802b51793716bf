"""Streamlit glue the pages share: the models loaded once per process, results cached by file hash, the
research-use statement. Logic stays in `cardionets`; this only decides what Streamlit caches.

The heavy modules (torch through `cardionets.inference`, scipy through `cardionets.ecg`, SQLAlchemy through the
study store: about 4 s on a 2-core machine) are imported inside the functions that need them, so a page can put
its uploader on screen before they load (docs/performance.md, cold start)."""

from __future__ import annotations

import hashlib
import io
import os
from typing import TYPE_CHECKING

import streamlit as st

from cardionets.admin_auth import HUB_TOKEN_SETTING, setting
from cardionets.bundle import BundleError, Manifest, active_bundle, resolve
from cardionets.throttle import Backoff
from cardionets.workspace import workspace

if TYPE_CHECKING:
    from cardionets.ecg import ECG
    from cardionets.inference import CardioNets, GeneratedCMR
    from cardionets.prediction import Prediction
    from cardionets.study.store import StudyStore

STUDY_DB_ENV = "CARDIONETS_STUDY_DB"
RESEARCH_USE = "Research use only, not for diagnosis. Values are estimated from the ECG, not measured on a CMR."


def _through_app_navigation() -> None:
    """Streamlit treats a folder named pages/ beside the entry script as old-style pages until app.py has called
    st.navigation once in this server process. A first visitor who lands on /screening or /admin would then run
    that file alone, with a sidebar listing every file here. Leave that mode and rerun through app.py."""
    from streamlit.runtime.pages_manager import PagesManager

    if PagesManager.uses_pages_directory:
        PagesManager.uses_pages_directory = False
        st.rerun()


_through_app_navigation()


def research_banner() -> None:
    st.caption(RESEARCH_USE)


@st.cache_resource(show_spinner=False)
def backoff(purpose: str) -> Backoff:
    """One back-off per purpose ("admin", "join") for the whole server process, shared by every session."""
    return Backoff()


def attempt_keys(with_client: bool = True) -> tuple[str, ...]:
    """Who is attempting: this browser session and, where Streamlit knows it, the client's address (behind a
    proxy that address may be shared, so a purpose many people use can leave it out)."""
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx()
    keys = [f"session:{context.session_id}"] if context is not None else []
    address = st.context.ip_address if with_client else None
    return (*keys, *([f"client:{address}"] if address else []))


def digest(files: dict[str, bytes]) -> str:
    """One hash for an upload (several files for WFDB), independent of the order they came in."""
    hasher = hashlib.sha256()
    for name in sorted(files):
        hasher.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return hasher.hexdigest()


def bundle_key() -> str:
    """Changes when the admin page promotes other weights, so the cached models are replaced."""
    source = active_bundle()
    try:
        return f"{source}@{Manifest.read(resolve(source)).metadata.get('created')}"
    except BundleError:
        return source


@st.cache_resource(show_spinner="Loading the CardioNets models (once per server)…", max_entries=2)
def _models(key: str) -> CardioNets:
    from cardionets.inference import CardioNets

    # The generator's cost model (`generation_seconds`, about 2 s of both cores) is not timed here: the first
    # generation times it, so it never holds up the first result's phenotypes.
    return CardioNets.from_pretrained(key.split("@", 1)[0])


def models() -> CardioNets:
    return _models(bundle_key())


@st.cache_data(max_entries=64, show_spinner=False)
def read_upload(key: str, _files: dict[str, bytes]) -> ECG:
    """The canonical ECG of an upload, cached by its hash (``key``), read in the isolated reader's memory-capped
    worker process (`cardionets.ecg.isolated`), so that no file can take the server down. The bytes are passed
    over a pipe, never written to disk (WFDB and EDF readers use a scratch file, removed straight after)."""
    from cardionets.ecg.isolated import shared_reader

    return shared_reader().load_upload(_files)


@st.cache_data(max_entries=256, show_spinner=False)
def predict(key: str, _record: ECG, sex: str | None, age_years: float | None, height_cm: float | None,
            weight_kg: float | None, weights: str) -> Prediction:
    """`CardioNets.predict`, cached by the file hash, the patient fields and the weights in use."""
    return models().predict(_record, sex=sex, age_years=age_years, height_cm=height_cm, weight_kg=weight_kg)


@st.cache_data(max_entries=64, show_spinner=False)
def default_cmr(key: str, _record: ECG, weights: str) -> GeneratedCMR:
    """One SYNTHETIC cine at the bundle's default settings and seed 0, cached by the file hash and weights (a
    reader study shows every reader of a case the same one)."""
    return models().generate_cmr(_record, seed=0)


@st.cache_data(max_entries=64, show_spinner=False)
def ecg_printout(key: str, _record: ECG) -> bytes:
    """The 12-lead on ECG paper (filtered like a cart's printout) as a PNG, cached by the file hash."""
    from cardionets.ecg import preprocess
    from cardionets.ecg.plot import save_ecg_png

    buffer = io.BytesIO()
    save_ecg_png(preprocess(_record), buffer, dpi=110)
    return buffer.getvalue()


def study_store() -> StudyStore:
    """Reader studies: ``CARDIONETS_STUDY_DB`` (an SQLAlchemy URL, e.g. PostgreSQL), else SQLite in the workspace."""
    return _study_store(os.environ.get(STUDY_DB_ENV) or f"sqlite:///{workspace() / 'studies.db'}")


@st.cache_resource(show_spinner=False)
def _study_store(url: str) -> StudyStore:
    from cardionets.study.backup import BACKUP_MINUTES_ENV, BACKUP_REPO_ENV, DEFAULT_MINUTES, start_periodic_backup
    from cardionets.study.store import StudyStore

    store = StudyStore(url)  # one engine (and connection pool) per database per server
    repo = setting(BACKUP_REPO_ENV, st.secrets)
    if repo:  # on Spaces, whose disk does not survive a restart: a private dataset keeps a copy of the answers
        start_periodic_backup(store, repo, setting(HUB_TOKEN_SETTING, st.secrets),
                              float(setting(BACKUP_MINUTES_ENV, st.secrets) or DEFAULT_MINUTES))
    return store

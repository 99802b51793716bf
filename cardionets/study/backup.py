"""Backing up reader-study results to a private Hugging Face dataset repo, for Spaces, whose disk is lost when
the Space restarts. Optional: set ``CARDIONETS_BACKUP_REPO`` (owner/name) and ``HF_TOKEN``; the app then uploads
every study's answers every ``CARDIONETS_BACKUP_MINUTES`` (default 15). The database stays the source of truth;
a backup never deletes or rewrites anything there.

    backup(store, "org/cardionets-study-results", token=...)     # one upload of every study's answers
"""

from __future__ import annotations

import io
import logging
import threading
import time

import pandas as pd

from .store import StudyStore

BACKUP_REPO_ENV = "CARDIONETS_BACKUP_REPO"
BACKUP_MINUTES_ENV = "CARDIONETS_BACKUP_MINUTES"
DEFAULT_MINUTES = 15.0
log = logging.getLogger(__name__)


def backup(store: StudyStore, repo_id: str, token: str | None = None, api=None) -> list[str]:
    """Upload each study's answers as ``studies/<code>/answers.csv`` to the private dataset ``repo_id`` (created
    if needed). ``api`` is an `huggingface_hub.HfApi` (made from ``token`` when not given). Returns the paths."""
    if api is None:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=True, exist_ok=True)
    uploaded = []
    for study in store.studies():
        answers = pd.DataFrame(store.answers(study["code"]))
        path = f"studies/{study['code']}/answers.csv"
        api.upload_file(path_or_fileobj=io.BytesIO(answers.to_csv(index=False).encode()), path_in_repo=path,
                        repo_id=repo_id, repo_type="dataset",
                        commit_message=f"Backup of study {study['code']}: {len(answers)} answers")
        uploaded.append(path)
    return uploaded


def start_periodic_backup(store: StudyStore, repo_id: str, token: str | None, minutes: float = DEFAULT_MINUTES,
                          api=None) -> threading.Thread:
    """A daemon thread that calls `backup` every ``minutes``; a failed upload is logged and retried next time."""
    def loop() -> None:
        while True:
            time.sleep(minutes * 60)
            try:
                backup(store, repo_id, token, api)
            except Exception:  # the network can fail; the answers are safe in the database
                log.exception("Study backup to %s failed; retrying in %s minutes", repo_id, minutes)

    thread = threading.Thread(target=loop, name="study-backup", daemon=True)
    thread.start()
    return thread

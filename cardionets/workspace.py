"""Where CardioNets keeps what it makes at run time: background jobs, the pointer to the active weights, and
(only when a user opts in) saved uploads. ``CARDIONETS_HOME`` moves it; the default is the repository's
git-ignored ``artifacts/``. Nothing here is ever committed."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
HOME_ENV = "CARDIONETS_HOME"


def workspace() -> Path:
    folder = Path(os.environ.get(HOME_ENV) or REPO_ROOT / "artifacts")
    folder.mkdir(parents=True, exist_ok=True)
    return folder

"""The admin page's lock. The admin password is configured as its SHA-256 (hex) in the environment variable
``CARDIONETS_ADMIN_PASSWORD_SHA256`` or the Streamlit secret of the same name, never in the repository; without
one the admin page stays disabled. A typed password is hashed and compared in constant time.

    python -c "import hashlib, getpass; print(hashlib.sha256(getpass.getpass().encode()).hexdigest())"
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections.abc import Mapping

ADMIN_HASH_SETTING = "CARDIONETS_ADMIN_PASSWORD_SHA256"
HUB_TOKEN_SETTING = "HF_TOKEN"  # for pushing weights to the Hub from the admin page


def setting(name: str, secrets: Mapping | None = None) -> str | None:
    """A secret setting: the environment first, then ``secrets`` (st.secrets); None when neither has it."""
    value = os.environ.get(name)
    if not value and secrets is not None:
        try:
            value = secrets.get(name)
        except Exception:  # noqa: BLE001 - st.secrets raises when no secrets file exists: then there is none
            value = None
    return str(value) if value else None


def configured_hash(secrets: Mapping | None = None) -> str | None:
    """The configured admin password hash, or None (admin disabled) when none, or a malformed one, is set."""
    value = (setting(ADMIN_HASH_SETTING, secrets) or "").strip().lower()
    return value if len(value) == 64 and all(c in "0123456789abcdef" for c in value) else None


def password_matches(password: str, expected_hash: str | None) -> bool:
    if not expected_hash or not password:
        return False
    given = hashlib.sha256(password.encode("utf-8")).hexdigest()
    return hmac.compare_digest(given, expected_hash)

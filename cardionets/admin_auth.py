"""The admin page's lock. The admin password is configured as a salted scrypt hash in the environment variable
``CARDIONETS_ADMIN_PASSWORD_HASH`` or the Streamlit secret of the same name, never in the repository; without
one the admin page stays disabled. Make the hash with

    python -m cardionets.admin_auth          # asks for the password twice, prints the line to set

A typed password is hashed with the configured salt and cost and compared in constant time; scrypt's cost
(about 50 ms and 16 MB per guess) and the page's back-off after failed attempts (`throttle.Backoff`) keep
guessing slow. A hash made before scrypt, the unsalted SHA-256 in ``CARDIONETS_ADMIN_PASSWORD_SHA256``, still
unlocks the page, which then asks for a new one.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

ADMIN_HASH_SETTING = "CARDIONETS_ADMIN_PASSWORD_HASH"
LEGACY_HASH_SETTING = "CARDIONETS_ADMIN_PASSWORD_SHA256"
HUB_TOKEN_SETTING = "HF_TOKEN"  # for pushing weights to the Hub from the admin page
# scrypt's interactive-login cost (RFC 7914): N = 2^14, r = 8, p = 1 needs 16 MB and about 50 ms per guess.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
SCRYPT_MAX_N = 2**20  # a configured cost above this would make every login take seconds: refused as malformed


def setting(name: str, st_secrets: Mapping | None = None) -> str | None:
    """A secret setting: the environment first, then ``st_secrets`` (st.secrets); None when neither has it."""
    value = os.environ.get(name)
    if not value and st_secrets is not None:
        try:
            value = st_secrets.get(name)
        except Exception:  # noqa: BLE001 - st.secrets raises when no secrets file exists: then there is none
            value = None
    return str(value) if value else None


@dataclass(frozen=True)
class PasswordHash:
    """A configured admin password hash: ``scrypt$N$r$p$salt$hash`` (hex), or a legacy unsalted SHA-256."""

    scheme: str  # "scrypt" or "sha256"
    digest: bytes
    salt: bytes = b""
    n: int = SCRYPT_N
    r: int = SCRYPT_R
    p: int = SCRYPT_P

    @property
    def legacy(self) -> bool:
        return self.scheme == "sha256"

    @classmethod
    def parse(cls, text: str) -> PasswordHash | None:
        """None for anything malformed (a plain password pasted by mistake, a truncated line)."""
        text = text.strip()
        parts = text.split("$")
        try:
            if len(parts) == 6 and parts[0] == "scrypt":
                n, r, p = (int(part) for part in parts[1:4])
                salt, digest = bytes.fromhex(parts[4]), bytes.fromhex(parts[5])
                if n < 2 or n & (n - 1) or n > SCRYPT_MAX_N or not 1 <= r <= 32 or not 1 <= p <= 16:
                    return None
                if len(salt) < 16 or len(digest) < 32:
                    return None
                return cls("scrypt", digest, salt, n, r, p)
            if len(text) == 64:
                return cls("sha256", bytes.fromhex(text))
        except ValueError:
            return None
        return None

    def matches(self, password: str) -> bool:
        if not password:
            return False
        given = password.encode("utf-8")
        if self.legacy:
            computed = hashlib.sha256(given).digest()
        else:
            computed = hashlib.scrypt(given, salt=self.salt, n=self.n, r=self.r, p=self.p,
                                      maxmem=256 * self.n * self.r + 2**20, dklen=len(self.digest))
        return hmac.compare_digest(computed, self.digest)


def hash_password(password: str) -> str:
    """The line to configure for ``password``: scrypt with a fresh 16-byte salt."""
    if not password:
        raise ValueError("An empty password cannot lock the admin page.")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${salt.hex()}${digest.hex()}"


def configured_hash(st_secrets: Mapping | None = None) -> PasswordHash | None:
    """The configured admin password hash, or None (admin disabled) when none, or only a malformed one, is set.
    The scrypt setting wins over the legacy SHA-256 one."""
    for name in (ADMIN_HASH_SETTING, LEGACY_HASH_SETTING):
        value = setting(name, st_secrets)
        if value:
            found = PasswordHash.parse(value)
            if found is not None and found.legacy == (name == LEGACY_HASH_SETTING):
                return found
    return None


def password_matches(password: str, expected: PasswordHash | None) -> bool:
    return expected is not None and expected.matches(password)


def main() -> None:
    password = getpass.getpass("Admin password: ")
    if password != getpass.getpass("Again: "):
        raise SystemExit("The two passwords differ; nothing was made.")
    print(f"{ADMIN_HASH_SETTING}={hash_password(password)}")


if __name__ == "__main__":
    main()

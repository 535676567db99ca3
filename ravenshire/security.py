"""Password hashes for the optional UI login: ``scrypt`` from the standard library, never a plain password.

A stored hash is ``scrypt$<n>$<r>$<p>$<salt, base64>$<key, base64>`` (n = 2**14, r = 8, p = 1, a 16-byte random salt,
a 32-byte key). Make one with ``python -m ravenshire hash-password`` and put it in the environment
(``RAVENSHIRE_UI_PASSWORD_HASH``) or in ``.streamlit/secrets.toml`` (git-ignored)::

    [auth.users.alice]
    password_hash = "scrypt$16384$8$1$..."
    role = "operator"          # or "viewer"
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

__all__ = ["hash_password", "verify_password"]

_N, _R, _P, _KEY = 2**14, 8, 1, 32


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The scrypt hash of ``password`` (see the module docstring). ValueError for an empty password."""
    if not password:
        raise ValueError("the password is empty")
    salt = salt or secrets.token_bytes(16)
    key = hashlib.scrypt(password.encode("utf-8"), salt=salt, n=_N, r=_R, p=_P, dklen=_KEY)
    return f"scrypt${_N}${_R}${_P}${_b64(salt)}${_b64(key)}"


def verify_password(password: str, stored: str) -> bool:
    """True when ``password`` matches the ``stored`` hash (constant-time compare); False for a malformed hash."""
    try:
        scheme, n, r, p, salt, key = stored.strip().split("$")
        if scheme != "scrypt":
            return False
        expected = base64.b64decode(key, validate=True)
        got = hashlib.scrypt(
            password.encode("utf-8"),
            salt=base64.b64decode(salt, validate=True),
            n=int(n),
            r=int(r),
            p=int(p),
            dklen=len(expected),
            maxmem=256 * 1024 * 1024,
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)

"""The optional login, the viewer/operator roles and the audit log of the UI.

Login is on when ``RAVENSHIRE_UI_PASSWORD_HASH`` is set (one user, ``RAVENSHIRE_UI_USER`` or "operator", role
operator; ``RAVENSHIRE_UI_VIEWER_PASSWORD_HASH`` adds a "viewer") or when ``.streamlit/secrets.toml`` has users::

    [auth.users.alice]
    password_hash = "scrypt$16384$8$1$..."      # python -m ravenshire hash-password
    role = "operator"                           # operator | viewer

With login on, every page asks for it first (:func:`login_gate`, called by app.py's frame); viewers read,
operators may also run backtests, send orders, set the kill switch and queue jobs (:func:`can_operate`). With
login off (a single user on their own machine) the user is the local account, an operator. Every operator action
is written to the ``audit_log`` table with who, role, what, target, outcome and details (:func:`audit`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import getpass
import json
import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import streamlit as st
from sqlalchemy import insert

from ravenshire.agents.base import to_jsonable
from ravenshire.security import verify_password
from ravenshire.store import schema as s
from ravenshire.store import write

__all__ = ["ROLES", "User", "audit", "auth_enabled", "can_operate", "current_user", "login_gate", "logout", "users"]

log = logging.getLogger("ravenshire.ui.auth")

ROLES = ("viewer", "operator")
_USER_KEY = "_ravenshire_user"


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    role: str

    @property
    def is_operator(self) -> bool:
        return self.role == "operator"


def users() -> dict[str, tuple[str, str]]:
    """Configured users: name → (password hash, role). Empty when login is off. Secrets come only from the
    environment and ``.streamlit/secrets.toml``."""
    out: dict[str, tuple[str, str]] = {}
    operator_hash = os.environ.get("RAVENSHIRE_UI_PASSWORD_HASH", "").strip()
    if operator_hash:
        out[os.environ.get("RAVENSHIRE_UI_USER", "operator").strip() or "operator"] = (operator_hash, "operator")
    viewer_hash = os.environ.get("RAVENSHIRE_UI_VIEWER_PASSWORD_HASH", "").strip()
    if viewer_hash:
        out["viewer"] = (viewer_hash, "viewer")
    try:
        section = st.secrets.get("auth", {}).get("users", {})
    except Exception:  # no secrets file, or one that does not parse: login from the environment only
        section = {}
    for name, entry in dict(section).items():
        role = str(entry.get("role", "viewer")).strip().lower()
        hashed = str(entry.get("password_hash", "")).strip()
        if hashed and role in ROLES:
            out[str(name)] = (hashed, role)
        else:
            log.warning("user %r in secrets.toml needs password_hash and role (operator or viewer): ignored", name)
    return out


def auth_enabled() -> bool:
    return bool(users())


def _local_user() -> str:
    try:
        return getpass.getuser() or "local"
    except (ImportError, KeyError, OSError):
        return "local"


def current_user() -> User | None:
    """The logged-in user; the local account (an operator) when login is off; None when login is on and nobody
    has logged in."""
    if not auth_enabled():
        return User(_local_user(), "operator")
    value = st.session_state.get(_USER_KEY)
    return User(*value) if value else None


def can_operate() -> bool:
    """True when the current user may act (run backtests, send orders, set the kill switch, queue jobs)."""
    user = current_user()
    return user is not None and user.is_operator


def audit(
    action: str,
    *,
    target: str | None = None,
    outcome: str = "ok",
    detail: Mapping[str, Any] | None = None,
    user: User | None = None,
) -> None:
    """Append an ``audit_log`` row for the current user's ``action`` (a failure to write is logged, not raised:
    the action itself already happened or was refused)."""
    from ravenshire.ui.common import get_config, get_engine

    who = user or current_user() or User("anonymous", "viewer")
    try:
        config = get_config()
        engine = get_engine(config.store_url, config.store.busy_timeout_ms)
        with write(engine) as conn:
            conn.execute(
                insert(s.audit_log),
                {
                    "at": dt.datetime.now(dt.UTC),
                    "actor": who.name[:64],
                    "role": who.role,
                    "origin": "ui",
                    "action": action[:64],
                    "target": None if target is None else str(target)[:128],
                    "outcome": outcome,
                    "detail": None if detail is None else json.dumps(to_jsonable(dict(detail))),
                },
            )
    except Exception:
        log.exception("audit log not written for %s %s", who.name, action)


def login_gate(page: str | None = None) -> User:
    """With login on and nobody logged in: the login form, then ``st.stop()`` (``page``, a deep link, is opened
    after the login). Returns the user otherwise."""
    from ravenshire.ui.common import DEEP_LINK_KEY

    user = current_user()
    if user is not None:
        return user
    page = page or _page_in_url()
    if page:  # opened after the login
        st.session_state[DEEP_LINK_KEY] = page
    known = users()
    st.markdown("### Sign in")
    st.caption("This Ravenshire requires a login. Viewers read; operators may also trade and run jobs.")
    with st.form("login"):
        name = st.text_input("User", value=next(iter(known)) if len(known) == 1 else "")
        password = st.text_input("Password", type="password")
        submitted = st.form_submit_button("Sign in", type="primary")
    if submitted:
        who = name.strip()[:64]
        key = (who, _client())
        wait = _throttle().wait(key)
        if wait > 0:
            audit(
                "login",
                target=who,
                outcome="refused",
                detail={"locked_s": round(wait)},
                user=User(who or "?", "viewer"),
            )
            st.error(f"Too many failed sign-ins for {who!r}: try again in {wait / 60:.0f} min.")
            st.stop()
        entry = known.get(who)
        if entry is not None and verify_password(password, entry[0]):
            _throttle().clear(key)
            st.session_state[_USER_KEY] = (who, entry[1])
            audit("login", target=who, user=User(who, entry[1]))
            st.rerun()
        fails = _throttle().fail(key)
        time.sleep(min(5.0, 0.5 * fails))  # slows guessing down
        audit("login", target=who, outcome="refused", user=User(who or "?", "viewer"))
        st.error("Unknown user or wrong password.")
    st.stop()
    raise AssertionError("st.stop() returned")  # pragma: no cover


class _Throttle:
    """Failed sign-ins per (user name, client address), shared by every session of the server: after
    :data:`LOCK_AFTER` failures within :data:`LOCK_WINDOW` seconds that pair is locked for the rest of the window.
    Keyed by the client too, so that someone guessing cannot lock the operator out from elsewhere; old entries are
    pruned and the table is bounded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._fails: dict[tuple[str, str], list[float]] = {}

    def _recent(self, key: tuple[str, str], now: float) -> list[float]:
        if len(self._fails) > LOCK_TABLE:  # bounded: forget the stalest pairs
            stale = sorted(self._fails, key=lambda k: self._fails[k][-1] if self._fails[k] else 0.0)
            for old in stale[: len(self._fails) - LOCK_TABLE // 2]:
                del self._fails[old]
        kept = [t for t in self._fails.get(key, []) if now - t < LOCK_WINDOW]
        if kept:
            self._fails[key] = kept
        else:
            self._fails.pop(key, None)
        return kept

    def wait(self, key: tuple[str, str]) -> float:
        """Seconds ``key`` is still locked (0: not locked)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            return max(0.0, recent[0] + LOCK_WINDOW - now) if len(recent) >= LOCK_AFTER else 0.0

    def fail(self, key: tuple[str, str]) -> int:
        """Record a failure; returns the failures within the window."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(key, now)
            recent.append(now)
            self._fails[key] = recent
            return len(recent)

    def clear(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._fails.pop(key, None)


LOCK_TABLE = 10_000
LOCK_AFTER, LOCK_WINDOW = 10, 900.0


@st.cache_resource
def _throttle() -> _Throttle:
    return _Throttle()


def _client() -> str:
    """The client's address as Streamlit sees it ("local" for loopback, where Streamlit gives none)."""
    try:
        return str(st.context.ip_address or "local")
    except Exception:  # no browser context (AppTest)
        return "local"


def _page_in_url() -> str | None:
    """The page file the browser's URL names (``/operations?run=3`` → ``pages/operations.py``), if any."""
    from pathlib import Path
    from urllib.parse import urlparse

    try:
        segment = urlparse(st.context.url or "").path.rstrip("/").rsplit("/", 1)[-1]
    except Exception:  # no browser context (AppTest): nothing to keep
        return None
    page = f"pages/{segment}.py"
    return page if segment and (Path(__file__).resolve().parents[2] / page).is_file() else None


def logout() -> None:
    user = current_user()
    if user is not None and auth_enabled():
        audit("logout", target=user.name)
    st.session_state.pop(_USER_KEY, None)

"""Cached resources and small helpers for the Streamlit pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import Engine

from ravenshire.config import Config, load_config
from ravenshire.errors import RavenshireError
from ravenshire.execution import ExecutionManager, KillSwitchState, kill_switch_state
from ravenshire.store import init_db

__all__ = [
    "LIVE_TTL",
    "attempt",
    "cached_query",
    "clear_reads",
    "demo_banner",
    "execution_query",
    "flash",
    "get_config",
    "get_engine",
    "get_execution_manager",
    "get_manager",
    "kill_switch_badge",
    "kill_switch_banner",
    "live_panel",
    "live_query",
    "read_kill_switch",
    "run_action",
    "show_flashes",
]

log = logging.getLogger("ravenshire.ui")
T = TypeVar("T")

#: Longest life (seconds) of a cached read that must not be stale for long (the kill switch): the shorter of this
#: and ``[UI] cache_ttl``.
LIVE_TTL = 3

# The ``clear`` of each cache of store reads (one for cached_query's reads, one for live_query's).
_CLEARERS: dict[str, Callable[[], None]] = {}


@st.cache_resource(show_spinner=False)
def get_config() -> Config:
    """The configuration, loaded once per server process (restart the app to reload it)."""
    return load_config()


@st.cache_resource(show_spinner=False)
def get_engine(url: str, busy_timeout_ms: int) -> Engine:
    """The store's engine (a pool shared by every session), created or upgraded on first use."""
    return init_db(url, busy_timeout_ms=busy_timeout_ms)


@st.cache_resource(show_spinner=False)
def _manager(_config: Config, url: str) -> Any:
    from ravenshire.data import DataManager

    return DataManager(_config, engine=get_engine(url, _config.store.busy_timeout_ms), origin="ui")


def get_manager() -> Any:
    """The process's DataManager, bound to the configured store."""
    config = get_config()
    return _manager(config, config.store_url)


@st.cache_resource(show_spinner=False)
def _execution_manager(_config: Config, url: str) -> ExecutionManager:
    return ExecutionManager(_config, engine=get_engine(url, _config.store.busy_timeout_ms), origin="ui")


def get_execution_manager() -> ExecutionManager:
    """The process's ExecutionManager (origin ``ui``: the orders it sends are stored as the UI's)."""
    config = get_config()
    return _execution_manager(config, config.store_url)


def _ttl() -> int:
    try:
        return get_config().ui.cache_ttl
    except RavenshireError:
        return 15


def _live_ttl() -> int:
    return min(_ttl(), LIVE_TTL)


def cached_query(func: Callable[..., T]) -> Callable[..., T]:
    """Wrap a query ``func(engine, *args)`` in ``st.cache_data`` with the configured short TTL.

    Another process (the scheduler) writes the store, so results live only ``[UI] cache_ttl`` seconds.
    """

    name = f"{func.__module__}.{func.__qualname__}"

    # st.cache_data keys on the wrapped function's code, the same for every query wrapped here: the query's
    # name is an argument so that each query has entries of its own.
    @st.cache_data(ttl=_ttl(), show_spinner=False)
    def _cached(_engine: Engine, url: str, query: str, *args: Any) -> T:
        return func(_engine, *args)

    def call(*args: Any) -> T:
        config = get_config()
        engine = get_engine(config.store_url, config.store.busy_timeout_ms)
        return _cached(engine, config.store_url, name, *args)

    call.clear = _cached.clear  # type: ignore[attr-defined]
    _CLEARERS["query"] = _cached.clear
    return call


def live_query(func: Callable[..., T]) -> Callable[..., T]:
    """:func:`cached_query` with a life of at most :data:`LIVE_TTL` seconds, for what must not be stale for long
    (the kill switch). Its own cache: st.cache_data rebuilds a cache whose TTL changes, so reads of two TTLs
    must not share one."""

    name = f"{func.__module__}.{func.__qualname__}"

    @st.cache_data(ttl=_live_ttl(), show_spinner=False)
    def _live(_engine: Engine, url: str, query: str, *args: Any) -> T:
        return func(_engine, *args)

    def call(*args: Any) -> T:
        config = get_config()
        engine = get_engine(config.store_url, config.store.busy_timeout_ms)
        return _live(engine, config.store_url, name, *args)

    call.clear = _live.clear  # type: ignore[attr-defined]
    _CLEARERS["live"] = _live.clear
    return call


def clear_reads() -> None:
    """Forget every cached store read (after this session wrote to the store)."""
    for clear in _CLEARERS.values():
        clear()


def execution_query(method: str) -> Callable[..., Any]:
    """A cached read (:func:`cached_query`) of the ExecutionManager's ``method``, e.g.
    ``execution_query("positions")()``; its arguments are the method's."""
    if not callable(getattr(ExecutionManager, method, None)):
        raise AttributeError(f"ExecutionManager has no method {method!r}")

    def query(_engine: Engine, *args: Any) -> Any:
        return getattr(get_execution_manager(), method)(*args)

    query.__qualname__ = f"ExecutionManager.{method}"
    return cached_query(query)


# ------------------------------------------------------------------ the kill switch, on every page
_kill_switch_read: Callable[[], KillSwitchState] | None = None


def read_kill_switch() -> KillSwitchState:
    """The kill switch's state, read at most :data:`LIVE_TTL` seconds ago; raises when the store cannot be read."""
    global _kill_switch_read
    if _kill_switch_read is None:
        _kill_switch_read = live_query(kill_switch_state)
    return _kill_switch_read()


def _kill_switch_or_error() -> tuple[KillSwitchState | None, str | None]:
    try:
        return read_kill_switch(), None
    except RavenshireError as exc:
        log.warning("cannot read the kill switch: %s", exc)
        return None, str(exc)
    except Exception as exc:  # the frame must draw whatever the store does; the traceback goes to the server log
        log.exception("cannot read the kill switch")
        return None, f"{type(exc).__name__}: {exc}"


def kill_switch_banner() -> KillSwitchState | None:
    """A red banner while the kill switch is on (who, why, when); a clear error when it cannot be read."""
    state, error = _kill_switch_or_error()
    if error is not None:
        st.error(
            f"**Kill switch state unknown** — the store could not be read ({error}). Orders are checked against "
            "the switch when sent, so none is sent while it is on; see the app's log.",
            icon=":material/report:",
        )
    elif state is not None and state.active:
        st.error(
            f"**TRADING HALTED** — {state.message}. No order is sent while the kill switch is on; clear it on "
            "the Execution page.",
            icon=":material/block:",
        )
    return state


def kill_switch_badge() -> None:
    """The kill switch's state as a sidebar badge."""
    state, error = _kill_switch_or_error()
    if error is not None or state is None:
        st.markdown(":gray-badge[:material/help: Kill switch: unknown]")
    elif state.active:
        st.markdown(":red-badge[:material/block: Kill switch ON — trading halted]")
    else:
        st.markdown(":green-badge[:material/check_circle: Trading on]")


def live_panel(panel: Callable[[], Any]) -> None:
    """Draw ``panel`` as a fragment that redraws itself every ``[UI] refresh_seconds``."""
    st.fragment(panel, run_every=get_config().ui.refresh_seconds)()


def demo_banner(is_demo: bool) -> None:
    """The DEMO DATA banner, on every page while the synthetic source is in use."""
    if is_demo:
        st.warning(
            "**DEMO DATA** — prices come from the synthetic source (a simulated market), not from a real one. "
            "Set `[DATA] source` in config/trading_config.ini to use real data.",
            icon=":material/science:",
        )


def run_action(label: str, action: Callable[[], T]) -> T | None:
    """Run a user's action; show a clear error instead of a traceback. Returns None when it failed."""
    try:
        with st.spinner(label):
            return action()
    except RavenshireError as exc:
        st.error(str(exc), icon=":material/error:")
    except Exception as exc:  # a bug: say so plainly, keep the traceback in the server log
        log.exception("unexpected error in %s", label)
        st.error(f"Unexpected error ({type(exc).__name__}): {exc}. Details are in the app's log.")
    return None


def attempt(label: str, action: Callable[[], T]) -> tuple[T | None, str | None]:
    """Like :func:`run_action`, but the failure is returned as a message instead of being shown: ``(result,
    None)`` or ``(None, message)`` (to keep it for the next run with :func:`flash`)."""
    try:
        with st.spinner(label):
            return action(), None
    except RavenshireError as exc:
        return None, str(exc)
    except Exception as exc:  # a bug: say so plainly, keep the traceback in the server log
        log.exception("unexpected error in %s", label)
        return None, f"Unexpected error ({type(exc).__name__}): {exc}. Details are in the app's log."


_FLASH_KEY = "_ravenshire_flash"


def flash(kind: str, message: str) -> None:
    """Keep a message to show after the next rerun (``kind``: success, warning, info or error)."""
    st.session_state.setdefault(_FLASH_KEY, []).append((kind, message))


def show_flashes() -> None:
    """Show, once, the messages kept by :func:`flash`."""
    for kind, message in st.session_state.pop(_FLASH_KEY, []):
        getattr(st, kind)(message)


#: Session keys of the frame guard (see :func:`require_frame`).
FRAME_KEY = "_ravenshire_frame"
DEEP_LINK_KEY = "_ravenshire_deep_link"


_BOOTSTRAPPED_KEY = "_ravenshire_bootstrapped"


@st.cache_resource
def _bootstrap_lock() -> threading.Lock:
    return threading.Lock()


def bootstrap_demo_store() -> list[Any]:
    """On an empty store with the synthetic source, generate the demo universe once (an operator's first visit:
    the frame calls it; two sessions at once wait for one another), audited. Returns the fetch summaries."""
    from ravenshire.ui.auth import audit, can_operate

    config = get_config()
    if not config.is_demo or not can_operate() or st.session_state.get(_BOOTSTRAPPED_KEY):
        return []
    with _bootstrap_lock():
        manager = get_manager()
        if not manager.store_is_empty():
            st.session_state[_BOOTSTRAPPED_KEY] = True  # this session need not look again
            return []
        with st.spinner("Empty store: generating the demo universe (DEMO DATA)…"):
            done = list(manager.bootstrap_demo())
    if done:
        audit("data_bootstrap", target="demo universe", detail={"bars": sum(s.rows_stored for s in done)})
        clear_reads()
    st.session_state[_BOOTSTRAPPED_KEY] = True
    return done


def take_deep_link() -> str | None:
    """The page a deep link asked for before the frame was up (see :func:`require_frame`), once, or None."""
    value = st.session_state.pop(DEEP_LINK_KEY, None)
    return value if isinstance(value, str) else None


def mark_frame() -> None:
    """Called by app.py once its login gate has let the user in: pages may run inside the frame."""
    st.session_state[FRAME_KEY] = True


def require_frame(page: str) -> None:
    """First line of every page: run the page only inside app.py's frame, for a signed-in user (login gate,
    kill-switch banner, sidebar). With a ``pages/`` folder beside app.py, Streamlit runs a server's script runs
    as a v1 multipage app — the page file alone, without app.py, from a deep link (``/execution``) or the v1
    sidebar — until app.py's ``st.navigation`` has run once in the process (with login on: until someone signed
    in). Such a run is sent to app.py, which asks for the login if needed, then opens ``page``."""
    from ravenshire.ui.auth import current_user

    if st.session_state.get(FRAME_KEY) and current_user() is not None:
        return
    st.session_state[DEEP_LINK_KEY] = page
    st.switch_page("app.py")

"""Cached resources and small helpers for the Streamlit pages."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import streamlit as st
from sqlalchemy import Engine

from ravenshire.config import Config, load_config
from ravenshire.errors import RavenshireError
from ravenshire.store import init_db

__all__ = [
    "cached_query",
    "demo_banner",
    "flash",
    "get_config",
    "get_engine",
    "get_manager",
    "run_action",
    "show_flashes",
]

log = logging.getLogger("ravenshire.ui")
T = TypeVar("T")


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


def _ttl() -> int:
    try:
        return get_config().ui.cache_ttl
    except RavenshireError:
        return 15


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
    return call


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


_FLASH_KEY = "_ravenshire_flash"


def flash(kind: str, message: str) -> None:
    """Keep a message to show after the next rerun (``kind``: success, warning, info or error)."""
    st.session_state.setdefault(_FLASH_KEY, []).append((kind, message))


def show_flashes() -> None:
    """Show, once, the messages kept by :func:`flash`."""
    for kind, message in st.session_state.pop(_FLASH_KEY, []):
        getattr(st, kind)(message)

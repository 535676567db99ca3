"""Streamlit glue shared by ``app.py`` and ``pages/``: cached resources, the demo banner, safe actions.

Only the UI imports this package (the scheduler never imports Streamlit). It holds no business logic: pages
read through the layers' query functions and call the layers' managers.
"""

from ravenshire.ui.common import (
    LIVE_TTL,
    attempt,
    bootstrap_demo_store,
    cached_query,
    clear_reads,
    demo_banner,
    execution_query,
    flash,
    get_config,
    get_engine,
    get_execution_manager,
    get_manager,
    kill_switch_badge,
    kill_switch_banner,
    live_panel,
    live_query,
    mark_frame,
    read_kill_switch,
    require_frame,
    run_action,
    show_flashes,
    take_deep_link,
)

__all__ = [
    "LIVE_TTL",
    "attempt",
    "bootstrap_demo_store",
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
    "mark_frame",
    "read_kill_switch",
    "require_frame",
    "run_action",
    "show_flashes",
    "take_deep_link",
]

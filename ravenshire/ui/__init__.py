"""Streamlit glue shared by ``app.py`` and ``pages/``: cached resources, the demo banner, safe actions.

Only the UI imports this package (the scheduler never imports Streamlit). It holds no business logic: pages
read through the layers' query functions and call the layers' managers.
"""

from ravenshire.ui.common import (
    cached_query,
    demo_banner,
    flash,
    get_config,
    get_engine,
    get_manager,
    run_action,
    show_flashes,
)

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

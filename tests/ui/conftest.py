"""UI fixtures: an app environment (config + fresh store in tmp) and clean Streamlit caches."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from tests.conftest import write_ini

UI_INI = """
[DATA]
universe = AAA, BBB, VIX
history_start = 2025-06-02
[UI]
cache_ttl = 1
"""


@pytest.fixture
def app_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    ini = write_ini(tmp_path / "ui.ini", UI_INI)
    env = {"RAVENSHIRE_CONFIG": str(ini), "RAVENSHIRE_STORE_URL": f"sqlite:///{tmp_path / 'ui.db'}"}
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    st.cache_resource.clear()
    st.cache_data.clear()
    yield env
    st.cache_resource.clear()
    st.cache_data.clear()


@pytest.fixture(autouse=True)
def navigation_v2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Run pages inside app.py's frame, as the server does once st.navigation has run in the process.

    With a ``pages/`` folder beside app.py, Streamlit runs a process's script runs as a v1 multipage app (a page
    file alone, without app.py) until ``st.navigation`` has run once; AppTest resets that before every run, so a
    switched-to page would run without the frame (no login gate, no kill switch banner, no sidebar). The browser
    tests run a real server, which this does not touch (they test the v1 start itself).
    """
    init = PagesManager.__init__

    def v2(self: PagesManager, *args: object, **kwargs: object) -> None:
        init(self, *args, **kwargs)  # type: ignore[arg-type]
        PagesManager.uses_pages_directory = False

    monkeypatch.setattr(PagesManager, "__init__", v2)


@pytest.fixture
def shots(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """Where a browser test saves its screenshots: ``$RAVENSHIRE_ARTIFACTS/<test>/`` when set (CI keeps them as
    test artifacts), else the test's temp dir."""
    root = os.environ.get("RAVENSHIRE_ARTIFACTS")
    if not root:
        return tmp_path
    folder = Path(root) / request.node.name.replace("/", "_")
    folder.mkdir(parents=True, exist_ok=True)
    return folder

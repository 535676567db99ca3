"""Shared fixtures: a real SQLite store in a temp dir, a configuration pointing at it, a pinned clock."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from ravenshire.config import Config, load_config
from ravenshire.data import DataManager
from ravenshire.data.cache import DataCache
from ravenshire.store import init_db

PROJECT = Path(__file__).resolve().parents[1]
#: A fixed "now" (after the close of Friday 2024-06-28) so tests do not depend on the day they run.
NOW = pd.Timestamp("2024-06-29 12:00", tz="UTC")


def skip_or_fail(reason: str) -> None:
    """Skip a test whose tool is missing here; in CI (``CI`` set), where .ci/run installs it, fail instead."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason} — .ci/run should have installed it")
    pytest.skip(reason)


def write_ini(path: Path, body: str) -> Path:
    path.write_text(textwrap.dedent(body).lstrip(), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def _clear_memory_cache() -> None:
    DataCache.clear_memory()


@pytest.fixture(autouse=True)
def _no_mlflow_server(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's MLFLOW_TRACKING_URI must not receive the test suite's runs (tests that want MLflow say so)."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)


@pytest.fixture
def make_config(tmp_path: Path) -> Callable[..., Config]:
    """Build a Config from ini text (``[STORE] url`` defaults to a fresh SQLite file in tmp_path)."""

    def make(body: str = "", **env: str) -> Config:
        ini = write_ini(tmp_path / "test.ini", body)
        env = {"RAVENSHIRE_STORE_URL": f"sqlite:///{tmp_path / 'store.db'}", **env}
        return load_config(ini, env=env)

    return make


@pytest.fixture
def config(make_config: Callable[..., Config]) -> Config:
    return make_config(
        """
        [DATA]
        source = synthetic
        universe = AAA, BBB, CCC
        history_start = 2023-01-03
        synthetic_seed = 11
        """
    )


@pytest.fixture
def manager(config: Config) -> DataManager:
    return DataManager(config, engine=init_db(config.store_url), now=NOW)

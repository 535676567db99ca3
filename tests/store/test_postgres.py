"""The same store code on PostgreSQL, through nothing but its URL."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest

from ravenshire.data import DataManager
from ravenshire.store import current_revision, head_revision, init_db
from tests.conftest import NOW
from tests.pg import postgres_server


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    yield from postgres_server()


def test_migrations_fetch_versions_and_reads_work_on_postgresql(pg_url: str, make_config) -> None:
    engine = init_db(pg_url)
    assert current_revision(engine) == head_revision()
    config = make_config("[DATA]\nuniverse = AAA, BBB\nhistory_start = 2024-01-02\n", RAVENSHIRE_STORE_URL=pg_url)
    manager = DataManager(config, engine=engine, now=NOW)
    data = manager.get_market_data(create_version=True)
    assert list(data["adj_close"].columns) == ["AAA", "BBB"]
    assert data.index[0] == pd.Timestamp("2024-01-02") and data.index[-1] == pd.Timestamp("2024-06-28")
    # same bars on SQLite, bit for bit
    sqlite_config = make_config("[DATA]\nuniverse = AAA, BBB\nhistory_start = 2024-01-02\n")
    on_sqlite = DataManager(sqlite_config, now=NOW).get_market_data()
    np.testing.assert_array_equal(data.to_numpy(), on_sqlite.to_numpy())
    again = manager.load_version(data.attrs["data_version"])
    pd.testing.assert_frame_equal(again, data, check_exact=True)
    assert manager.fetch() == []  # nothing missing the second time

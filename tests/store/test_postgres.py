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


def test_writers_take_turns_on_postgresql(pg_url: str) -> None:
    """Regression: two concurrent writers merging the same series lost bars (PostgreSQL has no BEGIN IMMEDIATE)."""
    from sqlalchemy import text

    from ravenshire.store import write
    from ravenshire.store.engine import WRITE_LOCK_KEY

    engine = init_db(pg_url)
    with write(engine), engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY}).scalar() is False
    with engine.connect() as other:
        assert other.execute(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": WRITE_LOCK_KEY}).scalar() is True


def test_concurrent_fetches_on_postgresql_keep_every_bar(pg_url: str, make_config) -> None:
    import threading

    from sqlalchemy import func, select

    from ravenshire.store import read
    from ravenshire.store import schema as s

    engine = init_db(pg_url)
    config = make_config("[DATA]\nuniverse = RACE\n", RAVENSHIRE_STORE_URL=pg_url)
    spans = [("2023-01-03", "2023-03-31"), ("2023-04-03", "2023-06-30"), ("2023-07-03", "2023-09-29")]
    errors: list[BaseException] = []

    def fetch(span: tuple[str, str]) -> None:
        try:
            DataManager(config, engine=engine, now=NOW).fetch(["RACE"], *span)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=fetch, args=(span,)) for span in spans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with read(engine) as conn:
        n_bars = conn.execute(
            select(func.count()).select_from(s.bars).join(s.instruments).where(s.instruments.c.symbol == "RACE")
        ).scalar_one()
        n_series = conn.execute(
            select(s.series.c.n_bars).join(s.instruments).where(s.instruments.c.symbol == "RACE")
        ).scalar_one()
    assert n_bars == n_series == 187


def test_an_optuna_study_shares_the_postgresql_store(pg_url: str, make_config) -> None:
    import optuna

    from ravenshire.research import ResearchManager

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    engine = init_db(pg_url)
    config = make_config("[DATA]\nuniverse = AAA, BBB\nhistory_start = 2023-01-03\n", RAVENSHIRE_STORE_URL=pg_url)
    data = DataManager(config, engine=engine, now=NOW).get_market_data()
    research = ResearchManager(config, engine=engine)
    space = {"fast": (5, 25, 5), "slow": [30, 60]}
    first = research.optimize_parameters("ma_crossover_fast_slow", data, space, n_trials=5, walk_forward_folds=0)
    again = research.optimize_parameters("ma_crossover_fast_slow", data, space, n_trials=8, walk_forward_folds=0)
    assert again.study_name == first.study_name and again.n_trials == 8
    assert len(optuna.load_study(study_name=first.study_name, storage=pg_url).trials) == 8
    # Optuna's alembic_version and tables sit beside ours; our revision and schema are untouched
    assert current_revision(init_db(pg_url)) == head_revision()


def test_the_execution_ledger_on_postgresql(pg_url: str, make_config) -> None:
    """Orders (one and a basket), fills, positions, cash, the kill switch, metrics and drift on PostgreSQL."""
    from ravenshire.execution import ExecutionManager

    config = make_config(
        "[DATA]\nuniverse = AAA, BBB\nhistory_start = 2024-01-02\n[EXECUTION]\naccount_id = PG-EXEC\n",
        RAVENSHIRE_STORE_URL=pg_url,
    )
    DataManager(config, engine=init_db(pg_url), now=NOW).get_market_data()
    em = ExecutionManager(config)
    first = em.execute_trade("AAA", "BUY", 10, client_order_id="pg-1")
    assert first.status == "filled" and em.execute_trade("AAA", "BUY", 10, client_order_id="pg-1") == first
    basket = em.execute_trades(
        [{"symbol": "BBB", "side": "BUY", "quantity": 5}, {"symbol": "AAA", "side": "SELL", "quantity": 4},
         {"symbol": "AAA", "side": "SELL", "quantity": 100}]
    )  # fmt: skip
    assert [o.status for o in basket] == ["filled", "filled", "rejected"]
    resting = em.execute_trade("AAA", "BUY", 1, price=0.01)
    em.set_kill_switch(actor="pg", reason="test")
    assert em.get_order(resting.id).status == "cancelled"
    assert em.execute_trade("AAA", "BUY", 1).status == "rejected"
    em.clear_kill_switch(actor="pg", reason="test over")
    assert em.reconcile().ok
    assert em.positions()["quantity"].to_dict() == {"AAA": 6.0, "BBB": 5.0}
    metrics = em.mark_to_market()
    assert metrics.n_trades == 3 and em.equity_curve()["equity"].iloc[-1] == pytest.approx(metrics.equity)
    em.start_drift_monitor(backtest_returns=np.random.default_rng(1).normal(0, 0.01, 300), subject="pg", replace=True)
    assert em.check_for_drift(0.001, when="2024-07-01", subject="pg").step == 1

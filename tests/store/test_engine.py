"""The state store: pragmas, migrations, atomic writes, and one writer with readers in other processes."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, insert, inspect, select

from ravenshire.errors import StoreError
from ravenshire.store import (
    VERSION_TABLE,
    check_schema,
    create_store_engine,
    current_revision,
    head_revision,
    init_db,
    migration_options,
    read,
    write,
)
from ravenshire.store import schema as s
from tests.conftest import PROJECT


def _fetch_row(source: str = "test") -> dict:
    now = dt.datetime.now(dt.UTC)
    return {
        "kind": "fetch", "source": source, "origin": "api", "symbols": "[]", "status": "ok",
        "rows_received": 0, "rows_stored": 0, "rows_rejected": 0, "rows_flagged": 0,
        "started_at": now, "finished_at": now,
    }  # fmt: skip


def _count(engine) -> int:
    with read(engine) as conn:
        return conn.execute(select(func.count()).select_from(s.fetches)).scalar_one()


def test_init_creates_the_file_in_a_new_folder_with_wal(tmp_path: Path) -> None:
    db = tmp_path / "nested" / "dir" / "store.db"
    engine = init_db(f"sqlite:///{db}")
    assert db.is_file()
    # WAL is persisted in the file: a plain sqlite3 connection sees it too.
    assert sqlite3.connect(db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    with read(engine) as conn:
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_every_pooled_connection_gets_the_pragmas(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 's.db'}", busy_timeout_ms=1234)
    with engine.connect() as a, engine.connect() as b:
        for conn in (a, b):
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1


def test_migrations_reach_head_and_match_the_schema_module(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 's.db'}")
    assert current_revision(engine) == head_revision()
    check_schema(engine)
    with engine.connect() as conn:
        diffs = compare_metadata(MigrationContext.configure(conn, opts=migration_options()), s.metadata)
    assert diffs == [], "schema.py and the migrations disagree: add a migration"


def test_the_revision_lives_in_our_own_table_and_foreign_tables_are_left_alone(tmp_path: Path) -> None:
    # Optuna shares the database and owns alembic_version: our revision must not be there, and its tables
    # (any table not in schema.py) must not show up as differences.
    engine = init_db(f"sqlite:///{tmp_path / 's.db'}")
    with engine.begin() as conn:
        assert not inspect(conn).has_table("alembic_version")
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('v3.2.0.a')")
        conn.exec_driver_sql("CREATE TABLE studies (study_id INTEGER PRIMARY KEY)")
    assert current_revision(init_db(f"sqlite:///{tmp_path / 's.db'}")) == head_revision()
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar() == "v3.2.0.a"
        assert compare_metadata(MigrationContext.configure(conn, opts=migration_options()), s.metadata) == []


def test_runs_made_before_0003_get_their_built_in_from_their_name(tmp_path: Path) -> None:
    from alembic import command

    from ravenshire.store.engine import _alembic_config

    url = f"sqlite:///{tmp_path / 's.db'}"
    engine = init_db(url)
    with write(engine) as conn:
        command.downgrade(_alembic_config(conn), "0002")
        for name in ("ma_crossover", "MA_Crossover"):
            conn.exec_driver_sql(
                "INSERT INTO runs (kind, strategy, parameters, costs, is_demo, start_date, end_date, initial_capital,"
                " risk_free, metrics, started_at, duration_s) VALUES ('backtest', ?, '{}', '{}', 1, 20240102,"
                " 20240628, 1e5, 0, '{}', '2024-07-01 00:00:00', 0.1)",
                (name,),
            )
        conn.exec_driver_sql("INSERT INTO run_artifacts VALUES (1, 'returns', 'parquet', x'00')")
    with write(init_db(url)) as conn:
        rows = conn.exec_driver_sql("SELECT strategy, builtin FROM runs ORDER BY id").all()
        assert [tuple(r) for r in rows] == [("ma_crossover", "ma_crossover"), ("MA_Crossover", None)]
        command.downgrade(_alembic_config(conn), "0002")  # and back: the runs' artifacts survive
        assert conn.exec_driver_sql("SELECT count(*) FROM run_artifacts").scalar() == 1


def test_a_store_with_its_revision_in_alembic_version_is_adopted(tmp_path: Path) -> None:
    from alembic import command

    from ravenshire.store.engine import _alembic_config

    url = f"sqlite:///{tmp_path / 's.db'}"
    with write(init_db(url)) as conn:  # make it a store from before the move, at revision 0001
        command.downgrade(_alembic_config(conn), "0001")
        conn.exec_driver_sql(f"DROP TABLE {VERSION_TABLE}")
        conn.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32) PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO alembic_version VALUES ('0001')")
    engine = init_db(url)
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        assert not inspect(conn).has_table("alembic_version")
        assert inspect(conn).has_table("runs")


def test_init_is_idempotent(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    init_db(url)
    engine = init_db(url)
    assert current_revision(engine) == head_revision()


def test_an_empty_store_is_reported_with_the_command_to_fix_it(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    with pytest.raises(StoreError, match="python -m ravenshire init"):
        check_schema(engine)


def test_a_write_is_all_or_nothing(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(RuntimeError), write(engine) as conn:
        conn.execute(insert(s.fetches), [_fetch_row(), _fetch_row()])
        raise RuntimeError("crash in the middle of a logical write")
    assert _count(engine) == 0


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(Exception, match="FOREIGN KEY"), write(engine) as conn:
        conn.execute(insert(s.bars).values(instrument_id=999, date=20240102, close=1.0, adj_close=1.0, fetch_id=1))


def _spawn(role: str, url: str, seconds: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.store.worker", role, url, str(seconds)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _result(proc: subprocess.Popen) -> dict:
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_readers_in_other_processes_never_see_locks_or_half_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    init_db(url)
    writer = _spawn("writer", url, 4)
    readers = [_spawn("reader", url, 4) for _ in range(2)]
    w = _result(writer)
    for r in (_result(p) for p in readers):
        assert r["errors"] == []
        assert r["done"] > 10
        # The writer inserts two rows per transaction: a reader never sees an odd count.
        assert all(n % 2 == 0 for n in r["seen"])
    assert w["errors"] == []
    assert w["done"] > 10
    assert _count(init_db(url)) == 2 * w["done"]


def test_two_writers_wait_for_each_other_instead_of_failing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    init_db(url)
    a, b = _spawn("writer", url, 3), _spawn("writer", url, 3)
    ra, rb = _result(a), _result(b)
    assert ra["errors"] == [] and rb["errors"] == []
    assert _count(init_db(url)) == 2 * (ra["done"] + rb["done"])


def test_two_processes_creating_the_same_new_store_both_succeed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    procs = [_spawn("init", url, 0) for _ in range(3)]
    for p in procs:
        assert _result(p)["errors"] == []
    assert current_revision(create_store_engine(url)) == head_revision()

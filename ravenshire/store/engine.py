"""The state store's engine: one entry, :func:`init_db`, and the two ways to use it, :func:`read` and :func:`write`.

SQLite (the default) is set up for one writer process and several reader processes on one host:

- ``journal_mode=WAL`` (persisted in the file): readers never block the writer, nor the writer readers;
- ``busy_timeout``, ``foreign_keys=ON`` and a 64 MiB page cache on every connection (per-connection settings);
- a write transaction starts with ``BEGIN IMMEDIATE``, so it takes the write lock up front and waits
  ``busy_timeout`` for it, instead of failing at once with "database is locked" when a deferred transaction
  later tries to write. Read transactions stay deferred and short.

Any other SQLAlchemy URL (PostgreSQL) is used as it is. Every write that belongs together is one
``with write(engine) as conn:`` block: it commits whole or not at all.

The schema revision lives in the table :data:`VERSION_TABLE` (not Alembic's default ``alembic_version``): Optuna
keeps its studies in the same database and owns ``alembic_version`` for its own tables. Our migrations only
see and compare the tables of :mod:`ravenshire.store.schema`. A store made before the move (its revision in
``alembic_version``) is adopted by :func:`init_db`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import OperationalError as SAOperationalError

from ravenshire.errors import StoreError, TransientError

__all__ = ["VERSION_TABLE", "create_store_engine", "get_engine", "init_db", "migration_options", "read", "write"]

#: The table holding the store's schema revision.
VERSION_TABLE = "ravenshire_version"
_LEGACY_VERSION_TABLE = "alembic_version"

_WRITE_OPTION = "ravenshire_write"


def _sqlite_events(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA cache_size = -65536")  # 64 MiB of page cache, used only when needed
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_WRITE_OPTION, False)
        # A constant statement straight to the driver: the write path's hottest statement, without the ~50 µs
        # of SQLAlchemy's statement machinery (this is SQLAlchemy's "begin" hook for pysqlite).
        conn.connection.dbapi_connection.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")  # type: ignore[union-attr]


def create_store_engine(url: str, *, busy_timeout_ms: int = 30000, echo: bool = False) -> Engine:
    """A new engine for ``url``; for a SQLite file, its folder is created and the pragmas above are set."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo, "future": True}
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            try:
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the folder of the state store {database}: {exc.strerror}") from exc
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": busy_timeout_ms / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    engine = create_engine(parsed, **kwargs)
    if parsed.get_backend_name() == "sqlite":
        _sqlite_events(engine, busy_timeout_ms)
    return engine


#: Key of the PostgreSQL advisory lock that makes writers take turns, as BEGIN IMMEDIATE does on SQLite.
WRITE_LOCK_KEY = 0x5241_5645  # "RAVE"


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


@contextmanager
def write(engine: Engine) -> Iterator[Connection]:
    """One write transaction: commits when the block ends, rolls back whole if it raises.

    Writers take turns: ``BEGIN IMMEDIATE`` on SQLite, a transaction-scoped advisory lock on PostgreSQL. So a
    read-merge-write inside the block (the columnar series, instrument ids) never races another writer, and
    fetch ids are committed in the order they were handed out (the in-memory cache relies on it).

    Raises
    ------
    TransientError
        The write lock was not had within the busy timeout (another writer holds it); try again later.
    """
    with engine.connect() as conn:
        conn.execution_options(**{_WRITE_OPTION: True})
        try:
            transaction = conn.begin()
        except SAOperationalError as exc:
            if "locked" in str(exc.orig) or "busy" in str(exc.orig):
                raise TransientError(
                    f"the state store is busy (another process holds its write lock): {_first_line(exc)}; "
                    "try again in a moment"
                ) from exc
            raise
        with transaction:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": WRITE_LOCK_KEY})
            yield conn


@contextmanager
def read(engine: Engine) -> Iterator[Connection]:
    """A short read transaction: one consistent snapshot (WAL on SQLite; REPEATABLE READ on PostgreSQL, whose
    default READ COMMITTED would let a reconciliation see a writer's commit between two of its queries)."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn.execution_options(isolation_level="REPEATABLE READ")
        with conn.begin():
            yield conn


_engines: dict[tuple[str, int], Engine] = {}
_engines_lock = threading.Lock()


def get_engine(url: str, *, busy_timeout_ms: int = 30000) -> Engine:
    """A process-wide engine per URL (engines are pools: make one, share it)."""
    key = (url, busy_timeout_ms)
    with _engines_lock:
        if key not in _engines:
            _engines[key] = create_store_engine(url, busy_timeout_ms=busy_timeout_ms)
        return _engines[key]


def migration_options() -> dict[str, Any]:
    """Alembic ``MigrationContext`` options of the store: our version table, and only our own tables compared
    (Optuna's tables share the database)."""
    from ravenshire.store.schema import metadata

    def include_name(name: str | None, type_: str, _parents: Any) -> bool:
        return type_ != "table" or name in metadata.tables

    return {"version_table": VERSION_TABLE, "include_name": include_name}


def _alembic_config(conn: Connection) -> Any:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    cfg.attributes["connection"] = conn
    return cfg


def _script() -> Any:
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(Path(__file__).parent / "migrations"))


def head_revision() -> str:
    """The newest migration's revision id."""
    head = _script().get_current_head()
    assert head is not None
    return head


def _revision(conn: Connection, table: str) -> str | None:
    if not inspect(conn).has_table(table):
        return None
    return conn.execute(text(f"SELECT version_num FROM {table}")).scalar()  # noqa: S608 - a constant name


def current_revision(engine: Engine) -> str | None:
    """The store's schema revision, or None for an empty store."""
    with read(engine) as conn:
        return _revision(conn, VERSION_TABLE)


def _adopt_legacy_version(conn: Connection) -> None:
    """Move our revision out of ``alembic_version`` (stores made before :data:`VERSION_TABLE`); a revision that
    is not one of ours (Optuna's) is left where it is."""
    if inspect(conn).has_table(VERSION_TABLE):
        return
    legacy = _revision(conn, _LEGACY_VERSION_TABLE)
    if legacy is None or legacy not in {rev.revision for rev in _script().walk_revisions()}:
        return
    from alembic import command

    command.stamp(_alembic_config(conn), legacy)
    conn.execute(text(f"DROP TABLE {_LEGACY_VERSION_TABLE}"))


def init_db(url: str, *, busy_timeout_ms: int = 30000) -> Engine:
    """Create or upgrade the store at ``url`` to the newest schema and return its (shared) engine.

    Safe to call from several processes at once: on SQLite the migration runs inside one ``BEGIN
    IMMEDIATE`` transaction, so the second caller waits, then finds the schema current and does nothing.
    """
    from alembic import command

    engine = get_engine(url, busy_timeout_ms=busy_timeout_ms)
    try:
        if current_revision(engine) == head_revision():
            return engine
        with write(engine) as conn:
            _adopt_legacy_version(conn)
            command.upgrade(_alembic_config(conn), "head")
    except DBAPIError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot open the state store at {where}: {_first_line(exc)}") from exc
    return engine


def check_schema(engine: Engine) -> None:
    """Raise :class:`StoreError` unless the store's schema is the newest one."""
    current, head = current_revision(engine), head_revision()
    if current != head:
        state = "empty" if current is None else f"at revision {current}"
        raise StoreError(f"the state store is {state}, this code needs revision {head}; run: python -m ravenshire init")

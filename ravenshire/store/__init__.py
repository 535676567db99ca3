"""The state store: SQLAlchemy engine, schema and migrations (see :mod:`ravenshire.store.engine`)."""

from ravenshire.store.engine import (
    check_schema,
    create_store_engine,
    current_revision,
    get_engine,
    head_revision,
    init_db,
    read,
    write,
)

__all__ = [
    "check_schema",
    "create_store_engine",
    "current_revision",
    "get_engine",
    "head_revision",
    "init_db",
    "read",
    "write",
]

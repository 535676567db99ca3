"""The state store: SQLAlchemy engine, schema and migrations (see :mod:`ravenshire.store.engine`)."""

from ravenshire.store.engine import (
    VERSION_TABLE,
    check_schema,
    create_store_engine,
    current_revision,
    get_engine,
    head_revision,
    init_db,
    migration_options,
    read,
    write,
)

__all__ = [
    "VERSION_TABLE",
    "check_schema",
    "create_store_engine",
    "current_revision",
    "get_engine",
    "head_revision",
    "init_db",
    "migration_options",
    "read",
    "write",
]

"""Alembic environment. Migrations run through :func:`ravenshire.store.engine.init_db`, which passes an open
connection inside one write transaction; ``render_as_batch`` lets ALTERs work on SQLite."""

from __future__ import annotations

from alembic import context

from ravenshire.store.engine import migration_options
from ravenshire.store.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only via init_db
    raise RuntimeError("run migrations with `python -m ravenshire init`, not the alembic command")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
    **migration_options(),
)
with context.begin_transaction():
    context.run_migrations()

"""Fast, portable bulk writes through SQLAlchemy.

``conn.execute(insert(table), list_of_dicts)`` spends most of its time building and processing a dict per
row (about 14 s for 1.26 M bars here). These helpers compile the Core statement once for the connection's
dialect and hand the rows straight to the driver's ``executemany`` as tuples (or dicts for drivers with named
parameters): still bound parameters, still one transaction, ~5× faster.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Insert

__all__ = ["bulk_insert", "bulk_insert_arrays", "upsert_statement"]


def upsert_statement(conn: Connection, table: Table, keys: Sequence[str], columns: Sequence[str]) -> Insert:
    """``INSERT … ON CONFLICT (keys) DO UPDATE`` of ``columns`` for SQLite and PostgreSQL."""
    name = conn.dialect.name
    stmt: sqlite.Insert | postgresql.Insert
    if name == "sqlite":
        stmt = sqlite.insert(table)
    elif name == "postgresql":
        stmt = postgresql.insert(table)
    else:  # pragma: no cover - other databases are not supported
        raise NotImplementedError(f"upsert is not implemented for {name}; use SQLite or PostgreSQL")
    update = {c: stmt.excluded[c] for c in columns if c not in keys}
    return stmt.on_conflict_do_update(index_elements=list(keys), set_=update)


def bulk_insert(conn: Connection, stmt: Insert, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> int:
    """Execute ``stmt`` (an insert of ``columns``) for every row in ``rows`` with one ``executemany``.

    Returns the number of rows sent.
    """
    columns = list(columns)
    compiled = stmt.compile(dialect=conn.dialect, column_keys=columns)
    if conn.dialect.positional:
        order = [columns.index(name) for name in compiled.positiontup or ()]
        if order == list(range(len(columns))):
            params: list[Any] = [tuple(row) for row in rows]
        else:
            params = [tuple(row[i] for i in order) for row in rows]
    else:
        params = [dict(zip(columns, row, strict=True)) for row in rows]
    if params:
        conn.exec_driver_sql(str(compiled), params)
    return len(params)


def _driver_values(values: np.ndarray, start: int, stop: int) -> list[Any]:
    """A slice of a column as driver values: NaN → None (SQL NULL on every database)."""
    part = values[start:stop]
    if part.dtype.kind == "f" and np.isnan(part).any():
        out = part.astype(object)
        out[np.isnan(part)] = None
        return out.tolist()
    return part.tolist()


def bulk_insert_arrays(
    conn: Connection, stmt: Insert, columns: Sequence[str], arrays: Sequence[np.ndarray], chunk: int = 100_000
) -> int:
    """Like :func:`bulk_insert` for column arrays, converted and sent ``chunk`` rows at a time.

    Converting 1.26 M rows × 9 columns to Python objects at once costs about 1 GB; in chunks, a few tens of MB.
    """
    n = len(arrays[0]) if arrays else 0
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        bulk_insert(conn, stmt, columns, zip(*(_driver_values(a, start, stop) for a in arrays), strict=True))
    return n

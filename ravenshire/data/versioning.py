"""``DataVersioning``: immutable, content-addressed snapshots of market data.

A version is the market data frame (see :mod:`ravenshire.data.frames`) turned into *canonical bytes*:

    header  = JSON {"format", "fields", "symbols", "n_dates"} (sorted keys, UTF-8) + b"\\n"
    dates   = int64 nanoseconds since the epoch, little-endian, ascending
    values  = float64 little-endian, the frame's (dates × (field, symbol)) matrix in row-major order,
              every NaN written as the one canonical quiet NaN and -0.0 as 0.0

The frame is first put in canonical order (:func:`canonical_frame`: fields in FIELDS order, symbols sorted,
dates ascending), so the id depends on the content only, not on the order columns were asked for.

Its id is the SHA-256 of those bytes (hex): the same content always gets the same id, so creating it twice
stores it once. The bytes are stored zlib-compressed; loading decodes them into a frame that is bit-identical
to the canonical frame that was versioned (same index, columns, dtypes and every value's bits) — which is
exactly what :meth:`DataManager.get_market_data` returns, as it already answers in canonical order. A research
result records the id it ran on, so it can be reproduced exactly later, whatever was fetched since.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zlib
from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Row, select

from ravenshire.data.frames import FIELDS
from ravenshire.errors import ConfigError, VersionNotFoundError
from ravenshire.store import read, write
from ravenshire.store import schema as s
from ravenshire.store.dates import date_key

__all__ = ["FORMAT", "DataVersion", "DataVersioning", "canonical_bytes", "canonical_frame", "decode_canonical"]

FORMAT = "ravenshire.marketdata/1"
_NAN = np.float64("nan")
_MIN_PREFIX = 6


@dataclass(frozen=True)
class DataVersion:
    """What is known of one version, without its data."""

    id: str
    created_at: dt.datetime
    sources: tuple[str, ...]
    is_demo: bool
    symbols: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    n_rows: int
    label: str | None

    @property
    def short_id(self) -> str:
        """The first 12 hex digits, enough to name a version in a table or a CLI argument."""
        return self.id[:12]

    def to_dict(self) -> dict:
        """Plain-Python form (dates as ISO strings)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        out["start"] = self.start.isoformat() if self.start else None
        out["end"] = self.end.isoformat() if self.end else None
        return out


def canonical_frame(data: pd.DataFrame) -> pd.DataFrame:
    """``data`` in canonical order: fields in :data:`FIELDS` order, symbols sorted, dates ascending.

    Raises :class:`ConfigError` for what has no single canonical form: columns other than every (field,
    symbol) pair, or an index that is not unique, tz-naive midnights.
    """
    if not isinstance(data.columns, pd.MultiIndex) or list(data.columns.names) != ["field", "symbol"]:
        raise ConfigError("a data version is made from market data: columns must be a (field, symbol) MultiIndex")
    given = set(data.columns.get_level_values("field"))
    fields = [f for f in FIELDS if f in given]
    symbols = sorted(set(data.columns.get_level_values("symbol")))
    expected = pd.MultiIndex.from_product([fields, symbols], names=["field", "symbol"])
    if len(given) != len(fields) or len(data.columns) != len(expected) or data.columns.has_duplicates:
        raise ConfigError(
            "market data columns must be every (field, symbol) pair once, fields from " + ", ".join(FIELDS)
        )
    if not isinstance(data.index, pd.DatetimeIndex) or data.index.tz is not None:
        raise ConfigError("market data must be indexed by tz-naive dates (a DatetimeIndex without a time zone)")
    if data.index.has_duplicates or not (data.index == data.index.normalize()).all():
        raise ConfigError("market data dates must be unique midnights (one row per trading day)")
    return data.reindex(columns=expected).sort_index()


def canonical_bytes(data: pd.DataFrame) -> bytes:
    """The canonical byte form of a market data frame (see the module docstring)."""
    data = canonical_frame(data)
    fields = list(data.columns.get_level_values("field").unique())
    symbols = list(data.columns.get_level_values("symbol").unique())
    header = json.dumps(
        {"format": FORMAT, "fields": fields, "symbols": symbols, "n_dates": len(data.index)},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    dates = pd.DatetimeIndex(data.index).as_unit("ns").asi8.astype("<i8")
    values = data.to_numpy(dtype="float64")
    values = np.where(np.isnan(values), _NAN, values + 0.0).astype("<f8")  # + 0.0 turns -0.0 into 0.0
    return header + b"\n" + dates.tobytes() + np.ascontiguousarray(values).tobytes()


def decode_canonical(payload: bytes) -> pd.DataFrame:
    """Canonical bytes → the market data frame they were made from."""
    head, _, body = payload.partition(b"\n")
    meta = json.loads(head)
    if meta.get("format") != FORMAT:
        raise ConfigError(f"unknown data version format {meta.get('format')!r}; this code reads {FORMAT}")
    n_dates, n_cols = meta["n_dates"], len(meta["fields"]) * len(meta["symbols"])
    dates = np.frombuffer(body, dtype="<i8", count=n_dates)
    values = np.frombuffer(body, dtype="<f8", offset=8 * n_dates).reshape(n_dates, n_cols)
    columns = pd.MultiIndex.from_product([meta["fields"], meta["symbols"]], names=["field", "symbol"])
    index = pd.DatetimeIndex(dates.astype("datetime64[ns]"), name="date")
    return pd.DataFrame(values.astype("float64"), index=index, columns=columns)


class DataVersioning:
    """Create, list and load data versions in the store."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def create(
        self, data: pd.DataFrame, *, sources: Sequence[str], is_demo: bool, label: str | None = None
    ) -> DataVersion:
        """Snapshot ``data``; returns the existing version when the same content was snapshotted before.

        An existing version is never changed, except that it becomes demo data if ``is_demo`` says so (a version
        is never relabelled as real) and takes ``label`` if it had none.
        """
        payload = canonical_bytes(data)
        version_id = hashlib.sha256(payload).hexdigest()
        table = s.data_versions
        with write(self.engine) as conn:
            exists = conn.execute(select(table.c.is_demo, table.c.label).where(table.c.id == version_id)).first()
            if exists is not None:
                changes: dict[str, object] = {}
                if is_demo and not exists.is_demo:
                    changes["is_demo"] = True
                if label and not exists.label:
                    changes["label"] = label
                if changes:
                    conn.execute(table.update().where(table.c.id == version_id).values(**changes))
            else:
                index = pd.DatetimeIndex(data.index).sort_values()
                conn.execute(
                    s.data_versions.insert().values(
                        id=version_id,
                        created_at=dt.datetime.now(dt.UTC),
                        sources=json.dumps(sorted(set(sources))),
                        is_demo=is_demo,
                        symbols=json.dumps(sorted(set(data.columns.get_level_values("symbol")))),
                        start_date=date_key(index[0]) if len(index) else None,
                        end_date=date_key(index[-1]) if len(index) else None,
                        n_rows=len(index),
                        label=label,
                        payload=zlib.compress(payload, 6),
                        payload_bytes=len(payload),
                    )
                )
        return self.get(version_id)

    def _resolve(self, conn: Connection, version_id: str) -> str:
        version_id = version_id.strip().lower()
        if len(version_id) < _MIN_PREFIX or any(c not in "0123456789abcdef" for c in version_id):
            raise VersionNotFoundError(
                f"{version_id!r} is not a data version id; give at least {_MIN_PREFIX} hex digits "
                f"(see: python -m ravenshire versions)"
            )
        ids = list(
            conn.execute(
                select(s.data_versions.c.id).where(s.data_versions.c.id.like(version_id + "%")).limit(2)
            ).scalars()
        )
        if not ids:
            raise VersionNotFoundError(f"no data version {version_id!r}; see: python -m ravenshire versions")
        if len(ids) > 1:
            raise VersionNotFoundError(f"{version_id!r} names more than one data version; give more digits")
        return ids[0]

    def get(self, version_id: str) -> DataVersion:
        """The description of one version (full id or a unique prefix of at least 6 hex digits)."""
        with read(self.engine) as conn:
            full = self._resolve(conn, version_id)
            row = conn.execute(select(*_META_COLUMNS).where(s.data_versions.c.id == full)).one()
        return _to_version(row)

    def load(self, version_id: str) -> pd.DataFrame:
        """The frame of a version, bit-identical to the one it was created from (attrs describe it)."""
        with read(self.engine) as conn:
            full = self._resolve(conn, version_id)
            row = conn.execute(
                select(s.data_versions.c.payload, *_META_COLUMNS).where(s.data_versions.c.id == full)
            ).one()
        payload = zlib.decompress(row.payload)
        if hashlib.sha256(payload).hexdigest() != full:
            raise VersionNotFoundError(f"data version {full[:12]} is corrupt: its content no longer matches its id")
        frame = decode_canonical(payload)
        version = _to_version(row)
        frame.attrs.update(data_version=version.id, sources=list(version.sources), is_demo=version.is_demo)
        return frame

    def list(self) -> list[DataVersion]:
        """Every version, newest first."""
        with read(self.engine) as conn:
            rows = conn.execute(select(*_META_COLUMNS).order_by(s.data_versions.c.created_at.desc())).all()
        return [_to_version(r) for r in rows]


_META_COLUMNS = [c for c in s.data_versions.c if c.name not in ("payload",)]


def _key_to_date(key: int | None) -> dt.date | None:
    return None if key is None else dt.date(key // 10000, key // 100 % 100, key % 100)


def _to_version(row: Row) -> DataVersion:
    return DataVersion(
        id=row.id,
        created_at=row.created_at if row.created_at.tzinfo else row.created_at.replace(tzinfo=dt.UTC),
        sources=tuple(json.loads(row.sources)),
        is_demo=bool(row.is_demo),
        symbols=tuple(json.loads(row.symbols)),
        start=_key_to_date(row.start_date),
        end=_key_to_date(row.end_date),
        n_rows=row.n_rows,
        label=row.label,
    )

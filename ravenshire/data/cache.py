"""``DataCache``: the state store is the cache of market data, with a small in-memory layer on top.

How a request is served
-----------------------
1. :meth:`DataCache.missing_ranges` compares the exchange's sessions in the request with the ranges already
   fetched for each (symbol, source) (table ``fetched_ranges``, which also remembers ranges a source had no
   data for, so they are not asked for again) and returns only the gaps, as runs of sessions.
2. The caller fetches the gaps, validates them and writes them with :meth:`DataCache.store_bars` and
   :meth:`DataCache.record_ranges`, inside one write transaction.
3. :meth:`DataCache.load` reads the columnar ``series`` rows (one per instrument) and assembles the wide
   frame. Results are kept in memory, keyed by the store's write generation (the newest ``fetches`` id), so a
   write from any process makes older entries unreachable.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, func, insert, select

from ravenshire.data.calendar import DEFAULT_EXCHANGE, sessions
from ravenshire.data.frames import FIELDS
from ravenshire.store import read
from ravenshire.store import schema as s
from ravenshire.store.bulk import bulk_insert, bulk_insert_arrays, upsert_statement
from ravenshire.store.dates import date_key, from_date_keys, to_date_keys

__all__ = ["DataCache", "Pair"]

#: A (symbol, source) pair: one instrument in the store.
Pair = tuple[str, str]
_BAR_COLUMNS = ["instrument_id", "date", *FIELDS, "fetch_id"]
_SERIES_COLUMNS = ["instrument_id", "n_bars", "first_date", "last_date", "dates", *FIELDS, "fetch_id"]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _encode(values: np.ndarray, dtype: str) -> bytes:
    return np.ascontiguousarray(values, dtype=dtype).tobytes()


class _Memory:
    """A small thread-safe LRU of loaded frames, shared by every DataCache of the process, bounded in bytes."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Any, pd.DataFrame] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: Any) -> pd.DataFrame | None:
        with self._lock:
            if key not in self._items:
                return None
            self._items.move_to_end(key)
            return self._items[key]

    def put(self, key: Any, frame: pd.DataFrame) -> None:
        size = int(frame.memory_usage(index=True).sum())
        if size > self.max_bytes:
            return
        with self._lock:
            if key in self._items:
                self._bytes -= int(self._items.pop(key).memory_usage(index=True).sum())
            self._items[key] = frame
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= int(dropped.memory_usage(index=True).sum())

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0


#: Frames kept in memory, at most 256 MB in all (a 500-symbol × 10-year OHLCV frame is about 60 MB).
_MEMORY = _Memory(max_bytes=256 * 2**20)


class DataCache:
    """Read and write market data in the store (see the module docstring).

    Parameters
    ----------
    engine:
        The store's engine (:func:`ravenshire.store.init_db`).
    exchange:
        The trading calendar that defines which sessions a range should contain.
    """

    def __init__(self, engine: Engine, *, exchange: str = DEFAULT_EXCHANGE) -> None:
        self.engine = engine
        self.exchange = exchange

    # ------------------------------------------------------------------ instruments
    def instrument_ids(
        self, conn: Connection, pairs: Iterable[Pair], *, create_demo: bool | None = None
    ) -> dict[Pair, int]:
        """Ids of the instruments for ``pairs``; with ``create_demo`` set, missing ones are created with it."""
        wanted = set(pairs)
        symbols = sorted({p[0] for p in wanted})
        found: dict[Pair, int] = {}
        if symbols:
            rows = conn.execute(
                select(s.instruments.c.symbol, s.instruments.c.source, s.instruments.c.id).where(
                    s.instruments.c.symbol.in_(symbols)
                )
            )
            found = {(r.symbol, r.source): r.id for r in rows if (r.symbol, r.source) in wanted}
        missing = sorted(wanted - found.keys())
        if missing and create_demo is not None:
            now = _utcnow()
            conn.execute(
                insert(s.instruments),
                [{"symbol": sym, "source": src, "is_demo": create_demo, "created_at": now} for sym, src in missing],
            )
            return self.instrument_ids(conn, wanted)
        return found

    # ------------------------------------------------------------------ writing
    def store_bars(self, conn: Connection, bars: pd.DataFrame, *, source: str, is_demo: bool, fetch_id: int) -> int:
        """Write validated long ``bars`` of ``source`` (replacing stored bars of the same dates).

        Updates ``bars`` and the columnar ``series`` in the caller's transaction. Returns rows written.
        """
        if bars.empty:
            return 0
        # bars are sorted by (symbol, date): each symbol is one contiguous block
        starts = np.flatnonzero(bars["symbol"].ne(bars["symbol"].shift()).to_numpy())
        uniques = bars["symbol"].iloc[starts].tolist()
        ids = self.instrument_ids(conn, [(sym, source) for sym in uniques], create_demo=is_demo)
        lengths = np.diff([*starts.tolist(), len(bars)])
        id_per_row = np.repeat([ids[(sym, source)] for sym in uniques], lengths)
        keys = to_date_keys(bars["date"])
        values = {f: bars[f].to_numpy(dtype="float64") for f in FIELDS}
        arrays = [id_per_row, keys, *values.values(), np.full(len(bars), fetch_id)]
        stmt = upsert_statement(conn, s.bars, ["instrument_id", "date"], _BAR_COLUMNS)
        written = bulk_insert_arrays(conn, stmt, _BAR_COLUMNS, arrays)

        bounds = [*starts.tolist(), len(bars)]
        new = {
            ids[(sym, source)]: (keys[a:b], {f: values[f][a:b] for f in FIELDS})
            for sym, a, b in zip(uniques, bounds[:-1], bounds[1:], strict=True)
        }
        self._merge_series(conn, new, fetch_id)
        return written

    def _merge_series(
        self, conn: Connection, new: Mapping[int, tuple[np.ndarray, dict[str, np.ndarray]]], fetch_id: int
    ) -> None:
        old = {
            row.instrument_id: row
            for row in conn.execute(select(s.series).where(s.series.c.instrument_id.in_(list(new))))
        }
        rows = []
        for instrument_id, (dates, values) in new.items():
            if instrument_id in old:
                prev = old[instrument_id]
                # New rows first so that np.unique's first occurrence keeps them over stored ones.
                dates = np.concatenate([dates, np.frombuffer(prev.dates, dtype="<i4")])
                values = {f: np.concatenate([values[f], np.frombuffer(getattr(prev, f), dtype="<f8")]) for f in FIELDS}
            dates, first = np.unique(dates, return_index=True)
            values = {f: values[f][first] for f in FIELDS}
            rows.append(
                (
                    instrument_id,
                    len(dates),
                    int(dates[0]),
                    int(dates[-1]),
                    _encode(dates, "<i4"),
                    *(_encode(values[f], "<f8") for f in FIELDS),
                    fetch_id,
                )
            )
        stmt = upsert_statement(conn, s.series, ["instrument_id"], _SERIES_COLUMNS)
        bulk_insert(conn, stmt, _SERIES_COLUMNS, rows)

    def record_ranges(
        self,
        conn: Connection,
        ranges: Mapping[str, tuple[dt.date, dt.date]],
        *,
        source: str,
        is_demo: bool,
        fetch_id: int,
    ) -> None:
        """Remember that symbol → (first, last day) was fetched from ``source`` (with or without data).

        Ranges of an instrument that overlap or touch (no session between them) are merged, so a daily
        fetch keeps one row per instrument instead of one per day.
        """
        ids = self.instrument_ids(conn, [(sym, source) for sym in ranges], create_demo=is_demo)
        new = {ids[(sym, source)]: (date_key(a), date_key(b)) for sym, (a, b) in ranges.items()}
        old: dict[int, list[tuple[int, int]]] = {}
        table = s.fetched_ranges
        for r in conn.execute(select(table.c.instrument_id, table.c.start_date, table.c.end_date).where(
            table.c.instrument_id.in_(list(new))
        )):  # fmt: skip
            old.setdefault(r.instrument_id, []).append((r.start_date, r.end_date))
        rows = [
            (instrument_id, lo, hi, fetch_id)
            for instrument_id, span in new.items()
            for lo, hi in self._merge_ranges([*old.get(instrument_id, []), span])
        ]
        conn.execute(delete(table).where(table.c.instrument_id.in_(list(new))))
        bulk_insert(conn, insert(table), ["instrument_id", "start_date", "end_date", "fetch_id"], rows)

    def _merge_ranges(self, spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """Union of (first, last) date-key ranges, joining ranges with no session of the exchange between."""
        merged: list[tuple[int, int]] = []
        for lo, hi in sorted(spans):
            if merged:
                prev_lo, prev_hi = merged[-1]
                gap = sessions(
                    _key_date(prev_hi) + dt.timedelta(days=1), _key_date(lo) - dt.timedelta(days=1), self.exchange
                )
                if lo <= prev_hi or len(gap) == 0:
                    merged[-1] = (prev_lo, max(prev_hi, hi))
                    continue
            merged.append((lo, hi))
        return merged

    # ------------------------------------------------------------------ reading
    def generation(self, conn: Connection | None = None) -> int:
        """The store's write generation: the newest fetch id (0 for an empty store)."""
        if conn is None:
            with read(self.engine) as conn:
                return self.generation(conn)
        return int(conn.execute(select(func.coalesce(func.max(s.fetches.c.id), 0))).scalar_one())

    def missing_ranges(
        self, symbols: Sequence[str], source: str, start: dt.date, end: dt.date
    ) -> dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]]:
        """For each symbol, the runs of sessions in [start, end] never fetched from ``source``."""
        days = sessions(start, end, self.exchange)
        keys = to_date_keys(days)
        with read(self.engine) as conn:
            ids = self.instrument_ids(conn, [(sym, source) for sym in symbols])
            ranges = conn.execute(
                select(
                    s.fetched_ranges.c.instrument_id, s.fetched_ranges.c.start_date, s.fetched_ranges.c.end_date
                ).where(s.fetched_ranges.c.instrument_id.in_(list(ids.values())))
            ).all()
        by_id: dict[int, list[tuple[int, int]]] = {}
        for r in ranges:
            by_id.setdefault(r.instrument_id, []).append((r.start_date, r.end_date))
        out: dict[str, list[tuple[pd.Timestamp, pd.Timestamp]]] = {}
        for sym in symbols:
            covered = np.zeros(len(keys), dtype=bool)
            for lo, hi in by_id.get(ids.get((sym, source), -1), []):
                covered |= (keys >= lo) & (keys <= hi)
            out[sym] = _runs(days, ~covered)
        return out

    def load(
        self,
        pairs: Sequence[Pair],
        start: dt.date | None = None,
        end: dt.date | None = None,
        fields: Sequence[str] = FIELDS,
    ) -> pd.DataFrame:
        """Wide market data (see :mod:`ravenshire.data.frames`) for ``pairs`` between ``start`` and ``end``.

        Columns are (field, symbol) with symbols in the order of ``pairs``; a pair without stored bars gets
        all-NaN columns. The returned frame is the caller's to change (the in-memory layer keeps its own).
        """
        lo = date_key(start) if start is not None else 0
        hi = date_key(end) if end is not None else 99_999_999
        with read(self.engine) as conn:
            key = (str(self.engine.url), self.generation(conn), tuple(pairs), lo, hi, tuple(fields))
            cached = _MEMORY.get(key)
            if cached is not None:
                return cached.copy()
            ids = self.instrument_ids(conn, pairs)
            wanted = [s.series.c.instrument_id, s.series.c.dates, *(s.series.c[f] for f in fields)]
            rows = {
                row.instrument_id: row
                for row in conn.execute(select(*wanted).where(s.series.c.instrument_id.in_(list(ids.values()))))
            }
        frame = _assemble(pairs, ids, rows, lo, hi, fields)
        _MEMORY.put(key, frame)
        return frame.copy()

    def previous_bars(self, conn: Connection, pairs: Sequence[Pair], before: dt.date, n: int) -> pd.DataFrame:
        """The last ``n`` stored bars before ``before`` for each pair, long, for continuity checks."""
        ids = self.instrument_ids(conn, pairs)
        if not ids:
            return _assemble_long([], [], {})
        rows = conn.execute(select(s.series).where(s.series.c.instrument_id.in_(list(ids.values()))))
        by_id = {row.instrument_id: row for row in rows}
        limit = date_key(before)
        symbols: list[str] = []
        keys: list[np.ndarray] = []
        values: dict[str, list[np.ndarray]] = {f: [] for f in FIELDS}
        for (sym, _src), instrument_id in ids.items():
            row = by_id.get(instrument_id)
            if row is None:
                continue
            dates = np.frombuffer(row.dates, dtype="<i4")
            stop = int(np.searchsorted(dates, limit))
            first = max(0, stop - n)
            symbols += [sym] * (stop - first)
            keys.append(dates[first:stop])
            for f in FIELDS:
                values[f].append(np.frombuffer(getattr(row, f), dtype="<f8")[first:stop])
        return _assemble_long(symbols, keys, values)

    def first_dates(self, conn: Connection, pairs: Sequence[Pair]) -> dict[str, dt.date]:
        """Symbol → its first stored bar's date, for the pairs with stored bars."""
        ids = self.instrument_ids(conn, pairs)
        by_id = {i: sym for (sym, _src), i in ids.items()}
        rows = conn.execute(
            select(s.series.c.instrument_id, s.series.c.first_date).where(s.series.c.instrument_id.in_(list(by_id)))
        )
        return {by_id[r.instrument_id]: _key_date(r.first_date) for r in rows if r.first_date is not None}

    @staticmethod
    def clear_memory() -> None:
        """Forget every frame held in memory (the store is untouched)."""
        _MEMORY.clear()


def _key_date(key: int) -> dt.date:
    return dt.date(key // 10000, key // 100 % 100, key % 100)


def _runs(days: pd.DatetimeIndex, mask: np.ndarray) -> list[tuple[pd.Timestamp, pd.Timestamp]]:
    """Contiguous runs of True in ``mask`` as (first day, last day) pairs."""
    idx = np.flatnonzero(mask)
    if idx.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(idx) > 1)
    firsts = np.concatenate([[idx[0]], idx[breaks + 1]])
    lasts = np.concatenate([idx[breaks], [idx[-1]]])
    return [(days[a], days[b]) for a, b in zip(firsts, lasts, strict=True)]


def _assemble(
    pairs: Sequence[Pair], ids: Mapping[Pair, int], rows: Mapping[int, Any], lo: int, hi: int, fields: Sequence[str]
) -> pd.DataFrame:
    """Series rows → wide frame on the union of dates (vectorised per instrument)."""
    pieces: list[tuple[int, np.ndarray, slice, Any]] = []
    for col, pair in enumerate(pairs):
        row = rows.get(ids.get(pair, -1))
        if row is None:
            continue
        dates = np.frombuffer(row.dates, dtype="<i4")
        window = slice(int(np.searchsorted(dates, lo)), int(np.searchsorted(dates, hi, side="right")))
        pieces.append((col, dates[window], window, row))
    all_dates = np.unique(np.concatenate([p[1] for p in pieces])) if pieces else np.array([], dtype="<i4")
    block = np.full((len(fields), len(all_dates), len(pairs)), np.nan)
    for col, dates, window, row in pieces:
        at = np.searchsorted(all_dates, dates)
        for i, f in enumerate(fields):
            block[i, at, col] = np.frombuffer(getattr(row, f), dtype="<f8")[window]
    columns = pd.MultiIndex.from_product([list(fields), [p[0] for p in pairs]], names=["field", "symbol"])
    values = block.transpose(1, 0, 2).reshape(len(all_dates), len(fields) * len(pairs))
    index = from_date_keys(all_dates).rename("date")
    return pd.DataFrame(values, index=index, columns=columns)


def _assemble_long(symbols: list[str], keys: list[np.ndarray], values: Mapping[str, list[np.ndarray]]) -> pd.DataFrame:
    frame = pd.DataFrame({"symbol": pd.Series(symbols, dtype=object)})
    frame["date"] = from_date_keys(np.concatenate(keys) if keys else np.array([], dtype=np.int64))
    for f in FIELDS:
        frame[f] = np.concatenate(values[f]) if keys else np.array([], dtype="float64")
    return frame

"""Prices for execution: the stored bars the paper broker fills against and the ledger is marked with.

A symbol's bars are those of the instrument the data layer serves it from (``[DATA] source`` /
``symbol_sources``, or ``import`` for a symbol only imported — :meth:`DataManager.sources_for`), so an order in a
symbol is priced from the same series its research and risk use. Execution works on RAW closes (what traded
that day), not adjusted ones.

The latest bar of each symbol is cached until the store's newest fetch changes (one cheap query per lookup
batch), so a burst of orders does not re-read the same bars.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from ravenshire.config import Config
from ravenshire.execution.broker import Bar
from ravenshire.store import read
from ravenshire.store import schema as s
from ravenshire.store.dates import date_key

__all__ = ["StoreBars"]


#: The newest fetch: bars change only when it does.
_STAMP = select(func.max(s.fetches.c.id))


def _float(value: float | None) -> float:
    return math.nan if value is None else float(value)


class StoreBars:
    """Latest bars and bars after a date, read from the store."""

    def __init__(self, engine: Engine, config: Config) -> None:
        self.engine = engine
        self.config = config
        self._lock = threading.Lock()
        self._sources: dict[str, tuple[int, bool] | None] = {}
        self._latest: dict[str, Bar | None] = {}
        self._stamp: int | None = -1
        self._data: Any = None

    def _instrument(self, conn: Connection, symbol: str) -> tuple[int, bool] | None:
        """(instrument id, is_demo) of the series ``symbol`` is served from, None when nothing is stored."""
        return self._instruments(conn, [symbol])[symbol]

    def _instruments(self, conn: Connection, symbols: Sequence[str]) -> dict[str, tuple[int, bool] | None]:
        """:meth:`_instrument` of many symbols, with one query for those not known yet."""
        out: dict[str, tuple[int, bool] | None] = {sym: self._sources[sym] for sym in symbols if sym in self._sources}
        unknown = [sym for sym in dict.fromkeys(symbols) if sym not in out]
        if not unknown:
            return out
        if self._data is None:
            from ravenshire.data.manager import DataManager

            self._data = DataManager(self.config, engine=self.engine)
        sources = self._data.sources_for(unknown)
        i = s.instruments
        found: dict[tuple[str, str], tuple[int, bool]] = {}
        for chunk in range(0, len(unknown), 500):
            part = unknown[chunk : chunk + 500]
            rows = conn.execute(select(i.c.id, i.c.symbol, i.c.source, i.c.is_demo).where(i.c.symbol.in_(part)))
            found.update({(r.symbol, r.source): (int(r.id), bool(r.is_demo)) for r in rows})
        for sym in unknown:
            hit = found.get((sym, sources[sym]))
            if hit is not None:  # an absent symbol may be fetched later: ask again next time
                self._sources[sym] = hit
            out[sym] = hit
        return out

    def _refresh(self, conn: Connection, stamp: Any = ...) -> bool:
        """Bring the cache to ``conn``'s snapshot; False when that snapshot is OLDER than the cache's (a reader
        that began before the newest fetch committed): it must then read past the cache and leave it alone."""
        if stamp is ...:
            stamp = conn.execute(_STAMP).scalar()
        if stamp == self._stamp:
            return True
        if stamp is not None and self._stamp is not None and self._stamp != -1 and stamp < self._stamp:
            return False
        self._latest.clear()
        self._sources.clear()
        self._stamp = stamp
        return True

    @staticmethod
    def _bar(symbol: str, row: object, is_demo: bool) -> Bar:
        return Bar(
            symbol=symbol,
            date=pd.Timestamp(str(row.date)),  # type: ignore[attr-defined]
            open=_float(row.open),  # type: ignore[attr-defined]
            high=_float(row.high),  # type: ignore[attr-defined]
            low=_float(row.low),  # type: ignore[attr-defined]
            close=float(row.close),  # type: ignore[attr-defined]
            volume=_float(row.volume),  # type: ignore[attr-defined]
            is_demo=is_demo,
        )

    def latest_on(
        self, conn: Connection, symbols: Iterable[str], as_of: pd.Timestamp | None = None, *, stamp: Any = ...
    ) -> dict[str, Bar | None]:
        """Symbol → its newest stored bar (on or before ``as_of`` when given), read on ``conn``. ``stamp`` is the
        newest fetch id when the caller has just read it (else it is read here)."""
        b = s.bars
        out: dict[str, Bar | None] = {}
        with self._lock:
            current = self._refresh(conn, stamp)
            cached = as_of is None and current
            wanted = list(dict.fromkeys(symbols))
            todo = [sym for sym in wanted if not (cached and sym in self._latest)]
            insts = self._instruments(conn, todo) if todo else {}
            by_id = {inst[0]: (sym, inst[1]) for sym, inst in insts.items() if inst is not None}
            fresh: dict[str, Bar | None] = {sym: None for sym in todo}
            ids = sorted(by_id)
            for chunk in range(0, len(ids), 500):  # the newest bar of each instrument, one query per 500
                part = ids[chunk : chunk + 500]
                newest = select(b.c.instrument_id, func.max(b.c.date).label("date")).where(b.c.instrument_id.in_(part))
                if as_of is not None:
                    newest = newest.where(b.c.date <= date_key(as_of))
                last = newest.group_by(b.c.instrument_id).subquery()
                rows = conn.execute(
                    select(b.c.instrument_id, b.c.date, b.c.open, b.c.high, b.c.low, b.c.close, b.c.volume).join(
                        last, (b.c.instrument_id == last.c.instrument_id) & (b.c.date == last.c.date)
                    )
                )
                for row in rows:
                    sym, is_demo = by_id[int(row.instrument_id)]
                    fresh[sym] = self._bar(sym, row, is_demo)
            if cached:
                self._latest.update(fresh)
            for sym in wanted:
                out[sym] = fresh[sym] if sym in fresh else self._latest[sym]
        return out

    def latest(self, symbol: str) -> Bar | None:
        """The newest stored bar of ``symbol`` (None when there is none); from the cache when the order's
        transaction has just read it."""
        with self._lock:
            if symbol in self._latest:
                return self._latest[symbol]
        with read(self.engine) as conn:
            return self.latest_on(conn, [symbol])[symbol]

    def bars_after(self, symbol: str, after: pd.Timestamp) -> Sequence[Bar]:
        """Bars of ``symbol`` dated after ``after``, oldest first."""
        b = s.bars
        with read(self.engine) as conn:
            inst = self._instrument(conn, symbol)
            if inst is None:
                return []
            rows = conn.execute(
                select(b.c.date, b.c.open, b.c.high, b.c.low, b.c.close, b.c.volume)
                .where(b.c.instrument_id == inst[0], b.c.date > date_key(after))
                .order_by(b.c.date)
            ).all()
        return [self._bar(symbol, row, inst[1]) for row in rows]

    def latest_date(self) -> pd.Timestamp | None:
        """The newest bar date in the store, any symbol."""
        with read(self.engine) as conn:
            key = conn.execute(select(func.max(s.series.c.last_date))).scalar()
        return None if key is None else pd.Timestamp(str(key))

"""``DataManager``: Layer 1's front door — fetch, validate, store, version and load market data.

Every request goes the same way, whatever the source::

    missing ranges (DataCache) → source.fetch → DataValidator → one write transaction:
        fetch log row + accepted bars + columnar series + validation issues (rejected rows quarantined)
        + fetched ranges (+ the synthetic source's true regimes)
    → load from the store → optional immutable version

A failing source raises :class:`~ravenshire.errors.DataSourceError` after its failure is logged; nothing ever
falls back to demo data. Frames returned carry ``attrs``: ``sources``, ``is_demo`` and, when a version was
created or loaded, ``data_version``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, insert, select

from ravenshire.config import Config, load_config, parse_symbols
from ravenshire.data.cache import DataCache, Pair
from ravenshire.data.calendar import last_closed_session
from ravenshire.data.fetcher import IMPORT_SOURCE, MultiSourceFetcher
from ravenshire.data.frames import FIELDS, close_prices, normalize_bars, to_long
from ravenshire.data.sources.base import DataSource
from ravenshire.data.validation import DataValidator, ValidationReport
from ravenshire.data.versioning import DataVersion, DataVersioning
from ravenshire.errors import ConfigError, DataUnavailableError, RavenshireError
from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s
from ravenshire.store.bulk import bulk_insert, bulk_insert_arrays, upsert_statement
from ravenshire.store.dates import date_key, to_date_keys

__all__ = ["DataManager", "FetchSummary"]

DateLike = dt.date | str | pd.Timestamp


@dataclass(frozen=True)
class FetchSummary:
    """The outcome of one fetch, import or validation run, as logged in the store (table ``fetches``)."""

    fetch_id: int | None
    kind: str
    source: str
    symbols: tuple[str, ...]
    start: dt.date | None
    end: dt.date | None
    status: str  # ok | partial (some symbols or rows missing) | failed (nothing stored) | empty (nothing to store)
    rows_received: int = 0
    rows_stored: int = 0
    rows_rejected: int = 0
    rows_flagged: int = 0
    failed: Mapping[str, str] = field(default_factory=dict)
    message: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form (dates as ISO strings)."""
        out = asdict(self)
        out["symbols"] = list(self.symbols)
        out["failed"] = dict(self.failed)
        out["start"] = self.start.isoformat() if self.start else None
        out["end"] = self.end.isoformat() if self.end else None
        return out


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _as_date(value: DateLike | None, name: str) -> dt.date | None:
    if value is None or value == "":
        return None
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ConfigError(f"{name} {value!r} is not a date; use YYYY-MM-DD") from None
    if pd.isna(stamp):
        raise ConfigError(f"{name} {value!r} is not a date; use YYYY-MM-DD")
    return stamp.date()


class DataManager:
    """Market data for the fund: the seed's ``get_market_data`` and everything around it.

    Parameters
    ----------
    config:
        The configuration; default :func:`ravenshire.config.load_config`.
    engine:
        The store's engine; default ``init_db(config.store_url)`` (creates or upgrades the store).
    sources:
        Source objects by name, replacing those the config would build (tests, notebooks).
    origin:
        Who is asking, recorded with every fetch: ``api``, ``cli``, ``ui`` or ``scheduler``.
    now:
        The current time (UTC) for "the latest closed session"; default the clock. Tests pin it.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: Engine | None = None,
        sources: Mapping[str, DataSource] | None = None,
        origin: str = "api",
        now: pd.Timestamp | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.engine = engine or init_db(self.config.store_url, busy_timeout_ms=self.config.store.busy_timeout_ms)
        data = self.config.data
        self.cache = DataCache(self.engine, exchange=data.exchange)
        self.fetcher = MultiSourceFetcher(data, sources)
        self.validator = DataValidator(
            exchange=data.exchange,
            stale_run=data.stale_run,
            max_jump=data.max_jump,
            reject_outliers=data.reject_outliers,
        )
        self.versions = DataVersioning(self.engine)
        self.origin = origin
        self._now = now

    # ------------------------------------------------------------------ the seed's API
    def get_market_data(
        self,
        symbols: Sequence[str] | str | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        create_version: bool = False,
        *,
        fetch: bool = True,
        label: str | None = None,
    ) -> pd.DataFrame:
        """Daily OHLCV and adjusted close for ``symbols`` from ``start_date`` to ``end_date`` (inclusive).

        Parameters
        ----------
        symbols:
            Symbols (a list or a comma-separated string); default the configured universe.
        start_date, end_date:
            ``YYYY-MM-DD`` or dates; defaults ``[DATA] history_start`` and the latest closed session. The end
            is capped at the latest closed session: no source is asked for a bar that cannot exist yet.
        create_version:
            Also snapshot the result as an immutable data version; its id is in ``attrs["data_version"]``.
        fetch:
            Fetch what the store lacks first (default). ``False`` answers from the store alone.
        label:
            A note stored with the version.

        Returns
        -------
        pandas.DataFrame
            Index: ``DatetimeIndex`` "date" of trading days. Columns: MultiIndex (field, symbol) with fields
            open, high, low, close, adj_close, volume and symbols sorted. Wide adjusted closes:
            ``data["adj_close"]`` (or :meth:`close_prices`). ``attrs``: sources, is_demo, data_version.

        Raises
        ------
        ConfigError
            Bad symbols or dates.
        DataSourceError
            The source failed (logged in the store; nothing is substituted).
        DataUnavailableError
            A symbol has no data at all in the range.
        """
        symbols, start, end = self._request(symbols, start_date, end_date)
        failed: dict[str, str] = {}
        if fetch:
            for summary in self.fetch(symbols, start, end):
                failed.update(summary.failed)
        pairs: list[Pair] = list(self.sources_for(symbols).items())
        data = self.load_stored(pairs, start, end)
        empty = [sym for sym in symbols if data[("adj_close", sym)].isna().all()]
        if empty:
            reasons = "; ".join(f"{sym}: {failed.get(sym, self._no_data_reason(sym))}" for sym in empty)
            raise DataUnavailableError(f"no data from {start} to {end} for {reasons}")
        if create_version:
            version = self.create_version(data, label=label)
            data.attrs["data_version"] = version.id
        return data

    def close_prices(
        self,
        symbols: Sequence[str] | str | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        adjusted: bool = True,
    ) -> pd.DataFrame:
        """Wide (dates × symbols) adjusted closes (or raw closes): ``get_market_data(...)["adj_close"]``."""
        data = self.get_market_data(symbols, start_date, end_date)
        prices = close_prices(data, adjusted=adjusted)
        prices.attrs.update(data.attrs)
        return prices

    def sources_for(self, symbols: Sequence[str]) -> dict[str, str]:
        """Symbol → the source it is served from.

        ``[DATA] symbol_sources`` when it names the symbol; else ``import`` when the store holds the symbol
        only from an imported file (a file you imported is what you mean by that ticker: it is never replaced
        by demo data of the same name); else ``[DATA] source``.
        """
        default = self.config.data.source
        open_ = [s for s in symbols if s not in self.config.data.symbol_sources]
        imported: set[str] = set()
        if open_ and default != IMPORT_SOURCE:
            with read(self.engine) as conn:
                found = self.cache.instrument_ids(conn, [(s, src) for s in open_ for src in (IMPORT_SOURCE, default)])
            imported = {s for s in open_ if (s, IMPORT_SOURCE) in found and (s, default) not in found}
        return {s: IMPORT_SOURCE if s in imported else self.fetcher.source_for(s) for s in symbols}

    def load_stored(
        self,
        pairs: Sequence[Pair],
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        fields: Sequence[str] = FIELDS,
    ) -> pd.DataFrame:
        """Market data of stored (symbol, source) pairs, from the store alone: nothing is fetched."""
        data = self.cache.load(pairs, _as_date(start_date, "start_date"), _as_date(end_date, "end_date"), fields)
        sources = sorted({src for _, src in pairs})
        data.attrs.update(sources=sources, is_demo=any(self._is_demo(src) for src in sources))
        return data

    # ------------------------------------------------------------------ fetching
    def fetch(
        self,
        symbols: Sequence[str] | str | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
        *,
        refresh: bool = False,
    ) -> list[FetchSummary]:
        """Fetch, validate and store what the store lacks (everything with ``refresh``); one summary per request.

        Symbols of the ``import`` source are skipped (they come from files). Raises what the source raises,
        after logging the failure.
        """
        symbols, start, end = self._request(symbols, start_date, end_date)
        summaries: list[FetchSummary] = []
        groups: dict[str, list[str]] = {}
        for sym, name in self.sources_for(symbols).items():
            groups.setdefault(name, []).append(sym)
        for name, group in groups.items():
            if name == IMPORT_SOURCE:
                continue
            if refresh:
                requests = {(pd.Timestamp(start), pd.Timestamp(end)): list(group)}
            else:
                requests = {}
                for sym, runs in self.cache.missing_ranges(group, name, start, end).items():
                    for run in runs:
                        requests.setdefault(run, []).append(sym)
            for (first, last), syms in sorted(requests.items()):
                summaries.append(self._fetch_one(name, syms, first.date(), last.date()))
        return summaries

    def _fetch_one(self, name: str, symbols: list[str], start: dt.date, end: dt.date) -> FetchSummary:
        source = self.fetcher.source(name)
        started = _utcnow()
        try:
            result = source.fetch(symbols, start, end)
        except RavenshireError as exc:
            self._log_failure("fetch", name, symbols, start, end, started, str(exc))
            raise
        bars = normalize_bars(result.bars)
        in_request = bars["symbol"].isin(symbols) & bars["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        bars = bars[in_request].reset_index(drop=True)
        delivered = set(bars["symbol"].unique())
        failed = dict(result.failed)
        failed.update({s: f"{name} returned no rows" for s in symbols if s not in delivered and s not in failed})
        return self._ingest(
            kind="fetch",
            source=name,
            is_demo=source.is_demo,
            bars=bars,
            symbols=symbols,
            start=start,
            end=end,
            started=started,
            failed=failed,
            regimes=result.regimes,
        )

    # ------------------------------------------------------------------ import
    def import_file(
        self,
        file: str | Path | IO[bytes],
        *,
        fmt: Literal["csv", "parquet"] | None = None,
        layout: Literal["auto", "long", "wide"] = "auto",
        column_map: Mapping[str, str] | None = None,
        symbol: str | None = None,
        wide_field: str = "close",
        name: str | None = None,
    ) -> FetchSummary:
        """Import a CSV/Parquet file of daily bars as source ``import`` (see :func:`read_bars_file`).

        A file that cannot be read raises :class:`~ravenshire.errors.ImportFileError` and stores nothing. Rows
        the validator rejects are quarantined with their reasons; the others are stored.
        """
        from ravenshire.data.sources.files import read_bars_file

        started = _utcnow()
        bars = read_bars_file(
            file, fmt=fmt, layout=layout, column_map=column_map, symbol=symbol, wide_field=wide_field, name=name
        )
        symbols = list(bars["symbol"].unique())
        start, end = bars["date"].min().date(), bars["date"].max().date()
        return self._ingest(
            kind="import",
            source=IMPORT_SOURCE,
            is_demo=False,
            bars=bars,
            symbols=symbols,
            start=start,
            end=end,
            started=started,
            failed={},
            label=str(name or getattr(file, "name", None) or file),
        )

    # ------------------------------------------------------------------ validation of stored data
    def validate_stored(
        self,
        symbols: Sequence[str] | str | None = None,
        start_date: DateLike | None = None,
        end_date: DateLike | None = None,
    ) -> tuple[FetchSummary, ValidationReport]:
        """Run the validator over stored bars and log its report (kind ``validate``; nothing is changed)."""
        symbols, start, end = self._request(symbols, start_date, end_date)
        pairs: list[Pair] = list(self.sources_for(symbols).items())
        started = _utcnow()
        bars = to_long(self.cache.load(pairs, start, end))
        report = self.validator.validate(bars)
        status = "ok" if report.issues.empty else "partial"
        message = _report_message(report)
        with write(self.engine) as conn:
            fetch_id = self._log(
                conn,
                "validate",
                ",".join(sorted({p[1] for p in pairs})),
                symbols,
                start,
                end,
                started,
                status,
                report=report,
                message=message,
            )
            self._store_issues(conn, fetch_id, report)
        summary = FetchSummary(
            fetch_id,
            "validate",
            ",".join(sorted({p[1] for p in pairs})),
            tuple(symbols),
            start,
            end,
            status,
            rows_received=report.n_rows,
            rows_rejected=report.n_rejected,
            rows_flagged=report.n_flagged,
            message=message,
        )
        return summary, report

    # ------------------------------------------------------------------ versions
    def create_version(self, data: pd.DataFrame, *, label: str | None = None) -> DataVersion:
        """Snapshot market data (from :meth:`get_market_data`) as an immutable, content-addressed version."""
        sources = data.attrs.get("sources") or ["unknown"]
        # A frame that lost its attrs (pandas drops them in many operations) cannot prove it is real data.
        is_demo = bool(data.attrs.get("is_demo", True))
        return self.versions.create(data, sources=sources, is_demo=is_demo, label=label)

    def load_version(self, version_id: str) -> pd.DataFrame:
        """The market data of a version, bit-identical to what was versioned."""
        return self.versions.load(version_id)

    def version_slice(
        self, version_id: str, start: DateLike | None = None, end: DateLike | None = None
    ) -> pd.DataFrame:
        """The stored data version ``version_id`` between ``start`` and ``end`` (default: all of it). A slice is
        other content than the version, so it carries no ``data_version`` id (its own is computed when used).
        ConfigError when the dates are not inside the version."""
        data = self.load_version(version_id)
        first, last = data.index[0], data.index[-1]
        lo = pd.Timestamp(_as_date(start, "start_date") or first)
        hi = pd.Timestamp(_as_date(end, "end_date") or last)
        if lo < first or hi > last or lo >= hi:
            raise ConfigError(
                f"dates {lo:%Y-%m-%d}..{hi:%Y-%m-%d} are out of data version {version_id}, which covers "
                f"{first:%Y-%m-%d}..{last:%Y-%m-%d}"
            )
        sliced = data.loc[lo:hi]
        sliced.attrs.update(data.attrs)
        if len(sliced) != len(data):
            sliced.attrs.pop("data_version", None)
        return sliced

    def list_versions(self) -> list[DataVersion]:
        """Every data version, newest first."""
        return self.versions.list()

    # ------------------------------------------------------------------ demo bootstrap
    def store_is_empty(self) -> bool:
        """True when the store holds no bars at all."""
        with read(self.engine) as conn:
            return conn.execute(select(s.series.c.instrument_id).limit(1)).first() is None

    def bootstrap_demo(self) -> list[FetchSummary]:
        """On an empty store with the synthetic source configured, fetch the demo universe. Else do nothing."""
        if not self.store_is_empty():
            return []
        synthetic = [sym for sym in self.config.data.universe if self.fetcher.source_for(sym) == "synthetic"]
        return self.fetch(synthetic) if synthetic else []

    # ------------------------------------------------------------------ internals
    def _request(
        self, symbols: Sequence[str] | str | None, start_date: DateLike | None, end_date: DateLike | None
    ) -> tuple[list[str], dt.date, dt.date]:
        if symbols is None:
            parsed = list(self.config.data.universe)
        else:
            text = symbols if isinstance(symbols, str) else ",".join(str(x) for x in symbols)
            try:
                parsed = list(parse_symbols(text))
            except ValueError as exc:
                raise ConfigError(f"symbols: {exc}") from None
        if not parsed:
            raise ConfigError("no symbols given; name at least one, e.g. AAPL")
        latest = last_closed_session(self._now, self.config.data.exchange).date()
        start = _as_date(start_date, "start_date") or self.config.data.history_start
        end = min(_as_date(end_date, "end_date") or latest, latest)
        if start > end:
            raise ConfigError(f"start_date {start} is after end_date {end} (the latest closed session is {latest})")
        return sorted(parsed), start, end

    def _is_demo(self, source: str) -> bool:
        return source == "synthetic" or (source not in (IMPORT_SOURCE, "unknown") and self.fetcher.is_demo(source))

    def _no_data_reason(self, symbol: str) -> str:
        source = self.sources_for([symbol])[symbol]
        if source == IMPORT_SOURCE:
            return "its source is import and no file with it was imported"
        return f"nothing stored from {source} in this range"

    def _ingest(
        self,
        *,
        kind: str,
        source: str,
        is_demo: bool,
        bars: pd.DataFrame,
        symbols: list[str],
        start: dt.date,
        end: dt.date,
        started: dt.datetime,
        failed: Mapping[str, str],
        regimes: pd.Series | None = None,
        label: str | None = None,
    ) -> FetchSummary:
        """Validate ``bars`` and write everything of one fetch/import in one transaction.

        What is recorded as fetched (so never asked for again): for each symbol, from ``start`` to its last
        *accepted* bar — a rejected or missing newest bar is asked for again next time — and, for a symbol with
        no rows at all, the range when it lies wholly before the symbol's first stored bar (days before a
        listing have no data; asking again on every call would only fail again).
        """
        pairs = [(sym, source) for sym in symbols]
        with read(self.engine) as conn:
            previous = self.cache.previous_bars(conn, pairs, start, self.config.data.stale_run + 1)
            first_stored = self.cache.first_dates(conn, pairs)
        report = self.validator.validate(bars, previous=previous)
        last_accepted = report.accepted.groupby("symbol")["date"].max()
        covered: dict[str, dt.date] = {str(sym): min(end, last.date()) for sym, last in last_accepted.items()}
        failed = dict(failed)
        before_listing = [s for s in symbols if s not in covered and s in first_stored and end < first_stored[s]]
        for sym in before_listing:
            covered[sym] = end
            failed.pop(sym, None)
        if not covered and (failed or report.n_rows):
            status = "failed"  # something was asked for or received, and nothing could be stored
        elif failed or report.n_rejected:
            status = "partial"
        elif report.n_accepted == 0:
            status = "empty"
        else:
            status = "ok"
        message = "; ".join(
            part
            for part in (
                f"from {label}" if label else "",
                _report_message(report),
                ("no data for " + ", ".join(f"{k} ({v})" for k, v in sorted(failed.items()))) if failed else "",
                ("no rows before the first stored bar of " + ", ".join(before_listing)) if before_listing else "",
            )
            if part
        )
        with write(self.engine) as conn:
            fetch_id = self._log(
                conn, kind, source, symbols, start, end, started, status, report=report, message=message
            )
            stored = self.cache.store_bars(conn, report.accepted, source=source, is_demo=is_demo, fetch_id=fetch_id)
            ranges = {sym: (start, last) for sym, last in covered.items()}
            self.cache.record_ranges(conn, ranges, source=source, is_demo=is_demo, fetch_id=fetch_id)
            self._store_issues(conn, fetch_id, report)
            if regimes is not None and len(regimes):
                self._store_regimes(conn, regimes)
        return FetchSummary(
            fetch_id, kind, source, tuple(symbols), start, end, status,
            rows_received=report.n_rows, rows_stored=stored, rows_rejected=report.n_rejected,
            rows_flagged=report.n_flagged, failed=dict(failed), message=message,
        )  # fmt: skip

    def _log(
        self,
        conn: Connection,
        kind: str,
        source: str,
        symbols: Iterable[str],
        start: dt.date | None,
        end: dt.date | None,
        started: dt.datetime,
        status: str,
        *,
        report: ValidationReport | None = None,
        message: str = "",
    ) -> int:
        values = {
            "kind": kind,
            "source": source,
            "origin": self.origin,
            "symbols": json.dumps(list(symbols)),
            "start_date": date_key(start) if start else None,
            "end_date": date_key(end) if end else None,
            "status": status,
            "rows_received": report.n_rows if report else 0,
            "rows_stored": report.n_accepted if report else 0,
            "rows_rejected": report.n_rejected if report else 0,
            "rows_flagged": report.n_flagged if report else 0,
            "message": message,
            "report": json.dumps(report.to_dict()) if report else None,
            "started_at": started,
            "finished_at": _utcnow(),
        }
        key = conn.execute(insert(s.fetches).values(**values)).inserted_primary_key
        assert key is not None
        return int(key[0])

    def _log_failure(
        self, kind: str, source: str, symbols: list[str], start: dt.date, end: dt.date, started: dt.datetime, msg: str
    ) -> None:
        with write(self.engine) as conn:
            self._log(conn, kind, source, symbols, start, end, started, "failed", message=msg)

    @staticmethod
    def _store_issues(conn: Connection, fetch_id: int, report: ValidationReport) -> None:
        issues = report.issues
        if issues.empty:
            return
        columns = ["fetch_id", "symbol", "date", "rule", "action", "detail", *FIELDS]
        # Rejected rows keep their values (the quarantine); flagged ones point at the stored bar.
        rejected = report.rejected.set_index(["symbol", "date"])[list(FIELDS)]
        rejected = rejected[~rejected.index.duplicated()]
        joined = issues.join(rejected, on=["symbol", "date"]) if not rejected.empty else issues
        n = len(joined)
        keys = np.full(n, None, dtype=object)
        has_date = joined["date"].notna().to_numpy()
        keys[has_date] = to_date_keys(joined.loc[has_date, "date"])
        text = [joined[c].to_numpy(dtype=object) for c in ("symbol", "rule", "action", "detail")]
        values = [joined[f].to_numpy(dtype="float64") if f in joined else np.full(n, np.nan) for f in FIELDS]
        arrays = [np.full(n, fetch_id), text[0], keys, *text[1:], *values]
        bulk_insert_arrays(conn, insert(s.validation_issues), columns, arrays)

    def _store_regimes(self, conn: Connection, regimes: pd.Series) -> None:
        seed = self.config.data.synthetic_seed
        keys = to_date_keys(regimes.index)
        rows = [(seed, int(k), str(v)) for k, v in zip(keys, regimes.to_numpy(), strict=True)]
        stmt = upsert_statement(conn, s.demo_regimes, ["seed", "date"], ["seed", "date", "regime"])
        bulk_insert(conn, stmt, ["seed", "date", "regime"], rows)


def _report_message(report: ValidationReport) -> str:
    counts = {rule: n for rule, n in report.counts().items() if n}
    if not counts:
        return f"{report.n_rows} rows, all valid"
    listed = ", ".join(f"{rule} {n}" for rule, n in sorted(counts.items()))
    return f"{report.n_rows} rows: {report.n_rejected} rejected, {report.n_flagged} flagged ({listed})"

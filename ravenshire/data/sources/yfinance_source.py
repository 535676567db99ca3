"""Daily bars from Yahoo Finance, through ``yfinance.download`` (yfinance 1.x).

What ``yfinance.download`` does (read from the source of yfinance 1.7) and what this module does about it:

- **Shape.** It returns a frame with MultiIndex columns named ``("Price", "Ticker")`` even for one ticker (with
  ``multi_level_index=True``), fields ``Open, High, Low, Close, Adj Close, Volume`` (``Adj Close`` only with
  ``auto_adjust=False``; the default is ``auto_adjust=True``), upper-cased tickers, and a tz-naive
  ``DatetimeIndex`` named ``"Date"`` for daily bars. The index is the *union* of every ticker's dates, so a
  ticker is NaN on the days it has no bar; ``Volume`` is int64 per ticker and becomes float64 as soon as that
  union adds NaN. Here: the frame is turned into canonical long bars and a symbol's NaN-close rows are dropped.
- **Per-ticker failures are swallowed.** A ticker that fails (unknown or delisted symbol, no data in the range,
  rate limit, network error) comes back as an all-NaN column block; when every ticker fails the frame has the
  columns but zero rows. yfinance 1.x keeps the error text in a per-call context and only *logs* it, at ERROR
  on the ``"yfinance"`` logger, from the calling thread, as ``"['T1', 'T2']: <error>"`` — e.g.
  ``"['XYZ']: possibly delisted; no price data found (1d 2024-01-01 -> 2024-01-10)"``,
  ``"['AAPL']: YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"`` or
  ``"['AAPL', 'MSFT']: DNSError('Failed to perform, curl: (6) Could not resolve host: ...')"``.
  ``yfinance.shared._ERRORS`` still exists but 1.x no longer writes to it (0.2.x did). Here: the error lines
  are captured with a logging handler during the call (and ``shared._ERRORS`` is read too, for older
  versions); a symbol without a close is reported in :attr:`FetchResult.failed` with that text.
- **Rate limits and network errors are not raised** by 1.x ``download`` either (they are logged as above);
  they can still be raised by other versions or by a replaced ``download``. Here: an exception, or symbols
  failing with a rate-limit / network / Yahoo-server-error text, are retried with exponential backoff; if the
  chunk still delivers nothing, :class:`~ravenshire.errors.DataSourceError` is raised. "Possibly delisted" /
  "no price data found" failures are not retried: they go to ``failed``.
- **``end`` is exclusive** in yfinance; Ravenshire's is inclusive, so the call asks for ``end + 1 day``.

The ``"yfinance"`` logger must let ERROR records through (the default) for the error text to be captured;
without it a failed symbol is still reported, with a reason that says no error was recorded.
"""

from __future__ import annotations

import ast
import datetime as dt
import logging
import re
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ravenshire.data.frames import empty_bars, normalize_bars
from ravenshire.data.sources.base import FetchResult
from ravenshire.errors import ConfigError, DataSourceError

__all__ = ["YFinanceSource"]

log = logging.getLogger(__name__)

#: yfinance's field names → ours. Other fields (Dividends, Stock Splits, Capital Gains) are ignored.
_FIELDS: Mapping[str, str] = {
    "Open": "open",
    "High": "high",
    "Low": "low",
    "Close": "close",
    "Adj Close": "adj_close",
    "Volume": "volume",
}

#: Keyword arguments of every ``download`` call besides tickers/start/end.
_DOWNLOAD_OPTIONS: Mapping[str, object] = {
    "auto_adjust": False,  # keep both Close (as traded) and Adj Close
    "actions": False,
    "group_by": "column",
    "progress": False,
    "multi_level_index": True,
    "threads": True,
    "interval": "1d",
}

#: A recorded error text that means "try again later": rate limit, network failure, Yahoo server error.
#: curl codes: 5/6 cannot resolve proxy/host, 7 cannot connect, 28 timeout, 35 TLS, 52 empty reply,
#: 55/56 send/receive failure.
_TRANSIENT = re.compile(
    r"RateLimit|Too Many Requests|Rate limited|status_code = (?:429|5\d\d)|DNSError|Could not resolve|"
    r"ConnectionError|Connection (?:reset|refused|aborted)|Timeout|timed out|curl: \((?:5|6|7|28|35|52|55|56)\)|"
    r"SSLError|ProxyError|RemoteDisconnected|CURRENTLY DOWN",
    re.IGNORECASE,
)

#: yfinance's per-call error summary line: "['T1', 'T2']: <error text>".
_SUMMARY = re.compile(r"^\s*\[(?P<tickers>[^\]]*)\]:\s*(?P<error>.+)$", re.DOTALL)

#: Default folder for yfinance's timezone/cookie cache (its default, the user cache dir, may be read-only).
_DEFAULT_TZ_CACHE = Path(tempfile.gettempdir()) / "ravenshire-yfinance-cache"
_TZ_CACHE_LOCK = threading.Lock()
_TZ_CACHE_SET: dict[str, Path] = {}

#: How many symbols an error message lists before "and N more".
_NAMES_SHOWN = 10


class YFinanceSource:
    """Daily bars for equities, ETFs and indices from Yahoo Finance (``yfinance.download``).

    Parameters
    ----------
    download:
        The function that fetches, called with yfinance's ``download`` keywords; ``None`` means
        ``yfinance.download`` (imported on first use). It is the network edge: tests replace it.
    retries:
        How many times a chunk is tried in all (at least 1) before :class:`DataSourceError`.
    backoff:
        Seconds before the first retry; the wait after try ``k`` (0-based) is ``backoff * 2**k``.
    sleep:
        The function that waits (``time.sleep``; tests pass a recorder).
    chunk_size:
        At most this many symbols per ``download`` call.
    tz_cache_dir:
        Writable folder for yfinance's timezone cache; by default a folder in the system temp dir. Set once
        per process, when the real yfinance is first used.

    Notes
    -----
    ``fetch`` returns ``close`` as traded and ``adj_close`` adjusted for splits and dividends (Yahoo's
    "Adj Close"), both float64, with dates as tz-naive midnights of the exchange's trading days. Symbols are
    case-insensitive on Yahoo: bars carry the spelling that was asked for.
    """

    name = "yfinance"
    is_demo = False

    def __init__(
        self,
        *,
        download: Callable[..., pd.DataFrame] | None = None,
        retries: int = 3,
        backoff: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
        chunk_size: int = 100,
        tz_cache_dir: Path | None = None,
    ) -> None:
        if retries < 1:
            raise ConfigError(f"YFinanceSource retries must be at least 1, was {retries}.")
        if backoff < 0:
            raise ConfigError(f"YFinanceSource backoff must be zero or more seconds, was {backoff}.")
        if chunk_size < 1:
            raise ConfigError(f"YFinanceSource chunk_size must be at least 1, was {chunk_size}.")
        self.download = download
        self.retries = retries
        self.backoff = backoff
        self.sleep = sleep
        self.chunk_size = chunk_size
        self.tz_cache_dir = Path(tz_cache_dir) if tz_cache_dir is not None else None

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        """Daily bars for ``symbols`` from ``start`` to ``end``, both inclusive.

        Parameters
        ----------
        symbols:
            Yahoo symbols ("AAPL", "BRK-B", "^GSPC"); duplicates (ignoring case) are fetched once.
        start, end:
            First and last calendar day wanted, inclusive.

        Returns
        -------
        FetchResult
            ``bars`` in the canonical long shape for the symbols delivered; ``failed`` maps every other
            symbol to the reason (with yfinance's own error text when it recorded one).

        Raises
        ------
        DataSourceError
            When a chunk of symbols still delivers nothing after ``retries`` tries because of exceptions,
            rate limits or network errors. Nothing is substituted.
        ConfigError
            When ``start`` is after ``end``.
        """
        if start > end:
            raise ConfigError(f"start must not be after end, was start={start} end={end}.")
        wanted = _unique_symbols(symbols)
        if not wanted:
            return FetchResult(bars=empty_bars())
        download = self._resolve_download()
        parts: list[pd.DataFrame] = []
        failed: dict[str, str] = {}
        for first in range(0, len(wanted), self.chunk_size):
            bars, chunk_failed = self._fetch_chunk(download, wanted[first : first + self.chunk_size], start, end)
            parts.append(bars)
            failed.update(chunk_failed)
        parts = [p for p in parts if not p.empty]
        bars = normalize_bars(pd.concat(parts, ignore_index=True)) if parts else empty_bars()
        return FetchResult(bars=bars, failed={s: failed[s] for s in wanted if s in failed})

    # -- one chunk ---------------------------------------------------------------------------------------

    def _fetch_chunk(
        self, download: Callable[..., pd.DataFrame], chunk: list[str], start: dt.date, end: dt.date
    ) -> tuple[pd.DataFrame, dict[str, str]]:
        """Try one chunk up to ``retries`` times, retrying only the symbols that failed transiently."""
        pending = chunk
        delivered: list[pd.DataFrame] = []
        failed: dict[str, str] = {}
        last = _Attempt()
        for attempt in range(self.retries):
            last = self._attempt(download, pending, start, end)
            delivered.append(last.bars)
            failed.update(last.failed)
            pending = list(last.transient)
            if not pending:
                break
            if attempt + 1 < self.retries:
                wait = self.backoff * 2**attempt
                log.warning("yfinance: retrying %d symbol(s) in %.1f s: %s", len(pending), wait, last.error)
                self.sleep(wait)
        bars = [b for b in delivered if not b.empty]
        if pending and not bars:
            raise DataSourceError(
                f"yfinance delivered no data for {_names(chunk)} ({start} to {end}) after {self.retries} "
                f"tries; last error: {last.error}"
            ) from last.exception
        for symbol in pending:
            failed[symbol] = (
                f"yfinance still failed for {symbol} after {self.retries} tries (rate limit or network error): "
                f"{last.transient[symbol]}"
            )
        return (pd.concat(bars, ignore_index=True) if bars else empty_bars()), failed

    def _attempt(
        self, download: Callable[..., pd.DataFrame], symbols: list[str], start: dt.date, end: dt.date
    ) -> _Attempt:
        """One ``download`` call: delivered bars, permanent failures, transient failures."""
        try:
            with _captured_yfinance_errors() as logged:
                frame = download(
                    tickers=list(symbols),
                    start=start.isoformat(),
                    end=(end + dt.timedelta(days=1)).isoformat(),  # yfinance's end is exclusive
                    **_DOWNLOAD_OPTIONS,
                )
        except Exception as exc:  # the network edge: any failure of the call is worth another try
            error = f"{type(exc).__name__}: {exc}"
            return _Attempt(transient=dict.fromkeys(symbols, error), error=error, exception=exc)
        errors = {**_legacy_errors(), **logged}
        bars = _long_bars(frame, symbols, start, end)
        got = set(bars["symbol"].unique())
        outcome = _Attempt(bars=bars)
        for symbol in symbols:
            if symbol in got:
                continue
            reason = _clean_error(errors.get(symbol.upper()), symbol)
            if reason is not None and _TRANSIENT.search(reason):
                outcome.transient[symbol] = reason
                outcome.error = reason
            else:
                outcome.failed[symbol] = _no_data_reason(symbol, reason, start, end)
        return outcome

    def _resolve_download(self) -> Callable[..., pd.DataFrame]:
        """The injected ``download``, else ``yfinance.download`` with its cache in a writable folder."""
        if self.download is not None:
            return self.download
        import yfinance  # imported here: it is slow to import and only needed when fetching for real

        _use_tz_cache(yfinance, self.tz_cache_dir)
        return yfinance.download


@dataclass
class _Attempt:
    """What one ``download`` call gave: bars, permanent failures, transient failures and the last error."""

    bars: pd.DataFrame = field(default_factory=empty_bars)
    failed: dict[str, str] = field(default_factory=dict)
    transient: dict[str, str] = field(default_factory=dict)
    error: str = ""
    exception: BaseException | None = None


# -- yfinance's frame → long bars ------------------------------------------------------------------------


def _long_bars(frame: pd.DataFrame | None, symbols: list[str], start: dt.date, end: dt.date) -> pd.DataFrame:
    """yfinance's (Price, Ticker) frame → canonical long bars of the requested symbols that have a close."""
    if frame is None or frame.shape[0] == 0 or frame.shape[1] == 0:
        return empty_bars()
    wide = _field_ticker_frame(frame, symbols)
    long = wide.stack(level="ticker", future_stack=True).rename_axis(["date", "ticker"]).reset_index()
    if "adj_close" not in long.columns:
        # A frame fetched with auto_adjust=True has no "Adj Close": its Close is already adjusted for splits
        # and dividends, so it is the best value for both columns (close is then not the traded price).
        long["adj_close"] = long["close"]
    by_upper = {s.upper(): s for s in symbols}
    long["symbol"] = long["ticker"].astype(str).str.upper().map(by_upper)
    long = long[long["symbol"].notna() & long["close"].notna()]
    if long.empty:
        return empty_bars()
    bars = normalize_bars(long)
    in_range = (bars["date"] >= pd.Timestamp(start)) & (bars["date"] <= pd.Timestamp(end))
    return bars[in_range].reset_index(drop=True)


def _field_ticker_frame(frame: pd.DataFrame, symbols: list[str]) -> pd.DataFrame:
    """Columns → MultiIndex (field, ticker) with our field names; other fields dropped.

    Accepts yfinance's (Price, Ticker) columns in either level order, and flat field columns when a single
    symbol was asked for (``multi_level_index=False``).
    """
    columns = frame.columns
    if not isinstance(columns, pd.MultiIndex):
        if len(symbols) != 1:
            raise DataSourceError(
                f"yfinance returned flat columns {list(columns)[:8]} for {len(symbols)} symbols; expected "
                "MultiIndex columns (Price, Ticker) (download(multi_level_index=True))."
            )
        columns = pd.MultiIndex.from_arrays([columns, [symbols[0]] * len(columns)])
    if columns.nlevels != 2:
        raise DataSourceError(f"yfinance returned {columns.nlevels} column levels; expected 2 named (Price, Ticker).")
    field_level = 0 if set(columns.get_level_values(0)) & set(_FIELDS) else 1
    fields = columns.get_level_values(field_level).astype(str)
    tickers = columns.get_level_values(1 - field_level).astype(str)
    if "Close" not in set(fields):
        raise DataSourceError(
            f"yfinance returned no 'Close' field (fields: {sorted(set(fields))}); expected {', '.join(_FIELDS)}."
        )
    keep = np.asarray(fields.isin(list(_FIELDS)), dtype=bool)
    out = frame.loc[:, keep].copy()
    out.columns = pd.MultiIndex.from_arrays([fields[keep].map(_FIELDS), tickers[keep]], names=["field", "ticker"])
    return out


# -- yfinance's recorded errors ---------------------------------------------------------------------------


class _ErrorSummaryHandler(logging.Handler):
    """Collects yfinance's ``"['T1', 'T2']: <error>"`` ERROR lines logged by one thread."""

    def __init__(self, thread: int) -> None:
        super().__init__(level=logging.ERROR)
        self.thread = thread
        self.errors: dict[str, str] = {}

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.thread:
            return
        match = _SUMMARY.match(str(record.getMessage()))
        if match is None:
            return
        try:
            tickers = ast.literal_eval(f"[{match['tickers']}]")
        except (ValueError, SyntaxError):
            return
        for ticker in tickers:
            if isinstance(ticker, str):
                self.errors.setdefault(ticker.upper(), match["error"].strip())


@contextmanager
def _captured_yfinance_errors() -> Iterator[dict[str, str]]:
    """Within the block, collect upper-cased ticker → error text that yfinance logs from this thread."""
    handler = _ErrorSummaryHandler(threading.get_ident())
    yf_logger = logging.getLogger("yfinance")
    yf_logger.addHandler(handler)
    try:
        yield handler.errors
    finally:
        yf_logger.removeHandler(handler)


def _legacy_errors() -> dict[str, str]:
    """``yfinance.shared._ERRORS`` (ticker → error text): written by yfinance 0.2.x, empty in 1.x.

    Read only when ``yfinance.shared`` was imported: if nothing imported it, nothing wrote to it.
    """
    shared = sys.modules.get("yfinance.shared")
    errors = getattr(shared, "_ERRORS", None)
    if not isinstance(errors, dict):
        return {}
    return {str(k).upper(): str(v) for k, v in errors.items()}


def _clean_error(error: str | None, symbol: str) -> str | None:
    """yfinance's error text without its ``$TICKER: `` prefix; ``None`` when it recorded none."""
    if not error:
        return None
    return error.replace(f"${symbol.upper()}: ", "").strip()


def _no_data_reason(symbol: str, error: str | None, start: dt.date, end: dt.date) -> str:
    """The sentence recorded in ``failed`` for a symbol Yahoo gave no closes for."""
    if error:
        return f"Yahoo returned no data for {symbol} from {start} to {end}: {error}"
    return (
        f"Yahoo returned no closing prices for {symbol} from {start} to {end} and yfinance recorded no "
        "error; check the symbol and the dates"
    )


# -- small helpers ---------------------------------------------------------------------------------------


def _unique_symbols(symbols: Sequence[str]) -> list[str]:
    """Stripped, non-empty symbols, first spelling kept when the same symbol repeats in another case."""
    if isinstance(symbols, str):
        symbols = [symbols]
    seen: set[str] = set()
    out: list[str] = []
    for raw in symbols:
        symbol = str(raw).strip()
        if symbol and symbol.upper() not in seen:
            seen.add(symbol.upper())
            out.append(symbol)
    return out


def _names(symbols: Sequence[str]) -> str:
    """'A, B, C' or 'A, B, … and 90 more' for messages."""
    shown = ", ".join(symbols[:_NAMES_SHOWN])
    extra = len(symbols) - _NAMES_SHOWN
    return f"{shown} and {extra} more" if extra > 0 else shown


def _use_tz_cache(yfinance_module: object, requested: Path | None) -> None:
    """Point yfinance's timezone/cookie cache at a writable folder, once per process (or when asked anew)."""
    folder = requested if requested is not None else _DEFAULT_TZ_CACHE
    with _TZ_CACHE_LOCK:
        current = _TZ_CACHE_SET.get("folder")
        if current is not None and (requested is None or current == folder):
            return
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ConfigError(
                f"yfinance cache folder {folder} cannot be created ({exc}); pass a writable tz_cache_dir."
            ) from exc
        yfinance_module.set_tz_cache_location(str(folder))  # type: ignore[attr-defined]
        _TZ_CACHE_SET["folder"] = folder

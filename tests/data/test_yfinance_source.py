"""YFinanceSource against fakes of ``yfinance.download`` built in the exact shape yfinance 1.x returns.

The builder below mirrors ``yfinance.multi._download_impl`` (1.7): one frame per ticker as
``Ticker.history(auto_adjust=False, actions=False)`` gives it (index "Date", float prices, int64 volume), an
empty six-field frame for a ticker that failed, every index made tz-naive and reindexed to the union of
dates, concatenated with keys named ("Ticker", "Price"), levels swapped to ("Price", "Ticker") and sorted.
Failures are recorded the way 1.x records them: ERROR lines ``"['T']: <error>"`` on the "yfinance" logger
(``test_builder_matches_real_yfinance_assembly`` and the contract test check this against the installed
yfinance). One test covers the 0.2.x way, ``yfinance.shared._ERRORS``.
"""

from __future__ import annotations

import datetime as dt
import logging
import socket
import sys
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from ravenshire.data.frames import BAR_COLUMNS
from ravenshire.data.sources import yfinance_source
from ravenshire.data.sources.base import DataSource
from ravenshire.data.sources.yfinance_source import YFinanceSource
from ravenshire.errors import ConfigError, DataSourceError

YF_FIELDS = ["Open", "High", "Low", "Close", "Adj Close", "Volume"]
RATE_LIMIT = "YFRateLimitError('Too Many Requests. Rate limited. Try after a while.')"
DNS_ERROR = (
    "DNSError('Failed to perform, curl: (6) Could not resolve host: query2.finance.yahoo.com. "
    "See https://curl.se/libcurl/c/libcurl-errors.html first for more details.')"
)


# -- builders mirroring yfinance 1.x ---------------------------------------------------------------------


def history(dates: Sequence[str], close: Sequence[float], *, tz: str = "America/New_York") -> pd.DataFrame:
    """One ticker as ``Ticker.history(auto_adjust=False, actions=False)`` returns it (daily)."""
    close_arr = np.asarray(close, dtype="float64")
    index = pd.DatetimeIndex(pd.to_datetime(list(dates)), name="Date").tz_localize(tz)
    return pd.DataFrame(
        {
            "Open": close_arr * 0.99,
            "High": close_arr * 1.01,
            "Low": close_arr * 0.98,
            "Close": close_arr,
            "Adj Close": close_arr * 0.9,
            "Volume": np.arange(1, len(close_arr) + 1, dtype="int64") * 1000,
        },
        index=index,
    )


def empty_history() -> pd.DataFrame:
    """What yfinance puts in for a ticker that failed (``yfinance.utils.empty_df()``)."""
    frame = pd.DataFrame(index=[], data=dict.fromkeys(YF_FIELDS, np.nan))
    frame.index.name = "Date"
    return frame


def yf_frame(histories: Mapping[str, pd.DataFrame | None]) -> pd.DataFrame:
    """Assemble per-ticker frames exactly as ``yfinance.multi._download_impl`` does (ticker → None: failed)."""
    dfs = {t: (empty_history() if h is None else h.copy()) for t, h in histories.items()}
    for df in dfs.values():
        if not df.empty:
            df.index = df.index.tz_localize(None)
    idx = None
    for df in dfs.values():
        if not df.empty:
            idx = df.index if idx is None else idx.union(df.index)
    if idx is None:
        idx = pd.DatetimeIndex([])
    dfs = {t: df.reindex(idx) for t, df in dfs.items()}
    data = pd.concat(dfs.values(), axis=1, sort=True, keys=dfs.keys(), names=["Ticker", "Price"])
    data.columns = data.columns.swaplevel(0, 1)
    return data.sort_index(level=0, axis=1)


def log_failures_like_yfinance(errors: Mapping[str, str]) -> None:
    """Record failures as yfinance 1.x does: ERROR lines on the "yfinance" logger, grouped by error text."""
    if not errors:
        return
    logger = logging.getLogger("yfinance")
    logger.error("\n%.f Failed download%s:", len(errors), "s" if len(errors) > 1 else "")
    grouped: dict[str, list[str]] = {}
    for ticker, err in errors.items():
        grouped.setdefault(err.replace(f"${ticker}: ", ""), []).append(ticker)
    for err, syms in grouped.items():
        logger.error(f"{syms}: " + err)


class FakeYahoo:
    """Stands in for ``yfinance.download``: serves ``market`` like Yahoo, following a script per call.

    Each script step is an exception to raise, a dict ticker → error text to fail those tickers with, or
    None (behave normally). Tickers not in ``market`` fail as unknown symbols do.
    """

    def __init__(
        self,
        market: Mapping[str, pd.DataFrame],
        script: Sequence[BaseException | Mapping[str, str] | None] = (),
    ) -> None:
        self.market = dict(market)
        self.script = list(script)
        self.calls: list[dict[str, object]] = []

    def __call__(self, **kwargs: object) -> pd.DataFrame:
        self.calls.append(kwargs)
        step = self.script.pop(0) if self.script else None
        if isinstance(step, BaseException):
            raise step
        forced = dict(step or {})
        start, end = str(kwargs["start"]), str(kwargs["end"])
        histories: dict[str, pd.DataFrame | None] = {}
        errors: dict[str, str] = {}
        for ticker in sorted({str(t).upper() for t in kwargs["tickers"]}):  # type: ignore[attr-defined]
            if ticker in forced:
                histories[ticker], errors[ticker] = None, forced[ticker]
            elif ticker in self.market:
                h = self.market[ticker]
                local = h.index.tz_localize(None)
                histories[ticker] = h[(local >= start) & (local < end)]  # yfinance's end is exclusive
            else:
                histories[ticker] = None
                errors[ticker] = f"possibly delisted; no price data found  (1d {start} -> {end})"
        log_failures_like_yfinance(errors)
        return yf_frame(histories)


DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"]
START, END = dt.date(2024, 1, 1), dt.date(2024, 1, 5)


@pytest.fixture
def market() -> dict[str, pd.DataFrame]:
    return {
        "AAPL": history(DAYS, [185.6, 184.3, 181.9, 181.2]),
        "MSFT": history(DAYS[1:], [370.6, 367.9, 368.0]),  # no bar on the first day
        "SPY": history(DAYS, [472.7, 468.8, 467.3, 467.9]),
    }


def source(fake: FakeYahoo, sleeps: list[float] | None = None, **kwargs: object) -> YFinanceSource:
    recorder = sleeps if sleeps is not None else []
    return YFinanceSource(download=fake, sleep=recorder.append, **kwargs)  # type: ignore[arg-type]


# -- the builder is the real shape -----------------------------------------------------------------------


@pytest.fixture
def real_yfinance_with_fake_tickers(monkeypatch: pytest.MonkeyPatch):
    """The installed ``yfinance.download`` with ``Ticker.history`` replaced: real assembly, no network."""
    yf = pytest.importorskip("yfinance")
    multi = pytest.importorskip("yfinance.multi")
    from yfinance.exceptions import YFPricesMissingError, YFRateLimitError

    behaviour: dict[str, object] = {}

    class _PriceHistory:
        _last_error: str | None = None

    class FakeTicker:
        def __init__(self, ticker: str, *args: object, **kwargs: object) -> None:
            self.ticker = ticker
            self._price_history = _PriceHistory()

        def history(self, **kwargs: object) -> pd.DataFrame:
            what = behaviour.get(self.ticker)
            if isinstance(what, pd.DataFrame):
                return what.copy()
            if what == "rate_limit":
                raise YFRateLimitError()
            err = YFPricesMissingError(self.ticker, f"(1d {kwargs['start']} -> {kwargs['end']})")
            self._price_history._last_error = str(err).split(": ", 1)[1]
            return yf.utils.empty_df()

    monkeypatch.setattr(multi, "Ticker", FakeTicker)
    return yf, behaviour


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_builder_matches_real_yfinance_assembly(real_yfinance_with_fake_tickers) -> None:
    yf, behaviour = real_yfinance_with_fake_tickers
    behaviour.update({"AAPL": history(DAYS, [1, 2, 3, 4]), "MSFT": history(DAYS[1:], [5, 6, 7])})
    real = yf.download(
        ["AAPL", "MSFT", "ZZZZ"],
        start="2024-01-01",
        end="2024-01-06",
        auto_adjust=False,
        actions=False,
        group_by="column",
        progress=False,
        multi_level_index=True,
        threads=False,
    )
    built = yf_frame({"AAPL": behaviour["AAPL"], "MSFT": behaviour["MSFT"], "ZZZZ": None})
    assert list(real.columns.names) == ["Price", "Ticker"] == list(built.columns.names)
    assert real.index.name == "Date" == built.index.name
    pd.testing.assert_frame_equal(real, built, check_index_type=False, check_freq=False)
    expected = pd.MultiIndex.from_product([sorted(YF_FIELDS), ["AAPL", "MSFT", "ZZZZ"]], names=["Price", "Ticker"])
    assert built.columns.equals(expected)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_contract_with_installed_yfinance_download(real_yfinance_with_fake_tickers) -> None:
    """The real yfinance 1.x assembly and error logging, through YFinanceSource (no network)."""
    yf, behaviour = real_yfinance_with_fake_tickers
    behaviour.update({"AAPL": history(DAYS, [1, 2, 3, 4]), "RATE": "rate_limit"})
    sleeps: list[float] = []
    src = YFinanceSource(download=yf.download, sleep=sleeps.append, retries=2)
    result = src.fetch(["AAPL", "ZZZZ", "RATE"], START, END)
    assert sorted(result.bars["symbol"].unique()) == ["AAPL"]
    assert "possibly delisted; no price data found" in result.failed["ZZZZ"]
    assert "Too Many Requests" in result.failed["RATE"]
    assert sleeps == [1.0]  # RATE was retried once, ZZZZ was not
    with pytest.raises(DataSourceError, match=r"RATE.*2 tries.*Too Many Requests"):
        src.fetch(["RATE"], START, END)


# -- delivered bars --------------------------------------------------------------------------------------


def test_is_a_real_data_source() -> None:
    src = YFinanceSource(download=FakeYahoo({}))
    assert isinstance(src, DataSource)
    assert (src.name, src.is_demo) == ("yfinance", False)


def test_single_ticker(market: dict[str, pd.DataFrame]) -> None:
    fake = FakeYahoo(market)
    result = source(fake).fetch(["AAPL"], START, END)
    bars = result.bars
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert result.failed == {}
    assert list(bars["date"]) == list(pd.to_datetime(DAYS))
    assert bars["date"].dtype == "datetime64[ns]"
    np.testing.assert_allclose(bars["close"], [185.6, 184.3, 181.9, 181.2])
    np.testing.assert_allclose(bars["adj_close"], bars["close"] * 0.9)  # from "Adj Close", not Close
    np.testing.assert_allclose(bars["volume"], [1000, 2000, 3000, 4000])
    assert all(bars[c].dtype == "float64" for c in ("open", "high", "low", "close", "adj_close", "volume"))
    assert fake.calls[0]["tickers"] == ["AAPL"]


def test_multi_ticker_drops_each_symbols_nan_rows(market: dict[str, pd.DataFrame]) -> None:
    result = source(FakeYahoo(market)).fetch(["MSFT", "AAPL"], START, END)
    bars = result.bars
    assert result.failed == {}
    counts = bars.groupby("symbol").size().to_dict()
    assert counts == {"AAPL": 4, "MSFT": 3}  # MSFT's NaN row from the union of dates is gone
    assert not bars[["open", "high", "low", "close", "adj_close", "volume"]].isna().any().any()
    msft = bars[bars["symbol"] == "MSFT"]
    assert msft["date"].min() == pd.Timestamp("2024-01-03")


def test_call_uses_yfinance_keywords_and_inclusive_end(market: dict[str, pd.DataFrame]) -> None:
    fake = FakeYahoo(market)
    result = source(fake).fetch(["AAPL"], START, dt.date(2024, 1, 5))
    call = fake.calls[0]
    assert call["start"] == "2024-01-01"
    assert call["end"] == "2024-01-06"  # yfinance's end is exclusive: ask for the day after
    assert call["auto_adjust"] is False
    assert call["actions"] is False
    assert call["group_by"] == "column"
    assert call["progress"] is False
    assert call["multi_level_index"] is True
    assert call["threads"] is True
    assert call["interval"] == "1d"
    assert result.bars["date"].max() == pd.Timestamp("2024-01-05")


def test_requested_spelling_is_kept(market: dict[str, pd.DataFrame]) -> None:
    result = source(FakeYahoo(market)).fetch(["aapl", "AAPL", " spy "], START, END)
    assert sorted(result.bars["symbol"].unique()) == ["aapl", "spy"]


def test_frame_without_adj_close_uses_close_for_both(market: dict[str, pd.DataFrame]) -> None:
    frame = yf_frame({"AAPL": market["AAPL"]}).drop(columns="Adj Close", level="Price")
    result = YFinanceSource(download=lambda **_: frame).fetch(["AAPL"], START, END)
    np.testing.assert_allclose(result.bars["adj_close"], result.bars["close"])


def test_rows_outside_the_range_are_dropped(market: dict[str, pd.DataFrame]) -> None:
    frame = yf_frame({"AAPL": market["AAPL"]})  # returns all four days whatever is asked
    result = YFinanceSource(download=lambda **_: frame).fetch(["AAPL"], dt.date(2024, 1, 3), dt.date(2024, 1, 4))
    assert list(result.bars["date"]) == [pd.Timestamp("2024-01-03"), pd.Timestamp("2024-01-04")]


def test_chunking(market: dict[str, pd.DataFrame]) -> None:
    symbols = ["AAPL", "MSFT", "SPY", "QQQ", "IWM"]
    full = {**market, "QQQ": history(DAYS, [1, 2, 3, 4]), "IWM": history(DAYS, [5, 6, 7, 8])}
    fake = FakeYahoo(full)
    result = source(fake, chunk_size=2).fetch(symbols, START, END)
    assert [c["tickers"] for c in fake.calls] == [["AAPL", "MSFT"], ["SPY", "QQQ"], ["IWM"]]
    assert sorted(result.bars["symbol"].unique()) == sorted(symbols)
    assert result.failed == {}


def test_no_symbols_makes_no_call() -> None:
    fake = FakeYahoo({})
    result = source(fake).fetch([], START, END)
    assert result.bars.empty and list(result.bars.columns) == list(BAR_COLUMNS)
    assert fake.calls == []


# -- symbols that fail -----------------------------------------------------------------------------------


def test_unknown_ticker_among_good_ones(market: dict[str, pd.DataFrame]) -> None:
    sleeps: list[float] = []
    fake = FakeYahoo(market)
    result = source(fake, sleeps).fetch(["AAPL", "NOPE", "MSFT"], START, END)
    assert sorted(result.bars["symbol"].unique()) == ["AAPL", "MSFT"]
    assert list(result.failed) == ["NOPE"]
    assert "NOPE" in result.failed["NOPE"]
    assert "possibly delisted; no price data found" in result.failed["NOPE"]  # yfinance's own text
    assert len(fake.calls) == 1 and sleeps == []


def test_all_unknown_is_not_retried() -> None:
    sleeps: list[float] = []
    fake = FakeYahoo({})
    result = source(fake, sleeps).fetch(["NOPE", "NADA"], START, END)
    assert result.bars.empty and list(result.bars.columns) == list(BAR_COLUMNS)
    assert set(result.failed) == {"NOPE", "NADA"}
    assert all("possibly delisted" in reason for reason in result.failed.values())
    assert len(fake.calls) == 1 and sleeps == []


@pytest.mark.parametrize(
    "frame",
    [
        yf_frame({"AAPL": None, "MSFT": None}),  # the real "everything failed" shape: columns, zero rows
        pd.DataFrame(),
        None,
    ],
    ids=["columns-no-rows", "bare-empty", "none"],
)
def test_empty_result_without_recorded_errors(frame: pd.DataFrame | None) -> None:
    calls: list[object] = []

    def download(**kwargs: object) -> pd.DataFrame | None:
        calls.append(kwargs)
        return frame

    result = YFinanceSource(download=download, sleep=lambda _: None).fetch(["AAPL", "MSFT"], START, END)
    assert result.bars.empty
    assert set(result.failed) == {"AAPL", "MSFT"}
    assert "recorded no error" in result.failed["AAPL"]
    assert len(calls) == 1


def test_legacy_shared_errors_are_read(market: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch) -> None:
    """yfinance 0.2.x reset ``shared._ERRORS`` per call and stored ``repr(exception)`` per failed ticker."""
    shared = pytest.importorskip("yfinance.shared")
    monkeypatch.setattr(shared, "_ERRORS", {})  # restored after the test

    def download(**kwargs: object) -> pd.DataFrame:
        shared._ERRORS = {}
        shared._ERRORS["OLDCO"] = "YFTzMissingError('$OLDCO: possibly delisted; no timezone found')"
        return yf_frame({"AAPL": market["AAPL"], "OLDCO": None})

    result = YFinanceSource(download=download).fetch(["AAPL", "OLDCO"], START, END)
    assert list(result.bars["symbol"].unique()) == ["AAPL"]
    assert "possibly delisted; no timezone found" in result.failed["OLDCO"]
    assert "$OLDCO" not in result.failed["OLDCO"]


# -- retries ---------------------------------------------------------------------------------------------


def test_rate_limit_raised_then_success(market: dict[str, pd.DataFrame]) -> None:
    from yfinance.exceptions import YFRateLimitError

    sleeps: list[float] = []
    fake = FakeYahoo(market, script=[YFRateLimitError(), YFRateLimitError(), None])
    result = source(fake, sleeps, retries=3, backoff=0.5).fetch(["AAPL", "MSFT"], START, END)
    assert sleeps == [0.5, 1.0]  # backoff * 2**attempt
    assert len(fake.calls) == 3
    assert sorted(result.bars["symbol"].unique()) == ["AAPL", "MSFT"]
    assert result.failed == {}


def test_recorded_rate_limit_for_whole_chunk_is_retried(market: dict[str, pd.DataFrame]) -> None:
    sleeps: list[float] = []
    fake = FakeYahoo(market, script=[{"AAPL": RATE_LIMIT, "MSFT": RATE_LIMIT}, None])
    result = source(fake, sleeps).fetch(["AAPL", "MSFT"], START, END)
    assert sleeps == [1.0]
    assert sorted(result.bars["symbol"].unique()) == ["AAPL", "MSFT"]
    assert result.failed == {}


def test_only_transiently_failed_symbols_are_retried(market: dict[str, pd.DataFrame]) -> None:
    fake = FakeYahoo(market, script=[{"MSFT": RATE_LIMIT}, None])
    result = source(fake).fetch(["AAPL", "MSFT", "NOPE"], START, END)
    assert fake.calls[1]["tickers"] == ["MSFT"]
    assert sorted(result.bars["symbol"].unique()) == ["AAPL", "MSFT"]
    assert list(result.failed) == ["NOPE"]


def test_persistent_network_error_raises_after_n_tries() -> None:
    sleeps: list[float] = []
    fake = FakeYahoo({}, script=[ConnectionError("Could not resolve host")] * 4)
    with pytest.raises(DataSourceError) as info:
        source(fake, sleeps, retries=4, backoff=2.0).fetch(["AAPL", "MSFT"], START, END)
    message = str(info.value)
    assert "AAPL" in message and "MSFT" in message
    assert "4 tries" in message
    assert "ConnectionError: Could not resolve host" in message
    assert isinstance(info.value.__cause__, ConnectionError)
    assert sleeps == [2.0, 4.0, 8.0]
    assert len(fake.calls) == 4


def test_persistent_recorded_network_error_raises(market: dict[str, pd.DataFrame]) -> None:
    """yfinance 1.x does not raise on a network failure: it logs a DNSError for every ticker."""
    fake = FakeYahoo(market, script=[{"AAPL": DNS_ERROR, "MSFT": DNS_ERROR}] * 3)
    with pytest.raises(DataSourceError, match=r"AAPL, MSFT .* after 3 tries; last error: DNSError"):
        source(fake).fetch(["AAPL", "MSFT"], START, END)


def test_partial_persistent_rate_limit_goes_to_failed(market: dict[str, pd.DataFrame]) -> None:
    fake = FakeYahoo(market, script=[{"MSFT": RATE_LIMIT}] * 3)
    result = source(fake, retries=3).fetch(["AAPL", "MSFT"], START, END)
    assert list(result.bars["symbol"].unique()) == ["AAPL"]
    assert "3 tries" in result.failed["MSFT"] and "Too Many Requests" in result.failed["MSFT"]


def test_other_chunks_are_not_substituted(market: dict[str, pd.DataFrame]) -> None:
    """A chunk that keeps failing fails the whole fetch: nothing partial is passed off as complete."""
    fake = FakeYahoo(market, script=[None, *[{"SPY": RATE_LIMIT}] * 3])
    with pytest.raises(DataSourceError, match="SPY"):
        source(fake, chunk_size=2).fetch(["AAPL", "MSFT", "SPY"], START, END)


def test_unexpected_shape_is_an_error() -> None:
    flat = pd.DataFrame({"Close": [1.0]}, index=pd.DatetimeIndex(["2024-01-02"], name="Date"))
    with pytest.raises(DataSourceError, match="Price, Ticker"):
        YFinanceSource(download=lambda **_: flat).fetch(["AAPL", "MSFT"], START, END)


# -- configuration ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kwargs", [{"retries": 0}, {"backoff": -1.0}, {"chunk_size": 0}])
def test_bad_settings_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError):
        YFinanceSource(**kwargs)  # type: ignore[arg-type]


def test_start_after_end_is_refused() -> None:
    with pytest.raises(ConfigError, match="start"):
        YFinanceSource(download=FakeYahoo({})).fetch(["AAPL"], END, START)


def test_real_yfinance_gets_a_writable_tz_cache_once(
    market: dict[str, pd.DataFrame], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    yf = pytest.importorskip("yfinance")
    locations: list[str] = []
    monkeypatch.setattr(yf, "set_tz_cache_location", locations.append)
    monkeypatch.setattr(yf, "download", FakeYahoo(market))
    monkeypatch.setattr(yfinance_source, "_TZ_CACHE_SET", {})
    src = YFinanceSource(tz_cache_dir=tmp_path / "yf-cache")
    src.fetch(["AAPL"], START, END)
    src.fetch(["AAPL"], START, END)
    assert locations == [str(tmp_path / "yf-cache")]
    assert (tmp_path / "yf-cache").is_dir()


def test_importing_the_module_does_not_import_yfinance() -> None:
    code = "import sys, ravenshire.data.sources.yfinance_source; print('yfinance' in sys.modules)"
    import subprocess

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- live ------------------------------------------------------------------------------------------------


def _yahoo_reachable(host: str = "query1.finance.yahoo.com", timeout: float = 2.0) -> bool:
    """True when ``host`` resolves and accepts a TCP connection within ``timeout`` seconds."""
    outcome: list[bool] = []

    def probe() -> None:
        try:
            with socket.create_connection((host, 443), timeout=timeout):
                outcome.append(True)
        except OSError:
            outcome.append(False)

    thread = threading.Thread(target=probe, daemon=True)  # getaddrinfo ignores socket timeouts
    thread.start()
    thread.join(timeout)
    return bool(outcome and outcome[0])


@pytest.mark.network
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_live_yahoo(tmp_path: Path) -> None:
    if not _yahoo_reachable():
        pytest.skip("query1.finance.yahoo.com is not reachable within 2 s")
    result = YFinanceSource(tz_cache_dir=tmp_path).fetch(
        ["AAPL", "MSFT", "RAVENSHIRE-NO-SUCH-SYMBOL"], dt.date(2024, 1, 2), dt.date(2024, 1, 12)
    )
    assert sorted(result.bars["symbol"].unique()) == ["AAPL", "MSFT"]
    assert "RAVENSHIRE-NO-SUCH-SYMBOL" in result.failed
    assert result.bars["date"].min() >= pd.Timestamp("2024-01-02")
    assert result.bars["date"].max() == pd.Timestamp("2024-01-12")  # end is inclusive
    assert (result.bars["close"] > 0).all()

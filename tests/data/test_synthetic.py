"""Tests of the synthetic (demo) market-data source: shape, determinism, and the model's stylised facts."""

from __future__ import annotations

import datetime as dt
import zlib

import numpy as np
import pandas as pd
import pytest

from ravenshire.data.calendar import sessions
from ravenshire.data.frames import BAR_COLUMNS, FIELDS, normalize_bars, to_wide
from ravenshire.data.sources.base import DataSource, FetchResult
from ravenshire.data.sources.synthetic import REGIMES, SECTORS, VIX_SYMBOL, SyntheticSource
from ravenshire.errors import ConfigError

STOCKS = [f"SYN{i:02d}" for i in range(40)]
LONG_START, LONG_END = dt.date(2000, 1, 1), dt.date(2019, 12, 31)


@pytest.fixture(scope="module")
def long_run() -> FetchResult:
    """Twenty years of 40 stocks and the volatility index, seed 7."""
    return SyntheticSource(seed=7).fetch([*STOCKS, VIX_SYMBOL], LONG_START, LONG_END)


@pytest.fixture(scope="module")
def closes(long_run: FetchResult) -> pd.DataFrame:
    return to_wide(long_run.bars)["close"]


@pytest.fixture(scope="module")
def stock_returns(closes: pd.DataFrame) -> pd.DataFrame:
    """Daily log returns of the stocks (first session dropped)."""
    return np.log(closes[STOCKS]).diff().iloc[1:]


@pytest.fixture(scope="module")
def market_returns(stock_returns: pd.DataFrame) -> pd.Series:
    """Equal-weighted average of the stocks' daily log returns: a market proxy."""
    return stock_returns.mean(axis=1)


def _mean_pairwise_corr(returns: pd.DataFrame) -> float:
    corr = np.corrcoef(returns.to_numpy().T)
    return float(corr[np.triu_indices_from(corr, k=1)].mean())


# ---------------------------------------------------------------------- shape and protocol


def test_follows_the_data_source_protocol_and_says_it_is_demo() -> None:
    src = SyntheticSource()
    assert isinstance(src, DataSource)
    assert src.name == "synthetic"
    assert src.is_demo is True


def test_bars_are_in_the_canonical_long_shape(long_run: FetchResult) -> None:
    bars = long_run.bars
    assert list(bars.columns) == list(BAR_COLUMNS)
    assert all(bars[c].dtype == np.float64 for c in FIELDS)
    assert bars["date"].dtype == np.dtype("datetime64[ns]")
    assert isinstance(bars.index, pd.RangeIndex) and bars.index.start == 0
    pd.testing.assert_frame_equal(normalize_bars(bars), bars)  # already normalized and sorted
    assert set(bars["symbol"]) == {*STOCKS, VIX_SYMBOL}
    assert (bars["adj_close"] == bars["close"]).all()  # no corporate actions
    assert long_run.failed == {}


def test_dates_are_the_exchange_sessions_and_regimes_cover_them(long_run: FetchResult) -> None:
    expected = sessions(LONG_START, LONG_END, "XNYS")
    for _, group in long_run.bars.groupby("symbol"):
        assert pd.DatetimeIndex(group["date"]).equals(expected)
    assert long_run.regimes is not None
    assert long_run.regimes.index.equals(expected)
    assert long_run.regimes.index.name == "date"
    assert set(long_run.regimes.unique()) <= set(REGIMES)


def test_other_exchange_uses_its_own_calendar() -> None:
    bars = SyntheticSource(exchange="XLON").fetch(["AAA"], dt.date(2021, 12, 20), dt.date(2022, 1, 10)).bars
    assert pd.DatetimeIndex(bars["date"]).equals(sessions("2021-12-20", "2022-01-10", "XLON"))
    assert pd.Timestamp("2021-12-28") not in set(bars["date"])  # a London holiday, open in New York


def test_start_before_the_epoch_is_answered_from_the_epoch() -> None:
    src = SyntheticSource(epoch="2010-01-04")
    result = src.fetch(["AAA"], dt.date(2005, 1, 1), dt.date(2010, 1, 29))
    assert result.bars["date"].iloc[0] == pd.Timestamp("2010-01-04")
    assert pd.DatetimeIndex(result.bars["date"]).equals(sessions("2010-01-04", "2010-01-29"))
    assert result.regimes is not None and result.regimes.index[0] == pd.Timestamp("2010-01-04")


def test_range_entirely_before_the_epoch_gives_no_bars_and_names_every_symbol() -> None:
    result = SyntheticSource(epoch="2010-01-04").fetch(["AAA", "VIX"], dt.date(2005, 1, 1), dt.date(2009, 12, 31))
    assert result.bars.empty
    assert list(result.bars.columns) == list(BAR_COLUMNS)
    assert set(result.failed) == {"AAA", "VIX"}
    assert "2010-01-04" in result.failed["AAA"]
    assert result.regimes is not None and result.regimes.empty


# ---------------------------------------------------------------------- determinism


def test_same_seed_gives_identical_bars_and_another_seed_does_not() -> None:
    args = (["AAA", "BBB", VIX_SYMBOL], dt.date(2015, 1, 1), dt.date(2016, 6, 30))
    first = SyntheticSource(seed=11).fetch(*args)
    again = SyntheticSource(seed=11).fetch(*args)
    other = SyntheticSource(seed=12).fetch(*args)
    pd.testing.assert_frame_equal(first.bars, again.bars, check_exact=True)
    pd.testing.assert_series_equal(first.regimes, again.regimes)
    assert not np.allclose(first.bars["close"], other.bars["close"])


def test_split_range_equals_the_whole_range() -> None:
    symbols = ["AAA", "BBB", VIX_SYMBOL]
    whole = SyntheticSource(seed=3).fetch(symbols, dt.date(2004, 1, 1), dt.date(2008, 12, 31)).bars
    src = SyntheticSource(seed=3)
    later = src.fetch(symbols, dt.date(2006, 7, 1), dt.date(2008, 12, 31)).bars  # fills the cache first
    earlier = src.fetch(symbols, dt.date(2004, 1, 1), dt.date(2006, 6, 30)).bars  # answered from the cache
    joined = normalize_bars(pd.concat([earlier, later], ignore_index=True))
    pd.testing.assert_frame_equal(joined, whole, check_exact=True)
    # A fresh instance simulates only up to the earlier end: the same bars, not just the same cache.
    fresh = SyntheticSource(seed=3).fetch(symbols, dt.date(2004, 1, 1), dt.date(2006, 6, 30)).bars
    pd.testing.assert_frame_equal(fresh, earlier, check_exact=True)


def test_a_subset_of_symbols_equals_the_same_columns_of_a_larger_request() -> None:
    start, end = dt.date(2012, 1, 1), dt.date(2013, 12, 31)
    big = to_wide(SyntheticSource(seed=5).fetch([*STOCKS[:25], VIX_SYMBOL], start, end).bars)
    small = to_wide(SyntheticSource(seed=5).fetch([STOCKS[17], VIX_SYMBOL], start, end).bars)
    for field in FIELDS:
        pd.testing.assert_frame_equal(
            small[field], big[field][[STOCKS[17], VIX_SYMBOL]], check_exact=True, check_names=False
        )


def test_duplicate_symbols_are_delivered_once() -> None:
    bars = SyntheticSource().fetch(["AAA", "AAA"], dt.date(2020, 1, 1), dt.date(2020, 1, 31)).bars
    assert len(bars) == len(sessions("2020-01-01", "2020-01-31"))


def test_golden_values_of_the_default_seed() -> None:
    """The demo data must not change by accident (a changed stream layout changes every demo chart)."""
    bars = SyntheticSource().fetch(["AAPL", VIX_SYMBOL], dt.date(2024, 1, 2), dt.date(2024, 1, 2)).bars
    got = bars.set_index("symbol")["close"]
    np.testing.assert_allclose(got["AAPL"], GOLDEN_AAPL_CLOSE_2024_01_02, rtol=1e-9)
    np.testing.assert_allclose(got[VIX_SYMBOL], GOLDEN_VIX_CLOSE_2024_01_02, rtol=1e-9)


GOLDEN_AAPL_CLOSE_2024_01_02 = 98.32087651718301
GOLDEN_VIX_CLOSE_2024_01_02 = 15.06355179269875  # EWMA level since the VIX tripled overnight


# ---------------------------------------------------------------------- bars


def test_ohlc_is_consistent_and_positive(long_run: FetchResult) -> None:
    bars = long_run.bars
    prices = bars[["open", "high", "low", "close"]]
    assert prices.notna().all().all()
    assert (prices > 0).all().all()
    assert (bars["high"] >= bars[["open", "close"]].max(axis=1)).all()
    assert (bars["low"] <= bars[["open", "close"]].min(axis=1)).all()
    assert (bars["high"] > bars["low"]).mean() > 0.99
    stocks = bars[bars["symbol"] != VIX_SYMBOL]
    assert (stocks["volume"] > 0).all()
    assert bars.loc[bars["symbol"] == VIX_SYMBOL, "volume"].isna().all()


def test_open_is_near_the_previous_close(closes: pd.DataFrame, long_run: FetchResult) -> None:
    opens = to_wide(long_run.bars)["open"]
    gap = np.log(opens / closes.shift()).iloc[1:]
    assert gap.abs().median().max() < 0.02
    assert gap.abs().max().max() < 0.5


def test_volume_is_higher_on_large_moves(long_run: FetchResult, stock_returns: pd.DataFrame) -> None:
    volume = np.log(to_wide(long_run.bars)["volume"][STOCKS].iloc[1:])
    rank_corr = [stock_returns[s].abs().corr(volume[s], method="spearman") for s in STOCKS]
    assert min(rank_corr) > 0.05


def test_profile_gives_the_hidden_parameters() -> None:
    src = SyntheticSource(seed=7)
    profile = src.profile("AAA")
    assert profile == SyntheticSource(seed=7).profile("AAA")
    assert profile["sector"] in SECTORS
    assert 0.5 <= profile["beta"] <= 1.6
    assert 20 <= profile["start_price"] <= 500
    assert profile["hash"] == zlib.crc32(b"AAA")  # stable across processes, unlike hash()
    first = src.fetch(["AAA"], dt.date(1990, 1, 1), dt.date(2000, 1, 31)).bars.iloc[0]
    assert first["date"] == pd.Timestamp("2000-01-03")
    assert first["close"] == pytest.approx(profile["start_price"], rel=1e-12)
    assert src.profile(VIX_SYMBOL)["kind"] == "volatility_index"
    betas = [src.profile(s)["beta"] for s in STOCKS]
    assert np.std(betas) > 0.1  # symbols differ


def test_prices_start_spread_out_between_20_and_500(closes: pd.DataFrame) -> None:
    first = closes[STOCKS].iloc[0]
    assert first.between(20, 500).all()
    assert first.max() / first.min() > 3


# ---------------------------------------------------------------------- stylised facts


def test_daily_returns_have_fat_tails(stock_returns: pd.DataFrame, market_returns: pd.Series) -> None:
    assert market_returns.kurt() > 3.0
    assert (stock_returns.kurt() > 1.0).all()


def test_absolute_returns_are_autocorrelated(stock_returns: pd.DataFrame, market_returns: pd.Series) -> None:
    threshold = 3.0 / np.sqrt(len(market_returns))  # ~3 standard errors of a white-noise autocorrelation
    absolute = market_returns.abs()
    for lag in range(1, 6):
        assert absolute.autocorr(lag) > threshold
    per_stock = [stock_returns[s].abs().autocorr(1) for s in STOCKS]
    assert np.median(per_stock) > threshold


def test_stocks_are_positively_correlated_and_more_so_in_crisis(
    stock_returns: pd.DataFrame, long_run: FetchResult
) -> None:
    regimes = long_run.regimes.iloc[1:]
    assert _mean_pairwise_corr(stock_returns) > 0.1
    crisis = _mean_pairwise_corr(stock_returns[regimes == "crisis"])
    bull = _mean_pairwise_corr(stock_returns[regimes == "bull"])
    assert bull > 0.05
    assert crisis > bull + 0.2


def test_every_regime_appears_and_vol_orders_crisis_bear_bull(market_returns: pd.Series, long_run: FetchResult) -> None:
    regimes = long_run.regimes.iloc[1:]
    assert set(regimes.unique()) == set(REGIMES)
    assert (regimes == "crisis").sum() >= 20
    vol = market_returns.groupby(regimes).std() * np.sqrt(252)
    assert vol["crisis"] > vol["bear"] > vol["bull"]
    assert 0.08 < vol["bull"] < 0.25
    assert vol["crisis"] > 0.35


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_every_regime_appears_in_twenty_years_for_other_seeds(seed: int) -> None:
    labels = SyntheticSource(seed=seed).regimes(LONG_START, LONG_END)
    assert set(labels.unique()) == set(REGIMES)
    spells = (labels != labels.shift()).sum()
    assert 8 <= spells <= 100  # spells, not day-by-day flicker


def test_regimes_method_matches_fetch(long_run: FetchResult) -> None:
    labels = SyntheticSource(seed=7).regimes(LONG_START, LONG_END)
    pd.testing.assert_series_equal(labels, long_run.regimes)
    assert labels.name == "regime"


def test_vix_tracks_realised_market_volatility(
    closes: pd.DataFrame, market_returns: pd.Series, long_run: FetchResult
) -> None:
    vix = closes[VIX_SYMBOL].iloc[1:]
    realised = market_returns.rolling(21).std() * np.sqrt(252) * 100
    assert vix.corr(realised) > 0.5
    assert vix.between(5, 150).all()
    assert 12 < vix.median() < 25
    by_regime = vix.groupby(long_run.regimes.iloc[1:]).mean()
    assert by_regime["crisis"] > 35 > by_regime["bull"]


# ---------------------------------------------------------------------- bad requests


@pytest.mark.parametrize(
    ("symbols", "start", "end", "match"),
    [
        (["AAA"], dt.date(2020, 2, 1), dt.date(2020, 1, 1), "start must not be after end"),
        ([], dt.date(2020, 1, 1), dt.date(2020, 2, 1), "no symbols"),
        ("AAA", dt.date(2020, 1, 1), dt.date(2020, 2, 1), "list of symbols"),
        (["AAA", ""], dt.date(2020, 1, 1), dt.date(2020, 2, 1), "non-empty strings"),
        ([" AAA"], dt.date(2020, 1, 1), dt.date(2020, 2, 1), "non-empty strings"),
        ([None], dt.date(2020, 1, 1), dt.date(2020, 2, 1), "non-empty strings"),
        (["AAA"], "not a date", dt.date(2020, 2, 1), "start must be a date"),
        (["AAA"], dt.date(2020, 1, 1), None, "end must be a date"),
    ],
)
def test_bad_requests_raise_config_error(symbols: object, start: object, end: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SyntheticSource().fetch(symbols, start, end)  # type: ignore[arg-type]


def test_regimes_with_start_after_end_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="start must not be after end"):
        SyntheticSource().regimes(dt.date(2020, 2, 1), dt.date(2020, 1, 1))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"seed": -1}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 2**32}, "seed"),
        ({"exchange": "NOPE"}, "exchange"),
        ({"epoch": "1980-01-02"}, "epoch"),
        ({"epoch": "yesterday-ish"}, "epoch"),
    ],
)
def test_bad_construction_raises_config_error(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        SyntheticSource(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("seed", [7, 2, 3])
def test_vix_moves_over_days_not_overnight(seed: int) -> None:
    """Regression: on entering a crisis the index tripled in one day (+379%), which the validator flagged as
    an outlier ("likely an unadjusted split") all over the demo data. The real VIX's largest day is +116%."""
    bars = SyntheticSource(seed=seed).fetch([VIX_SYMBOL], dt.date(2000, 1, 3), dt.date(2026, 11, 20)).bars
    moves = np.abs(np.diff(bars["close"].to_numpy()) / bars["close"].to_numpy()[:-1])
    assert moves.max() < 0.6
    assert np.quantile(moves, 0.99) < 0.2

"""Sources for the data-layer tests: the real synthetic source behind a recorder, and a crafted source.

Neither replaces Ravenshire code: the recorder passes every call to the real SyntheticSource and notes it;
the crafted source delivers bars a test wrote by hand (bad rows included) through the real pipeline.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from ravenshire.data.frames import normalize_bars
from ravenshire.data.sources.base import FetchResult
from ravenshire.data.sources.synthetic import SyntheticSource


class RecordingSource:
    """The real synthetic source, recording each (symbols, start, end) it is asked for."""

    name = "synthetic"
    is_demo = True

    def __init__(self, seed: int = 11) -> None:
        self.inner = SyntheticSource(seed=seed)
        self.calls: list[tuple[tuple[str, ...], dt.date, dt.date]] = []

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        self.calls.append((tuple(symbols), start, end))
        return self.inner.fetch(symbols, start, end)


class CraftedSource:
    """Delivers the given long bars (filtered to the request), as a real, non-demo source would."""

    is_demo = False

    def __init__(self, bars: pd.DataFrame, name: str = "yfinance", failed: dict[str, str] | None = None) -> None:
        self.name = name
        self.bars = normalize_bars(bars)
        self.failed = failed or {}

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        b = self.bars
        keep = b["symbol"].isin(symbols) & b["date"].between(pd.Timestamp(start), pd.Timestamp(end))
        return FetchResult(bars=b[keep].reset_index(drop=True), failed=dict(self.failed))


def clean_bars(symbol: str, days: pd.DatetimeIndex, start_price: float = 100.0) -> pd.DataFrame:
    """Plausible, valid bars: a gentle zig-zag, consistent OHLC."""
    n = len(days)
    close = start_price * (1 + 0.01 * pd.Series(range(n)).mod(5).sub(2).to_numpy() / 2).cumprod()
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": days,
            "open": close * 0.999,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": 1e6,
        }
    )

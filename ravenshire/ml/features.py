"""Market features per day for regime detection: trailing return, volatility, drawdown, VIX, breadth, dispersion.

Input and output
----------------
:func:`market_features` takes wide adjusted closes (a :class:`pandas.DataFrame`, dates × symbols, the shape of
``DataManager.get_market_data(...)["adj_close"]``) and returns one row per date with the columns of
:data:`FEATURE_COLUMNS` (``vix`` only when the volatility index is among the columns).

No look-ahead
-------------
Every feature of day ``t`` is computed from closes on days ``≤ t`` only (trailing windows, never centred), so a
feature of day ``t`` does not change when later days are appended. A feature is NaN until its window is full (the
warm-up: ``max(windows)`` days for all of them). The detector drops warm-up rows.

The market
-----------
``market`` names an index column (e.g. ``"SPY"``); by default ``"SPY"`` when it is a column, otherwise the
equal-weight market of the other symbols: its daily simple return is the mean of the day's simple returns of the
symbols that have one (a portfolio rebalanced to equal weights every day), its level the product of
``1 + return``. The volatility index (``vix``, default ``"VIX"``) never takes part in the market, the breadth or
the dispersion; without that column the ``vix`` feature is left out.

Definitions (``P`` the market level, ``r`` its daily simple return, ``w`` the feature's window in days)
--------------------------------------------------------------------------------------------------------
- ``market_return``: ``r_t`` (not annualised).
- ``return``: trailing annualised log return ``ln(P_t / P_{t−w}) · 252 / w`` (default ``w = 126``).
- ``volatility``: annualised sample standard deviation (``ddof=1``) of ``r`` over the last ``w`` days, ``× √252``
  (default 21).
- ``drawdown``: ``1 − P_t / max_{t−w < s ≤ t} P_s``, a POSITIVE fraction below the trailing ``w``-day peak
  (default 252; ``0.15`` is 15 % below the year's high), the repository's sign convention.
- ``vix``: the volatility index's close, in index points (``20`` = 20 % annualised implied volatility).
- ``breadth``: share of the symbols (market and VIX excluded) whose close is above their own trailing ``w``-day
  simple moving average (default 50), among those with a full window that day; in ``[0, 1]``.
- ``dispersion``: cross-sectional standard deviation (``ddof=1``) of the symbols' daily simple returns, averaged
  over the last ``w`` days, ``× √252`` (default 21). Needs at least 3 symbols with a return that day, else NaN.
  It rises when stocks move apart (bear markets and crises in the synthetic model, which scales idiosyncratic
  volatility by regime).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = ["DEFAULT_WINDOWS", "FEATURE_COLUMNS", "TRADING_DAYS", "is_feature_frame", "market_features"]

TRADING_DAYS = 252
#: Default trailing window (in trading days) of each windowed feature.
DEFAULT_WINDOWS: dict[str, int] = {"return": 126, "volatility": 21, "drawdown": 252, "breadth": 50, "dispersion": 21}
#: The columns :func:`market_features` returns, in order (``vix`` only with a volatility-index column).
FEATURE_COLUMNS: tuple[str, ...] = (
    "market_return",
    "return",
    "volatility",
    "drawdown",
    "vix",
    "breadth",
    "dispersion",
)
#: ``attrs`` key set on a frame returned by :func:`market_features`.
FEATURES_ATTR = "ravenshire.ml.features"
_DEFAULT_INDEX = "SPY"
_MIN_DISPERSION_SYMBOLS = 3


def _check_windows(windows: Mapping[str, int] | None) -> dict[str, int]:
    merged = dict(DEFAULT_WINDOWS)
    for name, value in (windows or {}).items():
        if name not in DEFAULT_WINDOWS:
            raise ConfigError(f"unknown feature window {name!r}; the windows are {', '.join(DEFAULT_WINDOWS)}")
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or not 2 <= value <= 2520:
            raise ConfigError(f"window {name!r} must be an integer from 2 to 2520 trading days, was {value!r}")
        merged[name] = int(value)
    return merged


def _check_prices(prices: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(prices, pd.DataFrame):
        raise ConfigError(f"prices must be a wide DataFrame (dates × symbols), was {type(prices).__name__}")
    if isinstance(prices.columns, pd.MultiIndex):
        raise ConfigError(
            "prices must be wide adjusted closes (one column per symbol); from get_market_data(...) pass "
            'data["adj_close"]'
        )
    if not isinstance(prices.index, pd.DatetimeIndex):
        kind = type(prices.index).__name__
        raise ConfigError(f"prices must be indexed by a DatetimeIndex of trading days, was {kind}")
    if not prices.index.is_monotonic_increasing or prices.index.has_duplicates:
        raise ConfigError("prices' dates must be unique and increasing; sort the frame and drop duplicate dates")
    try:
        values = prices.astype("float64")
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"prices must be numeric closes: {exc}") from exc
    if (values <= 0).any().any() or np.isinf(values.to_numpy()).any():
        raise ConfigError("prices must be positive and finite (NaN marks a missing close)")
    return values


def _market(returns: pd.DataFrame, market: str | None, members: list[str]) -> tuple[pd.Series, str | None]:
    """Daily simple return of the market and the index column used (None for the equal-weight market)."""
    if market is None and _DEFAULT_INDEX in returns.columns:
        market = _DEFAULT_INDEX
    if market is not None:
        if market not in returns.columns:
            raise ConfigError(f"market symbol {market!r} is not a column of prices; pass market=None for equal weight")
        return returns[market], market
    if not members:
        raise ConfigError("prices hold no symbol besides the volatility index; an equal-weight market needs one")
    return returns[members].mean(axis=1, skipna=True), None


def market_features(
    prices: pd.DataFrame,
    *,
    market: str | None = None,
    vix: str | None = "VIX",
    windows: Mapping[str, int] | None = None,
) -> pd.DataFrame:
    """Features of the market per day, each from data up to that day only (see the module docstring).

    Parameters
    ----------
    prices : DataFrame, shape (T, n)
        Wide adjusted closes, dates × symbols; NaN marks a missing close.
    market : str or None
        Index column to use as the market; default ``"SPY"`` when present, else the equal-weight market.
    vix : str or None
        Column of the volatility index (default ``"VIX"``); ``None`` or an absent column: no ``vix`` feature.
    windows : mapping, optional
        Overrides of :data:`DEFAULT_WINDOWS` (``return``, ``volatility``, ``drawdown``, ``breadth``,
        ``dispersion``), in trading days.

    Returns
    -------
    DataFrame, shape (T, 6 or 7)
        Index: the dates of ``prices``. Columns: :data:`FEATURE_COLUMNS` (without ``vix`` when absent). Rows in the
        warm-up hold NaN. ``attrs`` records the market used and the windows.

    Raises
    ------
    ConfigError
        Not a wide frame of positive prices on increasing dates, an unknown market column, a bad window.
    """
    sizes = _check_windows(windows)
    values = _check_prices(prices)
    vix_col = vix if vix is not None and vix in values.columns else None
    returns = values.pct_change(fill_method=None)
    others = [c for c in values.columns if c != vix_col]
    r, index = _market(returns, market, others)
    members = [c for c in others if c != index] or ([index] if index is not None else [])

    first = r.notna().to_numpy().nonzero()[0]
    level = (1.0 + r.fillna(0.0)).cumprod()
    if len(first):
        level.iloc[: max(first[0] - 1, 0)] = np.nan  # the level starts at 1 on the day before the first return
    log_level = np.log(level)

    out = pd.DataFrame(index=values.index)
    out["market_return"] = r
    w = sizes["return"]
    out["return"] = (log_level - log_level.shift(w)) * (TRADING_DAYS / w)
    w = sizes["volatility"]
    out["volatility"] = r.rolling(w, min_periods=w).std() * np.sqrt(TRADING_DAYS)
    w = sizes["drawdown"]
    out["drawdown"] = 1.0 - level / level.rolling(w, min_periods=w).max()
    if vix_col is not None:
        out["vix"] = values[vix_col]
    out["breadth"] = _breadth(values[members], sizes["breadth"])
    out["dispersion"] = _dispersion(returns[members], sizes["dispersion"])
    out.attrs[FEATURES_ATTR] = {"market": index or "equal_weight", "vix": vix_col, "windows": sizes}
    return out


def _breadth(prices: pd.DataFrame, window: int) -> pd.Series:
    ma = prices.rolling(window, min_periods=window).mean()
    defined = ma.notna() & prices.notna()
    above = (prices > ma) & defined
    count = defined.sum(axis=1)
    share = above.sum(axis=1) / count.where(count > 0)
    return share.astype("float64")


def _dispersion(returns: pd.DataFrame, window: int) -> pd.Series:
    daily = returns.std(axis=1, ddof=1, skipna=True)
    daily = daily.where(returns.count(axis=1) >= _MIN_DISPERSION_SYMBOLS)
    return daily.rolling(window, min_periods=window).mean() * np.sqrt(TRADING_DAYS)


def is_feature_frame(frame: pd.DataFrame) -> bool:
    """True when ``frame`` came from :func:`market_features` (or has only its column names)."""
    if FEATURES_ATTR in frame.attrs:
        return True
    return len(frame.columns) > 0 and all(isinstance(c, str) and c in FEATURE_COLUMNS for c in frame.columns)

"""Built-in strategies: ``f(data, **params) -> target weights``.

``data`` is the market-data frame (DatetimeIndex × MultiIndex (field, symbol); ``adj_close`` is used) or wide
prices (dates × symbols). A strategy returns target weights with the same index and one column per symbol; row t
uses only prices up to and including day t (rolling windows, ``shift``, forward fills: all causal), and is held
from close t to close t+1 by :func:`ravenshire.research.engine.backtest`. Weights are 0 wherever a price is NaN.

"Equal weight" signals use ``1/N`` with N the number of symbols in the universe (columns), so the gross exposure
is at most 1 and there is no leverage; the rest is cash.

Each strategy is registered in :data:`STRATEGIES` with its parameter spec (:class:`ParamSpec`: type, default,
allowed range). Strategy functions validate their own parameters with :func:`check_parameters`, so a bad value
raises :class:`~ravenshire.errors.ConfigError` whether the function is called directly or through the registry.

Batch form (sweeps)
-------------------
A strategy may also register a *batch* form (:attr:`StrategySpec.batch`) that :func:`ravenshire.research.sweep.run_sweep`
uses instead of calling the function once per parameter set: ``batch(data, param_sets)`` does the work shared by
the sets once (each distinct moving-average window or lookback is computed once for the whole sweep, not once per
set) and returns, per set, a cheap builder of that set's weights — numpy on symbol-major arrays, bit for bit the
values ``func(data, **params)`` returns (the moving averages are the very same pandas rolling means, so every
comparison, including near-ties, comes out the same). ``ma_crossover``, ``ma_crossover_fast_slow`` and
``ts_momentum`` have one; the others run set by set.
"""

from __future__ import annotations

import difflib
import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = [
    "STRATEGIES",
    "BatchFunc",
    "ParamSpec",
    "StrategyFunc",
    "StrategySpec",
    "buy_and_hold",
    "check_parameters",
    "equal_weight",
    "get_strategy",
    "ma_crossover",
    "ma_crossover_fast_slow",
    "mean_reversion",
    "prices_of",
    "ts_momentum",
    "xs_momentum",
    "WeightsBuilder",
]

StrategyFunc = Callable[..., pd.DataFrame]
#: Builds one parameter set's target weights: a float64 array (dates × symbols, the prices' column order).
WeightsBuilder = Callable[[], np.ndarray]
#: ``batch(data, param_sets)`` → per set, in order, a :data:`WeightsBuilder` or the ConfigError ``func`` raises for it.
BatchFunc = Callable[[pd.DataFrame, Sequence[Mapping[str, Any]]], list[WeightsBuilder | ConfigError]]


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: ``kind`` (int, float or bool), default and inclusive range (None = unbounded)."""

    kind: type
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    description: str = ""

    def allowed(self) -> str:
        """Human description of the allowed values, for error messages and the UI."""
        if self.kind is bool:
            return "a bool (True or False)"
        noun = "an integer" if self.kind is int else "a number"
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} in [{self.minimum}, {self.maximum}]"
        if self.minimum is not None:
            return f"{noun} >= {self.minimum}"
        if self.maximum is not None:
            return f"{noun} <= {self.maximum}"
        return noun

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.__name__,
            "default": self.default,
            "minimum": self.minimum,
            "maximum": self.maximum,
            "description": self.description,
        }


@dataclass(frozen=True)
class StrategySpec:
    """A registered strategy: its function, parameter specs, a one-line description and an optional batch form.

    ``batch`` (optional, used by parameter sweeps): ``batch(data, param_sets)`` returns a list with one entry per
    parameter set, in order — either a zero-argument builder returning that set's weights as a float64 array of
    shape (dates, symbols) in the prices' column order, equal bit for bit to ``func(data, **params)`` (Fortran
    order, i.e. each symbol's days contiguous, is the fastest for the engine), or the :class:`ConfigError`
    ``func`` raises for that set (a constraint between parameters, e.g. ``fast < slow``). Work shared by several
    sets is done once; builders only use numpy and shared read-only arrays, so they may run in worker threads.
    A spec without ``batch`` is swept by calling ``func`` once per set.
    """

    name: str
    func: StrategyFunc
    params: dict[str, ParamSpec] = field(default_factory=dict)
    description: str = ""
    batch: BatchFunc | None = None

    def defaults(self) -> dict[str, Any]:
        return {name: p.default for name, p in self.params.items()}

    def __call__(self, data: pd.DataFrame, **params: Any) -> pd.DataFrame:
        return self.func(data, **check_parameters(self, params))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "params": {k: p.to_dict() for k, p in self.params.items()},
        }


# --------------------------------------------------------------------------------------------------------------
# registry and parameter checks


def _suggest(word: str, choices: list[str]) -> str:
    close = difflib.get_close_matches(word, choices, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""


def get_strategy(name: str) -> StrategySpec:
    """The registered strategy ``name`` (case-insensitive; '-' and ' ' read as '_'), else ConfigError."""
    key = str(name).strip().lower().replace("-", "_").replace(" ", "_")
    if key in STRATEGIES:
        return STRATEGIES[key]
    names = sorted(STRATEGIES)
    raise ConfigError(f"unknown strategy {name!r}{_suggest(key, names)} Known strategies: {', '.join(names)}")


def _check_value(strategy: str, name: str, spec: ParamSpec, value: Any) -> Any:
    where = f"parameter {name!r} of strategy {strategy!r}"
    if spec.kind is bool:
        if isinstance(value, bool | np.bool_):
            return bool(value)
        raise ConfigError(f"{where} is {value!r} ({type(value).__name__}); allowed: {spec.allowed()}")
    if isinstance(value, bool | np.bool_):
        ok = False
    elif spec.kind is int:
        ok = isinstance(value, int | np.integer)
    else:
        ok = isinstance(value, int | float | np.integer | np.floating) and math.isfinite(float(value))
    if not ok:
        raise ConfigError(f"{where} is {value!r} ({type(value).__name__}); allowed: {spec.allowed()}")
    value = spec.kind(value)
    if (spec.minimum is not None and value < spec.minimum) or (spec.maximum is not None and value > spec.maximum):
        raise ConfigError(f"{where} is {value!r}, out of range; allowed: {spec.allowed()}")
    return value


def check_parameters(spec: StrategySpec, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Validate ``params`` against ``spec``; return the full parameter set (defaults filled in, values cast).

    Raises :class:`ConfigError` for an unknown name (with a "did you mean" suggestion), a wrong type or an
    out-of-range value, naming the parameter, the value and what is allowed.
    """
    params = dict(params or {})
    known = list(spec.params)
    for name in params:
        if name not in spec.params:
            allowed = ", ".join(known) if known else "none"
            raise ConfigError(
                f"unknown parameter {name!r} for strategy {spec.name!r}{_suggest(name, known)} "
                f"Allowed parameters: {allowed}"
            )
    out = spec.defaults()
    for name, value in params.items():
        out[name] = _check_value(spec.name, name, spec.params[name], value)
    return out


def _validated(name: str, params: dict[str, Any]) -> dict[str, Any]:
    return check_parameters(STRATEGIES[name], params)


# --------------------------------------------------------------------------------------------------------------
# helpers


def prices_of(data: pd.DataFrame) -> pd.DataFrame:
    """Wide adjusted close prices (dates × symbols) from the market-data frame, or ``data`` itself if wide."""
    if not isinstance(data, pd.DataFrame):
        raise ConfigError(f"data must be a DataFrame, got {type(data).__name__}")
    if isinstance(data.columns, pd.MultiIndex):
        if "adj_close" not in data.columns.get_level_values(0):
            raise ConfigError("market data has no 'adj_close' field")
        prices = data.xs("adj_close", axis=1, level=0)
    else:
        prices = data
    return pd.DataFrame(prices.astype("float64"))


def _state_weights(state: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    """Signals in {−1, 0, 1} (NaN = keep the previous state, initially flat) → 1/N weights, 0 where no price."""
    held = state.ffill().fillna(0.0).where(prices.notna(), 0.0)
    n = max(prices.shape[1], 1)
    return held / n


def _signal(prices: pd.DataFrame, on: pd.DataFrame, off: pd.DataFrame) -> pd.DataFrame:
    """Hysteresis state: 1 where ``on``, 0 where ``off`` (``on`` wins), else NaN (keep); flat where no price."""
    values = np.where(on.to_numpy(), 1.0, np.where(off.to_numpy() | prices.isna().to_numpy(), 0.0, np.nan))
    return pd.DataFrame(values, index=prices.index, columns=prices.columns)


# --------------------------------------------------------------------------------------------------------------
# strategies


def ma_crossover(data: pd.DataFrame, ma_period: int = 20, threshold: float = 0.02) -> pd.DataFrame:
    """Long 1/N when price > MA·(1+threshold), flat when price < MA·(1−threshold), else keep the last state.

    MA is the simple moving average of the last ``ma_period`` closes including today's (flat until it exists).
    """
    p = _validated("ma_crossover", {"ma_period": ma_period, "threshold": threshold})
    prices = prices_of(data)
    ma = prices.rolling(p["ma_period"], min_periods=p["ma_period"]).mean()
    on = prices > ma * (1.0 + p["threshold"])
    off = prices < ma * (1.0 - p["threshold"])
    return _state_weights(_signal(prices, on, off), prices)


def ma_crossover_fast_slow(data: pd.DataFrame, fast: int = 10, slow: int = 50) -> pd.DataFrame:
    """Long 1/N when the ``fast``-day MA is above the ``slow``-day MA, flat otherwise (``fast < slow``)."""
    p = _validated("ma_crossover_fast_slow", {"fast": fast, "slow": slow})
    if p["fast"] >= p["slow"]:
        raise ConfigError(f"ma_crossover_fast_slow needs fast < slow, got fast={p['fast']}, slow={p['slow']}")
    prices = prices_of(data)
    fast_ma = prices.rolling(p["fast"], min_periods=p["fast"]).mean()
    slow_ma = prices.rolling(p["slow"], min_periods=p["slow"]).mean()
    state = (fast_ma > slow_ma).astype("float64")
    return _state_weights(state, prices)


def ts_momentum(data: pd.DataFrame, lookback: int = 126, allow_short: bool = False) -> pd.DataFrame:
    """Time-series momentum: long 1/N when the trailing ``lookback``-day return is > 0; when < 0 short 1/N if
    ``allow_short`` else flat. Flat until the trailing return exists."""
    p = _validated("ts_momentum", {"lookback": lookback, "allow_short": allow_short})
    prices = prices_of(data)
    trailing = prices / prices.shift(p["lookback"]) - 1.0
    state = pd.DataFrame(np.sign(trailing), index=prices.index, columns=prices.columns).fillna(0.0)
    if not p["allow_short"]:
        state = state.clip(lower=0.0)
    return _state_weights(state, prices)


def xs_momentum(data: pd.DataFrame, lookback: int = 126, top_n: int = 3) -> pd.DataFrame:
    """Cross-sectional momentum: each day, equal weight 1/top_n on the ``top_n`` symbols with the highest trailing
    ``lookback``-day return (ties broken by column order); flat until trailing returns exist."""
    p = _validated("xs_momentum", {"lookback": lookback, "top_n": top_n})
    prices = prices_of(data)
    trailing = prices / prices.shift(p["lookback"]) - 1.0
    rank = trailing.rank(axis=1, ascending=False, method="first")
    chosen = (rank <= p["top_n"]) & prices.notna()
    return chosen.astype("float64") / p["top_n"]


def mean_reversion(data: pd.DataFrame, window: int = 20, entry_z: float = 1.0, exit_z: float = 0.0) -> pd.DataFrame:
    """Long 1/N when the z-score ``(price − MA)/std`` (``window`` days, ddof=1) falls below ``−entry_z``; hold until
    it rises above ``−exit_z`` (``exit_z < entry_z``). Undefined z (short history, zero std) keeps the state."""
    p = _validated("mean_reversion", {"window": window, "entry_z": entry_z, "exit_z": exit_z})
    if p["exit_z"] >= p["entry_z"]:
        raise ConfigError(f"mean_reversion needs exit_z < entry_z, got entry_z={p['entry_z']}, exit_z={p['exit_z']}")
    prices = prices_of(data)
    roll = prices.rolling(p["window"], min_periods=p["window"])
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (prices - roll.mean()) / roll.std(ddof=1)
    z = z.where(np.isfinite(z))
    on = z < -p["entry_z"]
    off = z > -p["exit_z"]
    return _state_weights(_signal(prices, on, off), prices)


def buy_and_hold(data: pd.DataFrame) -> pd.DataFrame:
    """Equal weights on the first day with any price (over the symbols priced that day), then let them drift.

    Target weights equal the drifted weights ``w0_i·g_i(t) / Σ_j w0_j·g_j(t)`` (``g`` = price relative to day 0),
    so the engine trades only on the first day. A held symbol whose price later goes missing is sold at its last
    price and its value stays in cash (weight 0 from then on); symbols listed later are never bought.
    """
    _validated("buy_and_hold", {})
    prices = prices_of(data)
    weights = pd.DataFrame(0.0, index=prices.index, columns=prices.columns)
    has_price = prices.notna().any(axis=1).to_numpy()
    if not has_price.any():
        return weights
    start = int(np.argmax(has_price))
    values = prices.to_numpy()
    first = values[start]
    held = ~np.isnan(first)
    rel = np.zeros_like(values)
    with np.errstate(invalid="ignore", divide="ignore"):
        rel[start:, held] = values[start:, held] / first[held]
    gone = np.isnan(rel) & held
    gone[start:] = np.logical_or.accumulate(gone[start:], axis=0)
    frozen = pd.DataFrame(np.where(gone, np.nan, rel)).ffill().to_numpy()  # value kept at the exit price
    frozen = np.nan_to_num(frozen)
    total = frozen.sum(axis=1, keepdims=True)
    live = np.where(gone, 0.0, frozen)
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, live / np.where(total > 0, total, 1.0), 0.0)
    out[:start] = 0.0
    return pd.DataFrame(out, index=prices.index, columns=prices.columns)


def equal_weight(data: pd.DataFrame) -> pd.DataFrame:
    """Rebalanced daily to 1/n_t on each of the n_t symbols that have a price on day t (fully invested)."""
    _validated("equal_weight", {})
    prices = prices_of(data)
    priced = prices.notna().astype("float64")
    count = priced.sum(axis=1).replace(0.0, np.nan)
    return priced.div(count, axis=0).fillna(0.0)


STRATEGIES: dict[str, StrategySpec] = {
    "ma_crossover": StrategySpec(
        name="ma_crossover",
        func=ma_crossover,
        params={
            "ma_period": ParamSpec(int, 20, 2, 500, "moving-average window (days)"),
            "threshold": ParamSpec(float, 0.02, 0.0, 0.5, "hysteresis band around the MA (fraction)"),
        },
        description="Long above the MA band, flat below it, keep the state inside the band; 1/N per symbol.",
    ),
    "ma_crossover_fast_slow": StrategySpec(
        name="ma_crossover_fast_slow",
        func=ma_crossover_fast_slow,
        params={
            "fast": ParamSpec(int, 10, 1, 250, "fast moving-average window (days), < slow"),
            "slow": ParamSpec(int, 50, 2, 500, "slow moving-average window (days)"),
        },
        description="Long while the fast MA is above the slow MA; 1/N per symbol.",
    ),
    "ts_momentum": StrategySpec(
        name="ts_momentum",
        func=ts_momentum,
        params={
            "lookback": ParamSpec(int, 126, 1, 756, "trailing-return window (days)"),
            "allow_short": ParamSpec(bool, False, None, None, "short on a negative trailing return"),
        },
        description="Time-series momentum: long (or short) each symbol by the sign of its trailing return.",
    ),
    "xs_momentum": StrategySpec(
        name="xs_momentum",
        func=xs_momentum,
        params={
            "lookback": ParamSpec(int, 126, 1, 756, "trailing-return window (days)"),
            "top_n": ParamSpec(int, 3, 1, 1000, "number of symbols held"),
        },
        description="Cross-sectional momentum: equal weight the top_n trailing returns each day.",
    ),
    "mean_reversion": StrategySpec(
        name="mean_reversion",
        func=mean_reversion,
        params={
            "window": ParamSpec(int, 20, 2, 500, "z-score window (days)"),
            "entry_z": ParamSpec(float, 1.0, 0.0, 10.0, "enter long below −entry_z"),
            "exit_z": ParamSpec(float, 0.0, -10.0, 10.0, "exit above −exit_z (exit_z < entry_z)"),
        },
        description="Long oversold symbols (z-score below −entry_z) until the z-score recovers above −exit_z.",
    ),
    "buy_and_hold": StrategySpec(
        name="buy_and_hold",
        func=buy_and_hold,
        description="Equal weights on the first day, then hold (weights drift, no rebalancing).",
    ),
    "equal_weight": StrategySpec(
        name="equal_weight",
        func=equal_weight,
        description="Equal weight every symbol with a price, rebalanced daily.",
    ),
}

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
A strategy may also register a *batch* form (:attr:`StrategySpec.batch`) that
:func:`ravenshire.research.sweep.run_sweep` uses instead of calling the function once per parameter set:
``batch(data, param_sets)`` does the work shared by the sets once (each distinct moving-average window or lookback
is computed once for the whole sweep, not once per set) and returns, per set, a cheap builder of that set's weights
— numpy on symbol-major arrays, bit for bit the values ``func(data, **params)`` returns (the moving averages are
the very same pandas rolling means, so every comparison, near-ties included, comes out the same).
``ma_crossover``, ``ma_crossover_fast_slow`` and ``ts_momentum`` have one; the others run set by set.
"""

from __future__ import annotations

import difflib
import functools
import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import numpy as np
import pandas as pd
from pandas.api.indexers import BaseIndexer

from ravenshire.errors import ConfigError

__all__ = [
    "STRATEGIES",
    "BatchFunc",
    "ParamSpec",
    "StrategyFunc",
    "StrategySpec",
    "WeightsBuilder",
    "buy_and_hold",
    "check_parameters",
    "equal_weight",
    "get_strategy",
    "ma_crossover",
    "ma_crossover_batch",
    "ma_crossover_fast_slow",
    "ma_crossover_fast_slow_batch",
    "mean_reversion",
    "prices_of",
    "ts_momentum",
    "ts_momentum_batch",
    "xs_momentum",
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


def _check_fast_slow(p: dict[str, Any]) -> None:
    if p["fast"] >= p["slow"]:
        raise ConfigError(f"ma_crossover_fast_slow needs fast < slow, got fast={p['fast']}, slow={p['slow']}")


def ma_crossover_fast_slow(data: pd.DataFrame, fast: int = 10, slow: int = 50) -> pd.DataFrame:
    """Long 1/N when the ``fast``-day MA is above the ``slow``-day MA, flat otherwise (``fast < slow``)."""
    p = _validated("ma_crossover_fast_slow", {"fast": fast, "slow": slow})
    _check_fast_slow(p)
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


# --------------------------------------------------------------------------------------------------------------
# batch forms (parameter sweeps)

#: Bytes of shared arrays (moving averages, trailing-return signs) one batch keeps at once; beyond that the least
#: recently used are dropped (and recomputed if asked for again), so memory stays bounded on any grid.
BATCH_CACHE_BYTES = 512 * 2**20


class _Pending:
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: np.ndarray | None = None
        self.error: BaseException | None = None


class _Shared:
    """Thread-safe memo ``key → compute(key)`` of arrays shared by the sets of a batch, bounded to ``limit`` bytes
    (least recently used dropped first). A key is computed by the first thread asking for it; others wait for it."""

    def __init__(self, compute: Callable[[int], np.ndarray], limit: int | None = None) -> None:
        self._compute = compute
        self._limit = BATCH_CACHE_BYTES if limit is None else limit
        self._lock = threading.Lock()
        self._entries: OrderedDict[int, _Pending] = OrderedDict()
        self._sizes: dict[int, int] = {}
        self._bytes = 0

    def get(self, key: int) -> np.ndarray:
        with self._lock:
            entry = self._entries.get(key)
            owner = entry is None
            if entry is None:
                entry = self._entries[key] = _Pending()
            else:
                self._entries.move_to_end(key)
        if owner:
            try:
                entry.value = self._compute(key)
            except BaseException as exc:
                entry.error = exc
                with self._lock:
                    self._entries.pop(key, None)
                raise
            finally:
                entry.done.set()
            self._account(key, entry.value.nbytes)
        entry.done.wait()
        if entry.error is not None:
            raise ConfigError(f"computing a shared array of the batch failed: {entry.error}") from entry.error
        return cast(np.ndarray, entry.value)

    def _account(self, key: int, size: int) -> None:
        with self._lock:
            self._sizes[key] = size
            self._bytes += size
            for old in list(self._entries):
                if self._bytes <= self._limit:
                    break
                if old != key and old in self._sizes:
                    del self._entries[old]
                    self._bytes -= self._sizes.pop(old)


def _symbol_major(values: np.ndarray) -> np.ndarray:
    """(T, N) → C-contiguous (N, T); no copy for the Fortran-ordered arrays pandas' single-block frames give."""
    return np.ascontiguousarray(values.T)


def _rolling_mean(prices: pd.DataFrame, window: int) -> np.ndarray:
    """``prices.rolling(window, min_periods=window).mean()`` — the strategies' very call — symbol-major."""
    return _symbol_major(prices.rolling(window, min_periods=window).mean().to_numpy())


class _RestartingWindows(BaseIndexer):
    """Trailing windows of ``window`` values that restart with every symbol when the symbols' series are stacked
    end to end (symbol-major): value j of a symbol's series gets ``[j − min(j + 1, window) + 1, j]``, exactly the
    windows of its own column. ``depth`` (1-based position of each value in its symbol's series) and ``end``
    (``j + 1``) are shared by every window; ``start`` is the caller's scratch for the window starts (used during
    the rolling call only)."""

    def __init__(self, window: int, depth: np.ndarray, end: np.ndarray, start: np.ndarray) -> None:
        super().__init__(window_size=window)
        self._window, self._depth, self._end, self._start = window, depth, end, start

    def get_window_bounds(
        self,
        num_values: int = 0,
        min_periods: int | None = None,
        center: bool | None = None,
        closed: str | None = None,
        step: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        if num_values != len(self._end):
            raise ConfigError(f"internal: {num_values} values for windows over {len(self._end)}")
        np.minimum(self._depth, self._window, out=self._start)
        np.subtract(self._end, self._start, out=self._start)
        return self._start, self._end


class _MovingAverages:
    """``prices.rolling(window, min_periods=window).mean()`` per window, symbol-major (N, T), bit for bit.

    All symbols go through ONE pandas rolling mean over the stacked series with windows that restart at each
    symbol (:class:`_RestartingWindows`): pandas' kernel resets its running sums whenever a window does not
    overlap the previous one, so each symbol is computed exactly as in its own column — one kernel call instead
    of one per column, which also runs without the GIL. The first window computed is checked against the
    per-column call; should a pandas version ever differ, every window falls back to the per-column call.
    """

    def __init__(self, prices: pd.DataFrame) -> None:
        self._prices = prices
        n, t_len = prices.shape[1], prices.shape[0]
        self._shape = (n, t_len)
        self._stacked = _symbol_major(prices.to_numpy()).ravel()
        self._depth = np.tile(np.arange(1, t_len + 1, dtype=np.int64), n)
        self._end = np.arange(1, n * t_len + 1, dtype=np.int64)
        self._scratch = threading.local()  # per thread: its own Series (no pandas object is shared between
        # threads) and the window starts, used during one rolling call
        self._lock = threading.Lock()
        self._exact: bool | None = None

    def _stacked_mean(self, window: int) -> np.ndarray:
        scratch = self._scratch
        if getattr(scratch, "series", None) is None:
            scratch.series = pd.Series(self._stacked, copy=False)
            scratch.start = np.empty_like(self._end)
        windows = _RestartingWindows(window, self._depth, self._end, scratch.start)
        return scratch.series.rolling(windows, min_periods=window).mean().to_numpy().reshape(self._shape)

    def __call__(self, window: int) -> np.ndarray:
        if self._exact is None:
            with self._lock:
                if self._exact is None:
                    fast = self._stacked_mean(window)
                    self._exact = bool(np.array_equal(fast, _rolling_mean(self._prices, window), equal_nan=True))
                    return fast if self._exact else _rolling_mean(self._prices, window)
        return self._stacked_mean(window) if self._exact else _rolling_mean(self._prices, window)


def _present(prices: pd.DataFrame) -> np.ndarray | None:
    """Symbol-major mask of the priced days, or None when every price is there (no masking needed)."""
    present = _symbol_major(prices.notna().to_numpy())
    return None if present.all() else present


def _state_to_weights(state: np.ndarray, n: int) -> np.ndarray:
    """A symbol-major state (N, T) in {−1, 0, 1} (bool or float, already 0 where no price) → ``state / n`` as
    (T, N) weights, Fortran-ordered: the values of :func:`_state_weights` (``held / n``) bit for bit — for these
    three values ``s · fl(1/n)`` equals ``fl(s/n)`` exactly, and a multiplication is cheaper than a division."""
    weights = np.empty(state.shape)
    np.copyto(weights, state)
    np.multiply(weights, 1.0 / n, out=weights)
    return weights.T


def _batch_sets(
    name: str, param_sets: Sequence[Mapping[str, Any]], constraint: Callable[[dict[str, Any]], None] | None = None
) -> list[dict[str, Any] | ConfigError]:
    """Per set, the validated parameters (defaults filled in) or the ConfigError the strategy function raises."""
    out: list[dict[str, Any] | ConfigError] = []
    for params in param_sets:
        try:
            checked = _validated(name, dict(params))
            if constraint is not None:
                constraint(checked)
        except ConfigError as exc:
            out.append(exc)
        else:
            out.append(checked)
    return out


def _crossover_weights(means: _Shared, fast: int, slow: int, present: np.ndarray | None, n: int) -> np.ndarray:
    state = np.greater(means.get(fast), means.get(slow))  # NaN (no MA yet, missing price) compares False
    if present is not None:
        state &= present
    return _state_to_weights(state, n)


def ma_crossover_fast_slow_batch(
    data: pd.DataFrame, param_sets: Sequence[Mapping[str, Any]]
) -> list[WeightsBuilder | ConfigError]:
    """Batch form of :func:`ma_crossover_fast_slow`: each distinct window's moving average is computed once (the
    same pandas rolling mean as the function), then each set is one comparison ``fast MA > slow MA``."""
    prices = prices_of(data)
    means = _Shared(_MovingAverages(prices))
    present, n = _present(prices), max(prices.shape[1], 1)
    out: list[WeightsBuilder | ConfigError] = []
    for p in _batch_sets("ma_crossover_fast_slow", param_sets, _check_fast_slow):
        if isinstance(p, ConfigError):
            out.append(p)
        else:
            out.append(functools.partial(_crossover_weights, means, p["fast"], p["slow"], present, n))
    return out


def _band_weights(
    means: _Shared, prices: np.ndarray, absent: np.ndarray | None, period: int, threshold: float, n: int
) -> np.ndarray:
    """:func:`ma_crossover`'s latch without a loop over days: on day t the state is long iff the last "on" day
    (price above the upper band) up to t comes after the last "off" day (below the lower band or no price, and not
    "on": "on" wins a tie); before any event it is flat — the function's ``_signal`` + forward fill."""
    ma = means.get(period)
    on = prices > ma * (1.0 + threshold)
    off = prices < ma * (1.0 - threshold)
    if absent is not None:
        off |= absent
    off &= ~on
    days = np.arange(prices.shape[1], dtype=np.int64)
    last_on = np.where(on, days, -1)
    np.maximum.accumulate(last_on, axis=1, out=last_on)
    last_off = np.where(off, days, -1)
    np.maximum.accumulate(last_off, axis=1, out=last_off)
    return _state_to_weights(last_on > last_off, n)


def ma_crossover_batch(
    data: pd.DataFrame, param_sets: Sequence[Mapping[str, Any]]
) -> list[WeightsBuilder | ConfigError]:
    """Batch form of :func:`ma_crossover`: each distinct ``ma_period``'s moving average once, shared by every
    threshold; the hysteresis latch per set with cumulative maxima of event days (no loop over days)."""
    prices = prices_of(data)
    means = _Shared(_MovingAverages(prices))
    values = _symbol_major(prices.to_numpy())
    present, n = _present(prices), max(prices.shape[1], 1)
    absent = None if present is None else ~present
    out: list[WeightsBuilder | ConfigError] = []
    for p in _batch_sets("ma_crossover", param_sets):
        if isinstance(p, ConfigError):
            out.append(p)
        else:
            out.append(functools.partial(_band_weights, means, values, absent, p["ma_period"], p["threshold"], n))
    return out


def _trailing_sign(values: np.ndarray, lookback: int) -> np.ndarray:
    """``sign(P[t]/P[t−lookback] − 1)``, 0 where undefined (the first days, missing prices), symbol-major."""
    trailing = np.full(values.shape, np.nan)
    if lookback < values.shape[1]:
        with np.errstate(invalid="ignore", divide="ignore"):
            np.divide(values[:, lookback:], values[:, :-lookback], out=trailing[:, lookback:])
        trailing[:, lookback:] -= 1.0
    sign = np.sign(trailing)
    sign[np.isnan(sign)] = 0.0
    return sign


def _momentum_weights(
    signs: _Shared, lookback: int, allow_short: bool, present: np.ndarray | None, n: int
) -> np.ndarray:
    state = signs.get(lookback)
    if not allow_short:
        state = np.maximum(state, 0.0)
    if present is not None:
        state = np.where(present, state, 0.0)
    return _state_to_weights(state, n)


def ts_momentum_batch(
    data: pd.DataFrame, param_sets: Sequence[Mapping[str, Any]]
) -> list[WeightsBuilder | ConfigError]:
    """Batch form of :func:`ts_momentum`: the sign of each distinct lookback's trailing return once, shared by
    ``allow_short`` True and False."""
    prices = prices_of(data)
    signs = _Shared(functools.partial(_trailing_sign, _symbol_major(prices.to_numpy())))
    present, n = _present(prices), max(prices.shape[1], 1)
    out: list[WeightsBuilder | ConfigError] = []
    for p in _batch_sets("ts_momentum", param_sets):
        if isinstance(p, ConfigError):
            out.append(p)
        else:
            out.append(functools.partial(_momentum_weights, signs, p["lookback"], p["allow_short"], present, n))
    return out


STRATEGIES: dict[str, StrategySpec] = {
    "ma_crossover": StrategySpec(
        name="ma_crossover",
        func=ma_crossover,
        batch=ma_crossover_batch,
        params={
            "ma_period": ParamSpec(int, 20, 2, 500, "moving-average window (days)"),
            "threshold": ParamSpec(float, 0.02, 0.0, 0.5, "hysteresis band around the MA (fraction)"),
        },
        description="Long above the MA band, flat below it, keep the state inside the band; 1/N per symbol.",
    ),
    "ma_crossover_fast_slow": StrategySpec(
        name="ma_crossover_fast_slow",
        func=ma_crossover_fast_slow,
        batch=ma_crossover_fast_slow_batch,
        params={
            "fast": ParamSpec(int, 10, 1, 250, "fast moving-average window (days), < slow"),
            "slow": ParamSpec(int, 50, 2, 500, "slow moving-average window (days)"),
        },
        description="Long while the fast MA is above the slow MA; 1/N per symbol.",
    ),
    "ts_momentum": StrategySpec(
        name="ts_momentum",
        func=ts_momentum,
        batch=ts_momentum_batch,
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

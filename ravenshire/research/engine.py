"""Vectorised backtest engine: target weights + prices → daily returns, equity, turnover, costs and trades.

Execution model (close-to-close, no look-ahead)
-----------------------------------------------
Notation: ``P[t, i]`` the (adjusted close) price of symbol i at the close of day t, ``w[t, i]`` the target weight
decided with data up to the close of day t, as a fraction of equity (leverage and shorts come from the weights
as given; ``1 − Σ_i w[t, i]`` is cash, negative cash is borrowing).

- Asset returns: ``R[t, i] = P[t, i] / P[t−1, i] − 1``; ``R[0, i] = 0``; ``R[t, i] = 0`` whenever ``P[t, i]`` or
  ``P[t−1, i]`` is NaN (a symbol not listed yet, or gone). A non-zero weight on a NaN price is refused with a
  :class:`~ravenshire.errors.ConfigError` naming the symbol and the date.
- Holding: ``w[t]`` is held from close t to close t+1 (``EngineResult.positions`` row t) and earns ``R[t+1]``.
  Gross return of the period ending at t+1::

      r[t+1] = Σ_i w[t, i]·R[t+1, i] + (1 − Σ_i w[t, i])·rf,     rf = (1 + cash_rate)^(1/periods) − 1

  and ``r[0] = 0`` (nothing is held before the first close).
- Drift and turnover: just before trading at close t the weights have drifted to
  ``wd[t, i] = w[t−1, i]·(1 + R[t, i]) / (1 + r[t])`` (``wd[0] = 0``: the first day trades from zero; the gross
  return is used, costs are not fed back into the drift — a second-order simplification that keeps the model
  vectorisable). ``turnover[t] = Σ_i |w[t, i] − wd[t, i]|``; an *order* is a symbol whose
  ``|w[t, i] − wd[t, i]| > 1e-12``.
- Costs, as a fraction of the equity ``E[t]`` at close t::

      cost[t] = turnover[t]·(commission_bps + slippage_bps)/1e4 + fixed_per_trade·orders[t]/E[t]

- Cost timing (the one convention): the cost of trading at close t is incurred at t and debited from the
  period ending at t+1, in currency ``cost[t]·E[t]``::

      net[t+1] = r[t+1] − cost[t],      net[0] = 0,      E[t] = initial_capital·Π_{s≤t} (1 + net[s])

  This is exact in currency terms (E[t+1] = E[t]·(1 + r[t+1]) − cost[t]·E[t]), so costs can never raise a
  return. The cost of trades on the *last* day is reported in ``costs``/``turnover`` but charged to no period
  (those weights are never held). Because ``E[t]`` depends on earlier fixed costs, the equity follows the
  linear recursion ``E[t+1] = E[t]·(1 + r[t+1] − a[t]) − f[t]``, which is solved in closed form with cumulative
  products and sums (no loop over dates).
- Ruin: if equity reaches zero or below, the return of that day is clipped to −100 % and the account stays
  at zero afterwards (later returns and costs are 0).

Trades (``EngineResult.trades``): a trade is a maximal run of days on which a symbol's held weight keeps the same
non-zero sign (``|w| > 1e-12``); a long-to-short flip ends one trade and starts another the same day. Columns:

- ``symbol``, ``entry_date`` (first close at which it is held), ``exit_date`` (last close at which it is held;
  the position still earns the return up to the next close), ``direction`` ("long"/"short"), ``bars_held``
  (number of closes held = number of periods earned), ``pnl`` = Σ_t w[t, i]·R[t+1, i] over the run, in fractions
  of equity (an additive approximation: daily contributions are summed, not compounded), ``return`` = the
  asset's compounded return over the holding, signed by direction (``±(Π(1 + R[t+1]) − 1)``), and ``is_open``
  (held on the last day of the data: the last period has no return).

Everything is numpy, without a loop over days: each weight path goes through :func:`_simulate_path` as
symbol-major (N, T) arrays (each symbol's days contiguous, so per-day sums over symbols and per-day scalings are
long contiguous loops) in blocks of :func:`_block_days` days (bounded scratch memory); costs, equity and ruin are then
computed for all K paths at once over (K, T). :func:`backtest` (K = 1), :func:`sweep_returns` (K paths given as a
(K, T, N) array) and :func:`ravenshire.research.sweep.run_sweep` (paths built one at a time) share that code, so a
path gives the same numbers bit for bit whichever way it is run.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, cast

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = ["Costs", "EngineResult", "asset_returns", "backtest", "sweep_returns"]

#: A weight change larger than this counts as an order (fixed cost) and a weight larger than this as held.
ORDER_TOLERANCE = 1e-12


#: Upper bounds of the costs that have a natural one (value, unit).
_COST_CAPS = {
    "commission_bps": (1e4, "bps (the whole traded value)"),
    "slippage_bps": (1e4, "bps (the whole traded value)"),
    "cash_rate": (1.0, "(100 % a year)"),
}


@dataclass(frozen=True, kw_only=True)
class Costs:
    """Trading and financing costs.

    ``commission_bps`` and ``slippage_bps`` are charged on traded value (basis points of it); ``fixed_per_trade`` is
    a currency amount per order (a change of position in one symbol on one day); ``cash_rate`` is an annual rate
    earned on cash and paid on borrowed cash (negative cash). All must be finite and non-negative; commission and
    slippage at most 10,000 bps (the whole traded value), the cash rate at most 1 (100 % a year).
    """

    commission_bps: float = 0.0
    slippage_bps: float = 0.0
    fixed_per_trade: float = 0.0
    cash_rate: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
                raise ConfigError(f"Costs.{f.name} must be a number, got {value!r}")
            if not math.isfinite(float(value)) or value < 0:
                raise ConfigError(f"Costs.{f.name} must be a finite number >= 0, got {value!r}")
            cap = _COST_CAPS.get(f.name)
            if cap is not None and value > cap[0]:
                raise ConfigError(f"Costs.{f.name} must be at most {cap[0]:g} {cap[1]}, got {value!r}")

    @property
    def proportional(self) -> float:
        """Commission plus slippage as a fraction of traded value."""
        return (self.commission_bps + self.slippage_bps) / 1e4

    def to_dict(self) -> dict[str, float]:
        return {f.name: float(getattr(self, f.name)) for f in fields(self)}


@dataclass(frozen=True)
class EngineResult:
    """What :func:`backtest` returns. All series share the prices' index."""

    returns: pd.Series
    gross_returns: pd.Series
    equity: pd.Series
    positions: pd.DataFrame
    turnover: pd.Series
    costs: pd.Series
    trades: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {
            "returns": self.returns.to_dict(),
            "gross_returns": self.gross_returns.to_dict(),
            "equity": self.equity.to_dict(),
            "positions": self.positions.to_dict(),
            "turnover": self.turnover.to_dict(),
            "costs": self.costs.to_dict(),
            "trades": self.trades.to_dict(orient="records"),
        }


TRADE_COLUMNS: tuple[str, ...] = (
    "symbol",
    "entry_date",
    "exit_date",
    "direction",
    "bars_held",
    "pnl",
    "return",
    "is_open",
)


# --------------------------------------------------------------------------------------------------------------
# inputs


def _wide_prices(prices: pd.DataFrame) -> pd.DataFrame:
    """Wide prices from either wide prices or the market-data frame (MultiIndex (field, symbol) → adj_close)."""
    if isinstance(prices.columns, pd.MultiIndex):
        if "adj_close" in prices.columns.get_level_values(0):
            prices = cast(pd.DataFrame, prices.xs("adj_close", axis=1, level=0))
        else:
            raise ConfigError("prices have MultiIndex columns without an 'adj_close' field; pass wide prices")
    if not isinstance(prices.index, pd.DatetimeIndex):
        raise ConfigError(f"prices must have a DatetimeIndex, got {type(prices.index).__name__}")
    if not prices.index.is_monotonic_increasing or not prices.index.is_unique:
        raise ConfigError("prices' dates must be unique and ascending")
    out = prices.astype("float64")
    values = out.to_numpy()
    bad = np.isfinite(values) & (values <= 0) | np.isinf(values)
    if bad.any():
        t, i = np.argwhere(bad)[0]
        raise ConfigError(
            f"price of {out.columns[i]} on {out.index[t].date()} is {values[t, i]!r}; prices must be positive"
        )
    return out


def asset_returns(prices: pd.DataFrame) -> np.ndarray:
    """``R[t, i] = P[t, i]/P[t−1, i] − 1`` as a (T, N) array; 0 on the first row and wherever a price is NaN."""
    values = _wide_prices(prices).to_numpy(dtype="float64")
    return _returns_array(values)


def _returns_array(values: np.ndarray) -> np.ndarray:
    out = np.zeros_like(values)
    if len(values) > 1:
        with np.errstate(invalid="ignore", divide="ignore"):
            out[1:] = values[1:] / values[:-1] - 1.0
    out[~np.isfinite(out)] = 0.0
    return out


def _check_nan_prices(weights: np.ndarray, prices: pd.DataFrame) -> None:
    """``weights`` (K, T, N): refuse non-zero weight where the price is NaN."""
    missing = np.isnan(prices.to_numpy(dtype="float64"))
    if not missing.any():
        return
    bad = (np.abs(weights) > 0) & missing[None, :, :]
    if bad.any():
        k, t, i = np.argwhere(bad)[0]
        where = f" (weight path {k})" if weights.shape[0] > 1 else ""
        raise ConfigError(
            f"weight {weights[k, t, i]:.6g} on {prices.columns[i]} on {prices.index[t].date()}{where}, "
            "but its price is missing (not listed yet or gone); a strategy may only hold symbols with a price"
        )


def _align_weights(weights: pd.DataFrame, prices: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(weights, pd.DataFrame):
        raise ConfigError(f"weights must be a DataFrame (dates × symbols), got {type(weights).__name__}")
    extra = [c for c in weights.columns if c not in prices.columns]
    if extra:
        held = weights[extra].fillna(0.0).abs().to_numpy(dtype="float64").sum(axis=0) > 0
        unknown = [c for c, h in zip(extra, held, strict=True) if h]
        if unknown:
            raise ConfigError(f"weights on symbols without prices: {', '.join(map(str, unknown))}")
    aligned = weights.reindex(index=prices.index, columns=prices.columns).astype("float64").fillna(0.0)
    if np.isinf(aligned.to_numpy()).any():
        raise ConfigError("weights contain infinite values")
    return aligned


# --------------------------------------------------------------------------------------------------------------
# the model, path by path


#: Values (symbols × days) per block of :func:`_simulate_path`: 2 MB of float64 per (N, block) array. With 20
#: symbols a 33-year daily history is one block; with 500, blocks of 524 days keep the scratch small.
_BLOCK_VALUES = 2**18


def _block_days(n: int) -> int:
    """Days per block for ``n`` symbols (at least 256)."""
    return max(256, _BLOCK_VALUES // max(n, 1))


@dataclass(frozen=True)
class _Simulation:
    net: np.ndarray  # (K, T)
    gross: np.ndarray  # (K, T)
    turnover: np.ndarray  # (K, T)
    cost: np.ndarray  # (K, T)


def _symbol_major(values: np.ndarray) -> np.ndarray:
    """A (T, N) array as a C-contiguous (N, T) array (each symbol's days contiguous); no copy when ``values`` is
    Fortran-ordered, as pandas' single-block frames are."""
    return np.ascontiguousarray(values.T)


def _simulate_path(
    returns: np.ndarray, weights: np.ndarray, rf: float, orders: bool, work: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Gross returns, turnover and (if ``orders``) the number of orders of ONE weight path, each of shape (T,).

    ``returns`` R and ``weights`` w are (N, T), symbol-major and C-contiguous (:func:`_symbol_major`), NaN-free.
    Day by day, in blocks of :func:`_block_days` days, with whole-array numpy operations (no loop over days)::

        gross[t]    = Σ_i w[t−1, i]·R[t, i] + (1 − Σ_i w[t−1, i])·rf          (gross[0] = 0)
        wd[t, i]    = (w[t−1, i] + w[t−1, i]·R[t, i]) · (1 / s[t]),   s[t] = 1 + gross[t], or 1 where that is 0
        turnover[t] = Σ_i |w[t, i] − wd[t, i]|                                  (wd[0] = 0)
        orders[t]   = #{i : |w[t, i] − wd[t, i]| > ORDER_TOLERANCE}

    ``work`` is an optional (N, ≥ min(T − 1, block)) float64 scratch array (reused across paths by a sweep).
    """
    n, t_len = weights.shape
    gross = np.zeros(t_len)
    turnover = np.zeros(t_len)
    count = np.zeros(t_len) if orders else None
    if t_len == 0:
        return gross, turnover, count
    first = np.abs(weights[:, 0])
    turnover[0] = first.sum()
    if count is not None:
        count[0] = np.count_nonzero(first > ORDER_TOLERANCE)
    block = _block_days(n)
    width = min(t_len - 1, block)
    if work is None or work.shape[0] != n or work.shape[1] < width:
        work = np.empty((n, width))
    for start in range(1, t_len, block):
        stop = min(start + block, t_len)
        held = weights[:, start - 1 : stop - 1]
        traded = work[:, : stop - start]
        g = gross[start:stop]
        np.multiply(held, returns[:, start:stop], out=traded)
        np.add.reduce(traded, axis=0, out=g)
        if rf != 0.0:
            g += (1.0 - held.sum(axis=0)) * rf
        traded += held  # w[t−1]·(1 + R[t])
        scale = 1.0 + g
        scale[scale == 0.0] = 1.0
        np.divide(1.0, scale, out=scale)
        traded *= scale  # the drifted weights wd[t]
        traded -= weights[:, start:stop]
        np.abs(traded, out=traded)
        np.add.reduce(traded, axis=0, out=turnover[start:stop])
        if count is not None:
            count[start:stop] = np.count_nonzero(traded > ORDER_TOLERANCE, axis=0)
    return gross, turnover, count


_SCRATCH = threading.local()


def _scratch(n: int, width: int) -> np.ndarray:
    """This thread's (n, ≥ width) float64 scratch for :func:`_simulate_path`, kept between calls: a sweep runs
    hundreds of paths per thread, and a fresh 1-2 MB array per call costs page faults, not just a malloc."""
    work = getattr(_SCRATCH, "work", None)
    if work is None or work.shape[0] != n or work.shape[1] < width:
        work = _SCRATCH.work = np.empty((n, width))
    return cast(np.ndarray, work)


def _simulate_paths(
    returns: np.ndarray, paths: Iterable[np.ndarray], costs: Costs, periods: int, capital: float
) -> _Simulation:
    """The execution model of the module docstring for the weight paths ``paths`` (each (N, T), symbol-major,
    NaN-free) on ``returns`` (N, T), symbol-major. Paths are consumed one at a time (a generator keeps only one in
    memory); costs, net returns and ruin are then computed for all of them at once over (K, T)."""
    rf = (1.0 + costs.cash_rate) ** (1.0 / periods) - 1.0
    fixed_cost = costs.fixed_per_trade > 0.0
    n, t_len = returns.shape
    work = _scratch(n, min(max(t_len - 1, 0), _block_days(n)))
    rows = [_simulate_path(returns, w, rf, fixed_cost, work) for w in paths]
    k = len(rows)
    gross = np.empty((k, t_len))
    turnover = np.empty((k, t_len))
    for j, (g, tv, _) in enumerate(rows):
        gross[j] = g
        turnover[j] = tv
    proportional = turnover * costs.proportional
    cost = proportional
    if fixed_cost:
        orders = np.stack([cast(np.ndarray, c) for _, _, c in rows]) if k else np.empty((0, t_len))
        fixed = costs.fixed_per_trade * orders
        equity = _equity_with_fixed_costs(gross, proportional, fixed, capital)
        with np.errstate(divide="ignore", invalid="ignore"):
            cost = proportional + fixed / equity
    net = np.zeros((k, t_len))
    net[:, 1:] = gross[:, 1:] - cost[:, :-1]
    net, cost = _apply_ruin(net, cost)
    return _Simulation(net=net, gross=gross, turnover=turnover, cost=cost)


def _simulate(returns: np.ndarray, weights: np.ndarray, costs: Costs, periods: int, capital: float) -> _Simulation:
    """The execution model of the module docstring for K weight paths. ``returns`` (T, N), ``weights``
    (K, T, N) aligned to it, NaN-free; each path goes through :func:`_simulate_path`."""
    paths = (_symbol_major(weights[k]) for k in range(weights.shape[0]))
    return _simulate_paths(_symbol_major(returns), paths, costs, periods, capital)


def _equity_with_fixed_costs(gross: np.ndarray, prop: np.ndarray, fixed: np.ndarray, capital: float) -> np.ndarray:
    """Solve ``E[t+1] = E[t]·(1 + gross[t+1] − prop[t]) − fixed[t]``, ``E[0] = capital`` in closed form.

    With ``G[t] = Π_{s<t} g[s]``: ``E[t] = G[t]·(capital − Σ_{s<t} fixed[s]/G[s+1])``. Non-finite entries mark ruin.
    """
    k, t = gross.shape
    g = 1.0 + gross[:, 1:] - prop[:, :-1]
    big_g = np.ones((k, t))
    big_g[:, 1:] = np.cumprod(g, axis=1)
    acc = np.zeros((k, t))
    with np.errstate(divide="ignore", invalid="ignore"):
        acc[:, 1:] = np.cumsum(fixed[:, :-1] / big_g[:, 1:], axis=1)
        return big_g * (capital - acc)


def _apply_ruin(net: np.ndarray, cost: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Clip at ruin: the first day on which equity would be <= 0 (or undefined) returns −100 %, then nothing."""
    with np.errstate(invalid="ignore", over="ignore"):
        level = np.cumprod(1.0 + net, axis=1)
    if level.size == 0 or (level.min() > 0.0 and level.max() < np.inf and np.isfinite(cost).all()):
        return net, cost  # the usual case, decided with three reductions (NaN fails both comparisons)
    dead = ~np.isfinite(level) | (level <= 0.0) | ~np.isfinite(cost)
    if not dead.any():
        return net, cost
    dead = np.logical_or.accumulate(dead, axis=1)
    first = dead & ~np.concatenate([np.zeros((dead.shape[0], 1), dtype=bool), dead[:, :-1]], axis=1)
    net = np.where(dead, 0.0, net)
    net = np.where(first, -1.0, net)
    cost = np.where(dead, 0.0, cost)
    return net, cost


# --------------------------------------------------------------------------------------------------------------
# trades


def _trades(weights: pd.DataFrame, returns: np.ndarray) -> pd.DataFrame:
    """One row per trade (see the module docstring), built without a loop over dates or symbols."""
    w = weights.to_numpy(dtype="float64")
    t_len, n = w.shape
    if t_len == 0 or n == 0:
        return _empty_trades()
    sign = np.where(np.abs(w) > ORDER_TOLERANCE, np.sign(w), 0.0)
    padded = np.zeros((t_len + 2, n))
    padded[1:-1] = sign
    starts_mask = (padded[1:-1] != 0) & (padded[1:-1] != padded[:-2])
    ends_mask = (padded[1:-1] != 0) & (padded[1:-1] != padded[2:])
    # symbol-major order so that the k-th start and the k-th end belong to the same trade
    s_sym, s_t = np.nonzero(starts_mask.T)
    e_sym, e_t = np.nonzero(ends_mask.T)
    if len(s_t) == 0:
        return _empty_trades()
    next_returns = np.zeros_like(returns)
    next_returns[:-1] = returns[1:]
    contrib = np.zeros((n, t_len + 1))  # one zero row of padding per symbol so that end + 1 is always valid
    contrib[:, :t_len] = (w * next_returns).T
    log_growth = np.zeros((n, t_len + 1))
    log_growth[:, :t_len] = np.log1p(next_returns).T
    stride = t_len + 1
    bounds = np.empty(2 * len(s_t), dtype=np.intp)
    bounds[0::2] = s_sym * stride + s_t
    bounds[1::2] = e_sym * stride + e_t + 1
    pnl = np.add.reduceat(contrib.ravel(), bounds)[0::2]
    growth = np.expm1(np.add.reduceat(log_growth.ravel(), bounds)[0::2])
    direction = sign[s_t, s_sym]
    index = weights.index
    return pd.DataFrame(
        {
            "symbol": np.asarray(weights.columns)[s_sym],
            "entry_date": index[s_t],
            "exit_date": index[e_t],
            "direction": np.where(direction > 0, "long", "short"),
            "bars_held": (e_t - s_t + 1).astype(np.int64),
            "pnl": pnl,
            "return": direction * growth,
            "is_open": e_t == t_len - 1,
        }
    )


def _empty_trades() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "symbol": pd.Series(dtype=object),
            "entry_date": pd.Series(dtype="datetime64[ns]"),
            "exit_date": pd.Series(dtype="datetime64[ns]"),
            "direction": pd.Series(dtype=object),
            "bars_held": pd.Series(dtype="int64"),
            "pnl": pd.Series(dtype="float64"),
            "return": pd.Series(dtype="float64"),
            "is_open": pd.Series(dtype=bool),
        }
    )


# --------------------------------------------------------------------------------------------------------------
# public API


def _check_run_args(initial_capital: float, periods: int) -> None:
    if isinstance(periods, bool) or not isinstance(periods, int | np.integer) or periods <= 0:
        raise ConfigError(f"periods must be a positive integer (252 for daily data), got {periods!r}")
    if not math.isfinite(initial_capital) or initial_capital <= 0:
        raise ConfigError(f"initial_capital must be a positive number, got {initial_capital!r}")


def backtest(
    prices: pd.DataFrame,
    weights: pd.DataFrame,
    costs: Costs = Costs(),
    initial_capital: float = 100_000.0,
    periods: int = 252,
) -> EngineResult:
    """Backtest target ``weights`` (dates × symbols, row t decided at close t) on ``prices``.

    ``prices`` are wide prices (dates × symbols) or the market-data frame (its ``adj_close`` is used).
    ``weights`` are reindexed to the prices' dates and symbols (missing → 0, NaN → 0); a non-zero weight on a
    symbol that has no prices, or on a day its price is NaN, raises :class:`ConfigError`. See the module docstring
    for the execution and cost model.
    """
    _check_run_args(initial_capital, periods)
    wide = _wide_prices(prices)
    aligned = _align_weights(weights, wide)
    w = aligned.to_numpy(dtype="float64")[None, :, :]
    _check_nan_prices(w, wide)
    returns = _returns_array(wide.to_numpy(dtype="float64"))
    sim = _simulate(returns, w, costs, periods, float(initial_capital))
    index = wide.index
    net = pd.Series(sim.net[0], index=index, name="returns")
    return EngineResult(
        returns=net,
        gross_returns=pd.Series(sim.gross[0], index=index, name="gross_returns"),
        equity=pd.Series(initial_capital * np.cumprod(1.0 + sim.net[0]), index=index, name="equity"),
        positions=aligned,
        turnover=pd.Series(sim.turnover[0], index=index, name="turnover"),
        costs=pd.Series(sim.cost[0], index=index, name="costs"),
        trades=_trades(aligned, returns),
    )


def sweep_returns(
    prices: pd.DataFrame,
    weights: np.ndarray,
    costs: Costs = Costs(),
    periods: int = 252,
    initial_capital: float = 100_000.0,
) -> np.ndarray:
    """Net returns (T, K) of K weight paths ``weights`` (K, T, N), all at once, with the model of :func:`backtest`.

    ``weights`` must already be aligned to ``prices`` (T dates × N symbols, in the prices' column order); NaN
    weights count as 0. Column k equals ``backtest(prices, weights[k], ...).returns``. ``initial_capital`` only
    matters when ``costs.fixed_per_trade > 0``.
    """
    _check_run_args(initial_capital, periods)
    wide = _wide_prices(prices)
    w = np.asarray(weights, dtype="float64")
    if w.ndim == 2:
        w = w[None, :, :]
    if w.ndim != 3 or w.shape[1:] != wide.shape:
        raise ConfigError(
            f"weights must have shape (K, {wide.shape[0]}, {wide.shape[1]}) to match the prices, got {w.shape}"
        )
    w = np.nan_to_num(w, nan=0.0, posinf=np.inf, neginf=-np.inf)
    if np.isinf(w).any():
        raise ConfigError("weights contain infinite values")
    _check_nan_prices(w, wide)
    returns = _returns_array(wide.to_numpy(dtype="float64"))
    sim = _simulate(returns, w, costs, periods, float(initial_capital))
    return np.ascontiguousarray(sim.net.T)

"""Performance metrics: pure, vectorised functions over simple periodic returns.

Input and output
----------------
Every function takes either one return series — a 1-D array-like or a :class:`pandas.Series` of length ``T`` — and
returns a ``float``, or ``K`` series at once — a 2-D array-like or :class:`pandas.DataFrame` of shape ``T × K``, one
series per column (e.g. the K parameter sets of a sweep) — and returns a length-``K`` :class:`numpy.ndarray`.
Everything is computed along the time axis (axis 0) with numpy, without a Python loop over periods or columns;
a column of a 2-D input gives exactly (bit for bit) the same result as that column passed alone.
:func:`drawdown_series` returns an array of the input's shape instead; :func:`summary` takes one series only.

Conventions (written once here, repeated with the formula in each docstring)
------------------------------------------------------------------------------
- ``r[t]`` is a simple return per period (``0.01`` = +1 %), ``T`` the number of periods.
- ``periods`` periods make a year; default 252 (trading days).
- Standard deviations are sample standard deviations (``ddof=1``).
- The risk-free rate ``risk_free`` is an ANNUAL rate, converted to a per-period rate with
  ``rf_p = (1 + risk_free) ** (1 / periods) − 1`` (empyrical instead takes a per-period rate).
- Drawdowns are measured on the compounded wealth curve ``W[t] = Π_{s≤t} (1 + r[s])`` with the start
  (``W = 1`` before the first period) counted as a peak, and reported as POSITIVE fractions of the running peak:
  ``0.15`` is a 15 % fall. (empyrical reports max drawdown as a negative number.)
- Value at risk and conditional value at risk are reported as POSITIVE loss fractions (``0.02`` = a 2 % loss per
  period). empyrical reports them as (negative) returns.
- Ratios whose denominator is zero are NaN, never ±inf and never a warning: Sharpe with zero volatility, Sortino
  with no downside, Calmar with no drawdown, win rate with no non-zero value. The one exception is
  :func:`profit_factor`, which is ``inf`` when there are gains and no losses (a defined, common convention).

Degenerate inputs
-----------------
- Empty input (``T == 0`` or ``K == 0``), non-numeric input, or an array that is not 1-D/2-D: :class:`ConfigError`.
  (:func:`win_rate` and :func:`profit_factor` are the exception: an empty input there means "no trades" and gives
  NaN, since zero trades is a legitimate outcome.)
- NaN or ±inf anywhere: :class:`ConfigError` naming the position. The backtest engine never produces NaN; a missing
  period must be filled or dropped explicitly by the caller, not silently here.
- A return below −1 (losing more than everything) in the compounding metrics (:func:`total_return`, :func:`cagr`,
  :func:`drawdown_series`, :func:`max_drawdown`, :func:`calmar_ratio`, :func:`summary`): :class:`ConfigError`.
- A single period (``T == 1``): :func:`annual_volatility`, :func:`sharpe_ratio` and :func:`sortino_ratio` are NaN
  (a sample standard deviation needs two observations; empyrical does the same); every other metric is defined.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = [
    "HEADLINE_METRICS",
    "TRADING_DAYS",
    "annual_volatility",
    "cagr",
    "calmar_ratio",
    "conditional_value_at_risk",
    "drawdown_series",
    "headline_metrics",
    "max_drawdown",
    "per_period_rate",
    "profit_factor",
    "sharpe_ratio",
    "sortino_ratio",
    "summary",
    "total_return",
    "value_at_risk",
    "win_rate",
]

#: Default number of periods per year (trading days).
TRADING_DAYS = 252

FloatArray = npt.NDArray[np.float64]
#: A return series (1-D, length T) or T × K series (2-D), as an array-like, Series or DataFrame.
ReturnsLike = npt.ArrayLike | pd.Series | pd.DataFrame
#: What the scalar metrics return: a float for 1-D input, a length-K array for 2-D input.
Metric = float | FloatArray

# Guards floor((T − 1)·(1 − level)) against 1 − level being one ulp short (1 − 0.9 = 0.09999999999999998).
_INDEX_EPS = 1e-9


# ------------------------------------------------------------------------------------------------ helpers


def _as_rows(
    values: Any, name: str = "returns", *, allow_empty: bool = False, min_return: float | None = None
) -> tuple[FloatArray, bool]:
    """Validate ``values`` and return it as a C-contiguous ``K × T`` float array (one row per series) and is-1-D.

    Working on rows makes every reduction run along the contiguous last axis, so a 2-D input's column gives the
    same floating-point result as the same series passed as 1-D.
    """
    try:
        if isinstance(values, pd.Series | pd.DataFrame):
            arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
        else:
            arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric (1-D or 2-D), got {type(values).__name__}: {exc}") from exc
    if arr.ndim not in (1, 2):
        raise ConfigError(f"{name} must be 1-D (one series) or 2-D (T × K, one series per column), got {arr.ndim}-D")
    if arr.size == 0 and not allow_empty:
        raise ConfigError(f"{name} is empty (shape {arr.shape}); metrics need at least one period and one series")
    if arr.size and not np.isfinite(arr).all():
        pos = tuple(int(i) for i in np.argwhere(~np.isfinite(arr))[0])
        raise ConfigError(
            f"{name} contain a non-finite value ({arr[pos]}) at position {pos}; metrics do not drop or fill "
            "missing periods — fill or drop them explicitly before computing metrics"
        )
    if min_return is not None and arr.size and (arr < min_return).any():
        pos = tuple(int(i) for i in np.argwhere(arr < min_return)[0])
        raise ConfigError(
            f"{name} contain {arr[pos]} at position {pos}: a simple return below {min_return} (a loss of more than "
            "100 %) cannot be compounded"
        )
    rows = arr.reshape(1, -1) if arr.ndim == 1 else np.ascontiguousarray(arr.T)
    return rows, arr.ndim == 1


def _out(values: FloatArray, one_d: bool) -> Metric:
    """A float for 1-D input, the length-K array for 2-D input."""
    return float(values[0]) if one_d else values


def _scalar(value: Metric) -> float:
    return value if isinstance(value, float) else float(np.asarray(value).reshape(-1)[0])


def _check_periods(periods: float) -> float:
    if isinstance(periods, bool) or not isinstance(periods, int | float | np.integer | np.floating):
        raise ConfigError(f"periods must be a number of periods per year, got {periods!r}")
    if not math.isfinite(float(periods)) or periods <= 0:
        raise ConfigError(f"periods must be a finite number > 0 (252 for daily data), got {periods!r}")
    return float(periods)


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float | np.integer | np.floating):
        raise ConfigError(f"level must be a confidence level in (0, 1), got {level!r}")
    if not 0.0 < float(level) < 1.0:
        raise ConfigError(f"level must be a confidence level strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def per_period_rate(risk_free: float, periods: float = TRADING_DAYS) -> float:
    """Convert an annual rate to a per-period rate: ``rf_p = (1 + risk_free) ** (1 / periods) − 1``.

    ``risk_free`` must be finite and > −1. ``per_period_rate(0.05)`` ≈ 0.000193630 per trading day.
    """
    p = _check_periods(periods)
    if isinstance(risk_free, bool) or not isinstance(risk_free, int | float | np.integer | np.floating):
        raise ConfigError(f"risk_free must be an annual rate (0.04 = 4 % a year), got {risk_free!r}")
    if not math.isfinite(float(risk_free)) or risk_free <= -1:
        raise ConfigError(f"risk_free must be a finite annual rate > -1 (0.04 = 4 % a year), got {risk_free!r}")
    return float((1.0 + float(risk_free)) ** (1.0 / p) - 1.0)


def _safe_divide(num: FloatArray, den: FloatArray, ok: npt.NDArray[np.bool_]) -> FloatArray:
    """``num / den`` where ``ok``, NaN elsewhere, without a warning."""
    out = np.full(np.shape(num), np.nan, dtype=np.float64)
    np.divide(num, den, out=out, where=ok)
    return out


def _constant(rows: FloatArray) -> npt.NDArray[np.bool_]:
    """Rows whose values are all equal: their dispersion is exactly zero (not a 1e-18 rounding residue)."""
    result: npt.NDArray[np.bool_] = rows.max(axis=-1) == rows.min(axis=-1)
    return result


# ------------------------------------------------------------------------------------------------ return & risk


def total_return(returns: ReturnsLike) -> Metric:
    """Compounded return over the whole sample: ``Π_t (1 + r[t]) − 1``.

    Same as ``empyrical.cum_returns_final``. Single period: ``r[0]``.
    """
    rows, one_d = _as_rows(returns, min_return=-1.0)
    return _out(np.prod(1.0 + rows, axis=-1) - 1.0, one_d)


def cagr(returns: ReturnsLike, periods: float = TRADING_DAYS) -> Metric:
    """Compound annual growth rate: ``(Π_t (1 + r[t])) ** (periods / T) − 1``.

    Same as ``empyrical.cagr`` / ``empyrical.annual_return``. A total loss gives −1. A short sample with a large
    gain can overflow to ``inf`` (e.g. +100 % in one day annualises to 2**252).
    """
    p = _check_periods(periods)
    rows, one_d = _as_rows(returns, min_return=-1.0)
    growth = np.prod(1.0 + rows, axis=-1)
    with np.errstate(over="ignore"):
        result = growth ** (p / rows.shape[-1]) - 1.0
    return _out(result, one_d)


def annual_volatility(returns: ReturnsLike, periods: float = TRADING_DAYS) -> Metric:
    """Annualised volatility: ``std(r, ddof=1) · √periods``.

    Same as ``empyrical.annual_volatility``. Exactly 0 for a constant series; NaN for a single period (a sample
    standard deviation needs two observations).
    """
    p = _check_periods(periods)
    rows, one_d = _as_rows(returns)
    if rows.shape[-1] < 2:
        return _out(np.full(rows.shape[0], np.nan), one_d)
    std = np.where(_constant(rows), 0.0, np.std(rows, axis=-1, ddof=1))
    return _out(std * np.sqrt(p), one_d)


def sharpe_ratio(returns: ReturnsLike, risk_free: float = 0.0, periods: float = TRADING_DAYS) -> Metric:
    """Annualised Sharpe ratio: ``mean(r − rf_p) / std(r − rf_p, ddof=1) · √periods``.

    ``risk_free`` is an ANNUAL rate, ``rf_p = (1 + risk_free) ** (1 / periods) − 1``. Equals
    ``empyrical.sharpe_ratio(r, risk_free=rf_p)`` (empyrical takes the per-period rate). NaN — not ±inf — when the
    volatility is zero (all returns equal) and for a single period.
    """
    p = _check_periods(periods)
    rf_p = per_period_rate(risk_free, p)
    rows, one_d = _as_rows(returns)
    if rows.shape[-1] < 2:
        return _out(np.full(rows.shape[0], np.nan), one_d)
    excess = rows - rf_p
    std = np.std(excess, axis=-1, ddof=1)
    ratio = _safe_divide(np.mean(excess, axis=-1), std, ~_constant(excess) & (std > 0))
    return _out(ratio * np.sqrt(p), one_d)


def sortino_ratio(returns: ReturnsLike, risk_free: float = 0.0, periods: float = TRADING_DAYS) -> Metric:
    """Annualised Sortino ratio (empyrical's definition), over ALL periods::

        numerator = mean(r − rf_p) · periods
        downside  = sqrt(mean(min(r − rf_p, 0) ** 2)) · √periods
        sortino   = numerator / downside

    ``risk_free`` is an ANNUAL rate, ``rf_p = (1 + risk_free) ** (1 / periods) − 1`` (empyrical's
    ``required_return`` is per period). NaN when the downside deviation is zero (no period below ``rf_p``;
    empyrical gives +inf there) and for a single period (as empyrical).
    """
    p = _check_periods(periods)
    rf_p = per_period_rate(risk_free, p)
    rows, one_d = _as_rows(returns)
    if rows.shape[-1] < 2:
        return _out(np.full(rows.shape[0], np.nan), one_d)
    excess = rows - rf_p
    numerator = np.mean(excess, axis=-1) * p
    downside = np.sqrt(np.mean(np.square(np.minimum(excess, 0.0)), axis=-1)) * np.sqrt(p)
    return _out(_safe_divide(numerator, downside, downside > 0), one_d)


def drawdown_series(returns: ReturnsLike) -> FloatArray:
    """Drawdown at each period, a POSITIVE fraction of the running peak: ``DD[t] = 1 − W[t] / max(1, max_{s≤t} W[s])``.

    ``W[t] = Π_{s≤t} (1 + r[s])`` is the compounded wealth curve; the start (``W = 1``) counts as a peak, so a first
    period of −10 % is a 0.10 drawdown. Values lie in [0, 1] (1 = everything lost). Returns a float array of the
    input's shape (``T`` or ``T × K``). empyrical's ``drawdown_series`` is the same curve with a negative sign.
    """
    rows, one_d = _as_rows(returns, min_return=-1.0)
    wealth = np.cumprod(1.0 + rows, axis=-1)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=-1), 1.0)
    dd = 1.0 - wealth / peak
    return dd[0] if one_d else np.ascontiguousarray(dd.T)


def max_drawdown(returns: ReturnsLike) -> Metric:
    """Maximum drawdown as a POSITIVE fraction: ``max_t DD[t]`` (see :func:`drawdown_series`), in [0, 1].

    ``0.15`` = a 15 % fall from the peak. ``empyrical.max_drawdown`` returns the same number NEGATIVE (−0.15).
    0 when the wealth curve never falls below a previous peak (or the start).
    """
    rows, one_d = _as_rows(returns, min_return=-1.0)
    wealth = np.cumprod(1.0 + rows, axis=-1)
    peak = np.maximum(np.maximum.accumulate(wealth, axis=-1), 1.0)
    return _out(np.max(1.0 - wealth / peak, axis=-1), one_d)


def calmar_ratio(returns: ReturnsLike, periods: float = TRADING_DAYS) -> Metric:
    """Calmar ratio: ``cagr(r) / max_drawdown(r)`` (max drawdown positive, so the sign is the sign of the CAGR).

    Same as ``empyrical.calmar_ratio``. NaN when there is no drawdown (``max_drawdown == 0``) and, as empyrical,
    when the CAGR overflowed to inf.
    """
    growth = cagr(returns, periods)
    mdd = max_drawdown(returns)
    g = np.atleast_1d(np.asarray(growth, dtype=np.float64))
    d = np.atleast_1d(np.asarray(mdd, dtype=np.float64))
    ratio = _safe_divide(g, d, d > 0)
    ratio[~np.isfinite(ratio)] = np.nan
    return _out(ratio, isinstance(growth, float))


def value_at_risk(returns: ReturnsLike, level: float = 0.95) -> Metric:
    """Historical value at risk as a POSITIVE loss fraction: ``VaR = −percentile(r, 100 · (1 − level))``.

    numpy's default (linear) interpolation between order statistics, as ``empyrical.value_at_risk(r, cutoff=1 −
    level)``, which returns the percentile itself (a negative return); here the sign is flipped, so ``0.02`` means
    "a loss of 2 % or more in 1 − level of the periods". Negative when even that percentile is a gain.
    """
    lv = _check_level(level)
    rows, one_d = _as_rows(returns)
    pct = np.percentile(rows, 100.0 * (1.0 - lv), axis=-1)
    return _out(0.0 - pct, one_d)


def conditional_value_at_risk(returns: ReturnsLike, level: float = 0.95) -> Metric:
    """Historical conditional VaR (expected shortfall) as a POSITIVE loss fraction, empyrical's definition::

        k    = floor((T − 1) · (1 − level))
        CVaR = −mean(the k + 1 smallest returns)

    i.e. minus the mean of the returns at or below the order statistic ``r_(k)`` that starts the VaR interpolation
    (the count is fixed at k + 1, so ties at the cutoff are not all included). Equals
    ``−empyrical.conditional_value_at_risk(r, cutoff=1 − level)``. Always ≥ :func:`value_at_risk` at the same level.
    ``floor`` is taken with a 1e-9 tolerance so that ``1 − level`` one ulp short (1 − 0.9) does not drop an
    observation.
    """
    lv = _check_level(level)
    rows, one_d = _as_rows(returns)
    k = math.floor((rows.shape[-1] - 1) * (1.0 - lv) + _INDEX_EPS)
    tail = np.partition(rows, k, axis=-1)[:, : k + 1]
    pivot = tail[:, k : k + 1]  # the (k+1)-th smallest return, the largest in the tail
    # mean written as pivot + mean(tail − pivot): the second term is ≤ 0 exactly, so CVaR ≥ −pivot ≥ VaR in floats.
    mean_tail = pivot[:, 0] + np.mean(tail - pivot, axis=-1)
    return _out(0.0 - mean_tail, one_d)


# ------------------------------------------------------------------------------------------------ sweeps

#: The keys of :func:`headline_metrics`, in order.
HEADLINE_METRICS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "annual_volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "calmar_ratio",
)


def headline_metrics(
    rows: npt.ArrayLike, risk_free: float = 0.0, periods: float = TRADING_DAYS
) -> dict[str, FloatArray]:
    """:func:`total_return`, :func:`cagr`, :func:`annual_volatility`, :func:`sharpe_ratio`, :func:`sortino_ratio`,
    :func:`max_drawdown` and :func:`calmar_ratio` of K series at once, for parameter sweeps.

    ``rows`` is K × T with ONE SERIES PER ROW (the transpose of the other functions' 2-D input, so nothing is
    transposed); each value is a length-K array equal, bit for bit, to what the function of the same name returns
    for that series — the same formulas and conventions, evaluated once on the rows (``1 + r``, the wealth curve,
    the standard deviation and the extremes are shared instead of recomputed per metric). Validation is that of
    the functions: non-finite values and returns below −1 raise :class:`ConfigError`.
    """
    p = _check_periods(periods)
    rf_p = per_period_rate(risk_free, p)
    try:
        x = np.ascontiguousarray(rows, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"returns must be numeric (K × T, one series per row): {exc}") from exc
    if x.ndim != 2:
        raise ConfigError(f"returns must be a K × T array (one series per row), got {x.ndim}-D")
    if x.size == 0:
        raise ConfigError(f"returns is empty (shape {x.shape}); metrics need at least one period and one series")
    lo, hi = x.min(axis=-1), x.max(axis=-1)  # NaN and ±inf propagate here: a cheap validation
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        k, t = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
        raise ConfigError(
            f"returns contain a non-finite value ({x[k, t]}) at period {t} of series {k}; metrics do not drop or "
            "fill missing periods — fill or drop them explicitly before computing metrics"
        )
    if (lo < -1.0).any():
        k, t = (int(i) for i in np.argwhere(x < -1.0)[0])
        raise ConfigError(
            f"returns contain {x[k, t]} at period {t} of series {k}: a simple return below -1.0 (a loss of more "
            "than 100 %) cannot be compounded"
        )
    t_len = x.shape[-1]
    root = np.sqrt(p)
    growth_rows = 1.0 + x
    growth = np.prod(growth_rows, axis=-1)
    out: dict[str, FloatArray] = {"total_return": growth - 1.0}
    with np.errstate(over="ignore"):
        out["cagr"] = growth ** (p / t_len) - 1.0
    constant = lo == hi
    nan = np.full(x.shape[0], np.nan)
    if t_len < 2:
        out["annual_volatility"] = out["sharpe_ratio"] = out["sortino_ratio"] = nan
    else:
        std = np.std(x, axis=-1, ddof=1)
        out["annual_volatility"] = np.where(constant, 0.0, std) * root
        if rf_p == 0.0:  # x − 0.0 is x bit for bit: reuse its statistics
            excess, excess_std, excess_constant = x, std, constant
        else:
            excess = x - rf_p
            excess_std = np.std(excess, axis=-1, ddof=1)
            excess_constant = _constant(excess)
        mean = np.mean(excess, axis=-1)
        out["sharpe_ratio"] = _safe_divide(mean, excess_std, ~excess_constant & (excess_std > 0)) * root
        below = np.minimum(excess, 0.0)
        np.square(below, out=below)
        downside = np.sqrt(np.mean(below, axis=-1)) * root
        out["sortino_ratio"] = _safe_divide(mean * p, downside, downside > 0)
    wealth = np.cumprod(growth_rows, axis=-1, out=growth_rows)
    peak = np.maximum.accumulate(wealth, axis=-1)
    np.maximum(peak, 1.0, out=peak)
    np.divide(wealth, peak, out=peak)
    # max_t (1 − W/peak) = 1 − min_t (W/peak) exactly: x ↦ fl(1 − x) is monotone
    mdd = 1.0 - peak.min(axis=-1)
    out["max_drawdown"] = mdd
    calmar = _safe_divide(out["cagr"], mdd, mdd > 0)
    calmar[~np.isfinite(calmar)] = np.nan
    out["calmar_ratio"] = calmar
    return {name: out[name] for name in HEADLINE_METRICS}


# ------------------------------------------------------------------------------------------------ trade statistics


def win_rate(values: ReturnsLike) -> Metric:
    """Fraction of the NON-ZERO values that are positive: ``#{v > 0} / #{v ≠ 0}``.

    ``values`` are either periodic returns (a per-period win rate) or per-trade P&L (a per-trade win rate): the two
    are different figures, the caller names which. Zero values (flat periods, scratch trades) are ignored. NaN when
    there is no non-zero value, including an empty input (no trades).
    """
    rows, one_d = _as_rows(values, "values", allow_empty=True)
    wins = np.count_nonzero(rows > 0, axis=-1).astype(np.float64)
    decided = np.count_nonzero(rows != 0, axis=-1).astype(np.float64)
    return _out(_safe_divide(wins, decided, decided > 0), one_d)


def profit_factor(values: ReturnsLike) -> Metric:
    """Gross gains over gross losses: ``Σ_{v>0} v / |Σ_{v<0} v|``.

    ``values`` are periodic returns or per-trade P&L (the caller names which). ``inf`` when there are gains and no
    losses; NaN when there are neither (all zero, or an empty input: no trades); 0 when only losses.
    """
    rows, one_d = _as_rows(values, "values", allow_empty=True)
    gains = np.sum(np.where(rows > 0, rows, 0.0), axis=-1)
    losses = -np.sum(np.where(rows < 0, rows, 0.0), axis=-1)
    result = _safe_divide(gains, losses, losses > 0)
    result[(losses == 0) & (gains > 0)] = np.inf
    return _out(result, one_d)


# ------------------------------------------------------------------------------------------------ summary


def summary(returns: ReturnsLike, risk_free: float = 0.0, periods: float = TRADING_DAYS) -> dict[str, float]:
    """All the metrics above for ONE return series (1-D), as a dict of floats.

    Keys (fractions unless said otherwise; ``_periods`` marks statistics over periods, not trades)::

        n_periods, periods_per_year, total_return, cagr, annual_volatility, sharpe_ratio, sortino_ratio,
        max_drawdown (positive), calmar_ratio, value_at_risk_95, conditional_value_at_risk_95 (positive losses
        per period at the 95 % level), win_rate_periods, profit_factor_periods

    ``risk_free`` is annual and applies to the Sharpe and Sortino ratios. A 2-D input is refused (call the
    functions themselves for K series).
    """
    rows, one_d = _as_rows(returns, min_return=-1.0)
    if not one_d:
        raise ConfigError(
            f"summary takes one return series (1-D), got {rows.shape[0]} series; call the metrics directly"
        )
    r = rows[0]
    p = _check_periods(periods)
    metrics: dict[str, Metric] = {
        "n_periods": float(r.shape[0]),
        "periods_per_year": p,
        "total_return": total_return(r),
        "cagr": cagr(r, p),
        "annual_volatility": annual_volatility(r, p),
        "sharpe_ratio": sharpe_ratio(r, risk_free, p),
        "sortino_ratio": sortino_ratio(r, risk_free, p),
        "max_drawdown": max_drawdown(r),
        "calmar_ratio": calmar_ratio(r, p),
        "value_at_risk_95": value_at_risk(r, 0.95),
        "conditional_value_at_risk_95": conditional_value_at_risk(r, 0.95),
        "win_rate_periods": win_rate(r),
        "profit_factor_periods": profit_factor(r),
    }
    return {key: _scalar(value) for key, value in metrics.items()}

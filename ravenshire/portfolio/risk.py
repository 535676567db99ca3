"""Risk metrics of a portfolio: value at risk by three methods, drawdowns, leverage, volatility, beta, concentration,
correlation and the marginal / component risk of each position.

Conventions (repeated with the formula in each docstring)
-----------------------------------------------------------
- ``r[t]`` are simple returns per period; ``periods`` periods make a year (252 trading days).
- VALUE AT RISK AND CONDITIONAL VALUE AT RISK ARE POSITIVE LOSS FRACTIONS: ``var_95 = 0.02`` means "a loss of 2 %
  of equity or more in 5 % of the periods". A negative VaR means even the tail is a gain.
- Drawdowns are POSITIVE fractions of the running peak (``0.15`` = 15 % below the peak), as in
  :mod:`ravenshire.research.metrics`.
- Means are sample means; standard deviations and covariances are sample ones (``ddof=1``); skewness ``S`` and
  excess kurtosis ``K`` are the POPULATION moments ``g1 = m3 / m2^1.5`` and ``g2 = m4 / m2² − 3`` with
  ``m_k = mean((r − mean(r))^k)`` (``scipy.stats.skew`` / ``scipy.stats.kurtosis`` with their default
  ``bias=True``; the same moments as :mod:`ravenshire.research.significance`).
- Weights are fractions of equity, signed (short < 0); gross leverage is ``Σ|w|``.
- Missing values (NaN) in a return series are dropped; ±inf is refused. Every bad input raises
  :class:`~ravenshire.errors.ConfigError` with a message that says what to pass instead.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.special import ndtri

from ravenshire.errors import ConfigError
from ravenshire.research import metrics

__all__ = [
    "VAR_METHODS",
    "RiskMetrics",
    "compute_risk_metrics",
    "conditional_value_at_risk",
    "cornish_fisher_z",
    "drawdowns_from_equity",
    "value_at_risk",
]

#: The ways value at risk can be measured (``[RISK] var_method``).
VAR_METHODS: tuple[str, ...] = ("historical", "parametric", "cornish_fisher")

FloatArray = npt.NDArray[np.float64]

_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


# ------------------------------------------------------------------------------------------------ validation


def _check_method(method: str) -> str:
    if method in VAR_METHODS:
        return method
    close = difflib.get_close_matches(str(method), VAR_METHODS, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown VaR method {method!r}: use one of {', '.join(VAR_METHODS)}{hint}")


def _check_level(level: float) -> float:
    if isinstance(level, bool) or not isinstance(level, int | float | np.integer | np.floating):
        raise ConfigError(f"level must be a confidence level in (0, 1) such as 0.95, got {level!r}")
    if not 0.0 < float(level) < 1.0:
        raise ConfigError(f"level must be a confidence level strictly between 0 and 1 (e.g. 0.95), got {level!r}")
    return float(level)


def _check_periods(periods: float) -> float:
    if isinstance(periods, bool) or not isinstance(periods, int | float | np.integer | np.floating):
        raise ConfigError(f"periods must be the number of periods per year (252 for daily data), got {periods!r}")
    if not (math.isfinite(float(periods)) and periods > 0):
        raise ConfigError(f"periods must be a finite number > 0 (252 for daily data), got {periods!r}")
    return float(periods)


def _float_series(values: Any, name: str) -> pd.Series:
    """``values`` as a float Series (an array-like gets a RangeIndex); refuses 2-D, text, ±inf and duplicate dates."""
    if isinstance(values, pd.DataFrame):
        if values.shape[1] != 1:
            raise ConfigError(f"{name} must be one series, got a DataFrame with {values.shape[1]} columns")
        values = values.iloc[:, 0]
    try:
        if isinstance(values, pd.Series):
            series = pd.Series(values.to_numpy(dtype=np.float64, na_value=np.nan), index=values.index)
        else:
            arr = np.asarray(values, dtype=np.float64)
            if arr.ndim != 1:
                raise ConfigError(f"{name} must be 1-D (one series), got {arr.ndim}-D")
            series = pd.Series(arr)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric, got {type(values).__name__}: {exc}") from exc
    if np.isinf(series.to_numpy()).any():
        raise ConfigError(f"{name} contain ±inf at {series.index[np.isinf(series.to_numpy())][0]!r}; fix the data")
    if not series.index.is_unique:
        dup = series.index[series.index.duplicated()][0]
        raise ConfigError(f"{name} has the index value {dup!r} more than once; one value per date is expected")
    return series.dropna()


def _returns_array(returns: Any, name: str = "returns") -> FloatArray:
    """1-D float array of ``returns`` with NaN dropped; at least two observations."""
    arr = _float_series(returns, name).to_numpy(dtype=np.float64)
    if arr.size < 2:
        raise ConfigError(f"{name} have {arr.size} observation(s) once NaN are dropped; risk metrics need at least 2")
    return arr


def _check_weights(weights: Any) -> pd.Series:
    if not isinstance(weights, pd.Series):
        raise ConfigError(f"weights must be a pandas Series indexed by symbol, got {type(weights).__name__}")
    if weights.empty:
        raise ConfigError("weights are empty; pass one weight per symbol (fractions of equity)")
    if not weights.index.is_unique:
        dup = sorted({str(s) for s in weights.index[weights.index.duplicated()]})
        raise ConfigError(f"weights list {', '.join(dup)} more than once; give one weight per symbol")
    try:
        w = pd.Series(weights.to_numpy(dtype=np.float64, na_value=np.nan), index=weights.index, name=weights.name)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"weights must be numeric fractions of equity: {exc}") from exc
    bad = w.index[~np.isfinite(w.to_numpy())]
    if len(bad):
        raise ConfigError(f"weights of {', '.join(map(str, bad))} are not finite; give 0 for a symbol not held")
    return w


# ------------------------------------------------------------------------------------------------ value at risk


def _moments(x: FloatArray) -> tuple[float, float, float, float]:
    """Sample mean, sample std (ddof=1), population skewness g1 and excess kurtosis g2 (0, 0 for a constant x).

    The moments are taken of ``(x − mean) / √m2`` so that tiny returns do not underflow ``m2 ** 1.5``.
    """
    mean = float(np.mean(x))
    if x.max() == x.min():
        return mean, 0.0, 0.0, 0.0
    centred = x - mean
    pop_sd = math.sqrt(float(np.mean(centred**2)))
    std = float(np.std(x, ddof=1))
    if pop_sd == 0.0:  # the squares underflowed: no measurable dispersion
        return mean, std, 0.0, 0.0
    u = centred / pop_sd
    return mean, std, float(np.mean(u**3)), float(np.mean(u**4)) - 3.0


def cornish_fisher_z(z: float, skew: float, excess_kurtosis: float) -> float:
    """The Cornish–Fisher adjusted standard quantile (second-order expansion)::

        z_cf = z + (z² − 1)·S/6 + (z³ − 3z)·K/24 − (2z³ − 5z)·S²/36

    ``z`` a standard normal quantile, ``S`` the skewness and ``K`` the EXCESS kurtosis. ``z_cf == z`` when
    ``S == K == 0``. The expansion is monotone in ``z`` only for moderate ``S`` and ``K`` (Maillard, 2012); far
    outside that domain it stops being a quantile function.
    """
    s, k = float(skew), float(excess_kurtosis)
    return float(z + (z * z - 1.0) * s / 6.0 + (z**3 - 3.0 * z) * k / 24.0 - (2.0 * z**3 - 5.0 * z) * s * s / 36.0)


def value_at_risk(returns: Any, level: float = 0.95, method: str = "historical") -> float:
    """One-period value at risk at confidence ``level``, as a POSITIVE LOSS FRACTION of equity.

    ``returns`` is a 1-D array-like or Series of simple returns (NaN dropped, at least 2 left). With
    ``α = 1 − level``, ``z = Φ⁻¹(α)`` (negative for level > 0.5), ``μ`` the sample mean, ``σ`` the sample std
    (ddof=1), ``S``/``K`` the population skewness / excess kurtosis:

    - ``historical``: ``VaR = −quantile(r, α)`` with numpy's default LINEAR interpolation between order statistics —
      exactly :func:`ravenshire.research.metrics.value_at_risk` (and ``−empyrical.value_at_risk(r, cutoff=α)``).
    - ``parametric`` (Gaussian): ``VaR = −(μ + σ·z)``.
    - ``cornish_fisher``: ``VaR = −(μ + σ·z_cf)``, ``z_cf`` from :func:`cornish_fisher_z`; equal to the parametric
      VaR when ``S == K == 0``.

    ``0.02`` means a loss of 2 % or more in a fraction α of the periods; negative when even that quantile is a gain.
    Raises :class:`ConfigError` for an unknown method, a level outside (0, 1), fewer than 2 observations or ±inf.
    """
    lv = _check_level(level)
    m = _check_method(method)
    x = _returns_array(returns)
    if m == "historical":
        return float(metrics.value_at_risk(x, lv))
    mean, std, skew, kurt = _moments(x)
    z = float(ndtri(1.0 - lv))
    if m == "cornish_fisher":
        z = cornish_fisher_z(z, skew, kurt)
    return -(mean + std * z)


def conditional_value_at_risk(returns: Any, level: float = 0.95, method: str = "historical") -> float:
    """Conditional value at risk (expected shortfall) at ``level``, as a POSITIVE LOSS FRACTION of equity.

    Same input, symbols and errors as :func:`value_at_risk` (``α = 1 − level``, ``z = Φ⁻¹(α)``, ``φ`` the standard
    normal density):

    - ``historical``: minus the mean of the ``k + 1`` smallest returns, ``k = floor((T − 1)·α)`` — the returns at
      or beyond the order statistic where the VaR interpolation starts. Exactly
      :func:`ravenshire.research.metrics.conditional_value_at_risk` (= ``−empyrical.conditional_value_at_risk``).
    - ``parametric`` (Gaussian closed form): ``CVaR = −μ + σ·φ(z)/α``.
    - ``cornish_fisher``: the expected shortfall of the Cornish–Fisher distribution ``X = μ + σ·z_cf(Z)``,
      ``Z ~ N(0, 1)`` — i.e. ``−(1/α)∫₀^α q_cf(u) du`` with ``q_cf`` the quantile function the Cornish–Fisher VaR
      uses — in closed form (from ``∫_{−∞}^{z} tⁿ φ(t) dt``)::

          CVaR = −μ + σ·φ(z)/α · [1 + z·S/6 + (z² − 1)·K/24 − (2z² − 1)·S²/36]

      which is the Gaussian formula when ``S == K == 0``. (This is not Boudt, Peterson & Croux's "modified ES",
      which integrates an Edgeworth density instead.) It is ≥ the Cornish–Fisher VaR whenever ``z_cf`` is monotone
      on the tail; far outside that domain (very large ``|S|`` against ``K``) it may not be.

    Historical and parametric CVaR are always ≥ the VaR of the same method at the same level.
    """
    lv = _check_level(level)
    m = _check_method(method)
    x = _returns_array(returns)
    if m == "historical":
        return float(metrics.conditional_value_at_risk(x, lv))
    alpha = 1.0 - lv
    mean, std, skew, kurt = _moments(x)
    z = float(ndtri(alpha))
    density = _INV_SQRT_2PI * math.exp(-0.5 * z * z)
    factor = 1.0
    if m == "cornish_fisher":
        factor = 1.0 + z * skew / 6.0 + (z * z - 1.0) * kurt / 24.0 - (2.0 * z * z - 1.0) * skew * skew / 36.0
    return -mean + std * density / alpha * factor


# ------------------------------------------------------------------------------------------------ drawdowns


def drawdowns_from_equity(equity_curve: Any) -> pd.Series:
    """Drawdown at each date of an equity curve, a POSITIVE fraction of the running peak::

        DD[t] = 1 − E[t] / max_{s≤t} E[s]

    The first value is the starting peak (pass the initial capital as the first point so that a first-day loss
    counts, as :func:`ravenshire.research.metrics.drawdown_series` counts the start). NaN are dropped; the curve must
    be non-empty, ≥ 0 everywhere and > 0 at the start, else :class:`ConfigError`. Values lie in [0, 1].
    """
    e = _float_series(equity_curve, "equity_curve")
    if e.empty:
        raise ConfigError("equity_curve is empty once NaN are dropped; pass the equity (account value) per date")
    values = e.to_numpy(dtype=np.float64)
    if (values < 0).any() or values[0] <= 0:
        raise ConfigError(
            f"equity_curve must be > 0 at the start and never negative (got first {values[0]}, min {values.min()}); "
            "pass the account value in currency, not returns or P&L"
        )
    peak = np.maximum.accumulate(values)
    return pd.Series(1.0 - values / peak, index=e.index, name="drawdown")


# ------------------------------------------------------------------------------------------------ result


@dataclass(frozen=True, kw_only=True, eq=False)
class RiskMetrics:
    """Risk of a portfolio at one date (what :func:`compute_risk_metrics` returns).

    Loss figures (``var_*``, ``cvar_95``) and drawdowns are POSITIVE fractions; VaR and CVaR are per period
    (one day for daily data); ``volatility``, ``marginal_risk`` and ``component_risk`` are annualised. A figure that
    the inputs do not determine is NaN (``beta`` without a benchmark; ``current_leverage``, ``herfindahl`` and
    ``largest_weight`` without weights) or empty (``correlation`` without asset returns; ``marginal_risk`` and
    ``component_risk`` without asset returns AND weights). Equality is identity (the fields hold pandas objects).
    """

    var_95: float
    var_99: float
    cvar_95: float
    max_drawdown: float
    current_drawdown: float
    current_leverage: float
    volatility: float
    beta: float
    herfindahl: float
    largest_weight: float
    largest_position: str | None
    correlation: pd.DataFrame
    marginal_risk: pd.Series
    component_risk: pd.Series
    var_method: str
    n_obs: int
    as_of: dt.date | None

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-safe Python values: NaN → None, pandas objects → dicts keyed by symbol, ``as_of`` → ISO date."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, pd.DataFrame):
                value = {str(r): {str(c): _json_float(v) for c, v in row.items()} for r, row in value.iterrows()}
            elif isinstance(value, pd.Series):
                value = {str(k): _json_float(v) for k, v in value.items()}
            elif isinstance(value, dt.date):
                value = value.isoformat()
            elif isinstance(value, float):
                value = _json_float(value)
            out[f.name] = value
        return out


def _json_float(value: Any) -> float | None:
    v = float(value)
    return v if math.isfinite(v) else None


# ------------------------------------------------------------------------------------------------ pieces


def _asset_panel(asset_returns: Any, symbols: pd.Index | None) -> pd.DataFrame:
    """Asset returns (dates × symbols) restricted to ``symbols``, rows with any NaN dropped; ≥ 2 rows."""
    if not isinstance(asset_returns, pd.DataFrame):
        raise ConfigError(f"asset returns must be a DataFrame (dates × symbols), got {type(asset_returns).__name__}")
    if not asset_returns.columns.is_unique:
        raise ConfigError("asset returns have a symbol (column) more than once")
    if symbols is not None:
        missing = [str(s) for s in symbols if s not in asset_returns.columns]
        if missing:
            raise ConfigError(
                f"weights hold {', '.join(missing)} but the asset returns have no such column(s); pass returns "
                "for every weighted symbol (a weight of 0 still needs its column)"
            )
        asset_returns = asset_returns.loc[:, symbols]
    try:
        panel = pd.DataFrame(
            asset_returns.to_numpy(dtype=np.float64, na_value=np.nan),
            index=asset_returns.index,
            columns=asset_returns.columns,
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"asset returns must be numeric: {exc}") from exc
    if np.isinf(panel.to_numpy()).any():
        raise ConfigError("asset returns contain ±inf; fix the data")
    empty = [str(c) for c in panel.columns if panel[c].isna().all()]
    if empty:
        raise ConfigError(f"asset returns of {', '.join(empty)} are all NaN; drop the symbol or fetch its data")
    panel = panel.dropna(how="any")
    if len(panel) < 2:
        raise ConfigError(
            f"asset returns have {len(panel)} date(s) on which every symbol has a return; risk needs at least 2"
        )
    return panel


def _risk_contributions(panel: pd.DataFrame, w: pd.Series, periods: float) -> tuple[pd.Series, pd.Series]:
    """Annualised marginal risk ``(Σw)_i / σ_p`` and component risk ``w_i (Σw)_i / σ_p`` (NaN when σ_p = 0)."""
    x = panel.to_numpy(dtype=np.float64)
    centred = x - x.mean(axis=0)
    cov = centred.T @ centred / (x.shape[0] - 1) * periods
    wv = w.to_numpy(dtype=np.float64)
    sigma_w = cov @ wv
    variance = float(wv @ sigma_w)
    sigma_p = math.sqrt(variance) if variance > 0 else 0.0
    marginal = sigma_w / sigma_p if sigma_p > 0 else np.full(wv.shape, np.nan)
    return (
        pd.Series(marginal, index=w.index, name="marginal_risk"),
        pd.Series(wv * marginal, index=w.index, name="component_risk"),
    )


def _beta(portfolio: pd.Series, benchmark: Any) -> float:
    """``cov(r_p, r_b) / var(r_b)`` on the dates both have (NaN dropped); NaN when the benchmark is constant."""
    b = _float_series(benchmark, "benchmark")
    both = pd.concat([portfolio.rename("p"), b.rename("b")], axis=1, join="inner").dropna()
    if len(both) < 2:
        raise ConfigError(
            f"benchmark shares {len(both)} date(s) with the portfolio returns; beta needs at least 2 common dates "
            "(are both indexed by the same dates?)"
        )
    rp = both["p"].to_numpy(dtype=np.float64)
    rb = both["b"].to_numpy(dtype=np.float64)
    rb_c = rb - rb.mean()
    var_b = float(rb_c @ rb_c)
    if var_b == 0.0 or rb.max() == rb.min():
        return math.nan
    return float((rp - rp.mean()) @ rb_c) / var_b


def _concentration(w: pd.Series | None) -> tuple[float, float, float, str | None]:
    """Gross leverage Σ|w|, Herfindahl Σ(|w_i|/Σ|w|)², largest |w| and its symbol (first in the weights' order)."""
    if w is None:
        return math.nan, math.nan, math.nan, None
    a = np.abs(w.to_numpy(dtype=np.float64))
    gross = float(a.sum())
    herfindahl = float(np.sum((a / gross) ** 2)) if gross > 0 else math.nan
    i = int(np.argmax(a))
    return gross, herfindahl, float(a[i]), str(w.index[i])


def _portfolio_returns(returns: Any, w: pd.Series | None) -> tuple[pd.Series, pd.DataFrame | None]:
    """The portfolio's return Series and, when ``returns`` are asset returns, their NaN-free panel."""
    if isinstance(returns, pd.DataFrame) and not (returns.shape[1] == 1 and w is None):
        if w is None:
            raise ConfigError(
                f"returns is a DataFrame of {returns.shape[1]} assets: pass weights to form the portfolio's returns "
                "(Σ w_i r_i), or pass the portfolio's return Series"
            )
        panel = _asset_panel(returns, w.index)
        values = panel.to_numpy(dtype=np.float64) @ w.to_numpy(dtype=np.float64)
        return pd.Series(values, index=panel.index, name="portfolio"), panel
    return _float_series(returns, "returns"), None


def _as_of(index: pd.Index) -> dt.date | None:
    if isinstance(index, pd.DatetimeIndex) and len(index):
        return index[-1].date()
    return None


def compute_risk_metrics(
    returns: pd.Series | pd.DataFrame,
    equity_curve: pd.Series | None = None,
    *,
    weights: pd.Series | None = None,
    asset_returns: pd.DataFrame | None = None,
    benchmark: pd.Series | None = None,
    var_method: str = "historical",
    periods: int = 252,
) -> RiskMetrics:
    """Risk metrics of a portfolio (what ``PortfolioManager.get_risk_metrics`` returns).

    Parameters
    ----------
    returns
        The portfolio's simple returns per period (a Series indexed by date; NaN dropped, ≥ 2 left). A DataFrame is
        taken as ASSET returns (dates × symbols) and needs ``weights``: the portfolio return is then
        ``r_p[t] = Σ_i w_i·r_i[t]`` (constant weights, rebalanced each period) on the dates where every weighted
        symbol has a return; it also serves as ``asset_returns`` when that is not given. (A one-column DataFrame
        without weights is read as the portfolio series.)
    equity_curve
        Account value per date. When given, ``max_drawdown`` and ``current_drawdown`` come from it
        (:func:`drawdowns_from_equity`: ``1 − E[t] / max_{s≤t} E[s]``); otherwise from the compounded returns
        ``W[t] = Π_{s≤t}(1 + r[s])`` with the start as a peak (:func:`ravenshire.research.metrics.drawdown_series`).
    weights
        Current weights per symbol, signed fractions of equity. They give ``current_leverage = Σ|w|`` (gross),
        ``herfindahl = Σ(|w_i| / Σ|w_j|)²`` (of the NORMALISED absolute weights, in [1/N, 1]; NaN when all are 0)
        and ``largest_weight = max|w_i|`` (NOT normalised, a fraction of equity) with its symbol
        ``largest_position`` (the first one in the weights' order on a tie). Without weights those are NaN / None:
        unknown, not zero.
    asset_returns
        Asset returns, dates × symbols. Restricted to the weights' symbols (all must be columns; extra columns are
        ignored) and to the dates where all of them have a return (listwise, so the covariance is positive
        semi-definite). Gives ``correlation`` (Pearson) and, with weights, the annualised covariance
        ``Σ = cov(ddof=1)·periods``, ``σ_p = √(wᵀΣw)``, ``marginal_risk_i = ∂σ_p/∂w_i = (Σw)_i / σ_p`` and
        ``component_risk_i = w_i·(Σw)_i / σ_p``, which sum to ``σ_p`` (Euler). ``σ_p`` equals ``volatility`` when
        ``returns`` are these asset returns times these weights. NaN when ``σ_p == 0``.
    benchmark
        Benchmark returns: ``beta = cov(r_p, r_b) / var(r_b)`` on the dates both have (NaN without a benchmark or
        when it is constant; equal to ``empyrical.beta``).
    var_method
        ``historical``, ``parametric`` or ``cornish_fisher`` (see :func:`value_at_risk`) for ``var_95``,
        ``var_99`` and ``cvar_95`` (:func:`conditional_value_at_risk`).
    periods
        Periods per year: ``volatility = std(r_p, ddof=1)·√periods``.

    ``n_obs`` is the number of portfolio returns used; ``as_of`` the last of their dates (None without a
    DatetimeIndex). Raises :class:`ConfigError` for empty or too short input, an unknown method, bad periods,
    non-finite weights, weighted symbols missing from the asset returns or a benchmark without common dates.
    """
    method = _check_method(var_method)
    p = _check_periods(periods)
    w = _check_weights(weights) if weights is not None else None
    portfolio, panel = _portfolio_returns(returns, w)
    r = _returns_array(portfolio)
    if asset_returns is not None:
        panel = _asset_panel(asset_returns, None if w is None else w.index)

    if equity_curve is not None:
        dd = drawdowns_from_equity(equity_curve).to_numpy()
    else:
        dd = np.asarray(metrics.drawdown_series(r), dtype=np.float64)

    empty = pd.Series(dtype=np.float64)
    marginal, component = empty.rename("marginal_risk"), empty.rename("component_risk")
    correlation = pd.DataFrame(dtype=np.float64)
    if panel is not None:
        correlation = panel.corr(method="pearson")
        if w is not None:
            marginal, component = _risk_contributions(panel, w, p)

    gross, herfindahl, largest, largest_symbol = _concentration(w)
    return RiskMetrics(
        var_95=value_at_risk(r, 0.95, method),
        var_99=value_at_risk(r, 0.99, method),
        cvar_95=conditional_value_at_risk(r, 0.95, method),
        max_drawdown=float(dd.max()),
        current_drawdown=float(dd[-1]),
        current_leverage=gross,
        volatility=float(metrics.annual_volatility(r, p)),
        beta=_beta(portfolio, benchmark) if benchmark is not None else math.nan,
        herfindahl=herfindahl,
        largest_weight=largest,
        largest_position=largest_symbol,
        correlation=correlation,
        marginal_risk=marginal,
        component_risk=component,
        var_method=method,
        n_obs=int(r.size),
        as_of=_as_of(portfolio.index),
    )

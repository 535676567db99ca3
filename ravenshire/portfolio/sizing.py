"""Position sizing: how large each position should be, and how target weights become whole shares.

Three ways to size, each a pure function, and :class:`PositionSizer`, which holds their parameters and converts
weights into shares (:meth:`PositionSizer.to_shares`).

Conventions
-----------
- Weights are SIGNED FRACTIONS OF EQUITY (short < 0); ``1 − Σ_i w_i`` is cash; gross leverage is ``Σ_i |w_i|``.
- Units of time: means, variances / covariances, the risk-free rate and volatility targets must all be given for
  the SAME period (all daily, or all annualised with 252 periods a year). Kelly fractions do not depend on which
  period is used as long as it is the same one (mean and variance both scale linearly with time); mixing an annual
  mean with a daily variance is off by a factor of 252. A volatility target is in the units of the covariance
  (annual covariance → annual volatility).
- Shares: long positions are rounded DOWN to whole lots, short positions TOWARD ZERO (never more exposure than
  asked, except that the optional greedy pass of :meth:`PositionSizer.to_shares` may put a long up to one lot
  above its target), and the net cost ``Σ_i shares_i · price_i`` never exceeds the cash available (short-sale
  proceeds count as cash, as in a broker's cash balance; margin requirements are the risk limits' business).
- Every bad input raises :class:`~ravenshire.errors.ConfigError` naming the symbol or the parameter and what is
  allowed; a request no position can satisfy (a singular covariance, weights without risk) raises
  :class:`~ravenshire.errors.InfeasibleError`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy import linalg

from ravenshire.errors import ConfigError, InfeasibleError

__all__ = [
    "FRACTIONAL_STEP",
    "PositionSizer",
    "SharesAllocation",
    "fixed_fractional",
    "kelly_fraction",
    "portfolio_volatility",
    "volatility_target",
    "volatility_target_per_asset",
]

FloatArray = npt.NDArray[np.float64]

#: With ``allow_fractional=True`` shares are multiples of this quantity (one millionth of a share).
FRACTIONAL_STEP = 1e-6
#: A lot count within this distance below a whole number is taken as that number, so that ``0.3 · 1000 / 30``
#: (999.9999999… in floating point) buys 10 lots of 1 and not 9 — the cash check still applies afterwards.
_SNAP = 1e-9


# ------------------------------------------------------------------------------------------------ validation


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    return float(value)


def _finite(name: str, value: Any) -> float:
    x = _number(name, value)
    if not math.isfinite(x):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return x


def _positive(name: str, value: Any, *, allow_inf: bool = False) -> float:
    x = _number(name, value)
    if not (x > 0 and (allow_inf or math.isfinite(x))):
        allowed = "a number > 0 (inf for no limit)" if allow_inf else "a finite number > 0"
        raise ConfigError(f"{name} must be {allowed}, got {value!r}")
    return x


def _non_negative(name: str, value: Any) -> float:
    x = _finite(name, value)
    if x < 0:
        raise ConfigError(f"{name} must be >= 0, got {value!r}")
    return x


def _unit_interval(name: str, value: Any) -> float:
    x = _number(name, value)
    if not 0 < x <= 1:
        raise ConfigError(f"{name} must be in (0, 1] (a fraction, 0.01 = 1 %), got {value!r}")
    return x


def _optional_positive(name: str, value: Any) -> float | None:
    return None if value is None else _positive(name, value, allow_inf=True)


def _float_series(values: Any, name: str) -> pd.Series:
    """A finite float Series indexed by unique symbols (a Mapping is accepted)."""
    if isinstance(values, Mapping) and not isinstance(values, pd.Series):
        values = pd.Series(dict(values), dtype=np.float64)
    if not isinstance(values, pd.Series):
        raise ConfigError(f"{name} must be a pandas Series indexed by symbol, got {type(values).__name__}")
    if not values.index.is_unique:
        dup = sorted({str(s) for s in values.index[values.index.duplicated()]})
        raise ConfigError(f"{name} list {', '.join(dup)} more than once; give one value per symbol")
    try:
        series = values.astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric: {exc}") from exc
    bad = series.index[~np.isfinite(series.to_numpy())]
    if len(bad):
        raise ConfigError(f"{name} of {', '.join(map(str, bad))} are NaN or infinite; give 0 for a symbol not held")
    return series


def _weights(weights: Any, name: str = "weights") -> pd.Series:
    w = _float_series(weights, name)
    if w.empty:
        raise ConfigError(f"{name} are empty; pass one value per symbol")
    return w


def _covariance(covariance: Any, symbols: pd.Index, name: str = "covariance") -> FloatArray:
    """``covariance`` as an (n, n) float array in the order of ``symbols``.

    A DataFrame is aligned by label (both axes); a 2-D array must already be in that order; a Series (or 1-D array)
    of variances is read as a diagonal covariance (uncorrelated assets).
    """
    n = len(symbols)
    if isinstance(covariance, pd.DataFrame):
        missing = [str(s) for s in symbols if s not in covariance.index or s not in covariance.columns]
        if missing:
            raise ConfigError(f"{name} has no row/column for {', '.join(missing)}; estimate it for every symbol")
        covariance = covariance.loc[symbols, symbols]
    elif isinstance(covariance, pd.Series):
        missing = [str(s) for s in symbols if s not in covariance.index]
        if missing:
            raise ConfigError(f"{name} has no variance for {', '.join(missing)}")
        covariance = np.diag(covariance.loc[symbols].to_numpy(dtype=np.float64))
    try:
        cov = np.asarray(covariance, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name} must be numeric: {exc}") from exc
    if cov.ndim == 1:
        cov = np.diag(cov)
    if cov.shape != (n, n):
        raise ConfigError(f"{name} must be {n}×{n} (one row and column per symbol), got shape {cov.shape}")
    if not np.isfinite(cov).all():
        raise ConfigError(f"{name} contains NaN or infinite values; estimate it from enough data or shrink it")
    scale = float(np.max(np.abs(cov))) if cov.size else 0.0
    if not np.allclose(cov, cov.T, rtol=1e-8, atol=1e-12 * max(scale, 1e-300)):
        raise ConfigError(f"{name} is not symmetric; pass a covariance matrix (Σ = Σᵀ)")
    return cov


# ------------------------------------------------------------------------------------------------ sizing rules


def _cap_kelly(f: FloatArray, cap: float, max_gross: float | None) -> FloatArray:
    f = np.clip(f, -cap, cap)
    gross = float(np.sum(np.abs(f)))
    if max_gross is not None and gross > max_gross:
        f = f * (max_gross / gross)
    return f


def kelly_fraction(
    mean: float | pd.Series,
    variance_or_cov: float | pd.Series | pd.DataFrame | npt.ArrayLike,
    *,
    risk_free: float = 0.0,
    fraction: float = 0.5,
    cap: float = 1.0,
    max_gross: float | None = None,
) -> float | pd.Series:
    """Fractional Kelly leverage: the fraction of equity to hold in each asset.

    Continuous-time (log-optimal) Kelly criterion, before scaling and caps:

    - one asset: ``f* = (μ − r) / σ²`` (``mean`` a number, ``variance_or_cov`` its variance σ²);
    - several assets: ``f* = Σ⁻¹ (μ − r)`` (``mean`` a Series by symbol, ``variance_or_cov`` the covariance
      Σ as a DataFrame aligned by label or an array in the Series' order; a Series of variances means a diagonal Σ).
      Σ⁻¹ is never formed: the system ``Σ f = μ − r`` is solved through a Cholesky factorisation, which also checks
      that Σ is positive definite.

    Then ``f = clip(fraction · f*, −cap, cap)`` asset by asset (``cap`` is a PER-ASSET limit on ``|f_i|``), and if
    ``max_gross`` is given and ``Σ|f_i| > max_gross`` the whole vector is scaled down to that gross leverage (a
    uniform scaling keeps the mix of the Kelly portfolio; the per-asset clip does not — with correlated assets a
    clipped vector is a risk limit, not a Kelly portfolio).

    ``μ`` is the arithmetic mean of simple returns, ``r`` (``risk_free``) the cash rate, σ² / Σ the variance /
    covariance of those returns, ALL FOR THE SAME PERIOD (the result is then the same for any period). The
    formula is the continuous-time approximation (returns small per period); half-Kelly (``fraction=0.5``, the
    default) keeps most of the growth with a fraction of the drawdowns and is robust to an over-estimated μ.

    Example: μ = 0.10, σ = 0.20, r = 0 → f* = 2.5; half-Kelly 1.25; with ``cap=1.0`` (the default) 1.0.

    Raises:
        ConfigError: a non-finite mean or covariance, a variance ≤ 0, fraction outside (0, 1], cap ≤ 0,
            a covariance that does not match the symbols.
        InfeasibleError: a covariance that is not positive definite (singular: shrink it first).
    """
    fraction = _unit_interval("fraction", fraction)
    cap = _positive("cap", cap, allow_inf=True)
    max_gross = _optional_positive("max_gross", max_gross)
    r = _finite("risk_free", risk_free)
    if isinstance(mean, pd.Series):
        mu = _weights(mean, "mean")
        cov = _covariance(variance_or_cov, mu.index)
        try:
            factor = linalg.cho_factor(cov, lower=True, check_finite=False)
        except linalg.LinAlgError as exc:
            raise InfeasibleError(
                "the covariance is not positive definite (singular or nearly so), so the Kelly system Σ f = μ − r "
                "has no unique solution; use a shrinkage estimator or drop redundant assets"
            ) from exc
        full = linalg.cho_solve(factor, mu.to_numpy() - r, check_finite=False)
        return pd.Series(_cap_kelly(fraction * full, cap, max_gross), index=mu.index, name="kelly")
    mu_1 = _finite("mean", mean)
    var = variance_or_cov
    if isinstance(var, bool) or not isinstance(var, int | float | np.integer | np.floating) or not 0 < var < math.inf:
        raise ConfigError(
            f"the variance of a single asset must be a finite number > 0, got {variance_or_cov!r} "
            "(pass the mean as a Series to size several assets with a covariance)"
        )
    return float(_cap_kelly(np.array([fraction * (mu_1 - r) / float(var)]), cap, max_gross)[0])


def portfolio_volatility(weights: pd.Series, covariance: pd.DataFrame | npt.ArrayLike) -> float:
    """Ex-ante volatility ``σ_p = √(wᵀ Σ w)`` in the units of ``covariance`` (annual Σ → annual volatility).

    Symbols with a zero weight need no row in ``covariance``.

    Raises:
        ConfigError: bad weights, a covariance missing a held symbol, or ``wᵀ Σ w < 0`` (Σ not a covariance).
    """
    w = _weights(weights)
    held = w[w != 0]
    if held.empty:
        return 0.0
    cov = _covariance(covariance, held.index)
    x = held.to_numpy()
    variance = float(x @ cov @ x)
    if variance < -1e-12 * float(np.max(np.abs(cov))):
        raise ConfigError(f"wᵀΣw = {variance:.3g} < 0: the covariance is not positive semi-definite")
    return math.sqrt(max(variance, 0.0))


def _scale_to_target(w: pd.Series, vol: float, target_vol: float, max_leverage: float) -> pd.Series:
    gross = float(np.sum(np.abs(w.to_numpy())))
    if vol <= 0 or gross == 0:
        raise InfeasibleError(
            "the weights have zero ex-ante volatility, so no scaling can reach a volatility target; "
            "pass weights with risk (at least one non-zero weight on an asset with a variance > 0)"
        )
    k = min(target_vol / vol, max_leverage / gross)
    return w * k


def volatility_target(
    weights: pd.Series,
    covariance: pd.DataFrame | npt.ArrayLike,
    target_vol: float,
    *,
    max_leverage: float = 1.0,
) -> pd.Series:
    """Scale ``weights`` (all by one factor) so that their ex-ante volatility is ``target_vol``.

    ``k = min(target_vol / √(wᵀ Σ w), max_leverage / Σ|w_i|)`` and the result is ``k · w``: exactly on target
    unless that would need a gross leverage above ``max_leverage``, in which case the gross leverage is exactly
    ``max_leverage`` and the volatility is below target (check it with :func:`portfolio_volatility`). The scaling
    goes up as well as down. ``target_vol`` is in the units of ``covariance`` (annualised Σ → annual target).

    Raises:
        ConfigError: bad weights or covariance, ``target_vol`` or ``max_leverage`` not > 0.
        InfeasibleError: weights without risk (all zero, or on zero-variance assets only).
    """
    target_vol = _positive("target_vol", target_vol)
    max_leverage = _positive("max_leverage", max_leverage, allow_inf=True)
    w = _weights(weights)
    return _scale_to_target(w, portfolio_volatility(w, covariance), target_vol, max_leverage)


def volatility_target_per_asset(volatilities: pd.Series, target_vol: float, *, max_leverage: float = 1.0) -> pd.Series:
    """Single-asset volatility targeting: ``w_i = target_vol / (σ_i · N)`` for N assets (long weights).

    Each asset on its own contributes ``target_vol / N`` of volatility (correlations are ignored, so the portfolio
    volatility is at most ``target_vol``). If the gross ``Σ w_i`` exceeds ``max_leverage`` all weights are scaled
    down to it. Multiply by a signal's sign for shorts. ``σ_i`` and ``target_vol`` in the same units.

    Raises:
        ConfigError: a volatility ≤ 0 or not finite (names the symbol), ``target_vol`` or ``max_leverage`` not > 0.
    """
    target_vol = _positive("target_vol", target_vol)
    max_leverage = _positive("max_leverage", max_leverage, allow_inf=True)
    vols = _weights(volatilities, "volatilities")
    bad = vols.index[vols.to_numpy() <= 0]
    if len(bad):
        raise ConfigError(f"volatilities of {', '.join(map(str, bad))} are <= 0; each must be > 0")
    w = target_vol / (vols * len(vols))
    gross = float(w.sum())
    return (w * min(1.0, max_leverage / gross)).rename("weight")


def fixed_fractional(
    equity: float,
    risk_fraction: float,
    stop_distance: float | pd.Series,
    *,
    max_weight: float | None = None,
) -> float | pd.Series:
    """Position value that loses ``risk_fraction`` of equity if the stop is hit.

    ``value = equity · risk_fraction / stop_distance``, with ``stop_distance`` the distance from the entry price to
    the stop as a fraction of the price (0.05 = a stop 5 % below a long's entry, or above a short's). Example:
    equity 100 000, risk 1 %, stop 5 % → 20 000 (a 5 % fall loses 1 000 = 1 % of equity). Gaps through the stop
    and trading costs are not included. A close stop makes a large position: with ``max_weight`` the value is
    capped at ``max_weight · equity``. A Series of stop distances gives a Series of values (one per symbol).
    The value is unsigned (currency); the direction comes from the signal.

    Raises:
        ConfigError: equity not > 0, ``risk_fraction`` or a stop distance outside (0, 1], ``max_weight`` not > 0.
    """
    equity = _positive("equity", equity)
    risk_fraction = _unit_interval("risk_fraction", risk_fraction)
    max_weight = _optional_positive("max_weight", max_weight)
    limit = math.inf if max_weight is None else max_weight * equity
    if isinstance(stop_distance, pd.Series):
        stops = _weights(stop_distance, "stop_distance")
        bad = stops.index[(stops.to_numpy() <= 0) | (stops.to_numpy() > 1)]
        if len(bad):
            raise ConfigError(f"stop_distance of {', '.join(map(str, bad))} must be in (0, 1] (0.05 = 5 % of price)")
        return (equity * risk_fraction / stops).clip(upper=limit).rename("value")
    stop = _unit_interval("stop_distance", stop_distance)
    return min(equity * risk_fraction / stop, limit)


# ------------------------------------------------------------------------------------------------ shares


@dataclass(frozen=True, kw_only=True, eq=False)
class SharesAllocation:
    """Whole shares for target weights (what :meth:`PositionSizer.to_shares` returns).

    All Series share the weights' index. ``shares`` are int64 (float multiples of :data:`FRACTIONAL_STEP` with
    ``allow_fractional``); ``values = shares · price`` (signed currency, 0 for a symbol without a position);
    ``weights = values / equity`` (achieved); ``leftover_cash = cash − Σ values`` (≥ 0 by construction);
    ``tracking_error = Σ_i |weights_i − target_weights_i|`` (fractions of equity); ``long_scale`` is the factor the
    long targets were scaled by to fit the cash (1.0 when they fitted). Equality is identity.
    """

    shares: pd.Series
    values: pd.Series
    weights: pd.Series
    target_weights: pd.Series
    equity: float
    cash: float
    leftover_cash: float
    tracking_error: float
    long_scale: float

    @property
    def invested(self) -> float:
        """Net value of the positions, ``Σ values`` (short positions count negative)."""
        return float(self.cash - self.leftover_cash)

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values; Series → dicts keyed by symbol."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, pd.Series):
                value = {str(k): v.item() if isinstance(v, np.generic) else v for k, v in value.items()}
            out[f.name] = value
        return out


def _lots(lot_size: int | Mapping[str, int], symbols: pd.Index, allow_fractional: bool) -> FloatArray:
    """Lot size of each symbol in shares (a Mapping may leave symbols out: their lot is 1)."""
    if allow_fractional:
        if not (isinstance(lot_size, int | np.integer) and not isinstance(lot_size, bool) and lot_size == 1):
            raise ConfigError(
                f"lot_size must be 1 with allow_fractional=True (shares are not in lots), got {lot_size!r}"
            )
        return np.full(len(symbols), FRACTIONAL_STEP)
    sizes = [lot_size.get(s, 1) for s in symbols] if isinstance(lot_size, Mapping) else [lot_size] * len(symbols)
    for s, size in zip(symbols, sizes, strict=True):
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ConfigError(f"lot size of {s} must be a whole number of shares >= 1, got {size!r}")
    return np.asarray(sizes, dtype=np.float64)


def _prices(
    prices: Any, symbols: pd.Index, needed: npt.NDArray[np.bool_], why: str = "a non-zero weight"
) -> FloatArray:
    """Prices in the order of ``symbols``; NaN where not ``needed``. A needed price must be finite and > 0."""
    if isinstance(prices, Mapping) and not isinstance(prices, pd.Series):
        prices = pd.Series(dict(prices), dtype=np.float64)
    if not isinstance(prices, pd.Series):
        raise ConfigError(f"prices must be a pandas Series indexed by symbol, got {type(prices).__name__}")
    if not prices.index.is_unique:
        dup = sorted({str(s) for s in prices.index[prices.index.duplicated()]})
        raise ConfigError(f"prices list {', '.join(dup)} more than once; give one price per symbol")
    try:
        p = prices.reindex(symbols).astype(np.float64).to_numpy()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"prices must be numeric: {exc}") from exc
    bad = needed & ~(np.isfinite(p) & (p > 0))
    if bad.any():
        detail = ", ".join(
            f"{s} ({float(prices[s])!r})" if s in prices.index else f"{s} (missing)" for s in symbols[bad]
        )
        raise ConfigError(f"no usable price for {detail}: a symbol with {why} needs a finite price > 0")
    return np.where(needed, p, np.nan)


def _toward_zero(x: FloatArray) -> FloatArray:
    """Whole numbers toward zero, a value within :data:`_SNAP` below a whole number taken as that number."""
    return np.trunc(x + np.sign(x) * _SNAP)


def _shares(n: FloatArray, lots: FloatArray) -> FloatArray:
    """Shares from lot counts, rounded to 6 decimals (exact for whole lots; removes float noise from fractions)."""
    return np.round(n * lots, 6)


def _net_cost(n: FloatArray, lots: FloatArray, p: FloatArray) -> float:
    """``Σ shares · price`` exactly as the result reports it."""
    return float(np.sum(_values(_shares(n, lots), p)))


def _values(shares: FloatArray, p: FloatArray) -> FloatArray:
    return np.where(shares == 0, 0.0, shares * np.nan_to_num(p))


def _fit_cash(
    n: FloatArray, target: FloatArray, lots: FloatArray, p: FloatArray, cash: float
) -> tuple[FloatArray, FloatArray, float]:
    """Lot counts whose net cost fits in ``cash``: long targets scaled down by one factor, then trimmed.

    Returns the lot counts, the (possibly scaled) targets and the scale factor of the longs.
    """
    if _net_cost(n, lots, p) <= cash:
        return n, target, 1.0
    unit = lots * np.nan_to_num(p, nan=1.0)
    long = target > 0
    short_proceeds = -float(np.sum(_values(_shares(np.minimum(n, 0), lots), p)))
    scale = min(1.0, max(0.0, (cash + short_proceeds) / float(np.sum(target[long]))))
    target = np.where(long, target * scale, target)
    n = np.where(long, np.floor(target / unit), n)
    # Floating-point rounding can still leave the cost a hair above the cash: take one lot off the largest longs.
    for i in np.argsort(-np.where(long, target, -np.inf), kind="stable"):
        if _net_cost(n, lots, p) <= cash or not long[i]:
            break
        n[i] = max(n[i] - 1.0, 0.0)
    if _net_cost(n, lots, p) > cash:  # pragma: no cover - only after N float misfits; shorts alone cost <= 0
        n = np.where(long, 0.0, n)
    return n, target, scale


def _fill_leftover(
    n: FloatArray, target: FloatArray, lots: FloatArray, p: FloatArray, cash: float, cap: FloatArray | None = None
) -> FloatArray:
    """Nearest-lot pass: one more lot for the longs whose floor left them at least half a lot below target, while
    the cash allows — so each long ends at the lot nearest its target, never more than half a lot above it.

    Candidates are the longs in decreasing order of their shortfall in lots, ``target / lot value − lots held``
    (∈ [0, 1)); a long gets one more lot only if its shortfall is ≥ ½ (a lot bought for a smaller shortfall would
    move the cash to a weight the target never asked for), the lot fits in the leftover cash, and its new value
    stays within ``cap`` (per-asset value caps, e.g. a position limit × equity). A Python loop bounded by the
    number of assets — the only one in the sizing.
    """
    unit = lots * np.nan_to_num(p, nan=1.0)
    long = target > 0
    shortfall = np.where(long, target / unit - n, 0.0)
    n = n.copy()
    for i in np.argsort(-shortfall, kind="stable"):
        if shortfall[i] < 0.5:
            break
        if cap is not None and (n[i] + 1.0) * unit[i] > cap[i] * (1.0 + 1e-12):
            continue
        n[i] += 1.0
        if _net_cost(n, lots, p) > cash:
            n[i] -= 1.0
    return n


class PositionSizer:
    """Sizing rules with their parameters, and the conversion of weights into whole shares.

    Parameters (stored as given; validated on use, so a bad one raises :class:`~ravenshire.errors.ConfigError`
    when the rule needing it is called):

    - ``fraction``, ``cap``, ``max_gross``: of :func:`kelly_fraction` (half-Kelly, ``|f_i| ≤ 1``, no gross cap);
    - ``target_vol``, ``max_leverage``: of :func:`volatility_target` (no default target: pass one here or per call);
    - ``risk_fraction``, ``max_weight``: of :func:`fixed_fractional` (1 % of equity at risk per position).
    """

    def __init__(
        self,
        *,
        fraction: float = 0.5,
        cap: float = 1.0,
        max_gross: float | None = None,
        target_vol: float | None = None,
        max_leverage: float = 1.0,
        risk_fraction: float = 0.01,
        max_weight: float | None = None,
    ) -> None:
        self.fraction = fraction
        self.cap = cap
        self.max_gross = max_gross
        self.target_vol = target_vol
        self.max_leverage = max_leverage
        self.risk_fraction = risk_fraction
        self.max_weight = max_weight

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"PositionSizer({params})"

    def kelly(
        self,
        mean: float | pd.Series,
        variance_or_cov: float | pd.Series | pd.DataFrame | npt.ArrayLike,
        *,
        risk_free: float = 0.0,
    ) -> float | pd.Series:
        """:func:`kelly_fraction` with this sizer's ``fraction``, ``cap`` and ``max_gross``."""
        return kelly_fraction(
            mean, variance_or_cov, risk_free=risk_free, fraction=self.fraction, cap=self.cap, max_gross=self.max_gross
        )

    def volatility_target(
        self, weights: pd.Series, covariance: pd.DataFrame | npt.ArrayLike, target_vol: float | None = None
    ) -> pd.Series:
        """:func:`volatility_target` with this sizer's ``max_leverage`` (and ``target_vol`` unless given)."""
        target = self.target_vol if target_vol is None else target_vol
        if target is None:
            raise ConfigError("no volatility target: pass target_vol here or to PositionSizer(target_vol=...)")
        return volatility_target(weights, covariance, target, max_leverage=self.max_leverage)

    def fixed_fractional(self, equity: float, stop_distance: float | pd.Series) -> float | pd.Series:
        """:func:`fixed_fractional` with this sizer's ``risk_fraction`` and ``max_weight``."""
        return fixed_fractional(equity, self.risk_fraction, stop_distance, max_weight=self.max_weight)

    def to_shares(
        self,
        weights: pd.Series | Mapping[str, float],
        equity: float,
        prices: pd.Series | Mapping[str, float],
        *,
        cash: float | None = None,
        lot_size: int | Mapping[str, int] = 1,
        allow_fractional: bool = False,
        fill_leftover: bool = True,
        max_weight: float | None = None,
    ) -> SharesAllocation:
        """Convert target weights into whole shares that the cash can pay for.

        1. Target value ``v_i = w_i · equity``; lots ``n_i = v_i / (lot_i · price_i)`` rounded toward zero (down for
           longs, up toward zero for shorts). Vectorised.
        2. If the net cost ``Σ_i n_i · lot_i · price_i`` exceeds ``cash`` (default ``equity``; short-sale proceeds
           count), every long target is scaled by one factor ``k = (cash + short proceeds) / Σ_longs v_i`` and
           rounded down again (``long_scale = k``); shorts are kept. Vectorised (plus, at most, a lot taken off the
           largest longs when floating-point rounding leaves the cost a hair above the cash).
        3. ``fill_leftover`` (default): a nearest-lot pass adds one lot to the longs the floor left at least half a
           lot below target, while it fits in the leftover cash and keeps the position within ``max_weight`` of
           equity (when given; see :func:`_fill_leftover`); a loop bounded by the number of assets. Shorts are never
           extended.

        Guarantees: ``leftover_cash = cash − Σ values ≥ 0``; every position is a whole number of lots with the sign
        of its weight (or zero); without ``fill_leftover`` no ``|value_i|`` exceeds ``|v_i|``, with it a long
        exceeds its target by at most half a lot, and never ``max_weight · equity``. ``lot_size`` is one number or
        a mapping symbol → lot (missing symbols: 1). With ``allow_fractional`` shares are multiples of
        :data:`FRACTIONAL_STEP` and ``lot_size`` must be 1.

        Raises:
            ConfigError: weights NaN/infinite/duplicated/empty, equity not > 0, cash < 0, a missing or non-positive
                price for a symbol with a non-zero weight (named), a lot size < 1 or not a whole number.
        """
        w = _weights(weights)
        equity = _positive("equity", equity)
        cash = equity if cash is None else _non_negative("cash", cash)
        p = _prices(prices, w.index, w.to_numpy() != 0)
        lots = _lots(lot_size, w.index, allow_fractional)
        target = w.to_numpy() * equity
        unit = lots * np.nan_to_num(p, nan=1.0)
        n = np.where(target != 0, _toward_zero(target / unit), 0.0)
        n, target, scale = _fit_cash(n, target, lots, p, cash)
        if fill_leftover and not allow_fractional:
            cap = None if max_weight is None else np.full(len(n), _non_negative("max_weight", max_weight) * equity)
            n = _fill_leftover(n, target, lots, p, cash, cap)
        return _allocation(w, n, lots, p, equity, cash, scale, allow_fractional)


def _allocation(
    w: pd.Series,
    n: FloatArray,
    lots: FloatArray,
    p: FloatArray,
    equity: float,
    cash: float,
    scale: float,
    allow_fractional: bool,
) -> SharesAllocation:
    shares_f = _shares(n, lots)
    values = _values(shares_f, p)
    shares = (
        pd.Series(shares_f, index=w.index, name="shares")
        if allow_fractional
        else pd.Series(shares_f.astype(np.int64), index=w.index, name="shares")
    )
    achieved = values / equity
    return SharesAllocation(
        shares=shares,
        values=pd.Series(values, index=w.index, name="value"),
        weights=pd.Series(achieved, index=w.index, name="weight"),
        target_weights=w.rename("target_weight"),
        equity=equity,
        cash=cash,
        leftover_cash=cash - float(np.sum(values)),
        tracking_error=float(np.sum(np.abs(achieved - w.to_numpy()))),
        long_scale=scale,
    )

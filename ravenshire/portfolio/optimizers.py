"""Portfolio optimizers: mean-variance, minimum variance, maximum Sharpe, risk parity, hierarchical risk parity,
equal weight and inverse volatility, under long-only or long/short weight bounds, a gross-leverage cap and a
turnover limit.

Conventions (repeated with the formula in each docstring)
-----------------------------------------------------------
- ``Σ`` is an ANNUALISED covariance (:func:`~ravenshire.portfolio.covariance.estimate_covariance`, Ledoit-Wolf by
  default) and ``μ`` ANNUALISED ARITHMETIC expected returns
  (:func:`~ravenshire.portfolio.expected_returns.estimate_expected_returns`, or the caller's own Series, e.g. the
  Analyst's signals). ``risk_free`` is an annual rate in the same units: excess returns are ``μ − r_f``.
- Weights are signed fractions of equity (short < 0) summing to ``budget`` (1 by default); gross leverage is
  ``Σ|w|`` and turnover ``Σ|w − w_current|`` (a full switch between two long-only portfolios has turnover 2).
- Diagnostics of every result: ``expected_return = μᵀw``, ``volatility = √(wᵀΣw)``,
  ``sharpe_ratio = (μ − r_f)ᵀw / √(wᵀΣw)`` (= ``(μᵀw − r_f)/σ`` when the budget is 1; cash ``1 − Σw`` earns
  ``r_f``), and ``risk_contributions_i = w_i (Σw)_i / wᵀΣw`` — each asset's fraction of the portfolio variance,
  summing to 1 (negative for a hedge).
- A request no weights can satisfy (``max_weight × assets < budget``, a NaN-only column, fewer rows than assets
  without shrinkage, constraints the solver proves infeasible) or a solve that does not converge raises
  :class:`~ravenshire.errors.InfeasibleError`; a malformed request :class:`~ravenshire.errors.ConfigError`.
  Nothing falls back to equal weights. Every weight vector returned satisfies its constraints within ``1e-6``.

Solvers: the quadratic programs (``mean_variance``, ``min_variance``, ``max_sharpe``) go to PIQP, an
interior-point QP solver, with the matrices built directly and the solution polished on its active set (see
:mod:`ravenshire.portfolio._qp`); risk parity is
Spinu's convex problem solved by Newton's method; HRP uses :mod:`scipy.cluster.hierarchy`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import leaves_list, linkage
from scipy.linalg import LinAlgError, cho_factor, cho_solve
from scipy.spatial.distance import squareform

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio._inputs import FloatArray, align_series, check_choice, check_number
from ravenshire.portfolio._qp import Limits, PrimalInfeasibleError, QPSolution, solve_portfolio_qp
from ravenshire.portfolio.covariance import COVARIANCE_METHODS, check_covariance, estimate_covariance
from ravenshire.portfolio.expected_returns import estimate_expected_returns

__all__ = [
    "METHODS",
    "Constraints",
    "PortfolioWeights",
    "optimize_weights",
    "risk_contributions",
]

#: The optimization methods :func:`optimize_weights` knows.
METHODS: tuple[str, ...] = (
    "mean_variance",
    "min_variance",
    "max_sharpe",
    "risk_parity",
    "hrp",
    "equal_weight",
    "inverse_volatility",
)
#: Methods that need expected returns (estimated from ``returns`` when not supplied).
NEEDS_EXPECTED_RETURNS: frozenset[str] = frozenset({"mean_variance", "max_sharpe"})
#: Methods that solve a QP under every constraint; the others are rules checked against the constraints.
QP_METHODS: frozenset[str] = frozenset({"mean_variance", "min_variance", "max_sharpe"})

#: Tolerance within which every returned weight vector satisfies its constraints.
CONSTRAINT_TOL = 1e-6
# Risk parity: Newton stops when every risk contribution is within this RELATIVE distance of its budget.
_RP_TOL = 1e-12
_RP_MAX_ITER = 100
# A bound check at the boundary of feasibility (sums of bounds vs the budget) allows this much rounding.
_FEAS_TOL = 1e-9


# ------------------------------------------------------------------------------------------------ constraints


def _check_bound(name: str, value: Any, *, allow_none: bool = False) -> None:
    if value is None and allow_none:
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            check_number(f"{name}[{key!r}]", item)
        return
    check_number(name, value)


def _lowest(value: float | Mapping[str, float] | None) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Mapping):
        return min((float(v) for v in value.values()), default=0.0)
    return float(value)


@dataclass(frozen=True, kw_only=True)
class Constraints:
    """What every optimized weight vector must satisfy.

    Parameters
    ----------
    long_only : bool
        ``w ≥ 0``. With ``False`` weights may be negative down to ``min_weight``.
    min_weight, max_weight : float or Mapping[symbol, float]
        Per-asset bounds ``min_i ≤ w_i ≤ max_i``; a Mapping gives some symbols their own bound and the rest the
        default. ``min_weight`` defaults to 0 (long-only) or −1 (long/short); ``max_weight`` to 1.
    max_leverage : float or None
        Gross-leverage cap ``Σ|w| ≤ max_leverage``; None: no cap beyond the bounds. With long-only weights
        ``Σ|w| = budget``, so only ``max_leverage ≥ budget`` is checked.
    budget : float
        ``Σw = budget`` (1: fully invested; 0: market neutral).
    max_turnover : float or None
        ``Σ|w − w_current| ≤ max_turnover`` (a full switch between long-only portfolios is 2); needs
        ``current_weights``. A held symbol outside the universe is sold to 0, which uses up its ``|w_current|``.
    current_weights : Series or None
        The weights held now, by symbol; a symbol of the universe not listed holds 0.

    Raises
    ------
    ConfigError
        A non-finite number, ``long_only`` with a negative ``min_weight``, ``max_leverage ≤ 0``, a negative
        ``max_turnover``, ``max_turnover`` without ``current_weights``, malformed ``current_weights``.
    """

    long_only: bool = True
    min_weight: float | Mapping[str, float] | None = None
    max_weight: float | Mapping[str, float] = 1.0
    max_leverage: float | None = None
    budget: float = 1.0
    max_turnover: float | None = None
    current_weights: pd.Series | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.long_only, bool | np.bool_):
            raise ConfigError(f"long_only must be True or False, got {self.long_only!r}")
        check_number("budget", self.budget)
        _check_bound("min_weight", self.min_weight, allow_none=True)
        _check_bound("max_weight", self.max_weight)
        if self.long_only and _lowest(self.min_weight) < 0:
            raise ConfigError(
                f"long_only=True but min_weight has a negative bound ({_lowest(self.min_weight)}): "
                "set long_only=False to allow short positions"
            )
        if self.max_leverage is not None:
            check_number("max_leverage", self.max_leverage, positive=True)
        if self.max_turnover is not None:
            check_number("max_turnover", self.max_turnover, nonnegative=True)
            if self.current_weights is None:
                raise ConfigError("max_turnover needs current_weights (the weights held now, by symbol)")
        if self.current_weights is not None:
            object.__setattr__(self, "current_weights", _check_current(self.current_weights))

    def resolve(self, symbols: list[Hashable]) -> Limits:
        """The constraints as per-asset arrays over ``symbols``, after the feasibility checks that need no solver.

        Raises
        ------
        ConfigError
            A bound Mapping names a symbol outside the universe.
        InfeasibleError
            ``min_i > max_i``; ``Σ max_i < budget`` (e.g. ``max_weight × assets < 1``); ``Σ min_i > budget``;
            ``max_leverage`` below ``|budget|`` or below the gross the bounds force; a turnover limit smaller than
            the turnover the bounds, the budget or the positions outside the universe force.
        """
        default_low = 0.0 if self.long_only else -1.0
        lower = _bound_array("min_weight", self.min_weight, symbols, default_low)
        upper = _bound_array("max_weight", self.max_weight, symbols, 1.0)
        _check_box(lower, upper, symbols, self.budget, self.max_weight)
        leverage = self.max_leverage
        if leverage is not None:
            forced = float(np.maximum(lower, 0.0).sum() + np.maximum(-upper, 0.0).sum())
            if leverage < max(abs(self.budget), forced) - _FEAS_TOL:
                raise InfeasibleError(
                    f"max_leverage {leverage:g} is below the gross exposure Σ|w| ≥ {max(abs(self.budget), forced):g} "
                    "that the budget and the weight bounds force; raise max_leverage or loosen the bounds"
                )
        current, turnover = None, None
        if self.max_turnover is not None and self.current_weights is not None:
            current, turnover = _resolve_turnover(self.current_weights, symbols, self.max_turnover)
            _check_turnover(current, turnover, lower, upper, self.budget)
        return Limits(lower, upper, float(self.budget), leverage, current, turnover)

    def violations(self, weights: pd.Series, tol: float = CONSTRAINT_TOL) -> list[str]:
        """What ``weights`` (indexed by the universe's symbols) break, one sentence each; empty if nothing."""
        symbols = list(weights.index)
        return limit_violations(weights.to_numpy(dtype=np.float64), self.resolve(symbols), symbols, tol)

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly values (Mappings as dicts, current weights as {symbol: weight})."""

        def plain(value: Any) -> Any:
            return {str(k): float(v) for k, v in value.items()} if isinstance(value, Mapping) else value

        current = self.current_weights
        return {
            "long_only": bool(self.long_only),
            "min_weight": plain(self.min_weight),
            "max_weight": plain(self.max_weight),
            "max_leverage": self.max_leverage,
            "budget": float(self.budget),
            "max_turnover": self.max_turnover,
            "current_weights": None if current is None else {str(k): float(v) for k, v in current.items()},
        }


def _check_current(values: Any) -> pd.Series:
    if not isinstance(values, pd.Series):
        raise ConfigError(f"current_weights must be a pandas Series indexed by symbol, got {type(values).__name__}")
    if not values.index.is_unique:
        raise ConfigError("current_weights list a symbol more than once; give one weight per symbol")
    try:
        out = pd.Series(values.to_numpy(dtype=np.float64, na_value=np.nan), index=values.index)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"current_weights must be numeric: {exc}") from exc
    bad = [str(s) for s, v in out.items() if not math.isfinite(v)]
    if bad:
        raise ConfigError(f"current_weights of {', '.join(bad)} are not finite; give 0 for a symbol not held")
    return out


def _bound_array(
    name: str, value: float | Mapping[str, float] | None, symbols: list[Hashable], default: float
) -> FloatArray:
    if value is None:
        return np.full(len(symbols), default)
    if not isinstance(value, Mapping):
        return np.full(len(symbols), float(value))
    universe = set(symbols)
    unknown = [str(k) for k in value if k not in universe]
    if unknown:
        raise ConfigError(f"{name} names symbol(s) outside the universe: {', '.join(unknown)}; check the spelling")
    return np.array([float(value.get(s, default)) for s in symbols], dtype=np.float64)  # type: ignore[call-overload]


def _check_box(
    lower: FloatArray, upper: FloatArray, symbols: list[Hashable], budget: float, max_weight: object
) -> None:
    crossed = [str(s) for s, lo, hi in zip(symbols, lower, upper, strict=True) if lo > hi]
    if crossed:
        raise InfeasibleError(f"min_weight > max_weight for {', '.join(crossed)}: no weight fits; fix the bounds")
    n, top, bottom = len(symbols), float(upper.sum()), float(lower.sum())
    if top < budget - _FEAS_TOL:
        how = f"max_weight {max_weight:g} × {n} assets" if isinstance(max_weight, int | float) else "Σ max_weight"
        raise InfeasibleError(
            f"infeasible: {how} = {top:g} < budget {budget:g}, so the weights cannot sum to the budget; raise "
            f"max_weight to at least {budget / n:.6g} or optimise more assets"
        )
    if bottom > budget + _FEAS_TOL:
        raise InfeasibleError(
            f"infeasible: the minimum weights sum to {bottom:g} > budget {budget:g}; lower min_weight or raise the "
            "budget"
        )


def _resolve_turnover(current: pd.Series, symbols: list[Hashable], max_turnover: float) -> tuple[FloatArray, float]:
    inside = current.index.isin(symbols)
    outside = float(np.abs(current.to_numpy()[~inside]).sum())
    if outside > max_turnover + _FEAS_TOL:
        raise InfeasibleError(
            f"max_turnover {max_turnover:g} is below the {outside:g} needed just to sell the current positions "
            "outside the universe; raise max_turnover or add those symbols to the universe"
        )
    aligned = current.reindex(symbols).fillna(0.0).to_numpy(dtype=np.float64)
    return aligned, max(max_turnover - outside, 0.0)


def _check_turnover(current: FloatArray, turnover: float, lower: FloatArray, upper: FloatArray, budget: float) -> None:
    """The least turnover any feasible w needs: into the box, then to the budget.

    With ``c = clip(w₀, lower, upper)`` and ``w`` in the box, ``|w_i − w₀_i| = |w_i − c_i| + |c_i − w₀_i|`` (``c_i``
    lies between them), so ``Σ|w − w₀| ≥ Σ|c − w₀| + |budget − Σc|``.
    """
    clipped = np.clip(current, lower, upper)
    needed = float(np.abs(clipped - current).sum()) + abs(budget - float(clipped.sum()))
    if needed > turnover + _FEAS_TOL:
        raise InfeasibleError(
            f"max_turnover leaves {turnover:g} for the universe but at least {needed:g} is needed to bring the "
            "current weights within the bounds and to the budget; raise max_turnover or loosen the bounds"
        )


def limit_violations(weights: FloatArray, limits: Limits, symbols: list[Hashable], tol: float) -> list[str]:
    """One sentence per constraint of ``limits`` that ``weights`` break by more than ``tol``."""
    out: list[str] = []
    total = float(weights.sum())
    if abs(total - limits.budget) > tol:
        out.append(f"the weights sum to {total:.9g}, not the budget {limits.budget:g}")
    low = limits.lower - weights
    if low.max() > tol:
        i = int(low.argmax())
        out.append(f"w[{symbols[i]!s}] = {weights[i]:.6g} is below its min_weight {limits.lower[i]:g}")
    high = weights - limits.upper
    if high.max() > tol:
        i = int(high.argmax())
        out.append(f"w[{symbols[i]!s}] = {weights[i]:.6g} is above its max_weight {limits.upper[i]:g}")
    gross = float(np.abs(weights).sum())
    if limits.max_leverage is not None and gross > limits.max_leverage + tol:
        out.append(f"gross leverage Σ|w| = {gross:.6g} exceeds max_leverage {limits.max_leverage:g}")
    if limits.current is not None and limits.max_turnover is not None:
        turnover = float(np.abs(weights - limits.current).sum())
        if turnover > limits.max_turnover + tol:
            out.append(
                f"turnover Σ|w − w_current| = {turnover:.6g} exceeds what max_turnover leaves for the "
                f"universe ({limits.max_turnover:g})"
            )
    return out


# ------------------------------------------------------------------------------------------------ result


@dataclass(frozen=True, kw_only=True)
class PortfolioWeights:
    """The weights an optimizer chose and its diagnostics.

    Attributes
    ----------
    weights : Series
        Signed fractions of equity by symbol, summing to the constraints' budget.
    method : str
        The optimization method.
    expected_return : float
        ``μᵀw``, annualised arithmetic; NaN when no expected returns were given or estimable.
    volatility : float
        ``√(wᵀΣw)``, annualised.
    sharpe_ratio : float
        ``(μ − r_f)ᵀw / √(wᵀΣw)``; NaN without expected returns or with zero volatility.
    risk_contributions : Series
        ``w_i (Σw)_i / wᵀΣw`` by symbol: fractions of the portfolio variance, summing to 1.
    converged : bool
        True: every result this module returns comes from a converged solve (one that does not converge raises
        :class:`~ravenshire.errors.InfeasibleError`); kept so stored results and UIs show it.
    iterations : int
        Solver iterations (interior-point or Newton steps); 0 for the closed forms.
    message : str
        What solved it and how, for the UI.
    covariance_method : str
        The covariance estimator used, or ``"supplied"``.
    risk_free : float
        The annual risk-free rate of ``sharpe_ratio``.
    """

    weights: pd.Series
    method: str
    expected_return: float
    volatility: float
    sharpe_ratio: float
    risk_contributions: pd.Series
    converged: bool
    iterations: int
    message: str
    covariance_method: str
    risk_free: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain, JSON-friendly values; the Series become {symbol: float}."""
        return {
            "weights": {str(k): float(v) for k, v in self.weights.items()},
            "method": self.method,
            "expected_return": float(self.expected_return),
            "volatility": float(self.volatility),
            "sharpe_ratio": float(self.sharpe_ratio),
            "risk_contributions": {str(k): float(v) for k, v in self.risk_contributions.items()},
            "converged": bool(self.converged),
            "iterations": int(self.iterations),
            "message": self.message,
            "covariance_method": self.covariance_method,
            "risk_free": float(self.risk_free),
        }


def risk_contributions(weights: pd.Series, covariance: pd.DataFrame) -> pd.Series:
    """``RC_i = w_i (Σw)_i / wᵀΣw``: each asset's fraction of the portfolio variance (sums to 1; NaN if wᵀΣw = 0)."""
    symbols = list(weights.index)
    sigma = check_covariance(covariance, symbols).to_numpy()
    w = align_series(weights, symbols, "weights")
    return pd.Series(_contributions(w, sigma), index=weights.index, name="risk_contribution")


def _riskless(variance: float, w: FloatArray, sigma: FloatArray) -> bool:
    """True when ``wᵀΣw`` is zero up to rounding: ``≤ 1e-14 · max diag Σ · (Σ|w|)²`` (a hedge that cancels exactly
    leaves ~1e-35 of variance, whose ratios are noise)."""
    scale = float(np.max(np.diag(sigma), initial=0.0)) * float(np.abs(w).sum()) ** 2
    return not variance > 1e-14 * scale


def _contributions(w: FloatArray, sigma: FloatArray) -> FloatArray:
    marginal = sigma @ w
    variance = float(w @ marginal)
    if _riskless(variance, w, sigma):
        return np.full(w.size, np.nan)
    return np.asarray(w * marginal / variance, dtype=np.float64)


# ------------------------------------------------------------------------------------------------ entry point


@dataclass(frozen=True)
class _Inputs:
    symbols: list[Hashable]
    sigma: FloatArray
    mu: FloatArray | None
    covariance_method: str


@dataclass(frozen=True)
class _Options:
    risk_aversion: float
    target_return: float | None
    risk_free: float
    long_only: bool


_Solved = tuple[FloatArray, int, str]


def optimize_weights(
    returns: pd.DataFrame | None = None,
    method: str = "max_sharpe",
    *,
    covariance: pd.DataFrame | None = None,
    expected_returns: pd.Series | None = None,
    constraints: Constraints | None = None,
    risk_aversion: float = 1.0,
    target_return: float | None = None,
    risk_free: float = 0.0,
    covariance_method: str = "ledoit_wolf",
) -> PortfolioWeights:
    """Optimal weights by ``method`` under ``constraints``, with the diagnostics of the result.

    Methods (``Σ`` annualised covariance, ``μ`` annualised expected returns, ``δ`` = ``risk_aversion``):

    - ``mean_variance``: ``max μᵀw − (δ/2)·wᵀΣw`` (PyPortfolioOpt's ``max_quadratic_utility``); with
      ``target_return`` instead ``min wᵀΣw  s.t.  μᵀw ≥ target_return`` (``efficient_return``).
    - ``min_variance``: ``min wᵀΣw``.
    - ``max_sharpe``: ``max (μ − r_f)ᵀw / √(wᵀΣw)``, solved exactly as a convex QP by homogenisation (Cornuejols
      and Tütüncü): ``min yᵀΣy  s.t.  (μ − r_f)ᵀy = 1`` with every constraint scaled by ``κ = Σy / budget``, then
      ``w = y / κ``. Needs a non-zero budget and some feasible portfolio with ``(μ − r_f)ᵀw > 0``.
    - ``risk_parity``: equal risk contributions ``w_i (Σw)_i = wᵀΣw / n``: Spinu's (2013) convex problem
      ``min ½xᵀΣx − (1/n) Σ log x_i`` solved by Newton's method, ``w = budget · x / Σx``.
    - ``hrp``: López de Prado's hierarchical risk parity — single-linkage clustering on the correlation distance
      ``√(½(1 − ρ))``, quasi-diagonal order of the dendrogram's leaves, recursive bisection of that order in
      halves with ``α = 1 − V₁/(V₁ + V₂)`` (``V`` the variance of a half's inverse-variance portfolio). The
      convention of PyPortfolioOpt's ``HRPOpt(linkage_method="single")``; skfolio bisects along the tree instead.
    - ``equal_weight``: ``w_i = budget / n``.  ``inverse_volatility``: ``w_i ∝ 1/σ_i``, summing to ``budget``.

    Which constraints apply: the three QP methods optimise under all of them (bounds, budget, leverage,
    turnover). The other four are rules that are long-only by construction: ``long_only=False`` is refused
    (ConfigError), the weights are scaled to the budget, and the result is CHECKED against the bounds, leverage
    and turnover — a violation raises InfeasibleError rather than returning weights that break them.

    Parameters
    ----------
    returns : DataFrame (T × n) or None
        Simple returns per period; used to estimate ``Σ`` (``covariance_method``) unless ``covariance`` is given
        and ``μ`` (historical mean) unless ``expected_returns`` is given. Complete rows only.
    method : str
        One of :data:`METHODS`.
    covariance : DataFrame (n × n) or None
        Annualised covariance to use instead of estimating one.
    expected_returns : Series or None
        Annualised expected returns by symbol (the Analyst's signals) instead of the historical mean.
    constraints : Constraints or None
        Defaults to ``Constraints()``: long-only, fully invested, ``0 ≤ w ≤ 1``.
    risk_aversion : float
        ``δ > 0`` of ``mean_variance`` (ignored when ``target_return`` is given).
    target_return : float or None
        Annualised target of ``mean_variance`` only.
    risk_free : float
        Annual risk-free rate for ``max_sharpe`` and the reported Sharpe ratio.
    covariance_method : str
        ``ledoit_wolf`` (default), ``sample`` or ``ewma`` when the covariance is estimated.

    Returns
    -------
    PortfolioWeights

    Raises
    ------
    ConfigError
        Unknown method or covariance method (with the closest name), malformed inputs or options, symbols that
        differ between ``returns``, ``covariance`` and ``expected_returns``, ``long_only=False`` for a
        long-only rule, ``target_return`` with another method, ``max_sharpe`` with budget 0.
    InfeasibleError
        Constraints no weights satisfy; a NaN-only column; too few rows for the covariance; a zero-variance
        asset in a method that divides by volatility; ``max_sharpe`` when no feasible portfolio beats the
        risk-free rate; a solve that does not converge.
    """
    method = check_choice("optimization method", method, METHODS)
    cons = constraints if constraints is not None else Constraints()
    if not isinstance(cons, Constraints):
        raise ConfigError(f"constraints must be a Constraints, got {type(cons).__name__}")
    options = _check_options(method, cons, risk_aversion, target_return, risk_free)
    inputs = _resolve_inputs(returns, covariance, expected_returns, covariance_method, method)
    limits = cons.resolve(inputs.symbols)
    weights, iterations, message = _SOLVERS[method](inputs, limits, options)
    broken = limit_violations(weights, limits, inputs.symbols, CONSTRAINT_TOL)
    if broken:
        advice = (
            "numerical trouble in the solver; rescale the inputs"
            if method in QP_METHODS
            else f"{method} does not optimise under constraints: loosen them, or use min_variance, mean_variance "
            "or max_sharpe, which enforce them"
        )
        raise InfeasibleError(f"{method} weights break the constraints: {'; '.join(broken)} — {advice}")
    return _result(method, weights, inputs, options, iterations, message)


def _check_options(
    method: str, cons: Constraints, risk_aversion: float, target_return: float | None, risk_free: float
) -> _Options:
    delta = check_number("risk_aversion", risk_aversion, positive=True)
    rf = check_number("risk_free", risk_free)
    target = None if target_return is None else check_number("target_return", target_return)
    if target is not None and method != "mean_variance":
        raise ConfigError(f"target_return applies to method='mean_variance' only, not {method!r}")
    if method not in QP_METHODS:
        if not cons.long_only:
            raise ConfigError(
                f"{method} is long-only by construction; long_only=False is not supported — use mean_variance, "
                "min_variance or max_sharpe for long/short weights"
            )
        if cons.budget <= 0:
            raise ConfigError(f"{method} builds a long-only portfolio: the budget must be > 0, got {cons.budget:g}")
    if method == "max_sharpe" and cons.budget == 0:
        raise ConfigError(
            "max_sharpe needs a non-zero budget: with budget 0 the Sharpe ratio does not fix the portfolio's size; "
            "use mean_variance with a risk_aversion (and max_leverage) for a market-neutral portfolio"
        )
    return _Options(delta, target, rf, bool(cons.long_only))


def _resolve_inputs(
    returns: pd.DataFrame | None,
    covariance: pd.DataFrame | None,
    expected_returns: pd.Series | None,
    covariance_method: str,
    method: str,
) -> _Inputs:
    check_choice("covariance method", covariance_method, COVARIANCE_METHODS)
    if returns is None and covariance is None:
        raise ConfigError("pass returns (to estimate the covariance) or a covariance matrix")
    if covariance is not None:
        symbols = None if returns is None else _returns_symbols(returns)
        cov = check_covariance(covariance, symbols)
        label = "supplied"
    else:
        assert returns is not None
        cov = estimate_covariance(returns, covariance_method)
        label = covariance_method
    symbols = list(cov.columns)
    mu: FloatArray | None = None
    if expected_returns is not None:
        mu = align_series(expected_returns, symbols, "expected_returns")
    elif returns is not None:
        mu = estimate_expected_returns(returns).reindex(symbols).to_numpy(dtype=np.float64)
    elif method in NEEDS_EXPECTED_RETURNS:
        raise ConfigError(f"{method} needs expected returns: pass returns (historical mean) or expected_returns")
    return _Inputs(symbols, cov.to_numpy(dtype=np.float64), mu, label)


def _returns_symbols(returns: Any) -> list[Hashable]:
    if not isinstance(returns, pd.DataFrame):
        raise ConfigError(f"returns must be a pandas DataFrame (dates × symbols), got {type(returns).__name__}")
    return list(returns.columns)


def _result(
    method: str, w: FloatArray, inputs: _Inputs, options: _Options, iterations: int, message: str
) -> PortfolioWeights:
    sigma, mu, index = inputs.sigma, inputs.mu, pd.Index(inputs.symbols)
    variance = max(float(w @ sigma @ w), 0.0)
    riskless = _riskless(variance, w, sigma)
    volatility = 0.0 if riskless else math.sqrt(variance)
    expected = math.nan if mu is None else float(mu @ w)
    excess = math.nan if mu is None else float((mu - options.risk_free) @ w)
    sharpe = excess / volatility if not riskless and mu is not None else math.nan  # NaN: undefined, not huge
    return PortfolioWeights(
        weights=pd.Series(w, index=index, name="weight"),
        method=method,
        expected_return=expected,
        volatility=volatility,
        sharpe_ratio=sharpe,
        risk_contributions=pd.Series(_contributions(w, sigma), index=index, name="risk_contribution"),
        converged=True,
        iterations=iterations,
        message=message,
        covariance_method=inputs.covariance_method,
        risk_free=options.risk_free,
    )


# ------------------------------------------------------------------------------------------------ QP methods


def _qp_message(sol: QPSolution, what: str) -> str:
    polish = ", active set polished" if "polished" in sol.status else ""
    return f"{what}: solved by PIQP (interior point) in {sol.iterations} iterations{polish}"


def _min_variance(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    sol = solve_portfolio_qp(inputs.sigma, limits)
    return sol.weights, sol.iterations, _qp_message(sol, "min wᵀΣw")


def _mean_variance(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    mu = inputs.mu
    assert mu is not None
    if options.target_return is None:
        sol = solve_portfolio_qp(inputs.sigma, limits, quad=options.risk_aversion, linear=mu)
        what = f"max μᵀw − ({options.risk_aversion:g}/2)·wᵀΣw"
    else:
        try:
            sol = solve_portfolio_qp(inputs.sigma, limits, target=(mu, options.target_return))
        except PrimalInfeasibleError as exc:
            raise InfeasibleError(
                f"mean_variance with target_return={options.target_return:g} (the assets' expected returns range "
                f"from {mu.min():.4g} to {mu.max():.4g}): {exc}"
            ) from exc
        what = f"min wᵀΣw s.t. μᵀw ≥ {options.target_return:g}"
    return sol.weights, sol.iterations, _qp_message(sol, what)


def _max_sharpe(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    mu = inputs.mu
    assert mu is not None
    excess = mu - options.risk_free
    if (excess <= 0).all() and (limits.lower >= 0).all() and limits.budget > 0:
        raise InfeasibleError(
            f"max_sharpe: no asset's expected return exceeds the risk-free rate {options.risk_free:g} (the highest "
            f"is {mu.max():.4g}), so no long-only portfolio has a positive Sharpe ratio; use min_variance"
        )
    try:
        sol = solve_portfolio_qp(inputs.sigma, limits, excess=excess)
    except PrimalInfeasibleError as exc:
        raise InfeasibleError(
            f"max_sharpe: no portfolio within the constraints has an expected return above the risk-free rate "
            f"{options.risk_free:g}, or the constraints cannot all hold: {exc}"
        ) from exc
    return sol.weights, sol.iterations, _qp_message(sol, "max (μ − r_f)ᵀw/√(wᵀΣw) (homogenised)")


# ------------------------------------------------------------------------------------------------ rules


def _volatilities(inputs: _Inputs, method: str) -> FloatArray:
    variances = np.diag(inputs.sigma)
    zero = [str(s) for s, v in zip(inputs.symbols, variances, strict=True) if not v > 0.0]
    if zero:
        raise InfeasibleError(
            f"{method} divides by volatility but {', '.join(zero)} have zero variance; drop them from the universe"
        )
    return np.asarray(np.sqrt(variances), dtype=np.float64)


def _equal_weight(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    n = len(inputs.symbols)
    return np.full(n, limits.budget / n), 0, "closed form: w_i = budget / n"


def _inverse_volatility(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    inv = 1.0 / _volatilities(inputs, "inverse_volatility")
    return limits.budget * inv / inv.sum(), 0, "closed form: w_i ∝ 1/σ_i"


def _risk_parity(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    vol = _volatilities(inputs, "risk_parity")
    corr = inputs.sigma / np.outer(vol, vol)
    z, iterations, gap = _spinu_newton(corr)
    x = z / vol
    return (
        limits.budget * x / x.sum(),
        iterations,
        f"equal risk contributions: Newton on Spinu's problem, {iterations} iterations, largest relative error of a "
        f"risk contribution {gap:.1e}",
    )


def _spinu_newton(corr: FloatArray) -> tuple[FloatArray, int, float]:
    """Minimise ``f(z) = ½zᵀCz − (1/n) Σ log z_i`` over ``z > 0`` by damped Newton; returns z, iterations, error.

    Working on the correlation matrix ``C`` (``x = z / σ``) makes the problem scale-free. At the minimum
    ``z_i (Cz)_i = 1/n`` for every ``i``: equal risk contributions. ``f`` is strictly convex on ``z > 0``, so
    Newton's step with a backtracking (Armijo) line search that keeps ``z > 0`` converges, quadratically near the
    solution; it stops when ``max_i |n·z_i (Cz)_i − 1| ≤ 1e-12``.
    """
    n = corr.shape[0]
    budget = 1.0 / n
    z = np.full(n, 1.0 / math.sqrt(float(corr.sum())))  # the best point on the ray of equal z: zᵀCz = Σ b = 1

    def objective(v: FloatArray) -> float:
        return float(0.5 * v @ corr @ v - budget * np.log(v).sum())

    for iteration in range(_RP_MAX_ITER + 1):
        cz = corr @ z
        gap = float(np.abs(z * cz * n - 1.0).max())
        if gap <= _RP_TOL:
            return z, iteration, gap
        grad = cz - budget / z
        hess = corr + np.diag(budget / z**2)
        try:
            step = -cho_solve(cho_factor(hess, check_finite=False), grad, check_finite=False)
        except LinAlgError as exc:
            raise InfeasibleError(f"risk_parity: the Newton system is singular ({exc}); check the covariance") from exc
        z = _newton_step(z, step, float(grad @ step), objective)
    raise InfeasibleError(
        f"risk_parity did not converge in {_RP_MAX_ITER} Newton iterations (largest relative error of a risk "
        f"contribution {gap:.1e}); the covariance may be badly conditioned — try covariance_method='ledoit_wolf'"
    )


def _newton_step(z: FloatArray, step: FloatArray, slope: float, objective: Callable[[FloatArray], float]) -> FloatArray:
    """``z + t·step`` with the largest ``t ≤ 1`` (halving) that keeps ``z > 0`` and decreases ``f`` (Armijo).

    Near the solution (Newton decrement ``−slope < 1e-10``) the full step is taken: ``f`` changes there by less
    than its rounding, so a descent test would stall.
    """
    shrink = step < 0
    t = 1.0
    if shrink.any():
        t = min(1.0, 0.99 * float((-z[shrink] / step[shrink]).min()))
    if -slope < 1e-10 and t == 1.0:
        return z + step
    f0 = objective(z)
    for _ in range(60):
        trial = z + t * step
        if objective(trial) <= f0 + 1e-4 * t * slope:
            return trial
        t *= 0.5
    return z + t * step


def _hrp(inputs: _Inputs, limits: Limits, options: _Options) -> _Solved:
    vol = _volatilities(inputs, "hrp")
    n = vol.size
    if n == 1:
        return np.full(1, limits.budget), 0, "hierarchical risk parity: a single asset"
    corr = np.clip(inputs.sigma / np.outer(vol, vol), -1.0, 1.0)
    dist = np.sqrt(np.clip(0.5 * (1.0 - corr), 0.0, 1.0))
    np.fill_diagonal(dist, 0.0)
    order = leaves_list(linkage(squareform(dist, checks=False), method="single"))
    w = _recursive_bisection(inputs.sigma, order)
    return limits.budget * w, 0, "hierarchical risk parity: single linkage, recursive bisection in halves"


def _recursive_bisection(sigma: FloatArray, order: Any) -> FloatArray:
    """López de Prado's allocation: split each cluster of the ordered leaves in halves, ``α = 1 − V₁/(V₁+V₂)``."""
    w = np.ones(sigma.shape[0])
    inv_var = 1.0 / np.diag(sigma)
    clusters = [np.asarray(order, dtype=np.intp)]
    while clusters:
        halves: list[Any] = []
        for cluster in clusters:
            if cluster.size < 2:
                continue
            mid = cluster.size // 2
            left, right = cluster[:mid], cluster[mid:]
            v_left = _cluster_variance(sigma, inv_var, left)
            v_right = _cluster_variance(sigma, inv_var, right)
            alpha = 1.0 - v_left / (v_left + v_right)
            w[left] *= alpha
            w[right] *= 1.0 - alpha
            halves += [left, right]
        clusters = halves
    return w


def _cluster_variance(sigma: FloatArray, inv_var: FloatArray, members: Any) -> float:
    """Variance of the inverse-variance portfolio of ``members``: ``v = uᵀΣ_c u`` with ``u ∝ 1/diag(Σ_c)``."""
    u = inv_var[members] / inv_var[members].sum()
    return float(u @ sigma[np.ix_(members, members)] @ u)


_SOLVERS: dict[str, Callable[[_Inputs, Limits, _Options], _Solved]] = {
    "mean_variance": _mean_variance,
    "min_variance": _min_variance,
    "max_sharpe": _max_sharpe,
    "risk_parity": _risk_parity,
    "hrp": _hrp,
    "equal_weight": _equal_weight,
    "inverse_volatility": _inverse_volatility,
}

"""Optimizers: closed forms, cross-checks against PyPortfolioOpt and skfolio (test-only dependencies), constraints
on every result (hypothesis), the diagnostics, and the documented errors."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio.covariance import estimate_covariance
from ravenshire.portfolio.expected_returns import estimate_expected_returns
from ravenshire.portfolio.optimizers import (
    METHODS,
    Constraints,
    PortfolioWeights,
    optimize_weights,
    risk_contributions,
)

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

QP = ("mean_variance", "min_variance", "max_sharpe")
RULES = ("risk_parity", "hrp", "equal_weight", "inverse_volatility")


def _factor_returns(t: int = 750, n: int = 20, seed: int = 1) -> pd.DataFrame:
    """Well-conditioned synthetic daily returns: 3 factors + idiosyncratic noise, drifts around 10 % a year."""
    rng = np.random.default_rng(seed)
    loadings = rng.normal(0.0, 1.0, (n, 3))
    factors = rng.normal(0.0, 0.006, (t, 3))
    values = factors @ loadings.T + rng.normal(0.0, 0.012, (t, n)) + rng.normal(0.0004, 0.0004, n)
    return pd.DataFrame(values, index=pd.bdate_range("2021-01-04", periods=t), columns=[f"A{i:02d}" for i in range(n)])


@pytest.fixture(scope="module")
def market() -> tuple[pd.DataFrame, pd.DataFrame, pd.Series]:
    r = _factor_returns()
    return r, estimate_covariance(r), estimate_expected_returns(r)


def _cov(sigmas: list[float], corr: float = 0.0) -> pd.DataFrame:
    s = np.asarray(sigmas)
    c = np.full((s.size, s.size), corr)
    np.fill_diagonal(c, 1.0)
    names = [f"X{i}" for i in range(s.size)]
    return pd.DataFrame(np.outer(s, s) * c, index=names, columns=names)


def _variance(w: np.ndarray, cov: pd.DataFrame) -> float:
    return float(w @ cov.to_numpy() @ w)


def _sharpe(w: np.ndarray, cov: pd.DataFrame, mu: pd.Series, rf: float = 0.0) -> float:
    return float((mu.to_numpy() - rf) @ w / math.sqrt(_variance(w, cov)))


def _assert_holds(result: PortfolioWeights, cons: Constraints, tol: float = 1e-6) -> None:
    """The constraints, checked here from their definitions (not with the module's own checker)."""
    w = result.weights
    lo = cons.min_weight if cons.min_weight is not None else (0.0 if cons.long_only else -1.0)
    lower = pd.Series([lo.get(s, 0.0) if isinstance(lo, dict) else lo for s in w.index], index=w.index)
    hi = cons.max_weight
    upper = pd.Series([hi.get(s, 1.0) if isinstance(hi, dict) else hi for s in w.index], index=w.index)
    assert abs(w.sum() - cons.budget) <= tol
    assert (w >= lower - tol).all(), (w - lower).min()
    assert (w <= upper + tol).all(), (w - upper).max()
    if cons.long_only:
        assert (w >= -tol).all()
    if cons.max_leverage is not None:
        assert w.abs().sum() <= cons.max_leverage + tol
    if cons.max_turnover is not None and cons.current_weights is not None:
        w0 = cons.current_weights
        everything = w.index.union(w0.index)
        turnover = (w.reindex(everything, fill_value=0.0) - w0.reindex(everything, fill_value=0.0)).abs().sum()
        assert turnover <= cons.max_turnover + tol, turnover


# ------------------------------------------------------------------------------------------------ closed forms


def test_min_variance_of_two_uncorrelated_assets_is_inverse_variance() -> None:
    result = optimize_weights(method="min_variance", covariance=_cov([0.1, 0.2]))
    np.testing.assert_allclose(result.weights.to_numpy(), [0.8, 0.2], atol=1e-8)  # ∝ 1/σ² = (100, 25)
    assert result.volatility == pytest.approx(math.sqrt(0.8**2 * 0.01 + 0.2**2 * 0.04), rel=1e-8)
    assert math.isnan(result.expected_return) and math.isnan(result.sharpe_ratio)  # no μ was given
    np.testing.assert_allclose(result.risk_contributions.to_numpy(), [0.8, 0.2], atol=1e-8)  # equal marginal risk


@pytest.mark.parametrize("method", ["risk_parity", "inverse_volatility"])
def test_risk_parity_on_a_diagonal_covariance_is_inverse_volatility(method: str) -> None:
    sigmas = [0.1, 0.2, 0.4, 0.25]
    result = optimize_weights(method=method, covariance=_cov(sigmas))
    inv = 1.0 / np.asarray(sigmas)
    np.testing.assert_allclose(result.weights.to_numpy(), inv / inv.sum(), atol=1e-10)
    np.testing.assert_allclose(result.risk_contributions.to_numpy(), 0.25, atol=1e-10)


def test_risk_parity_of_equicorrelated_equal_volatility_assets_is_equal_weight() -> None:
    result = optimize_weights(method="risk_parity", covariance=_cov([0.2] * 5, corr=0.6))
    np.testing.assert_allclose(result.weights.to_numpy(), 0.2, atol=1e-10)


def test_unconstrained_long_short_optima_match_their_closed_forms(market: Any) -> None:
    _, cov, mu = market
    inv = np.linalg.inv(cov.to_numpy())
    ones, m = np.ones(len(mu)), mu.to_numpy()
    wide = Constraints(long_only=False, min_weight=-50.0, max_weight=50.0)
    w = optimize_weights(method="min_variance", covariance=cov, constraints=wide).weights.to_numpy()
    np.testing.assert_allclose(w, inv @ ones / (ones @ inv @ ones), atol=1e-7)
    w = optimize_weights(method="max_sharpe", covariance=cov, expected_returns=mu, risk_free=0.02, constraints=wide)
    tangency = inv @ (m - 0.02) / (ones @ inv @ (m - 0.02))
    np.testing.assert_allclose(w.weights.to_numpy(), tangency, atol=1e-6)
    delta = 3.0
    w = optimize_weights(
        method="mean_variance", covariance=cov, expected_returns=mu, constraints=wide, risk_aversion=delta
    )
    gamma = (ones @ inv @ m - delta) / (ones @ inv @ ones)  # the budget's multiplier
    np.testing.assert_allclose(w.weights.to_numpy(), inv @ (m - gamma) / delta, atol=1e-6)


def test_equal_weight_and_budget_scaling() -> None:
    result = optimize_weights(
        method="equal_weight", covariance=_cov([0.1, 0.2, 0.3, 0.4]), constraints=Constraints(budget=0.8)
    )
    np.testing.assert_allclose(result.weights.to_numpy(), 0.2)
    assert result.iterations == 0 and result.converged


def test_diagnostics_follow_their_formulas(market: Any) -> None:
    r, cov, mu = market
    result = optimize_weights(r, "max_sharpe", risk_free=0.01)
    w = result.weights.to_numpy()
    assert result.covariance_method == "ledoit_wolf" and result.method == "max_sharpe"
    assert result.expected_return == pytest.approx(float(mu.to_numpy() @ w), rel=1e-12)
    assert result.volatility == pytest.approx(math.sqrt(_variance(w, cov)), rel=1e-12)
    assert result.sharpe_ratio == pytest.approx((result.expected_return - 0.01) / result.volatility, rel=1e-12)
    assert result.risk_contributions.sum() == pytest.approx(1.0, abs=1e-12)
    assert list(result.weights.index) == list(r.columns)
    assert result.converged and result.iterations > 0 and "PIQP" in result.message
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert as_dict["weights"]["A00"] == pytest.approx(result.weights["A00"])
    assert set(as_dict) >= {"expected_return", "volatility", "sharpe_ratio", "risk_contributions", "converged"}


def test_the_helpers_agree_with_the_result(market: Any) -> None:
    _, cov, mu = market
    cons = Constraints(max_weight=0.2)
    result = optimize_weights(method="max_sharpe", covariance=cov, expected_returns=mu, constraints=cons)
    pd.testing.assert_series_equal(risk_contributions(result.weights, cov), result.risk_contributions)
    assert cons.violations(result.weights) == []
    broken = result.weights.copy()
    broken.iloc[0] += 0.5
    found = cons.violations(broken)
    assert any("sum to" in v for v in found) and any("above its max_weight 0.2" in v for v in found)
    current = pd.Series({"A00": 1.0})
    as_dict = Constraints(max_turnover=0.5, current_weights=current, max_weight={"A01": 0.1}).to_dict()
    assert json.loads(json.dumps(as_dict))["current_weights"] == {"A00": 1.0}


def test_weights_at_a_bound_are_exactly_the_bound_not_dust(market: Any) -> None:
    # An interior-point iterate leaves ~1e-9 on assets whose optimum is 0; the active-set polish removes it.
    _, cov, mu = market
    for method in ("mean_variance", "max_sharpe"):
        w = optimize_weights(method=method, covariance=cov, expected_returns=mu).weights
        zero = w[w < 1e-6]
        assert len(zero) > 0 and (zero == 0.0).all(), (method, zero.max())
    capped = optimize_weights(method="min_variance", covariance=cov, constraints=Constraints(max_weight=0.06)).weights
    at_cap = capped[capped > 0.06 - 1e-6]
    assert len(at_cap) > 0 and (at_cap == 0.06).all()


def test_returns_with_gaps_use_their_complete_rows(market: Any) -> None:
    r, _, _ = market
    gappy = r.copy()
    gappy.iloc[:30, 3] = np.nan
    a = optimize_weights(gappy, "min_variance", covariance_method="sample")
    b = optimize_weights(gappy.dropna(), "min_variance", covariance_method="sample")
    pd.testing.assert_series_equal(a.weights, b.weights)


def test_supplied_expected_returns_drive_max_sharpe(market: Any) -> None:
    r, _, _ = market
    views = pd.Series(0.0, index=r.columns)
    views["A07"] = 0.30  # the Analyst likes one asset
    views = views.iloc[::-1]  # any order
    result = optimize_weights(r, "max_sharpe", expected_returns=views, constraints=Constraints(max_weight=0.5))
    assert result.weights.idxmax() == "A07"
    assert result.expected_return == pytest.approx(0.30 * result.weights["A07"], rel=1e-9)


def test_target_return_is_met_at_least_cost(market: Any) -> None:
    _, cov, mu = market
    floor = optimize_weights(method="min_variance", covariance=cov, expected_returns=mu)
    target = floor.expected_return + 0.5 * (mu.max() - floor.expected_return)
    result = optimize_weights(method="mean_variance", covariance=cov, expected_returns=mu, target_return=target)
    assert result.expected_return == pytest.approx(target, abs=1e-7)  # the target binds above the minimum
    assert result.volatility >= floor.volatility
    loose = optimize_weights(method="mean_variance", covariance=cov, expected_returns=mu, target_return=-1.0)
    np.testing.assert_allclose(loose.weights.to_numpy(), floor.weights.to_numpy(), atol=1e-6)


def test_per_asset_bounds_from_a_mapping(market: Any) -> None:
    _, cov, mu = market
    cons = Constraints(min_weight={"A03": 0.10}, max_weight={"A00": 0.0, "A01": 0.02})
    result = optimize_weights(method="max_sharpe", covariance=cov, expected_returns=mu, constraints=cons)
    _assert_holds(result, cons)
    assert result.weights["A00"] == pytest.approx(0.0, abs=1e-9)
    assert result.weights["A03"] >= 0.10 - 1e-9


# ------------------------------------------------------------------------------------------------ cross-checks


def _skfolio_prior(cov: pd.DataFrame, mu: pd.Series) -> Any:
    """An skfolio prior that hands the optimizer exactly our μ and Σ."""
    from skfolio.moments import BaseCovariance, BaseMu
    from skfolio.prior import EmpiricalPrior

    class FixedCovariance(BaseCovariance):
        def __init__(self, covariance: Any = None) -> None:
            super().__init__(nearest=False)
            self.covariance = covariance

        def fit(self, X: Any, y: Any = None, **fit_params: Any) -> FixedCovariance:
            self.covariance_ = np.asarray(self.covariance, dtype=float)
            return self

    class FixedMu(BaseMu):
        def __init__(self, mu: Any = None) -> None:
            self.mu = mu

        def fit(self, X: Any, y: Any = None) -> FixedMu:
            self.mu_ = np.asarray(self.mu, dtype=float)
            return self

    return EmpiricalPrior(mu_estimator=FixedMu(mu.to_numpy()), covariance_estimator=FixedCovariance(cov.to_numpy()))


CROSS_CASES = {
    "long-only": Constraints(),
    "max 15 %": Constraints(max_weight=0.15),
    "long/short gross 1.6": Constraints(long_only=False, min_weight=-0.2, max_weight=0.3, max_leverage=1.6),
}


@pytest.mark.parametrize("case", list(CROSS_CASES))
def test_min_variance_is_at_least_as_good_as_pypfopt_and_skfolio(market: Any, case: str) -> None:
    import cvxpy as cp
    from pypfopt import EfficientFrontier
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk

    r, cov, mu = market
    cons = CROSS_CASES[case]
    ours = optimize_weights(method="min_variance", covariance=cov, expected_returns=mu, constraints=cons)
    _assert_holds(ours, cons)
    w = ours.weights.to_numpy()
    lo = 0.0 if cons.min_weight is None else float(cons.min_weight)  # type: ignore[arg-type]
    hi = float(cons.max_weight)  # type: ignore[arg-type]
    ef = EfficientFrontier(mu, cov, weight_bounds=(lo, hi))
    if cons.max_leverage is not None:
        ef.add_constraint(lambda x: cp.norm(x, 1) <= cons.max_leverage)
    pw = np.array(list(ef.min_volatility().values()))
    short = (
        {}
        if cons.max_leverage is None
        else {"max_short": (cons.max_leverage - 1) / 2, "max_long": (cons.max_leverage + 1) / 2}
    )
    sk = MeanRisk(
        risk_measure=RiskMeasure.VARIANCE,
        prior_estimator=_skfolio_prior(cov, mu),
        min_weights=lo,
        max_weights=hi,
        **short,
    ).fit(r.to_numpy())
    for peer in (pw, sk.weights_):
        assert _variance(w, cov) <= _variance(peer, cov) + 1e-6
        assert abs(_variance(w, cov) - _variance(peer, cov)) <= 1e-6
        np.testing.assert_allclose(w, peer, atol=1e-3)


@pytest.mark.parametrize("case", list(CROSS_CASES))
def test_max_sharpe_is_at_least_as_good_as_pypfopt_and_skfolio(market: Any, case: str) -> None:
    import cvxpy as cp
    from pypfopt import EfficientFrontier
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction

    r, cov, mu = market
    rf = 0.02
    cons = CROSS_CASES[case]
    ours = optimize_weights(method="max_sharpe", covariance=cov, expected_returns=mu, constraints=cons, risk_free=rf)
    _assert_holds(ours, cons)
    w = ours.weights.to_numpy()
    assert ours.sharpe_ratio == pytest.approx(_sharpe(w, cov, mu, rf), rel=1e-12)
    lo = 0.0 if cons.min_weight is None else float(cons.min_weight)  # type: ignore[arg-type]
    hi = float(cons.max_weight)  # type: ignore[arg-type]
    peers = []
    ef = EfficientFrontier(mu, cov, weight_bounds=(lo, hi), solver="CLARABEL")
    if cons.max_leverage is None:  # PyPortfolioOpt's max_sharpe takes no extra constraints scaled by κ
        peers.append(np.array(list(ef.max_sharpe(risk_free_rate=rf).values())))
    short = (
        {}
        if cons.max_leverage is None
        else {"max_short": (cons.max_leverage - 1) / 2, "max_long": (cons.max_leverage + 1) / 2}
    )
    sk = MeanRisk(
        risk_measure=RiskMeasure.VARIANCE,
        objective_function=ObjectiveFunction.MAXIMIZE_RATIO,
        risk_free_rate=rf,
        prior_estimator=_skfolio_prior(cov, mu),
        min_weights=lo,
        max_weights=hi,
        **short,
    ).fit(r.to_numpy())
    peers.append(sk.weights_)
    assert cp is not None
    for peer in peers:
        assert _sharpe(w, cov, mu, rf) >= _sharpe(peer, cov, mu, rf) - 1e-6
        np.testing.assert_allclose(w, peer, atol=1e-3)


def test_mean_variance_matches_pypfopt_quadratic_utility_and_efficient_return(market: Any) -> None:
    from pypfopt import EfficientFrontier

    _, cov, mu = market
    ours = optimize_weights(method="mean_variance", covariance=cov, expected_returns=mu, risk_aversion=2.0)
    peer = np.array(list(EfficientFrontier(mu, cov).max_quadratic_utility(risk_aversion=2.0).values()))

    def utility(w: np.ndarray) -> float:
        return float(mu.to_numpy() @ w - _variance(w, cov))  # δ/2 = 1

    assert utility(ours.weights.to_numpy()) >= utility(peer) - 1e-6
    np.testing.assert_allclose(ours.weights.to_numpy(), peer, atol=1e-3)
    target = 0.15
    ours = optimize_weights(method="mean_variance", covariance=cov, expected_returns=mu, target_return=target)
    peer = np.array(list(EfficientFrontier(mu, cov).efficient_return(target).values()))
    assert _variance(ours.weights.to_numpy(), cov) <= _variance(peer, cov) + 1e-6
    np.testing.assert_allclose(ours.weights.to_numpy(), peer, atol=1e-3)


def test_turnover_limit_matches_pypfopt_with_an_l1_constraint(market: Any) -> None:
    import cvxpy as cp
    from pypfopt import EfficientFrontier

    _, cov, mu = market
    current = pd.Series(0.0, index=mu.index)
    current.iloc[:5] = 0.2  # concentrated: far from the minimum-variance portfolio
    cons = Constraints(max_weight=0.2, max_turnover=0.3, current_weights=current)
    ours = optimize_weights(method="min_variance", covariance=cov, constraints=cons)
    _assert_holds(ours, cons)
    assert (ours.weights - current).abs().sum() == pytest.approx(0.3, abs=1e-7)  # it binds here
    ef = EfficientFrontier(mu, cov, weight_bounds=(0, 0.2), solver="CLARABEL")
    ef.add_constraint(lambda x: cp.norm(x - current.to_numpy(), 1) <= 0.3)
    peer = np.array(list(ef.min_volatility().values()))
    assert _variance(ours.weights.to_numpy(), cov) <= _variance(peer, cov) + 1e-6
    np.testing.assert_allclose(ours.weights.to_numpy(), peer, atol=1e-3)


def test_risk_parity_contributions_are_equal_and_match_skfolio(market: Any) -> None:
    from skfolio import RiskMeasure
    from skfolio.optimization import RiskBudgeting

    r, cov, mu = market
    ours = optimize_weights(method="risk_parity", covariance=cov)
    rc = ours.risk_contributions.to_numpy()
    assert np.abs(rc - 1.0 / rc.size).max() <= 1e-6
    sk = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE, prior_estimator=_skfolio_prior(cov, mu)).fit(r.to_numpy())
    peer_rc = sk.weights_ * (cov.to_numpy() @ sk.weights_) / _variance(sk.weights_, cov)
    assert np.abs(rc - 1.0 / rc.size).max() <= np.abs(peer_rc - 1.0 / rc.size).max() + 1e-9
    np.testing.assert_allclose(ours.weights.to_numpy(), sk.weights_, atol=1e-4)


def test_hrp_matches_pypfopt_single_linkage(market: Any) -> None:
    from pypfopt import HRPOpt

    _, cov, _ = market
    ours = optimize_weights(method="hrp", covariance=cov)
    peer = pd.Series(HRPOpt(cov_matrix=cov).optimize(linkage_method="single"))
    np.testing.assert_allclose(ours.weights.to_numpy(), peer.reindex(ours.weights.index).to_numpy(), atol=1e-10)


# ------------------------------------------------------------------------------------------------ properties


@st.composite
def _problems(draw: Any) -> tuple[pd.DataFrame, pd.Series, Constraints, float]:
    """A covariance, expected returns and constraints that a known weight vector w₀ satisfies (so feasible)."""
    n = draw(st.integers(2, 7))
    seed = draw(st.integers(0, 2**20))
    rng = np.random.default_rng(seed)
    a = rng.normal(0.0, 0.2, (n, n + 2))
    names = [f"P{i}" for i in range(n)]
    cov = pd.DataFrame(a @ a.T / (n + 2) + np.diag(rng.uniform(0.005, 0.05, n)), index=names, columns=names)
    mu = pd.Series(rng.normal(0.06, 0.08, n), index=names)
    long_only = draw(st.booleans())
    w0 = rng.dirichlet(np.ones(n)) * draw(st.sampled_from([1.0, 0.7, 1.3]))
    if not long_only:
        w0 = w0 + rng.normal(0.0, 0.3, n)
    slack = draw(st.floats(0.0, 0.5))
    lower = np.minimum(w0 - slack, 0.0) if not long_only else np.maximum(w0 - slack, 0.0) * draw(st.booleans())
    upper = w0 + draw(st.floats(0.0, 0.5))
    per_asset = draw(st.booleans())
    cons = Constraints(
        long_only=long_only,
        min_weight=dict(zip(names, lower.tolist(), strict=True)) if per_asset else float(lower.min()),
        max_weight=dict(zip(names, upper.tolist(), strict=True)) if per_asset else float(upper.max()),
        budget=float(w0.sum()),
        max_leverage=float(np.abs(w0).sum() + draw(st.floats(0.0, 1.0))) if draw(st.booleans()) else None,
        max_turnover=draw(st.floats(0.0, 1.5)) if draw(st.booleans()) else None,
        current_weights=pd.Series(w0, index=names),
    )
    rf = float(mu.to_numpy() @ w0 - 0.05) / cons.budget  # so that w₀ has a positive excess return
    return cov, mu, cons, rf


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problem=_problems(), method=st.sampled_from(QP))
def test_every_qp_result_satisfies_its_constraints(problem: Any, method: str) -> None:
    cov, mu, cons, rf = problem
    assume(method != "max_sharpe" or abs(cons.budget) > 0.05)
    result = optimize_weights(method=method, covariance=cov, expected_returns=mu, constraints=cons, risk_free=rf)
    _assert_holds(result, cons)
    assert result.converged
    if method == "max_sharpe":  # the feasible w₀ is no better than the optimum
        assert result.sharpe_ratio >= _sharpe(cons.current_weights.to_numpy(), cov, mu, rf) - 1e-6  # type: ignore[union-attr]


@settings(max_examples=40, deadline=None)
@given(problem=_problems(), method=st.sampled_from(RULES))
def test_a_rule_returns_weights_within_the_constraints_or_refuses(problem: Any, method: str) -> None:
    cov, mu, cons, _ = problem
    try:
        result = optimize_weights(method=method, covariance=cov, expected_returns=mu, constraints=cons)
    except ConfigError as exc:  # InfeasibleError included: what matters is that no broken weights come back
        assert not cons.long_only or cons.budget <= 0 or "break the constraints" in str(exc)
        return
    _assert_holds(result, cons)


# ------------------------------------------------------------------------------------------------ errors


def test_max_weight_times_assets_below_one_is_infeasible() -> None:
    with pytest.raises(InfeasibleError, match=r"max_weight 0.1 × 5 assets = 0.5 < budget 1.*at least 0.2"):
        optimize_weights(method="min_variance", covariance=_cov([0.2] * 5), constraints=Constraints(max_weight=0.1))


def test_a_nan_only_column_is_infeasible(market: Any) -> None:
    r, _, _ = market
    broken = r.assign(GONE=np.nan)
    for method in ("max_sharpe", "equal_weight"):
        with pytest.raises(InfeasibleError, match="returns of GONE are NaN on every date"):
            optimize_weights(broken, method)


def test_fewer_rows_than_assets_without_shrinkage_is_infeasible(market: Any) -> None:
    r, _, _ = market
    short = r.iloc[:10]
    with pytest.raises(InfeasibleError, match=r"at least 21 complete rows.*got 10.*ledoit_wolf"):
        optimize_weights(short, "min_variance", covariance_method="sample")
    assert optimize_weights(short, "min_variance").converged  # shrinkage copes


def test_no_silent_equal_weight_when_risk_parity_breaks_a_bound() -> None:
    cov = _cov([0.05, 0.3, 0.3])  # risk parity ∝ 1/σ puts 75 % in the calm asset
    with pytest.raises(
        InfeasibleError, match=r"risk_parity weights break the constraints: w\[X0\] = 0.75 is above its max_weight 0.5"
    ):
        optimize_weights(method="risk_parity", covariance=cov, constraints=Constraints(max_weight=0.5))


@pytest.mark.parametrize("method", RULES)
def test_long_short_rules_are_refused(method: str) -> None:
    with pytest.raises(ConfigError, match=f"{method} is long-only by construction"):
        optimize_weights(method=method, covariance=_cov([0.1, 0.2]), constraints=Constraints(long_only=False))


def test_max_sharpe_without_a_positive_excess_return_is_infeasible() -> None:
    mu = pd.Series([0.01, 0.02], index=["X0", "X1"])
    with pytest.raises(InfeasibleError, match=r"no asset's expected return exceeds the risk-free rate 0\.05"):
        optimize_weights(method="max_sharpe", covariance=_cov([0.1, 0.2]), expected_returns=mu, risk_free=0.05)


def test_an_unreachable_target_return_is_infeasible() -> None:
    mu = pd.Series([0.05, 0.08], index=["X0", "X1"])
    with pytest.raises(InfeasibleError, match=r"target_return=0.2 .*primal infeasible"):
        optimize_weights(method="mean_variance", covariance=_cov([0.1, 0.2]), expected_returns=mu, target_return=0.2)


def test_constraints_only_the_solver_can_prove_infeasible() -> None:
    # Each limit alone is satisfiable; together they are not: w ≥ 0.45 for X0 needs turnover 0.9 from (0, 0.5, 0.5)
    # (0.45 bought, 0.45 sold to stay within the budget).
    current = pd.Series([0.0, 0.5, 0.5], index=["X0", "X1", "X2"])
    cons = Constraints(min_weight={"X0": 0.45}, max_weight=0.5, max_turnover=0.5, current_weights=current)
    with pytest.raises(InfeasibleError, match=r"at least 0.9 is needed"):
        optimize_weights(method="min_variance", covariance=_cov([0.1, 0.2, 0.3]), constraints=cons)
    # Gross ≤ 1.2 with X0 ≤ −0.3 forces gross ≥ 1.6 only through the budget: the pre-checks cannot see it.
    cons = Constraints(long_only=False, min_weight=-1.0, max_weight={"X0": -0.3}, max_leverage=1.2)
    with pytest.raises(InfeasibleError, match="primal infeasible"):
        optimize_weights(method="min_variance", covariance=_cov([0.1, 0.2, 0.3]), constraints=cons)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"min_weight": {"X0": 0.6}, "max_weight": {"X0": 0.5}}, InfeasibleError, "min_weight > max_weight for X0"),
        ({"min_weight": 0.4}, InfeasibleError, "minimum weights sum to 1.2 > budget 1"),
        ({"long_only": False, "max_leverage": 0.5}, InfeasibleError, "max_leverage 0.5 is below"),
        (
            {"max_turnover": 0.1, "current_weights": pd.Series({"X0": 0.5, "OLD": 0.5})},
            InfeasibleError,
            "below the 0.5 needed just to sell the current positions outside the universe",
        ),
        ({"max_weight": {"ZZZ": 0.1}}, ConfigError, "outside the universe: ZZZ"),
    ],
)
def test_infeasible_constraints_are_refused(kwargs: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        optimize_weights(method="min_variance", covariance=_cov([0.1, 0.2, 0.3]), constraints=Constraints(**kwargs))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"long_only": True, "min_weight": -0.1}, "set long_only=False"),
        ({"max_turnover": 0.2}, "max_turnover needs current_weights"),
        ({"max_leverage": 0.0}, "max_leverage must be > 0"),
        ({"max_weight": float("nan")}, "max_weight must be finite"),
        ({"current_weights": pd.Series({"A": np.nan})}, "current_weights of A are not finite"),
    ],
)
def test_malformed_constraints_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Constraints(**kwargs)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "mean_varaince"}, "did you mean 'mean_variance'"),
        ({"method": "min_variance", "target_return": 0.1}, "target_return applies to method='mean_variance' only"),
        ({"method": "mean_variance", "risk_aversion": 0}, "risk_aversion must be > 0"),
        ({"method": "max_sharpe", "constraints": Constraints(long_only=False, budget=0.0)}, "non-zero budget"),
        ({"method": "min_variance", "covariance_method": "shrunk"}, "unknown covariance method"),
        ({"method": "max_sharpe", "expected_returns": pd.Series({"X0": 0.1})}, r"missing \['X1'\]"),
    ],
)
def test_malformed_requests_are_config_errors(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        optimize_weights(covariance=_cov([0.1, 0.2]), **kwargs)


def test_a_method_that_needs_expected_returns_says_so() -> None:
    with pytest.raises(ConfigError, match="max_sharpe needs expected returns"):
        optimize_weights(method="max_sharpe", covariance=_cov([0.1, 0.2]))
    with pytest.raises(ConfigError, match="pass returns"):
        optimize_weights(method="min_variance")


def test_zero_variance_assets_are_refused_by_the_volatility_rules() -> None:
    cov = _cov([0.0, 0.2])
    for method in ("inverse_volatility", "risk_parity", "hrp"):
        with pytest.raises(InfeasibleError, match=f"{method} divides by volatility but X0 have zero variance"):
            optimize_weights(method=method, covariance=cov)
    # a singular Σ is fine for the QP; the optimum (all in the riskless X0) is degenerate, hence the looser tolerance
    assert optimize_weights(method="min_variance", covariance=cov).weights["X0"] == pytest.approx(1.0, abs=1e-5)


def test_every_method_runs_on_returns_alone(market: Any) -> None:
    r, _, _ = market
    for method in METHODS:
        result = optimize_weights(r.iloc[:, :6], method)
        assert result.weights.sum() == pytest.approx(1.0, abs=1e-9)
        assert np.isfinite(result.sharpe_ratio)


def test_a_perfect_hedge_reports_no_risk_not_rounding_noise() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0.0005, 0.01, 500)
    returns = pd.DataFrame({"A": a, "C": -a + 0.001})  # C = −A (plus a constant): the 50/50 mix is riskless
    result = optimize_weights(returns, "min_variance", covariance_method="sample")
    assert result.weights.to_numpy() == pytest.approx([0.5, 0.5], abs=1e-6)
    assert result.volatility == 0.0
    assert np.isnan(result.sharpe_ratio) and result.risk_contributions.isna().all()

"""PortfolioManager: the seed's calls, bound to the [RISK] limits, on market data from a real store."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ravenshire.data import DataManager
from ravenshire.errors import InfeasibleError
from ravenshire.portfolio import PortfolioManager
from ravenshire.portfolio.optimizers import Constraints
from ravenshire.research import ResearchManager
from tests.conftest import NOW

UNIVERSE = [f"S{i:02d}" for i in range(8)]


@pytest.fixture
def returns(make_config) -> pd.DataFrame:
    config = make_config(f"[DATA]\nuniverse = {', '.join(UNIVERSE)}\nhistory_start = 2021-01-04\n")
    data = DataManager(config, now=NOW).get_market_data()
    return data["adj_close"].pct_change().iloc[1:]


@pytest.fixture
def manager(make_config) -> PortfolioManager:
    config = make_config("[RISK]\nmax_position_weight = 0.2\nmax_leverage = 1.0\nmax_group_weight = 0.5\n"
                         "sectors = S00:Tech, S01:Tech, S02:Tech\n")  # fmt: skip
    return PortfolioManager(initial_capital=100_000, config=config)


def test_the_seed_calls(manager: PortfolioManager, returns: pd.DataFrame) -> None:
    for method in ("mean_variance", "risk_parity", "max_sharpe", "min_variance"):
        result = manager.optimize_weights(returns=returns, method=method)
        w = result.weights
        assert list(w.index) == list(returns.columns)
        assert w.sum() == pytest.approx(1.0, abs=1e-6)
        assert (w >= -1e-8).all() and (w <= 0.2 + 1e-6).all(), method  # [RISK] max_position_weight
        assert result.converged and np.isfinite(result.volatility)
    # heuristics (hrp, inverse volatility) do not optimise under bounds: the limits are checked, not imposed
    loose = Constraints(max_weight=0.5)
    for method in ("hrp", "inverse_volatility", "equal_weight"):
        assert manager.optimize_weights(returns, method, constraints=loose).weights.sum() == pytest.approx(1.0)
    equity = 100_000 * (1 + returns @ w).cumprod()
    risk = manager.get_risk_metrics(returns=returns @ w, equity_curve=equity, weights=w, asset_returns=returns)
    assert risk.var_method == "historical" and risk.var_95 > 0 and risk.var_99 >= risk.var_95
    assert 0 <= risk.current_drawdown <= risk.max_drawdown < 1
    assert risk.current_leverage == pytest.approx(1.0, abs=1e-6)
    assert risk.component_risk.sum() == pytest.approx(risk.volatility, rel=1e-6)


def test_the_risk_limits_are_the_default_constraints_and_never_silently_dropped(
    manager: PortfolioManager, returns: pd.DataFrame
) -> None:
    with pytest.raises(InfeasibleError, match=r"\[RISK\]: max_position_weight = 0.2"):
        manager.optimize_weights(returns=returns.iloc[:, :3], method="min_variance")  # 3 × 20 % < 100 %
    loose = manager.optimize_weights(returns.iloc[:, :3], "min_variance", constraints=Constraints(max_weight=0.6))
    assert loose.weights.max() <= 0.6 + 1e-6 and loose.weights.sum() == pytest.approx(1.0, abs=1e-6)


def test_limits_report_breaches_with_the_configured_sectors(manager: PortfolioManager) -> None:
    weights = pd.Series({"S00": 0.25, "S01": 0.2, "S02": 0.15, "S03": 0.4})
    report = manager.check_limits(weights=weights)
    assert not report.ok
    found = {(b.limit, b.subject) for b in report if b.severity == "breach"}
    assert ("max_position_weight", "S03") in found and ("max_position_weight", "S00") in found
    assert ("max_group_weight", "Tech") in found  # 60 % in one sector over 50 %
    assert "var_limit" in report.skipped  # no returns given: said, not passed


def test_sizing_and_rebalancing_on_the_managers_capital(manager: PortfolioManager) -> None:
    prices = pd.Series({"S00": 100.0, "S01": 50.0, "S02": 20.0})
    target = pd.Series({"S00": 0.5, "S01": 0.3, "S02": 0.2})
    allocation = manager.size_positions(target, prices)
    assert allocation.shares.to_dict() == {"S00": 500, "S01": 600, "S02": 1000}
    assert allocation.leftover_cash == pytest.approx(0.0, abs=1e-9)
    plan = manager.rebalance(allocation.shares, pd.Series({"S00": 0.2, "S01": 0.3, "S02": 0.5}), prices, cash=0.0)
    sides = [(o.symbol, o.side, o.quantity) for o in plan.orders]
    assert sides == [("S00", "SELL", 300), ("S02", "BUY", 1500)]


def test_the_risk_of_a_backtest(make_config) -> None:
    config = make_config(f"[DATA]\nuniverse = {', '.join(UNIVERSE)}\nhistory_start = 2022-01-03\n")
    data = DataManager(config, now=NOW).get_market_data()
    result = ResearchManager(config, track=False).backtest_strategy("equal_weight", data)
    manager = PortfolioManager(config=config)
    held = result.returns.iloc[1:]
    risk = manager.get_risk_metrics(held, result.equity_curve, weights=result.positions.iloc[-1])
    assert risk.max_drawdown == pytest.approx(result.max_drawdown, abs=1e-12)
    assert risk.var_95 == pytest.approx(result.var_95, abs=1e-12)
    assert manager.check_limits(weights=result.positions.iloc[-1], returns=held).checked

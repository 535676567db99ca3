"""ResearchManager.backtest_strategy: the seed's contract on real market data from a real store."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd
import pytest

from ravenshire.data import DataManager
from ravenshire.data.versioning import canonical_bytes
from ravenshire.errors import ConfigError
from ravenshire.research import Costs, ResearchManager
from ravenshire.research import metrics as m
from ravenshire.research.strategies import ma_crossover


@pytest.fixture
def data(manager: DataManager) -> pd.DataFrame:
    return manager.get_market_data(["AAA", "BBB", "CCC"], "2023-01-03", "2024-06-28", create_version=True)


def test_the_seed_call_returns_the_seed_metrics(manager: DataManager, data: pd.DataFrame) -> None:
    result = ResearchManager(manager.config).backtest_strategy(
        strategy_func=ma_crossover, data=data, parameters={"ma_period": 20}, strategy_name="MA_Crossover"
    )
    assert result.strategy_name == "MA_Crossover"
    assert result.parameters == {"ma_period": 20, "threshold": manager.config.strategy.threshold}
    for value in (result.sharpe_ratio, result.total_return, result.max_drawdown):
        assert isinstance(value, float) and np.isfinite(value)
    assert 0 <= result.max_drawdown <= 1
    assert result.data_version == data.attrs["data_version"]
    assert result.is_demo is True
    assert result.n_trades == len(result.trades) > 0


def test_metrics_are_those_of_the_held_days(manager: DataManager, data: pd.DataFrame) -> None:
    result = ResearchManager(manager.config).backtest_strategy(
        "equal_weight", data, costs=Costs(commission_bps=5, slippage_bps=5)
    )
    held = result.returns.iloc[1:].to_numpy()
    assert result.returns.iloc[0] == 0.0
    assert result.sharpe_ratio == pytest.approx(m.sharpe_ratio(held), abs=1e-12)
    assert result.total_return == pytest.approx(m.total_return(held), abs=1e-12)
    assert result.equity_curve.iloc[-1] == pytest.approx(100_000 * (1 + result.total_return), rel=1e-12)
    assert result.exposure == pytest.approx(1.0, abs=1e-9)  # fully invested every day
    assert result.turnover > 0
    summary = result.to_dict()
    assert summary["data_version"] == data.attrs["data_version"] and summary["costs"]["commission_bps"] == 5


def test_costs_lower_the_result(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config)
    free = research.backtest_strategy("ma_crossover_fast_slow", data, {"fast": 5, "slow": 20})
    costly = research.backtest_strategy(
        "ma_crossover_fast_slow", data, {"fast": 5, "slow": 20}, costs=Costs(commission_bps=20)
    )
    assert costly.total_return < free.total_return
    pd.testing.assert_frame_equal(costly.positions, free.positions)


def test_a_backtest_on_a_loaded_version_is_reproduced_bit_for_bit(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config)
    first = research.backtest_strategy("xs_momentum", data, {"lookback": 20, "top_n": 2})
    again = research.backtest_strategy(
        "xs_momentum", manager.load_version(first.data_version), {"lookback": 20, "top_n": 2}
    )
    pd.testing.assert_series_equal(first.returns, again.returns, check_exact=True)
    assert first.to_dict() | {"run_id": None} == again.to_dict() | {"run_id": None}


def test_data_without_a_version_records_its_content_id(manager: DataManager) -> None:
    data = manager.get_market_data(["AAA"], "2024-01-02", "2024-03-28")
    result = ResearchManager(manager.config).backtest_strategy("buy_and_hold", data)
    assert result.data_version == hashlib.sha256(canonical_bytes(data)).hexdigest()
    assert manager.create_version(data).id == result.data_version


def test_a_user_function_is_a_strategy(manager: DataManager, data: pd.DataFrame) -> None:
    def half_in_aaa(frame: pd.DataFrame, weight: float = 0.5) -> pd.DataFrame:
        prices = frame["adj_close"]
        return pd.DataFrame({"AAA": weight}, index=prices.index)

    result = ResearchManager(manager.config).backtest_strategy(half_in_aaa, data, {"weight": 0.5})
    assert result.strategy_name == "half_in_aaa"
    assert result.exposure == pytest.approx(0.5)
    assert result.n_trades == 1


@pytest.mark.parametrize(
    ("strategy", "params", "message"),
    [
        ("ma_crosover", {}, "did you mean 'ma_crossover'"),
        ("ma_crossover", {"ma_perod": 10}, "did you mean 'ma_period'"),
        ("ma_crossover", {"ma_period": -3}, "ma_period"),
    ],
)
def test_bad_strategies_and_parameters_are_refused(manager, data, strategy, params, message) -> None:
    with pytest.raises(ConfigError, match=message):
        ResearchManager(manager.config).backtest_strategy(strategy, data, params)


def test_a_run_under_a_display_name_is_reproduced(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config)
    result = research.backtest_strategy(ma_crossover, data, {"ma_period": 15}, strategy_name="MA_Crossover")
    assert research.load_run(result.run_id).info["builtin"] == "ma_crossover"
    again = research.reproduce(result.run_id)
    assert again.strategy_name == "MA_Crossover" and again.sharpe_ratio == result.sharpe_ratio


def test_a_user_function_run_is_not_reproduced_as_a_built_in(manager: DataManager, data: pd.DataFrame) -> None:
    def equal_weight(frame: pd.DataFrame) -> pd.DataFrame:  # a user's function that shares a built-in's name
        prices = frame["adj_close"]
        return pd.DataFrame({"AAA": 1.0}, index=prices.index)

    research = ResearchManager(manager.config)
    result = research.backtest_strategy(equal_weight, data)
    assert research.load_run(result.run_id).info["builtin"] is None
    with pytest.raises(ConfigError, match="custom strategy 'equal_weight'"):
        research.reproduce(result.run_id)

"""Experiment tracking: every backtest is a run in the store, reloadable and reproducible bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ravenshire.data import DataManager
from ravenshire.errors import ConfigError
from ravenshire.research import Costs, ResearchManager
from ravenshire.research.tracking import code_version


@pytest.fixture
def research(manager: DataManager) -> ResearchManager:
    return ResearchManager(manager.config, engine=manager.engine)


@pytest.fixture
def data(manager: DataManager) -> pd.DataFrame:
    return manager.get_market_data(["AAA", "BBB", "CCC"], "2023-06-01", "2024-06-28")


def test_a_backtest_is_a_run_with_its_artifacts(research: ResearchManager, data: pd.DataFrame) -> None:
    result = research.backtest_strategy("ma_crossover", data, {"ma_period": 30}, costs=Costs(commission_bps=3))
    assert result.run_id is not None
    stored = research.load_run(result.run_id)
    assert stored.info["strategy"] == "ma_crossover"
    assert stored.info["parameters"] == dict(result.parameters)
    assert stored.info["costs"]["commission_bps"] == 3
    assert stored.info["data_version"] == result.data_version
    assert stored.info["code_version"] == code_version()
    assert stored.info["duration_s"] > 0
    assert stored.info["metrics"]["sharpe_ratio"] == pytest.approx(result.sharpe_ratio, abs=0)
    np.testing.assert_array_equal(stored.returns.to_numpy(), result.returns.to_numpy())
    np.testing.assert_array_equal(stored.equity.to_numpy(), result.equity_curve.to_numpy())
    assert list(stored.returns.index) == list(result.returns.index)
    pd.testing.assert_frame_equal(stored.positions, result.positions, check_freq=False, check_names=False)
    assert len(stored.trades) == result.n_trades


def test_a_stored_run_is_reproduced_bit_for_bit(research: ResearchManager, data: pd.DataFrame) -> None:
    result = research.backtest_strategy("mean_reversion", data, {"window": 15}, costs=Costs(slippage_bps=7))
    again = research.reproduce(result.run_id)
    stored = research.load_run(result.run_id)
    np.testing.assert_array_equal(again.returns.to_numpy(), stored.returns.to_numpy())
    assert again.to_dict() | {"run_id": None} == result.to_dict() | {"run_id": None}


def test_runs_are_listed_newest_first_and_compared(research: ResearchManager, data: pd.DataFrame) -> None:
    a = research.backtest_strategy("equal_weight", data)
    b = research.backtest_strategy("buy_and_hold", data)
    runs = research.list_runs()
    assert list(runs["id"][:2]) == [b.run_id, a.run_id]
    assert {"sharpe_ratio", "max_drawdown", "n_trades"} <= set(runs.columns)
    assert list(research.list_runs(strategy="equal_weight")["id"]) == [a.run_id]
    table = research.compare_runs([a.run_id, b.run_id])
    assert table.loc["total_return", a.run_id] == pytest.approx(a.total_return)
    assert table.loc["total_return", b.run_id] == pytest.approx(b.total_return)


def test_untracked_backtests_write_nothing(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config, engine=manager.engine, track=False)
    assert research.backtest_strategy("equal_weight", data).run_id is None
    assert research.list_runs().empty


def test_custom_functions_and_unknown_runs_cannot_be_reproduced(research: ResearchManager, data: pd.DataFrame) -> None:
    def all_in_aaa(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame({"AAA": 1.0}, index=frame.index)

    custom = research.backtest_strategy(all_in_aaa, data)
    with pytest.raises(ConfigError, match="custom strategy 'all_in_aaa'"):
        research.reproduce(custom.run_id)
    with pytest.raises(ConfigError, match="no run #999"):
        research.load_run(999)

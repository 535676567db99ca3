"""ResearchManager.optimize_parameters: the seed's call, tracked in a real store, resumable, reproducible."""

from __future__ import annotations

import optuna
import pandas as pd
import pytest
from sqlalchemy import func, select

from ravenshire.data import DataManager
from ravenshire.errors import ConfigError
from ravenshire.research import ResearchManager
from ravenshire.research.strategies import ma_crossover
from ravenshire.store import read
from ravenshire.store import schema as s
from tests.conftest import NOW

SPACE = {"fast": (5, 25, 5), "slow": [30, 60]}


@pytest.fixture
def data(manager: DataManager) -> pd.DataFrame:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return manager.get_market_data(["AAA", "BBB", "CCC"], "2022-01-03", "2024-06-28")


def _count(manager: DataManager, table: s.Table) -> int:
    with read(manager.engine) as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_the_seed_call_searches_the_seed_space(make_config, data: pd.DataFrame) -> None:
    config = make_config("[STRATEGY]\nthreshold = 0.03\n[RESEARCH]\nwalk_forward_folds = 0\n")
    manager = DataManager(config, now=NOW)
    data = manager.get_market_data(["AAA", "BBB", "CCC"], "2022-01-03", "2024-06-28")
    best = ResearchManager(config).optimize_parameters(
        strategy_func=ma_crossover, data=data, param_space={"ma_period": (10, 50, 5)},
        strategy_name="MA_Crossover", n_trials=8,
    )  # fmt: skip
    assert best.strategy_name == "MA_Crossover" and best.method == "tpe"
    assert best.n_trials == 8
    assert set(best.trials["threshold"]) == {0.03}  # [STRATEGY] threshold, not the strategy's own default
    assert best.best_params["threshold"] == 0.03 and best.best_params["ma_period"] in range(10, 55, 5)


def test_every_trial_is_a_run_and_the_best_is_stored_in_full(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config)
    result = research.optimize_parameters("ma_crossover_fast_slow", data, SPACE, n_trials=10, walk_forward_folds=2)
    runs = research.list_runs(limit=1000)
    trials = runs[runs["kind"] == "trial"]
    complete = result.trials[result.trials["state"] == "complete"]
    assert len(trials) == len(complete) and set(trials["study"]) == {result.study_name}
    assert set(complete["run_id"]) == set(trials["id"])
    assert (trials["data_version"] == result.data_version).all() and result.data_version is not None
    # a trial run holds the trial's metrics, on the train dates, and reproduces bit for bit from the store
    row = complete.iloc[0]
    stored = research.load_run(int(row["run_id"]))
    assert stored.info["kind"] == "trial" and stored.info["metrics"]["sharpe_ratio"] == row["sharpe_ratio"]
    assert (stored.info["start_date"], stored.info["end_date"]) == result.train
    again = research.reproduce(int(row["run_id"]))
    assert again.sharpe_ratio == row["sharpe_ratio"] and again.total_return == row["total_return"]
    # the best set, run once more in full: artifacts, same figure as its trial
    best = research.load_run(result.best_run_id)
    assert best.info["kind"] == "backtest" and best.info["study"] == result.study_name
    assert best.info["metrics"]["sharpe_ratio"] == pytest.approx(result.best_value, abs=1e-12)
    assert best.info["parameters"] == result.best_params and len(best.equity) > 0
    assert best.equity.index[-1].date() == result.train[1]


def test_running_the_same_search_again_resumes_it(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config)
    first = research.optimize_parameters("ma_crossover_fast_slow", data, SPACE, n_trials=6, walk_forward_folds=0)
    trial_runs = (research.list_runs(limit=1000)["kind"] == "trial").sum()
    again = research.optimize_parameters("ma_crossover_fast_slow", data, SPACE, n_trials=6, walk_forward_folds=0)
    assert again.study_name == first.study_name and again.best_params == first.best_params
    assert (research.list_runs(limit=1000)["kind"] == "trial").sum() == trial_runs  # no trial ran twice
    assert again.best_run_id == first.best_run_id  # nor the best run
    study = optuna.load_study(study_name=first.study_name, storage=manager.config.store_url)
    assert len(study.trials) == 6


def test_untracked_search_writes_nothing(manager: DataManager, data: pd.DataFrame) -> None:
    before = _count(manager, s.data_versions), _count(manager, s.runs)
    result = ResearchManager(manager.config, track=False).optimize_parameters(
        "ma_crossover_fast_slow", data, SPACE, method="grid", walk_forward_folds=0
    )
    assert result.best_run_id is None and result.trials["run_id"].isna().all()
    assert (_count(manager, s.data_versions), _count(manager, s.runs)) == before


@pytest.mark.parametrize(
    ("space", "kwargs", "needle"),
    [
        ({"fast": (30, 10, 5)}, {}, "empty range"),
        ({"fast": (10, 30, 5)}, {"objective": "alpha"}, "objective 'alpha'"),
        ({"fast": (10, 30, 5)}, {"test_fraction": 0.999}, "at least 21 dates"),
        ({"lookback": (10, 30, 5)}, {}, "unknown parameter 'lookback'"),
    ],
)
def test_bad_searches_are_refused_before_anything_is_written(manager, data, space, kwargs, needle) -> None:
    before = _count(manager, s.data_versions), _count(manager, s.runs)
    with pytest.raises(ConfigError, match=needle):
        ResearchManager(manager.config).optimize_parameters("ma_crossover_fast_slow", data, space, **kwargs)
    assert (_count(manager, s.data_versions), _count(manager, s.runs)) == before


def test_a_changed_fixed_parameter_is_a_new_search(make_config) -> None:
    studies = []
    for threshold in ("0.02", "0.05"):
        config = make_config(f"[STRATEGY]\nthreshold = {threshold}\n[RESEARCH]\nwalk_forward_folds = 0\n")
        data = DataManager(config, now=NOW).get_market_data(["AAA", "BBB"], "2022-01-03", "2024-06-28")
        result = ResearchManager(config).optimize_parameters(
            "ma_crossover", data, {"ma_period": (10, 30, 10)}, n_trials=3
        )
        assert set(result.trials["threshold"]) == {float(threshold)}
        studies.append(result.study_name)
    assert studies[0] != studies[1]


def test_an_unusable_mlflow_uri_fails_tracked_runs_in_one_line_and_spares_untracked_ones(
    make_config, data: pd.DataFrame
) -> None:
    pytest.importorskip("mlflow")
    config = make_config("[RESEARCH]\nmlflow_tracking_uri = foo://nowhere\n")
    research = ResearchManager(config)
    untracked = research.backtest_strategy("equal_weight", data, track=False)
    assert untracked.run_id is None
    with pytest.raises(ConfigError, match="mlflow_tracking_uri = foo://nowhere: MLflow cannot use it"):
        research.backtest_strategy("equal_weight", data)


def test_a_grid_search_run_again_does_not_store_its_trials_twice(manager: DataManager, data: pd.DataFrame) -> None:
    research = ResearchManager(manager.config)
    first = research.optimize_parameters("ma_crossover_fast_slow", data, SPACE, method="grid", walk_forward_folds=0)
    runs = len(research.list_runs(limit=1000))
    again = research.optimize_parameters("ma_crossover_fast_slow", data, SPACE, method="grid", walk_forward_folds=0)
    assert len(research.list_runs(limit=1000)) == runs
    assert again.trials["run_id"].tolist() == first.trials["run_id"].tolist()
    assert again.best_run_id == first.best_run_id

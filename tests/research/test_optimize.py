"""optimize_parameters: grid, TPE and random search on the train period, judged out of sample and for luck."""

from __future__ import annotations

import datetime as dt
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import optuna
import pandas as pd
import pytest

from ravenshire.data.frames import to_wide
from ravenshire.data.sources.synthetic import SyntheticSource
from ravenshire.errors import ConfigError
from ravenshire.research import Costs, backtest, get_strategy, run_sweep
from ravenshire.research.optimize import (
    MIN_BLOCK,
    optimize_parameters,
    slice_metrics,
    split_train_test,
    walk_forward,
)
from ravenshire.research.sweep import METRIC_COLUMNS, grid, parse_space
from tests.conftest import PROJECT

FAST_SLOW = get_strategy("ma_crossover_fast_slow")
SPACE = {"fast": (10, 40, 10), "slow": [40, 80]}  # (40, 40) is refused by the strategy
COSTS = Costs(commission_bps=10)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    symbols = ["AAA", "BBB", "CCC", "DDD"]
    bars = SyntheticSource(seed=3).fetch(symbols, dt.date(2020, 1, 2), dt.date(2023, 12, 29)).bars
    frame = to_wide(bars, symbols)
    frame.attrs.update(is_demo=True)
    return frame


def _quiet() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)


def test_the_grid_finds_the_best_set_of_the_train_period_and_prunes_refused_sets(data: pd.DataFrame) -> None:
    result = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", costs=COSTS, test_fraction=0.3)
    train, test = split_train_test(data, 0.3)
    assert test is not None and len(test) == math.floor(len(data) * 0.3)
    sweep = run_sweep(FAST_SLOW, train, grid(parse_space(FAST_SLOW, SPACE)), COSTS)
    best = sweep.loc[sweep["sharpe_ratio"].idxmax()]
    assert result.best_params == {"fast": int(best["fast"]), "slow": int(best["slow"])}
    assert result.best_value == pytest.approx(float(best["sharpe_ratio"]), abs=1e-12)
    assert result.n_trials == 8 and result.n_distinct == 7
    pruned = result.trials[result.trials["state"] == "pruned"]
    assert pruned[["fast", "slow"]].to_dict("records") == [{"fast": 40, "slow": 40}]
    assert result.train == (train.index[0].date(), train.index[-1].date())
    assert result.test == (test.index[0].date(), test.index[-1].date())
    assert result.direction == "maximize" and result.method == "grid"


def test_in_and_out_of_sample_metrics_are_those_of_independent_backtests(data: pd.DataFrame) -> None:
    result = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", costs=COSTS)
    train, _ = split_train_test(data, 0.3)
    weights = FAST_SLOW.func(train, **result.best_params)
    held = backtest(train, weights, COSTS).returns.iloc[1:].to_numpy()
    assert result.in_sample == pytest.approx(slice_metrics(held), abs=1e-12)
    full = backtest(data, FAST_SLOW.func(data, **result.best_params), COSTS).returns
    oos = full.iloc[len(train) :].to_numpy()
    assert result.out_of_sample == pytest.approx(slice_metrics(oos), abs=1e-12)
    assert result.significance.n_trials == result.n_distinct
    assert result.significance.sharpe == pytest.approx(result.in_sample["sharpe_ratio"], rel=1e-9)


def test_the_search_never_sees_the_test_period(data: pd.DataFrame) -> None:
    seen: list[pd.Timestamp] = []

    def peeking(frame: pd.DataFrame, lookback: int = 5) -> pd.DataFrame:
        seen.append(frame.index[-1])
        prices = frame.xs("adj_close", axis=1, level=0)
        # a strategy that cheats: it holds tomorrow's winners. Only the data it is given can leak.
        ahead = prices.shift(-lookback) > prices
        return ahead.astype(float) / prices.shape[1]

    result = optimize_parameters(peeking, data, {"lookback": (1, 5, 1)}, "peeking", method="grid")
    train_end = pd.Timestamp(result.train[1])
    search_calls = seen[:5]
    assert all(last == train_end for last in search_calls)


def test_a_minimised_objective_picks_the_smallest_drawdown(data: pd.DataFrame) -> None:
    result = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", objective="max_drawdown")
    measured = result.trials[result.trials["state"] == "complete"]
    assert result.direction == "minimize"
    assert result.best_value == pytest.approx(measured["max_drawdown"].min(), abs=0)


def test_tpe_is_seeded_and_runs_the_trials_asked(data: pd.DataFrame) -> None:
    _quiet()
    space = {"fast": (5, 45, 5), "slow": (50, 150, 10)}
    a = optimize_parameters(FAST_SLOW, data, space, n_trials=12, method="tpe", seed=7)
    b = optimize_parameters(FAST_SLOW, data, space, n_trials=12, method="tpe", seed=7)
    assert a.n_trials == 12
    pd.testing.assert_frame_equal(a.trials.drop(columns="duration_s"), b.trials.drop(columns="duration_s"))
    assert a.best_params == b.best_params
    complete = a.trials[a.trials["state"] == "complete"]
    assert a.best_value == complete["sharpe_ratio"].max()
    assert set(complete["fast"]) <= set(range(5, 50, 5)) and set(complete["slow"]) <= set(range(50, 160, 10))
    r = optimize_parameters(FAST_SLOW, data, space, n_trials=12, method="random", seed=7)
    assert r.n_trials == 12 and r.method == "random"


def test_float_ranges_are_searched_on_their_grid(data: pd.DataFrame) -> None:
    _quiet()
    space = {"ma_period": (10, 30, 10), "threshold": (0.01, 0.05, 0.01)}
    result = optimize_parameters(get_strategy("ma_crossover"), data, space, n_trials=10, method="tpe")
    values = set(result.trials["threshold"].dropna())
    assert values <= {0.01, 0.02, 0.03, 0.04, 0.05}  # exact grid values, no 0.030000000000000002


def test_a_stored_study_resumes_and_refuses_another_search(tmp_path: Path, data: pd.DataFrame) -> None:
    _quiet()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    space = {"fast": (5, 45, 5), "slow": (50, 150, 10)}
    first = optimize_parameters(FAST_SLOW, data, space, n_trials=6, storage=url)
    study = optuna.load_study(study_name=first.study_name, storage=url)
    study.ask()  # a trial left RUNNING by a worker that died must not block the resume
    again = optimize_parameters(FAST_SLOW, data, space, n_trials=10, storage=url)
    assert again.study_name == first.study_name and again.n_trials == 10
    pd.testing.assert_frame_equal(
        again.trials.iloc[:6].drop(columns="duration_s"), first.trials.drop(columns="duration_s")
    )
    done = optimize_parameters(FAST_SLOW, data, space, n_trials=10, storage=url)  # nothing left to run
    assert done.n_trials == 10 and done.best_params == again.best_params
    with pytest.raises(ConfigError, match="already exists for a different search"):
        optimize_parameters(
            FAST_SLOW, data, space, n_trials=10, storage=url, study_name=first.study_name, objective="cagr"
        )


WORKER = """
import sys, datetime as dt
import optuna
from ravenshire.data.frames import to_wide
from ravenshire.data.sources.synthetic import SyntheticSource
from ravenshire.research import get_strategy
from ravenshire.research.optimize import optimize_parameters
optuna.logging.set_verbosity(optuna.logging.WARNING)
symbols = ["AAA", "BBB", "CCC", "DDD"]
bars = SyntheticSource(seed=3).fetch(symbols, dt.date(2020, 1, 2), dt.date(2023, 12, 29)).bars
data = to_wide(bars, symbols)
data.attrs.update(is_demo=True)
result = optimize_parameters(get_strategy("ma_crossover_fast_slow"), data, {"fast": (5, 45, 5), "slow": (50, 150, 10)},
                             n_trials=16, storage=sys.argv[1], study_name="shared", seed=int(sys.argv[2]))
print(result.n_trials)
"""


def test_two_worker_processes_share_one_study(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.db'}"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, url, str(seed)],
            cwd=PROJECT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in (1, 2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err
    study = optuna.load_study(study_name="shared", storage=url)
    finished = [t for t in study.trials if t.state.is_finished()]
    assert 16 <= len(finished) <= 17  # each worker checks the count before a trial; one may overshoot by one
    workers = {t.user_attrs.get("worker") for t in finished}
    assert len(workers) == 2, "both workers should have run trials of the shared study"


def test_walk_forward_picks_on_the_past_and_measures_on_the_next_block(data: pd.DataFrame) -> None:
    sets = grid(parse_space(FAST_SLOW, {"fast": (10, 30, 10), "slow": [50, 100]}))
    wf = walk_forward(FAST_SLOW, data, sets, folds=3, costs=COSTS)
    assert len(wf.folds) == 3 and wf.n_sets == 6
    bounds = [round(j * len(data) / 4) for j in range(5)]
    for i, fold in enumerate(wf.folds.itertuples(), start=1):
        assert fold.test_start == data.index[bounds[i]].date() and fold.test_end == data.index[bounds[i + 1] - 1].date()
        assert fold.train_end == data.index[bounds[i] - 1].date()
        sweep = run_sweep(FAST_SLOW, data.iloc[: bounds[i]], sets, COSTS)
        best = sweep.loc[sweep["sharpe_ratio"].idxmax()]
        assert (fold.fast, fold.slow) == (best["fast"], best["slow"])
        assert fold.in_sample == pytest.approx(best["sharpe_ratio"], abs=1e-12)
        net = backtest(data.iloc[: bounds[i + 1]], FAST_SLOW.func(data.iloc[: bounds[i + 1]], fast=fold.fast,
                       slow=fold.slow), COSTS).returns.iloc[bounds[i] :]  # fmt: skip
        assert fold.out_of_sample == pytest.approx(slice_metrics(net.to_numpy())["sharpe_ratio"], abs=1e-12)
    assert wf.returns.index.equals(data.index[bounds[1] :])  # the test blocks, stitched, no gap, no overlap
    assert wf.out_of_sample == pytest.approx(slice_metrics(wf.returns.to_numpy()), abs=1e-12)


def test_optimize_reports_walk_forward_when_asked(data: pd.DataFrame) -> None:
    result = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", walk_forward_folds=2)
    assert result.walk_forward is not None and len(result.walk_forward.folds) == 2
    summary = result.to_dict()
    assert summary["walk_forward"]["n_sets"] == 8 and len(summary["walk_forward"]["folds"]) == 2
    assert set(summary["in_sample"]) == set(METRIC_COLUMNS) and isinstance(summary["likely_luck"], bool)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"method": "anneal"}, "method 'anneal' is not one of: grid, tpe, random"),
        ({"objective": "sharpe"}, "objective 'sharpe' is not one of"),
        ({"n_trials": 0}, "n_trials must be an integer >= 1"),
        ({"param_space": {}}, "param_space is empty"),
        ({"param_space": {"fast": (50, 10, 5)}}, r"empty range \(50, 10, 5\), start must be < stop"),
        ({"param_space": {"fast": (10, 50, 0)}}, "step must be > 0"),
        ({"param_space": {"fastt": (10, 50, 5)}}, "did you mean 'fast'"),
        ({"test_fraction": 1.0}, r"test_fraction must be a number in \[0, 1\)"),
        ({"test_fraction": 0.001}, f"at least {MIN_BLOCK} dates"),
        ({"walk_forward_folds": 60}, "walk-forward folds need"),
        ({"walk_forward_folds": -1}, "walk_forward_folds must be an integer >= 0"),
    ],
)
def test_bad_input_is_refused_before_anything_runs(data: pd.DataFrame, kwargs: dict, needle: str) -> None:
    args = {"param_space": SPACE, "method": "grid"} | kwargs
    space = args.pop("param_space")
    with pytest.raises(ConfigError, match=needle):
        optimize_parameters(FAST_SLOW, data, space, **args)


def test_a_function_without_the_searched_parameter_is_refused(data: pd.DataFrame) -> None:
    def fn(frame: pd.DataFrame, window: int = 5) -> pd.DataFrame:
        return frame.xs("adj_close", axis=1, level=0) * 0

    with pytest.raises(ConfigError, match="fn\\(\\) has no parameter 'windw'; it takes: window"):
        optimize_parameters(fn, data, {"windw": (1, 5, 1)}, method="grid")


def test_no_test_period_when_test_fraction_is_zero(data: pd.DataFrame) -> None:
    result = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", test_fraction=0.0)
    assert result.test is None and result.out_of_sample is None
    assert result.train == (data.index[0].date(), data.index[-1].date())
    assert np.isfinite(result.best_value)


def test_the_search_measures_at_the_users_capital(data: pd.DataFrame) -> None:
    fixed = Costs(fixed_per_trade=20.0)  # 20 a trade weighs 10x more on 10,000 than on 100,000
    small = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", costs=fixed, initial_capital=10_000)
    big = optimize_parameters(FAST_SLOW, data, SPACE, method="grid", costs=fixed, initial_capital=1_000_000)
    train, _ = split_train_test(data, 0.3)
    weights = FAST_SLOW.func(train, **small.best_params)
    held = backtest(train, weights, fixed, initial_capital=10_000).returns.iloc[1:].to_numpy()
    assert small.in_sample == pytest.approx(slice_metrics(held), abs=1e-12)
    assert small.study_name != big.study_name  # the capital is part of the search's identity


def test_a_float_range_is_sampled_up_to_its_top(data: pd.DataFrame) -> None:
    _quiet()
    space = {"ma_period": [20], "threshold": (0.05, 0.5, 0.05)}  # 0.05 is not exact in binary
    result = optimize_parameters(get_strategy("ma_crossover"), data, space, n_trials=40, method="random", seed=3)
    sampled = set(result.trials["threshold"].dropna())
    assert 0.5 in sampled and sampled <= {round(0.05 * i, 2) for i in range(1, 11)}


def test_a_space_where_no_set_trades_is_refused_not_answered(data: pd.DataFrame) -> None:
    def never(frame: pd.DataFrame, window: int = 5) -> pd.DataFrame:
        return frame.xs("adj_close", axis=1, level=0) * 0.0

    for objective in ("sharpe_ratio", "volatility"):  # a flat set would "win" a minimised volatility with 0
        with pytest.raises(ConfigError, match=f"no parameter set has a finite {objective}"):
            optimize_parameters(never, data, {"window": (1, 3, 1)}, method="grid", objective=objective)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"seed": -1}, r"seed must be an integer in \[0, 2\*\*32\)"),
        ({"initial_capital": -100}, "initial_capital must be a positive number"),
        ({"risk_free": -5}, "risk_free must be a finite annual rate > -1"),
    ],
)
def test_run_settings_are_checked_before_anything_runs(data: pd.DataFrame, kwargs: dict, needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        optimize_parameters(FAST_SLOW, data, SPACE, **kwargs)


def test_the_largest_seed_resumes_without_overflow(tmp_path: Path, data: pd.DataFrame) -> None:
    _quiet()
    url = f"sqlite:///{tmp_path / 'store.db'}"
    space = {"fast": (5, 45, 5), "slow": (50, 150, 10)}
    optimize_parameters(FAST_SLOW, data, space, n_trials=3, storage=url, seed=2**32 - 1)
    assert optimize_parameters(FAST_SLOW, data, space, n_trials=5, storage=url, seed=2**32 - 1).n_trials == 5

"""Parameter sweeps: search-space parsing, grids, and run_sweep against per-set backtests."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from ravenshire.data.frames import to_wide
from ravenshire.data.sources.synthetic import SyntheticSource
from ravenshire.errors import ConfigError
from ravenshire.research import Costs, ResearchManager, get_strategy
from ravenshire.research.sweep import METRIC_COLUMNS, grid, parse_space, run_sweep

FAST_SLOW = get_strategy("ma_crossover_fast_slow")
MA = get_strategy("ma_crossover")
MEAN_REV = get_strategy("mean_reversion")
SYMBOLS = ["AAA", "BBB", "CCC", "DDD"]


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    bars = SyntheticSource(seed=11, epoch="2019-01-02").fetch(SYMBOLS, dt.date(2019, 1, 2), dt.date(2021, 12, 31)).bars
    return to_wide(bars, SYMBOLS)


# ------------------------------------------------------------------ parse_space


def test_range_stop_is_inclusive_on_the_grid() -> None:
    space = parse_space(FAST_SLOW, {"fast": (10, 50, 5)})
    assert space["fast"] == [10, 15, 20, 25, 30, 35, 40, 45, 50]
    assert all(type(v) is int for v in space["fast"])
    assert parse_space(FAST_SLOW, {"fast": (10, 52, 5)})["fast"][-1] == 50


def test_float_range_is_rounded() -> None:
    assert parse_space(MA, {"threshold": (0.1, 0.5, 0.1)})["threshold"] == [0.1, 0.2, 0.3, 0.4, 0.5]
    assert parse_space(MA, {"threshold": (0.01, 0.05, 0.01)})["threshold"] == [0.01, 0.02, 0.03, 0.04, 0.05]
    assert parse_space(MA, {"threshold": (0.005, 0.02, 0.005)})["threshold"] == [0.005, 0.01, 0.015, 0.02]
    assert parse_space(MA, {"threshold": (0, 0.3, 0.1)})["threshold"] == [0.0, 0.1, 0.2, 0.3]


def test_lists_are_checked_and_deduplicated() -> None:
    space = parse_space(FAST_SLOW, {"fast": [5, 10, 5], "slow": [100]})
    assert space == {"fast": [5, 10], "slow": [100]}
    assert parse_space("ts_momentum", {"allow_short": [True, False]}) == {"allow_short": [True, False]}


@pytest.mark.parametrize(
    ("space", "message"),
    [
        ({"fsat": (10, 50, 5)}, r"unknown parameter 'fsat'.*did you mean 'fast'"),
        ({"fast": (50, 10, 5)}, r"parameter 'fast'.*empty range .*start must be < stop"),
        ({"fast": (10, 10, 5)}, r"parameter 'fast'.*start equals stop.*list \[10\]"),
        ({"fast": (10, 50, 0)}, r"parameter 'fast'.*step must be > 0"),
        ({"fast": (10, 50, -5)}, r"parameter 'fast'.*step must be > 0"),
        ({"fast": (0, 50, 5)}, r"parameter 'fast'.*goes from 0 to 50; allowed: an integer in \[1, 250\]"),
        ({"slow": (100, 600, 100)}, r"parameter 'slow'.*goes from 100 to 600; allowed: an integer in \[2, 500\]"),
        ({"fast": (10, 50)}, r"parameter 'fast'.*\(start, stop, step\) tuple of 3 numbers"),
        ({"fast": (10, 50, 5, 1)}, r"parameter 'fast'.*\(start, stop, step\) tuple of 3 numbers"),
        ({"fast": []}, r"parameter 'fast'.*list of choices is empty"),
        ({"fast": (10.5, 50, 5)}, r"parameter 'fast'.*integer parameter.*must be integers"),
        ({"fast": (10, float("nan"), 5)}, r"parameter 'fast'.*finite numbers"),
        ({"fast": [10, 2.5]}, r"parameter 'fast'.*2.5.*allowed: an integer in \[1, 250\]"),
        ({"fast": [10, 300]}, r"parameter 'fast'.*300, out of range; allowed: an integer in \[1, 250\]"),
        ({"fast": 10}, r"parameter 'fast'.*tuple or a list of choices, got int"),
    ],
)
def test_parse_space_errors(space: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_space(FAST_SLOW, space)


def test_bool_parameter_takes_a_list_only() -> None:
    with pytest.raises(ConfigError, match=r"'allow_short'.*is a bool: give a list"):
        parse_space("ts_momentum", {"allow_short": (0, 1, 1)})


def test_float_range_out_of_bounds() -> None:
    with pytest.raises(ConfigError, match=r"'threshold'.*allowed: a number in \[0.0, 0.5\]"):
        parse_space(MA, {"threshold": (0.1, 0.7, 0.1)})


# ------------------------------------------------------------------ grid


def test_grid_is_the_ordered_cartesian_product() -> None:
    sets = grid({"fast": [5, 10], "slow": [50, 100, 200]})
    assert sets == [
        {"fast": 5, "slow": 50},
        {"fast": 5, "slow": 100},
        {"fast": 5, "slow": 200},
        {"fast": 10, "slow": 50},
        {"fast": 10, "slow": 100},
        {"fast": 10, "slow": 200},
    ]
    assert grid({}) == [{}]
    assert len(grid(parse_space(FAST_SLOW, {"fast": (10, 50, 5), "slow": (50, 200, 10)}))) == 144


def test_grid_cap_and_empty_values() -> None:
    with pytest.raises(ConfigError, match=r"1,000,000 parameter sets .*more than max_sets=100,000"):
        grid({"a": list(range(1000)), "b": list(range(1000))})
    with pytest.raises(ConfigError, match=r"more than max_sets=5"):
        grid({"a": [1, 2, 3], "b": [1, 2]}, max_sets=5)
    with pytest.raises(ConfigError, match=r"'b' has no values"):
        grid({"a": [1], "b": []})


# ------------------------------------------------------------------ run_sweep


def _assert_matches_backtests(frame: pd.DataFrame, spec_name: str, data: pd.DataFrame, costs: Costs, rf: float) -> None:
    research = ResearchManager(track=False)
    params = [c for c in frame.columns if c not in METRIC_COLUMNS]
    for chosen, row in zip(frame[params].to_dict("records"), frame.to_dict("records"), strict=True):
        result = research.backtest_strategy(spec_name, data, chosen, costs=costs, risk_free=rf, track=False)
        for name in METRIC_COLUMNS:
            expected, got = getattr(result, name), row[name]
            assert np.isclose(got, expected, rtol=0, atol=1e-12, equal_nan=True), (chosen, name, got, expected)


def test_run_sweep_equals_backtest_strategy(data: pd.DataFrame) -> None:
    costs = Costs(commission_bps=10, slippage_bps=2, cash_rate=0.01)
    sets = grid(parse_space(FAST_SLOW, {"fast": (5, 25, 10), "slow": [30, 60]}))
    frame = run_sweep(FAST_SLOW, data, sets, costs=costs, risk_free=0.02, chunk=4)  # 6 sets: 2 chunks
    assert list(frame.columns) == ["fast", "slow", *METRIC_COLUMNS]
    assert list(frame.index) == list(range(6))
    assert frame.index.name == "set"
    assert frame.attrs["skipped"] == []
    _assert_matches_backtests(frame, FAST_SLOW.name, data, costs, 0.02)


def test_run_sweep_with_fixed_costs_and_defaults(data: pd.DataFrame) -> None:
    costs = Costs(commission_bps=5, fixed_per_trade=1.0)
    frame = run_sweep("ma_crossover", data, grid({"ma_period": [10, 40]}), costs=costs, chunk=1)
    assert list(frame["threshold"]) == [MA.params["threshold"].default] * 2  # unswept parameter: the default
    _assert_matches_backtests(frame, "ma_crossover", data, costs, 0.0)


def test_chunk_size_does_not_change_results(data: pd.DataFrame) -> None:
    sets = grid({"fast": [5, 10, 20], "slow": [40, 80]})
    one = run_sweep(FAST_SLOW, data, sets, Costs(commission_bps=10), chunk=1)
    many = run_sweep(FAST_SLOW, data, sets, Costs(commission_bps=10), chunk=64)
    pd.testing.assert_frame_equal(one, many)


def test_invalid_sets_are_skipped_and_reported(data: pd.DataFrame) -> None:
    sets = grid({"fast": [10, 50], "slow": [20, 50, 100]})
    frame = run_sweep(FAST_SLOW, data, sets)
    assert list(frame.index) == [0, 1, 2, 5]
    assert frame[["fast", "slow"]].to_numpy().tolist() == [[10, 20], [10, 50], [10, 100], [50, 100]]
    skipped = frame.attrs["skipped"]
    assert [s["set"] for s in skipped] == [3, 4]
    assert skipped[0]["params"] == {"fast": 50, "slow": 20}
    assert all("needs fast < slow" in s["reason"] for s in skipped)
    assert frame.attrs["n_sets"] == 6
    _assert_matches_backtests(frame, FAST_SLOW.name, data, Costs(), 0.0)


def test_all_invalid_raises(data: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"all 2 parameter sets were refused .*needs exit_z < entry_z"):
        run_sweep(MEAN_REV, data, grid({"entry_z": [0.5, 1.0], "exit_z": [1.0]}))


def test_bad_sets_and_arguments_raise(data: pd.DataFrame) -> None:
    with pytest.raises(ConfigError, match=r"parameter set #1 .*unknown parameter 'fsat'.*did you mean 'fast'"):
        run_sweep(FAST_SLOW, data, [{"fast": 5}, {"fsat": 5}])
    with pytest.raises(ConfigError, match=r"param_sets is empty"):
        run_sweep(FAST_SLOW, data, [])
    with pytest.raises(ConfigError, match=r"chunk must be a positive integer"):
        run_sweep(FAST_SLOW, data, [{}], chunk=0)


# ------------------------------------------------------------------ batch path, threads, metrics


@pytest.fixture(scope="module")
def gappy(data: pd.DataFrame) -> pd.DataFrame:
    """The market data with a late listing, a gap and a delisting (NaN prices the strategies must stay out of)."""
    out = data.copy()
    close = out.xs("adj_close", axis=1, level=0).copy()
    close.iloc[:80, 1] = np.nan
    close.iloc[300:320, 2] = np.nan
    close.iloc[600:, 3] = np.nan
    for symbol in SYMBOLS:
        out[("adj_close", symbol)] = close[symbol]
    return out


SWEEPS = {
    "ma_crossover_fast_slow": {"fast": (5, 25, 10), "slow": [15, 25, 60]},
    "ma_crossover": {"ma_period": [5, 20, 60], "threshold": [0.0, 0.02]},
    "ts_momentum": {"lookback": [1, 20, 120], "allow_short": [True, False]},
}


@pytest.mark.parametrize("name", sorted(SWEEPS))
def test_batch_path_equals_per_set_path_exactly(name: str, gappy: pd.DataFrame) -> None:
    import dataclasses

    spec = get_strategy(name)
    assert spec.batch is not None
    sets = grid(parse_space(spec, SWEEPS[name]))
    costs = Costs(commission_bps=10, slippage_bps=2, cash_rate=0.01)
    batch = run_sweep(spec, gappy, sets, costs, risk_free=0.02, chunk=4, workers=2)
    per_set = run_sweep(dataclasses.replace(spec, batch=None), gappy, sets, costs, risk_free=0.02, chunk=3)
    pd.testing.assert_frame_equal(batch, per_set, check_exact=True)
    assert batch.attrs == per_set.attrs
    if name == "ma_crossover_fast_slow":
        assert [s["set"] for s in batch.attrs["skipped"]] == [3, 6, 7]  # (15, 15), (25, 15), (25, 25)
    _assert_matches_backtests(batch.iloc[:3], name, gappy, costs, 0.02)


def test_workers_and_chunks_do_not_change_results(data: pd.DataFrame) -> None:
    sets = grid({"fast": [3, 5, 10, 20], "slow": [30, 60, 90]})
    costs = Costs(commission_bps=5, fixed_per_trade=2.0)
    one = run_sweep(FAST_SLOW, data, sets, costs, chunk=1, workers=1)
    for chunk, workers in ((5, 2), (64, 3), (2, 4)):
        pd.testing.assert_frame_equal(run_sweep(FAST_SLOW, data, sets, costs, chunk=chunk, workers=workers), one)
    with pytest.raises(ConfigError, match="workers must be a positive integer"):
        run_sweep(FAST_SLOW, data, sets, workers=0)


def _custom(batch: object) -> object:
    import dataclasses

    return dataclasses.replace(FAST_SLOW, name="custom", batch=batch)


def test_bad_batch_output_is_refused(data: pd.DataFrame) -> None:
    t_len, n = data.xs("adj_close", axis=1, level=0).shape
    sets = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 30}]

    def wrong_count(frame: pd.DataFrame, param_sets: list) -> list:
        return [lambda: np.zeros((t_len, n))]

    def wrong_shape(frame: pd.DataFrame, param_sets: list) -> list:
        return [lambda: np.zeros((t_len, n + 1))] * len(param_sets)

    def not_finite(frame: pd.DataFrame, param_sets: list) -> list:
        bad = np.zeros((t_len, n))
        bad[50, 1] = np.nan
        return [lambda: np.zeros((t_len, n)), lambda: bad]

    with pytest.raises(ConfigError, match="returned 1 entries for 2 sets"):
        run_sweep(_custom(wrong_count), data, sets)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"shape \(\d+, 5\) for parameter set #0; expected"):
        run_sweep(_custom(wrong_shape), data, sets)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="NaN or infinite weights for parameter set #1"):
        run_sweep(_custom(not_finite), data, sets, workers=1)  # type: ignore[arg-type]


def test_batch_weight_on_a_missing_price_is_refused(gappy: pd.DataFrame) -> None:
    t_len, n = gappy.xs("adj_close", axis=1, level=0).shape

    def everywhere(frame: pd.DataFrame, param_sets: list) -> list:
        return [lambda: np.full((t_len, n), 0.25)] * len(param_sets)

    with pytest.raises(ConfigError, match=r"on BBB on 2019-01-02 \(parameter set #0\), but its price is missing"):
        run_sweep(_custom(everywhere), gappy, [{"fast": 5, "slow": 20}])  # type: ignore[arg-type]


def test_headline_metrics_equal_the_metric_functions_bit_for_bit() -> None:
    from ravenshire.research import metrics as m

    rng = np.random.default_rng(3)
    rows = rng.normal(0.0003, 0.01, (7, 300))
    rows[2] = 0.001  # constant: zero volatility, no drawdown
    rows[3, :5] = 0.0
    rows[4] = np.abs(rows[4])  # never below the start: no drawdown, no downside
    rows[5, 10] = -1.0  # total loss
    for rf in (0.0, 0.03):
        table = m.headline_metrics(rows, rf)
        assert list(table) == list(m.HEADLINE_METRICS)
        columns = np.ascontiguousarray(rows.T)
        expected = {
            "total_return": m.total_return(columns),
            "cagr": m.cagr(columns),
            "annual_volatility": m.annual_volatility(columns),
            "sharpe_ratio": m.sharpe_ratio(columns, rf),
            "sortino_ratio": m.sortino_ratio(columns, rf),
            "max_drawdown": m.max_drawdown(columns),
            "calmar_ratio": m.calmar_ratio(columns),
        }
        for name, values in expected.items():
            assert np.asarray(values).tobytes() == table[name].tobytes(), (name, rf)
        for k in range(len(rows)):  # one series alone, as build_result measures it
            assert m.sharpe_ratio(rows[k], rf) == table["sharpe_ratio"][k] or np.isnan(table["sharpe_ratio"][k])
            assert m.max_drawdown(rows[k]) == table["max_drawdown"][k]
    single = m.headline_metrics(rows[:, :1])
    assert np.isnan(single["annual_volatility"]).all() and np.isnan(single["sharpe_ratio"]).all()
    with pytest.raises(ConfigError, match="non-finite value"):
        m.headline_metrics(np.array([[0.01, np.nan]]))
    with pytest.raises(ConfigError, match=r"below -1\.0"):
        m.headline_metrics(np.array([[0.01, -1.5]]))
    with pytest.raises(ConfigError, match="K × T"):
        m.headline_metrics(np.zeros(5))
    with pytest.raises(ConfigError, match="empty"):
        m.headline_metrics(np.zeros((3, 0)))


def test_sweep_figures_are_those_of_backtest_strategy_bit_for_bit(gappy: pd.DataFrame) -> None:
    # one engine kernel per weight path and the same metric formulas: not just close, identical
    costs = Costs(commission_bps=10, slippage_bps=2, fixed_per_trade=1.0, cash_rate=0.01)
    sets = [{"fast": 5, "slow": 30}, {"fast": 15, "slow": 60}]
    frame = run_sweep(FAST_SLOW, gappy, sets, costs, risk_free=0.02)
    research = ResearchManager(track=False)
    for params, row in zip(sets, frame.to_dict("records"), strict=True):
        result = research.backtest_strategy(FAST_SLOW.name, gappy, params, costs=costs, risk_free=0.02, track=False)
        for name in METRIC_COLUMNS:
            expected = getattr(result, name)
            assert row[name] == expected or (np.isnan(row[name]) and np.isnan(expected)), (params, name)

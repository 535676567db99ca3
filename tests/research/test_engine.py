"""The vectorised backtest engine: hand-computed example, invariants, no look-ahead, reference loops."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ravenshire.errors import ConfigError
from ravenshire.research import strategies as S
from ravenshire.research.engine import Costs, asset_returns, backtest, sweep_returns


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2024-01-01", periods=n, name="date")


def _random_prices(rng: np.random.Generator, t: int, n: int) -> pd.DataFrame:
    steps = rng.normal(0.0, 0.02, (t, n))
    return pd.DataFrame(100 * np.exp(np.cumsum(steps, axis=0)), index=_dates(t), columns=[f"S{i}" for i in range(n)])


# ------------------------------------------------------------------------------------------------ hand computed


def test_hand_computed_two_periods_two_assets() -> None:
    # prices: A 100 → 110 → 99 (+10 %, −10 %), B 50 → 45 → 49.5 (−10 %, +10 %)
    idx = _dates(3)
    prices = pd.DataFrame({"A": [100.0, 110.0, 99.0], "B": [50.0, 45.0, 49.5]}, index=idx)
    # day 0: 50/50; day 1: keep A at 0.5, sell B; day 2: keep A at 0.5
    weights = pd.DataFrame({"A": [0.5, 0.5, 0.5], "B": [0.5, 0.0, 0.0]}, index=idx)
    costs = Costs(commission_bps=10, slippage_bps=5, fixed_per_trade=10.0)
    res = backtest(prices, weights, costs, initial_capital=10_000.0)

    # day 0: buy 0.5 + 0.5 from zero: turnover 1, 2 orders;
    #        cost0 = 1·(10+5)/1e4 + 10·2/10 000 = 0.0015 + 0.002 = 0.0035; return 0 (nothing held yet)
    # day 1: gross r1 = 0.5·0.10 + 0.5·(−0.10) = 0; net1 = r1 − cost0 = −0.0035; E1 = 9 965
    #        drift: A 0.5·1.1/1.0 = 0.55, B 0.5·0.9/1.0 = 0.45 → targets (0.5, 0): turnover 0.05 + 0.45 = 0.5, 2 orders
    #        cost1 = 0.5·0.0015 + 20/9 965
    # day 2: gross r2 = 0.5·(−0.10) + (1 − 0.5)·0 (cash) = −0.05; net2 = −0.05 − cost1
    #        E2 = 9 965·0.95 − 0.00075·9 965 − 20 = 9 466.75 − 7.47375 − 20 = 9 439.27625
    #        drift: A 0.5·0.9/0.95 = 0.4736842…, turnover 0.5 − 0.4736842… = 0.0263157…, 1 order
    cost1 = 0.5 * 0.0015 + 20 / 9_965
    assert res.gross_returns.tolist() == pytest.approx([0.0, 0.0, -0.05], abs=1e-15)
    assert res.returns.tolist() == pytest.approx([0.0, -0.0035, -0.05 - cost1], abs=1e-15)
    assert res.turnover.tolist() == pytest.approx([1.0, 0.5, 0.5 - 0.45 / 0.95], abs=1e-15)
    assert res.costs.tolist() == pytest.approx(
        [0.0035, cost1, (0.5 - 0.45 / 0.95) * 0.0015 + 10 / 9_439.27625], abs=1e-15
    )
    assert res.equity.tolist() == pytest.approx([10_000.0, 9_965.0, 9_439.27625], abs=1e-9)
    pd.testing.assert_frame_equal(res.positions, weights.astype(float))

    trades = res.trades.set_index("symbol")
    assert list(trades.index) == ["A", "B"]
    a, b = trades.loc["A"], trades.loc["B"]
    # A: held long days 0..2, pnl = 0.5·0.10 + 0.5·(−0.10) + 0.5·0 (no day after the last) = 0, price 100 → 99
    assert (a.entry_date, a.exit_date, a.direction, a.bars_held) == (idx[0], idx[2], "long", 3)
    assert a.pnl == pytest.approx(0.0, abs=1e-15)
    assert a["return"] == pytest.approx(-0.01, abs=1e-15)
    assert bool(a.is_open)
    # B: held day 0 only, earns day 1: pnl = 0.5·(−0.10), return −10 %
    assert (b.entry_date, b.exit_date, b.direction, b.bars_held) == (idx[0], idx[0], "long", 1)
    assert b.pnl == pytest.approx(-0.05, abs=1e-15)
    assert b["return"] == pytest.approx(-0.10, abs=1e-15)
    assert not bool(b.is_open)


def test_zero_weights_give_zero_return_and_constant_equity() -> None:
    prices = _random_prices(np.random.default_rng(1), 50, 3)
    res = backtest(prices, pd.DataFrame(0.0, index=prices.index, columns=prices.columns), Costs(commission_bps=10))
    assert (res.returns == 0).all()
    assert (res.equity == 100_000.0).all()
    assert (res.turnover == 0).all()
    assert res.trades.empty
    assert list(res.trades.columns) == [
        "symbol",
        "entry_date",
        "exit_date",
        "direction",
        "bars_held",
        "pnl",
        "return",
        "is_open",
    ]


def test_cash_earns_the_periodic_rate() -> None:
    prices = _random_prices(np.random.default_rng(2), 10, 2)
    res = backtest(prices, pd.DataFrame(index=prices.index), Costs(cash_rate=0.05))
    rf = 1.05 ** (1 / 252) - 1
    assert res.returns.iloc[0] == 0.0
    np.testing.assert_allclose(res.returns.iloc[1:], rf, rtol=0, atol=1e-15)
    # a 100 % short earns the asset's negative return plus interest on 200 % cash
    w = pd.DataFrame({"S0": -1.0, "S1": 0.0}, index=prices.index)
    res = backtest(prices, w, Costs(cash_rate=0.05))
    r = asset_returns(prices)[:, 0]
    np.testing.assert_allclose(res.gross_returns.iloc[1:], -r[1:] + 2 * rf, rtol=0, atol=1e-15)


def test_constant_prices_give_zero_return() -> None:
    idx = _dates(30)
    prices = pd.DataFrame(50.0, index=idx, columns=["A", "B"])
    w = pd.DataFrame(np.random.default_rng(3).uniform(-1, 1, (30, 2)), index=idx, columns=["A", "B"])
    res = backtest(prices, w)
    assert (res.returns == 0).all() and (res.gross_returns == 0).all()
    assert (res.equity == 100_000.0).all()


def test_market_data_frame_is_accepted() -> None:
    prices = _random_prices(np.random.default_rng(4), 20, 2)
    data = pd.concat({"close": prices, "adj_close": prices}, axis=1, names=["field", "symbol"])
    w = S.equal_weight(prices)
    pd.testing.assert_series_equal(backtest(data, w).returns, backtest(prices, w).returns)


# ------------------------------------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    commission=st.floats(0, 50),
    slippage=st.floats(0, 50),
    fixed=st.floats(0, 100),
    cash_rate=st.floats(0, 0.2),
)
def test_costs_never_raise_returns(
    seed: int, commission: float, slippage: float, fixed: float, cash_rate: float
) -> None:
    rng = np.random.default_rng(seed)
    prices = _random_prices(rng, 15, 3)
    w = pd.DataFrame(rng.uniform(-1, 1, (15, 3)), index=prices.index, columns=prices.columns)
    w = w.where(rng.random((15, 3)) > 0.3, 0.0)
    free = backtest(prices, w, Costs(cash_rate=cash_rate))
    paid = backtest(
        prices, w, Costs(commission_bps=commission, slippage_bps=slippage, fixed_per_trade=fixed, cash_rate=cash_rate)
    )
    pd.testing.assert_series_equal(free.gross_returns, paid.gross_returns)
    np.testing.assert_allclose(free.returns, free.gross_returns, rtol=0, atol=0)
    assert (paid.returns <= paid.gross_returns + 1e-15).all()
    assert (paid.costs >= 0).all()
    assert (paid.equity <= free.equity * (1 + 1e-12)).all()


# ------------------------------------------------------------------------------------------------ no look-ahead

LOOKAHEAD_PARAMS: dict[str, dict[str, object]] = {
    "ma_crossover": {"ma_period": 10, "threshold": 0.01},
    "ma_crossover_fast_slow": {"fast": 5, "slow": 20},
    "ts_momentum": {"lookback": 20, "allow_short": True},
    "xs_momentum": {"lookback": 20, "top_n": 2},
    "mean_reversion": {"window": 10, "entry_z": 0.5, "exit_z": 0.0},
    "buy_and_hold": {},
    "equal_weight": {},
}


def test_every_builtin_strategy_is_registered_in_the_lookahead_test() -> None:
    assert set(LOOKAHEAD_PARAMS) == set(S.STRATEGIES)


@pytest.mark.parametrize("name", sorted(LOOKAHEAD_PARAMS))
def test_no_lookahead_changing_future_prices_cannot_change_past_weights(name: str) -> None:
    rng = np.random.default_rng(5)
    prices = _random_prices(rng, 160, 5)
    prices.iloc[:30, 4] = np.nan  # listed later
    spec = S.get_strategy(name)
    base = spec(prices, **LOOKAHEAD_PARAMS[name])
    assert base.abs().to_numpy().sum() > 0  # the strategy does something on this path
    for t in (40, 90, 130):
        future = prices.copy()
        future.iloc[t + 1 :] *= np.exp(rng.normal(0, 0.2, future.iloc[t + 1 :].shape))
        future.iloc[t + 5 :, 2] = np.nan  # a symbol disappearing later must not matter either
        changed = spec(future, **LOOKAHEAD_PARAMS[name])
        pd.testing.assert_frame_equal(changed.iloc[: t + 1], base.iloc[: t + 1])
        assert not changed.iloc[t + 1 :].equals(base.iloc[t + 1 :]) or name == "equal_weight" or t > 150


def test_no_lookahead_return_at_t_plus_1_uses_only_w_t() -> None:
    rng = np.random.default_rng(6)
    prices = _random_prices(rng, 60, 4)
    w = pd.DataFrame(rng.uniform(-0.5, 0.5, (60, 4)), index=prices.index, columns=prices.columns)
    costs = Costs(commission_bps=5, slippage_bps=3, fixed_per_trade=2.0, cash_rate=0.03)
    base = backtest(prices, w, costs)
    t = 30
    w2 = w.copy()
    w2.iloc[t + 1 :] = rng.uniform(-2, 2, w2.iloc[t + 1 :].shape)
    p2 = prices.copy()
    p2.iloc[t + 2 :] *= 1.5
    other = backtest(p2, w2, costs)
    pd.testing.assert_series_equal(other.returns.iloc[: t + 2], base.returns.iloc[: t + 2])
    pd.testing.assert_series_equal(other.gross_returns.iloc[: t + 2], base.gross_returns.iloc[: t + 2])
    # the gross return of the period ending at t+1 is w_t · R_{t+1} (+ cash), nothing else
    r = asset_returns(prices)
    rf = 1.03 ** (1 / 252) - 1
    expected = float(w.iloc[t] @ r[t + 1]) + (1 - w.iloc[t].sum()) * rf
    assert base.gross_returns.iloc[t + 1] == pytest.approx(expected, abs=1e-15)
    # a position taken only at the last close earns nothing
    last = pd.DataFrame(0.0, index=prices.index, columns=prices.columns)
    last.iloc[-1] = 0.25
    assert (backtest(prices, last).gross_returns == 0).all()


# ------------------------------------------------------------------------------------------------ reference loops


def _reference_loop(prices: pd.DataFrame, w: np.ndarray, costs: Costs, capital: float, periods: int = 252) -> dict:
    """Plain day-by-day implementation of the documented model (test only)."""
    p = prices.to_numpy()
    t_len, n = p.shape
    rf = (1 + costs.cash_rate) ** (1 / periods) - 1
    held = np.zeros(n)
    equity = capital
    net, turnover, cost = [], [], []
    prev_cost = 0.0
    for t in range(t_len):
        if t == 0:
            r = np.zeros(n)
            gross = 0.0
        else:
            r = np.array([p[t, i] / p[t - 1, i] - 1 if np.isfinite(p[t, i] / p[t - 1, i]) else 0.0 for i in range(n)])
            gross = float(held @ r) + (1 - held.sum()) * rf
        ret = 0.0 if t == 0 else gross - prev_cost
        equity *= 1 + ret
        drifted = held * (1 + r) / (1 + gross)
        trade = np.abs(w[t] - drifted)
        c = trade.sum() * (costs.commission_bps + costs.slippage_bps) / 1e4
        c += costs.fixed_per_trade * int((trade > 1e-12).sum()) / equity
        net.append(ret)
        turnover.append(trade.sum())
        cost.append(c)
        prev_cost = c
        held = w[t].copy()
    return {"net": np.array(net), "turnover": np.array(turnover), "cost": np.array(cost)}


def test_vectorised_turnover_and_costs_match_a_reference_loop() -> None:
    rng = np.random.default_rng(7)
    for _ in range(5):
        prices = _random_prices(rng, 80, 6)
        prices.iloc[:10, 5] = np.nan
        w = rng.uniform(-0.6, 0.6, (80, 6)) * (rng.random((80, 6)) > 0.2)
        w[:10, 5] = 0.0
        w[20:40] = w[20]  # a stretch of constant targets: drift still trades
        costs = Costs(commission_bps=7, slippage_bps=2, fixed_per_trade=5.0, cash_rate=0.04)
        res = backtest(prices, pd.DataFrame(w, index=prices.index, columns=prices.columns), costs, 50_000.0)
        ref = _reference_loop(prices, w, costs, 50_000.0)
        np.testing.assert_allclose(res.turnover, ref["turnover"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.costs, ref["cost"], rtol=0, atol=1e-12)
        np.testing.assert_allclose(res.returns, ref["net"], rtol=0, atol=1e-12)


def test_sweep_returns_equals_separate_backtests() -> None:
    rng = np.random.default_rng(8)
    prices = _random_prices(rng, 120, 4)
    prices.iloc[:15, 1] = np.nan
    weights = rng.uniform(-0.5, 0.7, (6, 120, 4))
    weights[:, :15, 1] = 0.0
    costs = Costs(commission_bps=3, slippage_bps=4, fixed_per_trade=3.0, cash_rate=0.02)
    swept = sweep_returns(prices, weights, costs)
    assert swept.shape == (120, 6)
    for k in range(6):
        w = pd.DataFrame(weights[k], index=prices.index, columns=prices.columns)
        np.testing.assert_allclose(swept[:, k], backtest(prices, w, costs).returns.to_numpy(), rtol=0, atol=1e-12)
    with pytest.raises(ConfigError, match="shape"):
        sweep_returns(prices, weights[:, :10])


# ------------------------------------------------------------------------------------------------ trades


def test_trades_of_a_hand_made_weight_path() -> None:
    idx = _dates(8)
    prices = pd.DataFrame({"A": [10, 11, 12, 12, 10, 10, 11, 11.0], "B": 20.0}, index=idx)
    # A: long 0.5 days 1-2, flat 3, short −0.25 days 4-5, long 1.0 day 6 (flip on the next day), flat day 7
    a = [0.0, 0.5, 0.5, 0.0, -0.25, -0.25, 1.0, 0.0]
    w = pd.DataFrame({"A": a, "B": 0.0}, index=idx)
    trades = backtest(prices, w).trades
    assert trades["symbol"].tolist() == ["A", "A", "A"]
    assert trades["direction"].tolist() == ["long", "short", "long"]
    assert trades["entry_date"].tolist() == [idx[1], idx[4], idx[6]]
    assert trades["exit_date"].tolist() == [idx[2], idx[5], idx[6]]
    assert trades["bars_held"].tolist() == [2, 2, 1]
    # long: 0.5·(12/11−1) + 0.5·(12/12−1); short: −0.25·(10/10−1) − 0.25·(11/10−1); long: 1·(11/11−1)
    np.testing.assert_allclose(trades["pnl"], [0.5 * (12 / 11 - 1), -0.25 * 0.1, 0.0], atol=1e-15)
    np.testing.assert_allclose(trades["return"], [12 / 11 - 1, -(11 / 10 - 1), 0.0], atol=1e-15)
    assert trades["is_open"].tolist() == [False, False, False]
    # the trades' pnl adds up to the sum of the daily gross contributions (no cash rate)
    assert trades["pnl"].sum() == pytest.approx(backtest(prices, w).gross_returns.sum(), abs=1e-15)


# ------------------------------------------------------------------------------------------------ errors


def test_weight_on_a_nan_price_is_refused_naming_symbol_and_date() -> None:
    prices = _random_prices(np.random.default_rng(9), 10, 2)
    prices.iloc[:4, 1] = np.nan
    w = pd.DataFrame(0.5, index=prices.index, columns=prices.columns)
    with pytest.raises(ConfigError, match=r"S1 on 2024-01-01"):
        backtest(prices, w)
    w.iloc[:4, 1] = np.nan  # NaN weights count as 0
    backtest(prices, w)
    with pytest.raises(ConfigError, match="S1"):
        sweep_returns(prices, np.full((2, 10, 2), 0.5))


def test_bad_inputs_are_refused() -> None:
    prices = _random_prices(np.random.default_rng(10), 10, 2)
    for bad in (
        {"commission_bps": -1.0},
        {"slippage_bps": float("nan")},
        {"fixed_per_trade": -0.1},
        {"cash_rate": -0.01},
    ):
        with pytest.raises(ConfigError, match=next(iter(bad))):
            Costs(**bad)
    with pytest.raises(ConfigError, match="without prices: ZZZ"):
        backtest(prices, pd.DataFrame({"ZZZ": 1.0}, index=prices.index))
    backtest(prices, pd.DataFrame({"ZZZ": 0.0}, index=prices.index))  # an all-zero unknown column is harmless
    with pytest.raises(ConfigError, match="positive"):
        backtest(prices * -1, pd.DataFrame(index=prices.index))
    with pytest.raises(ConfigError, match="periods"):
        backtest(prices, pd.DataFrame(index=prices.index), periods=0)


def test_missing_weight_rows_and_columns_are_flat() -> None:
    prices = _random_prices(np.random.default_rng(11), 10, 3)
    w = pd.DataFrame({"S1": [0.5, 0.5]}, index=prices.index[[2, 3]])
    res = backtest(prices, w)
    assert res.positions.shape == prices.shape
    assert res.positions["S1"].tolist() == [0, 0, 0.5, 0.5, 0, 0, 0, 0, 0, 0]
    assert (res.positions[["S0", "S2"]] == 0).all().all()


def test_ruin_clips_equity_at_zero() -> None:
    idx = _dates(4)
    prices = pd.DataFrame({"A": [100.0, 40.0, 80.0, 90.0]}, index=idx)
    w = pd.DataFrame({"A": 3.0}, index=idx)  # 3x leverage, −60 % day
    res = backtest(prices, w)
    assert res.returns.tolist() == [0.0, -1.0, 0.0, 0.0]
    assert res.equity.tolist() == [100_000.0, 0.0, 0.0, 0.0]


# ------------------------------------------------------------------------------------------------ blocks of days


def test_blocks_of_days_do_not_change_a_bit(monkeypatch: pytest.MonkeyPatch) -> None:
    import ravenshire.research.engine as E

    rng = np.random.default_rng(12)
    prices = _random_prices(rng, 97, 5)
    prices.iloc[:9, 2] = np.nan
    weights = rng.uniform(-0.4, 0.6, (3, 97, 5)) * (rng.random((3, 97, 5)) > 0.3)
    weights[:, :9, 2] = 0.0
    costs = Costs(commission_bps=4, slippage_bps=1, fixed_per_trade=1.5, cash_rate=0.03)
    whole = sweep_returns(prices, weights, costs)
    for block in (1, 2, 7, 96, 97):
        monkeypatch.setattr(E, "_block_days", lambda n, block=block: block)
        assert sweep_returns(prices, weights, costs).tobytes() == whole.tobytes(), block
        ref = _reference_loop(prices, weights[1], costs, 100_000.0)
        np.testing.assert_allclose(sweep_returns(prices, weights, costs)[:, 1], ref["net"], rtol=0, atol=1e-12)


def test_one_and_zero_day_paths() -> None:
    prices = _random_prices(np.random.default_rng(13), 1, 2)
    res = backtest(prices, pd.DataFrame(0.5, index=prices.index, columns=prices.columns), Costs(commission_bps=10))
    assert res.returns.tolist() == [0.0] and res.turnover.tolist() == [1.0]
    assert res.costs.tolist() == pytest.approx([1e-3])
    assert sweep_returns(prices, np.zeros((0, 1, 2))).shape == (1, 0)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("commission_bps", 1e12, "commission_bps must be at most 10000 bps"),
        ("slippage_bps", 10_001, "slippage_bps must be at most 10000 bps"),
        ("cash_rate", 5.0, "cash_rate must be at most 1"),
    ],
)
def test_costs_beyond_their_natural_bound_are_refused(field: str, value: float, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Costs(**{field: value})
    Costs(**{field: 1e4 if field != "cash_rate" else 1.0})  # the bound itself is allowed

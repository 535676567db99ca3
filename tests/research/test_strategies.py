"""Built-in strategies on crafted price paths with known signals; the registry and parameter checks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ravenshire.errors import ConfigError
from ravenshire.research import strategies as S
from ravenshire.research.engine import backtest


def _frame(**columns: list[float]) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame(columns, index=pd.bdate_range("2024-01-01", periods=n, name="date"), dtype=float)


def test_ma_crossover_hysteresis() -> None:
    # MA(3) and band ±10 %:
    # t2: MA 10, price 10 inside the band → (initially) flat
    # t3: MA 10.667, 12 > 11.733 → long;  t4: MA 11.333, 12 inside [10.2, 12.467] → keep long
    # t5: MA 12, 12 inside → keep long;   t6: MA 11.333, 10 < 10.2 → flat;  t7: MA 10.333, 9 < 9.3 → flat
    prices = _frame(A=[10, 10, 10, 12, 12, 12, 10, 9], B=[10] * 8)
    w = S.ma_crossover(prices, ma_period=3, threshold=0.1)
    assert w["A"].tolist() == [0, 0, 0, 0.5, 0.5, 0.5, 0, 0]  # 1/N with N = 2 symbols
    assert (w["B"] == 0).all()
    # defaults run and the market-data frame gives the same answer as wide prices
    data = pd.concat({"close": prices, "adj_close": prices}, axis=1, names=["field", "symbol"])
    pd.testing.assert_frame_equal(S.ma_crossover(data, ma_period=3, threshold=0.1), w, check_names=False)
    assert S.ma_crossover(prices).shape == prices.shape


def test_ma_crossover_fast_slow() -> None:
    # slow MA(3): t2 = 2 < fast 3 → long; t3 = 2.33 > 2 → flat; t4 = 2 > 1; t5 = 1.33 > 1
    prices = _frame(A=[1, 2, 3, 2, 1, 1])
    assert S.ma_crossover_fast_slow(prices, fast=1, slow=3)["A"].tolist() == [0, 0, 1, 0, 0, 0]
    with pytest.raises(ConfigError, match="fast < slow"):
        S.ma_crossover_fast_slow(prices, fast=5, slow=5)


def test_ts_momentum() -> None:
    # trailing 2-day return: t2 12/10 > 0, t3 11/11 = 0, t4 10/12 < 0, t5 12/11 > 0
    prices = _frame(A=[10, 11, 12, 11, 10, 12])
    assert S.ts_momentum(prices, lookback=2)["A"].tolist() == [0, 0, 1, 0, 0, 1]
    assert S.ts_momentum(prices, lookback=2, allow_short=True)["A"].tolist() == [0, 0, 1, 0, -1, 1]


def test_xs_momentum() -> None:
    # day 1: A +10 %, B 0, C −10 % → A; day 2: A 0, B +20 %, C 0 → B
    prices = _frame(A=[10, 11, 11], B=[10, 10, 12], C=[10, 9, 9])
    w = S.xs_momentum(prices, lookback=1, top_n=1)
    assert w.to_numpy().tolist() == [[0, 0, 0], [1, 0, 0], [0, 1, 0]]
    w2 = S.xs_momentum(prices, lookback=1, top_n=2)
    assert w2.to_numpy().tolist() == [[0, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0]]  # tie A/C on day 2: column order


def test_mean_reversion() -> None:
    # z over 3 days (ddof=1): t2 −0.577 (no entry), t3 +0.577, t4 −1.091 < −1 → long,
    # t5 −0.218 (between −1 and 0: keep), t6 +1.12 > 0 → exit
    prices = _frame(A=[10, 10.5, 10, 10.5, 9, 9.5, 11])
    w = S.mean_reversion(prices, window=3, entry_z=1.0, exit_z=0.0)
    assert w["A"].tolist() == [0, 0, 0, 0, 1, 1, 0]
    with pytest.raises(ConfigError, match="exit_z < entry_z"):
        S.mean_reversion(prices, entry_z=1.0, exit_z=1.0)
    # constant prices: z undefined, never trades
    assert (S.mean_reversion(_frame(A=[5.0] * 30)) == 0).all().all()


def test_buy_and_hold_trades_only_on_day_one() -> None:
    prices = _frame(A=[100, 200, 200, 150], B=[100, 100, 50, 75])
    w = S.buy_and_hold(prices)
    np.testing.assert_allclose(w.to_numpy(), [[0.5, 0.5], [2 / 3, 1 / 3], [0.8, 0.2], [0.75 / 1.125, 0.375 / 1.125]])
    res = backtest(prices, w)
    assert res.turnover.iloc[0] == pytest.approx(1.0)
    assert (res.turnover.iloc[1:] < 1e-12).all()
    assert res.equity.iloc[-1] == pytest.approx(100_000 * (0.5 * 1.5 + 0.5 * 0.75))
    # a symbol not priced on day one is never bought; a held symbol that disappears is sold, value kept as cash
    late = _frame(A=[100, 110, 121, np.nan, np.nan], B=[np.nan, 10, 10, 10, 20])
    w = S.buy_and_hold(late)
    assert w["B"].tolist() == [0, 0, 0, 0, 0]
    assert w["A"].tolist() == [1, 1, 1, 0, 0]
    backtest(late, w)  # no weight on a NaN price


def test_equal_weight() -> None:
    prices = _frame(A=[1, 1, 1], B=[np.nan, 1, 2], C=[np.nan, np.nan, np.nan])
    assert S.equal_weight(prices).to_numpy().tolist() == [[1, 0, 0], [0.5, 0.5, 0], [0.5, 0.5, 0]]


def test_strategies_put_no_weight_on_nan_prices() -> None:
    rng = np.random.default_rng(0)
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (200, 4)), axis=0)),
        index=pd.bdate_range("2024-01-01", periods=200, name="date"),
        columns=list("ABCD"),
    )
    prices.iloc[:50, 1] = np.nan
    prices.iloc[150:, 2] = np.nan
    for spec in S.STRATEGIES.values():
        small = {k: v for k, v in {"lookback": 10, "window": 10, "ma_period": 10}.items() if k in spec.params}
        w = spec(prices, **small)
        assert w.index.equals(prices.index) and list(w.columns) == list(prices.columns)
        assert (w.where(prices.isna(), 0.0) == 0).all().all(), spec.name
        assert w.abs().sum(axis=1).max() <= 1 + 1e-12, spec.name
        backtest(prices, w)


# ------------------------------------------------------------------------------------------------ registry


def test_registry_specs_are_consistent() -> None:
    for name, spec in S.STRATEGIES.items():
        assert spec.name == name and spec.description
        assert S.check_parameters(spec, {}) == spec.defaults()
        for pname, p in spec.params.items():
            assert isinstance(p.default, p.kind), pname
            if p.minimum is not None:
                assert p.minimum <= p.default <= p.maximum


def test_get_strategy_suggests_close_names() -> None:
    assert S.get_strategy("MA-Crossover") is S.STRATEGIES["ma_crossover"]
    with pytest.raises(ConfigError, match="did you mean 'ma_crossover'"):
        S.get_strategy("ma_crosover")
    with pytest.raises(ConfigError, match="Known strategies: buy_and_hold"):
        S.get_strategy("qwertyuiop")


def test_check_parameters_errors_name_parameter_value_and_allowed() -> None:
    spec = S.get_strategy("ma_crossover")
    with pytest.raises(ConfigError, match=r"unknown parameter 'ma_perod'.*did you mean 'ma_period'"):
        S.check_parameters(spec, {"ma_perod": 5})
    with pytest.raises(ConfigError, match=r"'ma_period'.*2\.5.*an integer"):
        S.check_parameters(spec, {"ma_period": 2.5})
    with pytest.raises(ConfigError, match=r"'ma_period'.*True"):
        S.check_parameters(spec, {"ma_period": True})
    with pytest.raises(ConfigError, match=r"'ma_period'.*1.*out of range.*\[2, 500\]"):
        S.check_parameters(spec, {"ma_period": 1})
    with pytest.raises(ConfigError, match=r"'threshold'.*nan"):
        S.check_parameters(spec, {"threshold": float("nan")})
    with pytest.raises(ConfigError, match=r"'allow_short'.*a bool"):
        S.check_parameters(S.get_strategy("ts_momentum"), {"allow_short": 1})
    # numpy scalars and ints for floats are accepted and cast
    out = S.check_parameters(spec, {"ma_period": np.int64(15), "threshold": 0})
    assert out == {"ma_period": 15, "threshold": 0.0}
    assert type(out["ma_period"]) is int and type(out["threshold"]) is float
    # calling a strategy directly validates too
    prices = _frame(A=[1.0, 2.0, 3.0])
    with pytest.raises(ConfigError, match="ma_period"):
        S.ma_crossover(prices, ma_period=0)
    with pytest.raises(ConfigError, match="did you mean 'lookback'"):
        S.get_strategy("xs_momentum")(prices, lookbak=3)

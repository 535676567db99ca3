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


# ------------------------------------------------------------------------------------------------ batch forms


def _tricky_prices(t: int = 420, n: int = 6) -> pd.DataFrame:
    """Random walks with what makes moving averages awkward: late listings, gaps, a delisting, stale (constant)
    stretches — exact MA ties — and a repeating cycle whose MAs are mathematically equal but not in floats."""
    rng = np.random.default_rng(12)
    prices = pd.DataFrame(
        100 * np.exp(np.cumsum(rng.normal(0, 0.02, (t, n)), axis=0)),
        index=pd.bdate_range("2020-01-01", periods=t, name="date"),
        columns=[f"S{i}" for i in range(n)],
    )
    prices.iloc[:60, 1] = np.nan  # listed later
    prices.iloc[200:215, 2] = np.nan  # a gap
    prices.iloc[350:, 3] = np.nan  # gone
    prices.iloc[100:180, 4] = 42.0  # stale: every MA inside equals 42 exactly
    prices.iloc[:, 5] = np.resize([0.3, 0.7, 0.01, 2.2, 1.1, 3.3], t) * 100  # period 6: MA(6k) all "equal"
    return prices


BATCH_CASES: dict[str, list[dict[str, object]]] = {
    "ma_crossover_fast_slow": [{"fast": f, "slow": s} for f in (1, 3, 6, 10, 30) for s in (2, 6, 12, 24, 60, 500)],
    "ma_crossover": [{"ma_period": m, "threshold": x} for m in (2, 6, 20, 500) for x in (0.0, 0.01, 0.1)],
    "ts_momentum": [{"lookback": lb, "allow_short": a} for lb in (1, 6, 60, 756) for a in (True, False)],
}


def test_every_batch_form_is_covered() -> None:
    assert {name for name, spec in S.STRATEGIES.items() if spec.batch is not None} == set(BATCH_CASES)


@pytest.mark.parametrize("name", sorted(BATCH_CASES))
def test_batch_form_equals_the_function_bit_for_bit(name: str) -> None:
    spec = S.get_strategy(name)
    assert spec.batch is not None
    prices = _tricky_prices()
    data = pd.concat({"close": prices, "adj_close": prices}, axis=1, names=["field", "symbol"])
    sets = BATCH_CASES[name]
    built = spec.batch(data, sets)
    assert len(built) == len(sets)
    refused = 0
    for params, item in zip(sets, built, strict=True):
        try:
            expected = spec.func(data, **params).to_numpy()
        except ConfigError as exc:
            assert isinstance(item, ConfigError) and str(item) == str(exc), params
            refused += 1
            continue
        assert callable(item), params
        got = item()
        assert got.dtype == np.float64 and got.shape == expected.shape
        assert got.flags.f_contiguous  # symbol-major: what the engine reads without a copy
        # identical bits, not just equal values
        assert np.ascontiguousarray(got).tobytes() == np.ascontiguousarray(expected).tobytes(), params
    fast_slow = name == "ma_crossover_fast_slow"
    assert refused == sum(1 for s in sets if fast_slow and s["fast"] >= s["slow"])  # type: ignore[operator]


def test_ma_batch_keeps_near_ties_of_the_function() -> None:
    # the period-6 cycle makes MA(6) and MA(24) equal in exact arithmetic: in floats they differ in the last bits,
    # either way, so the state is decided by rounding — a cumulative-sum MA would not reproduce it
    prices = _tricky_prices()[["S5"]]
    ma6 = prices["S5"].rolling(6, min_periods=6).mean()
    ma24 = prices["S5"].rolling(24, min_periods=24).mean()
    assert (ma6 - ma24).abs().max() < 1e-13
    assert (ma6 > ma24).sum() > 10 and (ma6 < ma24).sum() > 10
    spec = S.get_strategy("ma_crossover_fast_slow")
    assert spec.batch is not None
    built = spec.batch(prices, [{"fast": 6, "slow": 24}])
    assert callable(built[0])
    assert np.array_equal(built[0](), spec.func(prices, fast=6, slow=24).to_numpy())


def test_stacked_moving_averages_fall_back_to_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    prices = _tricky_prices()
    means = S._MovingAverages(prices)
    for window in (1, 5, 50, 419, 420, 1000):
        expected = np.ascontiguousarray(prices.rolling(window, min_periods=window).mean().to_numpy().T)
        assert np.array_equal(means._stacked_mean(window), expected, equal_nan=True), window

    def per_column(window: int) -> np.ndarray:
        return np.ascontiguousarray(prices.rolling(window, min_periods=window).mean().to_numpy().T)

    assert np.array_equal(means(7), per_column(7), equal_nan=True)
    assert means._exact is True
    # a pandas whose stacked result differed would be caught by the first window and never used
    original = S._MovingAverages._stacked_mean
    monkeypatch.setattr(S._MovingAverages, "_stacked_mean", lambda self, w: original(self, w) * (1 + 1e-15))
    other = S._MovingAverages(prices)
    assert np.array_equal(other(30), per_column(30), equal_nan=True)
    assert other._exact is False
    assert np.array_equal(other(60), per_column(60), equal_nan=True)


def test_shared_arrays_are_computed_once_and_bounded() -> None:
    import threading
    import time

    calls: list[int] = []

    def compute(key: int) -> np.ndarray:
        calls.append(key)
        time.sleep(0.01)
        return np.full(100, float(key))  # 800 bytes

    shared = S._Shared(compute, limit=2_000)  # room for two arrays
    threads = [threading.Thread(target=shared.get, args=(1,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert calls == [1]  # eight threads, one computation
    assert shared.get(2)[0] == 2.0 and shared.get(1)[0] == 1.0
    assert calls == [1, 2]
    shared.get(3)  # evicts the least recently used (2)
    shared.get(1)
    assert calls == [1, 2, 3]
    shared.get(2)
    assert calls == [1, 2, 3, 2]

    def broken(key: int) -> np.ndarray:
        raise MemoryError("no room")

    with pytest.raises(MemoryError):
        S._Shared(broken).get(1)

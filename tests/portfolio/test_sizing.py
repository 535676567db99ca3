"""Position sizing: Kelly, volatility targeting, fixed fractional, and weights → whole shares."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio.sizing import (
    FRACTIONAL_STEP,
    PositionSizer,
    SharesAllocation,
    fixed_fractional,
    kelly_fraction,
    portfolio_volatility,
    volatility_target,
    volatility_target_per_asset,
)


def _spd(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(n, n))
    cov = a @ a.T / n * 0.04 + np.eye(n) * 0.01
    symbols = [f"S{i}" for i in range(n)]
    return pd.DataFrame(cov, index=symbols, columns=symbols)


# ------------------------------------------------------------------------------------------------ Kelly


def test_kelly_single_asset_hand_computed() -> None:
    # f* = μ / σ² = 0.10 / 0.04 = 2.5
    assert kelly_fraction(0.10, 0.04, fraction=1.0, cap=math.inf) == pytest.approx(2.5, rel=1e-12)
    assert kelly_fraction(0.10, 0.04, cap=math.inf) == pytest.approx(1.25, rel=1e-12)  # half-Kelly by default
    assert kelly_fraction(0.10, 0.04) == 1.0  # default cap 1.0
    assert kelly_fraction(0.10, 0.04, cap=2.0) == pytest.approx(1.25, rel=1e-12)
    assert kelly_fraction(-0.10, 0.04, fraction=1.0, cap=2.0) == -2.0  # a short is capped too
    assert kelly_fraction(0.10, 0.04, fraction=1.0, cap=math.inf, max_gross=1.5) == 1.5


def test_kelly_risk_free_is_subtracted() -> None:
    # (0.10 − 0.02) / 0.04 = 2.0
    assert kelly_fraction(0.10, 0.04, risk_free=0.02, fraction=1.0, cap=math.inf) == pytest.approx(2.0, rel=1e-12)


def test_kelly_does_not_depend_on_the_period_when_consistent() -> None:
    annual = kelly_fraction(0.10, 0.04, fraction=1.0, cap=math.inf)
    daily = kelly_fraction(0.10 / 252, 0.04 / 252, fraction=1.0, cap=math.inf)
    assert daily == pytest.approx(annual, rel=1e-12)


def test_multi_asset_kelly_equals_solve() -> None:
    cov = _spd(5, seed=1)
    mu = pd.Series([0.08, 0.05, 0.12, -0.02, 0.03], index=cov.index)
    f = kelly_fraction(mu, cov, risk_free=0.01, fraction=1.0, cap=math.inf)
    expected = np.linalg.solve(cov.to_numpy(), mu.to_numpy() - 0.01)
    assert isinstance(f, pd.Series)
    assert list(f.index) == list(mu.index)
    np.testing.assert_allclose(f.to_numpy(), expected, rtol=1e-10)
    half = kelly_fraction(mu, cov, risk_free=0.01, cap=math.inf)
    np.testing.assert_allclose(half.to_numpy(), 0.5 * expected, rtol=1e-10)


def test_multi_asset_kelly_aligns_covariance_by_label() -> None:
    cov = _spd(3, seed=2)
    mu = pd.Series([0.05, 0.07, 0.02], index=cov.index)
    shuffled = cov.loc[["S2", "S0", "S1"], ["S1", "S2", "S0"]]
    a = kelly_fraction(mu, cov, fraction=1.0, cap=math.inf)
    b = kelly_fraction(mu, shuffled, fraction=1.0, cap=math.inf)
    pd.testing.assert_series_equal(a, b)
    c = kelly_fraction(mu, cov.to_numpy(), fraction=1.0, cap=math.inf)  # an array is taken in the Series' order
    pd.testing.assert_series_equal(a, c)


def test_kelly_uncorrelated_caps_per_asset_then_gross() -> None:
    mu = pd.Series({"A": 0.10, "B": 0.02})
    variances = pd.Series({"A": 0.04, "B": 0.04})  # a Series of variances = diagonal covariance
    full = kelly_fraction(mu, variances, fraction=1.0, cap=math.inf)
    np.testing.assert_allclose(full.to_numpy(), [2.5, 0.5])
    capped = kelly_fraction(mu, variances, fraction=1.0, cap=1.0)
    np.testing.assert_allclose(capped.to_numpy(), [1.0, 0.5])  # clipped asset by asset
    gross = kelly_fraction(mu, variances, fraction=1.0, cap=math.inf, max_gross=1.5)
    np.testing.assert_allclose(gross.to_numpy(), [1.25, 0.25])  # scaled as a whole: mix kept
    both = kelly_fraction(mu, variances, fraction=1.0, cap=1.0, max_gross=1.2)
    np.testing.assert_allclose(both.to_numpy(), [0.8, 0.4])


def test_kelly_singular_covariance_is_infeasible() -> None:
    cov = pd.DataFrame([[0.04, 0.04], [0.04, 0.04]], index=["A", "B"], columns=["A", "B"])
    with pytest.raises(InfeasibleError, match="not positive definite"):
        kelly_fraction(pd.Series({"A": 0.1, "B": 0.1}), cov)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mean": 0.1, "variance_or_cov": 0.0}, "variance of a single asset"),
        ({"mean": 0.1, "variance_or_cov": -0.04}, "variance of a single asset"),
        ({"mean": 0.1, "variance_or_cov": np.eye(2)}, "pass the mean as a Series"),
        ({"mean": math.nan, "variance_or_cov": 0.04}, "mean must be a finite number"),
        ({"mean": 0.1, "variance_or_cov": 0.04, "fraction": 0.0}, r"fraction must be in \(0, 1\]"),
        ({"mean": 0.1, "variance_or_cov": 0.04, "fraction": 1.5}, r"fraction must be in \(0, 1\]"),
        ({"mean": 0.1, "variance_or_cov": 0.04, "cap": 0.0}, "cap must be"),
        ({"mean": 0.1, "variance_or_cov": 0.04, "max_gross": -1.0}, "max_gross must be"),
    ],
)
def test_kelly_bad_inputs(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        kelly_fraction(**kwargs)


def test_kelly_covariance_errors_name_the_problem() -> None:
    mu = pd.Series({"A": 0.1, "B": 0.1})
    with pytest.raises(ConfigError, match="no row/column for B"):
        kelly_fraction(mu, pd.DataFrame([[0.04]], index=["A"], columns=["A"]))
    with pytest.raises(ConfigError, match="not symmetric"):
        kelly_fraction(mu, np.array([[0.04, 0.01], [0.0, 0.04]]))
    with pytest.raises(ConfigError, match="must be 2×2"):
        kelly_fraction(mu, np.eye(3))
    with pytest.raises(ConfigError, match="NaN or infinite"):
        kelly_fraction(mu, np.array([[0.04, np.nan], [np.nan, 0.04]]))
    with pytest.raises(ConfigError, match="mean of A are NaN"):
        kelly_fraction(pd.Series({"A": np.nan, "B": 0.1}), np.eye(2))


# ------------------------------------------------------------------------------------------------ volatility


def test_volatility_target_two_uncorrelated_assets_closed_form() -> None:
    cov = pd.DataFrame(np.diag([0.04, 0.01]), index=["A", "B"], columns=["A", "B"])
    w = pd.Series({"A": 0.5, "B": 0.5})
    vol = math.sqrt(0.25 * 0.04 + 0.25 * 0.01)
    assert portfolio_volatility(w, cov) == pytest.approx(vol, rel=1e-12)
    out = volatility_target(w, cov, 0.05, max_leverage=math.inf)
    np.testing.assert_allclose(out.to_numpy(), w.to_numpy() * 0.05 / vol, rtol=1e-12)
    assert portfolio_volatility(out, cov) == pytest.approx(0.05, rel=1e-12)


def test_volatility_target_scales_up_until_max_leverage() -> None:
    cov = pd.DataFrame(np.diag([0.04, 0.01]), index=["A", "B"], columns=["A", "B"])
    w = pd.Series({"A": 0.3, "B": 0.2})
    up = volatility_target(w, cov, 0.10, max_leverage=10.0)
    assert portfolio_volatility(up, cov) == pytest.approx(0.10, rel=1e-12)
    assert up.abs().sum() > w.abs().sum()
    capped = volatility_target(w, cov, 0.50, max_leverage=1.5)
    assert capped.abs().sum() == pytest.approx(1.5, rel=1e-12)
    assert portfolio_volatility(capped, cov) < 0.50
    np.testing.assert_allclose((capped / w).to_numpy(), [3.0, 3.0])  # one factor for all


def test_volatility_target_zero_weight_symbols_need_no_covariance() -> None:
    cov = pd.DataFrame([[0.04]], index=["A"], columns=["A"])
    out = volatility_target(pd.Series({"A": 0.5, "B": 0.0}), cov, 0.1, max_leverage=5)
    assert out["A"] == pytest.approx(0.5, rel=1e-12)
    assert out["B"] == 0.0


def test_volatility_target_errors() -> None:
    cov = np.diag([0.04, 0.01])
    with pytest.raises(InfeasibleError, match="zero ex-ante volatility"):
        volatility_target(pd.Series({"A": 0.0, "B": 0.0}), cov, 0.1)
    with pytest.raises(ConfigError, match="target_vol must be"):
        volatility_target(pd.Series({"A": 0.5, "B": 0.5}), cov, 0.0)
    with pytest.raises(ConfigError, match="max_leverage must be"):
        volatility_target(pd.Series({"A": 0.5, "B": 0.5}), cov, 0.1, max_leverage=0)
    with pytest.raises(ConfigError, match="not positive semi-definite"):
        portfolio_volatility(pd.Series({"A": 1.0, "B": -1.0}), np.array([[0.01, 0.05], [0.05, 0.01]]))


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 6),
    seed=st.integers(0, 10_000),
    target=st.floats(0.01, 1.0),
    max_leverage=st.floats(0.1, 5.0),
)
def test_volatility_target_hits_target_or_leverage_cap(n: int, seed: int, target: float, max_leverage: float) -> None:
    cov = _spd(n, seed)
    w = pd.Series(np.random.default_rng(seed).uniform(-1, 1, n), index=cov.index)
    out = volatility_target(w, cov, target, max_leverage=max_leverage)
    gross, vol = float(out.abs().sum()), portfolio_volatility(out, cov)
    assert gross <= max_leverage * (1 + 1e-12)
    assert vol <= target * (1 + 1e-12)
    assert vol == pytest.approx(target, rel=1e-9) or gross == pytest.approx(max_leverage, rel=1e-12)


def test_volatility_target_per_asset() -> None:
    vols = pd.Series({"A": 0.10, "B": 0.20})
    out = volatility_target_per_asset(vols, 0.10, max_leverage=10)
    np.testing.assert_allclose(out.to_numpy(), [0.5, 0.25])  # target / σ_i / N
    capped = volatility_target_per_asset(vols, 0.10, max_leverage=0.5)
    np.testing.assert_allclose(capped.to_numpy(), [1 / 3, 1 / 6])
    with pytest.raises(ConfigError, match="volatilities of B are <= 0"):
        volatility_target_per_asset(pd.Series({"A": 0.1, "B": 0.0}), 0.1)


# ------------------------------------------------------------------------------------------------ fixed fractional


def test_fixed_fractional_hand_computed() -> None:
    assert fixed_fractional(100_000, 0.01, 0.05) == pytest.approx(20_000, rel=1e-12)
    assert fixed_fractional(100_000, 0.01, 0.05, max_weight=0.1) == pytest.approx(10_000, rel=1e-12)
    out = fixed_fractional(100_000, 0.02, pd.Series({"A": 0.04, "B": 0.10}), max_weight=0.25)
    assert isinstance(out, pd.Series)
    np.testing.assert_allclose(out.to_numpy(), [25_000, 20_000])


@pytest.mark.parametrize(
    ("args", "match"),
    [
        ((0.0, 0.01, 0.05), "equity must be"),
        ((100.0, 0.0, 0.05), r"risk_fraction must be in \(0, 1\]"),
        ((100.0, 0.01, 0.0), r"stop_distance must be in \(0, 1\]"),
        ((100.0, 0.01, 1.5), r"stop_distance must be in \(0, 1\]"),
        ((100.0, 0.01, pd.Series({"A": 0.05, "B": -0.1})), "stop_distance of B"),
    ],
)
def test_fixed_fractional_bad_inputs(args: tuple, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        fixed_fractional(*args)


def test_position_sizer_wraps_the_rules() -> None:
    sizer = PositionSizer(fraction=1.0, cap=3.0, target_vol=0.1, max_leverage=2.0, risk_fraction=0.02)
    assert sizer.kelly(0.10, 0.04) == pytest.approx(2.5)
    assert sizer.fixed_fractional(100_000, 0.05) == pytest.approx(40_000)
    cov = np.diag([0.04, 0.01])
    out = sizer.volatility_target(pd.Series({"A": 0.3, "B": 0.2}), cov)
    assert portfolio_volatility(out, cov) == pytest.approx(0.1)
    with pytest.raises(ConfigError, match="no volatility target"):
        PositionSizer().volatility_target(pd.Series({"A": 1.0}), [[0.04]])
    assert "fraction=1.0" in repr(sizer)


# ------------------------------------------------------------------------------------------------ to_shares


def test_to_shares_exact_targets_are_not_lost_to_float_noise() -> None:
    # 0.3 · 100 000 / 30 is 999.99… or 1000.00…1 in floating point: 1000 shares either way.
    alloc = PositionSizer().to_shares(
        pd.Series({"A": 0.3, "B": 0.7}), 100_000, pd.Series({"A": 30.0, "B": 70.0}), fill_leftover=False
    )
    assert alloc.shares.to_dict() == {"A": 1000, "B": 1000}
    assert alloc.shares.dtype == np.int64
    assert alloc.leftover_cash == 0.0
    assert alloc.tracking_error == pytest.approx(0.0, abs=1e-12)


def test_to_shares_rounds_down_and_greedy_spends_the_leftover() -> None:
    w, prices = pd.Series({"A": 0.5, "B": 0.5}), pd.Series({"A": 300.0, "B": 300.0})
    floor = PositionSizer().to_shares(w, 1000, prices, fill_leftover=False)
    assert floor.shares.to_dict() == {"A": 1, "B": 1}
    assert floor.leftover_cash == 400.0
    assert floor.tracking_error == pytest.approx(0.4)
    filled = PositionSizer().to_shares(w, 1000, prices)
    assert filled.shares.to_dict() == {"A": 2, "B": 1}  # one lot fits in the 400 left, the second does not
    assert filled.leftover_cash == 100.0
    assert filled.tracking_error == pytest.approx(0.3)
    np.testing.assert_allclose(filled.weights.to_numpy(), [0.6, 0.3])


def test_the_leftover_pass_rounds_to_the_nearest_lot_largest_remainder_first() -> None:
    # every lot is worth 100; targets 320 / 390 / 260 → 3 / 3 / 2 lots (800), remainders 0.2 / 0.9 / 0.6 lots;
    # 200 cash left → one more lot of B (0.9), then of C (0.6); A (0.2) is nearer 3 lots than 4
    w = pd.Series({"A": 0.32, "B": 0.39, "C": 0.26})
    prices = pd.Series({"A": 10.0, "B": 100.0, "C": 100.0})
    alloc = PositionSizer().to_shares(w, 1000, prices, lot_size={"A": 10})
    assert alloc.shares.to_dict() == {"A": 30, "B": 4, "C": 3}
    assert alloc.leftover_cash == pytest.approx(0.0)
    # with only 150 of cash beyond the floors, B (the largest remainder) gets the lot
    tight = PositionSizer().to_shares(w, 1000, prices, lot_size={"A": 10}, cash=950)
    assert tight.shares.to_dict() == {"A": 30, "B": 4, "C": 2}


def test_the_leftover_pass_never_buys_a_lot_the_target_did_not_ask_for() -> None:
    # a 5 % target on a 30,000 lot: the floor is 0 lots; one lot would be a 30 % position
    alloc = PositionSizer().to_shares(
        pd.Series({"A": 0.05, "B": 0.95}), 100_000, pd.Series({"A": 30_000.0, "B": 200.0})
    )
    assert alloc.shares["A"] == 0 and alloc.weights["A"] == 0.0
    # and never beyond a position limit, even when the nearest lot would be
    capped = PositionSizer().to_shares(
        pd.Series({"A": 0.25, "B": 0.75}), 10_000, pd.Series({"A": 333.0, "B": 50.0}), max_weight=0.25
    )
    assert capped.weights["A"] <= 0.25


def test_greedy_pass_keeps_the_cash_the_targets_leave() -> None:
    # targets invest 40 %: the 60 % cash is not spent by the greedy pass
    alloc = PositionSizer().to_shares(pd.Series({"A": 0.4}), 1000, pd.Series({"A": 300.0}))
    assert alloc.shares["A"] == 1
    assert alloc.leftover_cash == 700.0


def test_to_shares_shorts_round_toward_zero() -> None:
    alloc = PositionSizer().to_shares(pd.Series({"A": -0.25, "B": 0.5}), 1000, pd.Series({"A": 30.0, "B": 30.0}))
    assert alloc.shares["A"] == -8  # −8.33 → −8, never more short than asked
    assert alloc.shares["B"] == 17  # 16.67 lots → the nearest, 17 (cash 1 000 + 240 of short proceeds pays)
    assert alloc.leftover_cash == pytest.approx(1000 + 240 - 510)


def test_to_shares_lots() -> None:
    alloc = PositionSizer().to_shares(
        pd.Series({"A": 0.5, "B": 0.5}), 10_000, pd.Series({"A": 7.0, "B": 7.0}), lot_size={"A": 100}
    )
    # A: 714.3 shares → 7 lots of 100 (4 900); B (lot 1): 714.3 → 714 (4 998), already the nearest; 102 left
    assert alloc.shares.to_dict() == {"A": 700, "B": 714}
    assert alloc.leftover_cash == pytest.approx(102.0)


def test_to_shares_scales_longs_to_the_cash() -> None:
    alloc = PositionSizer().to_shares(pd.Series({"A": 1.0}), 10_000, pd.Series({"A": 100.0}), cash=3000)
    assert alloc.shares["A"] == 30
    assert alloc.long_scale == pytest.approx(0.3)
    assert alloc.leftover_cash == 0.0
    lev = PositionSizer().to_shares(pd.Series({"A": 1.0, "B": 1.0}), 10_000, pd.Series({"A": 100.0, "B": 50.0}))
    assert lev.shares.to_dict() == {"A": 50, "B": 100}  # 2× leverage asked, cash pays for 1×: halved
    assert lev.long_scale == pytest.approx(0.5)


def test_to_shares_short_proceeds_fund_longs() -> None:
    # 130/30: the proceeds of the short pay for the 30 % above equity
    alloc = PositionSizer().to_shares(
        pd.Series({"A": 1.3, "B": -0.3}), 100_000, pd.Series({"A": 100.0, "B": 50.0}), fill_leftover=False
    )
    assert alloc.shares.to_dict() == {"A": 1300, "B": -600}
    assert alloc.leftover_cash == 0.0
    assert alloc.long_scale == 1.0


def test_to_shares_fractional() -> None:
    alloc = PositionSizer().to_shares(
        pd.Series({"A": 0.5, "B": 0.5}), 1000, pd.Series({"A": 300.0, "B": 7.0}), allow_fractional=True
    )
    assert alloc.shares.dtype == np.float64
    assert alloc.leftover_cash >= 0
    lots = alloc.shares / FRACTIONAL_STEP
    np.testing.assert_allclose(lots, np.round(lots), atol=1e-6)
    np.testing.assert_allclose(alloc.values.to_numpy(), [500, 500], atol=300 * FRACTIONAL_STEP)
    with pytest.raises(ConfigError, match="lot_size must be 1 with allow_fractional"):
        PositionSizer().to_shares(
            pd.Series({"A": 1.0}), 1000, pd.Series({"A": 3.0}), lot_size=10, allow_fractional=True
        )


def test_to_shares_zero_weight_needs_no_price() -> None:
    alloc = PositionSizer().to_shares(pd.Series({"A": 0.5, "B": 0.0}), 1000, pd.Series({"A": 10.0}))
    assert alloc.shares.to_dict() == {"A": 50, "B": 0}
    assert alloc.values["B"] == 0.0


def test_shares_allocation_to_dict() -> None:
    alloc = PositionSizer().to_shares({"A": 0.5}, 1000, {"A": 10.0})
    assert isinstance(alloc, SharesAllocation)
    d = alloc.to_dict()
    assert d["shares"] == {"A": 50}
    assert isinstance(d["shares"]["A"], int)
    assert d["leftover_cash"] == 500.0
    assert alloc.invested == 500.0


@pytest.mark.parametrize(
    ("weights", "prices", "kwargs", "match"),
    [
        ({"A": 0.5, "B": 0.5}, {"A": 10.0}, {}, r"no usable price for B \(missing\)"),
        ({"A": 0.5, "B": 0.5}, {"A": 10.0, "B": 0.0}, {}, r"no usable price for B \(0.0\)"),
        ({"A": 0.5, "B": 0.5}, {"A": -1.0, "B": 5.0}, {}, "no usable price for A"),
        ({"A": 0.5, "B": 0.5}, {"A": 10.0, "B": math.nan}, {}, "no usable price for B"),
        ({"A": math.nan}, {"A": 10.0}, {}, "weights of A are NaN"),
        ({"A": 0.5}, {"A": 10.0}, {"lot_size": 0}, "lot size of A must be a whole number"),
        ({"A": 0.5}, {"A": 10.0}, {"lot_size": 1.5}, "lot size of A"),
        ({"A": 0.5}, {"A": 10.0}, {"lot_size": True}, "lot size of A"),
        ({"A": 0.5}, {"A": 10.0}, {"lot_size": {"A": -1}}, "lot size of A"),
        ({"A": 0.5}, {"A": 10.0}, {"cash": -1.0}, "cash must be >= 0"),
        ({}, {"A": 10.0}, {}, "weights are empty"),
    ],
)
def test_to_shares_bad_inputs(weights: dict, prices: dict, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        PositionSizer().to_shares(pd.Series(weights, dtype=float), 1000, pd.Series(prices, dtype=float), **kwargs)


def test_to_shares_bad_equity_and_duplicates() -> None:
    with pytest.raises(ConfigError, match="equity must be"):
        PositionSizer().to_shares(pd.Series({"A": 0.5}), 0, pd.Series({"A": 10.0}))
    with pytest.raises(ConfigError, match="list A more than once"):
        PositionSizer().to_shares(pd.Series([0.5, 0.5], index=["A", "A"]), 1000, pd.Series({"A": 10.0}))
    with pytest.raises(ConfigError, match="must be a pandas Series"):
        PositionSizer().to_shares([0.5], 1000, pd.Series({"A": 10.0}))  # type: ignore[arg-type]


@st.composite
def _sizing_case(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 8))
    symbols = [f"S{i}" for i in range(n)]
    weights = draw(st.lists(st.floats(-1.0, 1.5), min_size=n, max_size=n))
    zero = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    prices = draw(st.lists(st.floats(0.5, 5000.0), min_size=n, max_size=n))
    lots = draw(st.lists(st.sampled_from([1, 1, 10, 100]), min_size=n, max_size=n))
    equity = draw(st.floats(100.0, 1e7))
    return {
        "weights": pd.Series([0.0 if z else w for w, z in zip(weights, zero, strict=True)], index=symbols),
        "prices": pd.Series(prices, index=symbols),
        "lots": dict(zip(symbols, lots, strict=True)),
        "equity": equity,
        "cash": draw(st.one_of(st.none(), st.floats(0.0, 2.0)).map(lambda c: None if c is None else c * equity)),
        "fill": draw(st.booleans()),
    }


@settings(max_examples=200, deadline=None)
@given(case=_sizing_case())
def test_to_shares_constraints_hold(case: dict) -> None:
    w, prices, lots, equity = case["weights"], case["prices"], case["lots"], case["equity"]
    cash = equity if case["cash"] is None else case["cash"]
    alloc = PositionSizer().to_shares(w, equity, prices, cash=case["cash"], lot_size=lots, fill_leftover=case["fill"])
    shares, values = alloc.shares, alloc.values.to_numpy()
    lot = pd.Series(lots)[shares.index]
    target = w.to_numpy() * equity
    unit = (lot * prices).to_numpy()
    # cash: never spent beyond what is available, and the report adds up
    assert alloc.leftover_cash >= 0
    assert alloc.leftover_cash == pytest.approx(cash - values.sum(), rel=1e-12, abs=1e-9)
    # whole lots, with the sign of the weight (or flat)
    assert shares.dtype == np.int64
    assert ((shares % lot) == 0).all()
    assert (np.sign(shares.to_numpy()) * np.sign(w.to_numpy()) >= 0).all()
    np.testing.assert_allclose(values, shares.to_numpy() * prices.to_numpy(), rtol=1e-12)
    # never more exposure than asked: shorts never; longs by less than one lot, and only with the greedy pass
    slack = 1e-9 * np.abs(unit)
    short = w.to_numpy() < 0
    assert (np.abs(values[short]) <= np.abs(target[short]) + slack[short]).all()
    long = w.to_numpy() > 0
    extra = unit[long] if case["fill"] else 0.0
    assert (values[long] <= target[long] + extra + slack[long]).all()
    # rounded toward zero, not further: with no scaling and no greedy pass, one more lot would exceed the target
    if not case["fill"] and alloc.long_scale == 1.0:
        assert (np.abs(values) + unit > np.abs(target) - slack).all()
    assert alloc.tracking_error == pytest.approx(float(np.abs(alloc.weights - w).sum()), abs=1e-12)

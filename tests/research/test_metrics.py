"""Performance metrics: hand-computed cases, cross-checks against empyrical, 2-D = column-wise 1-D, properties."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ravenshire.errors import ConfigError
from ravenshire.research import metrics as M

# A NaN that is the documented answer must come without a RuntimeWarning.
pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

TOL = {"rel": 1e-9, "abs": 1e-9}


# ------------------------------------------------------------------------------------------------ hand computed


def test_total_return_and_cagr_by_hand() -> None:
    # 1.1 · 0.9 − 1 = −0.01
    assert M.total_return([0.10, -0.10]) == pytest.approx(-0.01, abs=1e-15)
    # two periods of +10 %, one period a year: (1.1 · 1.1) ** (1/2) − 1 = 0.1
    assert M.cagr([0.10, 0.10], periods=1) == pytest.approx(0.10, abs=1e-15)
    # 0.99 over 2 periods, 4 periods a year: 0.99 ** (4/2) − 1 = 0.9801 − 1 = −0.0199
    assert M.cagr([0.10, -0.10], periods=4) == pytest.approx(-0.0199, abs=1e-15)
    # a total loss: growth 0 → cagr −1
    assert M.cagr([0.5, -1.0, 0.2]) == -1.0
    # single period: total return is that return; cagr with periods = 1 too
    assert M.total_return([0.03]) == pytest.approx(0.03, abs=1e-15)
    assert M.cagr([0.03], periods=1) == pytest.approx(0.03, abs=1e-15)


def test_volatility_and_sharpe_by_hand() -> None:
    r = [0.01, 0.03]
    # mean 0.02, deviations ±0.01, var (ddof=1) = 2e-4 / 1 → std = √2 · 0.01 = 0.0141421356; × √4 = 0.0282842712
    assert M.annual_volatility(r, periods=4) == pytest.approx(0.02 * math.sqrt(2), rel=1e-12)
    # Sharpe = 0.02 / 0.0141421356 · √4 = 2√2
    assert M.sharpe_ratio(r, periods=4) == pytest.approx(2 * math.sqrt(2), rel=1e-12)
    # annual rf = 1.01**4 − 1 = 0.04060401 → rf_p = 0.01; excess [0, 0.02]: mean 0.01, std 0.0141421356
    # Sharpe = 0.01 / 0.0141421356 · 2 = √2
    rf = 1.01**4 - 1
    assert M.per_period_rate(rf, 4) == pytest.approx(0.01, rel=1e-12)
    assert M.sharpe_ratio(r, risk_free=rf, periods=4) == pytest.approx(math.sqrt(2), rel=1e-9)


def test_sortino_by_hand() -> None:
    r = [0.02, -0.01, 0.03, -0.02]
    # numerator = mean(r) · 4 = (0.02 / 4) · 4 = 0.02
    # downside: min(r, 0) = [0, −0.01, 0, −0.02] → squares [0, 1e-4, 0, 4e-4], mean over ALL 4 periods = 1.25e-4
    #           sqrt = 0.0111803399; × √4 = 0.0223606798
    # Sortino = 0.02 / 0.0223606798 = 2/√5 = 0.894427191
    assert M.sortino_ratio(r, periods=4) == pytest.approx(2 / math.sqrt(5), rel=1e-12)


def test_drawdown_by_hand() -> None:
    r = [0.10, -0.50, 0.50, 1.00]
    # W = 1.1, 0.55, 0.825, 1.65; running peak 1.1, 1.1, 1.1, 1.65; DD = 1 − W/peak = 0, 0.5, 0.25, 0
    np.testing.assert_allclose(M.drawdown_series(r), [0.0, 0.5, 0.25, 0.0], atol=1e-15)
    assert M.max_drawdown(r) == pytest.approx(0.5, abs=1e-15)
    # the start (W = 1) is a peak: −10 % then +20 % → W = 0.9, 1.08; DD = 0.1, 0
    np.testing.assert_allclose(M.drawdown_series([-0.10, 0.20]), [0.1, 0.0], atol=1e-15)
    assert M.max_drawdown([-0.10, 0.20]) == pytest.approx(0.1, abs=1e-15)
    # calmar with T = periods = 4: cagr = 1.65 − 1 = 0.65; / 0.5 = 1.3
    assert M.calmar_ratio(r, periods=4) == pytest.approx(1.3, rel=1e-12)
    # no drawdown: Calmar NaN; total loss: drawdown 1
    assert M.max_drawdown([0.01, 0.02]) == 0.0
    assert math.isnan(M.calmar_ratio([0.01, 0.02]))
    assert M.max_drawdown([0.1, -1.0, 0.5]) == 1.0


def test_var_and_cvar_by_hand() -> None:
    r = [0.06, -0.05, 0.04, -0.03, 0.05, -0.01, 0.00, 0.01, 0.02, 0.03]
    # sorted: −0.05, −0.03, −0.01, 0, 0.01, ...; T = 10
    # level 0.9: percentile 10 at index 9 · 0.1 = 0.9 → −0.05 + 0.9 · (−0.03 + 0.05) = −0.032 → VaR 0.032
    #            k = floor(9 · 0.1) = 0 → CVaR = −mean(−0.05) = 0.05
    assert M.value_at_risk(r, 0.9) == pytest.approx(0.032, abs=1e-15)
    assert M.conditional_value_at_risk(r, 0.9) == pytest.approx(0.05, abs=1e-15)
    # level 0.8: index 9 · 0.2 = 1.8 → −0.03 + 0.8 · 0.02 = −0.014 → VaR 0.014
    #            k = floor(1.8) = 1 → CVaR = −mean(−0.05, −0.03) = 0.04
    assert M.value_at_risk(r, 0.8) == pytest.approx(0.014, abs=1e-15)
    assert M.conditional_value_at_risk(r, 0.8) == pytest.approx(0.04, abs=1e-15)
    # all gains: VaR is negative (the 5th percentile is a gain); single period: VaR = CVaR = −r
    assert M.value_at_risk([0.01, 0.02, 0.03]) < 0
    assert M.value_at_risk([-0.02]) == pytest.approx(0.02) == M.conditional_value_at_risk([-0.02])


def test_win_rate_and_profit_factor_by_hand() -> None:
    v = [0.01, -0.02, 0.0, 0.03]
    # non-zero values: 0.01, −0.02, 0.03 → 2 wins out of 3
    assert M.win_rate(v) == pytest.approx(2 / 3)
    # gains 0.01 + 0.03 = 0.04, losses |−0.02| = 0.02 → 2
    assert M.profit_factor(v) == pytest.approx(2.0)
    # per-trade P&L in currency works the same: wins 150 and 50 of 3 trades; 200 / 100 = 2
    assert M.win_rate([150.0, -100.0, 50.0]) == pytest.approx(2 / 3)
    assert M.profit_factor([150.0, -100.0, 50.0]) == pytest.approx(2.0)
    # degenerate: gains only → inf; losses only → 0; all zero or no trades → NaN
    assert M.profit_factor([0.01, 0.0]) == math.inf
    assert M.profit_factor([-0.01]) == 0.0
    assert M.win_rate([-0.01]) == 0.0
    for empty_or_flat in ([], [0.0, 0.0]):
        assert math.isnan(M.win_rate(empty_or_flat))
        assert math.isnan(M.profit_factor(empty_or_flat))


def test_degenerate_zero_volatility_and_single_period() -> None:
    flat = [0.001] * 50  # zero dispersion: the float mean may differ from 0.001 in the last bit
    assert M.annual_volatility(flat) == 0.0
    assert math.isnan(M.sharpe_ratio(flat))
    assert math.isnan(M.sortino_ratio(flat))  # no downside: NaN (empyrical: inf)
    zeros = np.zeros(10)
    assert math.isnan(M.sharpe_ratio(zeros))
    assert math.isnan(M.sortino_ratio(zeros))
    assert math.isnan(M.calmar_ratio(zeros))
    one = [-0.02]
    for f in (M.annual_volatility, M.sharpe_ratio, M.sortino_ratio):
        assert math.isnan(f(one))
    assert M.max_drawdown(one) == pytest.approx(0.02)
    assert M.cagr(one, periods=1) == pytest.approx(-0.02)
    # 2-D: the NaN is per column
    out = M.sharpe_ratio(np.column_stack([flat, np.linspace(-0.01, 0.01, 50)]))
    assert isinstance(out, np.ndarray)
    assert math.isnan(out[0])
    assert np.isfinite(out[1])


@pytest.mark.parametrize(
    "bad",
    [
        [],
        np.empty((0, 3)),
        np.empty((5, 0)),
        [0.01, float("nan")],
        [0.01, float("inf")],
        np.zeros((2, 2, 2)),
        5.0,
        ["a", "b"],
    ],
)
def test_bad_input_is_refused(bad: Any) -> None:
    with pytest.raises(ConfigError):
        M.sharpe_ratio(bad)
    with pytest.raises(ConfigError):
        M.max_drawdown(bad)


def test_nan_message_names_the_position() -> None:
    x = np.zeros((4, 3))
    x[2, 1] = np.nan
    with pytest.raises(ConfigError, match=r"\(2, 1\)"):
        M.total_return(x)


def test_bad_parameters_are_refused() -> None:
    r = [0.01, -0.01, 0.02]
    with pytest.raises(ConfigError):
        M.total_return([0.1, -1.5])  # a return below −100 % cannot be compounded
    with pytest.raises(ConfigError):
        M.summary([0.1, -1.5])
    assert M.sharpe_ratio([0.1, -1.5]) < 0  # dispersion metrics accept it
    for level in (0.0, 1.0, 1.5, -0.1):
        with pytest.raises(ConfigError):
            M.value_at_risk(r, level)
        with pytest.raises(ConfigError):
            M.conditional_value_at_risk(r, level)
    for periods in (0, -252, float("nan")):
        with pytest.raises(ConfigError):
            M.cagr(r, periods=periods)
    for rf in (-1.0, float("inf")):
        with pytest.raises(ConfigError):
            M.sharpe_ratio(r, risk_free=rf)
    with pytest.raises(ConfigError):
        M.summary(np.zeros((5, 2)))


def test_pandas_input() -> None:
    idx = pd.bdate_range("2024-01-01", periods=4)
    s = pd.Series([0.10, -0.50, 0.50, 1.00], index=idx)
    assert M.max_drawdown(s) == pytest.approx(0.5)
    df = pd.DataFrame({"a": s, "b": s * 0.5})
    out = M.max_drawdown(df)
    assert isinstance(out, np.ndarray)
    assert out.shape == (2,)
    assert M.drawdown_series(df).shape == (4, 2)


def test_summary() -> None:
    rng = np.random.default_rng(7)
    r = rng.normal(0.0005, 0.01, 300)
    s = M.summary(r, risk_free=0.03)
    assert set(s) == {
        "n_periods",
        "periods_per_year",
        "total_return",
        "cagr",
        "annual_volatility",
        "sharpe_ratio",
        "sortino_ratio",
        "max_drawdown",
        "calmar_ratio",
        "value_at_risk_95",
        "conditional_value_at_risk_95",
        "win_rate_periods",
        "profit_factor_periods",
    }
    assert all(type(v) is float for v in s.values())
    assert s["n_periods"] == 300.0
    assert s["sharpe_ratio"] == M.sharpe_ratio(r, risk_free=0.03)
    assert s["max_drawdown"] == M.max_drawdown(r) > 0
    assert s["value_at_risk_95"] <= s["conditional_value_at_risk_95"]


# ------------------------------------------------------------------------------------------------ vs empyrical


def _series() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240611)
    return {
        "normal": rng.normal(0.0004, 0.012, 756),
        "fat_tailed": 0.01 * rng.standard_t(3, 500),
        "short": rng.normal(0.001, 0.02, 30),
        "losing": rng.normal(-0.001, 0.015, 400),
        "monthly_like": rng.normal(0.008, 0.04, 61),
    }


SERIES = _series()


@pytest.mark.parametrize("name", sorted(SERIES))
@pytest.mark.parametrize("risk_free", [0.0, 0.04])
def test_matches_empyrical(name: str, risk_free: float) -> None:
    r = SERIES[name]
    # empyrical takes the risk-free rate PER PERIOD; we take it per year and convert.
    rf_p = (1 + risk_free) ** (1 / 252) - 1
    assert M.sharpe_ratio(r, risk_free=risk_free) == pytest.approx(empyrical.sharpe_ratio(r, risk_free=rf_p), **TOL)
    assert M.sortino_ratio(r, risk_free=risk_free) == pytest.approx(
        empyrical.sortino_ratio(r, required_return=rf_p), **TOL
    )
    assert M.annual_volatility(r) == pytest.approx(empyrical.annual_volatility(r), **TOL)
    assert M.cagr(r) == pytest.approx(empyrical.cagr(r), **TOL)
    assert M.cagr(r) == pytest.approx(empyrical.annual_return(r), **TOL)
    assert M.total_return(r) == pytest.approx(empyrical.cum_returns_final(r), **TOL)
    # empyrical reports drawdowns negative
    assert M.max_drawdown(r) == pytest.approx(-empyrical.max_drawdown(r), **TOL)
    np.testing.assert_allclose(M.drawdown_series(r), -empyrical.stats.drawdown_series(r), rtol=1e-9, atol=1e-12)
    assert M.calmar_ratio(r) == pytest.approx(empyrical.calmar_ratio(r), **TOL)
    # empyrical returns VaR/CVaR as (negative) returns at cutoff = 1 − level
    for level, cutoff in ((0.95, 0.05), (0.99, 0.01), (0.9, 0.1), (0.975, 0.025)):
        assert M.value_at_risk(r, level) == pytest.approx(-empyrical.value_at_risk(r, cutoff=cutoff), **TOL)
        assert M.conditional_value_at_risk(r, level) == pytest.approx(
            -empyrical.conditional_value_at_risk(r, cutoff=cutoff), **TOL
        )


def test_annualisation_matches_empyrical_for_other_frequencies() -> None:
    r = SERIES["monthly_like"]
    assert M.sharpe_ratio(r, periods=12) == pytest.approx(empyrical.sharpe_ratio(r, annualization=12), **TOL)
    assert M.cagr(r, periods=12) == pytest.approx(empyrical.cagr(r, annualization=12), **TOL)
    assert M.calmar_ratio(r, periods=12) == pytest.approx(empyrical.calmar_ratio(r, annualization=12), **TOL)


def test_where_we_differ_from_empyrical() -> None:
    gains_only = np.array([0.01, 0.02, 0.005, 0.01])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert empyrical.sortino_ratio(gains_only) == math.inf
    assert math.isnan(M.sortino_ratio(gains_only))  # no downside: undefined, not inf
    assert M.max_drawdown([-0.1]) == pytest.approx(-empyrical.max_drawdown(np.array([-0.1])))  # sign only


# ------------------------------------------------------------------------------------------------ 2-D = column-wise


def _panel() -> np.ndarray:
    rng = np.random.default_rng(99)
    t = 300
    cols = [
        rng.normal(0.0005, 0.01, t),
        0.01 * rng.standard_t(3, t),
        np.zeros(t),  # zero volatility, no drawdown, no wins
        np.full(t, 0.0004),  # constant: zero volatility, no downside
        np.abs(rng.normal(0.0, 0.01, t)),  # gains only
        -np.abs(rng.normal(0.0, 0.01, t)),  # losses only
        np.where(rng.random(t) < 0.5, 0.0, rng.normal(0.0, 0.02, t)),  # many flat periods
    ]
    return np.column_stack(cols)


UNARY: list[tuple[str, Callable[[Any], Any]]] = [
    ("total_return", M.total_return),
    ("cagr", M.cagr),
    ("annual_volatility", M.annual_volatility),
    ("sharpe_ratio", M.sharpe_ratio),
    ("sharpe_ratio_rf", lambda r: M.sharpe_ratio(r, risk_free=0.05)),
    ("sortino_ratio", M.sortino_ratio),
    ("sortino_ratio_rf", lambda r: M.sortino_ratio(r, risk_free=0.05)),
    ("drawdown_series", M.drawdown_series),
    ("max_drawdown", M.max_drawdown),
    ("calmar_ratio", M.calmar_ratio),
    ("value_at_risk", M.value_at_risk),
    ("value_at_risk_99", lambda r: M.value_at_risk(r, 0.99)),
    ("conditional_value_at_risk", M.conditional_value_at_risk),
    ("conditional_value_at_risk_90", lambda r: M.conditional_value_at_risk(r, 0.9)),
    ("win_rate", M.win_rate),
    ("profit_factor", M.profit_factor),
]


@pytest.mark.parametrize(("name", "func"), UNARY, ids=[n for n, _ in UNARY])
def test_2d_equals_columnwise_1d_exactly(name: str, func: Callable[[Any], Any]) -> None:
    x = _panel()
    out = func(x)
    assert isinstance(out, np.ndarray)
    expected = np.column_stack([func(x[:, k]) for k in range(x.shape[1])])
    if name == "drawdown_series":
        assert out.shape == x.shape
    else:
        assert out.shape == (x.shape[1],)
        assert all(isinstance(func(x[:, k]), float) for k in range(x.shape[1]))
        expected = expected[0]
    np.testing.assert_array_equal(out, expected)  # exact, NaN == NaN
    # Fortran-ordered input and a DataFrame give the same numbers
    np.testing.assert_array_equal(func(np.asfortranarray(x)), out)
    np.testing.assert_array_equal(func(pd.DataFrame(x)), out)


# ------------------------------------------------------------------------------------------------ properties

bps_returns = st.lists(st.integers(-5000, 5000), min_size=2, max_size=120).map(lambda v: np.array(v) / 1e4)
returns_with_ruin = st.lists(
    st.floats(-1.0, 5.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=200
).map(np.array)


@given(st.integers(1, 500))
@settings(max_examples=30, deadline=None)
def test_zero_series_has_zero_return_and_drawdown(n: int) -> None:
    r = np.zeros(n)
    assert M.total_return(r) == 0.0
    assert M.max_drawdown(r) == 0.0
    assert not M.drawdown_series(r).any()


@given(bps_returns, st.floats(0.01, 100.0))
@settings(max_examples=100, deadline=None)
def test_sharpe_is_scale_invariant(r: np.ndarray, factor: float) -> None:
    a, b = M.sharpe_ratio(r), M.sharpe_ratio(r * factor)
    if np.ptp(r) == 0:
        assert math.isnan(a)
        assert math.isnan(b)
    else:
        assert b == pytest.approx(a, rel=1e-9, abs=1e-9)


@given(returns_with_ruin)
@settings(max_examples=100, deadline=None)
def test_max_drawdown_is_a_fraction(r: np.ndarray) -> None:
    mdd = M.max_drawdown(r)
    assert 0.0 <= mdd <= 1.0
    dd = M.drawdown_series(r)
    assert ((dd >= 0) & (dd <= 1)).all()
    assert mdd == dd.max()


@given(
    st.lists(st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False), min_size=1, max_size=300).map(np.array),
    st.floats(0.5, 0.999),
)
@settings(max_examples=150, deadline=None)
def test_var_not_above_cvar(r: np.ndarray, level: float) -> None:
    assert M.value_at_risk(r, level) <= M.conditional_value_at_risk(r, level)

"""Risk metrics: hand-computed cases, VaR methods against each other and the true quantile, cross-checks against
scipy and empyrical, closed forms (two uncorrelated assets), properties, and the documented errors."""

from __future__ import annotations

import datetime as dt
import json
import math

import empyrical
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import integrate, stats

from ravenshire.errors import ConfigError
from ravenshire.portfolio import risk as R
from ravenshire.research import metrics as M

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")

Z05 = -1.6448536269514729  # Φ⁻¹(0.05)
PHI05 = 0.10313564037537128  # φ(Φ⁻¹(0.05))
METHODS = ("historical", "parametric", "cornish_fisher")


def _dates(n: int) -> pd.DatetimeIndex:
    return pd.bdate_range("2024-01-02", periods=n)


# ------------------------------------------------------------------------------------------------ hand computed VaR


def test_historical_var_by_hand_linear_interpolation() -> None:
    r = [0.03, -0.05, 0.01, 0.0, -0.02]  # sorted: −0.05, −0.02, 0, 0.01, 0.03
    # level 0.75: α = 0.25, position (T − 1)·α = 1 → r_(1) = −0.02 → VaR 0.02
    assert R.value_at_risk(r, 0.75) == pytest.approx(0.02, abs=1e-15)
    # level 0.9: position 0.4 → −0.05 + 0.4·(−0.02 + 0.05) = −0.038 → VaR 0.038 (linear interpolation)
    assert R.value_at_risk(r, 0.90) == pytest.approx(0.038, abs=1e-15)
    # CVaR at 0.9: k = floor(4 · 0.1) = 0 → mean of the 1 smallest → 0.05
    assert R.conditional_value_at_risk(r, 0.90) == pytest.approx(0.05, abs=1e-15)
    # CVaR at 0.75: k = floor(4 · 0.25) = 1 → mean(−0.05, −0.02) → 0.035
    assert R.conditional_value_at_risk(r, 0.75) == pytest.approx(0.035, abs=1e-15)


def test_parametric_var_and_cvar_by_hand() -> None:
    r = [0.01, 0.03]  # μ = 0.02, σ (ddof=1) = √2 · 0.01
    sigma = math.sqrt(2) * 0.01
    assert R.value_at_risk(r, 0.95, "parametric") == pytest.approx(-(0.02 + sigma * Z05), rel=1e-12)
    assert R.value_at_risk(r, 0.95, "parametric") == pytest.approx(0.0032617431, abs=1e-10)
    # σ·z = 0.0141421356 · (−1.6448536270) = −0.0232617431 → VaR = −(0.02 − 0.0232617431) = 0.0032617431 (above)
    # CVaR = −μ + σ·φ(z)/α = −0.02 + 0.0141421356 · 2.0627128075 = −0.02 + 0.0291711643 = 0.0091711643
    assert R.conditional_value_at_risk(r, 0.95, "parametric") == pytest.approx(-0.02 + sigma * PHI05 / 0.05, rel=1e-12)
    assert R.conditional_value_at_risk(r, 0.95, "parametric") == pytest.approx(0.0091711643, abs=1e-10)


def test_cornish_fisher_z_formula() -> None:
    z = Z05
    assert R.cornish_fisher_z(z, 0.0, 0.0) == z
    # S = −1, K = 3: z + (z²−1)(−1)/6 + (z³−3z)·3/24 − (2z³−5z)·1/36
    z2, z3 = z * z, z**3
    expected = z - (z2 - 1) / 6 + (z3 - 3 * z) / 8 - (2 * z3 - 5 * z) / 36
    assert R.cornish_fisher_z(z, -1.0, 3.0) == pytest.approx(expected, rel=1e-14)
    # z² = 2.7055435, z³ = −4.4502230: −1.6448536 − 0.2842572 + 0.0605422 + 0.0187827 = −1.8497859
    assert R.cornish_fisher_z(z, -1.0, 3.0) == pytest.approx(-1.8497859, abs=1e-6)
    # negative skew and fat tails push the 5 % quantile further left
    assert R.cornish_fisher_z(z, -1.0, 3.0) < z


def test_cornish_fisher_equals_parametric_when_skew_and_kurtosis_are_zero() -> None:
    # μ + a·[−1, 0, 0, 0, 0, 1]: symmetric (S = 0) with a third of the mass at ±a, so m4 / m2² = 1 / (1/3) = 3 (K = 0)
    r = 0.001 + 0.02 * np.array([-1.0, 0.0, 0.0, 0.0, 0.0, 1.0])
    assert stats.skew(r) == pytest.approx(0.0, abs=1e-12)
    assert stats.kurtosis(r) == pytest.approx(0.0, abs=1e-12)
    for level in (0.9, 0.95, 0.99):
        parametric = R.value_at_risk(r, level, "parametric")
        assert R.value_at_risk(r, level, "cornish_fisher") == pytest.approx(parametric, abs=1e-12)
        cvar = R.conditional_value_at_risk(r, level, "parametric")
        assert R.conditional_value_at_risk(r, level, "cornish_fisher") == pytest.approx(cvar, abs=1e-12)


def test_cornish_fisher_reacts_to_negative_skew() -> None:
    # a sample with a long left tail: CF VaR above the Gaussian one
    rng = np.random.default_rng(3)
    r = 0.01 - rng.lognormal(mean=-5.0, sigma=0.8, size=5000)
    assert stats.skew(r) < -1
    assert R.value_at_risk(r, 0.99, "cornish_fisher") > R.value_at_risk(r, 0.99, "parametric")


def test_constant_series_var_is_minus_the_return() -> None:
    r = [0.001] * 10
    for method in METHODS:
        assert R.value_at_risk(r, 0.95, method) == pytest.approx(-0.001, abs=1e-15)
        assert R.conditional_value_at_risk(r, 0.95, method) == pytest.approx(-0.001, abs=1e-15)


def test_nan_are_dropped() -> None:
    r = pd.Series([np.nan, 0.01, -0.02, np.nan, 0.005, -0.01])
    clean = r.dropna().to_numpy()
    for method in METHODS:
        assert R.value_at_risk(r, 0.9, method) == R.value_at_risk(clean, 0.9, method)
        assert R.conditional_value_at_risk(r, 0.9, method) == R.conditional_value_at_risk(clean, 0.9, method)


# ------------------------------------------------------------------------------------------------ large normal sample


def test_var_methods_agree_on_a_normal_sample_within_sampling_error() -> None:
    rng = np.random.default_rng(20240601)
    mu, sigma, n = 0.0004, 0.012, 100_000
    r = rng.normal(mu, sigma, n)
    for level in (0.95, 0.99):
        alpha = 1 - level
        z = stats.norm.ppf(alpha)
        true_var = -(mu + sigma * z)
        true_cvar = -mu + sigma * stats.norm.pdf(z) / alpha
        # standard error of an empirical α-quantile: σ·√(α(1 − α)/n) / φ(z); 5 of them as the tolerance
        se_quantile = sigma * math.sqrt(alpha * (1 - alpha) / n) / stats.norm.pdf(z)
        tol = 5 * se_quantile
        values = {m: R.value_at_risk(r, level, m) for m in METHODS}
        for m, v in values.items():
            assert v == pytest.approx(true_var, abs=tol), m
        assert values["parametric"] == pytest.approx(values["historical"], abs=tol)
        assert values["cornish_fisher"] == pytest.approx(values["parametric"], abs=tol)
        # the tail mean has a larger spread than the quantile: tolerance 2·5 standard errors of the quantile
        for m in METHODS:
            assert R.conditional_value_at_risk(r, level, m) == pytest.approx(true_cvar, abs=2 * tol), m


# ------------------------------------------------------------------------------------------------ scipy & empyrical


@pytest.fixture
def fat_tailed() -> np.ndarray:
    rng = np.random.default_rng(11)
    return stats.t.rvs(df=4, size=750, random_state=rng) * 0.01 + 0.0003


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_parametric_and_cornish_fisher_match_scipy(fat_tailed: np.ndarray, level: float) -> None:
    r = fat_tailed
    mu, sd = r.mean(), r.std(ddof=1)
    z = stats.norm.ppf(1 - level)
    s, k = stats.skew(r), stats.kurtosis(r)  # population (bias=True), excess kurtosis (fisher=True)
    z_cf = z + (z**2 - 1) * s / 6 + (z**3 - 3 * z) * k / 24 - (2 * z**3 - 5 * z) * s**2 / 36
    assert R.value_at_risk(r, level, "parametric") == pytest.approx(-(mu + sd * z), abs=1e-12)
    assert R.value_at_risk(r, level, "cornish_fisher") == pytest.approx(-(mu + sd * z_cf), abs=1e-12)
    alpha = 1 - level
    assert R.conditional_value_at_risk(r, level, "parametric") == pytest.approx(
        -mu + sd * stats.norm.pdf(z) / alpha, abs=1e-12
    )


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_cornish_fisher_cvar_is_the_tail_mean_of_the_cf_quantile(fat_tailed: np.ndarray, level: float) -> None:
    r = fat_tailed
    mu, sd, s, k = r.mean(), r.std(ddof=1), stats.skew(r), stats.kurtosis(r)
    alpha = 1 - level

    def q_cf(u: float) -> float:
        return mu + sd * R.cornish_fisher_z(stats.norm.ppf(u), s, k)

    tail_mean, _ = integrate.quad(q_cf, 0.0, alpha, epsabs=1e-13, epsrel=1e-12, limit=200)
    assert R.conditional_value_at_risk(r, level, "cornish_fisher") == pytest.approx(-tail_mean / alpha, rel=1e-8)
    assert R.conditional_value_at_risk(r, level, "cornish_fisher") >= R.value_at_risk(r, level, "cornish_fisher")


@pytest.mark.parametrize("level", [0.9, 0.95, 0.99])
def test_historical_matches_empyrical_and_research_metrics(fat_tailed: np.ndarray, level: float) -> None:
    r = fat_tailed
    cutoff = 1 - level
    assert R.value_at_risk(r, level) == pytest.approx(-empyrical.value_at_risk(r, cutoff=cutoff), abs=1e-12)
    assert R.conditional_value_at_risk(r, level) == pytest.approx(
        -empyrical.conditional_value_at_risk(r, cutoff=cutoff), abs=1e-12
    )
    assert R.value_at_risk(r, level) == M.value_at_risk(r, level)
    assert R.conditional_value_at_risk(r, level) == M.conditional_value_at_risk(r, level)


def test_metrics_match_empyrical(fat_tailed: np.ndarray) -> None:
    idx = _dates(len(fat_tailed))
    r = pd.Series(fat_tailed, index=idx)
    rng = np.random.default_rng(5)
    bench = pd.Series(0.5 * fat_tailed + rng.normal(0, 0.008, len(idx)), index=idx)
    rm = R.compute_risk_metrics(r, benchmark=bench)
    assert rm.max_drawdown == pytest.approx(-empyrical.max_drawdown(r), abs=1e-12)
    assert rm.volatility == pytest.approx(empyrical.annual_volatility(r), abs=1e-12)
    assert rm.beta == pytest.approx(empyrical.beta(r, bench), abs=1e-12)
    assert rm.var_95 == pytest.approx(-empyrical.value_at_risk(r, cutoff=0.05), abs=1e-12)
    assert rm.var_99 == pytest.approx(-empyrical.value_at_risk(r, cutoff=0.01), abs=1e-12)
    assert rm.cvar_95 == pytest.approx(-empyrical.conditional_value_at_risk(r, cutoff=0.05), abs=1e-12)


# ------------------------------------------------------------------------------------------------ compute_risk_metrics


def _two_uncorrelated() -> tuple[pd.DataFrame, pd.Series]:
    idx = _dates(4)
    assets = pd.DataFrame(
        {"AAA": 0.01 * np.array([1.0, -1.0, 1.0, -1.0]), "BBB": 0.02 * np.array([1.0, 1.0, -1.0, -1.0])}, index=idx
    )
    return assets, pd.Series({"AAA": 0.6, "BBB": 0.4})


def test_two_uncorrelated_assets_closed_form() -> None:
    assets, w = _two_uncorrelated()
    # means 0, zero sample covariance; with periods = 3: Σ = cov(ddof=1)·3 = diag(4·0.01², 4·0.02²) = diag(4e-4, 1.6e-3)
    # σ_p² = 0.36·4e-4 + 0.16·1.6e-3 = 4e-4 → σ_p = 0.02
    # marginal = Σw / σ_p = (2.4e-4, 6.4e-4) / 0.02 = (0.012, 0.032); component = (0.0072, 0.0128), sum 0.02
    rm = R.compute_risk_metrics(assets, weights=w, periods=3)
    np.testing.assert_allclose(rm.marginal_risk.to_numpy(), [0.012, 0.032], rtol=1e-12)
    np.testing.assert_allclose(rm.component_risk.to_numpy(), [0.0072, 0.0128], rtol=1e-12)
    assert list(rm.component_risk.index) == ["AAA", "BBB"]
    assert rm.component_risk.sum() == pytest.approx(0.02, rel=1e-12)
    # r_p = [0.014, 0.002, −0.002, −0.014]: var (ddof=1) = 4e-4 / 3 → × 3 periods → vol 0.02
    assert rm.volatility == pytest.approx(0.02, rel=1e-12)
    np.testing.assert_allclose(rm.correlation.to_numpy(), np.eye(2), atol=1e-15)
    assert rm.current_leverage == pytest.approx(1.0)
    assert rm.herfindahl == pytest.approx(0.36 + 0.16)
    assert rm.largest_weight == 0.6
    assert rm.largest_position == "AAA"
    assert rm.n_obs == 4
    assert rm.as_of == dt.date(2024, 1, 5)


def test_portfolio_series_with_separate_asset_returns() -> None:
    assets, w = _two_uncorrelated()
    port = pd.Series(assets.to_numpy() @ w.to_numpy(), index=assets.index)
    from_series = R.compute_risk_metrics(port, weights=w, asset_returns=assets, periods=3)
    from_frame = R.compute_risk_metrics(assets, weights=w, periods=3)
    assert from_series.var_95 == from_frame.var_95
    assert from_series.volatility == pytest.approx(from_frame.volatility, rel=1e-15)
    pd.testing.assert_series_equal(from_series.component_risk, from_frame.component_risk)


def test_concentration_by_hand() -> None:
    r = pd.Series([0.01, -0.01, 0.02], index=_dates(3))
    w = pd.Series({"A": 0.5, "B": -0.3, "C": 0.2})
    rm = R.compute_risk_metrics(r, weights=w)
    # gross = 1.0; normalised |w| = 0.5, 0.3, 0.2 → H = 0.25 + 0.09 + 0.04 = 0.38
    assert rm.current_leverage == pytest.approx(1.0, abs=1e-15)
    assert rm.herfindahl == pytest.approx(0.38, abs=1e-15)
    assert (rm.largest_weight, rm.largest_position) == (0.5, "A")
    # leverage 2, two equal positions: H = 1/2; a short largest position is reported by |w|
    rm = R.compute_risk_metrics(r, weights=pd.Series({"A": 1.0, "B": -1.2}))
    assert rm.current_leverage == pytest.approx(2.2)
    assert rm.herfindahl == pytest.approx((1 / 2.2) ** 2 + (1.2 / 2.2) ** 2)
    assert (rm.largest_weight, rm.largest_position) == (1.2, "B")
    # N equal weights: H = 1/N; all zero: H undefined
    assert R.compute_risk_metrics(r, weights=pd.Series(0.1, index=list("ABCDE"))).herfindahl == pytest.approx(0.2)
    flat = R.compute_risk_metrics(r, weights=pd.Series({"A": 0.0, "B": 0.0}))
    assert flat.current_leverage == 0.0
    assert math.isnan(flat.herfindahl)


def test_without_weights_benchmark_or_assets_the_figures_are_unknown() -> None:
    r = pd.Series([0.01, -0.01, 0.02, 0.0], index=_dates(4))
    rm = R.compute_risk_metrics(r)
    for name in ("current_leverage", "herfindahl", "largest_weight", "beta"):
        assert math.isnan(getattr(rm, name)), name
    assert rm.largest_position is None
    assert rm.correlation.empty
    assert rm.marginal_risk.empty
    assert rm.component_risk.empty
    # asset returns without weights: correlation only
    assets = pd.DataFrame({"X": [0.01, 0.02, 0.0, 0.01], "Y": [0.02, 0.04, 0.0, 0.02]}, index=r.index)
    rm = R.compute_risk_metrics(r, asset_returns=assets)
    assert rm.correlation.loc["X", "Y"] == pytest.approx(1.0)
    assert rm.component_risk.empty


def test_drawdowns_from_equity_curve_by_hand() -> None:
    idx = _dates(5)
    equity = pd.Series([100.0, 110.0, 99.0, 104.5, 121.0], index=idx)
    # peaks 100, 110, 110, 110, 121 → DD 0, 0, 0.1, 0.05, 0
    np.testing.assert_allclose(R.drawdowns_from_equity(equity).to_numpy(), [0, 0, 0.1, 0.05, 0], atol=1e-15)
    r = equity.pct_change()  # first value NaN, dropped
    rm = R.compute_risk_metrics(r, equity)
    assert rm.max_drawdown == pytest.approx(0.1, abs=1e-15)
    assert rm.current_drawdown == 0.0
    assert rm.n_obs == 4
    rm = R.compute_risk_metrics(r.iloc[:4], equity.iloc[:4])
    assert rm.current_drawdown == pytest.approx(0.05, abs=1e-15)
    # equity dropping to 0 is a full drawdown
    assert R.drawdowns_from_equity(pd.Series([100.0, 0.0])).iloc[-1] == 1.0


def test_drawdowns_from_returns_equal_those_of_the_equity_curve() -> None:
    rng = np.random.default_rng(1)
    r = pd.Series(rng.normal(0, 0.02, 300), index=_dates(300))
    equity = pd.concat([pd.Series([1000.0]), 1000.0 * (1 + r).cumprod()], ignore_index=True)
    from_returns = R.compute_risk_metrics(r)
    from_equity = R.compute_risk_metrics(r, equity)
    assert from_returns.max_drawdown == pytest.approx(from_equity.max_drawdown, abs=1e-12)
    assert from_returns.current_drawdown == pytest.approx(from_equity.current_drawdown, abs=1e-12)
    assert from_returns.max_drawdown == pytest.approx(M.max_drawdown(r.to_numpy()), abs=1e-15)


def test_beta_by_hand_and_alignment() -> None:
    idx = _dates(6)
    b = pd.Series([0.01, -0.02, 0.015, 0.0, -0.005, 0.02], index=idx)
    assert R.compute_risk_metrics(b, benchmark=b).beta == pytest.approx(1.0, rel=1e-14)
    assert R.compute_risk_metrics(2 * b, benchmark=b).beta == pytest.approx(2.0, rel=1e-14)
    assert R.compute_risk_metrics(-0.5 * b + 0.001, benchmark=b).beta == pytest.approx(-0.5, rel=1e-12)
    # only common dates count: a longer benchmark and a NaN in the portfolio change nothing
    longer = pd.concat([pd.Series([0.3, -0.3], index=pd.bdate_range("2023-12-01", periods=2)), b])
    p = (2 * b).copy()
    p.iloc[3] = np.nan
    assert R.compute_risk_metrics(p, benchmark=longer).beta == pytest.approx(2.0, rel=1e-14)
    # hand case: rp = [1, 2, 3], rb = [1, 0, 2] (scaled 1e-2): cov = (−1·0 + 0·−1 + 1·1)/2, var_b = (0 + 1 + 1)/2 → 0.5
    idx3 = _dates(3)
    rp = pd.Series([0.01, 0.02, 0.03], index=idx3)
    rb = pd.Series([0.01, 0.0, 0.02], index=idx3)
    assert R.compute_risk_metrics(rp, benchmark=rb).beta == pytest.approx(0.5, rel=1e-12)
    # a constant benchmark: beta undefined
    assert math.isnan(R.compute_risk_metrics(rp, benchmark=pd.Series(0.001, index=idx3)).beta)


def test_var_method_is_used_for_all_var_figures() -> None:
    rng = np.random.default_rng(8)
    r = pd.Series(rng.standard_t(5, 500) * 0.01, index=_dates(500))
    for m in METHODS:
        rm = R.compute_risk_metrics(r, var_method=m)
        assert rm.var_method == m
        assert rm.var_95 == R.value_at_risk(r, 0.95, m)
        assert rm.var_99 == R.value_at_risk(r, 0.99, m)
        assert rm.cvar_95 == R.conditional_value_at_risk(r, 0.95, m)
        assert rm.var_99 > rm.var_95


def test_to_dict_is_json_safe() -> None:
    assets, w = _two_uncorrelated()
    rm = R.compute_risk_metrics(assets, weights=w)
    d = rm.to_dict()
    text = json.dumps(d, allow_nan=False)
    assert d["beta"] is None
    assert d["as_of"] == "2024-01-05"
    assert d["component_risk"]["BBB"] == pytest.approx(rm.component_risk["BBB"])
    assert d["correlation"]["AAA"]["BBB"] == pytest.approx(0.0, abs=1e-15)
    assert set(d) >= {"var_95", "var_99", "cvar_95", "max_drawdown", "current_drawdown", "current_leverage"}
    assert "NaN" not in text


def test_frame_rows_with_missing_values_are_dropped_listwise() -> None:
    assets, w = _two_uncorrelated()
    extra = assets.copy()
    extra.loc[pd.Timestamp("2024-01-08")] = [np.nan, 0.05]
    extra["ZZZ"] = 1.0  # a column not in the weights is ignored
    rm = R.compute_risk_metrics(extra, weights=w, periods=3)
    assert rm.n_obs == 4
    assert rm.component_risk.sum() == pytest.approx(0.02, rel=1e-12)
    assert list(rm.correlation.columns) == ["AAA", "BBB"]


# ------------------------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("returns", "match"),
    [
        ([], "0 observation"),
        ([0.01], "1 observation"),
        ([np.nan, np.nan, 0.01], "1 observation"),
        ([0.01, np.inf, 0.02], "inf"),
        ([[0.01, 0.02], [0.0, 0.01]], "1-D"),
        (["a", "b"], "numeric"),
    ],
)
def test_bad_returns_raise(returns: object, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        R.value_at_risk(returns)
    with pytest.raises(ConfigError, match=match):
        R.conditional_value_at_risk(returns, 0.95, "parametric")


@pytest.mark.parametrize("level", [0.0, 1.0, 1.5, -0.1, 95, True, "0.95", math.nan])
def test_bad_level_raises(level: object) -> None:
    with pytest.raises(ConfigError, match="level"):
        R.value_at_risk([0.01, 0.02], level)  # type: ignore[arg-type]


def test_unknown_method_suggests_the_closest() -> None:
    with pytest.raises(ConfigError, match="did you mean 'cornish_fisher'"):
        R.value_at_risk([0.01, 0.02], 0.95, "cornish-fisher")
    with pytest.raises(ConfigError, match="historical, parametric, cornish_fisher"):
        R.conditional_value_at_risk([0.01, 0.02], 0.95, "monte_carlo")
    with pytest.raises(ConfigError, match="unknown VaR method"):
        R.compute_risk_metrics(pd.Series([0.01, 0.02]), var_method="gaussian")


def test_compute_risk_metrics_errors() -> None:
    assets, w = _two_uncorrelated()
    r = assets["AAA"]
    with pytest.raises(ConfigError, match="pass weights"):
        R.compute_risk_metrics(assets)
    with pytest.raises(ConfigError, match="CCC"):
        R.compute_risk_metrics(assets, weights=pd.Series({"AAA": 0.5, "CCC": 0.5}))
    with pytest.raises(ConfigError, match="CCC"):
        R.compute_risk_metrics(r, weights=pd.Series({"AAA": 0.5, "CCC": 0.5}), asset_returns=assets)
    with pytest.raises(ConfigError, match="more than once"):
        R.compute_risk_metrics(r, weights=pd.Series([0.5, 0.5], index=["AAA", "AAA"]))
    with pytest.raises(ConfigError, match="not finite"):
        R.compute_risk_metrics(r, weights=pd.Series({"AAA": np.nan}))
    with pytest.raises(ConfigError, match="empty"):
        R.compute_risk_metrics(r, weights=pd.Series(dtype=float))
    with pytest.raises(ConfigError, match="Series indexed by symbol"):
        R.compute_risk_metrics(r, weights={"AAA": 1.0})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="periods"):
        R.compute_risk_metrics(r, periods=0)
    with pytest.raises(ConfigError, match="common dates"):
        R.compute_risk_metrics(r, benchmark=pd.Series([0.01, 0.02], index=_dates(6)[4:]))
    with pytest.raises(ConfigError, match="all NaN"):
        R.compute_risk_metrics(assets.assign(BBB=np.nan), weights=w)
    with pytest.raises(ConfigError, match="more than once"):
        R.compute_risk_metrics(pd.Series([0.01, 0.02], index=[assets.index[0]] * 2))
    with pytest.raises(ConfigError, match="never negative"):
        R.compute_risk_metrics(r, pd.Series([100.0, -5.0]))
    with pytest.raises(ConfigError, match="> 0 at the start"):
        R.drawdowns_from_equity(pd.Series([0.0, 10.0]))
    with pytest.raises(ConfigError, match="empty"):
        R.drawdowns_from_equity(pd.Series([np.nan]))


# ------------------------------------------------------------------------------------------------ properties

_returns = arrays(
    np.float64,
    st.integers(min_value=5, max_value=80),
    elements=st.floats(min_value=-0.2, max_value=0.2, allow_nan=False, allow_subnormal=False),
)


@settings(max_examples=60, deadline=None)
@given(r=_returns, level=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_cvar_is_at_least_var(r: np.ndarray, level: float) -> None:
    for method in ("historical", "parametric"):
        assert R.conditional_value_at_risk(r, level, method) >= R.value_at_risk(r, level, method) - 1e-15


@settings(max_examples=60, deadline=None)
@given(
    r=_returns,
    shift=st.floats(min_value=-0.05, max_value=0.05),
    scale=st.floats(min_value=0.1, max_value=10),
    method=st.sampled_from(METHODS),
)
def test_var_is_translation_equivariant_and_positively_homogeneous(
    r: np.ndarray, shift: float, scale: float, method: str
) -> None:
    base = R.value_at_risk(r, 0.95, method)
    assert R.value_at_risk(r + shift, 0.95, method) == pytest.approx(base - shift, abs=1e-9)
    assert R.value_at_risk(r * scale, 0.95, method) == pytest.approx(base * scale, rel=1e-9, abs=1e-12)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(min_value=0, max_value=2**32 - 1),
    n_assets=st.integers(min_value=1, max_value=6),
    n_obs=st.integers(min_value=3, max_value=60),
)
def test_component_risk_sums_to_portfolio_volatility(seed: int, n_assets: int, n_obs: int) -> None:
    rng = np.random.default_rng(seed)
    symbols = [f"S{i}" for i in range(n_assets)]
    assets = pd.DataFrame(rng.normal(0, 0.02, (n_obs, n_assets)), index=_dates(n_obs), columns=symbols)
    w = pd.Series(rng.uniform(-1, 1, n_assets), index=symbols)
    rm = R.compute_risk_metrics(assets, weights=w)
    assert rm.component_risk.sum() == pytest.approx(rm.volatility, rel=1e-9)
    np.testing.assert_allclose(rm.component_risk, w * rm.marginal_risk, rtol=1e-12)
    # marginal risk is the gradient of σ_p(w) = √(wᵀΣw): check one coordinate by a central difference
    cov = assets.cov().to_numpy() * 252
    h = 1e-6
    e = np.zeros(n_assets)
    e[0] = h

    def sigma(v: np.ndarray) -> float:
        return math.sqrt(v @ cov @ v)

    gradient = (sigma(w.to_numpy() + e) - sigma(w.to_numpy() - e)) / (2 * h)
    assert rm.marginal_risk.iloc[0] == pytest.approx(gradient, rel=1e-5, abs=1e-9)
    assert 1 / n_assets - 1e-12 <= rm.herfindahl <= 1 + 1e-12

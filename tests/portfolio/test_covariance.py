"""Covariance and expected-return estimators: against pandas, scikit-learn and PyPortfolioOpt, annualisation, NaN
handling, properties, and the documented errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.covariance import LedoitWolf

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio.covariance import check_covariance, estimate_covariance
from ravenshire.portfolio.expected_returns import estimate_expected_returns

pytestmark = pytest.mark.filterwarnings("error::RuntimeWarning")


def _returns(t: int = 300, n: int = 6, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    factor = rng.normal(0.0, 0.01, (t, 1)) @ rng.normal(1.0, 0.3, (1, n))
    values = factor + rng.normal(0.0004, 0.015, (t, n))
    return pd.DataFrame(values, index=pd.bdate_range("2020-01-01", periods=t), columns=[f"S{i}" for i in range(n)])


# ------------------------------------------------------------------------------------------------ covariance


def test_sample_is_pandas_cov_annualised() -> None:
    r = _returns()
    got = estimate_covariance(r, "sample")
    pd.testing.assert_frame_equal(got, r.cov() * 252, rtol=1e-12, atol=0)


def test_ledoit_wolf_is_sklearn_annualised_and_matches_pypfopt() -> None:
    from pypfopt.risk_models import CovarianceShrinkage

    r = _returns()
    got = estimate_covariance(r)  # the default
    expected = LedoitWolf().fit(r.to_numpy()).covariance_ * 252
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-12)
    peer = CovarianceShrinkage(r, returns_data=True, frequency=252).ledoit_wolf()
    np.testing.assert_allclose(got.to_numpy(), peer.to_numpy(), rtol=1e-10)
    assert list(got.index) == list(got.columns) == list(r.columns)


@pytest.mark.parametrize("halflife", [5.0, 63.0])
def test_ewma_is_the_last_row_of_pandas_ewm_cov(halflife: float) -> None:
    r = _returns(t=200, n=4)
    got = estimate_covariance(r, "ewma", halflife=halflife)
    last = r.ewm(halflife=halflife).cov().loc[r.index[-1]] * 252
    np.testing.assert_allclose(got.to_numpy(), last.to_numpy(), rtol=1e-9)


def test_ewma_with_a_huge_halflife_tends_to_the_sample_covariance() -> None:
    r = _returns(t=200, n=4)
    np.testing.assert_allclose(
        estimate_covariance(r, "ewma", halflife=1e9).to_numpy(), estimate_covariance(r, "sample").to_numpy(), rtol=1e-6
    )


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf", "ewma"])
def test_annualisation_is_linear_in_periods(method: str) -> None:
    r = _returns()
    daily = estimate_covariance(r, method, periods=1)
    np.testing.assert_allclose(estimate_covariance(r, method, periods=12).to_numpy(), 12 * daily.to_numpy())


@pytest.mark.parametrize("method", ["sample", "ledoit_wolf", "ewma"])
def test_nan_rows_are_dropped_so_every_entry_uses_the_same_dates(method: str) -> None:
    r = _returns()
    gappy = r.copy()
    gappy.iloc[:40, 2] = np.nan  # a late listing
    gappy.iloc[100, 0] = np.nan
    got = estimate_covariance(gappy, method)
    pd.testing.assert_frame_equal(got, estimate_covariance(gappy.dropna(), method))


def test_a_nan_only_column_is_infeasible_and_named() -> None:
    r = _returns()
    r["DEAD"] = np.nan
    with pytest.raises(InfeasibleError, match="returns of DEAD are NaN on every date"):
        estimate_covariance(r)
    with pytest.raises(InfeasibleError, match="DEAD"):
        estimate_expected_returns(r)


@pytest.mark.parametrize("method", ["sample", "ewma"])
def test_fewer_rows_than_assets_without_shrinkage_is_infeasible(method: str) -> None:
    r = _returns(t=8, n=10)
    with pytest.raises(InfeasibleError, match=r"needs at least 11 complete rows of returns, got 8.*ledoit_wolf"):
        estimate_covariance(r, method)
    with pytest.raises(InfeasibleError, match="at least 11"):  # T == n is singular too
        estimate_covariance(_returns(t=10, n=10), method)


def test_ledoit_wolf_is_positive_definite_with_fewer_rows_than_assets() -> None:
    cov = estimate_covariance(_returns(t=8, n=10), "ledoit_wolf").to_numpy()
    assert np.linalg.eigvalsh(cov).min() > 0


def test_one_complete_row_is_not_enough() -> None:
    r = _returns(t=5, n=2)
    r.iloc[1:, 0] = np.nan
    with pytest.raises(InfeasibleError, match="1 complete row"):
        estimate_covariance(r)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"method": "ledoitwolf"}, "did you mean 'ledoit_wolf'"),
        ({"method": "ewma", "halflife": 0}, "halflife must be > 0"),
        ({"periods": -1}, "periods must be > 0"),
    ],
)
def test_bad_options_are_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        estimate_covariance(_returns(), **kwargs)  # type: ignore[arg-type]


def test_bad_returns_are_config_errors() -> None:
    r = _returns()
    r.iloc[5, 1] = np.inf
    with pytest.raises(ConfigError, match=r"returns of S1 are ±inf"):
        estimate_covariance(r)
    with pytest.raises(ConfigError, match="must be a pandas DataFrame"):
        estimate_covariance(_returns().to_numpy())  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="more than once"):
        estimate_covariance(pd.concat([_returns(), _returns()[["S0"]]], axis=1))
    with pytest.raises(ConfigError, match="empty"):
        estimate_covariance(pd.DataFrame())


@settings(max_examples=30, deadline=None)
@given(
    t=st.integers(3, 40),
    n=st.integers(1, 12),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(["sample", "ledoit_wolf", "ewma"]),
)
def test_every_estimate_is_symmetric_and_psd(t: int, n: int, seed: int, method: str) -> None:
    r = _returns(t=t, n=n, seed=seed)
    if method != "ledoit_wolf" and t <= n:
        with pytest.raises(InfeasibleError):
            estimate_covariance(r, method)
        return
    cov = estimate_covariance(r, method).to_numpy()
    np.testing.assert_array_equal(cov, cov.T)
    assert np.linalg.eigvalsh(cov).min() >= -1e-12 * np.abs(cov).max()
    check_covariance(pd.DataFrame(cov, index=r.columns, columns=r.columns))  # what the optimizers accept


def test_check_covariance_refuses_what_an_optimizer_cannot_use() -> None:
    cov = estimate_covariance(_returns(n=3))
    bad = cov.copy()
    bad.iloc[0, 1] += 1e-3
    with pytest.raises(ConfigError, match="not symmetric"):
        check_covariance(bad)
    indefinite = pd.DataFrame([[1.0, 2.0], [2.0, 1.0]], index=["A", "B"], columns=["A", "B"])
    with pytest.raises(ConfigError, match="not positive semi-definite"):
        check_covariance(indefinite)
    with pytest.raises(ConfigError, match=r"missing \['S9'\]"):
        check_covariance(cov, ["S0", "S1", "S9"])
    reordered = check_covariance(cov, ["S2", "S0", "S1"])
    assert reordered.loc["S2", "S0"] == cov.loc["S2", "S0"]
    assert list(reordered.columns) == ["S2", "S0", "S1"]


# ------------------------------------------------------------------------------------------------ expected returns


def test_historical_mean_is_annualised_arithmetic_and_matches_pypfopt() -> None:
    from pypfopt.expected_returns import mean_historical_return

    r = _returns()
    got = estimate_expected_returns(r)
    pd.testing.assert_series_equal(got, (r.mean() * 252).rename("expected_return"), rtol=1e-12)
    peer = mean_historical_return(r, returns_data=True, compounding=False, frequency=252)
    np.testing.assert_allclose(got.to_numpy(), peer.to_numpy(), rtol=1e-12)


def test_ewma_mean_is_the_last_row_of_pandas_ewm_mean() -> None:
    r = _returns()
    got = estimate_expected_returns(r, "ewma", halflife=20, periods=12)
    np.testing.assert_allclose(got.to_numpy(), r.ewm(halflife=20).mean().iloc[-1].to_numpy() * 12, rtol=1e-10)


def test_expected_returns_use_complete_rows_and_refuse_bad_methods() -> None:
    r = _returns()
    r.iloc[:10, 1] = np.nan
    pd.testing.assert_series_equal(estimate_expected_returns(r), estimate_expected_returns(r.dropna()))
    with pytest.raises(ConfigError, match="did you mean 'historical'"):
        estimate_expected_returns(r, "historic")

"""The deflated Sharpe ratio: the paper's worked example, moments against scipy, and luck recognised as luck."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from ravenshire.errors import ConfigError
from ravenshire.research.significance import (
    _moments,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probabilistic_sharpe_ratio,
)


def test_the_worked_example_of_bailey_and_lopez_de_prado() -> None:
    # "The Deflated Sharpe Ratio" (2014), section 6: 100 trials, annualised SR 2.5 from 1,250 daily returns
    # (250 a year), variance of the trials' annualised SRs 0.5, skewness -3, kurtosis 10 -> DSR 0.9004.
    sr = 2.5 / math.sqrt(250)
    sr0 = expected_max_sharpe(100, 0.5 / 250)
    assert sr0 * math.sqrt(250) == pytest.approx(1.7894, abs=1e-4)
    assert probabilistic_sharpe_ratio(sr, sr0, 1250, -3.0, 10.0) == pytest.approx(0.9004, abs=1e-4)


def test_psr_hand_case_with_normal_returns() -> None:
    # SR 0.1, 101 obs, normal moments: z = 0.1·10 / sqrt(1 + 2/4·0.01) = 0.99751...
    z = 0.1 * 10 / math.sqrt(1 + 0.5 * 0.01)
    assert probabilistic_sharpe_ratio(0.1, 0.0, 101) == pytest.approx(stats.norm.cdf(z), abs=1e-12)
    assert math.isnan(probabilistic_sharpe_ratio(0.1, 0.0, 1))
    assert math.isnan(probabilistic_sharpe_ratio(math.nan, 0.0, 100))


def test_expected_max_grows_with_trials_and_is_zero_for_one() -> None:
    assert expected_max_sharpe(1, 0.01) == 0.0
    assert expected_max_sharpe(50, 0.0) == 0.0
    values = [expected_max_sharpe(n, 0.01) for n in (2, 10, 100, 1000)]
    assert values == sorted(values)
    with pytest.raises(ConfigError, match="n_trials"):
        expected_max_sharpe(0, 0.01)


def test_moments_match_scipy() -> None:
    x = np.random.default_rng(3).standard_t(4, size=500) * 0.01 + 0.0005
    sr, skew, kurt = _moments(x)
    assert sr == pytest.approx(x.mean() / x.std(ddof=1), rel=1e-12)
    assert skew == pytest.approx(stats.skew(x), rel=1e-10)
    assert kurt == pytest.approx(stats.kurtosis(x, fisher=True) + 3.0, rel=1e-10)


def test_the_best_of_many_skill_less_trials_is_flagged_as_luck() -> None:
    rng = np.random.default_rng(11)
    trials = rng.normal(0.0, 0.01, size=(1000, 200))  # 200 strategies with no edge, 4 years of days
    sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1) * math.sqrt(252)
    best = int(np.argmax(sharpes))
    one = deflated_sharpe_ratio(trials[:, best], sharpes[[best]])
    many = deflated_sharpe_ratio(trials[:, best], sharpes)
    assert many.sharpe == pytest.approx(sharpes[best], rel=1e-12)
    assert one.probabilistic_sharpe > 0.95  # alone, the best looks significant...
    assert many.likely_luck  # ...but not as the best of 200
    assert many.deflated_sharpe < one.deflated_sharpe
    assert many.n_trials == 200 and many.n_obs == 1000


def test_a_real_edge_survives_the_deflation() -> None:
    rng = np.random.default_rng(5)
    trials = rng.normal(0.0, 0.01, size=(1500, 50))
    trials[:, 0] += 0.0015  # annualised SR about 2.4
    sharpes = trials.mean(axis=0) / trials.std(axis=0, ddof=1) * math.sqrt(252)
    result = deflated_sharpe_ratio(trials[:, 0], sharpes)
    assert result.deflated_sharpe > 0.95 and not result.likely_luck
    assert result.to_dict()["likely_luck"] is False


def test_flat_returns_give_nan_and_count_as_luck() -> None:
    result = deflated_sharpe_ratio(np.zeros(100), np.array([np.nan, 1.0]))
    assert math.isnan(result.deflated_sharpe) and result.likely_luck
    assert result.to_dict()["deflated_sharpe"] is None
    assert result.n_trials == 1

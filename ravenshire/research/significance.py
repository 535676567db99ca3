"""Is the best of N trials skill or luck? The probabilistic and the deflated Sharpe ratio.

Bailey & López de Prado, "The Sharpe Ratio Efficient Frontier" (2012) and "The Deflated Sharpe Ratio: Correcting
for Selection Bias, Backtest Overfitting and Non-Normality" (2014). Everything here works on Sharpe ratios *per
period* (not annualised): ``SR = mean(r − rf) / std(r − rf, ddof=1)`` over the ``T`` returns of one backtest.

- Probabilistic Sharpe ratio, the probability that the true SR exceeds ``SR₀`` given the estimate ``SR̂``::

      PSR(SR₀) = Φ( (SR̂ − SR₀)·√(T − 1) / √(1 − γ₃·SR̂ + (γ₄ − 1)/4·SR̂²) )

  with ``γ₃`` the skewness and ``γ₄`` the (non-excess) kurtosis of the returns (population moments, as in the
  paper; 3 for normal returns).
- Expected maximum of N Sharpe ratios drawn under the null (true SR = 0) with cross-trial variance ``V``::

      SR₀ = √V·((1 − γ)·Φ⁻¹(1 − 1/N) + γ·Φ⁻¹(1 − 1/(N·e))),     γ ≈ 0.5772 (Euler–Mascheroni)

- Deflated Sharpe ratio: ``DSR = PSR(SR₀)``, the probability that the best trial's true Sharpe ratio is above
  what the best of N skill-less trials would show. Below 0.95 the best trial is not distinguishable from luck at
  the 5 % level.

``N`` is the number of *distinct* parameter sets evaluated and ``V`` the sample variance (ddof=1) of their
per-period Sharpe ratios; trials of one strategy family are correlated, so ``N`` overstates the number of
independent trials and the correction errs on the conservative side.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from ravenshire.errors import ConfigError

__all__ = [
    "DeflatedSharpe",
    "deflated_sharpe_ratio",
    "expected_max_sharpe",
    "probabilistic_sharpe_ratio",
]

EULER_GAMMA = 0.5772156649015329
#: A best trial with a deflated Sharpe ratio below this is reported as likely luck.
CONFIDENCE = 0.95
_NORMAL = NormalDist()


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark: float, n_obs: int, skewness: float = 0.0, kurtosis: float = 3.0
) -> float:
    """``PSR(benchmark)`` for a per-period Sharpe ratio ``sharpe`` measured on ``n_obs`` returns (module docstring).

    NaN when ``n_obs < 2`` or an input is not finite; when the variance term ``1 − γ₃·SR + (γ₄ − 1)/4·SR²`` is not
    positive (possible only for extreme skew), NaN as well.
    """
    values = (sharpe, benchmark, skewness, kurtosis)
    if n_obs < 2 or not all(math.isfinite(v) for v in values):
        return math.nan
    spread = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if spread <= 0.0:
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread))


def expected_max_sharpe(n_trials: int, variance: float) -> float:
    """Expected maximum per-period Sharpe ratio of ``n_trials`` skill-less trials whose Sharpe ratios have
    variance ``variance`` (module docstring). 0 for one trial or zero variance."""
    if n_trials < 1:
        raise ConfigError(f"n_trials must be >= 1, got {n_trials}")
    if n_trials == 1 or variance <= 0.0 or not math.isfinite(variance):
        return 0.0
    a = _NORMAL.inv_cdf(1.0 - 1.0 / n_trials)
    b = _NORMAL.inv_cdf(1.0 - 1.0 / (n_trials * math.e))
    return math.sqrt(variance) * ((1.0 - EULER_GAMMA) * a + EULER_GAMMA * b)


@dataclass(frozen=True, kw_only=True)
class DeflatedSharpe:
    """The deflated Sharpe ratio of the best trial, with its inputs (Sharpe ratios annualised for display)."""

    deflated_sharpe: float  # probability in [0, 1]; NaN when it cannot be computed
    probabilistic_sharpe: float  # PSR(0): probability the true SR > 0, ignoring the number of trials
    sharpe: float  # the best trial's annualised Sharpe ratio
    expected_max_sharpe: float  # annualised SR₀: the best of n_trials skill-less trials
    n_trials: int
    n_obs: int
    skewness: float
    kurtosis: float

    @property
    def likely_luck(self) -> bool:
        """True unless the deflated Sharpe ratio reaches :data:`CONFIDENCE` (0.95); NaN counts as luck."""
        return not (self.deflated_sharpe >= CONFIDENCE)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["likely_luck"] = self.likely_luck
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}


def _moments(excess: np.ndarray) -> tuple[float, float, float]:
    """Per-period Sharpe ratio (ddof=1), population skewness and kurtosis (non-excess) of ``excess``."""
    std = float(excess.std(ddof=1))
    if not std > 0.0:
        return math.nan, math.nan, math.nan
    centred = excess - excess.mean()
    pop_std = float(np.sqrt(np.mean(centred**2)))
    skew = float(np.mean(centred**3)) / pop_std**3
    kurt = float(np.mean(centred**4)) / pop_std**4
    return float(excess.mean()) / std, skew, kurt


def deflated_sharpe_ratio(
    returns: np.ndarray,
    trial_sharpes: np.ndarray,
    risk_free: float = 0.0,
    periods: int = 252,
) -> DeflatedSharpe:
    """Deflated Sharpe ratio of the best trial.

    ``returns`` are the best trial's per-period returns (the days it was measured on); ``trial_sharpes`` the
    ANNUALISED Sharpe ratios (``√periods`` × per-period, as :mod:`ravenshire.research.metrics` reports them) of
    every distinct trial, the best included; non-finite ones (a flat trial) are left out of ``N`` and ``V``.
    ``risk_free`` is the annual rate, converted per period as in the metrics.
    """
    r = np.asarray(returns, dtype="float64")
    r = r[np.isfinite(r)]
    rf = (1.0 + risk_free) ** (1.0 / periods) - 1.0
    sharpe, skew, kurt = _moments(r - rf) if len(r) > 1 else (math.nan, math.nan, math.nan)
    trials = np.asarray(trial_sharpes, dtype="float64")
    trials = trials[np.isfinite(trials)] / math.sqrt(periods)
    n_trials = max(len(trials), 1)
    variance = float(trials.var(ddof=1)) if len(trials) > 1 else 0.0
    sr0 = expected_max_sharpe(n_trials, variance)
    root = math.sqrt(periods)
    return DeflatedSharpe(
        deflated_sharpe=probabilistic_sharpe_ratio(sharpe, sr0, len(r), skew, kurt),
        probabilistic_sharpe=probabilistic_sharpe_ratio(sharpe, 0.0, len(r), skew, kurt),
        sharpe=sharpe * root,
        expected_max_sharpe=sr0 * root,
        n_trials=n_trials,
        n_obs=len(r),
        skewness=skew,
        kurtosis=kurt,
    )

"""Expected-return estimators for the optimizers: historical mean and exponentially weighted mean.

Conventions
-----------
- ``returns`` is a wide :class:`pandas.DataFrame` of simple returns per period (dates × symbols).
- An expected return is an ANNUALISED ARITHMETIC mean: the per-period mean times ``periods`` (252 for daily data),
  not a compounded (geometric) rate — the quantity that is linear in the weights, ``E[r_p] = μᵀw``, and the one
  PyPortfolioOpt's ``mean_historical_return(compounding=False)`` returns.
- Only the complete rows (dates on which every symbol has a return) are used, the same rows as
  :func:`ravenshire.portfolio.covariance.estimate_covariance`; a NaN-only column raises
  :class:`~ravenshire.errors.InfeasibleError` naming the symbol.
- Callers with their own views (e.g. the Analyst's signals) skip these estimators and pass a Series of annualised
  expected returns, indexed by symbol, to :func:`ravenshire.portfolio.optimizers.optimize_weights`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ravenshire.portfolio._inputs import check_choice, check_number, ewma_weights, returns_matrix

__all__ = ["EXPECTED_RETURN_METHODS", "estimate_expected_returns"]

#: The estimators :func:`estimate_expected_returns` knows.
EXPECTED_RETURN_METHODS: tuple[str, ...] = ("historical", "ewma")


def estimate_expected_returns(
    returns: pd.DataFrame, method: str = "historical", *, halflife: float = 63, periods: int = 252
) -> pd.Series:
    """Annualised arithmetic expected return of each asset.

    With ``X`` the ``T × n`` complete rows of ``returns``:

    - ``historical``: ``μ = periods · (1/T) Σ_s x_s``.
    - ``ewma``: ``μ = periods · Σ_s a_s x_s`` with ``a_s ∝ λ^(T−1−s)``, ``λ = 2^(−1/halflife)``, ``Σ a_s = 1``
      (the latest row weighs most): ``returns.ewm(halflife=halflife).mean().iloc[-1] · periods`` (pandas'
      ``adjust=True``).

    Parameters
    ----------
    returns : DataFrame, shape (T, n)
        Simple returns per period, one column per symbol.
    method : {"historical", "ewma"}
    halflife : float
        Half-life in periods of the ``ewma`` weights; ignored by ``historical``.
    periods : int
        Periods per year (252 for daily returns).

    Returns
    -------
    Series, length n
        Annualised expected returns indexed by symbol (``0.08`` = 8 % a year), named ``"expected_return"``.

    Raises
    ------
    ConfigError
        Unknown method, non-numeric or ±inf returns, a non-positive ``halflife`` or ``periods``.
    InfeasibleError
        A NaN-only column, or fewer than 2 complete rows.
    """
    check_choice("expected-return method", method, EXPECTED_RETURN_METHODS)
    scale = check_number("periods", periods, positive=True)
    x, symbols = returns_matrix(returns)
    if method == "historical":
        mean = x.mean(axis=0)
    else:
        mean = ewma_weights(x.shape[0], check_number("halflife", halflife, positive=True)) @ x
    return pd.Series(np.asarray(mean, dtype=np.float64) * scale, index=pd.Index(symbols), name="expected_return")

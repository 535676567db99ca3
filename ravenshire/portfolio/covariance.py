"""Covariance estimators for the optimizers: sample, Ledoit-Wolf shrinkage and exponentially weighted.

Conventions
-----------
- ``returns`` is a wide :class:`pandas.DataFrame` of simple returns per period (dates × symbols).
- Every estimate is ANNUALISED: the per-period covariance times ``periods`` (252 for daily data), so a diagonal
  entry is an annual variance and ``√(wᵀΣw)`` an annual volatility of the weights ``w``.
- Missing values: a column that is NaN on every date raises :class:`~ravenshire.errors.InfeasibleError` naming
  the symbol; otherwise only the COMPLETE rows (dates on which every symbol has a return) are used, so all entries
  come from the same dates and the matrix is positive semi-definite (pairwise-complete covariances need not be).
- ``sample`` and ``ewma`` need more complete rows than assets (``T ≥ n + 1``; with fewer the matrix is singular);
  below that they raise InfeasibleError and suggest ``ledoit_wolf``, which is well conditioned for any ``T ≥ 2``.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np
import pandas as pd
from sklearn.covariance import LedoitWolf

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio._inputs import FloatArray, check_choice, check_number, ewma_weights, returns_matrix

__all__ = ["COVARIANCE_METHODS", "check_covariance", "estimate_covariance"]

#: The estimators :func:`estimate_covariance` knows.
COVARIANCE_METHODS: tuple[str, ...] = ("sample", "ledoit_wolf", "ewma")

# A supplied covariance may be asymmetric / indefinite by this much (relative to its largest variance).
_SYMMETRY_TOL = 1e-10
_PSD_TOL = 1e-10


def estimate_covariance(
    returns: pd.DataFrame, method: str = "ledoit_wolf", *, halflife: float = 63, periods: int = 252
) -> pd.DataFrame:
    """Annualised covariance matrix of the assets' simple returns.

    With ``X`` the ``T × n`` complete rows of ``returns`` and ``x̄`` their column means:

    - ``sample``: ``Σ = periods · (X − x̄)ᵀ(X − x̄) / (T − 1)`` (``ddof=1``, as :meth:`pandas.DataFrame.cov`).
    - ``ledoit_wolf``: :class:`sklearn.covariance.LedoitWolf` — ``Σ = periods · ((1 − δ) S + δ · tr(S)/n · I)``
      with ``S`` the maximum-likelihood sample covariance (``ddof=0``) and the shrinkage ``δ`` of Ledoit and Wolf
      (2004). The same estimate as PyPortfolioOpt's ``CovarianceShrinkage.ledoit_wolf`` and skfolio's
      ``LedoitWolf`` (both use scikit-learn), before their annualisation.
    - ``ewma``: ``Σ = periods · Σ_s a_s (x_s − m)(x_s − m)ᵀ / (1 − Σ_s a_s²)`` with weights
      ``a_s ∝ λ^(T−1−s)``, ``λ = 2^(−1/halflife)`` summing to 1 (the latest row weighs most) and the weighted mean
      ``m = Σ_s a_s x_s``: the last row of ``returns.ewm(halflife=halflife).cov()`` (pandas' ``adjust=True``,
      bias-corrected), times ``periods``.

    Parameters
    ----------
    returns : DataFrame, shape (T, n)
        Simple returns per period, one column per symbol.
    method : {"ledoit_wolf", "sample", "ewma"}
    halflife : float
        Half-life in periods of the ``ewma`` weights (63 ≈ a quarter of trading days); ignored otherwise.
    periods : int
        Periods per year (252 for daily returns).

    Returns
    -------
    DataFrame, shape (n, n)
        Annualised covariance, index and columns the symbols in the order of ``returns``.

    Raises
    ------
    ConfigError
        Unknown method, non-numeric or ±inf returns, a non-positive ``halflife`` or ``periods``.
    InfeasibleError
        A NaN-only column; fewer than 2 complete rows; ``sample`` / ``ewma`` with ``T ≤ n`` complete rows.
    """
    check_choice("covariance method", method, COVARIANCE_METHODS)
    scale = check_number("periods", periods, positive=True)
    x, symbols = returns_matrix(returns)
    t, n = x.shape
    if method in ("sample", "ewma") and t <= n:
        raise InfeasibleError(
            f"the {method} covariance of {n} assets needs at least {n + 1} complete rows of returns, got {t}: it "
            "would be singular; use covariance_method='ledoit_wolf' (shrinkage) or fewer assets / a longer history"
        )
    if method == "sample":
        cov = np.cov(x, rowvar=False, ddof=1).reshape(n, n)
    elif method == "ledoit_wolf":
        cov = LedoitWolf(assume_centered=False).fit(x).covariance_
    else:
        cov = _ewma_covariance(x, check_number("halflife", halflife, positive=True))
    cov = 0.5 * (cov + cov.T) * scale
    return pd.DataFrame(cov, index=pd.Index(symbols), columns=pd.Index(symbols))


def _ewma_covariance(x: FloatArray, halflife: float) -> FloatArray:
    """Per-period bias-corrected exponentially weighted covariance (pandas ``ewm(...).cov()`` at the last row)."""
    a = ewma_weights(x.shape[0], halflife)
    centred = x - a @ x
    out = (centred * a[:, None]).T @ centred
    return np.asarray(out / (1.0 - float(a @ a)), dtype=np.float64)


def check_covariance(covariance: Any, symbols: list[Hashable] | None = None) -> pd.DataFrame:
    """A caller's covariance matrix, checked and symmetrised, in the order of ``symbols`` (when given).

    It must be a square :class:`pandas.DataFrame` with the same labels on both axes (each once), finite, symmetric
    and positive semi-definite (each up to ``1e-10`` of its largest variance), annualised like
    :func:`estimate_covariance`'s output (this cannot be checked, only said). With ``symbols``, its labels must be
    exactly those symbols. Anything else raises :class:`~ravenshire.errors.ConfigError`.
    """
    if not isinstance(covariance, pd.DataFrame):
        raise ConfigError(f"covariance must be a pandas DataFrame (symbols × symbols), got {type(covariance).__name__}")
    labels: list[Hashable] = list(covariance.columns)
    if covariance.shape[0] != covariance.shape[1] or set(covariance.index) != set(labels) or not labels:
        raise ConfigError(
            f"covariance must be square with the same symbols as index and columns, got shape {covariance.shape}"
        )
    if not covariance.columns.is_unique or not covariance.index.is_unique:
        raise ConfigError("covariance lists a symbol more than once; give one row and one column per symbol")
    order: list[Hashable] = labels if symbols is None else symbols
    if symbols is not None and set(symbols) != set(labels):
        have, want = set(labels), set(symbols)
        missing = [str(s) for s in symbols if s not in have]
        extra = [str(s) for s in labels if s not in want]
        raise ConfigError(
            f"covariance symbols differ from the returns' columns: missing {missing}, unknown {extra}; pass the "
            "covariance of exactly the assets to optimise"
        )
    try:
        cov = covariance.reindex(index=order, columns=order).to_numpy(dtype=np.float64, na_value=np.nan)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"covariance must be numeric: {exc}") from exc
    return pd.DataFrame(_checked_matrix(cov), index=pd.Index(order), columns=pd.Index(order))


def _checked_matrix(cov: FloatArray) -> FloatArray:
    if not np.isfinite(cov).all():
        raise ConfigError("covariance has NaN or ±inf entries; estimate it with estimate_covariance() or fix them")
    diag = np.diag(cov)
    if (diag < 0).any():
        raise ConfigError(f"covariance has a negative variance on its diagonal ({diag.min():.3g}); it is not valid")
    scale = max(float(diag.max()), np.finfo(np.float64).tiny)
    if np.abs(cov - cov.T).max() > _SYMMETRY_TOL * scale:
        raise ConfigError(f"covariance is not symmetric (largest |Σ − Σᵀ| = {np.abs(cov - cov.T).max():.3g})")
    sym = 0.5 * (cov + cov.T)
    try:
        np.linalg.cholesky(sym + _PSD_TOL * scale * np.eye(sym.shape[0]))
    except np.linalg.LinAlgError:
        low = float(np.linalg.eigvalsh(sym)[0])
        raise ConfigError(
            f"covariance is not positive semi-definite (smallest eigenvalue {low:.3g}); pass an estimate such as "
            "estimate_covariance(returns, 'ledoit_wolf') or project it onto the PSD cone"
        ) from None
    return np.asarray(sym, dtype=np.float64)

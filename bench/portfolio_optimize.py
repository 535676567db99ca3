"""Benchmark: min-variance, max-Sharpe and risk parity — Ravenshire beside PyPortfolioOpt and skfolio.

    python bench/portfolio_optimize.py                      # 20 and 500 assets × 2,520 days
    python bench/portfolio_optimize.py --assets 100 --repeats 5

Data: factor-model synthetic daily returns, seeded (numpy): 5 factors (a market factor with a premium and four
zero-mean styles) + Student-t (5 d.o.f.) idiosyncratic noise, 2,520 days (10 years).

Every library gets the SAME inputs — the annualised Ledoit-Wolf covariance and historical mean computed once by
Ravenshire — so the timings EXCLUDE estimation (printed once, separately) and compare the optimizers alone: from
(μ, Σ) to weights, including each library's own set-up (PyPortfolioOpt's and skfolio's cvxpy model building;
our input checks, QP assembly and diagnostics). Each time is the best of ``--repeats`` runs. Long-only, fully
invested, 0 ≤ w ≤ 1 (every library's default).

Objectives, computed here from each library's weights with the same Σ and μ:
  min-variance  annual variance wᵀΣw              (lower is better)
  max-Sharpe    μᵀw / √(wᵀΣw), risk-free rate 0    (higher is better)
  risk parity   max_i |RC_i − 1/n|, RC_i = w_i(Σw)_i / wᵀΣw   (lower is better; 0 is exact)

PyPortfolioOpt runs with its default solver (cvxpy picks it); when that fails, the failure is printed and the
call is repeated with solver="CLARABEL". PyPortfolioOpt has no equal-risk-contribution optimizer (only HRP), so
its risk-parity row says so. A peer that is not installed is skipped with a note. Figures, not assertions: this
machine is shared and noisy.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ravenshire.portfolio.covariance import estimate_covariance  # noqa: E402
from ravenshire.portfolio.expected_returns import estimate_expected_returns  # noqa: E402
from ravenshire.portfolio.optimizers import optimize_weights  # noqa: E402


def factor_returns(n_assets: int, n_days: int, seed: int = 42) -> pd.DataFrame:
    """Daily simple returns r = B f + ε: 5 factors (market premium ≈ 6 %/yr, vol ≈ 16 %/yr; 4 styles ≈ 8 %/yr),
    loadings β_market ~ N(1, 0.3), β_style ~ N(0, 0.5), idiosyncratic t(5) noise with vol 15–40 %/yr and a small
    alpha per asset."""
    rng = np.random.default_rng(seed)
    factor_vol = np.array([0.16, 0.08, 0.08, 0.08, 0.08]) / math.sqrt(252)
    factor_mean = np.array([0.06, 0.0, 0.0, 0.0, 0.0]) / 252
    factors = rng.normal(0.0, 1.0, (n_days, 5)) * factor_vol + factor_mean
    loadings = np.column_stack([rng.normal(1.0, 0.3, n_assets), rng.normal(0.0, 0.5, (n_assets, 4))])
    idio_vol = rng.uniform(0.15, 0.40, n_assets) / math.sqrt(252)
    shocks = rng.standard_t(5, (n_days, n_assets)) / math.sqrt(5 / 3)  # unit variance
    alpha = rng.normal(0.0, 0.02, n_assets) / 252
    values = factors @ loadings.T + shocks * idio_vol + alpha
    return pd.DataFrame(
        values,
        index=pd.bdate_range("2015-01-01", periods=n_days),
        columns=[f"S{i:03d}" for i in range(n_assets)],
    )


def best_time(fn: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    best, out = math.inf, np.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - start)
    return best, out


# ------------------------------------------------------------------------------------------------ the libraries


def ours(method: str, cov: pd.DataFrame, mu: pd.Series) -> Callable[[], np.ndarray]:
    return lambda: optimize_weights(method=method, covariance=cov, expected_returns=mu).weights.to_numpy()


def pypfopt_call(method: str, cov: pd.DataFrame, mu: pd.Series, solver: str | None) -> Callable[[], np.ndarray]:
    from pypfopt import EfficientFrontier

    def run() -> np.ndarray:
        ef = EfficientFrontier(mu, cov, solver=solver)
        weights = ef.min_volatility() if method == "min_variance" else ef.max_sharpe(risk_free_rate=0.0)
        return np.array([weights[s] for s in cov.columns])

    return run


def skfolio_prior(cov: pd.DataFrame, mu: pd.Series) -> Any:
    """An skfolio prior that hands its optimizers exactly our μ and Σ."""
    from skfolio.moments import BaseCovariance, BaseMu
    from skfolio.prior import EmpiricalPrior

    class FixedCovariance(BaseCovariance):
        def __init__(self, covariance: Any = None) -> None:
            super().__init__(nearest=False)
            self.covariance = covariance

        def fit(self, X: Any, y: Any = None, **fit_params: Any) -> FixedCovariance:
            self.covariance_ = np.asarray(self.covariance, dtype=float)
            return self

    class FixedMu(BaseMu):
        def __init__(self, mu: Any = None) -> None:
            self.mu = mu

        def fit(self, X: Any, y: Any = None) -> FixedMu:
            self.mu_ = np.asarray(self.mu, dtype=float)
            return self

    return EmpiricalPrior(mu_estimator=FixedMu(mu.to_numpy()), covariance_estimator=FixedCovariance(cov.to_numpy()))


def skfolio_call(method: str, cov: pd.DataFrame, mu: pd.Series, x: np.ndarray) -> Callable[[], np.ndarray]:
    from skfolio import RiskMeasure
    from skfolio.optimization import MeanRisk, ObjectiveFunction, RiskBudgeting

    def run() -> np.ndarray:
        prior = skfolio_prior(cov, mu)
        if method == "risk_parity":
            model = RiskBudgeting(risk_measure=RiskMeasure.VARIANCE, prior_estimator=prior)
        else:
            objective = (
                ObjectiveFunction.MINIMIZE_RISK if method == "min_variance" else ObjectiveFunction.MAXIMIZE_RATIO
            )
            model = MeanRisk(risk_measure=RiskMeasure.VARIANCE, objective_function=objective, prior_estimator=prior)
        return np.asarray(model.fit(x).weights_, dtype=float)

    return run


# ------------------------------------------------------------------------------------------------ objectives


def objective(method: str, w: np.ndarray, sigma: np.ndarray, mu: np.ndarray) -> float:
    variance = float(w @ sigma @ w)
    if method == "min_variance":
        return variance
    if method == "max_sharpe":
        return float(mu @ w) / math.sqrt(variance)
    contributions = w * (sigma @ w) / variance
    return float(np.abs(contributions - 1.0 / w.size).max())


BETTER = {"min_variance": min, "max_sharpe": max, "risk_parity": min}
LABEL = {"min_variance": "variance", "max_sharpe": "Sharpe", "risk_parity": "max|RC−1/n|"}


def installed(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


def run_case(method: str, n: int, cov: pd.DataFrame, mu: pd.Series, x: np.ndarray, repeats: int) -> dict[str, Any]:
    sigma, m = cov.to_numpy(), mu.to_numpy()
    rows: list[tuple[str, float, float, str]] = []
    t, w = best_time(ours(method, cov, mu), repeats)
    rows.append(("ravenshire", t, objective(method, w, sigma, m), ""))
    if not installed("pypfopt"):
        rows.append(("PyPortfolioOpt", math.nan, math.nan, "not installed: skipped"))
    elif method == "risk_parity":
        rows.append(("PyPortfolioOpt", math.nan, math.nan, "no equal-risk-contribution optimizer (HRP only)"))
    else:
        note = "default solver"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t, w = best_time(pypfopt_call(method, cov, mu, None), repeats)
        except Exception as exc:  # the peer's failure is a figure too
            note = f"default solver failed ({type(exc).__name__}: {str(exc)[:60]}); CLARABEL"
            t, w = best_time(pypfopt_call(method, cov, mu, "CLARABEL"), repeats)
        rows.append(("PyPortfolioOpt", t, objective(method, w, sigma, m), note))
    if installed("skfolio"):
        t, w = best_time(skfolio_call(method, cov, mu, x), repeats)
        rows.append(("skfolio", t, objective(method, w, sigma, m), ""))
    else:
        rows.append(("skfolio", math.nan, math.nan, "not installed: skipped"))
    base_t, base_obj = rows[0][1], rows[0][2]
    print(f"\n{method}, {n} assets — objective: {LABEL[method]}")
    print(f"  {'library':<15} {'time [ms]':>10} {'× ours':>8} {'objective':>22} {'peer − ours':>12}  note")
    for name, t, obj, note in rows:
        ratio = t / base_t if math.isfinite(t) else math.nan
        print(f"  {name:<15} {t * 1e3:>10.1f} {ratio:>8.2f} {obj:>22.15g} {obj - base_obj:>12.3g}  {note}")
    peers = [r for r in rows[1:] if math.isfinite(r[1])]
    fastest = min((r[1] for r in peers), default=math.inf)
    best_peer = BETTER[method]((r[2] for r in peers), default=base_obj)
    as_good = base_obj <= best_peer + 1e-9 if BETTER[method] is min else base_obj >= best_peer - 1e-9
    return {"method": method, "n": n, "faster": base_t <= fastest, "as_good": as_good, "speedup": fastest / base_t}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--assets", type=int, nargs="+", default=[20, 500])
    parser.add_argument("--days", type=int, default=2520)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    summary = []
    for n in args.assets:
        returns = factor_returns(n, args.days)
        start = time.perf_counter()
        cov = estimate_covariance(returns, "ledoit_wolf")
        mu = estimate_expected_returns(returns)
        print(
            f"\n=== {n} assets × {args.days} days: Ledoit-Wolf Σ + historical μ in "
            f"{(time.perf_counter() - start) * 1e3:.1f} ms (once, shared by all; not in the timings below)"
        )
        for method in ("min_variance", "max_sharpe", "risk_parity"):
            summary.append(run_case(method, n, cov, mu, returns.to_numpy(), args.repeats))
    print("\nTarget at the largest size: no slower than the fastest peer, objective at least as good")
    largest = max(args.assets)
    for row in summary:
        if row["n"] == largest:
            verdict = "met" if row["faster"] and row["as_good"] else "NOT met"
            print(
                f"  {row['method']:<13} {verdict}: fastest peer / ours = {row['speedup']:.1f}×, "
                f"objective {'at least as good (to 1e-9)' if row['as_good'] else 'WORSE'}"
            )


if __name__ == "__main__":
    main()

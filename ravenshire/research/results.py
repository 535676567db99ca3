"""``BacktestResult``: what one backtest produced, with its metrics, frozen.

Metric conventions are those of :mod:`ravenshire.research.metrics` (252 periods a year, sample std, annual
risk-free rate, drawdown on the compounded curve, VaR/CVaR/drawdown as positive fractions). They are computed
over the days a position could be held: the first row of the backtest (day 0, when the first weights are only
decided) is left out, since it is 0 by construction and would dilute every average.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ravenshire.research import metrics as m
from ravenshire.research.engine import Costs, EngineResult

__all__ = ["BacktestResult", "build_result"]


@dataclass(frozen=True, kw_only=True)
class BacktestResult:
    """One backtest: identification, metrics and the series behind them.

    Per-day figures (``win_rate_daily``, ``profit_factor_daily``) count days with a non-zero net return;
    per-trade figures (``win_rate_trades``, ``profit_factor_trades``) count trades — a maximal run of days with a
    symbol's position of one sign — by their P&L in fractions of equity.
    """

    strategy_name: str
    parameters: Mapping[str, Any]
    costs: Costs
    data_version: str | None
    is_demo: bool
    start: dt.date
    end: dt.date
    initial_capital: float
    risk_free: float
    # metrics
    total_return: float
    cagr: float
    volatility: float
    sharpe_ratio: float
    sortino_ratio: float
    max_drawdown: float
    calmar_ratio: float
    var_95: float
    cvar_95: float
    win_rate_daily: float
    profit_factor_daily: float
    win_rate_trades: float
    profit_factor_trades: float
    n_trades: int
    turnover: float  # average one-way traded fraction of equity per year
    exposure: float  # average gross exposure (sum of |weights|) while invested days count as held
    # series
    returns: pd.Series = field(repr=False)
    equity_curve: pd.Series = field(repr=False)
    positions: pd.DataFrame = field(repr=False)
    trades: pd.DataFrame = field(repr=False)
    #: The run id in the store when the backtest was tracked (see :mod:`ravenshire.research.tracking`).
    run_id: int | None = None

    METRICS = (
        "total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown", "calmar_ratio",
        "var_95", "cvar_95", "win_rate_daily", "profit_factor_daily", "win_rate_trades", "profit_factor_trades",
        "n_trades", "turnover", "exposure",
    )  # fmt: skip

    def metrics(self) -> dict[str, float]:
        """The metrics as a flat dict (NaN where undefined, inf for a profit factor without losses)."""
        return {name: getattr(self, name) for name in self.METRICS}

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python form without the series (NaN/inf become None/str so it is JSON-safe)."""

        def clean(value: Any) -> Any:
            if isinstance(value, float) and math.isnan(value):
                return None
            if isinstance(value, float) and math.isinf(value):
                return "inf" if value > 0 else "-inf"
            return value

        return {
            "run_id": self.run_id,
            "strategy_name": self.strategy_name,
            "parameters": dict(self.parameters),
            "costs": self.costs.to_dict(),
            "data_version": self.data_version,
            "is_demo": self.is_demo,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "initial_capital": self.initial_capital,
            "risk_free": self.risk_free,
            **{k: clean(float(v)) if k != "n_trades" else int(v) for k, v in self.metrics().items()},
        }


def build_result(
    run: EngineResult,
    *,
    strategy_name: str,
    parameters: Mapping[str, Any],
    costs: Costs,
    data_version: str | None,
    is_demo: bool,
    initial_capital: float,
    risk_free: float = 0.0,
    periods: int = m.TRADING_DAYS,
) -> BacktestResult:
    """Metrics of an engine run, packed in a :class:`BacktestResult`."""
    held = run.returns.iloc[1:].to_numpy(dtype="float64")
    trade_pnl = run.trades["pnl"].to_numpy(dtype="float64") if len(run.trades) else np.array([])
    gross = run.positions.abs().sum(axis=1).iloc[:-1]
    return BacktestResult(
        strategy_name=strategy_name,
        parameters=dict(parameters),
        costs=costs,
        data_version=data_version,
        is_demo=is_demo,
        start=run.returns.index[0].date(),
        end=run.returns.index[-1].date(),
        initial_capital=initial_capital,
        risk_free=risk_free,
        total_return=float(m.total_return(held)),
        cagr=float(m.cagr(held, periods)),
        volatility=float(m.annual_volatility(held, periods)),
        sharpe_ratio=float(m.sharpe_ratio(held, risk_free, periods)),
        sortino_ratio=float(m.sortino_ratio(held, risk_free, periods)),
        max_drawdown=float(m.max_drawdown(held)),
        calmar_ratio=float(m.calmar_ratio(held, periods)),
        var_95=float(m.value_at_risk(held, 0.95)),
        cvar_95=float(m.conditional_value_at_risk(held, 0.95)),
        win_rate_daily=float(m.win_rate(held)),
        profit_factor_daily=float(m.profit_factor(held)),
        win_rate_trades=float(m.win_rate(trade_pnl)),
        profit_factor_trades=float(m.profit_factor(trade_pnl)),
        n_trades=len(run.trades),
        turnover=float(run.turnover.iloc[:-1].mean() * periods) if len(run.turnover) > 1 else 0.0,
        exposure=float(gross.mean()) if len(gross) else 0.0,
        returns=run.returns,
        equity_curve=run.equity,
        positions=run.positions,
        trades=run.trades,
    )

"""``PortfolioManager``: Layer 3's front door (the seed's ``optimize_weights`` and ``get_risk_metrics``).

It binds the portfolio tools to the fund's configuration: the ``[RISK]`` position and leverage limits become the
optimizer's default constraints, and the position limit caps the sizer's rounding; the VaR method of the limit
check is ``[RISK] var_method``; sizing and rebalancing work on the manager's capital. The sector/cluster limit
(``max_group_weight``) is checked (:meth:`PortfolioManager.check_limits`), not yet imposed on the optimizer: a
proposal can breach it, and the Sentinel's check will say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from ravenshire.config import Config, load_config
from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio.limits import RiskMonitor, RiskReport
from ravenshire.portfolio.optimizers import Constraints, PortfolioWeights, optimize_weights
from ravenshire.portfolio.rebalance import RebalancePlan, Rebalancer
from ravenshire.portfolio.risk import RiskMetrics, compute_risk_metrics
from ravenshire.portfolio.sizing import PositionSizer, SharesAllocation
from ravenshire.research.engine import Costs

__all__ = ["PortfolioManager"]


class PortfolioManager:
    """Weights, risk, limits, sizes and rebalancing orders for a portfolio of ``initial_capital``.

    Parameters
    ----------
    initial_capital:
        The equity sizing and rebalancing work on unless a call gives another.
    config:
        The configuration; default :func:`ravenshire.config.load_config`. ``[RISK]`` gives the limits.
    groups:
        Symbol → group for the group-weight limit; ``[RISK] sectors`` when None (the clustering agent passes its
        clusters).
    """

    def __init__(
        self,
        initial_capital: float = 100_000.0,
        *,
        config: Config | None = None,
        groups: Mapping[str, str] | None = None,
    ) -> None:
        try:
            capital = math.nan if isinstance(initial_capital, bool | str) else float(initial_capital)
        except (TypeError, ValueError):
            capital = math.nan
        if not (math.isfinite(capital) and capital > 0):
            raise ConfigError(f"initial_capital must be a positive number, got {initial_capital!r}")
        self.initial_capital = capital
        self.config = config if config is not None else load_config()
        self.monitor = RiskMonitor(self.config.risk, groups)

    # ------------------------------------------------------------------ weights
    def default_constraints(self) -> Constraints:
        """Long-only, fully invested, each weight ≤ ``[RISK] max_position_weight``, gross ≤ ``max_leverage``."""
        risk = self.config.risk
        return Constraints(long_only=True, max_weight=risk.max_position_weight, max_leverage=risk.max_leverage)

    def optimize_weights(
        self,
        returns: pd.DataFrame | None = None,
        method: str = "max_sharpe",
        *,
        constraints: Constraints | None = None,
        covariance: pd.DataFrame | None = None,
        expected_returns: pd.Series | None = None,
        risk_aversion: float = 1.0,
        target_return: float | None = None,
        risk_free: float = 0.0,
        covariance_method: str = "ledoit_wolf",
    ) -> PortfolioWeights:
        """Optimal weights by ``method`` (see :func:`ravenshire.portfolio.optimizers.optimize_weights`).

        Without ``constraints`` the ``[RISK]`` limits apply (:meth:`default_constraints`); when they cannot be met
        (e.g. 3 assets with a 25 % position limit), :class:`InfeasibleError` says so and how to override — there is
        no silent fallback to other weights.
        """
        defaulted = constraints is None
        try:
            return optimize_weights(
                returns,
                method,
                covariance=covariance,
                expected_returns=expected_returns,
                constraints=self.default_constraints() if constraints is None else constraints,
                risk_aversion=risk_aversion,
                target_return=target_return,
                risk_free=risk_free,
                covariance_method=covariance_method,
            )
        except InfeasibleError as exc:
            if not defaulted:
                raise
            risk = self.config.risk
            raise InfeasibleError(
                f"{exc} (the constraints come from [RISK]: max_position_weight = {risk.max_position_weight:g}, "
                f"max_leverage = {risk.max_leverage:g}; pass constraints=Constraints(...) to choose others)"
            ) from exc

    # ------------------------------------------------------------------ risk
    def get_risk_metrics(
        self,
        returns: pd.Series | pd.DataFrame,
        equity_curve: pd.Series | None = None,
        *,
        weights: pd.Series | None = None,
        asset_returns: pd.DataFrame | None = None,
        benchmark: pd.Series | None = None,
        var_method: str | None = None,
    ) -> RiskMetrics:
        """Risk of a portfolio (see :func:`ravenshire.portfolio.risk.compute_risk_metrics`): ``.var_95``,
        ``.max_drawdown``, ``.current_leverage`` and the rest; VaR by ``[RISK] var_method`` unless given."""
        return compute_risk_metrics(
            returns,
            equity_curve,
            weights=weights,
            asset_returns=asset_returns,
            benchmark=benchmark,
            var_method=var_method or self.config.risk.var_method,
        )

    def check_limits(
        self,
        *,
        weights: pd.Series | None = None,
        risk: RiskMetrics | None = None,
        returns: pd.Series | None = None,
        equity_curve: pd.Series | None = None,
    ) -> RiskReport:
        """Every ``[RISK]`` limit the inputs allow to check, breaches first (:meth:`RiskMonitor.check`)."""
        return self.monitor.check(weights=weights, risk=risk, returns=returns, equity_curve=equity_curve)

    # ------------------------------------------------------------------ sizes and orders
    def size_positions(
        self,
        weights: pd.Series,
        prices: pd.Series,
        *,
        equity: float | None = None,
        cash: float | None = None,
        lot_size: int | Mapping[str, int] = 1,
    ) -> SharesAllocation:
        """Whole shares for ``weights`` of ``equity`` (default the manager's capital) at ``prices``, never spending
        more than ``cash`` (:meth:`PositionSizer.to_shares`)."""
        return PositionSizer().to_shares(
            weights,
            self.initial_capital if equity is None else equity,
            prices,
            cash=cash,
            lot_size=lot_size,
            max_weight=self.config.risk.max_position_weight,
        )

    def rebalance(
        self,
        current_shares: pd.Series,
        target_weights: pd.Series,
        prices: pd.Series,
        *,
        cash: float,
        costs: Costs | None = None,
        min_trade_value: float = 0.0,
        drift_band: float = 0.0,
        lot_size: int | Mapping[str, int] = 1,
    ) -> RebalancePlan:
        """The orders that move ``current_shares`` to ``target_weights`` (proposals; the execution layer places
        them), with trades under ``min_trade_value`` or inside ``drift_band`` skipped and the expected cost."""
        rebalancer = Rebalancer(
            costs or Costs(),
            min_trade_value=min_trade_value,
            drift_band=drift_band,
            lot_size=lot_size,
            max_weight=self.config.risk.max_position_weight,
        )
        return rebalancer.plan(current_shares, target_weights, prices, cash=cash)

    def __repr__(self) -> str:
        return f"PortfolioManager(initial_capital={self.initial_capital:g})"

"""Layer 3, portfolio and risk: covariance and expected-return estimators, optimizers, risk metrics and limits,
position sizing and rebalancing. :class:`PortfolioManager` is the front door."""

from ravenshire.portfolio.limits import Breach, RiskMonitor, RiskReport
from ravenshire.portfolio.manager import PortfolioManager
from ravenshire.portfolio.optimizers import Constraints, PortfolioWeights, optimize_weights
from ravenshire.portfolio.rebalance import ProposedOrder, RebalancePlan, Rebalancer
from ravenshire.portfolio.risk import RiskMetrics, compute_risk_metrics, conditional_value_at_risk, value_at_risk
from ravenshire.portfolio.sizing import PositionSizer, SharesAllocation

__all__ = [
    "Breach",
    "Constraints",
    "PortfolioManager",
    "PortfolioWeights",
    "PositionSizer",
    "ProposedOrder",
    "RebalancePlan",
    "Rebalancer",
    "RiskMetrics",
    "RiskMonitor",
    "RiskReport",
    "SharesAllocation",
    "compute_risk_metrics",
    "conditional_value_at_risk",
    "optimize_weights",
    "value_at_risk",
]

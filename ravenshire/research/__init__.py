"""Layer 2, research: strategies, the vectorised backtest engine, performance metrics.

Parameter search and experiment tracking arrive with the rest of issue 3.
"""

from ravenshire.research.engine import Costs, EngineResult, backtest, sweep_returns
from ravenshire.research.manager import ResearchManager
from ravenshire.research.results import BacktestResult
from ravenshire.research.strategies import STRATEGIES, get_strategy

__all__ = [
    "STRATEGIES",
    "BacktestResult",
    "Costs",
    "EngineResult",
    "ResearchManager",
    "backtest",
    "get_strategy",
    "sweep_returns",
]

"""Layer 2, research: strategies, the vectorised backtest engine, performance metrics, parameter sweeps and
experiment tracking. Optuna search, walk-forward evaluation and MLflow logging arrive with the rest of issue 3.
"""

from ravenshire.research.engine import Costs, EngineResult, backtest, sweep_returns
from ravenshire.research.manager import ResearchManager
from ravenshire.research.results import BacktestResult
from ravenshire.research.strategies import STRATEGIES, get_strategy
from ravenshire.research.sweep import grid, parse_space, run_sweep

__all__ = [
    "STRATEGIES",
    "BacktestResult",
    "Costs",
    "EngineResult",
    "ResearchManager",
    "backtest",
    "get_strategy",
    "grid",
    "parse_space",
    "run_sweep",
    "sweep_returns",
]

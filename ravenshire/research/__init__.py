"""Layer 2, research: strategies, the vectorised backtest engine, performance metrics, parameter sweeps and
searches (grid, Optuna), out-of-sample and walk-forward evaluation, the deflated Sharpe ratio, and experiment
tracking in the store (mirrored to MLflow when configured).
"""

from ravenshire.research.engine import Costs, EngineResult, backtest, sweep_returns
from ravenshire.research.manager import ResearchManager
from ravenshire.research.optimize import OptimizationResult, WalkForward, optimize_parameters, walk_forward
from ravenshire.research.results import BacktestResult
from ravenshire.research.significance import DeflatedSharpe, deflated_sharpe_ratio
from ravenshire.research.strategies import STRATEGIES, get_strategy
from ravenshire.research.sweep import grid, parse_space, run_sweep

__all__ = [
    "STRATEGIES",
    "BacktestResult",
    "Costs",
    "DeflatedSharpe",
    "EngineResult",
    "OptimizationResult",
    "ResearchManager",
    "WalkForward",
    "backtest",
    "deflated_sharpe_ratio",
    "get_strategy",
    "grid",
    "optimize_parameters",
    "parse_space",
    "run_sweep",
    "sweep_returns",
    "walk_forward",
]

"""``ResearchManager``: Layer 2's front door (the seed's ``backtest_strategy``)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd

from ravenshire.config import Config, load_config
from ravenshire.data.versioning import canonical_bytes
from ravenshire.errors import ConfigError
from ravenshire.research.engine import Costs, backtest
from ravenshire.research.results import BacktestResult, build_result
from ravenshire.research.strategies import STRATEGIES, StrategySpec, check_parameters, get_strategy

__all__ = ["ResearchManager"]

StrategyFunc = Callable[..., pd.DataFrame]


def _data_version(data: pd.DataFrame) -> str | None:
    """The version id the data carries, else its content id (the id DataVersioning would give it)."""
    if data.attrs.get("data_version"):
        return str(data.attrs["data_version"])
    if isinstance(data.columns, pd.MultiIndex):
        return hashlib.sha256(canonical_bytes(data)).hexdigest()
    return None


class ResearchManager:
    """Backtests of strategies on market data (see :mod:`ravenshire.research.engine` for the execution model).

    Parameters
    ----------
    config:
        The configuration; default :func:`ravenshire.config.load_config`. ``[STRATEGY]`` gives the default
        ``ma_period`` and ``threshold`` of the seed's MA crossover.
    """

    def __init__(self, config: Config | None = None) -> None:
        self.config = config if config is not None else load_config()

    def backtest_strategy(
        self,
        strategy_func: StrategyFunc | str,
        data: pd.DataFrame,
        parameters: Mapping[str, Any] | None = None,
        strategy_name: str | None = None,
        *,
        costs: Costs | None = None,
        initial_capital: float = 100_000.0,
        risk_free: float = 0.0,
    ) -> BacktestResult:
        """Run ``strategy_func(data, **parameters)`` through the engine and measure it.

        ``strategy_func`` is a function returning target weights (dates × symbols) or the name of a built-in
        strategy (:data:`ravenshire.research.strategies.STRATEGIES`); built-ins get their parameters checked
        (unknown names, wrong types, out of range → :class:`ConfigError`, nothing run). ``data`` is market data
        from :meth:`DataManager.get_market_data` (or wide prices); the result records the data version it ran on.
        """
        spec = self._spec(strategy_func)
        params = dict(parameters or {})
        if spec is not None:
            if spec.name == "ma_crossover":
                params = {
                    "ma_period": self.config.strategy.ma_period,
                    "threshold": self.config.strategy.threshold,
                } | params
            params = check_parameters(spec, params)
            weights = spec.func(data, **params)
        else:
            assert callable(strategy_func)
            weights = strategy_func(data, **params)
        if not isinstance(weights, pd.DataFrame):
            raise ConfigError(f"the strategy returned {type(weights).__name__}; it must return a DataFrame of weights")
        costs = costs or Costs()
        run = backtest(data, weights, costs, initial_capital=initial_capital)
        name = strategy_name or (spec.name if spec else str(getattr(strategy_func, "__name__", "strategy")))
        return build_result(
            run,
            strategy_name=name,
            parameters=params,
            costs=costs,
            data_version=_data_version(data),
            is_demo=bool(data.attrs.get("is_demo", True)),
            initial_capital=initial_capital,
            risk_free=risk_free,
        )

    @staticmethod
    def _spec(strategy_func: StrategyFunc | str) -> StrategySpec | None:
        if isinstance(strategy_func, str):
            return get_strategy(strategy_func)
        for spec in STRATEGIES.values():
            if spec.func is strategy_func:
                return spec
        if not callable(strategy_func):
            raise ConfigError(
                f"strategy_func must be a function or a strategy name, not {type(strategy_func).__name__}"
            )
        return None

"""``ResearchManager``: Layer 2's front door (the seed's ``backtest_strategy``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from ravenshire.config import Config, load_config
from ravenshire.data.versioning import DataVersioning, canonical_bytes
from ravenshire.errors import ConfigError
from ravenshire.research.engine import Costs, backtest
from ravenshire.research.mlflow_mirror import MlflowMirror
from ravenshire.research.optimize import (
    OptimizationResult,
    SearchInfo,
    TrialRecord,
    check_search,
    optimize_parameters,
    strategy_spec,
)
from ravenshire.research.results import BacktestResult, build_result
from ravenshire.research.strategies import STRATEGIES, StrategySpec, check_parameters, get_strategy
from ravenshire.research.tracking import ExperimentTracker, TrackedRun
from ravenshire.store import init_db

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
    engine:
        The store where runs are tracked; default ``init_db(config.store_url)``, opened on first use.
    track:
        Record every backtest as a run in the store (default). Tracking also stores the data version the
        backtest ran on, so the run can be reproduced later.
    """

    def __init__(self, config: Config | None = None, *, engine: Engine | None = None, track: bool = True) -> None:
        self.config = config if config is not None else load_config()
        self._engine = engine
        self.track = track
        self._mirror: MlflowMirror | None = None
        self._mirror_built = False

    @property
    def mirror(self) -> MlflowMirror | None:
        """Also logs tracked runs to MLflow when ``[RESEARCH] mlflow_tracking_uri`` (or ``MLFLOW_TRACKING_URI``) is
        set. Built on the first tracked run (an untracked backtest never touches MLflow), then kept, so that its
        pause after a failure spans the manager's life."""
        if not self._mirror_built:
            self._mirror, self._mirror_built = MlflowMirror.from_config(self.config), True
        return self._mirror

    @mirror.setter
    def mirror(self, value: MlflowMirror | None) -> None:
        self._mirror, self._mirror_built = value, True

    @property
    def engine(self) -> Engine:
        """The store's engine (created or upgraded on first use)."""
        if self._engine is None:
            self._engine = init_db(self.config.store_url, busy_timeout_ms=self.config.store.busy_timeout_ms)
        return self._engine

    @property
    def tracker(self) -> ExperimentTracker:
        """The experiment tracker on this manager's store."""
        return ExperimentTracker(self.engine, self.mirror)

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
        track: bool | None = None,
    ) -> BacktestResult:
        """Run ``strategy_func(data, **parameters)`` through the engine and measure it.

        ``strategy_func`` is a function returning target weights (dates × symbols) or the name of a built-in
        strategy (:data:`ravenshire.research.strategies.STRATEGIES`); built-ins get their parameters checked
        (unknown names, wrong types, out of range → :class:`ConfigError`, nothing run). ``data`` is market data
        from :meth:`DataManager.get_market_data` (or wide prices); the result records the data version it ran on.
        With tracking on (``track``, default the manager's), the run and its data version are stored and
        ``result.run_id`` names the run.
        """
        started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
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
        tracked = self.track if track is None else track
        is_demo = bool(data.attrs.get("is_demo", True))
        if tracked and isinstance(data.columns, pd.MultiIndex):
            # Store the data it ran on (content-addressed, so at most once), so the run can be reproduced.
            sources = data.attrs.get("sources") or ["unknown"]
            data_version: str | None = DataVersioning(self.engine).create(data, sources=sources, is_demo=is_demo).id
        else:
            data_version = _data_version(data) if not tracked else None
        result = build_result(
            run,
            strategy_name=name,
            parameters=params,
            costs=costs,
            data_version=data_version,
            is_demo=is_demo,
            initial_capital=initial_capital,
            risk_free=risk_free,
        )
        if not tracked:
            return result
        run_id = self.tracker.log(
            result, started_at=started, duration_s=time.perf_counter() - clock, builtin=spec.name if spec else None
        )
        return dataclasses.replace(result, run_id=run_id)

    def optimize_parameters(
        self,
        strategy_func: StrategyFunc | str,
        data: pd.DataFrame,
        param_space: Mapping[str, tuple[Any, ...] | list[Any]],
        strategy_name: str | None = None,
        n_trials: int | None = None,
        *,
        method: str | None = None,
        objective: str | None = None,
        costs: Costs | None = None,
        risk_free: float = 0.0,
        test_fraction: float | None = None,
        walk_forward_folds: int | None = None,
        seed: int | None = None,
        study_name: str | None = None,
        initial_capital: float = 100_000.0,
        track: bool | None = None,
    ) -> OptimizationResult:
        """Search ``param_space`` for the best parameters (see :mod:`ravenshire.research.optimize`).

        Unset arguments come from ``[RESEARCH]`` (``method`` ← optimizer, ``objective``, ``n_trials``,
        ``test_fraction``, ``walk_forward_folds``, ``seed``); parameters of ``ma_crossover`` left out of the space
        take ``[STRATEGY]``'s values, as in :meth:`backtest_strategy`. With tracking on, the data version is stored,
        the Optuna study lives in the state store (resumable, shareable by several workers), every measured trial
        is a run of kind ``trial`` in the study (parameters, metrics, data and code version, timing; on the train
        dates), and the best set is run once more as a full backtest on the train dates, with its artifacts
        (``best_run_id``).
        """
        research = self.config.research
        tracked = self.track if track is None else track
        spec = self._spec(strategy_func)
        if spec is not None and spec.name == "ma_crossover":
            spec = self._with_config_defaults(spec)
        target = spec if spec is not None else strategy_func
        assert not isinstance(target, str)
        costs = costs or Costs()
        settings: dict[str, Any] = {
            "method": method or research.optimizer,
            "objective": objective or research.objective,
            "test_fraction": test_fraction if test_fraction is not None else research.test_fraction,
            "walk_forward_folds": walk_forward_folds if walk_forward_folds is not None else research.walk_forward_folds,
        }
        n_trials = n_trials if n_trials is not None else research.n_trials
        seed = seed if seed is not None else research.seed
        check_search(  # before anything is written
            target, data, param_space, strategy_name, n_trials, **settings, seed=seed, risk_free=risk_free,
            initial_capital=initial_capital,
        )  # fmt: skip
        if tracked:
            _ = self.engine  # the store is created or upgraded before Optuna opens it
        data = self._versioned(data) if tracked else data

        def log_trials(info: SearchInfo, records: list[TrialRecord]) -> list[int | None]:
            return self.tracker.log_trials(info, records, initial_capital=initial_capital)

        result = optimize_parameters(
            target,
            data,
            param_space,
            strategy_name,
            n_trials,
            **settings,
            costs=costs,
            risk_free=risk_free,
            seed=seed,
            initial_capital=initial_capital,
            storage=self.config.store_url if tracked else None,
            study_name=study_name,
            busy_timeout_ms=self.config.store.busy_timeout_ms,
            on_trials=log_trials if tracked else None,
        )
        if not tracked:
            return result
        best = self._log_best(target, data, result, initial_capital)
        return dataclasses.replace(result, best_run_id=best)

    def _with_config_defaults(self, spec: StrategySpec) -> StrategySpec:
        """``ma_crossover`` with ``[STRATEGY]``'s ``ma_period`` and ``threshold`` as its defaults."""
        defaults = {"ma_period": self.config.strategy.ma_period, "threshold": self.config.strategy.threshold}
        params = {k: dataclasses.replace(p, default=defaults.get(k, p.default)) for k, p in spec.params.items()}
        return dataclasses.replace(spec, params=params)

    def _versioned(self, data: pd.DataFrame) -> pd.DataFrame:
        """``data`` carrying the id of its stored version (stored now if needed; wide prices are left as given)."""
        if not isinstance(data.columns, pd.MultiIndex):
            return data
        sources = data.attrs.get("sources") or ["unknown"]
        is_demo = bool(data.attrs.get("is_demo", True))
        version = DataVersioning(self.engine).create(data, sources=sources, is_demo=is_demo).id
        out = data.copy(deep=False)
        out.attrs = {**data.attrs, "data_version": version}
        return out

    def _log_best(
        self, target: StrategySpec | StrategyFunc, data: pd.DataFrame, result: OptimizationResult, capital: float
    ) -> int:
        """Run the best set in full on the train dates and track it, once per study (a resumed search that
        finds the same best set returns the run stored before)."""
        known = self.tracker.find_run(
            kind="backtest", study=result.study_name, parameters=result.best_params, strategy=result.strategy_name
        )
        if known is not None:
            return known
        started, clock = dt.datetime.now(dt.UTC), time.perf_counter()
        spec = strategy_spec(target, {}, result.strategy_name)
        train = data.loc[pd.Timestamp(result.train[0]) : pd.Timestamp(result.train[1])]
        run = backtest(train, spec.func(train, **result.best_params), result.costs, initial_capital=capital)
        best = build_result(
            run,
            strategy_name=result.strategy_name,
            parameters=result.best_params,
            costs=result.costs,
            data_version=result.data_version,
            is_demo=result.is_demo,
            initial_capital=capital,
            risk_free=result.risk_free,
        )
        registered = STRATEGIES.get(target.name) if isinstance(target, StrategySpec) else None
        builtin = registered.name if registered is not None and registered.func is spec.func else None
        return self.tracker.log(
            best, started_at=started, duration_s=time.perf_counter() - clock, study=result.study_name, builtin=builtin
        )

    # ------------------------------------------------------------------ runs
    def list_runs(self, strategy: str | None = None, limit: int = 100) -> pd.DataFrame:
        """The newest tracked runs with their metrics."""
        return self.tracker.list_runs(strategy, limit)

    def load_run(self, run_id: int) -> TrackedRun:
        """A tracked run with its returns, equity, positions and trades."""
        return self.tracker.load(run_id)

    def compare_runs(self, run_ids: list[int]) -> pd.DataFrame:
        """Metrics of several runs side by side."""
        return self.tracker.compare(run_ids)

    def reproduce(self, run_id: int) -> BacktestResult:
        """Run a tracked backtest (or trial) of a built-in strategy again, on its stored data version and dates
        (not tracked)."""
        info = self.load_run(run_id).info
        if not info["data_version"]:
            raise ConfigError(f"run #{run_id} was made on wide prices without a data version; it cannot be reproduced")
        builtin = info.get("builtin")
        if builtin not in STRATEGIES:
            raise ConfigError(
                f"run #{run_id} used the custom strategy {info['strategy']!r}; pass the function to backtest_strategy"
            )
        data = DataVersioning(self.engine).load(info["data_version"])
        data = data.loc[pd.Timestamp(info["start_date"]) : pd.Timestamp(info["end_date"])]
        return self.backtest_strategy(
            builtin,
            data,
            info["parameters"],
            info["strategy"],
            costs=Costs(**info["costs"]),
            initial_capital=info["initial_capital"],
            risk_free=info["risk_free"],
            track=False,
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

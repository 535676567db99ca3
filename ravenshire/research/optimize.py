"""Parameter search: exhaustive grid (vectorised), Optuna TPE or random search, judged out of sample.

What :func:`optimize_parameters` does, in order:

1. **Split.** The last ``test_fraction`` of the dates is held out (``n_test = floor(T·test_fraction)``); the
   search only ever sees the first ``T − n_test`` dates (the *train* period: the strategy is called on the train
   data alone, so not even a strategy that peeks ahead can see the test period).
2. **Search** the space of :func:`ravenshire.research.sweep.parse_space` on the train period, measuring each
   parameter set with :func:`~ravenshire.research.sweep.run_sweep` (the metrics ``backtest_strategy`` reports):

   - ``grid``: every set, vectorised in one sweep;
   - ``tpe`` / ``random``: ``n_trials`` Optuna trials (``TPESampler`` / ``RandomSampler``, seeded). With a
     ``storage`` URL the study lives in that database (the state store, beside everything else), so it survives
     a restart, is resumed by running the same search again (only the missing trials run) and can be shared by
     several workers on several hosts (each runs until the study holds ``n_trials`` finished trials). Integer
     ranges are ``suggest_int`` with their step, float ranges ``suggest_float`` with their step (snapped to the
     grid's decimals), lists ``suggest_categorical``. A set the strategy refuses (``fast ≥ slow``) is a
     *pruned* trial; a set already measured in the study is not measured again (its value is reused).

   The objective is one of :data:`OBJECTIVES`; ``max_drawdown`` and ``volatility`` are minimised, the others
   maximised. A NaN objective (a set that never trades: zero volatility) ranks last; ties go to the earlier set.
3. **Judge** the best set: in-sample metrics on the train period; out-of-sample metrics on the test dates of a
   backtest over the whole data (so indicators are warmed up; each position is still decided with data up to its
   own close, and the first test day earns the position decided at the last train close); the deflated Sharpe
   ratio of the best among the distinct sets tried (:mod:`ravenshire.research.significance`), flagging a best
   that is likely luck; and optionally a walk-forward evaluation over the whole history
   (:func:`walk_forward`).

Trials are recorded by the caller's ``on_trials`` hook (``ResearchManager`` stores each as a run of kind
``trial`` in the study, with parameters and metrics); see :class:`ravenshire.research.manager.ResearchManager`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import inspect
import itertools
import json
import math
import os
import socket
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import SQLAlchemyError

from ravenshire.config import OBJECTIVES, OPTIMIZERS
from ravenshire.errors import ConfigError
from ravenshire.research import metrics as m
from ravenshire.research.engine import Costs, _check_run_args, backtest
from ravenshire.research.significance import DeflatedSharpe, deflated_sharpe_ratio
from ravenshire.research.strategies import STRATEGIES, ParamSpec, StrategySpec, check_parameters
from ravenshire.research.sweep import METRIC_COLUMNS, NO_COSTS, AllSetsRefusedError, grid, parse_space, run_sweep

__all__ = [
    "MINIMISED",
    "OBJECTIVES",
    "OptimizationResult",
    "SearchInfo",
    "TrialRecord",
    "WalkForward",
    "check_search",
    "optimize_parameters",
    "split_train_test",
    "strategy_spec",
    "walk_forward",
]

#: Objectives that are minimised (the others are maximised).
MINIMISED = frozenset({"max_drawdown", "volatility"})
#: The walk-forward evaluation measures at most this many candidate sets per fold (a seeded sample beyond it).
WALK_FORWARD_MAX_SETS = 2000
#: A train or test block shorter than this many dates is refused (a month of trading days).
MIN_BLOCK = 21

OnTrials = Callable[["SearchInfo", list["TrialRecord"]], "Sequence[int | None] | None"]


@dataclass(frozen=True, kw_only=True)
class SearchInfo:
    """What every trial of one search shares, handed to the ``on_trials`` hook with the trials."""

    strategy_name: str
    study_name: str
    train: tuple[dt.date, dt.date]
    costs: Costs
    risk_free: float
    data_version: str | None
    is_demo: bool
    builtin: str | None = None  # the built-in strategy searched (None: a user's function)


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """One measured parameter set, as handed to the ``on_trials`` hook."""

    number: int
    parameters: dict[str, Any]
    metrics: dict[str, float]
    state: str  # complete | pruned | duplicate
    duration_s: float
    reason: str = ""
    run_id: int | None = None


@dataclass(frozen=True, kw_only=True)
class WalkForward:
    """Anchored walk-forward: fold ``i`` picks the best set on dates ``[0, b_i)`` and is measured on ``[b_i,
    b_{i+1})``; ``folds`` has one row per fold, ``returns`` the stitched out-of-sample returns."""

    folds: pd.DataFrame
    returns: pd.Series
    out_of_sample: dict[str, float]
    efficiency: float  # mean out-of-sample objective / mean in-sample objective (maximised objectives), else NaN
    n_sets: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "folds": json.loads(self.folds.to_json(orient="records", date_format="iso")),
            "out_of_sample": _clean(self.out_of_sample),
            "efficiency": _finite_or_none(self.efficiency),
            "n_sets": self.n_sets,
        }


@dataclass(frozen=True, kw_only=True)
class OptimizationResult:
    """What a parameter search found, and how far to trust it."""

    strategy_name: str
    method: str
    objective: str
    direction: str  # maximize | minimize
    study_name: str
    best_params: dict[str, Any]
    best_value: float  # the objective, in sample
    in_sample: dict[str, float]
    out_of_sample: dict[str, float] | None
    train: tuple[dt.date, dt.date]
    test: tuple[dt.date, dt.date] | None
    n_trials: int  # finished trials (complete, pruned or duplicate)
    n_distinct: int  # distinct parameter sets measured
    trials: pd.DataFrame
    significance: DeflatedSharpe
    walk_forward: WalkForward | None = None
    costs: Costs = field(default_factory=Costs)
    risk_free: float = 0.0
    data_version: str | None = None
    is_demo: bool = True
    best_run_id: int | None = None

    @property
    def likely_luck(self) -> bool:
        """The best set is not distinguishable from the best of as many skill-less sets (DSR < 0.95)."""
        return self.significance.likely_luck

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy_name": self.strategy_name,
            "method": self.method,
            "objective": self.objective,
            "direction": self.direction,
            "study_name": self.study_name,
            "best_params": self.best_params,
            "best_value": _finite_or_none(self.best_value),
            "in_sample": _clean(self.in_sample),
            "out_of_sample": _clean(self.out_of_sample) if self.out_of_sample is not None else None,
            "train": [d.isoformat() for d in self.train],
            "test": [d.isoformat() for d in self.test] if self.test else None,
            "n_trials": self.n_trials,
            "n_distinct": self.n_distinct,
            "significance": self.significance.to_dict(),
            "likely_luck": self.likely_luck,
            "walk_forward": self.walk_forward.to_dict() if self.walk_forward else None,
            "costs": self.costs.to_dict(),
            "risk_free": self.risk_free,
            "data_version": self.data_version,
            "is_demo": self.is_demo,
            "best_run_id": self.best_run_id,
        }


def _finite_or_none(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _clean(values: Mapping[str, float]) -> dict[str, float | None]:
    return {k: _finite_or_none(v) for k, v in values.items()}


# --------------------------------------------------------------------------------------------------------------
# inputs


def strategy_spec(
    strategy_func: StrategySpec | Callable[..., pd.DataFrame], param_space: Mapping[str, Any], name: str | None
) -> StrategySpec:
    """The spec of ``strategy_func``: itself if a spec; for a plain function, one built from ``param_space``
    (a ``(start, stop, step)`` tuple of ints → an int parameter, of numbers → float, a list → the type of its
    values; ranges bound the parameter). The function must accept every parameter of the space."""
    if isinstance(strategy_func, StrategySpec):
        return strategy_func
    if not callable(strategy_func):
        raise ConfigError(f"strategy_func must be a function or a strategy name, not {type(strategy_func).__name__}")
    label = str(name or getattr(strategy_func, "__name__", "strategy"))
    accepted = inspect.signature(strategy_func).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in accepted.values())
    params: dict[str, ParamSpec] = {}
    for key, values in param_space.items():
        if not takes_any and key not in accepted:
            raise ConfigError(f"{label}() has no parameter {key!r}; it takes: {', '.join(list(accepted)[1:])}")
        params[key] = _infer_param(label, key, values)
    return StrategySpec(name=label, func=strategy_func, params=params, description="user strategy")


def _infer_param(label: str, key: str, values: Any) -> ParamSpec:
    where = f"parameter {key!r} of {label}"
    if isinstance(values, tuple) and len(values) == 3 and all(_is_real(v) for v in values):
        kind = int if all(isinstance(v, int | np.integer) for v in values) else float
        low, high = sorted((values[0], values[1]))
        return ParamSpec(kind=kind, default=kind(values[0]), minimum=low, maximum=high)
    if isinstance(values, list) and values:
        if all(isinstance(v, bool | np.bool_) for v in values):
            return ParamSpec(kind=bool, default=bool(values[0]))
        if all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values):
            return ParamSpec(kind=int, default=int(values[0]))
        if all(_is_real(v) for v in values):
            return ParamSpec(kind=float, default=float(values[0]))
        raise ConfigError(f"{where}: choices must all be numbers or all bools, got {values!r}")
    raise ConfigError(f"{where}: give a (start, stop, step) tuple of numbers or a non-empty list, got {values!r}")


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool | np.bool_)


def split_train_test(data: pd.DataFrame, test_fraction: float) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The first ``T − floor(T·test_fraction)`` dates and the rest (None when ``test_fraction`` is 0)."""
    if isinstance(test_fraction, bool) or not _is_real(test_fraction) or not 0.0 <= test_fraction < 1.0:
        raise ConfigError(f"test_fraction must be a number in [0, 1), got {test_fraction!r}")
    n_test = math.floor(len(data) * test_fraction)
    if n_test == 0 and test_fraction == 0.0:
        return data, None
    if n_test < MIN_BLOCK or len(data) - n_test < MIN_BLOCK:
        raise ConfigError(
            f"{len(data)} dates cannot be split {1 - test_fraction:.0%}/{test_fraction:.0%}: the train and the test "
            f"period each need at least {MIN_BLOCK} dates; use more data, another test_fraction, or 0 for none"
        )
    return data.iloc[: len(data) - n_test], data.iloc[len(data) - n_test :]


def _check_choice(name: str, value: Any, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} {value!r} is not one of: {', '.join(allowed)}")
    return str(value)


def _check_count(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------------------------------------------
# measuring


def _ranked(frame: pd.DataFrame, objective: str) -> np.ndarray:
    """The objective of each row for ranking: NaN for a set that never trades (zero volatility), which would
    otherwise "win" a minimised objective with 0."""
    values = frame[objective].to_numpy(dtype="float64")
    return np.where(frame["volatility"].to_numpy(dtype="float64") > 0.0, values, np.nan)


def _code_identity(spec: StrategySpec) -> str:
    """What identifies the strategy's code in a study's fingerprint: the module and name of its function and a
    hash of its source (so editing a user function starts a new study)."""
    func = spec.func
    where = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
    try:
        source = inspect.getsource(func)
    except (OSError, TypeError):
        source = ""
    return f"{where}:{hashlib.sha256(source.encode()).hexdigest()[:12]}"


def _order(values: np.ndarray, objective: str) -> np.ndarray:
    """Positions sorted best first: NaN last, ties in the original order (a stable sort)."""
    key = np.where(np.isnan(values), np.inf, values if objective in MINIMISED else -values)
    return np.argsort(key, kind="stable")


def slice_metrics(returns: np.ndarray, risk_free: float = 0.0) -> dict[str, float]:
    """The :data:`METRIC_COLUMNS` of the returns ``returns`` (every value counts), as a dict."""
    values = m.headline_metrics(np.asarray(returns, dtype="float64")[None, :], risk_free)
    return {column: float(values[name][0]) for column, name in zip(METRIC_COLUMNS, m.HEADLINE_METRICS, strict=True)}


def _net_returns(
    spec: StrategySpec, data: pd.DataFrame, params: Mapping[str, Any], costs: Costs, capital: float
) -> pd.Series:
    return backtest(data, spec.func(data, **params), costs, initial_capital=capital).returns


def _measure_sets(
    spec: StrategySpec,
    data: pd.DataFrame,
    sets: Sequence[Mapping[str, Any]],
    costs: Costs,
    risk_free: float,
    capital: float = 100_000.0,
) -> tuple[pd.DataFrame, list[dict[str, Any]]]:
    """``run_sweep`` rows (indexed by position in ``sets``) and the refused sets."""
    try:
        frame = run_sweep(spec, data, sets, costs, risk_free, initial_capital=capital)
    except AllSetsRefusedError as exc:  # a sweep error; for a search, a result (every set pruned, with its reason)
        return pd.DataFrame(columns=[*spec.params, *METRIC_COLUMNS]), exc.skipped
    return frame, list(frame.attrs.get("skipped", []))


# --------------------------------------------------------------------------------------------------------------
# grid


def _grid_search(
    spec: StrategySpec,
    train: pd.DataFrame,
    space: Mapping[str, list[Any]],
    costs: Costs,
    risk_free: float,
    capital: float,
) -> list[TrialRecord]:
    sets = grid(space)
    started = time.perf_counter()
    frame, refused = _measure_sets(spec, train, sets, costs, risk_free, capital)
    each = (time.perf_counter() - started) / len(sets)
    records: dict[int, TrialRecord] = {}
    columns = {k: frame[k].tolist() for k in [*spec.params, *METRIC_COLUMNS]}  # per column: dtypes kept
    for j, position in enumerate(frame.index.tolist()):
        params = {k: columns[k][j] for k in spec.params}
        metrics = {k: float(columns[k][j]) for k in METRIC_COLUMNS}
        records[position] = TrialRecord(
            number=position, parameters=params, metrics=metrics, state="complete", duration_s=each
        )
    for skip in refused:
        records[int(skip["set"])] = TrialRecord(
            number=int(skip["set"]), parameters=dict(skip["params"]), metrics={}, state="pruned",
            duration_s=each, reason=str(skip["reason"]),
        )  # fmt: skip
    return [records[i] for i in sorted(records)]


def _plain(value: Any) -> Any:
    """numpy scalars → Python scalars (JSON, Optuna and equality all want plain values)."""
    return value.item() if isinstance(value, np.generic) else value


# --------------------------------------------------------------------------------------------------------------
# Optuna


def _fingerprint(**facts: Any) -> tuple[str, str]:
    text = json.dumps(facts, sort_keys=True, default=str)
    return text, hashlib.sha256(text.encode()).hexdigest()[:12]


def _suggest(trial: Any, name: str, spec: ParamSpec, values: list[Any], is_range: bool) -> Any:
    if not is_range or len(values) == 1:
        return trial.suggest_categorical(name, values)
    if spec.kind is int:
        return int(trial.suggest_int(name, values[0], values[-1], step=values[1] - values[0]))
    # a float grid: its index, an ordered integer (a float step such as 0.1 is not exact, and Optuna would trim
    # the top of the range); the parameter itself is recorded in the trial's "parameters"
    return values[trial.suggest_int(f"{name}__index", 0, len(values) - 1)]


def _storage(url: str | None, busy_timeout_ms: int) -> Any:
    if url is None:
        return None
    from optuna.exceptions import ExperimentalWarning
    from optuna.storages import RDBStorage

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        kwargs["connect_args"] = {"timeout": busy_timeout_ms / 1000}
    for attempt in range(3):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ExperimentalWarning)  # heartbeats are marked experimental
                # A worker that dies leaves its trial RUNNING; with heartbeats the next worker marks it failed.
                return RDBStorage(url, engine_kwargs=kwargs, heartbeat_interval=30, grace_period=120)
        except SQLAlchemyError:
            # Workers starting together race to create Optuna's tables ("table studies already exists"): the
            # loser finds them made on the next attempt.
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _optuna_search(
    spec: StrategySpec,
    train: pd.DataFrame,
    param_space: Mapping[str, Any],
    space: Mapping[str, list[Any]],
    *,
    n_trials: int,
    method: str,
    objective: str,
    costs: Costs,
    risk_free: float,
    seed: int | None,
    storage: str | None,
    study_name: str,
    fingerprint: str,
    busy_timeout_ms: int,
    on_trials: OnTrials | None,
    info: SearchInfo,
    capital: float,
) -> list[TrialRecord]:
    import optuna
    from optuna.study import MaxTrialsCallback
    from optuna.trial import TrialState

    finished_states = (TrialState.COMPLETE, TrialState.PRUNED)
    study = optuna.create_study(
        study_name=study_name,
        storage=_storage(storage, busy_timeout_ms),
        direction="minimize" if objective in MINIMISED else "maximize",
        load_if_exists=True,
    )
    stored = study.user_attrs.get("ravenshire")
    if stored is None:
        study.set_user_attr("ravenshire", fingerprint)
    elif stored != fingerprint:
        raise ConfigError(
            f"study {study_name!r} already exists for a different search (strategy, space, objective, costs or "
            f"data); pick another study_name, or leave it out to get one named after the search"
        )
    trials_so_far = study.get_trials(deepcopy=False)
    running = sum(t.state == TrialState.RUNNING for t in trials_so_far)
    # A resumed study must not replay its first trials, and a worker joining running ones must not replay theirs.
    offset = len(trials_so_far) + (os.getpid() if running else 0)
    sampler_seed = None if seed is None else (seed + offset) % 2**32
    study.sampler = (
        optuna.samplers.TPESampler(seed=sampler_seed)
        if method == "tpe"
        else optuna.samplers.RandomSampler(seed=sampler_seed)
    )
    ranges = {name: isinstance(param_space[name], tuple) for name in space}
    worker = f"{socket.gethostname()}:{os.getpid()}"

    def run_trial(trial: optuna.Trial) -> float:
        started = time.perf_counter()
        trial.set_user_attr("worker", worker)
        params = {name: _suggest(trial, name, spec.params[name], space[name], ranges[name]) for name in space}
        full = check_parameters(spec, params)
        for earlier in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING)):
            if earlier.number == trial.number or earlier.user_attrs.get("parameters") != full:
                continue
            trial.set_user_attr("parameters", full)
            trial.set_user_attr("duplicate_of", earlier.number)
            if earlier.state == TrialState.RUNNING:  # another worker is measuring it right now
                raise optuna.TrialPruned(f"duplicate of trial #{earlier.number}, running on another worker")
            return float(earlier.value) if earlier.value is not None else math.nan
        trial.set_user_attr("parameters", full)
        frame, refused = _measure_sets(spec, train, [full], costs, risk_free, capital)
        duration = time.perf_counter() - started
        if refused:
            reason = str(refused[0]["reason"])
            _record(trial, full, {}, "pruned", duration, reason)
            raise optuna.TrialPruned(reason)
        metrics = {k: float(frame.iloc[0][k]) for k in METRIC_COLUMNS}
        _record(trial, full, metrics, "complete", duration, "")
        value = metrics[objective]
        return value if math.isfinite(value) else (math.inf if objective in MINIMISED else -math.inf)

    def _record(trial: Any, params: dict, metrics: dict, state: str, duration: float, reason: str) -> None:
        trial.set_user_attr("metrics", metrics)
        if on_trials is not None:
            record = TrialRecord(
                number=trial.number, parameters=params, metrics=metrics, state=state, duration_s=duration, reason=reason
            )
            ids = on_trials(info, [record])
            if ids:
                trial.set_user_attr("run_id", ids[0])

    remaining = n_trials - len(study.get_trials(deepcopy=False, states=finished_states))
    if remaining > 0:
        study.optimize(
            run_trial,
            n_trials=remaining,
            callbacks=[MaxTrialsCallback(n_trials, states=finished_states)],
            gc_after_trial=False,
        )
    return _records(study.get_trials(deepcopy=False, states=finished_states))


def _records(trials: Sequence[Any]) -> list[TrialRecord]:
    out = []
    for t in trials:
        state = "pruned" if t.state.name == "PRUNED" else "duplicate" if "duplicate_of" in t.user_attrs else "complete"
        metrics = t.user_attrs.get("metrics", {})
        out.append(
            TrialRecord(
                number=t.number,
                parameters=dict(t.user_attrs.get("parameters", t.params)),
                metrics={k: (math.nan if v is None else float(v)) for k, v in metrics.items()},
                state=state,
                duration_s=t.duration.total_seconds() if t.duration else math.nan,
                run_id=t.user_attrs.get("run_id"),
            )
        )
    return out


# --------------------------------------------------------------------------------------------------------------
# walk-forward


def _candidate_sets(space: Mapping[str, list[Any]], seed: int | None) -> list[dict[str, Any]]:
    """Every set of the space, or a seeded sample of :data:`WALK_FORWARD_MAX_SETS` of them."""
    names = list(space)
    sizes = [len(space[n]) for n in names]
    total = math.prod(sizes)
    if total <= WALK_FORWARD_MAX_SETS:
        return grid(space, max_sets=WALK_FORWARD_MAX_SETS)
    picks = np.sort(np.random.default_rng(seed).choice(total, size=WALK_FORWARD_MAX_SETS, replace=False))
    digits = np.array(np.unravel_index(picks, sizes)).T  # mixed-radix decode, first parameter slowest
    return [{n: space[n][int(i)] for n, i in zip(names, row, strict=True)} for row in digits]


def walk_forward(
    spec: StrategySpec,
    data: pd.DataFrame,
    sets: Sequence[Mapping[str, Any]],
    *,
    folds: int,
    objective: str = "sharpe_ratio",
    costs: Costs = NO_COSTS,
    risk_free: float = 0.0,
    initial_capital: float = 100_000.0,
) -> WalkForward:
    """Anchored walk-forward evaluation of choosing among ``sets`` by ``objective``.

    The dates are cut into ``folds + 1`` equal blocks at ``b_0 = 0 < b_1 < … < b_{folds+1} = T``
    (``b_j = round(j·T/(folds + 1))``). Fold ``i`` (1…folds) measures every set on ``[0, b_i)`` (the strategy sees
    nothing later), picks the best, and backtests it on ``[0, b_{i+1})``; its returns on ``[b_i, b_{i+1})`` are
    the fold's out-of-sample returns (the first earns the position decided at ``b_i − 1``). The stitched
    out-of-sample returns of all folds are measured with :func:`slice_metrics`. Each block needs
    :data:`MIN_BLOCK` dates.
    """
    folds = _check_count("walk_forward_folds", folds, 1)
    t_len = len(data)
    bounds = [round(j * t_len / (folds + 1)) for j in range(folds + 2)]
    if min(b - a for a, b in itertools.pairwise(bounds)) < MIN_BLOCK:
        raise ConfigError(
            f"{folds} walk-forward folds need {(folds + 1) * MIN_BLOCK} dates ({MIN_BLOCK} per block), "
            f"the data has {t_len}; use fewer folds or more data"
        )
    rows, pieces, in_sample = [], [], []
    for i in range(1, folds + 1):
        train = data.iloc[: bounds[i]]
        frame, _refused = _measure_sets(spec, train, sets, costs, risk_free, initial_capital)
        if frame.empty:
            raise ConfigError(f"walk-forward fold {i}: the strategy refused every parameter set")
        best_pos = _order(_ranked(frame, objective), objective)[0]
        best = frame.iloc[best_pos]  # a row of mixed columns is upcast to float: read parameters per column
        params = {k: _plain(frame[k].iloc[best_pos]) for k in spec.params}
        net = _net_returns(spec, data.iloc[: bounds[i + 1]], params, costs, initial_capital).iloc[bounds[i] :]
        oos = slice_metrics(net.to_numpy(), risk_free)
        pieces.append(net)
        in_sample.append(float(best[objective]))
        rows.append(
            {
                "fold": i,
                "train_start": data.index[0].date(),
                "train_end": data.index[bounds[i] - 1].date(),
                "test_start": data.index[bounds[i]].date(),
                "test_end": data.index[bounds[i + 1] - 1].date(),
                **params,
                "in_sample": float(best[objective]),
                "out_of_sample": oos[objective],
                "oos_sharpe_ratio": oos["sharpe_ratio"],
                "oos_total_return": oos["total_return"],
                "oos_max_drawdown": oos["max_drawdown"],
            }
        )
    stitched = pd.concat(pieces).rename("returns")
    overall = slice_metrics(stitched.to_numpy(), risk_free)
    folds_frame = pd.DataFrame(rows)
    mean_is = float(np.nanmean(in_sample)) if in_sample else math.nan
    mean_oos = float(np.nanmean(folds_frame["out_of_sample"].to_numpy(dtype="float64")))
    efficiency = mean_oos / mean_is if objective not in MINIMISED and mean_is > 0 else math.nan
    return WalkForward(
        folds=folds_frame, returns=stitched, out_of_sample=overall, efficiency=efficiency, n_sets=len(sets)
    )


# --------------------------------------------------------------------------------------------------------------
# the search


def check_search(
    strategy_func: StrategySpec | Callable[..., pd.DataFrame],
    data: pd.DataFrame,
    param_space: Mapping[str, tuple[Any, ...] | list[Any]],
    strategy_name: str | None = None,
    n_trials: int = 50,
    *,
    method: str = "tpe",
    objective: str = "sharpe_ratio",
    test_fraction: float = 0.3,
    walk_forward_folds: int = 0,
    seed: int | None = 42,
    risk_free: float = 0.0,
    initial_capital: float = 100_000.0,
) -> tuple[StrategySpec, dict[str, list[Any]], pd.DataFrame, pd.DataFrame | None]:
    """Check every input of :func:`optimize_parameters` without running anything; return the strategy's spec,
    the expanded space and the train/test split. Raises :class:`ConfigError` naming what is wrong."""
    _check_choice("method", method, OPTIMIZERS)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32):
        raise ConfigError(f"seed must be an integer in [0, 2**32) or None, got {seed!r}")
    _check_run_args(initial_capital, 252)
    m.per_period_rate(risk_free)
    _check_choice("objective", objective, OBJECTIVES)
    _check_count("n_trials", n_trials, 1)
    spec = strategy_spec(strategy_func, param_space, strategy_name)
    space = parse_space(spec, param_space)
    if not space:
        raise ConfigError("param_space is empty; give at least one parameter to search")
    train, test = split_train_test(data, test_fraction)
    folds = _check_count("walk_forward_folds", walk_forward_folds, 0)
    if folds and len(data) < (folds + 1) * MIN_BLOCK:
        raise ConfigError(
            f"{folds} walk-forward folds need {(folds + 1) * MIN_BLOCK} dates ({MIN_BLOCK} per block), "
            f"the data has {len(data)}; use fewer folds or more data"
        )
    return spec, space, train, test


def optimize_parameters(
    strategy_func: StrategySpec | Callable[..., pd.DataFrame],
    data: pd.DataFrame,
    param_space: Mapping[str, tuple[Any, ...] | list[Any]],
    strategy_name: str | None = None,
    n_trials: int = 50,
    *,
    method: str = "tpe",
    objective: str = "sharpe_ratio",
    costs: Costs = NO_COSTS,
    risk_free: float = 0.0,
    test_fraction: float = 0.3,
    walk_forward_folds: int = 0,
    seed: int | None = 42,
    storage: str | None = None,
    study_name: str | None = None,
    busy_timeout_ms: int = 30000,
    on_trials: OnTrials | None = None,
    initial_capital: float = 100_000.0,
) -> OptimizationResult:
    """Search ``param_space`` for the parameters of ``strategy_func`` that optimise ``objective`` (module docstring).

    ``strategy_func`` is a :class:`StrategySpec` (built-ins, checked ranges) or any function
    ``f(data, **params) -> weights``. ``param_space`` maps parameters to ``(start, stop, step)`` (stop included
    when on the grid) or lists of choices. ``method`` is ``grid``, ``tpe`` or ``random``; ``n_trials`` is ignored
    by ``grid``. ``storage`` is a SQLAlchemy URL for the Optuna study (None: in memory); ``study_name`` defaults to
    one derived from the search, so running the same search again resumes it. ``on_trials`` receives the measured
    trials (and may return their run ids). Bad input raises :class:`ConfigError` before anything runs.
    """
    spec, space, train, test = check_search(
        strategy_func, data, param_space, strategy_name, n_trials, method=method, objective=objective,
        test_fraction=test_fraction, walk_forward_folds=walk_forward_folds, seed=seed, risk_free=risk_free,
        initial_capital=initial_capital,
    )  # fmt: skip
    capital = float(initial_capital)
    name = strategy_name or spec.name
    data_version = data.attrs.get("data_version")
    facts, digest = _fingerprint(
        strategy=name, code=_code_identity(spec), fixed=check_parameters(spec, {}), space=space, objective=objective,
        costs=costs.to_dict(), risk_free=risk_free, capital=capital, data_version=data_version or _shape_key(train),
        train=[str(train.index[0]), str(train.index[-1])], method=method,
    )  # fmt: skip
    study = study_name or f"{name}-{objective}-{digest}"
    is_demo = bool(data.attrs.get("is_demo", True))
    registered = STRATEGIES.get(spec.name)
    info = SearchInfo(
        strategy_name=name, study_name=study, train=(train.index[0].date(), train.index[-1].date()), costs=costs,
        risk_free=risk_free, data_version=data_version, is_demo=is_demo,
        builtin=spec.name if registered is not None and registered.func is spec.func else None,
    )  # fmt: skip

    if method == "grid":
        records = _grid_search(spec, train, space, costs, risk_free, capital)
        if on_trials is not None:
            ids: Sequence[int | None] = on_trials(info, records) or [None] * len(records)
            records = [dataclasses.replace(r, run_id=i) for r, i in zip(records, ids, strict=True)]
    else:
        records = _optuna_search(
            spec, train, param_space, space, n_trials=n_trials, method=method, objective=objective, costs=costs,
            risk_free=risk_free, seed=seed, storage=storage, study_name=study, fingerprint=facts,
            busy_timeout_ms=busy_timeout_ms, on_trials=on_trials, info=info, capital=capital,
        )  # fmt: skip

    trials = _trials_frame(records, spec)
    # distinct sets measured (workers racing on one study may each have measured a set: count it once)
    measured = trials[trials["state"] == "complete"].drop_duplicates(subset=list(spec.params))
    if measured.empty:
        reasons = "; ".join(sorted({r.reason for r in records if r.reason})[:3])
        raise ConfigError(f"no parameter set of the space could be measured: {reasons or 'all were refused'}")
    if not np.isfinite(_ranked(measured, objective)).any():
        raise ConfigError(
            f"no parameter set has a finite {objective} on the train dates (every set is flat or never trades); "
            "widen the space, use more data, or choose another objective"
        )
    best_row = measured.iloc[_order(_ranked(measured, objective), objective)[0]]
    best = next(r.parameters for r in records if r.number == best_row.name)

    in_sample_returns = _net_returns(spec, train, best, costs, capital).iloc[1:]
    out_of_sample = None
    if test is not None:
        full = _net_returns(spec, data, best, costs, capital)
        out_of_sample = slice_metrics(full.iloc[len(train) :].to_numpy(), risk_free)
    significance = deflated_sharpe_ratio(
        in_sample_returns.to_numpy(), measured["sharpe_ratio"].to_numpy(dtype="float64"), risk_free
    )
    wf = None
    if walk_forward_folds:
        candidates = grid(space) if method == "grid" and len(records) <= WALK_FORWARD_MAX_SETS else None
        wf = walk_forward(
            spec, data, candidates or _candidate_sets(space, seed), folds=walk_forward_folds, objective=objective,
            costs=costs, risk_free=risk_free,
        )  # fmt: skip
    return OptimizationResult(
        strategy_name=name,
        method=method,
        objective=objective,
        direction="minimize" if objective in MINIMISED else "maximize",
        study_name=study,
        best_params=best,
        best_value=float(best_row[objective]),
        in_sample={k: float(best_row[k]) for k in METRIC_COLUMNS},
        out_of_sample=out_of_sample,
        train=info.train,
        test=(test.index[0].date(), test.index[-1].date()) if test is not None else None,
        n_trials=len(records),
        n_distinct=len(measured),
        trials=trials,
        significance=significance,
        walk_forward=wf,
        costs=costs,
        risk_free=risk_free,
        data_version=data_version,
        is_demo=is_demo,
    )


def _shape_key(data: pd.DataFrame) -> str:
    """A cheap identity for data that carries no version: its dates, columns and a checksum of the values."""
    values = data.to_numpy(dtype="float64", na_value=np.nan)
    return f"{data.index[0]}:{data.index[-1]}:{data.shape}:{np.nansum(values):.12g}"


def _trials_frame(records: Sequence[TrialRecord], spec: StrategySpec) -> pd.DataFrame:
    """One row per trial: number, state, each parameter, each metric (NaN when not measured)."""
    rows = []
    for r in records:
        row: dict[str, Any] = {"number": r.number, "state": r.state}
        row.update({k: r.parameters.get(k) for k in spec.params})
        row.update({k: r.metrics.get(k, math.nan) for k in METRIC_COLUMNS})
        row["duration_s"] = r.duration_s
        row["run_id"] = r.run_id
        rows.append(row)
    columns = ["number", "state", *spec.params, *METRIC_COLUMNS, "duration_s", "run_id"]
    frame = pd.DataFrame(rows, columns=columns)
    return frame.set_index("number").sort_index()

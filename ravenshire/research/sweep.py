"""Parameter sweeps: a search space → a grid of parameter sets → one row of metrics per set, vectorised.

Search space (the seed's ``param_space``)
-----------------------------------------
Each parameter maps to either

- a ``(start, stop, step)`` tuple: ``start, start + step, start + 2·step, …`` up to ``stop``, with ``stop``
  INCLUDED when it lands on the grid (``(10, 50, 5)`` → 10, 15, …, 50; ``(10, 52, 5)`` → 10, …, 50). Needs
  ``start < stop`` and ``step > 0``. Integer parameters need integer bounds and step and yield Python ``int``;
  float values are computed as ``start + i·step`` and rounded to the decimals written in ``start`` and ``step``
  (``(0.1, 0.5, 0.1)`` → 0.1, 0.2, 0.3, 0.4, 0.5, never 0.30000000000000004); "on the grid" is judged with a
  1e-9·step tolerance. Bool parameters take a list only.
- a non-empty list of choices, checked one by one (type and range); duplicates are dropped, order kept.

Every value must lie in the strategy's :class:`~ravenshire.research.strategies.ParamSpec` range. Parameters not
in the space keep the strategy's default (:meth:`StrategySpec.defaults`, NOT the ``[STRATEGY]`` section of the
configuration that :meth:`ResearchManager.backtest_strategy` applies to ``ma_crossover``).

Sweep
-----
:func:`run_sweep` never loops over bars. Weights come from the strategy's batch form when it has one
(:attr:`StrategySpec.batch <ravenshire.research.strategies.StrategySpec>`: shared work such as each distinct
moving average is done once for the whole sweep, then each set's weights are a few numpy operations, bit for bit
the values of the strategy function), else from the strategy function called once per set. The sets are cut into
units of ``chunk``; each unit runs its sets one weight path at a time through the engine
(:func:`ravenshire.research.engine._simulate_paths`: exactly the model of
:func:`~ravenshire.research.engine.backtest`, on symbol-major arrays in cache-sized blocks of days, without
materialising a (K, T, N) array) and measures the net returns with
:func:`ravenshire.research.metrics.headline_metrics` (the same values as the metric functions), leaving out day 0
as :func:`~ravenshire.research.results.build_result` does — so every figure equals the one
``ResearchManager().backtest_strategy`` reports for that set, and the batch and per-set paths give identical
frames. With a batch form the units run on ``workers`` threads (numpy and pandas' rolling kernel release the GIL;
measured 1.3× faster on 2 cores than one thread); the per-set path stays in the calling thread. Memory: the
strategy's shared arrays (at most :data:`~ravenshire.research.strategies.BATCH_CACHE_BYTES`, e.g. 24 moving
averages of 8,300 days × 20 symbols = 32 MB) plus, per worker, one weight path and a few (chunk, T) arrays —
see bench/research_sweep.py for the figures.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError
from ravenshire.research import metrics as m
from ravenshire.research.engine import (
    Costs,
    _align_weights,
    _check_run_args,
    _returns_array,
    _simulate_paths,
    _wide_prices,
)
from ravenshire.research.strategies import (
    ParamSpec,
    StrategySpec,
    WeightsBuilder,
    _check_value,
    _suggest,
    check_parameters,
    get_strategy,
)

__all__ = [
    "MAX_SETS",
    "METRIC_COLUMNS",
    "NO_COSTS",
    "WORKERS",
    "AllSetsRefusedError",
    "grid",
    "parse_space",
    "run_sweep",
]

#: The default cap on the number of parameter sets in one grid.
MAX_SETS = 100_000

#: The metric columns of :func:`run_sweep`, in order (the first seven metrics of ``BacktestResult``).
METRIC_COLUMNS: tuple[str, ...] = (
    "total_return",
    "cagr",
    "volatility",
    "sharpe_ratio",
    "sortino_ratio",
    "max_drawdown",
    "calmar_ratio",
)


def _cpus() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


#: Default number of threads :func:`run_sweep` runs a batch strategy's chunks on: the CPUs this process may use,
#: at most 4 (numpy releases the GIL in its array loops; measured 1.3× faster with 2 threads than 1 on 2 cores,
#: slower again with 4 there — see bench/research_sweep.py).
WORKERS = max(1, min(4, _cpus()))

#: The default costs of :func:`run_sweep` (none), a module-level singleton (Costs is frozen).
NO_COSTS = Costs()

# "stop lands on the grid" tolerance, as a fraction of the step
_GRID_EPS = 1e-9


# --------------------------------------------------------------------------------------------------------------
# search space


def _is_number(value: Any) -> bool:
    return (
        not isinstance(value, bool | np.bool_)
        and isinstance(value, int | float | np.integer | np.floating)
        and math.isfinite(float(value))
    )


def _decimals(value: float) -> int:
    """Decimals written in ``value`` (0.05 → 2, 10 → 0, 1e-7 → 7)."""
    exponent = Decimal(repr(float(value))).normalize().as_tuple().exponent
    return max(0, -int(exponent)) if isinstance(exponent, int) else 0


def _range_values(where: str, spec: ParamSpec, bounds: tuple[Any, ...]) -> list[Any]:
    """The grid of one ``(start, stop, step)`` tuple (see the module docstring)."""
    if spec.kind is bool:
        raise ConfigError(f"{where} is a bool: give a list of choices such as [True, False], not a range {bounds!r}")
    if len(bounds) != 3:
        raise ConfigError(f"{where}: a range must be a (start, stop, step) tuple of 3 numbers, got {bounds!r}")
    start, stop, step = bounds
    if not all(_is_number(v) for v in bounds):
        raise ConfigError(f"{where}: start, stop and step must be finite numbers, got {bounds!r}")
    if spec.kind is int and not all(isinstance(v, int | np.integer) for v in bounds):
        raise ConfigError(f"{where} is an integer parameter: start, stop and step must be integers, got {bounds!r}")
    if step <= 0:
        raise ConfigError(f"{where}: step must be > 0, got {step!r} in {bounds!r}")
    if start == stop:
        raise ConfigError(f"{where}: start equals stop in {bounds!r}; for a single value give a list [{start!r}]")
    if start > stop:
        raise ConfigError(f"{where}: empty range {bounds!r}, start must be < stop")
    count = math.floor((stop - start) / step + _GRID_EPS) + 1
    if spec.kind is int:
        values: list[Any] = [int(start) + i * int(step) for i in range(count)]
    else:
        digits = max(_decimals(start), _decimals(step))
        values = [round(float(start) + i * float(step), digits) for i in range(count)]
    low, high = values[0], values[-1]
    if (spec.minimum is not None and low < spec.minimum) or (spec.maximum is not None and high > spec.maximum):
        raise ConfigError(f"{where}: the range {bounds!r} goes from {low!r} to {high!r}; allowed: {spec.allowed()}")
    return values


def _list_values(where: str, strategy: str, name: str, spec: ParamSpec, choices: Sequence[Any]) -> list[Any]:
    if len(choices) == 0:
        raise ConfigError(f"{where}: the list of choices is empty; give at least one value ({spec.allowed()})")
    out: list[Any] = []
    for value in choices:
        checked = _check_value(strategy, name, spec, value)
        if checked not in out:
            out.append(checked)
    return out


def parse_space(spec: StrategySpec | str, param_space: Mapping[str, tuple[Any, ...] | list[Any]]) -> dict[str, list]:
    """Expand a search space into the values of each parameter (see the module docstring).

    ``param_space`` maps a parameter of ``spec`` to a ``(start, stop, step)`` tuple (stop inclusive when on the
    grid) or a list of choices. Raises :class:`ConfigError` naming the parameter and what is allowed for an unknown
    parameter, a tuple that is not of length 3, start ≥ stop, a non-positive step, an empty list, a value of the
    wrong type or outside the parameter's range.
    """
    spec = get_strategy(spec) if isinstance(spec, str) else spec
    if not isinstance(param_space, Mapping):
        raise ConfigError(f"param_space must be a mapping of parameter → range or list, got {type(param_space)}")
    known = list(spec.params)
    out: dict[str, list] = {}
    for name, values in param_space.items():
        if name not in spec.params:
            allowed = ", ".join(known) if known else "none"
            raise ConfigError(
                f"unknown parameter {name!r} in the search space of strategy {spec.name!r}"
                f"{_suggest(str(name), known)} Allowed parameters: {allowed}"
            )
        where = f"parameter {name!r} of strategy {spec.name!r}"
        if isinstance(values, tuple):
            out[name] = _range_values(where, spec.params[name], values)
        elif isinstance(values, list):
            out[name] = _list_values(where, spec.name, name, spec.params[name], values)
        else:
            raise ConfigError(
                f"{where}: the search space takes a (start, stop, step) tuple or a list of choices, "
                f"got {type(values).__name__} {values!r}"
            )
    return out


def grid(space: Mapping[str, Sequence[Any]], max_sets: int = MAX_SETS) -> list[dict[str, Any]]:
    """The cartesian product of ``space`` as a list of parameter sets, in a deterministic order: the first
    parameter varies slowest, the last fastest (``itertools.product`` in the mapping's order). An empty space gives
    one empty set (the defaults). Refuses (``ConfigError``) an empty list of values and more than ``max_sets`` sets.
    """
    names = list(space)
    sizes = [len(space[n]) for n in names]
    for name, size in zip(names, sizes, strict=True):
        if size == 0:
            raise ConfigError(f"parameter {name!r} has no values; the grid would be empty")
    total = math.prod(sizes)
    if total > max_sets:
        shape = " × ".join(f"{n} {s}" for n, s in zip(names, sizes, strict=True))
        raise ConfigError(
            f"the grid has {total:,} parameter sets ({shape}), more than max_sets={max_sets:,}; "
            "use coarser steps, fewer parameters, a random/Optuna search, or raise max_sets"
        )
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*(space[n] for n in names))]


# --------------------------------------------------------------------------------------------------------------
# sweep

#: Periods per year of a sweep: that of ``sweep_returns``/``backtest``'s default.
_PERIODS = 252

_Source = WeightsBuilder | ConfigError


class AllSetsRefusedError(ConfigError):
    """Every parameter set of a sweep was refused by the strategy; ``skipped`` lists them with their reasons (as
    ``df.attrs["skipped"]`` would have)."""

    def __init__(self, message: str, *, skipped: list[dict[str, Any]]) -> None:
        super().__init__(message)
        self.skipped = skipped


def _checked_sets(spec: StrategySpec, param_sets: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every set validated and completed with the defaults; a bad set is a mistake in the sweep (ConfigError)."""
    if len(param_sets) == 0:
        raise ConfigError("param_sets is empty; build it with grid(parse_space(spec, param_space))")
    checked = []
    for position, params in enumerate(param_sets):
        try:
            checked.append(check_parameters(spec, params))
        except ConfigError as exc:
            raise ConfigError(f"parameter set #{position} {dict(params)!r}: {exc}") from exc
    return checked


@dataclass(frozen=True)
class _Market:
    """What every chunk shares: the prices and their returns, symbol-major."""

    wide: pd.DataFrame  # (T, N) prices
    returns: np.ndarray  # (N, T) asset returns, C-contiguous
    missing: np.ndarray  # flat indices into (N, T) of the missing prices


@dataclass
class _ChunkResult:
    rows: list[int]
    skipped: list[tuple[int, str]]
    metrics: dict[str, np.ndarray] | None


def _call_strategy(spec: StrategySpec, data: pd.DataFrame, wide: pd.DataFrame, params: dict[str, Any]) -> Any:
    """One set through ``spec.func`` (the per-set path): aligned (T, N) weights, or the ConfigError it raised."""
    try:
        weights = spec.func(data, **params)
    except ConfigError as exc:
        return exc
    if not isinstance(weights, pd.DataFrame):
        raise ConfigError(f"strategy {spec.name!r} returned {type(weights).__name__}; it must return weights")
    return _align_weights(weights, wide).to_numpy(dtype="float64")


def _path(spec: StrategySpec, market: _Market, weights: Any, position: int) -> np.ndarray:
    """Checked symbol-major (N, T) float64 weights of set ``position``."""
    if not isinstance(weights, np.ndarray) or weights.shape != market.wide.shape:
        shape = getattr(weights, "shape", type(weights).__name__)
        raise ConfigError(
            f"strategy {spec.name!r}'s batch built weights of shape {shape} for parameter set #{position}; "
            f"expected {market.wide.shape} (dates × symbols of the prices)"
        )
    path = np.ascontiguousarray(weights.T, dtype=np.float64)
    if market.missing.size:
        held = path.ravel()[market.missing]
        if (held != 0).any():
            i, t = divmod(int(market.missing[np.flatnonzero(held)[0]]), path.shape[1])
            raise ConfigError(
                f"weight {path[i, t]:.6g} on {market.wide.columns[i]} on {market.wide.index[t].date()} "
                f"(parameter set #{position}), but its price is missing (not listed yet or gone); a strategy may "
                "only hold symbols with a price"
            )
    return path


def _run_chunk(
    spec: StrategySpec,
    market: _Market,
    sources: Callable[[int], _Source],
    positions: range,
    costs: Costs,
    risk_free: float,
    capital: float = 100_000.0,
) -> _ChunkResult:
    """Weights → engine → metrics for the sets ``positions``, one weight path in memory at a time."""
    result = _ChunkResult(rows=[], skipped=[], metrics=None)

    def paths() -> Iterator[np.ndarray]:
        for position in positions:
            source = sources(position)
            weights = source if isinstance(source, ConfigError) else source()
            if isinstance(weights, ConfigError):
                result.skipped.append((position, str(weights)))
                continue
            path = _path(spec, market, weights, position)
            result.rows.append(position)
            yield path

    sim = _simulate_paths(market.returns, paths(), costs, _PERIODS, capital)
    if result.rows:
        bad = ~np.isfinite(sim.turnover).all(axis=1)
        if bad.any():
            raise ConfigError(
                f"strategy {spec.name!r} produced NaN or infinite weights for parameter set "
                f"#{result.rows[int(np.argmax(bad))]}"
            )
        held = np.ascontiguousarray(sim.net[:, 1:])  # day 0 left out, as build_result does
        result.metrics = m.headline_metrics(held, risk_free, _PERIODS)
    return result


def run_sweep(
    spec: StrategySpec | str,
    data: pd.DataFrame,
    param_sets: Sequence[Mapping[str, Any]],
    costs: Costs = NO_COSTS,
    risk_free: float = 0.0,
    chunk: int = 8,
    workers: int | None = None,
    initial_capital: float = 100_000.0,
) -> pd.DataFrame:
    """Backtest every parameter set of ``param_sets`` and measure it; one row per valid set.

    Columns: every parameter of the strategy (defaults filled in) then :data:`METRIC_COLUMNS`; the index
    (``"set"``) is the position of the set in ``param_sets``. Metrics equal those of
    ``ResearchManager().backtest_strategy(spec, data, params, costs=costs, risk_free=risk_free)``.

    A set with an unknown parameter, a wrong type or an out-of-range value raises :class:`ConfigError` (a mistake
    in the sweep). A set the strategy itself refuses (a constraint between parameters, e.g. ``fast < slow``) is
    skipped and reported in ``df.attrs["skipped"]``: a list of ``{"set": position, "params": ..., "reason": ...}``.
    If every set is refused, :class:`ConfigError`. ``df.attrs`` also holds ``strategy``, ``costs``,
    ``risk_free`` and ``n_sets``.

    ``chunk`` sets form one unit of work (weights, engine, metrics); with a batch strategy the units run on
    ``initial_capital`` matters only with a fixed cost per trade (a fraction of equity then). ``workers`` threads
    (default: :data:`WORKERS`; 1 = in the calling thread). Strategies without a batch form are
    called set by set in the calling thread (pandas code is not shared between threads).
    """
    spec = get_strategy(spec) if isinstance(spec, str) else spec
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ConfigError(f"chunk must be a positive integer (parameter sets per batch), got {chunk!r}")
    workers = WORKERS if workers is None else workers
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer) or workers < 1:
        raise ConfigError(f"workers must be a positive integer (threads), got {workers!r}")
    checked = _checked_sets(spec, param_sets)
    m.per_period_rate(risk_free)  # a bad rate is refused before any work
    wide = _wide_prices(data)
    values = wide.to_numpy(dtype="float64")
    market = _Market(
        wide=wide,
        returns=np.ascontiguousarray(_returns_array(values).T),
        missing=np.flatnonzero(np.isnan(values.T)),
    )
    if spec.batch is not None:
        built = list(spec.batch(data, checked))
        if len(built) != len(checked):
            raise ConfigError(f"strategy {spec.name!r}'s batch returned {len(built)} entries for {len(checked)} sets")

        def sources(position: int) -> _Source:
            return built[position]

    else:
        workers = 1

        def sources(position: int) -> _Source:
            return functools.partial(_call_strategy, spec, data, wide, checked[position])

    units = [range(a, min(a + int(chunk), len(checked))) for a in range(0, len(checked), int(chunk))]
    _check_run_args(initial_capital, _PERIODS)
    run = functools.partial(
        _run_chunk, spec, market, sources, costs=costs, risk_free=risk_free, capital=float(initial_capital)
    )
    if workers == 1 or len(units) == 1:
        results = [run(unit) for unit in units]
    else:
        with ThreadPoolExecutor(max_workers=min(int(workers), len(units))) as pool:
            results = list(pool.map(run, units))

    rows = [position for r in results for position in r.rows]
    refused = [pair for r in results for pair in r.skipped]
    skipped = [{"set": position, "params": checked[position], "reason": reason} for position, reason in refused]
    if not rows:
        reasons = "; ".join(sorted({reason for _, reason in refused})[:3])
        raise AllSetsRefusedError(
            f"all {len(checked)} parameter sets were refused by strategy {spec.name!r}: {reasons}", skipped=skipped
        )
    frame = pd.DataFrame([checked[position] for position in rows], index=pd.Index(rows, name="set"))
    measured = [r.metrics for r in results if r.metrics is not None]
    for column, name in zip(METRIC_COLUMNS, m.HEADLINE_METRICS, strict=True):
        frame[column] = np.concatenate([chunk_metrics[name] for chunk_metrics in measured])
    frame.attrs.update(
        strategy=spec.name, costs=costs.to_dict(), risk_free=risk_free, n_sets=len(checked), skipped=skipped
    )
    return frame

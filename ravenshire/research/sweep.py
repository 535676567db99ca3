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
:func:`run_sweep` calls the strategy once per parameter set (never a loop over bars), stacks the weights to
``(K, T, N)`` in chunks of ``chunk`` sets, runs them through :func:`ravenshire.research.engine.sweep_returns`
(exactly the model of :func:`~ravenshire.research.engine.backtest`) and measures the net returns with the 2-D
metrics of :mod:`ravenshire.research.metrics`, leaving out day 0 as :func:`~ravenshire.research.results.build_result`
does — so every figure equals the one ``ResearchManager().backtest_strategy`` reports for that set. Peak memory is
about ``6 · chunk · T · N · 8`` bytes (the default 8 sets × 8,300 days × 20 symbols ≈ 64 MB; measured faster than
64-set chunks on a 2-core machine, as the arrays stay in cache — see bench/research_sweep.py).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError
from ravenshire.research import metrics as m
from ravenshire.research.engine import Costs, _align_weights, _wide_prices, sweep_returns
from ravenshire.research.strategies import (
    ParamSpec,
    StrategySpec,
    _check_value,
    _suggest,
    check_parameters,
    get_strategy,
)

__all__ = ["MAX_SETS", "METRIC_COLUMNS", "NO_COSTS", "grid", "parse_space", "run_sweep"]

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


def _metrics(net: np.ndarray, risk_free: float) -> dict[str, np.ndarray]:
    """The metric columns for net returns ``net`` (T, K), day 0 excluded."""
    held = net[1:]
    return {
        "total_return": np.asarray(m.total_return(held)),
        "cagr": np.asarray(m.cagr(held)),
        "volatility": np.asarray(m.annual_volatility(held)),
        "sharpe_ratio": np.asarray(m.sharpe_ratio(held, risk_free)),
        "sortino_ratio": np.asarray(m.sortino_ratio(held, risk_free)),
        "max_drawdown": np.asarray(m.max_drawdown(held)),
        "calmar_ratio": np.asarray(m.calmar_ratio(held)),
    }


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


def run_sweep(
    spec: StrategySpec | str,
    data: pd.DataFrame,
    param_sets: Sequence[Mapping[str, Any]],
    costs: Costs = NO_COSTS,
    risk_free: float = 0.0,
    chunk: int = 8,
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
    """
    spec = get_strategy(spec) if isinstance(spec, str) else spec
    if isinstance(chunk, bool) or not isinstance(chunk, int | np.integer) or chunk < 1:
        raise ConfigError(f"chunk must be a positive integer (parameter sets per batch), got {chunk!r}")
    checked = _checked_sets(spec, param_sets)
    wide = _wide_prices(data)
    t_len, n = wide.shape

    rows: list[int] = []
    kept: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    columns: dict[str, list[np.ndarray]] = {name: [] for name in METRIC_COLUMNS}
    batch = np.empty((min(int(chunk), len(checked)), t_len, n), dtype=np.float64)
    filled = 0

    def flush() -> None:
        net = sweep_returns(wide, batch[:filled], costs)
        for name, values in _metrics(net, risk_free).items():
            columns[name].append(values)

    for position, params in enumerate(checked):
        try:
            weights = spec.func(data, **params)
        except ConfigError as exc:
            skipped.append({"set": position, "params": params, "reason": str(exc)})
            continue
        if not isinstance(weights, pd.DataFrame):
            raise ConfigError(f"strategy {spec.name!r} returned {type(weights).__name__}; it must return weights")
        batch[filled] = _align_weights(weights, wide).to_numpy(dtype="float64")
        filled += 1
        rows.append(position)
        kept.append(params)
        if filled == len(batch):
            flush()
            filled = 0
    if filled:
        flush()
    if not rows:
        reasons = "; ".join(sorted({s["reason"] for s in skipped})[:3])
        raise ConfigError(f"all {len(checked)} parameter sets were refused by strategy {spec.name!r}: {reasons}")

    frame = pd.DataFrame(kept, index=pd.Index(rows, name="set"))
    for name in METRIC_COLUMNS:
        frame[name] = np.concatenate(columns[name])
    frame.attrs.update(
        strategy=spec.name, costs=costs.to_dict(), risk_free=risk_free, n_sets=len(checked), skipped=skipped
    )
    return frame

"""Read-only queries of the research layer for the UI and the CLI: tracked runs, one run, several side by side.

Each takes the store's engine first and returns plain values (DataFrames, dicts, :class:`TrackedRun`), so that a
Streamlit page can cache them (``ravenshire.ui.cached_query``).
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
from sqlalchemy import Engine, desc, select

from ravenshire.research.results import BacktestResult
from ravenshire.research.tracking import ExperimentTracker, TrackedRun, _info
from ravenshire.store import read
from ravenshire.store import schema as s

__all__ = ["RUN_COLUMNS", "compare_runs", "load_run", "runs", "study_trials"]

#: The columns of :func:`runs` before the metrics (one column per ``BacktestResult.METRICS`` follows).
RUN_COLUMNS = (
    "id", "kind", "strategy", "builtin", "parameters", "costs", "data_version", "is_demo", "start_date", "end_date",
    "initial_capital", "risk_free", "code_version", "study", "started_at", "duration_s",
)  # fmt: skip


def runs(engine: Engine, kind: str | None = None, study: str | None = None, limit: int = 200) -> pd.DataFrame:
    """The newest tracked runs (newest first), optionally of one ``kind`` (``backtest`` or ``trial``) and one
    ``study``: :data:`RUN_COLUMNS` (``parameters`` and ``costs`` as dicts, dates as ``datetime.date``,
    ``started_at`` UTC), then one column per metric (NaN where undefined)."""
    stmt = select(s.runs).order_by(desc(s.runs.c.id)).limit(int(limit))
    if kind is not None:
        stmt = stmt.where(s.runs.c.kind == kind)
    if study is not None:
        stmt = stmt.where(s.runs.c.study == study)
    with read(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    columns = [*RUN_COLUMNS, *BacktestResult.METRICS]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame([_info(dict(r)) for r in rows])
    metrics = pd.DataFrame(list(frame.pop("metrics")), index=frame.index)
    metrics = metrics.reindex(columns=list(BacktestResult.METRICS)).apply(pd.to_numeric, errors="coerce")
    frame["started_at"] = pd.to_datetime(frame["started_at"], utc=True)
    frame["is_demo"] = frame["is_demo"].astype(bool)
    return pd.concat([frame.reindex(columns=list(RUN_COLUMNS)), metrics], axis=1)


def study_trials(engine: Engine, study: str, limit: int = 10_000) -> pd.DataFrame:
    """The trials (runs of kind ``trial``) of the optimization study ``study``, newest first (as :func:`runs`)."""
    return runs(engine, "trial", study, limit)


def load_run(engine: Engine, run_id: int) -> TrackedRun:
    """One run with its artifacts (returns, equity, positions, trades); ConfigError for an unknown id."""
    return ExperimentTracker(engine).load(int(run_id))


def compare_runs(engine: Engine, run_ids: Sequence[int]) -> pd.DataFrame:
    """Metrics of several runs side by side: one column per run id, one row per metric."""
    return ExperimentTracker(engine).compare([int(r) for r in run_ids])

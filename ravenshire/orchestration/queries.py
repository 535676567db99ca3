"""Read-only queries of the orchestration tables for the UI and the CLI (workflow and step runs, cycles)."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from ravenshire.store import read
from ravenshire.store import schema as s

__all__ = ["cycle_runs", "step_history", "workflow_history"]


def _utc(frame: pd.DataFrame, *columns: str) -> pd.DataFrame:
    for col in columns:
        frame[col] = pd.to_datetime(frame[col], utc=True)
    return frame


def workflow_history(
    engine: Engine, workflow: str | None = None, status: str | None = None, limit: int = 200
) -> pd.DataFrame:
    """Workflow runs, newest first (the ``workflow_runs`` columns)."""
    wr = s.workflow_runs
    query = select(wr).order_by(wr.c.id.desc()).limit(int(limit))
    if workflow is not None:
        query = query.where(wr.c.workflow == workflow)
    if status is not None:
        query = query.where(wr.c.status == status)
    with read(engine) as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(wr.c.keys()))
    return _utc(frame, "started_at", "finished_at")


def step_history(engine: Engine, workflow_run_id: int) -> pd.DataFrame:
    """The steps of one workflow run, in order (the ``step_runs`` columns)."""
    sr = s.step_runs
    with read(engine) as conn:
        frame = pd.DataFrame(
            conn.execute(select(sr).where(sr.c.workflow_run_id == int(workflow_run_id)).order_by(sr.c.id))
            .mappings()
            .all(),
            columns=list(sr.c.keys()),
        )
    return _utc(frame, "started_at", "finished_at")


def cycle_runs(engine: Engine, kind: str | None = None, limit: int = 200) -> pd.DataFrame:
    """Stored cycles (every kind), newest business date first."""
    c = s.cycles
    query = select(
        c.c.id, c.c.kind, c.c.business_date, c.c.status, c.c.attempts, c.c.is_demo, c.c.error, c.c.started_at,
        c.c.finished_at, c.c.duration_s,
    ).order_by(c.c.business_date.desc(), c.c.kind).limit(int(limit))  # fmt: skip
    if kind is not None:
        query = query.where(c.c.kind == kind)
    with read(engine) as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=["id", "kind", "business_date", "status", "attempts", "is_demo", "error",
                                     "started_at", "finished_at", "duration_s"])  # fmt: skip
    frame["business_date"] = pd.to_datetime(frame["business_date"].astype(str), format="%Y%m%d")
    return _utc(frame, "started_at", "finished_at")

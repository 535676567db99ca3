"""Experiment tracking: every backtest (and, later, every optimization trial) is a run in the store.

A run records the strategy, its parameters, the costs, the data version it ran on, the code version (the git
commit, with ``-dirty`` when the work tree had uncommitted changes), timings and the metrics; its returns,
equity curve, positions and trades are stored as Parquet artifacts beside it, in the same transaction. Runs
can be listed, compared and reloaded; with the data version, a run can be reproduced bit for bit.

With an :class:`~ravenshire.research.mlflow_mirror.MlflowMirror`, each run is also logged to MLflow once it is
stored. The store stays the source of truth: when MLflow fails, the stored run is kept, ``log`` returns its id as
usual, a warning naming the run and the error is logged, and the failure is recorded in the mirror's
``failures`` (store run id → error).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import math
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import pandas as pd
from sqlalchemy import Engine, desc, insert, select

from ravenshire.config import PROJECT_ROOT
from ravenshire.errors import ConfigError
from ravenshire.research.results import BacktestResult
from ravenshire.store import read, write
from ravenshire.store import schema as s
from ravenshire.store.bulk import bulk_insert
from ravenshire.store.dates import date_key

if TYPE_CHECKING:
    from ravenshire.research.mlflow_mirror import MlflowMirror
    from ravenshire.research.optimize import SearchInfo, TrialRecord

__all__ = ["ARTIFACTS", "ExperimentTracker", "TrackedRun", "code_version"]

log = logging.getLogger(__name__)

#: Artifacts stored with every run, by name.
ARTIFACTS = ("returns", "equity", "positions", "trades")


@lru_cache(maxsize=1)
def code_version() -> str | None:
    """The git commit of the project (``-dirty`` when files differ from it), or None outside a git checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=5, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{commit}-dirty" if dirty else commit


def _to_parquet(obj: pd.Series | pd.DataFrame) -> bytes:
    frame = obj.to_frame() if isinstance(obj, pd.Series) else obj
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=True)
    return buffer.getvalue()


def _from_parquet(payload: bytes, name: str) -> pd.Series | pd.DataFrame:
    frame = pd.read_parquet(io.BytesIO(payload))
    return frame.iloc[:, 0] if name in ("returns", "equity") else frame


@dataclass(frozen=True)
class TrackedRun:
    """A stored run: its record (``info``, plain values) and its artifacts (frames)."""

    info: dict[str, Any]
    returns: pd.Series
    equity: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame


class ExperimentTracker:
    """Log, list, compare and reload runs in the store; ``mirror`` also logs each new run to MLflow."""

    def __init__(self, engine: Engine, mirror: MlflowMirror | None = None) -> None:
        self.engine = engine
        self.mirror = mirror

    def log(
        self,
        result: BacktestResult,
        *,
        started_at: dt.datetime,
        duration_s: float,
        kind: str = "backtest",
        study: str | None = None,
        builtin: str | None = None,
    ) -> int:
        """Store ``result`` and its artifacts in one transaction; returns the run id.

        Then, with a mirror, log the run to MLflow; an MLflow failure does not fail the call (see the module
        docstring).
        """
        record = result.to_dict()
        values = {
            "kind": kind,
            "strategy": result.strategy_name,
            "builtin": builtin,
            "parameters": json.dumps(record["parameters"], sort_keys=True, default=str),
            "costs": json.dumps(record["costs"], sort_keys=True),
            "data_version": result.data_version,
            "is_demo": result.is_demo,
            "start_date": date_key(result.start),
            "end_date": date_key(result.end),
            "initial_capital": result.initial_capital,
            "risk_free": result.risk_free,
            "metrics": json.dumps({k: record[k] for k in BacktestResult.METRICS}),
            "code_version": code_version(),
            "study": study,
            "started_at": started_at,
            "duration_s": duration_s,
        }
        artifacts: dict[str, pd.Series | pd.DataFrame] = {
            "returns": result.returns,
            "equity": result.equity_curve,
            "positions": result.positions,
            "trades": result.trades,
        }
        payloads = [(name, "parquet", _to_parquet(obj)) for name, obj in artifacts.items()]
        with write(self.engine) as conn:
            key = conn.execute(insert(s.runs).values(**values)).inserted_primary_key
            assert key is not None
            run_id = int(key[0])
            rows = [(run_id, name, fmt, payload) for name, fmt, payload in payloads]
            bulk_insert(conn, insert(s.run_artifacts), ["run_id", "name", "format", "payload"], rows)
        if self.mirror is not None:
            try:
                self.mirror.log(
                    result, run_id=run_id, kind=kind, study=study, started_at=started_at, duration_s=duration_s
                )
            except Exception as exc:  # the stored run stands; MLflow is a copy
                log.warning("run #%d is stored but not in MLflow: %s", run_id, " ".join(str(exc).split())[:500])
        return run_id

    def log_trials(self, info: SearchInfo, records: list[TrialRecord], *, initial_capital: float) -> list[int | None]:
        """Store the measured (``complete``) trials of a search as runs of kind ``trial``, in one transaction:
        parameters, metrics, costs, data and code version, the train dates, the study, timing; no artifacts (a
        trial is reproduced in full with ``ResearchManager.reproduce``). Returns the run ids, aligned with
        ``records`` (None for a pruned or duplicate trial). Idempotent: a set the study already holds a trial run
        of (a grid search run again, a trial retried) gets that run's id, not a second run. New runs are mirrored
        to MLflow like :meth:`log`."""
        started_at = dt.datetime.now(dt.UTC)
        common = {
            "kind": "trial",
            "strategy": info.strategy_name,
            "builtin": info.builtin,
            "costs": json.dumps(info.costs.to_dict(), sort_keys=True),
            "data_version": info.data_version,
            "is_demo": info.is_demo,
            "start_date": date_key(info.train[0]),
            "end_date": date_key(info.train[1]),
            "initial_capital": initial_capital,
            "risk_free": info.risk_free,
            "code_version": code_version(),
            "study": info.study_name,
            "started_at": started_at,
        }
        ids: list[int | None] = []
        new: set[int] = set()
        with write(self.engine) as conn:
            stored = conn.execute(
                select(s.runs.c.parameters, s.runs.c.id).where(
                    s.runs.c.kind == "trial", s.runs.c.study == info.study_name, s.runs.c.strategy == info.strategy_name
                )
            ).all()
            known: dict[str, int] = {parameters: run_id for parameters, run_id in stored}
            for record in records:
                parameters = json.dumps(record.parameters, sort_keys=True, default=str)
                if record.state != "complete" or parameters in known:
                    ids.append(known.get(parameters) if record.state == "complete" else None)
                    continue
                values = common | {
                    "parameters": parameters,
                    "metrics": json.dumps({k: _json_number(v) for k, v in record.metrics.items()}),
                    "duration_s": record.duration_s,
                }
                key = conn.execute(insert(s.runs).values(**values)).inserted_primary_key
                assert key is not None
                ids.append(known.setdefault(parameters, int(key[0])))
                new.add(int(key[0]))
        if self.mirror is not None:
            for record, run_id in zip(records, ids, strict=True):
                if run_id is None or run_id not in new:
                    continue
                try:
                    self.mirror.log_trial(
                        info, record, run_id=run_id, initial_capital=initial_capital, started_at=started_at
                    )
                except Exception as exc:  # the stored run stands; MLflow is a copy
                    log.warning("run #%d is stored but not in MLflow: %s", run_id, " ".join(str(exc).split())[:500])
        return ids

    def find_run(self, *, kind: str, study: str, strategy: str, parameters: Mapping[str, Any]) -> int | None:
        """The newest run of ``kind`` in ``study`` with these exact parameters, or None."""
        stmt = (
            select(s.runs.c.id)
            .where(
                s.runs.c.kind == kind,
                s.runs.c.study == study,
                s.runs.c.strategy == strategy,
                s.runs.c.parameters == json.dumps(dict(parameters), sort_keys=True, default=str),
            )
            .order_by(desc(s.runs.c.id))
            .limit(1)
        )
        with read(self.engine) as conn:
            found = conn.execute(stmt).scalar()
        return int(found) if found is not None else None

    def list_runs(self, strategy: str | None = None, limit: int = 100) -> pd.DataFrame:
        """The newest runs, one row each: id, kind, strategy, parameters, data version, demo, and the metrics."""
        stmt = select(s.runs).order_by(desc(s.runs.c.id)).limit(limit)
        if strategy is not None:
            stmt = stmt.where(s.runs.c.strategy == strategy)
        with read(self.engine) as conn:
            rows = conn.execute(stmt).mappings().all()
        if not rows:
            return pd.DataFrame(columns=["id", "kind", "strategy", "parameters", "data_version", "is_demo"])
        frame = pd.DataFrame([_info(dict(r)) for r in rows])
        metrics = pd.DataFrame(list(frame.pop("metrics")), index=frame.index)
        return pd.concat([frame, metrics], axis=1)

    def compare(self, run_ids: list[int]) -> pd.DataFrame:
        """Metrics of several runs side by side: one column per run, one row per metric."""
        runs = {run_id: self.load(run_id, artifacts=False).info for run_id in run_ids}
        return pd.DataFrame({run_id: info["metrics"] for run_id, info in runs.items()})

    def load(self, run_id: int, *, artifacts: bool = True) -> TrackedRun:
        """One run, with its artifacts unless ``artifacts=False``. Unknown id → ConfigError."""
        with read(self.engine) as conn:
            row = conn.execute(select(s.runs).where(s.runs.c.id == run_id)).mappings().first()
            if row is None:
                raise ConfigError(f"no run #{run_id}; list them with ResearchManager().list_runs()")
            stored = (
                conn.execute(
                    select(s.run_artifacts.c.name, s.run_artifacts.c.payload).where(s.run_artifacts.c.run_id == run_id)
                ).all()
                if artifacts
                else []
            )
        frames: dict[str, Any] = {name: _from_parquet(payload, name) for name, payload in stored}
        empty = pd.DataFrame()
        return TrackedRun(
            info=_info(dict(row)),
            returns=frames.get("returns", pd.Series(dtype="float64")),
            equity=frames.get("equity", pd.Series(dtype="float64")),
            positions=frames.get("positions", empty),
            trades=frames.get("trades", empty),
        )


def _json_number(value: float) -> float | str | None:
    """A metric as JSON allows it: NaN → null, ±inf → "inf"/"-inf" (as ``BacktestResult.to_dict`` writes them)."""
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return float(value)


def _info(row: dict[str, Any]) -> dict[str, Any]:
    for key in ("parameters", "costs", "metrics"):
        row[key] = json.loads(row[key])
    for key in ("start_date", "end_date"):
        k = row[key]
        row[key] = dt.date(k // 10000, k // 100 % 100, k % 100)
    return row

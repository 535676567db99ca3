"""The job queue: the UI and the CLI submit work as rows of ``jobs``; the scheduler process runs them.

A job's life::

    queued ──► running ──► succeeded | failed
       │          └──────► interrupted   (the scheduler stopped while it ran; submit it again)
       └─► cancelled                     (only while queued)

Kinds (:data:`JOB_KINDS`) and their ``params`` (JSON; checked by :func:`check_job` at submission, so a bad form
never reaches the queue):

- ``backtest``: ``strategy``, ``parameters`` {name: value}, the data as ``version`` (a data version id) or
  ``symbols`` [..], optional ``start``/``end`` (YYYY-MM-DD), ``costs`` {commission_bps, slippage_bps,
  fixed_per_trade, cash_rate}, ``capital``, ``risk_free``. Result: ``run_id`` (the stored run) and its headline
  metrics.
- ``optimize``: as ``backtest`` but ``space`` {name: {"range": [start, stop, step]} | {"choices": [..]}} instead of
  ``parameters``, and optional ``trials``, ``method``, ``objective``, ``test_fraction``, ``walk_forward``,
  ``seed``, ``study``. Its trials are stored as they finish (progress = trials / n_trials). Result: ``study``,
  ``best_run_id``, ``best_params``.
- ``data_fetch``: ``symbols`` [..] (default the universe), optional ``start``/``end``, ``refresh`` (fetch the
  range again): :meth:`DataManager.fetch`, what the Data page's fetch form asks for. Result: the fetches' summary.
- ``data_cycle``, ``monitoring_cycle``, ``agent_cycle``: "run now", optional ``date``; the cycle is keyed, so a
  job for a date already done changes nothing. Result: ``cycle_id``, ``workflow_run_id``, the cycle's summary.
- ``ping``: does nothing; shows the scheduler answers the queue (and measures its latency).

Claiming is one ``UPDATE … WHERE status = 'queued'`` inside the write transaction, so two workers never run the
same job. ``idempotency_key`` (a form's submission id) makes a double submission one job.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from ravenshire.agents.base import to_jsonable
from ravenshire.config import Config
from ravenshire.errors import ConfigError
from ravenshire.store import read, write
from ravenshire.store import schema as s

__all__ = [
    "JOB_KINDS",
    "TERMINAL",
    "Job",
    "cancel_job",
    "check_job",
    "claim_next_job",
    "finish_and_claim",
    "finish_job",
    "get_job",
    "list_jobs",
    "set_progress",
    "submit_job",
]

JOB_KINDS: dict[str, str] = {
    "backtest": "run a backtest and store it",
    "optimize": "run a parameter search (an Optuna or grid study)",
    "data_fetch": "fetch, validate and store market data (symbols, dates)",
    "data_cycle": "run the data cycle now",
    "monitoring_cycle": "run the monitoring cycle now",
    "agent_cycle": "run the agent cycle now",
    "ping": "check that the scheduler answers the queue",
}
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
TERMINAL = frozenset({"succeeded", "failed", "cancelled", "interrupted"})


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Job:
    """A row of the queue (see the module docstring)."""

    id: int
    kind: str
    params: Mapping[str, Any]
    status: str
    submitted_by: str
    submitted_at: dt.datetime
    idempotency_key: str | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    worker: str | None = None
    progress: float | None = None
    message: str | None = None
    result: Mapping[str, Any] | None = None
    error: str | None = None

    @property
    def done(self) -> bool:
        return self.status in TERMINAL

    @property
    def wait_s(self) -> float | None:
        """Seconds from submission to start (the queue's latency)."""
        if self.started_at is None:
            return None
        return (self.started_at - self.submitted_at).total_seconds()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = to_jsonable(dataclasses.asdict(self))
        return out

    @classmethod
    def from_row(cls, row: Any) -> Job:
        return cls(
            id=int(row["id"]),
            kind=row["kind"],
            params=json.loads(row["params"]),
            status=row["status"],
            submitted_by=row["submitted_by"],
            submitted_at=_aware(row["submitted_at"]),  # type: ignore[arg-type]
            idempotency_key=row["idempotency_key"],
            started_at=_aware(row["started_at"]),
            finished_at=_aware(row["finished_at"]),
            worker=row["worker"],
            progress=row["progress"],
            message=row["message"],
            result=None if row["result"] is None else json.loads(row["result"]),
            error=row["error"],
        )


# --------------------------------------------------------------------------- checking params
def _as_date(value: Any, name: str) -> str | None:
    if value in (None, ""):
        return None
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a date YYYY-MM-DD, got {value!r}") from None
    if isinstance(value, bool | int | float) or pd.isna(stamp):
        raise ConfigError(f"{name} must be a date YYYY-MM-DD, got {value!r}")
    return stamp.date().isoformat()


def _number(
    params: Mapping[str, Any], name: str, default: float, *, low: float, high: float, strict: bool = False
) -> float:
    value = params.get(name, default)
    if value is None:
        value = default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if value < low or value > high or (strict and value == low):
        op = ">" if strict else ">="
        raise ConfigError(f"{name} must be {op} {low:g} and <= {high:g}, got {value:g}")
    return float(value)


def _data_params(params: Mapping[str, Any], *, one_day: bool = False) -> dict[str, Any]:
    from ravenshire.config import parse_symbols

    version, symbols = params.get("version"), params.get("symbols")
    out: dict[str, Any] = {"start": _as_date(params.get("start"), "start"), "end": _as_date(params.get("end"), "end")}
    if out["start"] and out["end"] and (out["start"] > out["end"] or (out["start"] == out["end"] and not one_day)):
        raise ConfigError(f"start {out['start']} must be before end {out['end']}")
    if version:
        if not isinstance(version, str):
            raise ConfigError(f"version must be a data version id (text), got {version!r}")
        out["version"] = version.strip()
        return out
    if symbols in (None, "", []):
        out["symbols"] = None  # the configured universe
        return out
    text = symbols if isinstance(symbols, str) else ",".join(str(x) for x in symbols)
    try:
        out["symbols"] = list(parse_symbols(text))
    except ValueError as exc:
        raise ConfigError(f"symbols: {exc}") from None
    return out


def _costs(params: Mapping[str, Any]) -> dict[str, float]:
    from ravenshire.research import Costs

    raw = params.get("costs") or {}
    if not isinstance(raw, Mapping):
        raise ConfigError(
            f"costs must be an object of commission_bps, slippage_bps, fixed_per_trade, cash_rate; got {raw!r}"
        )
    allowed = {f.name for f in dataclasses.fields(Costs)}
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise ConfigError(f"unknown cost(s) {unknown}; the costs are {sorted(allowed)}")
    return Costs(**raw).to_dict()


def _space(spec: Any, raw: Any) -> dict[str, Any]:
    """JSON space {name: {"range": [a, b, step]} | {"choices": [...]}} (tuples/lists from Python accepted)."""
    from ravenshire.research.sweep import parse_space

    if not isinstance(raw, Mapping) or not raw:
        raise ConfigError('space must name at least one parameter, e.g. {"fast": {"range": [10, 50, 5]}}')
    space: dict[str, Any] = {}
    for name, value in raw.items():
        if isinstance(value, tuple):
            value = {"range": list(value)}
        elif isinstance(value, list):
            value = {"choices": value}
        if not isinstance(value, Mapping) or len(value) != 1 or next(iter(value)) not in ("range", "choices"):
            raise ConfigError(
                f'space {name!r} must be {{"range": [start, stop, step]}} or {{"choices": [..]}}, got {value!r}'
            )
        space[str(name)] = dict(value)
    parse_space(spec, _space_arg(space))  # raises on unknown names, bad ranges, wrong types
    return space


def _space_arg(space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    return {n: tuple(v["range"]) if "range" in v else list(v["choices"]) for n, v in space.items()}


def _whole(params: Mapping[str, Any], name: str, low: int, high: int, what: str) -> None:
    value = params.get(name)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high):
        raise ConfigError(f"{name} must be {what}, got {value!r}")


def _optimize_settings(spec: Any, params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"space": _space(spec, params.get("space"))}
    _whole(params, "trials", 1, 100_000, "a whole number in 1..100000")
    _whole(params, "walk_forward", 0, 50, "a whole number of folds in 0..50")
    _whole(params, "seed", 0, 2**32 - 1, "a whole number in [0, 2**32)")
    if params.get("test_fraction") is not None:
        _number(params, "test_fraction", 0.0, low=0.0, high=0.95)
    for key in ("trials", "method", "objective", "test_fraction", "walk_forward", "seed", "study"):
        if params.get(key) is not None:
            out[key] = params[key]
    return out


def _fetch_params(params: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - {"symbols", "start", "end", "refresh"})
    if unknown:
        raise ConfigError(f"a data_fetch job takes symbols, start, end and refresh; got {unknown}")
    fetch = _data_params({k: v for k, v in params.items() if k != "refresh"}, one_day=True)  # a day is a fetch
    refresh = params.get("refresh", False)
    if not isinstance(refresh, bool):
        raise ConfigError(f"refresh must be true or false, got {refresh!r}")
    return {"symbols": fetch.get("symbols"), "start": fetch["start"], "end": fetch["end"], "refresh": refresh}


def check_job(kind: str, params: Mapping[str, Any] | None, config: Config | None = None) -> dict[str, Any]:
    """The checked, normalized params of a ``kind`` job; ConfigError naming what is wrong and what is allowed."""
    from ravenshire.research.strategies import check_parameters, get_strategy

    if kind not in JOB_KINDS:
        raise ConfigError(f"unknown job kind {kind!r}; the kinds are {', '.join(JOB_KINDS)}")
    params = dict(params or {})
    if not isinstance(params, dict):
        raise ConfigError("job params must be an object")
    if kind == "ping":
        return {}
    if kind == "data_fetch":
        return _fetch_params(params)
    if kind.endswith("_cycle"):
        unknown = sorted(set(params) - {"date"})
        if unknown:
            raise ConfigError(f"a {kind} job takes only 'date', got {unknown}")
        date = _as_date(params.get("date"), "date")
        if date is not None and config is not None:
            from ravenshire.data.calendar import sessions

            if len(sessions(date, date, config.data.exchange)) == 0:
                raise ConfigError(f"date {date} is not a trading session of {config.data.exchange}")
        return {"date": date} if date else {}
    spec = get_strategy(str(params.get("strategy") or ""))
    out: dict[str, Any] = {"strategy": spec.name, **_data_params(params), "costs": _costs(params)}
    out["capital"] = _number(params, "capital", 100_000.0, low=0.0, high=1e15, strict=True)
    out["risk_free"] = _number(params, "risk_free", 0.0, low=-0.5, high=1.0)
    if kind == "backtest":
        out["parameters"] = check_parameters(spec, params.get("parameters") or {})
        known = {"strategy", "parameters", "version", "symbols", "start", "end", "costs", "capital", "risk_free"}
    else:
        out.update(_optimize_settings(spec, params))
        known = {"strategy", "space", "version", "symbols", "start", "end", "costs", "capital", "risk_free", "trials",
                 "method", "objective", "test_fraction", "walk_forward", "seed", "study"}  # fmt: skip
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"unknown {kind} setting(s) {unknown}; allowed: {sorted(known)}")
    return out


# --------------------------------------------------------------------------- the queue
def submit_job(
    engine: Engine,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    submitted_by: str = "api",
    idempotency_key: str | None = None,
    config: Config | None = None,
) -> Job:
    """Check and queue a job; with ``idempotency_key``, a second submission returns the first job."""
    checked = check_job(kind, params, config)
    by = (submitted_by or "").strip()
    if not 1 <= len(by) <= 64:
        raise ConfigError(f"submitted_by must be a name of 1-64 characters, got {submitted_by!r}")
    if idempotency_key is not None and not 1 <= len(idempotency_key) <= 128:
        raise ConfigError("idempotency_key must have 1-128 characters")
    j = s.jobs
    with write(engine) as conn:
        if idempotency_key is not None:
            row = conn.execute(select(j).where(j.c.idempotency_key == idempotency_key)).mappings().first()
            if row is not None:
                if row["kind"] != kind or json.loads(row["params"]) != to_jsonable(checked):
                    raise ConfigError(f"idempotency_key {idempotency_key!r} was used for another job (#{row['id']})")
                return Job.from_row(row)
        job_id = conn.execute(
            insert(j).returning(j.c.id),
            {
                "kind": kind,
                "params": json.dumps(to_jsonable(checked), sort_keys=True),
                "status": "queued",
                "submitted_by": by,
                "submitted_at": _utcnow(),
                "idempotency_key": idempotency_key,
            },
        ).scalar_one()
        return Job.from_row(conn.execute(select(j).where(j.c.id == job_id)).mappings().one())


def get_job(engine: Engine, job_id: int) -> Job:
    """The job ``job_id``; ConfigError when there is none."""
    with read(engine) as conn:
        row = conn.execute(select(s.jobs).where(s.jobs.c.id == int(job_id))).mappings().first()
    if row is None:
        raise ConfigError(f"no job #{job_id}; list them with: python -m ravenshire jobs list")
    return Job.from_row(row)


def cancel_job(engine: Engine, job_id: int) -> Job:
    """Cancel a queued job. A running or finished one cannot be cancelled (ConfigError saying its status)."""
    j = s.jobs
    with write(engine) as conn:
        row = conn.execute(select(j).where(j.c.id == int(job_id))).mappings().first()
        if row is None:
            raise ConfigError(f"no job #{job_id}; list them with: python -m ravenshire jobs list")
        if row["status"] != "queued":
            raise ConfigError(f"job #{job_id} is {row['status']}: only a queued job can be cancelled")
        conn.execute(
            update(j).where(j.c.id == int(job_id), j.c.status == "queued"),
            {"status": "cancelled", "finished_at": _utcnow(), "message": "cancelled while queued"},
        )
        return Job.from_row(conn.execute(select(j).where(j.c.id == int(job_id))).mappings().one())


def list_jobs(
    engine: Engine, status: str | Sequence[str] | None = None, kind: str | None = None, limit: int = 200
) -> pd.DataFrame:
    """Jobs, newest first (columns as the table, params/result as JSON text, plus ``wait_s``)."""
    j = s.jobs
    query = select(j).order_by(j.c.id.desc()).limit(int(limit))
    if status is not None:
        query = query.where(j.c.status.in_([status] if isinstance(status, str) else list(status)))
    if kind is not None:
        query = query.where(j.c.kind == kind)
    with read(engine) as conn:
        frame = pd.DataFrame(conn.execute(query).mappings().all(), columns=list(j.c.keys()))
    for col in ("submitted_at", "started_at", "finished_at"):
        frame[col] = pd.to_datetime(frame[col], utc=True)
    frame["wait_s"] = (frame["started_at"] - frame["submitted_at"]).dt.total_seconds()
    return frame


def claim_next_job(engine: Engine, worker: str) -> Job | None:
    """Take the oldest queued job for ``worker`` (host:pid:start), or None. Atomic: no two workers get one job."""
    jobs = claim_jobs(engine, worker, 1)
    return jobs[0] if jobs else None


def claim_jobs(engine: Engine, worker: str, limit: int) -> list[Job]:
    """Take up to ``limit`` of the oldest queued jobs for ``worker`` in one transaction (oldest first)."""
    j = s.jobs
    with write(engine) as conn:
        query = select(j.c.id).where(j.c.status == "queued").order_by(j.c.id).limit(int(limit))
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        ids = list(conn.execute(query).scalars())
        if not ids:
            return []
        conn.execute(
            update(j).where(j.c.id.in_(ids), j.c.status == "queued"),
            {"status": "running", "started_at": _utcnow(), "worker": worker[:160], "progress": 0.0},
        )
        rows = conn.execute(
            select(j).where(j.c.id.in_(ids), j.c.status == "running", j.c.worker == worker[:160]).order_by(j.c.id)
        ).mappings()
        return [Job.from_row(row) for row in rows]


def set_progress(engine: Engine, job_id: int, progress: float | None, message: str | None = None) -> None:
    """Record a running job's progress (0..1) and its latest line."""
    with write(engine) as conn:
        conn.execute(
            update(s.jobs).where(s.jobs.c.id == job_id, s.jobs.c.status == "running"),
            {"progress": None if progress is None else min(1.0, max(0.0, float(progress))), "message": message},
        )


def _end_values(
    status: str, result: Mapping[str, Any] | None, error: str | None, message: str | None
) -> dict[str, Any]:
    if status not in ("succeeded", "failed", "interrupted"):
        raise ValueError(f"a job finishes as succeeded, failed or interrupted, not {status!r}")
    values: dict[str, Any] = {"status": status, "finished_at": _utcnow(), "error": error}
    if result is not None:
        values["result"] = json.dumps(to_jsonable(dict(result)))
    if status == "succeeded":
        values["progress"] = 1.0
    if message is not None:
        values["message"] = message
    return values


def finish_job(
    engine: Engine,
    job_id: int,
    status: str,
    *,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
    message: str | None = None,
) -> None:
    """Record how a running job ended (succeeded, failed or interrupted)."""
    values = _end_values(status, result, error, message)
    with write(engine) as conn:
        conn.execute(update(s.jobs).where(s.jobs.c.id == job_id, s.jobs.c.status == "running"), values)


def finish_and_claim(engine: Engine, worker: str, ended: Mapping[str, Any] | None) -> Job | None:
    """In one transaction: record ``ended`` (the keyword arguments of :func:`finish_job`, with ``job_id`` and
    ``status``) when given, then take the oldest queued job for ``worker`` (None when the queue is empty)."""
    j = s.jobs
    with write(engine) as conn:
        if ended is not None:
            e = dict(ended)
            values = _end_values(e.pop("status"), e.get("result"), e.get("error"), e.get("message"))
            conn.execute(update(j).where(j.c.id == e["job_id"], j.c.status == "running"), values)
        query = select(j.c.id).where(j.c.status == "queued").order_by(j.c.id).limit(1)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        job_id = conn.execute(query).scalar()
        if job_id is None:
            return None
        conn.execute(
            update(j).where(j.c.id == job_id, j.c.status == "queued"),
            {"status": "running", "started_at": _utcnow(), "worker": worker[:160], "progress": 0.0},
        )
        return Job.from_row(conn.execute(select(j).where(j.c.id == job_id)).mappings().one())

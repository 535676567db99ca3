"""The three daily cycles, each keyed by (kind, business date) in the ``cycles`` table so it does its work once.

=============  =====================================================================  =========================
cycle          steps (a workflow: each step stored with attempts, duration, log)      business date
=============  =====================================================================  =========================
``data``       claim → fetch (fetch, validate, store what the store lacks up to D)    the latest session closed
               → snapshot (a data version of the universe up to D) → complete        at the run time
``monitoring`` claim (needs D's bars stored) → orders (resting orders on the new      the same
               bars) → mark (the daily snapshot of D) → drift (the day's return to
               the drift detectors) → risk (VaR, leverage, concentration against
               ``[RISK]``) → complete
``agent``      check (the newest stored session D; done already?) → cycle             the newest stored session
               (:meth:`AgentCoordinator.run_cycle`, which keys and fences itself)
=============  =====================================================================  =========================

Exactly once. A data or monitoring cycle is claimed in one transaction: a ``completed`` row is returned as
done (the workflow run is recorded as ``skipped``), a ``running`` row younger than :data:`STALE_AFTER` belongs to
another process and is refused, a ``failed`` (or stale ``running``) row is taken over with ``attempts + 1``, and
every later write of the run is fenced by that attempt number: a run that lost its claim writes nothing. Each
step is idempotent (fetches store only what is missing, the snapshot of D is replaced, a drift date is fed once,
resting orders fill once), so re-running a cycle that died half-way gives the same rows as one clean run. The
agent cycle's orders carry client order ids, so a re-run sends nothing twice.

A process killed mid-cycle leaves its workflow run and its cycle ``running``. :func:`recover_interrupted`, called
by the scheduler at start (and by ``--once``), finds runs whose process is gone (same host, the pid no longer
exists), records them and their steps as ``interrupted`` and marks their ``running`` cycle ``failed``, so the
catch-up runs it again at once instead of after :data:`STALE_AFTER`. A ``decided`` agent cycle stays decided:
its stored orders are sent on the re-run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from ravenshire.agents.base import to_jsonable
from ravenshire.agents.coordinator import STALE_AFTER
from ravenshire.config import Config
from ravenshire.errors import ConfigError, OperationalError
from ravenshire.orchestration.workflow import (
    HOST,
    LostClaim,
    NotReady,
    Skip,
    StepContext,
    Workflow,
    WorkflowBuilder,
    WorkflowExecutor,
    WorkflowRun,
    owner_alive,
)
from ravenshire.store import read, write
from ravenshire.store import schema as s
from ravenshire.store.dates import date_key, from_date_keys

__all__ = [
    "CYCLE_KINDS",
    "CycleOutcome",
    "agent_business_date",
    "build_cycle_workflow",
    "completed_dates",
    "cycle_id",
    "market_business_date",
    "recover_interrupted",
    "run_cycle",
]

#: The daily cycles, in the order they run for one business date.
CYCLE_KINDS: tuple[str, ...] = ("data", "monitoring", "agent")
WORKFLOW_NAMES = {"data": "data_cycle", "monitoring": "monitoring_cycle", "agent": "agent_cycle"}


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def cycle_id(kind: str, date: pd.Timestamp) -> str:
    """The cycle's key: ``<kind>-YYYY-MM-DD`` (the agent coordinator's own format)."""
    return f"{kind}-{date.date().isoformat()}"


@dataclasses.dataclass(frozen=True, kw_only=True)
class CycleOutcome:
    """What one run of a cycle did: the workflow run (steps and their ends) and the cycle's stored summary."""

    kind: str
    cycle_id: str | None
    business_date: pd.Timestamp | None
    status: str  # the workflow run's: succeeded | skipped | failed | interrupted
    summary: Mapping[str, Any]
    run: WorkflowRun

    @property
    def ok(self) -> bool:
        return self.run.ok

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "cycle_id": self.cycle_id,
            "business_date": None if self.business_date is None else self.business_date.date().isoformat(),
            "status": self.status,
            "summary": to_jsonable(dict(self.summary)),
            "run": self.run.to_dict(),
        }


# --------------------------------------------------------------------------- business dates
def market_business_date(config: Config, at: dt.datetime | None = None) -> pd.Timestamp:
    """The data and monitoring cycles' business date at ``at``: the latest session of ``[DATA] exchange``
    closed by then (its daily bar exists)."""
    from ravenshire.data.calendar import last_closed_session

    return last_closed_session(pd.Timestamp(at or _utcnow()), config.data.exchange)


def agent_business_date(engine: Engine, config: Config) -> pd.Timestamp | None:
    """The agent cycle's business date: the newest session with stored bars of the configured universe (the
    decision uses the latest data the data cycle stored); None on an empty store."""
    from ravenshire.execution.market import StoreBars

    return StoreBars(engine, config).latest_date()


def completed_dates(engine: Engine, kind: str) -> set[pd.Timestamp]:
    """Business dates whose ``kind`` cycle is done (``completed``, or ``expired``/``skipped`` for agents)."""
    c = s.cycles
    with read(engine) as conn:
        keys = conn.execute(
            select(c.c.business_date).where(c.c.kind == kind, c.c.status.in_(("completed", "expired", "skipped")))
        ).scalars()
        return set(from_date_keys(list(keys)))


# --------------------------------------------------------------------------- claims (data, monitoring)
class _Claim:
    """A claimed data or monitoring cycle: every write is fenced by ``attempt``."""

    def __init__(self, engine: Engine, config: Config, kind: str, date: pd.Timestamp) -> None:
        self.engine, self.config, self.kind, self.date = engine, config, kind, date
        self.id = cycle_id(kind, date)
        self.attempt = 0
        self.started = time.perf_counter()

    def claim(self, now: dt.datetime) -> Skip | None:
        c = s.cycles
        with write(self.engine) as conn:
            row = conn.execute(select(c).where(c.c.id == self.id)).mappings().first()
            if row is not None and row["status"] == "completed":
                return Skip(f"{self.id} completed at {_aware(row['finished_at']):%Y-%m-%d %H:%M} UTC")
            if row is not None and row["status"] == "running":
                started = _aware(row["started_at"])
                if started is not None and now - started < STALE_AFTER:
                    raise OperationalError(
                        f"{self.id} is running in another process (since {started:%H:%M:%S} UTC); it is taken "
                        f"over after {STALE_AFTER} without finishing"
                    )
            if row is None:
                self.attempt = 1
                conn.execute(
                    insert(c),
                    {
                        "id": self.id,
                        "kind": self.kind,
                        "business_date": date_key(self.date),
                        "status": "running",
                        "attempts": 1,
                        "is_demo": self.config.is_demo,
                        "started_at": now,
                    },
                )
            else:
                self.attempt = int(row["attempts"]) + 1
                conn.execute(
                    update(c).where(c.c.id == self.id),
                    {
                        "status": "running",
                        "attempts": self.attempt,
                        "error": None,
                        "started_at": now,
                        "finished_at": None,
                        "is_demo": self.config.is_demo,
                    },
                )
        return None

    def touch(self) -> None:
        """Renew the claim (its ``started_at``) so that a long cycle of a live process is not taken for a dead
        one after :data:`STALE_AFTER`; each step does it when it starts."""
        if self.attempt:
            with write(self.engine) as conn:
                if conn.execute(self._fenced(), {"started_at": _utcnow()}).rowcount != 1:
                    raise LostClaim(  # not retried: another process owns the cycle now
                        f"{self.id} was taken over by another process (attempt {self.attempt} is no longer its "
                        "owner): this run stops"
                    )

    def step(self, func: Callable[[StepContext], Any]) -> Callable[[StepContext], Any]:
        """``func`` renewing the claim first."""

        def renewed(ctx: StepContext) -> Any:
            self.touch()
            return func(ctx)

        renewed.__name__ = getattr(func, "__name__", "step")
        return renewed

    def _fenced(self) -> Any:
        c = s.cycles
        return update(c).where(c.c.id == self.id, c.c.attempts == self.attempt, c.c.status == "running")

    def complete(self, summary: Mapping[str, Any], data_version: str | None = None) -> None:
        values: dict[str, Any] = {
            "status": "completed",
            "summary": json.dumps(to_jsonable(dict(summary))),
            "finished_at": _utcnow(),
            "duration_s": time.perf_counter() - self.started,
        }
        if data_version is not None:
            values["data_version"] = data_version
        with write(self.engine) as conn:
            if conn.execute(self._fenced(), values).rowcount != 1:
                raise OperationalError(f"{self.id} was taken over by another process; this run's result is dropped")

    def fail(self, error: str) -> None:
        if self.attempt == 0:
            return
        with write(self.engine) as conn:
            conn.execute(
                self._fenced(),
                {"status": "failed", "error": error[:4000], "finished_at": _utcnow(),
                 "duration_s": time.perf_counter() - self.started},
            )  # fmt: skip


# --------------------------------------------------------------------------- the workflows
def _data_workflow(
    engine: Engine, config: Config, date: pd.Timestamp, claim: _Claim, retry: Mapping[str, Any]
) -> Workflow:
    from ravenshire.data import DataManager

    def claim_step(ctx: StepContext) -> Any:
        return claim.claim(_utcnow()) or {"cycle_id": claim.id, "attempt": claim.attempt}

    def fetch(ctx: StepContext) -> dict[str, Any]:
        manager = DataManager(config, engine=engine, origin="scheduler")
        summaries = manager.fetch(list(config.data.universe), end_date=date.date())
        for summary in summaries:
            ctx.log.info(
                "fetch #%s %s %d symbols: %s, %d stored, %d rejected",
                summary.fetch_id, summary.source, len(summary.symbols), summary.status, summary.rows_stored,
                summary.rows_rejected,
            )  # fmt: skip
        failed = [x for x in summaries if x.status == "failed"]
        if failed:
            raise OperationalError(
                "fetch failed: " + "; ".join(f"{x.source} {','.join(x.symbols[:5])}: {x.message}" for x in failed)
            )
        return {
            "fetches": len(summaries),
            "rows_stored": sum(x.rows_stored for x in summaries),
            "rows_rejected": sum(x.rows_rejected for x in summaries),
        }

    def snapshot(ctx: StepContext) -> dict[str, Any]:
        manager = DataManager(config, engine=engine, origin="scheduler")
        universe = [sym for sym in config.data.universe if manager.fetcher.source_for(sym) != "import"] or list(
            config.data.universe
        )
        data = manager.load_stored(
            [(sym, manager.fetcher.source_for(sym)) for sym in universe], config.data.history_start, date.date()
        )
        if data.empty:
            raise OperationalError(f"no stored bars of the universe up to {date.date()} after the fetch")
        newest = pd.Timestamp(data.index[-1])
        if newest < date:  # retried: a vendor may publish the day's bars later
            raise OperationalError(
                f"no bar of {date.date()} is stored after the fetch (newest {newest.date()}): the source has not "
                "published the day yet"
            )
        version = manager.create_version(data, label=f"data cycle {date.date()}")
        return {"data_version": version.id, "symbols": len(version.symbols), "newest_bar": str(newest.date())}

    def complete(ctx: StepContext) -> dict[str, Any]:
        summary = {"fetch": ctx.result("fetch"), "snapshot": ctx.result("snapshot")}
        claim.complete(summary, data_version=ctx.result("snapshot")["data_version"])
        return summary

    return (
        WorkflowBuilder("data_cycle", "fetch, validate and store the universe's bars up to D, then snapshot them")
        .step("claim", claim_step)
        .step("fetch", claim.step(fetch), depends_on=["claim"], **retry)
        .step("snapshot", claim.step(snapshot), depends_on=["fetch"], **retry)
        .step("complete", complete, depends_on=["fetch", "snapshot"])
        .build()
    )


def _monitoring_workflow(
    engine: Engine, config: Config, date: pd.Timestamp, claim: _Claim, retry: Mapping[str, Any]
) -> Workflow:
    from ravenshire.execution import ExecutionManager

    def execution() -> ExecutionManager:
        return ExecutionManager(config, engine=engine, origin="scheduler")

    def claim_step(ctx: StepContext) -> Any:
        newest = execution().bars.latest_date()
        if newest is None or newest < date:
            state = _cycle_status(engine, cycle_id("data", date))
            raise NotReady(
                f"the bars of {date.date()} are not stored yet (newest {None if newest is None else newest.date()}; "
                f"data cycle {date.date()}: {state}); the monitoring cycle runs after the data cycle"
            )
        return claim.claim(_utcnow()) or {"cycle_id": claim.id, "attempt": claim.attempt}

    def orders(ctx: StepContext) -> dict[str, Any]:
        changed = execution().process_open_orders()
        ctx.log.info("%d working order(s) changed on the new bars", len(changed))
        return {"changed": len(changed), "filled": sum(1 for o in changed if str(o.status) == "filled")}

    def mark(ctx: StepContext) -> dict[str, Any]:
        metrics = execution().mark_to_market(date)
        ctx.log.info("snapshot %s: equity %.2f, drawdown %.2f%%", date.date(), metrics.equity,
                     100 * metrics.current_drawdown)  # fmt: skip
        return {
            "equity": metrics.equity,
            "daily_pnl": metrics.daily_pnl,
            "drawdown": metrics.current_drawdown,
            "gross_exposure": metrics.gross_exposure,
            "positions": metrics.n_positions,
        }

    def drift(ctx: StepContext) -> Any:
        return _drift_step(engine, execution(), date)

    def risk(ctx: StepContext) -> Any:
        return _risk_step(engine, config, execution(), date, ctx)

    def complete(ctx: StepContext) -> dict[str, Any]:
        summary = {name: ctx.result(name) for name in ("orders", "mark", "drift", "risk")}
        claim.complete(summary)
        return summary

    return (
        WorkflowBuilder("monitoring_cycle", "fill resting orders, mark to market, drift detectors, risk snapshot")
        .step("claim", claim_step, **retry)
        .step("orders", claim.step(orders), depends_on=["claim"], **retry)
        .step("mark", claim.step(mark), depends_on=["orders"], **retry)
        .step("drift", claim.step(drift), depends_on=["mark"], **retry)
        .step("risk", claim.step(risk), depends_on=["mark"], **retry)
        .step("complete", complete, depends_on=["orders", "mark", "drift", "risk"])
        .build()
    )


def _drift_step(engine: Engine, ex: Any, date: pd.Timestamp) -> dict[str, Any]:
    """Feed the book's return of ``date`` (from the daily snapshots) to every started drift monitor."""
    from ravenshire.execution.drift_store import drift_subjects

    subjects = drift_subjects(engine)
    names = list(subjects["subject"]) if len(subjects) and "subject" in subjects else []
    if not names:
        return {"skipped": "no drift monitor started (python -m ravenshire drift start --run ID)"}
    curve = ex.equity_curve()
    equity = curve["equity"] if "equity" in curve else pd.Series(dtype=float)
    equity = equity[equity.index <= date]
    if len(equity) < 2 or equity.index[-1] != date:
        return {"skipped": f"no live return for {date.date()}: fewer than two daily snapshots up to it"}
    live = float(equity.iloc[-1] / equity.iloc[-2] - 1.0)
    events = []
    for subject in names:
        check = ex.check_for_drift(live, when=date, subject=subject)
        events += [f"{subject}: {e.message}" for e in check.events]
    return {"return": live, "subjects": names, "events": events}


def _risk_step(engine: Engine, config: Config, ex: Any, date: pd.Timestamp, ctx: StepContext) -> dict[str, Any]:
    """The book's risk against ``[RISK]``: weights from the positions, VaR from a year of the holdings' returns."""
    from ravenshire.data import DataManager
    from ravenshire.portfolio import PortfolioManager

    held = ex.positions()
    if held.empty:
        return {"skipped": "no open position"}
    equity = float(ex.get_performance_metrics().equity)
    if not equity > 0:
        return {"ok": False, "breaches": [f"equity {equity:.2f} is not positive"]}
    weights = held["market_value"].astype(float) / equity
    start = (date - pd.Timedelta(days=400)).date()
    manager = DataManager(config, engine=engine, origin="scheduler")
    prices = manager.close_prices(list(weights.index), start, date.date())
    asset_returns = prices.pct_change(fill_method=None).iloc[1:].dropna(how="all").fillna(0.0).tail(252)
    portfolio = PortfolioManager(equity, config=config)
    book = asset_returns[weights.index] @ weights
    curve = ex.equity_curve()
    equity_curve = curve["equity"] if "equity" in curve and len(curve) > 1 else None
    risk = portfolio.get_risk_metrics(book, equity_curve, weights=weights, asset_returns=asset_returns)
    out: dict[str, Any] = portfolio.check_limits(weights=weights, risk=risk).to_dict()
    for breach in out.get("breaches", []):
        ctx.log.warning("risk limit breached: %s", breach)
    return out


def _agent_workflow(engine: Engine, config: Config, date: pd.Timestamp | None, retry: Mapping[str, Any]) -> Workflow:
    from ravenshire.agents import AgentCoordinator

    def check(ctx: StepContext) -> Any:
        target = date if date is not None else agent_business_date(engine, config)
        if target is None:
            raise ConfigError("the store holds no market data yet: run the data cycle first")
        status = _cycle_status(engine, cycle_id("agent", target))
        if status in ("completed", "expired", "skipped"):
            return Skip(f"agent-{target.date()} is {status}")
        return {"business_date": str(target.date())}

    def cycle(ctx: StepContext) -> dict[str, Any]:
        result = AgentCoordinator(config, engine=engine).run_cycle(ctx.result("check")["business_date"])
        ctx.log.info(
            "%s: %s at confidence %s, %d veto(es), %d order(s)",
            result.cycle_id, result.recommendation, result.confidence, len(result.vetoes), len(result.orders),
        )  # fmt: skip
        return result.to_dict()

    return (
        WorkflowBuilder("agent_cycle", "Oracle → Analyst → Strategist → Sentinel → Sovereign → orders")
        .step("check", check)
        .step("cycle", cycle, depends_on=["check"], **retry)
        .build()
    )


def _cycle_status(engine: Engine, key: str) -> str:
    with read(engine) as conn:
        status = conn.execute(select(s.cycles.c.status).where(s.cycles.c.id == key)).scalar()
    return status or "not run"


def build_cycle_workflow(
    kind: str, engine: Engine, config: Config, date: pd.Timestamp | None
) -> tuple[Workflow, _Claim | None]:
    """The workflow of one cycle (see the module docstring) and, for data and monitoring, its claim."""
    sched = config.schedule
    retry: dict[str, Any] = {"retries": sched.retries, "backoff": sched.retry_backoff, "timeout": sched.step_timeout}
    if kind == "agent":
        return _agent_workflow(engine, config, date, retry), None
    if date is None:
        raise ConfigError(f"the {kind} cycle needs a business date")
    claim = _Claim(engine, config, kind, date)
    if kind == "data":
        return _data_workflow(engine, config, date, claim, retry), claim
    if kind == "monitoring":
        return _monitoring_workflow(engine, config, date, claim, retry), claim
    raise ConfigError(f"unknown cycle {kind!r}; the cycles are {', '.join(CYCLE_KINDS)}")


def run_cycle(
    kind: str,
    engine: Engine,
    config: Config,
    date: Any = None,
    *,
    trigger: str = "manual",
    executor: WorkflowExecutor | None = None,
    job_id: int | None = None,
) -> CycleOutcome:
    """Run the ``kind`` cycle of business date ``date`` once (default: its business date now) as a stored
    workflow run. A cycle already done is a ``skipped`` run that changes nothing."""
    from ravenshire.orchestration.workflow import run_sync

    if kind not in CYCLE_KINDS:
        raise ConfigError(f"unknown cycle {kind!r}; the cycles are {', '.join(CYCLE_KINDS)}")
    business = _check_date(config, date) if date is not None else None
    if business is None and kind != "agent":
        business = market_business_date(config)
    workflow, claim = build_cycle_workflow(kind, engine, config, business)
    key = cycle_id(kind, business) if business is not None else None
    if key is None:  # the agent's date is the newest stored session: known now, before the run starts
        newest = agent_business_date(engine, config)
        key = None if newest is None else cycle_id(kind, newest)
        business = newest
    executor = executor or WorkflowExecutor(engine)
    try:
        run = run_sync(
            executor,
            workflow,
            trigger=trigger,
            cycle_id=key,
            business_date=None if business is None else date_key(business),
            job_id=job_id,
        )
    except BaseException as exc:  # Ctrl-C, a store error while recording: the claim must not stay running
        if claim is not None and claim.attempt:
            claim.fail(f"interrupted: {type(exc).__name__}: {exc}")
        raise
    if claim is not None and run.status in ("failed", "interrupted") and claim.attempt:
        claim.fail(run.error or run.status)
    summary: Mapping[str, Any] = {}
    last = run.steps.get("complete") or run.steps.get("cycle")
    if last is not None and isinstance(last.value, Mapping):
        summary = last.value
    return CycleOutcome(kind=kind, cycle_id=key, business_date=business, status=run.status, summary=summary, run=run)


def _check_date(config: Config, value: Any) -> pd.Timestamp:
    from ravenshire.data.calendar import sessions

    if isinstance(value, bool | int | float):
        raise ConfigError(f"the date must be YYYY-MM-DD, got the number {value!r}")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError):
        raise ConfigError(f"the date must be YYYY-MM-DD, got {value!r}") from None
    if pd.isna(stamp):
        raise ConfigError(f"the date must be YYYY-MM-DD, got {value!r}")
    date = (stamp.tz_localize(None) if stamp.tzinfo is not None else stamp).normalize()
    if len(sessions(date, date, config.data.exchange)) == 0:
        raise ConfigError(f"{date.date()} is not a trading session of {config.data.exchange} ([DATA] exchange)")
    return date


# --------------------------------------------------------------------------- recovery after a crash
def recover_interrupted(
    engine: Engine,
    *,
    alive: Callable[[str | None], bool | None] = owner_alive,
    dead_owner: tuple[str, int] | None = None,
) -> list[dict[str, Any]]:
    """Record what a process that died left ``running`` — its workflow runs and their steps as ``interrupted``,
    its ``running`` cycles as ``failed`` (so the catch-up runs them again now instead of after
    :data:`STALE_AFTER`), its jobs as ``interrupted`` — and return it.

    A run's owner is dead when it is a process of this host that no longer exists (or whose pid now names a later
    process: the owner records the process's start time), or the process ``dead_owner`` = (host, pid): the
    scheduler whose stale lease the caller has just taken over, on any host. A cycle that another run still alive
    is working on is left alone.
    """
    wr, sr, c, j = s.workflow_runs, s.step_runs, s.cycles, s.jobs
    now = _utcnow()
    recovered: list[dict[str, Any]] = []

    def dead(owner: str | None, host: str, pid: int) -> bool:
        if owner is None and host == HOST:  # a row from before owners were recorded
            owner = f"{host}:{pid}"
        state = alive(owner)
        if state is None and dead_owner is not None and (host, pid) == dead_owner:
            return True  # another host's process whose lease was taken over: it stopped beating
        return state is False

    with write(engine) as conn:
        running = select(wr.c.id, wr.c.workflow, wr.c.pid, wr.c.host, wr.c.owner, wr.c.cycle_id).where(
            wr.c.status == "running"
        )
        rows = conn.execute(running).mappings().all()
        gone = [r for r in rows if dead(r["owner"], r["host"], int(r["pid"]))]
        live_cycles = {r["cycle_id"] for r in rows if r not in gone and r["cycle_id"]}
        for row in gone:
            why = f"interrupted: the process (pid {row['pid']} on {row['host']}) stopped during the run"
            conn.execute(update(wr).where(wr.c.id == row["id"]), {"status": "interrupted", "error": why,
                                                                   "finished_at": now})  # fmt: skip
            conn.execute(
                update(sr).where(
                    sr.c.workflow_run_id == row["id"], sr.c.status.in_(("pending", "running", "retrying"))
                ),
                {"status": "interrupted", "error": why, "finished_at": now},
            )
            cycle_failed = False
            if row["cycle_id"] and row["cycle_id"] not in live_cycles:
                failed = update(c).where(c.c.id == row["cycle_id"], c.c.status == "running")
                cycle_failed = (
                    conn.execute(failed, {"status": "failed", "error": why, "finished_at": now}).rowcount == 1
                )
            recovered.append({"workflow_run": row["id"], "workflow": row["workflow"], "cycle_id": row["cycle_id"],
                              "cycle_failed": cycle_failed})  # fmt: skip
        for job in conn.execute(select(j.c.id, j.c.worker).where(j.c.status == "running")).mappings().all():
            host, _, rest = (job["worker"] or "").partition(":")
            pid = rest.partition(":")[0]
            if not pid.isdigit() or not dead(job["worker"], host, int(pid)):
                continue
            conn.execute(
                update(j).where(j.c.id == job["id"], j.c.status == "running"),
                {"status": "interrupted", "finished_at": now,
                 "error": f"interrupted: the scheduler (pid {pid} on {host}) stopped while it ran; submit it again"},
            )  # fmt: skip
            recovered.append({"job": job["id"]})
    return recovered

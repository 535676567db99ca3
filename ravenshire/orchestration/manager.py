"""``OrchestrationManager``: the seed's entry point to workflows, schedules, cycles and the job queue.

::

    om = OrchestrationManager()
    wf = om.create_data_fetch_workflow(DataManager())            # fetch → validate → snapshot, with retries
    om.schedule_workflow(workflow=wf, schedule_time="16:00", frequency="daily")
    run = await om.run_workflow(wf)                               # stored: workflow_runs + step_runs
    om.run_scheduler()                                            # what ``python scheduler.py`` does

Defining a schedule starts no clock; only :meth:`run_scheduler` (one process per store) does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Engine

from ravenshire.config import Config, load_config
from ravenshire.errors import OperationalError
from ravenshire.orchestration import jobs as _jobs
from ravenshire.orchestration.cycles import CycleOutcome, build_cycle_workflow, run_cycle
from ravenshire.orchestration.schedule import (
    Heartbeat,
    ScheduleEntry,
    ScheduleManager,
    SchedulerService,
    scheduler_heartbeat,
)
from ravenshire.orchestration.workflow import StepContext, Workflow, WorkflowBuilder, WorkflowExecutor, WorkflowRun
from ravenshire.store import init_db

__all__ = ["OrchestrationManager"]


class OrchestrationManager:
    """Workflows, the schedule, the daily cycles and the job queue on one store (see the module docstring)."""

    def __init__(self, config: Config | None = None, *, engine: Engine | None = None) -> None:
        self.config = config if config is not None else load_config()
        self.engine = engine or init_db(self.config.store_url, busy_timeout_ms=self.config.store.busy_timeout_ms)
        self.executor = WorkflowExecutor(self.engine)
        self.schedule = ScheduleManager(self.config)

    # ------------------------------------------------------------------ workflows
    def create_data_fetch_workflow(
        self, data_manager: Any = None, symbols: Sequence[str] | None = None, end_date: Any = None
    ) -> Workflow:
        """fetch (what the store lacks of ``symbols``, default the universe, up to ``end_date``) → validate (the
        stored bars) → snapshot (a data version), each step retried per ``[SCHEDULE]``."""
        from ravenshire.data import DataManager

        manager = data_manager or DataManager(self.config, engine=self.engine, origin="workflow")
        universe = list(symbols) if symbols is not None else list(manager.config.data.universe)
        sched = self.config.schedule
        retry: dict[str, Any] = {
            "retries": sched.retries,
            "backoff": sched.retry_backoff,
            "timeout": sched.step_timeout,
        }

        def fetch(ctx: StepContext) -> dict[str, Any]:
            summaries = manager.fetch(universe, end_date=end_date)
            failed = [x for x in summaries if x.status == "failed"]
            if failed:
                raise OperationalError("fetch failed: " + "; ".join(f"{x.source}: {x.message}" for x in failed))
            ctx.log.info("%d fetch(es), %d rows stored", len(summaries), sum(x.rows_stored for x in summaries))
            return {"fetches": len(summaries), "rows_stored": sum(x.rows_stored for x in summaries)}

        def validate(ctx: StepContext) -> dict[str, Any]:
            summary, report = manager.validate_stored(universe, None, end_date)
            ctx.log.info("validation: %s, %d issue(s)", summary.status, len(report.issues))
            return {"status": summary.status, "issues": len(report.issues)}

        def snapshot(ctx: StepContext) -> dict[str, Any]:
            data = manager.get_market_data(universe, None, end_date, create_version=True, label="data fetch workflow")
            return {"data_version": data.attrs.get("data_version"), "days": len(data)}

        return (
            WorkflowBuilder("data_fetch", "fetch, validate and snapshot the universe")
            .step("fetch", fetch, **retry)
            .step("validate", validate, depends_on=["fetch"], **retry)
            .step("snapshot", snapshot, depends_on=["validate"], **retry)
            .build()
        )

    def create_cycle_workflow(self, kind: str, business_date: Any = None) -> Workflow:
        """The workflow of a daily cycle (``data``, ``monitoring``, ``agent``); see :mod:`.cycles`."""
        date = None if business_date is None else pd.Timestamp(business_date).normalize()
        return build_cycle_workflow(kind, self.engine, self.config, date)[0]

    async def run_workflow(self, workflow: Workflow, params: Mapping[str, Any] | None = None) -> WorkflowRun:
        """Run ``workflow`` now; its run and steps are stored."""
        return await self.executor.run(workflow, params, trigger="manual")

    def schedule_workflow(
        self, workflow: Workflow, schedule_time: str = "16:00", frequency: str = "daily"
    ) -> ScheduleEntry:
        """Schedule ``workflow`` at ``schedule_time`` (HH:MM[:SS] in ``[SCHEDULE] timezone``) ``frequency``
        (daily, weekdays, hourly, weekly); it runs once :meth:`run_scheduler` runs. Returns the entry (its id is
        ``workflow:<name>``, replaced when scheduled again)."""
        from ravenshire.orchestration.workflow import run_sync

        trigger = self.schedule.trigger(schedule_time, frequency)

        def fire() -> None:
            run_sync(self.executor, workflow, trigger="schedule")

        return self.schedule.add(f"workflow:{workflow.name}", workflow.name, fire, trigger)

    def run_scheduler(self) -> int:
        """Run the scheduler process (the daily cycles, the scheduled workflows, the job queue) until SIGTERM."""
        service = SchedulerService(self.config, self.engine, schedule=self.schedule)
        self.executor.stop = service.stop  # scheduled workflows stop with the scheduler, too
        return service.run()

    # ------------------------------------------------------------------ cycles, jobs, heartbeat
    def run_cycle(self, kind: str, business_date: Any = None, *, trigger: str = "manual") -> CycleOutcome:
        """Run one daily cycle now (keyed: a cycle already done changes nothing)."""
        return run_cycle(kind, self.engine, self.config, business_date, trigger=trigger, executor=self.executor)

    def submit_job(self, kind: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> _jobs.Job:
        """Queue a job for the scheduler (see :mod:`.jobs`)."""
        return _jobs.submit_job(self.engine, kind, params, config=self.config, **kwargs)

    def cancel_job(self, job_id: int) -> _jobs.Job:
        return _jobs.cancel_job(self.engine, job_id)

    def get_job(self, job_id: int) -> _jobs.Job:
        return _jobs.get_job(self.engine, job_id)

    def list_jobs(self, **kwargs: Any) -> pd.DataFrame:
        return _jobs.list_jobs(self.engine, **kwargs)

    def heartbeat(self) -> Heartbeat | None:
        """The scheduler's heartbeat (None: no scheduler ever ran on this store)."""
        return scheduler_heartbeat(self.engine, self.config.schedule.heartbeat_seconds)

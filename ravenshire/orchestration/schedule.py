"""The clock: :class:`ScheduleManager` (cron entries on APScheduler 3) and :class:`SchedulerService`, the
process behind ``python scheduler.py``.

The service
-----------
- One ``BlockingScheduler`` in UTC (or ``[SCHEDULE] timezone``) with the job defaults daily jobs need:
  ``coalesce=True`` (a backlog of one job's fire times runs once), ``max_instances=1`` and
  ``misfire_grace_time = [SCHEDULE] misfire_grace`` seconds (APScheduler's default is one second).
- The three cycle jobs are defined in code and added at every start with fixed ids (``data_cycle``,
  ``agent_cycle``, ``monitoring_cycle``) on an in-memory job store: nothing is pickled, nothing is shared.
- Each fire brings its cycle up to date: the business dates due by now (see :meth:`SchedulerService.plan`) that
  have no completed cycle in the ``cycles`` table run in date order, at most ``[SCHEDULE] catchup_sessions``
  sessions back. At start, a one-off ``catch-up`` job does the same for all three cycles (after
  :func:`~ravenshire.orchestration.cycles.recover_interrupted` has marked what a killed predecessor left
  running), ordered by business date then data → monitoring → agent.
- Cycles take one lock, so two never run at once in this process; other processes are kept out by the cycles'
  claims.
- Only one scheduler runs against a store: at start it takes the ``scheduler_state`` row (refused while another
  one's heartbeat is fresh), beats every ``heartbeat_seconds`` with the next run times for the UI, and stops if
  its row was taken over.
- SIGTERM/SIGINT: the scheduler shuts down waiting for the cycle in flight, whose workflow finishes the step in
  flight and records the rest as ``interrupted``; running queue jobs get a grace period, then are recorded as
  interrupted; the heartbeat row says ``stopped``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import os
import secrets
import signal
import threading
import zoneinfo
from collections.abc import Callable, Iterable
from typing import Any

import pandas as pd
from sqlalchemy import Engine, insert, select, update

from ravenshire.config import Config
from ravenshire.errors import ConfigError, OperationalError
from ravenshire.orchestration.cycles import (
    CYCLE_KINDS,
    WORKFLOW_NAMES,
    CycleOutcome,
    agent_business_date,
    completed_dates,
    recover_interrupted,
    run_cycle,
)
from ravenshire.orchestration.runner import JobRunner
from ravenshire.orchestration.workflow import HOST, WorkflowExecutor, owner_alive, process_owner
from ravenshire.store import read, write
from ravenshire.store import schema as s

__all__ = ["FREQUENCIES", "ScheduleEntry", "ScheduleManager", "SchedulerService", "scheduler_heartbeat"]

log = logging.getLogger("ravenshire.scheduler")

#: ``schedule_workflow`` frequencies → cron fields (``time`` gives hour/minute/second).
FREQUENCIES = ("daily", "weekdays", "hourly", "weekly")
STATE_NAME = "scheduler"


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _parse_time(value: str | dt.time) -> dt.time:
    if isinstance(value, dt.time):
        return value
    from ravenshire.config import _parse_time as parse

    try:
        return parse(str(value))
    except ValueError as exc:
        raise ConfigError(f"schedule_time {value!r}: {exc}") from None


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduleEntry:
    """A scheduled job: its fixed id, what it runs, its cron trigger and its next run time (UTC)."""

    id: str
    name: str
    trigger: str
    next_run: dt.datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "trigger": self.trigger,
            "next_run": None if self.next_run is None else self.next_run.isoformat(),
        }


class ScheduleManager:
    """Cron entries on an APScheduler 3 scheduler (``BlockingScheduler`` by default), UTC unless configured.

    Defining entries does not start anything: only :class:`SchedulerService` (``python scheduler.py``) starts the
    scheduler, so the UI or a notebook can build and list a schedule without ever running a second clock.
    """

    def __init__(self, config: Config, scheduler: Any = None) -> None:
        from apscheduler.schedulers.blocking import BlockingScheduler

        self.config = config
        self.timezone = zoneinfo.ZoneInfo(config.schedule.timezone)
        self.scheduler = scheduler or BlockingScheduler(
            timezone=self.timezone,
            job_defaults={
                "coalesce": True,
                "max_instances": 1,
                "misfire_grace_time": config.schedule.misfire_grace,
            },
        )

    def trigger(self, at: str | dt.time, frequency: str = "daily", days: str | None = None) -> Any:
        """A ``CronTrigger`` for ``frequency`` (one of :data:`FREQUENCIES`) at ``at`` (HH:MM[:SS])."""
        from apscheduler.triggers.cron import CronTrigger

        when = _parse_time(at)
        if frequency not in FREQUENCIES:
            raise ConfigError(f"frequency {frequency!r} is not one of {', '.join(FREQUENCIES)}")
        fields: dict[str, Any] = {"minute": when.minute, "second": when.second, "timezone": self.timezone}
        if frequency != "hourly":
            fields["hour"] = when.hour
        if frequency == "weekdays":
            fields["day_of_week"] = days or self.config.schedule.days
        elif frequency == "weekly":
            fields["day_of_week"] = "mon"
        return CronTrigger(**fields)

    def add(self, job_id: str, name: str, func: Callable[[], Any], trigger: Any) -> ScheduleEntry:
        """Add (or replace: ids are fixed) a job."""
        self.scheduler.add_job(func, trigger, id=job_id, name=name, replace_existing=True)
        return self.entry(job_id)

    def entry(self, job_id: str) -> ScheduleEntry:
        job = self.scheduler.get_job(job_id)
        if job is None:
            raise ConfigError(f"no scheduled job {job_id!r}")
        nxt = getattr(job, "next_run_time", None)
        if nxt is None:  # not started: the trigger's next fire from now
            nxt = job.trigger.get_next_fire_time(None, dt.datetime.now(self.timezone))
        return ScheduleEntry(
            id=job.id,
            name=job.name,
            trigger=str(job.trigger),
            next_run=None if nxt is None else nxt.astimezone(dt.UTC),
        )

    def entries(self) -> list[ScheduleEntry]:
        """Every job with its next run time, soonest first."""
        out = [self.entry(job.id) for job in self.scheduler.get_jobs()]
        far = dt.datetime.max.replace(tzinfo=dt.UTC)
        return sorted(out, key=lambda e: (e.next_run or far, e.id))

    def fires_between(self, trigger: Any, start: dt.datetime, end: dt.datetime) -> list[dt.datetime]:
        """The trigger's fire times in ``(start, end]`` (UTC)."""
        out: list[dt.datetime] = []
        previous = None
        now = start.astimezone(self.timezone)
        while True:
            nxt = trigger.get_next_fire_time(previous, now)
            if nxt is None or nxt > end:
                return out
            if nxt > start:
                out.append(nxt.astimezone(dt.UTC))
            previous, now = nxt, nxt + dt.timedelta(seconds=1)


# --------------------------------------------------------------------------- heartbeat (read by the UI)
@dataclasses.dataclass(frozen=True, kw_only=True)
class Heartbeat:
    """The scheduler's stored state: ``alive`` when it is running and beat within 3 heartbeat intervals."""

    status: str
    host: str
    pid: int
    started_at: dt.datetime
    beat_at: dt.datetime
    stopped_at: dt.datetime | None
    schedule: tuple[dict[str, Any], ...]
    message: str | None
    age_s: float
    alive: bool

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        for key in ("started_at", "beat_at", "stopped_at"):
            out[key] = None if out[key] is None else out[key].isoformat()
        out["schedule"] = list(self.schedule)
        return out


def scheduler_heartbeat(
    engine: Engine, heartbeat_seconds: float = 5.0, now: dt.datetime | None = None
) -> Heartbeat | None:
    """The scheduler's heartbeat row, or None when no scheduler ever ran on this store."""
    with read(engine) as conn:
        row = conn.execute(select(s.scheduler_state).where(s.scheduler_state.c.name == STATE_NAME)).mappings().first()
    if row is None:
        return None
    beat = _aware(row["beat_at"])
    assert beat is not None
    age = ((now or _utcnow()) - beat).total_seconds()
    return Heartbeat(
        status=row["status"],
        host=row["host"],
        pid=int(row["pid"]),
        started_at=_aware(row["started_at"]),  # type: ignore[arg-type]
        beat_at=beat,
        stopped_at=_aware(row["stopped_at"]),
        schedule=tuple(json.loads(row["schedule"] or "[]")),
        message=row["message"],
        age_s=age,
        alive=row["status"] in ("running", "stopping") and age <= 3 * heartbeat_seconds,
    )


# --------------------------------------------------------------------------- the service
class SchedulerService:
    """``python scheduler.py`` (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        engine: Engine,
        *,
        schedule: ScheduleManager | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.config, self.engine = config, engine
        self._now = now or _utcnow
        self.stop = threading.Event()
        self.executor = WorkflowExecutor(engine, stop=self.stop)
        self.cycle_lock = threading.Lock()
        self.schedule = schedule or ScheduleManager(config)
        self.runner = JobRunner(engine, config, executor=self.executor, cycle_lock=self.cycle_lock, stop=self.stop)
        self.token = secrets.token_hex(8)
        self.lost_lease = False
        self._exited = threading.Event()  # run() has returned: the heartbeat ends
        self._beat_thread: threading.Thread | None = None
        self._triggers: dict[str, Any] = {}
        times = {"data": config.schedule.data_cycle, "agent": config.schedule.agent_cycle,
                 "monitoring": config.schedule.monitoring_cycle}  # fmt: skip
        for kind in CYCLE_KINDS:
            trigger = self.schedule.trigger(times[kind], "weekdays")
            self._triggers[kind] = trigger
            self.schedule.add(WORKFLOW_NAMES[kind], f"{kind} cycle", self._fire_callback(kind), trigger)

    def _fire_callback(self, kind: str) -> Callable[[], None]:
        def fire() -> None:
            self.bring_up_to_date([kind], trigger="schedule")

        fire.__name__ = f"fire_{kind}_cycle"
        return fire

    # ------------------------------------------------------------------ what is due
    def plan(
        self, kinds: Iterable[str] = CYCLE_KINDS, now: dt.datetime | None = None
    ) -> list[tuple[str, pd.Timestamp]]:
        """The (cycle, business date) pairs due by ``now`` and not done, in the order they should run.

        Data and monitoring: the business date of every fire time of the cycle in the look-back window (the
        latest session closed at that time), after the newest completed one, at most ``catchup_sessions`` back
        besides the latest. Agent: the newest stored session, when no agent cycle of it is done and an agent fire
        time has passed since its bars were stored (so a start at 08:00 does not run the 09:30 cycle early).
        """
        from ravenshire.data.calendar import last_closed_session

        now = now or self._now()
        keep = self.config.schedule.catchup_sessions
        start = now - dt.timedelta(days=7 * (keep + 2) // 5 + 10)
        due: list[tuple[str, pd.Timestamp]] = []
        for kind in kinds:
            fires = self.schedule.fires_between(self._triggers[kind], start, now)
            if not fires:
                continue
            done = completed_dates(self.engine, kind)
            if kind == "agent":
                date = agent_business_date(self.engine, self.config)
                if date is None or date in done:
                    continue
                ready = self._data_completed_at(date)
                if ready is not None and fires[-1] >= ready:
                    due.append((kind, date))
                continue
            from ravenshire.data.calendar import sessions

            # Every session closed by the latest fire (a fire on Friday also owes Wednesday's session when the
            # cycle fires on mon,wed,fri only), back to the window's start.
            latest = last_closed_session(pd.Timestamp(fires[-1]), self.config.data.exchange)
            dates = list(sessions(pd.Timestamp(start.date()), latest, self.config.data.exchange))
            newest_done = max(done) if done else None
            dates = [d for d in dates if newest_done is None or d > newest_done]
            # A new store runs the latest cycle only, no history.
            dates = dates[-1:] if newest_done is None else dates[-(keep + 1) :]
            due += [(kind, d) for d in dates if d not in done]
        order = {k: i for i, k in enumerate(CYCLE_KINDS)}
        return sorted(due, key=lambda x: (x[1], order[x[0]]))

    def _data_completed_at(self, date: pd.Timestamp) -> dt.datetime | None:
        """When the bars of ``date`` were stored: its data cycle's end, else the end of the first fetch or import
        that stored bars up to it (data fetched by hand or by the demo bootstrap)."""
        from sqlalchemy import func

        from ravenshire.store.dates import date_key

        c, f = s.cycles, s.fetches
        with read(self.engine) as conn:
            done = conn.execute(
                select(c.c.finished_at).where(
                    c.c.kind == "data", c.c.status == "completed", c.c.business_date == date_key(date)
                )
            ).scalar()
            if done is None:
                done = conn.execute(
                    select(func.min(f.c.finished_at)).where(
                        f.c.kind.in_(("fetch", "import")), f.c.rows_stored > 0, f.c.end_date >= date_key(date)
                    )
                ).scalar()
        return None if done is None else _aware(done)

    def bring_up_to_date(self, kinds: Iterable[str], *, trigger: str) -> list[CycleOutcome]:
        """Run what :meth:`plan` says is due for ``kinds``, in order, under the cycle lock. A cycle that fails
        stops the ones after it of the same date (the next fire or start tries again)."""
        outcomes: list[CycleOutcome] = []
        with self.cycle_lock:
            plan = self.plan(kinds)
            if not plan and trigger == "schedule":
                log.info("%s: nothing due (every business date is done)", ", ".join(kinds))
            failed_dates: set[pd.Timestamp] = set()
            for kind, date in plan:
                if self.stop.is_set():
                    break
                if date in failed_dates:
                    log.warning("%s cycle of %s not run: an earlier cycle of that date failed", kind, date.date())
                    continue
                log.info("%s cycle of %s (%s)", kind, date.date(), trigger)
                try:
                    outcome = run_cycle(
                        kind, self.engine, self.config, None if kind == "agent" else date, trigger=trigger,
                        executor=self.executor,
                    )  # fmt: skip
                except Exception:  # recorded by the workflow; the scheduler itself must live on
                    log.exception("%s cycle of %s could not start", kind, date.date())
                    failed_dates.add(date)
                    continue
                outcomes.append(outcome)
                log.info("%s: %s in %.1f s", outcome.cycle_id, outcome.status, outcome.run.duration_s)
                if not outcome.ok:
                    failed_dates.add(date)
        return outcomes

    # ------------------------------------------------------------------ the lease and the heartbeat
    def acquire(self) -> tuple[str, int] | None:
        """Take the scheduler row; OperationalError when another scheduler's heartbeat is fresh. Returns the
        (host, pid) of a scheduler whose row was taken over while it claimed to run (it died or stalled), else
        None."""
        st = s.scheduler_state
        now = self._now()
        limit = 3 * self.config.schedule.heartbeat_seconds
        mine = process_owner()
        previous = None
        with write(self.engine) as conn:
            row = conn.execute(select(st).where(st.c.name == STATE_NAME)).mappings().first()
            if row is not None and row["status"] in ("running", "stopping") and row["owner"] != mine:
                age = (now - _aware(row["beat_at"])).total_seconds()  # type: ignore[operator]
                alive = owner_alive(row["owner"] or f"{row['host']}:{row['pid']}")
                if (age <= limit and alive is not False) or alive is True:
                    raise OperationalError(
                        f"another scheduler is running (pid {row['pid']} on {row['host']}, last heartbeat "
                        f"{age:.0f} s ago, {row['status']}); only one may run against a store: stop it first"
                    )
                previous = (str(row["host"]), int(row["pid"]))  # gone, or silent for long on another host
            values = {
                "status": "running",
                "host": HOST,
                "pid": os.getpid(),
                "owner": mine,
                "token": self.token,
                "started_at": now,
                "beat_at": now,
                "stopped_at": None,
                "schedule": json.dumps([e.to_dict() for e in self.schedule.entries()]),
                "message": None,
            }
            if row is None:
                conn.execute(insert(st), {"name": STATE_NAME, **values})
            else:
                conn.execute(update(st).where(st.c.name == STATE_NAME), values)
        return previous

    def beat(self, status: str = "running", message: str | None = None) -> bool:
        """Record a heartbeat; False when another scheduler has taken the row over."""
        st = s.scheduler_state
        values: dict[str, Any] = {
            "status": status,
            "beat_at": self._now(),
            "schedule": json.dumps([e.to_dict() for e in self.schedule.entries()]),
            "message": message,
        }
        if status == "stopped":
            values["stopped_at"] = self._now()
        with write(self.engine) as conn:
            return (
                conn.execute(update(st).where(st.c.name == STATE_NAME, st.c.token == self.token), values).rowcount == 1
            )

    def _beat_loop(self) -> None:
        """Beat until :meth:`run` returns — through the shutdown too (status ``stopping``), so a scheduler that
        is finishing its step in flight is never taken for a dead one."""
        interval = self.config.schedule.heartbeat_seconds
        while not self._exited.wait(interval):
            try:
                running = self.runner.running()
                message = f"{len(running)} job(s) running" if running else None
                if self.stop.is_set():
                    status, message = "stopping", "stopping: finishing the step in flight"
                else:
                    status = "running"
                if not self.beat(status, message):
                    log.error("another scheduler took over this store's scheduler row: stopping")
                    self.lost_lease = True
                    self.request_stop()
                    return
            except Exception:  # a busy store: the next beat tries again
                log.exception("heartbeat not recorded")

    # ------------------------------------------------------------------ run and stop
    def request_stop(self, signum: int | None = None, _frame: Any = None) -> None:
        """Stop (the SIGTERM/SIGINT handler): no new cycle or job starts; the step in flight finishes. A second
        signal exits at once (what was running is recovered at the next start)."""
        if self.stop.is_set():
            if signum is not None:
                log.warning("second %s: exiting now", signal.Signals(signum).name)
                os._exit(128 + signum)
            return
        name = signal.Signals(signum).name if signum else "a request"
        log.info("stopping on %s: the step in flight finishes, then the scheduler exits", name)
        self.stop.set()
        try:
            self.beat("stopping", f"stopping on {name}")
        except Exception:
            log.exception("could not record the stop")
        sched = self.schedule.scheduler
        if sched.running:
            sched.shutdown(wait=False)

    def _listen(self, sched: Any) -> None:
        """Log missed and failed jobs; shut down at once if a signal came just before ``start()``."""
        from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_MISSED, EVENT_SCHEDULER_STARTED

        def on_event(event: Any) -> None:
            if event.code == EVENT_JOB_MISSED:
                log.warning("job %s missed its run at %s (it is caught up from the cycles table)", event.job_id,
                            event.scheduled_run_time)  # fmt: skip
            elif getattr(event, "exception", None) is not None:
                log.error("job %s failed: %s", event.job_id, event.exception)

        sched.add_listener(on_event, EVENT_JOB_ERROR | EVENT_JOB_MISSED)

        def on_start(_event: Any) -> None:  # a signal that came between the check below and start()
            if self.stop.is_set():
                threading.Thread(target=lambda: sched.shutdown(wait=False), daemon=True).start()

        sched.add_listener(on_start, EVENT_SCHEDULER_STARTED)

    def run(self, *, install_signals: bool = True) -> int:
        """Run until stopped. Returns the process exit code (0: a clean stop; 1: the row was taken over)."""

        previous = self.acquire()
        if previous is not None:
            log.warning("took over from scheduler pid %d on %s, which stopped beating", previous[1], previous[0])
        for item in recover_interrupted(self.engine, dead_owner=previous):
            log.warning("recovered after a crash: %s", item)
        if install_signals:
            signal.signal(signal.SIGTERM, self.request_stop)
            signal.signal(signal.SIGINT, self.request_stop)

        sched = self.schedule.scheduler
        self._listen(sched)
        sched.add_job(
            lambda: self.bring_up_to_date(CYCLE_KINDS, trigger="catch-up"),
            "date",
            run_date=dt.datetime.now(self.schedule.timezone),
            id="catch-up",
            name="catch up missed cycles",
            replace_existing=True,
            misfire_grace_time=None,
        )
        self.runner.start()
        self._beat_thread = threading.Thread(target=self._beat_loop, name="ravenshire-heartbeat", daemon=True)
        self._beat_thread.start()
        for entry in self.schedule.entries():
            log.info("scheduled %s (%s): next run %s", entry.id, entry.trigger, entry.next_run)
        log.info("scheduler running (pid %d); job queue polled every %.2f s", os.getpid(),
                 self.config.schedule.poll_seconds)  # fmt: skip
        try:
            if not self.stop.is_set():
                sched.start()  # blocks until request_stop
            self.stop.set()
            # shutdown(wait=False) in the handler returns at once: wait here for the cycle in flight.
            with self.cycle_lock:
                pass
        finally:
            interrupted = self.runner.shutdown(grace=self.config.schedule.heartbeat_seconds * 2)
            if interrupted:
                log.warning("job(s) %s recorded as interrupted", interrupted)
            self._exited.set()
            if self._beat_thread is not None:
                self._beat_thread.join(timeout=5)
            try:
                self.beat("stopped", "stopped cleanly")
            except Exception:
                log.exception("could not record the stop")
        log.info("scheduler stopped")
        return 1 if self.lost_lease else 0

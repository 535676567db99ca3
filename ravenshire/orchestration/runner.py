"""Running queued jobs: :func:`run_job` does one job's work; :class:`JobRunner` polls the queue in the scheduler.

``job_concurrency`` worker threads run the queue: each records the end of its job and takes the next queued one in
one transaction, and looks at the queue every ``[SCHEDULE] poll_seconds`` when idle. Cycle jobs take
the process's cycle lock, so a "run now" never overlaps a scheduled cycle in the same process (other processes are
kept out by the cycles' claims). On stop, no new job is taken; jobs still running after the grace period are
recorded as ``interrupted`` and their threads die with the process (nothing waits for them; their writes are whole
transactions, so nothing is left half-written; a study resumes from its stored trials when submitted again).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Engine, func, select

from ravenshire.config import Config
from ravenshire.errors import RavenshireError
from ravenshire.orchestration.jobs import Job, finish_and_claim, finish_job, set_progress
from ravenshire.orchestration.workflow import HOST, WorkflowExecutor, process_owner
from ravenshire.store import read
from ravenshire.store import schema as s

__all__ = ["JobInterrupted", "JobRunner", "run_job"]

log = logging.getLogger("ravenshire.orchestration.jobs")

Progress = Callable[[float | None, str | None], None]


class JobInterrupted(RavenshireError):
    """The job's work stopped because the scheduler is stopping: recorded ``interrupted``, not ``failed``."""


def _data(params: Mapping[str, Any], engine: Engine, config: Config) -> Any:
    from ravenshire.data import DataManager

    manager = DataManager(config, engine=engine, origin="job")
    if params.get("version"):
        return manager.version_slice(params["version"], params.get("start"), params.get("end"))
    return manager.get_market_data(params.get("symbols"), params.get("start"), params.get("end"))


def _backtest(job: Job, engine: Engine, config: Config, progress: Progress) -> dict[str, Any]:
    from ravenshire.research import Costs, ResearchManager

    p = job.params
    progress(0.1, "loading the data")
    data = _data(p, engine, config)
    progress(0.3, f"running {p['strategy']} on {data.shape[0]} days")
    result = ResearchManager(config, engine=engine, track=True).backtest_strategy(
        p["strategy"],
        data,
        p.get("parameters") or {},
        costs=Costs(**p["costs"]),
        initial_capital=p["capital"],
        risk_free=p["risk_free"],
    )
    return {
        "run_id": result.run_id,
        "strategy": p["strategy"],
        "total_return": result.total_return,
        "sharpe_ratio": result.sharpe_ratio,
        "max_drawdown": result.max_drawdown,
        "data_version": result.data_version,
        "is_demo": result.is_demo,
    }


def _fetch(job: Job, engine: Engine, config: Config, progress: Progress) -> dict[str, Any]:
    from ravenshire.data import DataManager

    p = job.params
    progress(None, f"fetching {len(p['symbols']) if p.get('symbols') else 'the universe'}")
    summaries = DataManager(config, engine=engine, origin="job").fetch(
        p.get("symbols"), p.get("start"), p.get("end"), refresh=bool(p.get("refresh"))
    )
    failed = [x for x in summaries if x.status == "failed"]
    if failed:
        raise RavenshireError("fetch failed: " + "; ".join(f"{x.source}: {x.message}" for x in failed))
    return {
        "fetches": [x.fetch_id for x in summaries],
        "rows_stored": sum(x.rows_stored for x in summaries),
        "rows_rejected": sum(x.rows_rejected for x in summaries),
        "status": ", ".join(sorted({x.status for x in summaries})) or "nothing to fetch",
    }


def _optimize(job: Job, engine: Engine, config: Config, progress: Progress) -> dict[str, Any]:
    from ravenshire.orchestration.jobs import _space_arg
    from ravenshire.research import Costs, ResearchManager

    p = job.params
    study = p.get("study") or f"job-{job.id}-{p['strategy']}"
    n_trials = p.get("trials") or config.research.n_trials
    progress(0.0, "loading the data")
    data = _data(p, engine, config)
    stop = threading.Event()

    def watch() -> None:  # progress from the trials the study has stored so far
        while not stop.wait(1.0):
            with read(engine) as conn:
                done = conn.execute(
                    select(func.count()).select_from(s.runs).where(s.runs.c.study == study, s.runs.c.kind == "trial")
                ).scalar_one()
            progress(min(0.99, done / max(1, n_trials)), f"{done} of {n_trials} trials")

    watcher = threading.Thread(target=watch, name=f"job-{job.id}-progress", daemon=True)
    watcher.start()
    try:
        result = ResearchManager(config, engine=engine, track=True).optimize_parameters(
            p["strategy"],
            data,
            _space_arg(p["space"]),
            n_trials=p.get("trials"),
            method=p.get("method"),
            objective=p.get("objective"),
            costs=Costs(**p["costs"]),
            risk_free=p["risk_free"],
            test_fraction=p.get("test_fraction"),
            walk_forward_folds=p.get("walk_forward"),
            seed=p.get("seed"),
            study_name=study,
            initial_capital=p["capital"],
        )
    finally:
        stop.set()
        watcher.join(timeout=5)
    return {
        "study": result.study_name,
        "best_run_id": result.best_run_id,
        "best_params": dict(result.best_params),
        "n_trials": result.n_trials,
        "objective": result.objective,
        "likely_luck": result.likely_luck,
        "is_demo": result.is_demo,
    }


def run_job(
    job: Job,
    engine: Engine,
    config: Config,
    *,
    progress: Progress | None = None,
    executor: WorkflowExecutor | None = None,
    cycle_lock: threading.Lock | None = None,
) -> dict[str, Any]:
    """Do ``job``'s work and return its result links; raises what the work raises."""
    from ravenshire.orchestration.cycles import run_cycle

    report: Progress = progress or (lambda fraction, message: None)
    if job.kind == "ping":
        return {"pong": True, "worker": f"{HOST}:{os.getpid()}"}
    if job.kind == "data_fetch":
        return _fetch(job, engine, config, report)
    if job.kind == "backtest":
        return _backtest(job, engine, config, report)
    if job.kind == "optimize":
        return _optimize(job, engine, config, report)
    if job.kind.endswith("_cycle"):
        kind = job.kind.removesuffix("_cycle")
        lock = cycle_lock or threading.Lock()
        report(None, "waiting for the cycle in progress" if lock.locked() else f"running the {kind} cycle")
        with lock:
            outcome = run_cycle(
                kind, engine, config, job.params.get("date"), trigger="job", executor=executor, job_id=job.id
            )
        if outcome.status == "interrupted":
            raise JobInterrupted(f"{outcome.cycle_id or kind + ' cycle'} interrupted: {outcome.run.error}")
        if not outcome.ok:
            raise RavenshireError(f"{outcome.cycle_id or kind + ' cycle'} {outcome.status}: {outcome.run.error}")
        return {
            "cycle_id": outcome.cycle_id,
            "workflow_run_id": outcome.run.run_id,
            "status": outcome.status,
            "summary": dict(outcome.summary),
        }
    raise RavenshireError(f"no handler for job kind {job.kind!r}")


class JobRunner:
    """``job_concurrency`` worker threads (daemons) run the queue (see the module docstring).

    Each worker loops: in ONE write transaction it records the end of the job it just ran and takes the oldest
    queued job (so a busy queue costs one transaction per job), runs it, and so on; an idle worker looks at the
    queue every ``poll_seconds``.
    """

    def __init__(
        self,
        engine: Engine,
        config: Config,
        *,
        executor: WorkflowExecutor | None = None,
        cycle_lock: threading.Lock | None = None,
        stop: threading.Event | None = None,
    ) -> None:
        self.engine, self.config = engine, config
        self.executor = executor or WorkflowExecutor(engine)
        self.cycle_lock = cycle_lock or threading.Lock()
        self.stop = stop or threading.Event()
        self.worker = process_owner()  # host:pid:start, so recovery tells this process from a later one
        self.concurrency = config.schedule.job_concurrency
        self._running: dict[int, threading.Thread] = {}
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        """Start the workers."""
        for n in range(self.concurrency):
            thread = threading.Thread(target=self._work, name=f"ravenshire-job-worker-{n}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def running(self) -> list[int]:
        """Ids of the jobs running now."""
        with self._lock:
            return sorted(self._running)

    def _work(self) -> None:
        interval = self.config.schedule.poll_seconds
        ended: dict[str, Any] | None = None  # the end of the last job, recorded with the next claim
        while not self.stop.is_set():
            try:
                job = finish_and_claim(self.engine, self.worker, ended)
                ended = None
            except RavenshireError as exc:  # the store is busy: try again shortly (the end is kept)
                log.warning("job queue not read: %s", exc)
                self.stop.wait(interval)
                continue
            except Exception:  # never let a worker die: log it and look again later
                log.exception("job worker failed; retrying")
                self.stop.wait(interval)
                continue
            if job is None:
                self.stop.wait(interval)
                continue
            log.info("job #%d (%s) started after %.2f s in the queue", job.id, job.kind, job.wait_s or 0.0)
            with self._lock:
                self._running[job.id] = threading.current_thread()
            try:
                ended = self._execute(job)
            finally:
                with self._lock:
                    self._running.pop(job.id, None)
        if ended is not None:
            self._finish(**ended)

    def _execute(self, job: Job) -> dict[str, Any]:
        """Run ``job``; returns how it ended (for :func:`finish_job`)."""
        clock = time.perf_counter()

        def progress(fraction: float | None, message: str | None) -> None:
            try:
                set_progress(self.engine, job.id, fraction, message)
            except RavenshireError as exc:
                log.warning("job #%d: progress not recorded: %s", job.id, exc)

        try:
            result = run_job(
                job, self.engine, self.config, progress=progress, executor=self.executor, cycle_lock=self.cycle_lock
            )
        except Exception as exc:
            text = str(exc) if isinstance(exc, RavenshireError) else f"{type(exc).__name__}: {exc}"
            if not isinstance(exc, RavenshireError):
                log.exception("job #%d (%s) failed", job.id, job.kind)
            status = "interrupted" if isinstance(exc, JobInterrupted) else "failed"
            return {"job_id": job.id, "status": status, "error": text[:4000],
                    "message": f"{status} after {time.perf_counter() - clock:.1f} s"}  # fmt: skip
        return {"job_id": job.id, "status": "succeeded", "result": result,
                "message": f"done in {time.perf_counter() - clock:.1f} s"}  # fmt: skip

    def _finish(self, job_id: int, status: str, **values: Any) -> None:
        """Record a job's end, trying again while the store is busy (a job must not stay ``running``)."""
        for attempt in range(5):
            try:
                finish_job(self.engine, job_id, status, **values)
                return
            except RavenshireError as exc:
                log.warning("job #%d: its end not recorded (%s); trying again", job_id, exc)
                time.sleep(0.5 * 2**attempt)
        log.error("job #%d: its end (%s) could not be recorded; it is recovered at the next start", job_id, status)

    def shutdown(self, grace: float = 30.0) -> list[int]:
        """Stop taking jobs, wait up to ``grace`` seconds for the running ones (their ends are recorded), record
        the rest as interrupted. Returns the ids recorded as interrupted."""
        self.stop.set()
        deadline = time.monotonic() + grace
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))
        left = self.running()
        for job_id in left:  # its thread is a daemon: it ends with the process, its row says so
            self._finish(
                job_id, "interrupted", error="interrupted: the scheduler stopped while it ran; submit it again"
            )
        return left

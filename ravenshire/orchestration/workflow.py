"""Workflows: steps with dependencies, retries with exponential backoff, timeouts, and every run stored.

A :class:`Workflow` is a named set of :class:`Step` s; a step runs when every step it depends on has succeeded.
:class:`WorkflowBuilder` builds one; :class:`WorkflowExecutor` runs it (``await executor.run(workflow)``) and
stores a ``workflow_runs`` row and one ``step_runs`` row per step (status, attempts, start, end, duration, error and
the tail of the step's log), each change in its own short transaction, so the Operations page sees a run while it
goes on.

Retries. A step that raises is tried again, up to ``retries`` more times, after
``min(max_backoff, backoff · factor^(k-1))`` seconds before its k-th retry (exponential backoff). A
:class:`~ravenshire.errors.ConfigError` (bad input) or :class:`NotReady` (an upstream cycle has not run) is not
retried: waiting does not fix either.

Timeouts. ``timeout`` seconds bound each attempt. A step written as ``async def`` is cancelled at the timeout. A
plain function runs in a daemon thread of its own, and Python cannot stop a thread: the attempt is recorded as
timed out and the thread is left to finish (or to die with the process — nothing waits for it). Such a step is
retried only once that thread has ended, so two attempts of one step never run at once; if it is still running
after the backoff, the step fails. The daily cycles' steps are idempotent (keyed by business date).

Step functions take either nothing or one :class:`StepContext` (the results of the steps they depend on, the
run's parameters, a logger whose records go into the step's stored log, and ``stopping`` to give up early on a
shutdown). A step that returns :data:`SKIP` (or ``Skip("why")``) is recorded as ``skipped`` with the reason, and
the steps depending on it are skipped too; the run still succeeds.

Stopping. When the executor's ``stop`` event is set (SIGTERM in the scheduler), the step in flight finishes, a
backoff in progress ends at once, no further step or retry starts, and the run and its unfinished steps are
recorded as ``interrupted``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import datetime as dt
import inspect
import json
import logging
import os
import socket
import threading
import time
import traceback
from collections import deque
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from sqlalchemy import Engine, insert, select, update

from ravenshire.errors import ConfigError, OperationalError
from ravenshire.store import schema as s
from ravenshire.store import write

__all__ = [
    "SKIP",
    "LostClaim",
    "NotReady",
    "Skip",
    "Step",
    "StepContext",
    "StepResult",
    "Workflow",
    "WorkflowBuilder",
    "WorkflowExecutor",
    "WorkflowRun",
    "owner_alive",
    "process_owner",
]

log = logging.getLogger("ravenshire.orchestration")

#: Characters of a step's log kept in the store (the tail).
LOG_EXCERPT_CHARS = 8000
HOST = socket.gethostname()[:128]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class NotReady(OperationalError):
    """A step's precondition is not met (e.g. the day's bars are not stored yet): the step fails at once, without
    retries — waiting minutes does not make a missing upstream cycle run; the next fire or start tries again."""


class LostClaim(OperationalError):
    """The run no longer owns its cycle (another process took it over): it stops at once, without retries."""


@dataclasses.dataclass(frozen=True)
class Skip:
    """Returned by a step that had nothing to do: the step is recorded ``skipped`` with ``reason``."""

    reason: str = "nothing to do"


SKIP = Skip()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Step:
    """One step: ``func`` runs when every step in ``depends_on`` has succeeded.

    ``retries`` more attempts after a failure, the k-th after ``min(max_backoff, backoff · factor^(k-1))``
    seconds; ``timeout`` seconds per attempt (None: no limit).
    """

    name: str
    func: Callable[..., Any]
    depends_on: tuple[str, ...] = ()
    retries: int = 0
    backoff: float = 1.0
    factor: float = 2.0
    max_backoff: float = 300.0
    timeout: float | None = None

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        return float(min(self.max_backoff, self.backoff * self.factor ** (retry - 1)))


@dataclasses.dataclass(frozen=True)
class Workflow:
    """A named, checked set of steps (see :class:`WorkflowBuilder`); ``order`` is a topological order."""

    name: str
    steps: Mapping[str, Step]
    order: tuple[str, ...]
    description: str = ""

    def __post_init__(self) -> None:
        if not self.name or len(self.name) > 64:
            raise ConfigError(f"a workflow needs a name of 1-64 characters, got {self.name!r}")


class WorkflowBuilder:
    """Builds a :class:`Workflow`::

    wf = (WorkflowBuilder("data_cycle")
          .step("fetch", fetch, retries=3, backoff=30, timeout=600)
          .step("snapshot", snapshot, depends_on=["fetch"])
          .build())
    """

    def __init__(self, name: str, description: str = "") -> None:
        self.name = name
        self.description = description
        self._steps: dict[str, Step] = {}

    def step(
        self,
        name: str,
        func: Callable[..., Any],
        *,
        depends_on: Iterable[str] = (),
        retries: int = 0,
        backoff: float = 1.0,
        factor: float = 2.0,
        max_backoff: float = 300.0,
        timeout: float | None = None,
    ) -> WorkflowBuilder:
        """Add a step (see :class:`Step`). Raises ConfigError on a duplicate name or a bad setting."""
        if not name or len(name) > 64:
            raise ConfigError(f"a step needs a name of 1-64 characters, got {name!r}")
        if name in self._steps:
            raise ConfigError(f"workflow {self.name!r} already has a step {name!r}")
        if not callable(func):
            raise ConfigError(f"step {name!r}: func must be callable, got {type(func).__name__}")
        if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= 100:
            raise ConfigError(f"step {name!r}: retries must be an integer in 0..100, got {retries!r}")
        for label, value, low in (
            ("backoff", backoff, 0.0),
            ("factor", factor, 1.0),
            ("max_backoff", max_backoff, 0.0),
        ):
            if not isinstance(value, int | float) or not value >= low:
                raise ConfigError(f"step {name!r}: {label} must be a number >= {low:g}, got {value!r}")
        if timeout is not None and (not isinstance(timeout, int | float) or not timeout > 0):
            raise ConfigError(f"step {name!r}: timeout must be a number of seconds > 0 or None, got {timeout!r}")
        self._steps[name] = Step(
            name=name,
            func=func,
            depends_on=tuple(depends_on),
            retries=retries,
            backoff=float(backoff),
            factor=float(factor),
            max_backoff=float(max_backoff),
            timeout=None if timeout is None else float(timeout),
        )
        return self

    def build(self) -> Workflow:
        """The workflow. Raises ConfigError when a step depends on an unknown step or on itself through a cycle."""
        if not self._steps:
            raise ConfigError(f"workflow {self.name!r} has no step")
        for step in self._steps.values():
            unknown = [d for d in step.depends_on if d not in self._steps]
            if unknown:
                raise ConfigError(
                    f"step {step.name!r} depends on unknown step(s) {unknown}; the steps are {sorted(self._steps)}"
                )
        order: list[str] = []
        state: dict[str, int] = {}  # 1 visiting, 2 done

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise ConfigError(f"workflow {self.name!r} has a dependency cycle: {' -> '.join((*path, name))}")
            state[name] = 1
            for dep in self._steps[name].depends_on:
                visit(dep, (*path, name))
            state[name] = 2
            order.append(name)

        for name in self._steps:
            visit(name, ())
        return Workflow(self.name, dict(self._steps), tuple(order), self.description)


@dataclasses.dataclass
class StepContext:
    """What a step function gets: its run, the results of the steps before it, the run's ``params``, a logger
    (records go to the step's stored log) and ``stopping`` (set on shutdown: a long step may return early)."""

    workflow: str
    step: str
    run_id: int | None
    attempt: int
    results: Mapping[str, Any]
    params: Mapping[str, Any]
    log: logging.Logger
    stopping: threading.Event

    def result(self, step: str) -> Any:
        """The value returned by the step ``step`` (one this step depends on)."""
        return self.results[step]


@dataclasses.dataclass(frozen=True, kw_only=True)
class StepResult:
    """How a step ended: status (succeeded, failed, timed_out, skipped, interrupted), attempts, the error."""

    name: str
    status: str
    attempts: int
    duration_s: float
    error: str | None = None
    value: Any = None


@dataclasses.dataclass(frozen=True, kw_only=True)
class WorkflowRun:
    """A finished run: ``status`` (succeeded, failed, interrupted, skipped), its stored id, and each step's end."""

    run_id: int | None
    workflow: str
    status: str
    steps: Mapping[str, StepResult]
    duration_s: float
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "skipped")

    def result(self, step: str) -> Any:
        return self.steps[step].value

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status,
            "duration_s": self.duration_s,
            "error": self.error,
            "steps": {
                n: {"status": r.status, "attempts": r.attempts, "duration_s": r.duration_s, "error": r.error}
                for n, r in self.steps.items()
            },
        }


# --------------------------------------------------------------------------- step logs
_current_buffer: contextvars.ContextVar[deque[str] | None] = contextvars.ContextVar("_step_log", default=None)


class _StepLogHandler(logging.Handler):
    """Copies every record emitted while a step runs (in its task or its worker thread) into the step's buffer."""

    def emit(self, record: logging.LogRecord) -> None:
        buffer = _current_buffer.get()
        if buffer is not None:
            try:
                buffer.append(self.format(record))
            except Exception:  # a log record that cannot be formatted must not fail the step
                self.handleError(record)


_handler = _StepLogHandler()
_handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
_handler_lock = threading.Lock()


def _install_handler() -> None:
    with _handler_lock:
        root = logging.getLogger("ravenshire")
        if _handler not in root.handlers:
            root.addHandler(_handler)
            if root.level == logging.NOTSET or root.level > logging.INFO:
                root.setLevel(logging.INFO)


def _excerpt(lines: Iterable[str]) -> str | None:
    text = "\n".join(lines)
    if not text:
        return None
    return text if len(text) <= LOG_EXCERPT_CHARS else "…" + text[-LOG_EXCERPT_CHARS:]


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:4000]


# --------------------------------------------------------------------------- the executor
class WorkflowExecutor:
    """Runs workflows and stores their runs (see the module docstring).

    Parameters
    ----------
    engine:
        The state store (None: nothing is stored; for notebooks and tests of pure logic).
    stop:
        Set it to stop at the next step boundary (the scheduler sets it on SIGTERM).
    sleep:
        The coroutine used to wait between attempts (default :func:`asyncio.sleep`).
    """

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        stop: threading.Event | None = None,
        sleep: Callable[[float], Awaitable[Any]] | None = None,
    ) -> None:
        self.engine = engine
        self.stop = stop or threading.Event()
        self._sleep = sleep
        _install_handler()

    async def _pause(self, seconds: float) -> None:
        """Wait ``seconds`` between attempts, or less when ``stop`` is set meanwhile."""
        if self._sleep is not None:
            await self._sleep(seconds)
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not self.stop.is_set() and (left := deadline - loop.time()) > 0:
            await asyncio.sleep(min(0.1, left))

    async def run(
        self,
        workflow: Workflow,
        params: Mapping[str, Any] | None = None,
        *,
        trigger: str = "manual",
        cycle_id: str | None = None,
        business_date: int | None = None,
        job_id: int | None = None,
    ) -> WorkflowRun:
        """Run ``workflow`` once; steps whose dependencies have succeeded run concurrently."""
        params = dict(params or {})
        started, clock = _utcnow(), time.perf_counter()
        run_id = self._start_run(workflow, trigger, cycle_id, business_date, job_id, started)
        results: dict[str, StepResult] = {}
        values: dict[str, Any] = {}
        pending = list(workflow.order)
        running: dict[str, asyncio.Task[StepResult]] = {}
        interrupted = False
        try:
            while pending or running:
                for name in list(pending):
                    step = workflow.steps[name]
                    if any(results.get(d) is None for d in step.depends_on):
                        continue
                    pending.remove(name)
                    blocked = [d for d in step.depends_on if results[d].status != "succeeded"]
                    if blocked:
                        why = ", ".join(f"{d} {results[d].status}" for d in blocked)
                        results[name] = self._record_skip(run_id, name, f"skipped: {why}")
                    elif self.stop.is_set():
                        interrupted = True
                        results[name] = self._record_skip(run_id, name, "interrupted: stopping", "interrupted")
                    else:
                        inputs = {d: values.get(d) for d in step.depends_on}
                        running[name] = asyncio.create_task(self._run_step(workflow, step, run_id, inputs, params))
                if not running:
                    continue
                done, _ = await asyncio.wait(running.values(), return_when=asyncio.FIRST_COMPLETED)
                for name, task in list(running.items()):
                    if task in done:
                        del running[name]
                        result = task.result()
                        results[name] = result
                        values[name] = result.value
                        interrupted |= result.status == "interrupted"
        except BaseException as exc:  # cancelled from outside: record, then let it go on
            for task in running.values():
                task.cancel()
            self._finish_run(run_id, "interrupted", started, clock, _error_text(exc), results)
            raise
        status, error = _run_status(results, interrupted)
        duration = self._finish_run(run_id, status, started, clock, error, results)
        return WorkflowRun(
            run_id=run_id, workflow=workflow.name, status=status, steps=results, duration_s=duration, error=error
        )

    # ------------------------------------------------------------------ one step
    async def _run_step(
        self,
        workflow: Workflow,
        step: Step,
        run_id: int | None,
        inputs: Mapping[str, Any],
        params: Mapping[str, Any],
    ) -> StepResult:
        buffer: deque[str] = deque(maxlen=400)
        started, clock = _utcnow(), time.perf_counter()
        step_id = self._start_step(run_id, step.name, started)
        attempt, status, error, value = 0, "failed", None, None
        logger = logging.getLogger(f"ravenshire.workflow.{workflow.name}.{step.name}")
        lingering: list[threading.Thread] = []  # a timed-out attempt's thread, still running
        while True:
            attempt += 1
            context = StepContext(
                workflow=workflow.name,
                step=step.name,
                run_id=run_id,
                attempt=attempt,
                results=inputs,
                params=params,
                log=logger,
                stopping=self.stop,
            )
            token = _current_buffer.set(buffer)
            try:
                value = await self._attempt(step, context, lingering)
                status, error = ("skipped", value.reason) if isinstance(value, Skip) else ("succeeded", None)
                if isinstance(value, Skip):
                    buffer.append(f"skipped: {value.reason}")
                break
            except TimeoutError:
                status, error = "timed_out", f"attempt {attempt} timed out after {step.timeout:g} s"
                buffer.append(error)
            except Exception as exc:
                status, error = "failed", _error_text(exc)
                buffer.append(f"attempt {attempt} failed:\n{traceback.format_exc(limit=8).rstrip()}")
                if isinstance(exc, ConfigError | NotReady | LostClaim):  # waiting will not fix these
                    break
            finally:
                _current_buffer.reset(token)
            if attempt > step.retries:
                break
            if self.stop.is_set():
                status, error = "interrupted", f"{error}; not retried: stopping"
                break
            delay = step.delay(attempt)
            buffer.append(f"retry {attempt}/{step.retries} in {delay:g} s")
            self._update_step(step_id, status="retrying", attempts=attempt, error=error, log=_excerpt(buffer))
            await self._pause(delay)
            if self.stop.is_set():
                status, error = "interrupted", f"{error}; not retried: stopping"
                break
            if any(t.is_alive() for t in lingering):
                error = f"{error}; not retried: the timed-out attempt is still running"
                buffer.append(error)
                break
        duration = time.perf_counter() - clock
        self._update_step(
            step_id,
            status=status,
            attempts=attempt,
            error=error,
            log=_excerpt(buffer),
            finished_at=_utcnow(),
            duration_s=duration,
        )
        if status in ("failed", "timed_out"):
            log.warning(
                "workflow %s step %s %s after %d attempt(s): %s", workflow.name, step.name, status, attempt, error
            )
        return StepResult(
            name=step.name,
            status=status,
            attempts=attempt,
            duration_s=duration,
            error=error,
            value=None if isinstance(value, Skip) else value,
        )

    @staticmethod
    async def _attempt(step: Step, context: StepContext, lingering: list[threading.Thread]) -> Any:
        func = step.func
        takes_context = _takes_argument(func)
        if inspect.iscoroutinefunction(func):
            coro = func(context) if takes_context else func()
            return await asyncio.wait_for(coro, step.timeout)
        call = (lambda: func(context)) if takes_context else func
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        copied = contextvars.copy_context()  # the step's log buffer follows it into the thread

        def settle(ok: bool, outcome: Any) -> None:
            if not future.done():
                (future.set_result if ok else future.set_exception)(outcome)

        def target() -> None:
            try:
                outcome, ok = copied.run(call), True
            except BaseException as exc:  # handed to the awaiting coroutine
                outcome, ok = exc, False
            # RuntimeError: the run is over (it timed out and ended): nobody waits for this result.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, ok, outcome)

        thread = threading.Thread(target=target, name=f"step-{step.name}", daemon=True)
        thread.start()
        try:
            return await asyncio.wait_for(future, step.timeout)
        except TimeoutError:
            lingering.append(thread)
            raise

    # ------------------------------------------------------------------ the store
    def _start_run(
        self,
        workflow: Workflow,
        trigger: str,
        cycle_id: str | None,
        business_date: int | None,
        job_id: int | None,
        started: dt.datetime,
    ) -> int | None:
        if self.engine is None:
            return None
        with write(self.engine) as conn:
            run_id = conn.execute(
                insert(s.workflow_runs).returning(s.workflow_runs.c.id),
                {
                    "workflow": workflow.name,
                    "trigger": trigger,
                    "cycle_id": cycle_id,
                    "business_date": business_date,
                    "job_id": job_id,
                    "status": "running",
                    "host": HOST,
                    "pid": os.getpid(),
                    "owner": process_owner(),
                    "started_at": started,
                },
            ).scalar_one()
            conn.execute(
                insert(s.step_runs),
                [
                    {"workflow_run_id": run_id, "step": name, "status": "pending", "attempts": 0}
                    for name in workflow.order
                ],
            )
        return int(run_id)

    def _finish_run(
        self,
        run_id: int | None,
        status: str,
        started: dt.datetime,
        clock: float,
        error: str | None,
        results: Mapping[str, StepResult],
    ) -> float:
        duration = time.perf_counter() - clock
        if self.engine is None or run_id is None:
            return duration
        summary = {n: r.status for n, r in results.items()}
        with write(self.engine) as conn:
            conn.execute(
                update(s.workflow_runs).where(s.workflow_runs.c.id == run_id),
                {
                    "status": status,
                    "finished_at": _utcnow(),
                    "duration_s": duration,
                    "error": error,
                    "summary": json.dumps(summary),
                },
            )
            # Steps that never started (the run stopped or was cancelled before them).
            conn.execute(
                update(s.step_runs).where(
                    s.step_runs.c.workflow_run_id == run_id,
                    s.step_runs.c.status.in_(("pending", "running", "retrying")),
                ),
                {"status": "interrupted" if status == "interrupted" else "skipped", "finished_at": _utcnow()},
            )
        return duration

    def _start_step(self, run_id: int | None, name: str, started: dt.datetime) -> int | None:
        if self.engine is None or run_id is None:
            return None
        sr = s.step_runs
        with write(self.engine) as conn:
            conn.execute(
                update(sr).where(sr.c.workflow_run_id == run_id, sr.c.step == name),
                {"status": "running", "started_at": started},
            )
            return int(
                conn.execute(select(sr.c.id).where(sr.c.workflow_run_id == run_id, sr.c.step == name)).scalar_one()
            )

    def _update_step(self, step_id: int | None, **values: Any) -> None:
        if self.engine is None or step_id is None:
            return
        with write(self.engine) as conn:
            conn.execute(update(s.step_runs).where(s.step_runs.c.id == step_id), values)

    def _record_skip(self, run_id: int | None, name: str, reason: str, status: str = "skipped") -> StepResult:
        if self.engine is not None and run_id is not None:
            sr = s.step_runs
            with write(self.engine) as conn:
                conn.execute(
                    update(sr).where(sr.c.workflow_run_id == run_id, sr.c.step == name),
                    {"status": status, "error": reason, "finished_at": _utcnow(), "duration_s": 0.0},
                )
        return StepResult(name=name, status=status, attempts=0, duration_s=0.0, error=reason)


def _run_status(results: Mapping[str, StepResult], interrupted: bool) -> tuple[str, str | None]:
    failed = [r for r in results.values() if r.status in ("failed", "timed_out")]
    if failed:
        return "failed", "; ".join(f"{r.name}: {r.error}" for r in failed)
    if interrupted:
        return "interrupted", "stopped before every step ran (shutdown)"
    if {r.status for r in results.values()} == {"skipped"}:
        return "skipped", None
    return "succeeded", None


def _takes_argument(func: Callable[..., Any]) -> bool:
    try:
        params = [
            p
            for p in inspect.signature(func).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL) and p.default is p.empty
        ]
    except (TypeError, ValueError):
        return False
    return bool(params)


def run_sync(executor: WorkflowExecutor, workflow: Workflow, **kwargs: Any) -> WorkflowRun:
    """``executor.run`` from synchronous code (a scheduler job's thread, the CLI, a notebook cell: where an event
    loop already runs in this thread, the workflow runs on its own loop in a helper thread)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(executor.run(workflow, **kwargs))
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["run"] = asyncio.run(executor.run(workflow, **kwargs))
        except BaseException as exc:  # re-raised in the caller's thread
            box["error"] = exc

    helper = threading.Thread(target=target, name=f"workflow-{workflow.name}")
    helper.start()
    helper.join()
    if "error" in box:
        raise box["error"]
    return box["run"]


def _process_start(pid: int) -> str:
    """The process's start time in clock ticks since boot (Linux ``/proc``); "" where unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def process_owner(pid: int | None = None) -> str:
    """``host:pid:start``: names a process so that a later process given the same pid is not taken for it."""
    pid = os.getpid() if pid is None else pid
    return f"{HOST}:{pid}:{_process_start(pid)}"


def owner_alive(owner: str | None) -> bool | None:
    """True/False when ``owner`` (see :func:`process_owner`, or ``host:pid``) is a process of this host that is
    alive / gone; None when it is another host's (unknown from here)."""
    if not owner:
        return None
    host, _, rest = owner.partition(":")
    pid_text, _, start = rest.partition(":")
    if host != HOST or not pid_text.isdigit():
        return None
    pid = int(pid_text)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        pass
    return not start or _process_start(pid) in ("", start)

"""``python scheduler.py`` as a real subprocess against a temp store with a fast schedule (cycle times a few
seconds ahead, every day of the week): cycles run and write their rows, the job queue answers another process,
SIGTERM stops it cleanly, SIGKILL mid-cycle then a restart gives exactly one completed cycle and no duplicate
orders, a second scheduler is refused, a bad [SCHEDULE] value fails at start with one line."""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from ravenshire.config import Config, load_config
from ravenshire.orchestration import get_job, run_cycle, scheduler_heartbeat, submit_job
from ravenshire.orchestration.queries import cycle_runs, workflow_history
from ravenshire.store import init_db, read
from ravenshire.store import schema as s
from tests.conftest import PROJECT, write_ini

UNIVERSE = "S01, S02, S03, S04, S05, S06, VIX"


def _at(seconds: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds)).strftime("%H:%M:%S")


class Scheduler:
    """A scheduler subprocess with its own ini and store; stderr (its log) kept in a file."""

    def __init__(self, tmp: Path, ini: Path) -> None:
        self.tmp, self.ini = tmp, ini
        self.env = {**os.environ, "RAVENSHIRE_CONFIG": str(ini), "PYTHONUNBUFFERED": "1"}
        self.env.pop("RAVENSHIRE_STORE_URL", None)
        self.proc: subprocess.Popen[bytes] | None = None
        self.n = 0

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        self.n += 1
        self.log = self.tmp / f"scheduler-{self.n}.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(PROJECT / "scheduler.py"), *args],
            cwd=PROJECT,
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )
        return self.proc

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        assert self.proc is not None
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)


@contextlib.contextmanager
def store_write_lock(path: Path) -> Iterator[None]:
    """Hold the SQLite store's write lock (as another writer would): the scheduler's next write waits for it."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.execute("ROLLBACK")
        conn.close()


def _wait(condition: Callable[[], bool], timeout: float, what: str, sched: Scheduler | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if sched is not None and sched.proc is not None and sched.proc.poll() is not None:
            pytest.fail(f"the scheduler exited ({sched.proc.returncode}) before {what}:\n{sched.text()[-3000:]}")
        time.sleep(0.1)
    log = sched.text()[-3000:] if sched is not None else ""
    pytest.fail(f"timed out after {timeout} s waiting for {what}\n{log}")


def _ini(tmp: Path, schedule: str) -> Path:
    return write_ini(
        tmp / "sched.ini",
        f"""
        [DATA]
        source = synthetic
        universe = {UNIVERSE}
        history_start = 2023-06-01
        synthetic_seed = 5
        [STORE]
        url = sqlite:///{tmp / "store.db"}
        [RISK]
        max_position_weight = 0.3
        var_limit = 0.05
        [AGENTS]
        min_confidence = 0.5
        decision_threshold = 0.3
        lookback_days = 252
        [SCHEDULE]
        days = mon-sun
        retries = 1
        retry_backoff = 0.5
        poll_seconds = 0.2
        heartbeat_seconds = 0.5
        {schedule}
        """,
    )


@pytest.fixture
def sched(tmp_path: Path) -> Iterator[Scheduler]:
    holder: list[Scheduler] = []
    yield_factory = holder
    yield_obj = Scheduler(tmp_path, tmp_path / "sched.ini")
    yield_factory.append(yield_obj)
    yield yield_obj
    for s_ in holder:
        if s_.proc is not None and s_.proc.poll() is None:
            s_.proc.kill()
            s_.proc.wait(timeout=30)


def _config(ini: Path) -> Config:
    return load_config(ini, env={})


def _count(engine, table, *where) -> int:
    with read(engine) as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_cycles_run_on_the_clock_jobs_from_another_process_run_and_sigterm_stops_cleanly(sched: Scheduler) -> None:
    _ini(
        sched.tmp,
        f"data_cycle = {_at(12)}\nmonitoring_cycle = {_at(18)}\nagent_cycle = {_at(24)}\n",
    )
    config = _config(sched.ini)
    engine = init_db(config.store_url)
    sched.start()
    _wait(lambda: (b := scheduler_heartbeat(engine, 0.5)) is not None and b.alive, 60, "the heartbeat", sched)
    beat = scheduler_heartbeat(engine, 0.5)
    assert beat is not None and beat.pid == sched.proc.pid and {e["id"] for e in beat.schedule} >= {
        "data_cycle", "agent_cycle", "monitoring_cycle"}  # fmt: skip

    # A job submitted from this (another) process is picked up and completed.
    job = submit_job(engine, "ping", submitted_by="test")
    _wait(lambda: get_job(engine, job.id).done, 30, "the ping job", sched)
    done = get_job(engine, job.id)
    assert done.status == "succeeded" and done.result["worker"].endswith(f":{sched.proc.pid}")

    # The three cycles run at their times and write their rows.
    def agent_done() -> bool:
        runs = cycle_runs(engine, "agent")
        return bool(len(runs)) and runs.iloc[0]["status"] == "completed"

    _wait(agent_done, 150, "the agent cycle", sched)
    cycles = cycle_runs(engine)
    assert {"data", "monitoring", "agent"} <= set(cycles["kind"])
    assert (cycles["status"] == "completed").all(), cycles[["id", "status", "error"]]
    runs = workflow_history(engine)
    assert set(runs["workflow"]) >= {"data_cycle", "monitoring_cycle", "agent_cycle"}
    assert _count(engine, s.agent_messages) > 0 and _count(engine, s.equity_snapshots) >= 1

    assert sched.stop(signal.SIGTERM) == 0
    beat = scheduler_heartbeat(engine, 0.5)
    assert beat is not None and beat.status == "stopped" and not beat.alive
    assert "running" not in set(workflow_history(engine)["status"])  # nothing left half-done
    assert "scheduler stopped" in sched.text() and "Traceback" not in sched.text()


def test_sigkill_mid_cycle_then_a_restart_completes_it_once_without_duplicate_orders(sched: Scheduler) -> None:
    _ini(sched.tmp, f"data_cycle = {_at(-3600)}\nmonitoring_cycle = {_at(-3000)}\nagent_cycle = {_at(14)}\n")
    config = _config(sched.ini)
    engine = init_db(config.store_url)
    data = run_cycle("data", engine, config)  # the data is in before the scheduler starts
    assert data.ok, data.run.error
    sched.start()

    def agent_running() -> bool:
        runs = workflow_history(engine, workflow="agent_cycle")
        return bool(len(runs)) and runs.iloc[0]["status"] == "running"

    _wait(agent_running, 90, "the agent cycle to start", sched)
    with store_write_lock(sched.tmp / "store.db"):  # the cycle's next write waits: it is mid-cycle for sure
        time.sleep(0.5)
        sched.stop(signal.SIGKILL)
    runs = workflow_history(engine, workflow="agent_cycle")
    assert runs.iloc[0]["status"] == "running", "the cycle finished before the kill: nothing was tested"

    sched.start()  # the restart finds the dead run, marks it interrupted, and catches the cycle up

    def agent_completed() -> bool:
        c = cycle_runs(engine, "agent")
        return bool(len(c)) and c.iloc[0]["status"] == "completed"

    _wait(agent_completed, 120, "the agent cycle to complete after the restart", sched)
    assert sched.stop(signal.SIGTERM) == 0
    agent = cycle_runs(engine, "agent")
    assert len(agent) == 1 and agent.iloc[0]["status"] == "completed"
    runs = workflow_history(engine, workflow="agent_cycle")
    assert list(runs["status"])[-1] == "interrupted" and "succeeded" in set(runs["status"])
    with read(engine) as conn:
        ids = conn.execute(select(s.orders.c.client_order_id)).scalars().all()
    assert len(ids) == len(set(ids)), "an order was sent twice"
    assert all(i.startswith(agent.iloc[0]["id"]) for i in ids)
    assert "recovered after a crash" in sched.text()


def test_a_second_scheduler_on_the_same_store_is_refused(sched: Scheduler) -> None:
    _ini(sched.tmp, "")
    engine = init_db(_config(sched.ini).store_url)
    first = sched.start()
    _wait(lambda: (b := scheduler_heartbeat(engine, 0.5)) is not None and b.alive, 60, "the heartbeat", sched)
    second = subprocess.run(
        [sys.executable, str(PROJECT / "scheduler.py")], cwd=PROJECT, env=sched.env, capture_output=True,
        text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 1
    assert f"another scheduler is running (pid {first.pid}" in second.stderr
    assert sched.stop(signal.SIGINT) == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        (
            {"RAVENSHIRE_SCHEDULE_AGENT_CYCLE": "9:75"},
            "RAVENSHIRE_SCHEDULE_AGENT_CYCLE = '9:75': not a time; use HH:MM",
        ),
        ({"RAVENSHIRE_SCHEDULE_DAYS": "weekdays"}, "RAVENSHIRE_SCHEDULE_DAYS = 'weekdays': not days of the week"),
        ({"RAVENSHIRE_SCHEDULE_TIMEZONE": "Mars/Olympus"}, "unknown time zone"),
    ],
)
def test_a_bad_schedule_value_fails_at_start_with_one_line(tmp_path: Path, env: dict[str, str], message: str) -> None:
    ini = _ini(tmp_path, "")
    full = {**os.environ, "RAVENSHIRE_CONFIG": str(ini), **env}
    done = subprocess.run(
        [sys.executable, str(PROJECT / "scheduler.py")], cwd=PROJECT, env=full, capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0] and lines[0].startswith("python scheduler.py: error:")


def test_once_list_and_backfill_from_the_command_line(tmp_path: Path) -> None:
    ini = _ini(tmp_path, "")
    env = {**os.environ, "RAVENSHIRE_CONFIG": str(ini)}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, str(PROJECT / "scheduler.py"), *args], cwd=PROJECT, env=env,
                              capture_output=True, text=True, timeout=300)  # fmt: skip

    listed = run("--list")
    assert listed.returncode == 0 and "agent_cycle" in listed.stdout and "never ran on this store" in listed.stdout
    back = run("--backfill", "2024-06-26", "2024-06-27")
    assert back.returncode == 0, back.stderr
    assert [line.split(":")[0] for line in back.stdout.splitlines()] == [
        "data-2024-06-26", "monitoring-2024-06-26", "data-2024-06-27", "monitoring-2024-06-27"]  # fmt: skip
    again = run("--once", "data", "--date", "2024-06-27")
    assert again.returncode == 0 and "data-2024-06-27: skipped" in again.stdout
    bad = run("--once", "data", "--date", "2024-06-29")
    assert bad.returncode == 2 and "2024-06-29 is not a trading session" in bad.stderr
    assert run("--once", "lunch").returncode == 2
    assert "--date goes with --once" in run("--date", "2024-06-27").stderr


def test_sigterm_mid_cycle_lets_the_step_in_flight_finish(sched: Scheduler) -> None:
    _ini(sched.tmp, f"data_cycle = {_at(-3600)}\nmonitoring_cycle = {_at(-3000)}\nagent_cycle = {_at(14)}\n")
    config = _config(sched.ini)
    engine = init_db(config.store_url)
    assert run_cycle("data", engine, config).ok
    sched.start()

    def agent_running() -> bool:
        runs = workflow_history(engine, workflow="agent_cycle")
        return bool(len(runs)) and runs.iloc[0]["status"] == "running"

    _wait(agent_running, 90, "the agent cycle to start", sched)
    with store_write_lock(sched.tmp / "store.db"):  # the cycle's next write waits: SIGTERM lands mid-cycle
        sched.proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert sched.proc.poll() is None  # it waits for the step in flight
    assert sched.proc.wait(timeout=60) == 0
    run = workflow_history(engine, workflow="agent_cycle").iloc[0]
    assert run["status"] == "succeeded", run["error"]  # the step in flight finished before the exit
    assert cycle_runs(engine, "agent").iloc[0]["status"] == "completed"
    assert "running" not in set(workflow_history(engine)["status"])
    assert "stopping on SIGTERM" in sched.text()

"""The daily cycles keyed by (kind, business date): exactly once, recovery after a dead process, what is due."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import func, insert, select

from ravenshire.config import Config
from ravenshire.errors import ConfigError
from ravenshire.orchestration import run_cycle
from ravenshire.orchestration.cycles import recover_interrupted
from ravenshire.orchestration.queries import cycle_runs, step_history, workflow_history
from ravenshire.orchestration.schedule import SchedulerService
from ravenshire.orchestration.workflow import HOST
from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s

DAY = "2024-06-27"


@pytest.fixture
def cfg(make_config: Callable[..., Config]) -> Config:
    return make_config(
        "[DATA]\nsource = synthetic\nuniverse = AAA, BBB, CCC\nhistory_start = 2023-01-03\nsynthetic_seed = 3\n"
        "[SCHEDULE]\nretries = 0\ndays = mon-sun\n"
    )


def count(engine, table, *where) -> int:
    with read(engine) as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_a_data_cycle_runs_once_per_business_date(cfg: Config) -> None:
    engine = init_db(cfg.store_url)
    first = run_cycle("data", engine, cfg, DAY)
    assert first.status == "succeeded" and first.cycle_id == f"data-{DAY}"
    assert first.summary["fetch"]["rows_stored"] > 0 and first.summary["snapshot"]["newest_bar"] == DAY
    bars = count(engine, s.bars)
    again = run_cycle("data", engine, cfg, DAY)
    assert again.status == "skipped" and again.run.steps["claim"].error.startswith(f"data-{DAY} completed")
    assert count(engine, s.bars) == bars and count(engine, s.cycles) == 1
    runs = workflow_history(engine)
    assert list(runs["status"]) == ["skipped", "succeeded"] and set(runs["cycle_id"]) == {f"data-{DAY}"}


def test_the_monitoring_cycle_needs_its_data_then_marks_the_book(cfg: Config) -> None:
    engine = init_db(cfg.store_url)
    early = run_cycle("monitoring", engine, cfg, DAY)
    assert early.status == "failed" and f"the bars of {DAY} are not stored yet" in early.run.error
    run_cycle("data", engine, cfg, DAY)
    done = run_cycle("monitoring", engine, cfg, DAY)
    assert done.status == "succeeded", done.run.error
    assert done.summary["mark"]["equity"] == pytest.approx(cfg.execution.initial_cash)
    assert "no drift monitor" in done.summary["drift"]["skipped"]
    assert count(engine, s.equity_snapshots) == 1
    cycles = cycle_runs(engine).set_index("id")
    assert cycles.loc[f"monitoring-{DAY}", "status"] == "completed"
    assert cycles.loc[f"monitoring-{DAY}", "attempts"] == 1  # the failed attempt never claimed it


def test_a_cycle_date_that_is_not_a_session_is_refused(cfg: Config) -> None:
    with pytest.raises(ConfigError, match="2024-06-29 is not a trading session"):
        run_cycle("data", init_db(cfg.store_url), cfg, "2024-06-29")
    with pytest.raises(ConfigError, match="unknown cycle 'lunch'"):
        run_cycle("lunch", init_db(cfg.store_url), cfg, DAY)


def test_recovery_marks_a_dead_processes_run_and_cycle_then_the_cycle_reruns(cfg: Config) -> None:
    engine = init_db(cfg.store_url)
    now = dt.datetime.now(dt.UTC)
    with write(engine) as conn:  # what a process killed mid-cycle leaves behind
        left = {"id": f"data-{DAY}", "kind": "data", "business_date": 20240627, "status": "running", "attempts": 1,
                "is_demo": True, "started_at": now}  # fmt: skip
        conn.execute(insert(s.cycles), left)
        run_id = conn.execute(
            insert(s.workflow_runs).returning(s.workflow_runs.c.id),
            {"workflow": "data_cycle", "trigger": "schedule", "cycle_id": f"data-{DAY}", "business_date": 20240627,
             "status": "running", "host": HOST, "pid": 999_999_999, "owner": f"{HOST}:999999999:4242",
             "started_at": now},
        ).scalar_one()  # fmt: skip
        conn.execute(insert(s.step_runs), {"workflow_run_id": run_id, "step": "fetch", "status": "running",
                                           "attempts": 1, "started_at": now})  # fmt: skip
    # A fresh running claim belongs to another process: refused until recovery says its process is gone.
    refused = run_cycle("data", engine, cfg, DAY)
    assert refused.status == "failed" and "running in another process" in refused.run.error
    recovered = recover_interrupted(engine)  # no process 999999999 here: its owner is gone
    assert recovered == [{"workflow_run": run_id, "workflow": "data_cycle", "cycle_id": f"data-{DAY}",
                          "cycle_failed": True}]  # fmt: skip
    assert step_history(engine, run_id).iloc[0]["status"] == "interrupted"
    rerun = run_cycle("data", engine, cfg, DAY)
    assert rerun.status == "succeeded"
    row = cycle_runs(engine).set_index("id").loc[f"data-{DAY}"]
    assert row["status"] == "completed" and row["attempts"] == 2
    assert count(engine, s.cycles) == 1


def test_the_plan_catches_up_missed_dates_in_order_within_the_horizon(make_config) -> None:
    cfg = make_config(
        "[DATA]\nsource = synthetic\nuniverse = AAA\nhistory_start = 2024-01-02\n"
        "[SCHEDULE]\ndata_cycle = 22:00\nmonitoring_cycle = 23:00\nagent_cycle = 09:30\ncatchup_sessions = 3\n"
    )
    engine = init_db(cfg.store_url)
    service = SchedulerService(cfg, engine)
    at = dt.datetime(2024, 6, 28, 23, 30, tzinfo=dt.UTC)  # Friday night, after both cycles' fire times
    fresh = service.plan(now=at)
    # A new store runs the latest cycles only.
    assert fresh == [("data", pd.Timestamp("2024-06-28")), ("monitoring", pd.Timestamp("2024-06-28"))]
    run_cycle("data", engine, cfg, "2024-06-20")  # the last day the scheduler ran
    plan = service.plan(kinds=["data"], now=at)
    assert [d.date().isoformat() for _, d in plan] == ["2024-06-25", "2024-06-26", "2024-06-27", "2024-06-28"]


def test_a_missing_upstream_fails_at_once_without_retries(make_config) -> None:
    cfg = make_config(
        "[DATA]\nsource = synthetic\nuniverse = AAA\nhistory_start = 2024-01-02\n"
        "[SCHEDULE]\nretries = 3\nretry_backoff = 300\n"  # a retry would wait 5 minutes
    )
    engine = init_db(cfg.store_url)
    outcome = run_cycle("monitoring", engine, cfg, DAY)
    assert outcome.status == "failed" and outcome.run.duration_s < 60
    assert outcome.run.steps["claim"].attempts == 1


def test_the_risk_step_measures_the_book_against_the_limits(cfg: Config) -> None:
    from ravenshire.execution import ExecutionManager

    engine = init_db(cfg.store_url)
    run_cycle("data", engine, cfg, DAY)
    ex = ExecutionManager(cfg, engine=engine)
    for symbol in ("AAA", "BBB"):
        order = ex.execute_trade(symbol, "BUY", 20)
        assert str(order.status) == "filled", order.reason
    done = run_cycle("monitoring", engine, cfg, DAY)
    assert done.status == "succeeded", done.run.error
    risk = done.summary["risk"]
    assert risk["ok"] is True and {"var_limit", "max_leverage", "max_position_weight"} <= set(risk["checked"])
    assert done.summary["mark"]["positions"] == 2


def test_recovery_marks_a_dead_schedulers_running_jobs_interrupted(cfg: Config) -> None:
    from ravenshire.orchestration import get_job, submit_job
    from ravenshire.orchestration.jobs import claim_next_job

    engine = init_db(cfg.store_url)
    job = submit_job(engine, "ping")
    claim_next_job(engine, f"{HOST}:999999999")
    recover_interrupted(engine, alive=lambda owner: False)
    after = get_job(engine, job.id)
    assert after.status == "interrupted" and "submit it again" in after.error


def test_the_agent_cycle_is_due_once_a_fire_time_passed_after_its_bars_were_stored(make_config) -> None:
    from ravenshire.data import DataManager
    from tests.conftest import NOW

    stored_at = dt.datetime.now(dt.UTC)
    fire = stored_at + dt.timedelta(minutes=2)
    cfg = make_config(
        "[DATA]\nsource = synthetic\nuniverse = AAA\nhistory_start = 2024-01-02\n"
        f"[SCHEDULE]\ndays = mon-sun\nagent_cycle = {fire:%H:%M:%S}\n"
    )
    engine = init_db(cfg.store_url)
    DataManager(cfg, engine=engine, now=NOW).get_market_data()  # stored by hand: no data cycle row
    service = SchedulerService(cfg, engine)
    assert service.plan(kinds=["agent"], now=stored_at + dt.timedelta(minutes=1)) == []  # the fire is still ahead
    due = service.plan(kinds=["agent"], now=stored_at + dt.timedelta(minutes=3))
    assert due == [("agent", pd.Timestamp("2024-06-28"))]


def test_recovery_tells_a_reused_pid_from_its_owner_and_spares_a_cycle_a_live_run_holds(cfg: Config) -> None:
    import os

    from ravenshire.orchestration.workflow import process_owner

    engine = init_db(cfg.store_url)
    now = dt.datetime.now(dt.UTC)
    me = process_owner()
    reused = me.rsplit(":", 1)[0] + ":1"  # this pid, but a process that started at another time: a dead owner
    with write(engine) as conn:
        held = {"id": f"data-{DAY}", "kind": "data", "business_date": 20240627, "status": "running", "attempts": 2,
                "is_demo": True, "started_at": now}  # fmt: skip
        conn.execute(insert(s.cycles), held)
        base = {"workflow": "data_cycle", "trigger": "schedule", "cycle_id": f"data-{DAY}", "business_date": 20240627,
                "status": "running", "host": HOST, "pid": os.getpid(), "started_at": now}  # fmt: skip
        dead_id = conn.execute(
            insert(s.workflow_runs).returning(s.workflow_runs.c.id), {**base, "owner": reused}
        ).scalar_one()
        conn.execute(insert(s.workflow_runs), {**base, "owner": me})  # attempt 2, alive: this process
    recovered = recover_interrupted(engine)
    assert [r["workflow_run"] for r in recovered] == [dead_id] and recovered[0]["cycle_failed"] is False
    assert cycle_runs(engine).iloc[0]["status"] == "running"  # the live run keeps its cycle


def test_recovery_of_a_taken_over_scheduler_on_another_host(cfg: Config) -> None:
    engine = init_db(cfg.store_url)
    now = dt.datetime.now(dt.UTC)
    with write(engine) as conn:
        conn.execute(insert(s.workflow_runs), {"workflow": "agent_cycle", "trigger": "schedule", "status": "running",
                                               "host": "old-box", "pid": 77, "owner": "old-box:77:99",
                                               "started_at": now})  # fmt: skip
    assert recover_interrupted(engine) == []  # another host: unknown from here
    assert len(recover_interrupted(engine, dead_owner=("old-box", 77))) == 1  # its lease was taken over


def test_a_cycle_firing_on_some_weekdays_still_owes_every_session(make_config) -> None:
    cfg = make_config(
        "[DATA]\nsource = synthetic\nuniverse = AAA\nhistory_start = 2024-01-02\n"
        "[SCHEDULE]\ndata_cycle = 22:00\ndays = mon,wed,fri\ncatchup_sessions = 10\n"
    )
    engine = init_db(cfg.store_url)
    run_cycle("data", engine, cfg, "2024-06-14")
    at = dt.datetime(2024, 6, 21, 23, 0, tzinfo=dt.UTC)  # Friday night
    plan = SchedulerService(cfg, engine).plan(kinds=["data"], now=at)
    assert [d.date().isoformat() for _, d in plan] == [
        "2024-06-17",
        "2024-06-18",
        "2024-06-20",
        "2024-06-21",
    ]  # fmt: skip  (06-19 was a holiday)


def test_a_stopping_scheduler_that_is_still_alive_is_neither_replaced_nor_recovered(cfg: Config) -> None:
    """A scheduler finishing its step after SIGTERM may beat late; while its process lives, a new one is refused
    and its runs are not taken for dead."""
    import subprocess
    import sys

    from ravenshire.errors import OperationalError
    from ravenshire.orchestration.workflow import process_owner

    engine = init_db(cfg.store_url)
    old = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        time.sleep(0.2)
        stale = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
        owner = process_owner(old.pid)
        with write(engine) as conn:
            conn.execute(insert(s.scheduler_state), {"name": "scheduler", "status": "stopping", "host": HOST,
                                                     "pid": old.pid, "owner": owner, "token": "old",
                                                     "started_at": stale, "beat_at": stale})  # fmt: skip
            run = {"workflow": "data_cycle", "trigger": "schedule", "status": "running", "host": HOST, "pid": old.pid,
                   "owner": owner, "started_at": stale}  # fmt: skip
            conn.execute(insert(s.workflow_runs), run)
        with pytest.raises(OperationalError, match=f"another scheduler is running \\(pid {old.pid}"):
            SchedulerService(cfg, engine).acquire()
        assert recover_interrupted(engine, dead_owner=(HOST, old.pid)) == []  # alive: not recovered
    finally:
        old.kill()
        old.wait()
    assert SchedulerService(cfg, engine).acquire() == (HOST, old.pid)  # now it is gone: taken over
    assert len(recover_interrupted(engine, dead_owner=(HOST, old.pid))) == 1


def test_a_run_that_lost_its_claim_stops_at_its_next_step(cfg: Config) -> None:
    from ravenshire.orchestration.cycles import _Claim
    from ravenshire.orchestration.workflow import LostClaim

    engine = init_db(cfg.store_url)
    claim = _Claim(engine, cfg, "data", pd.Timestamp(DAY))
    assert claim.claim(dt.datetime.now(dt.UTC)) is None
    with write(engine) as conn:  # another process took the cycle over (attempt 2)
        conn.execute(s.cycles.update().where(s.cycles.c.id == claim.id), {"attempts": 2})
    with pytest.raises(LostClaim, match="taken over"):
        claim.touch()

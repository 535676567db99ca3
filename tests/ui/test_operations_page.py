"""The Operations page under AppTest, inside app.py's frame, against a real temp store seeded by a real data cycle,
a failed monitoring cycle, queued jobs and a scheduler's heartbeat row. The page only reads and queues: nothing
here starts a scheduler or runs a job."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from ravenshire.config import load_config
from ravenshire.orchestration import list_jobs, run_cycle, submit_job
from ravenshire.orchestration.schedule import SchedulerService
from ravenshire.store import init_db, read
from ravenshire.store import schema as s
from tests.conftest import PROJECT, write_ini
from tests.ui.conftest import UI_INI

APP_PAGE = "pages/operations.py"
DAY = "2025-06-27"
KEY_PREFIX = "_operations_key_"


def run_page(at: AppTest | None = None) -> AppTest:
    if at is None:  # (not ``at or``: an AppTest that has not run yet is falsy)
        at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=120).switch_page(APP_PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _engine():
    return init_db(load_config().store_url)


def _audit() -> pd.DataFrame:
    with read(_engine()) as conn:
        return pd.DataFrame(conn.execute(select(s.audit_log).order_by(s.audit_log.c.id)).mappings().all())


@pytest.fixture
def seeded(app_env) -> dict[str, int]:
    """A data cycle that succeeded, a monitoring cycle of the day before that failed (no bars stored for it yet…
    it is refused by its data check), two queued jobs and a live scheduler row."""
    write_ini(Path(app_env["RAVENSHIRE_CONFIG"]), UI_INI + "[SCHEDULE]\nretries = 0\n")  # fail at once
    config, engine = load_config(), _engine()
    data = run_cycle("data", engine, config, DAY)
    assert data.status == "succeeded", data.run.error
    failed = run_cycle("monitoring", engine, config, "2025-06-30")  # its bars are not stored: the step fails
    assert failed.status == "failed"
    ping = submit_job(engine, "ping", {}, submitted_by="tester")
    cycle = submit_job(engine, "agent_cycle", {}, submitted_by="tester")
    SchedulerService(config, engine).acquire()  # the heartbeat row of a running scheduler (this process)
    return {"data_run": data.run.run_id, "failed_run": failed.run.run_id, "ping": ping.id, "cycle_job": cycle.id}


def test_a_new_store_says_to_start_the_scheduler(app_env) -> None:
    at = run_page()
    assert at.title[0].value == "Operations"
    assert any("No scheduler has ever run" in w.value and "python scheduler.py" in w.value for w in at.warning)
    assert any("None known yet: start `python scheduler.py`" in c.value for c in at.caption)
    infos = [i.value for i in at.info]
    assert any(i.startswith("No job yet") for i in infos)
    assert any(i.startswith("No cycle has run yet") for i in infos)
    assert any(i.startswith("No workflow run yet") for i in infos)
    assert not at.error
    assert not any(b.disabled for b in at.button if b.label.startswith("Run "))


def test_a_seeded_store_shows_the_heartbeat_cycles_runs_steps_and_queue(seeded) -> None:
    at = run_page()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Scheduler"] == "alive" and metrics["PID"] == str(os.getpid())
    assert any(s.value.startswith("Scheduler alive") for s in at.success)
    schedule = _frame(at, "next_run")
    assert set(schedule["id"]) == {"data_cycle", "agent_cycle", "monitoring_cycle"}
    assert schedule["next_run"].notna().all()

    cycles = _frame(at, "business_date").set_index("id")
    assert cycles.loc[f"data-{DAY}", "status"] == "completed"

    runs = _frame(at, "workflow").set_index("id")
    assert runs.loc[seeded["data_run"], "status"] == "succeeded"
    assert runs.loc[seeded["failed_run"], "status"] == "failed"
    assert "not stored yet" in runs.loc[seeded["failed_run"], "error"]

    # The drill-down opens the newest run: the failed monitoring cycle, its failed step's log shown.
    steps = _frame(at, "step")
    failed = steps[steps["status"] == "failed"]
    assert len(failed) == 1 and "not stored yet" in failed["error"].iloc[0]
    picker = next(sb for sb in at.selectbox if sb.label == "Workflow run")
    picker.set_value(seeded["data_run"])
    at = run_page(at)
    steps = _frame(at, "step")
    assert (steps["status"] == "succeeded").all() and {"claim", "fetch"} <= set(steps["step"])
    assert at.code and any("ravenshire" in c.value for c in at.code)  # a log excerpt in a code block

    jobs = _frame(at, "submitted_by").set_index("id")
    assert jobs.loc[seeded["ping"], "kind"] == "ping" and jobs.loc[seeded["ping"], "status"] == "queued"
    assert jobs.loc[seeded["cycle_job"], "kind"] == "agent_cycle"


def test_a_result_link_opens_its_workflow_run(seeded) -> None:
    at = AppTest.from_file(str(PROJECT / "app.py"), default_timeout=120).switch_page(APP_PAGE)
    at.query_params["run"] = str(seeded["data_run"])
    at = run_page(at)
    assert next(sb for sb in at.selectbox if sb.label == "Workflow run").value == seeded["data_run"]


def test_run_now_queues_exactly_one_job_however_often_the_click_arrives(app_env) -> None:
    at = run_page()
    key = at.session_state[KEY_PREFIX + "data"]
    _button(at, "Run data cycle now").click()
    at = run_page(at)
    jobs = list_jobs(_engine())
    assert len(jobs) == 1 and jobs["kind"].iloc[0] == "data_cycle" and jobs["status"].iloc[0] == "queued"
    assert jobs["idempotency_key"].iloc[0] == key and jobs["submitted_by"].iloc[0].startswith("ui")
    assert any(f"Job #{jobs['id'].iloc[0]} queued" in m.value for m in at.success)
    assert at.session_state[KEY_PREFIX + "data"] != key  # the next click is a new job

    run_page(at)  # a plain rerun queues nothing
    # A run interrupted before the key was renewed (a double click) sends the same key again: still one job.
    at.session_state[KEY_PREFIX + "data"] = key
    at = run_page(at)
    _button(at, "Run data cycle now").click()
    at = run_page(at)
    assert len(list_jobs(_engine())) == 1

    audit = _audit()
    audit = audit[audit["action"] != "data_bootstrap"]  # the first visit generated the demo universe
    assert list(audit["action"]) == ["job_submit", "job_submit"] and set(audit["outcome"]) == {"ok"}
    assert json.loads(audit["detail"].iloc[0])["kind"] == "data_cycle"

    _button(at, "Run agent cycle now").click()
    at = run_page(at)
    assert sorted(list_jobs(_engine())["kind"]) == ["agent_cycle", "data_cycle"]


def test_cancel_cancels_a_queued_job_and_is_audited(seeded) -> None:
    at = run_page()
    queued = next(sb for sb in at.selectbox if sb.label == "Queued job")
    queued.set_value(seeded["ping"])
    _button(at, "Cancel job").click()
    at = run_page(at)
    jobs = list_jobs(_engine()).set_index("id")
    assert jobs.loc[seeded["ping"], "status"] == "cancelled"
    assert jobs.loc[seeded["cycle_job"], "status"] == "queued"
    assert any(f"Job #{seeded['ping']} (ping) cancelled" in m.value for m in at.success)
    audit = _audit()
    assert audit["action"].iloc[-1] == "job_cancel" and audit["target"].iloc[-1] == f"job #{seeded['ping']}"
    shown = _frame(at, "submitted_by").set_index("id")
    assert shown.loc[seeded["ping"], "status"] == "cancelled"


def test_a_viewer_sees_everything_and_can_neither_run_nor_cancel(seeded, monkeypatch) -> None:
    import ravenshire.ui.auth as auth

    monkeypatch.setattr(auth, "can_operate", lambda: False)
    at = run_page()
    runs = [b for b in at.button if b.label.startswith("Run ")]
    assert len(runs) == 3 and all(b.disabled for b in runs)
    assert _button(at, "Cancel job").disabled
    assert any("Only an operator can run cycles now or cancel jobs" in c.value for c in at.caption)
    assert _frame(at, "submitted_by").shape[0] == 2  # the queue is still shown


def test_a_stopped_scheduler_is_shown_down_with_what_to_do(seeded) -> None:
    config, engine = load_config(), _engine()
    service = SchedulerService(config, engine)
    service.acquire()
    service.beat("stopped", "stopped on SIGTERM")
    at = run_page()
    assert {m.label: m.value for m in at.metric}["Scheduler"] == "stopped"
    assert any(e.value.startswith("Scheduler down") and "python scheduler.py" in e.value for e in at.error)

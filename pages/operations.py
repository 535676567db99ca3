"""Operations: the scheduler's heartbeat and its next runs, the daily cycles, the workflow runs with a drill-down into
one run's steps, the job queue (with cancel) and "run now" for the three cycles.

The page never runs a cycle: "run now" SUBMITS a job (kinds ``data_cycle``, ``monitoring_cycle``, ``agent_cycle``)
that ``python scheduler.py`` picks up. Acting (run now, cancel) is for operators (``ravenshire.ui.auth``), and every
action is written to the audit log. The heartbeat and the queue are live panels (redrawn every
``[UI] refresh_seconds``).
"""

import datetime as dt
import json
import math
import uuid
from typing import Any

import pandas as pd
import streamlit as st

from ravenshire.orchestration import (
    JOB_KINDS,
    Heartbeat,
    cancel_job,
    cycle_runs,
    list_jobs,
    scheduler_heartbeat,
    step_history,
    submit_job,
    workflow_history,
)
from ravenshire.ui import (
    attempt,
    cached_query,
    clear_reads,
    flash,
    get_config,
    get_engine,
    live_panel,
    live_query,
    require_frame,
    run_action,
    show_flashes,
)
from ravenshire.ui.auth import audit, can_operate, current_user

require_frame("pages/operations.py")  # first: only inside app.py's frame

heartbeat_q = live_query(scheduler_heartbeat)
jobs_q = live_query(list_jobs)
cycles_q = cached_query(cycle_runs)
workflows_q = cached_query(workflow_history)
steps_q = cached_query(step_history)

#: The cycles "run now" submits, in the order of the day.
RUN_NOW = [("data", "Data cycle"), ("monitoring", "Monitoring cycle"), ("agent", "Agent cycle")]
#: Session key prefix of each run-now button's idempotency key (one per click-session: a double click is one job).
KEY_PREFIX = "_operations_key_"
#: Session key of the workflow run drilled into (not a widget key, so it survives a change of page).
RUN_KEY = "_operations_run"
#: Characters of a step's log shown (its tail; the store keeps the tail of its records).
LOG_TAIL = 4000
START_HINT = "start `python scheduler.py` (one per store) to run the schedule and the job queue"
VIEWER_NOTE = "Read-only: you are signed in as a viewer. Only an operator can run cycles now or cancel jobs."
JOB_COLUMNS = ["id", "status", "kind", "submitted_by", "submitted_at", "waited", "progress", "message", "result",
               "workflow_run", "error"]  # fmt: skip


# --------------------------------------------------------------------------- formatting
def ago(seconds: float | None) -> str:
    """A duration for people: 42 s, 5 min, 3.2 h, 2.0 d."""
    if seconds is None or not math.isfinite(seconds):
        return "—"
    s = max(0.0, float(seconds))
    if s < 90:
        return f"{s:.0f} s"
    if s < 90 * 60:
        return f"{s / 60:.0f} min"
    if s < 36 * 3600:
        return f"{s / 3600:.1f} h"
    return f"{s / 86400:.1f} d"


def result_text(result: str | None) -> str:
    """A job's result links in one line (cycle, workflow run, backtest run, study)."""
    data = json.loads(result) if isinstance(result, str) and result else None  # NULL may read as NaN
    if not isinstance(data, dict):
        return ""
    parts = []
    for key, label in (("cycle_id", "cycle"), ("status", "status"), ("run_id", "run"), ("study", "study"),
                       ("best_run_id", "best run"), ("pong", "pong"), ("worker", "worker")):  # fmt: skip
        if data.get(key) not in (None, ""):
            parts.append(f"{label} {data[key]}")
    return " · ".join(parts)


def workflow_link(result: str | None) -> str | None:
    """A link to this page's drill-down into the job's workflow run, when it ran one."""
    data = json.loads(result) if isinstance(result, str) and result else None
    run = data.get("workflow_run_id") if isinstance(data, dict) else None
    return None if run is None else f"operations?run={int(run)}"


def job_table(jobs: pd.DataFrame, now: dt.datetime) -> pd.DataFrame:
    """The queue for the table: how long each job waited (so far, while queued) and its result links."""
    table = jobs.copy()
    queued = table["status"] == "queued"
    waiting = (pd.Timestamp(now) - table["submitted_at"]).dt.total_seconds()
    table["waited"] = [ago(w) for w in table["wait_s"].where(~queued, waiting)]
    table["workflow_run"] = table["result"].map(workflow_link)
    table["result"] = table["result"].map(result_text)
    return table[JOB_COLUMNS]


def new_key(kind: str) -> str:
    """A fresh idempotency key for the next click on the ``kind`` cycle's run-now button."""
    key = f"ui-{kind}-{uuid.uuid4().hex[:20]}"
    st.session_state[KEY_PREFIX + kind] = key
    return key


def refresh() -> None:
    """Forget cached reads after this session wrote to the store, and draw the whole page again."""
    clear_reads()
    st.rerun()


def actor() -> str:
    user = current_user()
    return f"ui:{user.name}"[:64] if user is not None else "ui"


# --------------------------------------------------------------------------- live panels
def heartbeat_panel(beat: Heartbeat) -> None:
    """The scheduler's heartbeat (alive or down, pid, host, last beat's age) and its jobs' next runs."""
    cols = st.columns(4)
    if beat.alive:
        cols[0].metric("Scheduler", "alive")
    else:
        cols[0].metric("Scheduler", "down" if beat.status != "stopped" else "stopped")
    cols[1].metric("PID", f"{beat.pid}", help=f"on host {beat.host}")
    cols[2].metric("Last beat", f"{ago(beat.age_s)} ago", help=f"{beat.beat_at:%Y-%m-%d %H:%M:%S} UTC")
    cols[3].metric("Up since [UTC]", f"{beat.started_at:%m-%d %H:%M}", help=f"{beat.started_at:%Y-%m-%d %H:%M:%S} UTC")
    if beat.alive:
        st.success(
            f"Scheduler alive: pid {beat.pid} on {beat.host}, last heartbeat {ago(beat.age_s)} ago"
            + (f" — {beat.message}" if beat.message else "")
            + ".",
            icon=":material/favorite:",
        )
    else:
        since = f"stopped at {beat.stopped_at:%Y-%m-%d %H:%M} UTC" if beat.stopped_at else f"status {beat.status}"
        st.error(
            f"Scheduler down: its last heartbeat was {ago(beat.age_s)} ago ({since}, pid {beat.pid} on "
            f"{beat.host}). Nothing scheduled runs and queued jobs wait: {START_HINT}.",
            icon=":material/heart_broken:",
        )
    st.markdown("**Scheduled jobs**")
    if not beat.schedule:
        st.caption("The scheduler reported no scheduled job.")
        return
    now = pd.Timestamp(dt.datetime.now(dt.UTC))
    schedule = pd.DataFrame(list(beat.schedule)).reindex(columns=["id", "name", "trigger", "next_run"])
    schedule["next_run"] = pd.to_datetime(schedule["next_run"], utc=True, format="ISO8601")
    schedule["in"] = [ago((t - now).total_seconds()) if pd.notna(t) else "—" for t in schedule["next_run"]]
    st.dataframe(
        schedule,
        hide_index=True,
        width="stretch",
        column_config={
            "next_run": st.column_config.DatetimeColumn("next run (UTC)", format="YYYY-MM-DD HH:mm"),
            "trigger": st.column_config.TextColumn("trigger", width="large"),
        },
    )
    if not beat.alive:
        st.caption("Next runs as the scheduler last reported them: they happen only while it runs.")


def no_scheduler_panel() -> None:
    st.warning(
        f"No scheduler has ever run against this store: {START_HINT}. Until then no cycle runs on schedule and "
        "the jobs queued below wait.",
        icon=":material/schedule:",
    )
    st.markdown("**Scheduled jobs**")
    st.caption(
        "None known yet: start `python scheduler.py` — it reports the data, agent and monitoring cycles and "
        "their next runs here."
    )


def scheduler_panel() -> None:
    """The heartbeat, or what to do when no scheduler ever ran (a live panel)."""
    beat, error = attempt("Reading the scheduler's heartbeat…", lambda: heartbeat_q(config.schedule.heartbeat_seconds))
    st.subheader("Scheduler")
    if error is not None:
        st.error(f"The scheduler's heartbeat could not be read: {error}")
    elif beat is None:
        no_scheduler_panel()
    else:
        heartbeat_panel(beat)


def queue_panel() -> None:
    """The job queue, newest first, and cancel for a queued job."""
    jobs = run_action("Reading the job queue…", jobs_q)
    st.subheader("Job queue")
    if jobs is None:
        return
    if jobs.empty:
        st.info(
            "No job yet. Queue a cycle with **Run now** above, a backtest or an optimization from the research "
            "pages, or `python -m ravenshire jobs submit KIND`."
        )
        return
    counts = jobs["status"].value_counts()
    st.caption(
        " · ".join(f"{k}: {int(counts[k])}" for k in ("queued", "running", "succeeded", "failed",
                                                                   "cancelled", "interrupted") if k in counts)
        + f" — the newest {len(jobs)} jobs."
    )  # fmt: skip
    st.dataframe(
        job_table(jobs, dt.datetime.now(dt.UTC)),
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn("job", format="%d"),
            "submitted_by": st.column_config.TextColumn("submitted by"),
            "submitted_at": st.column_config.DatetimeColumn("submitted (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "waited": st.column_config.TextColumn("waited", help="submission to start (so far, while queued)"),
            "progress": st.column_config.ProgressColumn("progress", min_value=0.0, max_value=1.0, format="percent"),
            "result": st.column_config.TextColumn("result", width="medium"),
            "workflow_run": st.column_config.LinkColumn(
                "workflow run", display_text=r"run=(\d+)", help="open the run's steps below"
            ),
            "error": st.column_config.TextColumn("error", width="large"),
        },
    )
    queued = jobs[jobs["status"] == "queued"]
    st.markdown("**Cancel a queued job**")
    if queued.empty:
        st.caption("No queued job: a running or finished job cannot be cancelled.")
        return
    labels = {
        int(i): f"#{i} {kind} — by {by}"
        for i, kind, by in zip(queued["id"], queued["kind"], queued["submitted_by"], strict=True)
    }
    c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
    picked = c1.selectbox("Queued job", list(labels), format_func=lambda i: labels.get(i, str(i)))
    operator = can_operate()
    if c2.button("Cancel job", disabled=not operator) and picked is not None:
        job_id = int(picked)
        if not can_operate():
            audit("job_cancel", target=f"job #{job_id}", outcome="refused", detail={"reason": "viewer"})
            flash("error", VIEWER_NOTE)
        else:
            done, error = attempt("Cancelling…", lambda: cancel_job(engine, job_id))
            if done is not None:
                audit("job_cancel", target=f"job #{job_id}", detail={"kind": done.kind})
                flash("success", f"Job #{job_id} ({done.kind}) cancelled.")
            else:
                audit("job_cancel", target=f"job #{job_id}", outcome="failed", detail={"error": error})
                flash("error", f"Job #{job_id} was not cancelled: {error}")
        refresh()
    if not operator:
        st.caption(VIEWER_NOTE)


# --------------------------------------------------------------------------- run now
def run_now(kind: str, title: str, operator: bool) -> None:
    """The ``kind`` cycle's button: submit one job per click-session (its idempotency key is renewed only once the
    job is stored, so a double click, or a run interrupted before that, resubmits the same key: one job)."""
    key = st.session_state.get(KEY_PREFIX + kind) or new_key(kind)
    job_kind = f"{kind}_cycle"
    clicked = st.button(f"Run {title.lower()} now", key=f"run_{key}", disabled=not operator, width="stretch",
                        help=f"queue a {job_kind} job: {JOB_KINDS[job_kind]} (the scheduler runs it)")  # fmt: skip
    if not clicked:
        return
    if not can_operate():
        audit("job_submit", target=job_kind, outcome="refused", detail={"reason": "viewer"})
        flash("error", VIEWER_NOTE)
        refresh()
    job, error = attempt(
        "Queueing…",
        lambda: submit_job(engine, job_kind, {}, submitted_by=actor(), idempotency_key=key, config=config),
    )
    if job is not None:
        new_key(kind)  # a confirmed job: the next click is a new one
        audit("job_submit", target=f"job #{job.id}", detail={"kind": job_kind, "idempotency_key": key})
        flash("success", f"Job #{job.id} queued: {title.lower()} ({job.status}). The scheduler runs it; follow it in "
                         "the job queue below.")  # fmt: skip
    else:
        audit("job_submit", target=job_kind, outcome="failed", detail={"error": error, "idempotency_key": key})
        flash("error", f"{title} not queued: {error} Clicking again is safe (one job per click).")
    refresh()


# --------------------------------------------------------------------------- the page
config = get_config()
engine = get_engine(config.store_url, config.store.busy_timeout_ms)

st.title("Operations")
show_flashes()
st.caption(
    "The scheduler process (`python scheduler.py`) runs the daily cycles and the job queue; this page watches it "
    "and queues work for it. It never runs a cycle itself."
)

live_panel(scheduler_panel)

st.subheader("Run now")
operator = can_operate()
buttons = st.columns(len(RUN_NOW))
for col, (kind, title) in zip(buttons, RUN_NOW, strict=True):
    with col:
        run_now(kind, title, operator)
st.caption(
    VIEWER_NOTE
    if not operator
    else "Each button queues one job (a double click is one job); a cycle already done for its business date is "
    "skipped when it runs. The scheduler must be running to pick it up."
)

live_panel(queue_panel)

st.subheader("Daily cycles")
cycles = run_action("Reading the cycles…", cycles_q)
if cycles is not None and cycles.empty:
    st.info(f"No cycle has run yet: {START_HINT}, or queue one with **Run now** above.")
elif cycles is not None:
    st.dataframe(
        cycles,
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.TextColumn("cycle"),
            "business_date": st.column_config.DateColumn("business date"),
            "is_demo": st.column_config.CheckboxColumn("demo"),
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "finished_at": st.column_config.DatetimeColumn("finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "duration_s": st.column_config.NumberColumn("duration [s]", format="%.1f"),
            "error": st.column_config.TextColumn("error", width="large"),
        },
    )

st.subheader("Workflow runs")
f1, f2 = st.columns(2)
workflow_filter = f1.selectbox(
    "Workflow", ["all", "data_cycle", "monitoring_cycle", "agent_cycle", "other"], help="the cycles' workflows"
)
status_filter = f2.selectbox("Status", ["all", "running", "succeeded", "failed", "interrupted", "skipped"])
runs = run_action(
    "Reading the workflow runs…",
    lambda: workflows_q(
        None if workflow_filter in ("all", "other") else workflow_filter,
        None if status_filter == "all" else status_filter,
        200,
    ),
)
if runs is not None and workflow_filter == "other":
    runs = runs[~runs["workflow"].isin(["data_cycle", "monitoring_cycle", "agent_cycle"])]
if runs is not None and runs.empty:
    st.info(f"No workflow run{' matches these filters' if workflow_filter != 'all' or status_filter != 'all' else ''} "
            f"yet: {START_HINT}, or queue a cycle with **Run now** above.")  # fmt: skip
elif runs is not None:
    table = runs[["id", "workflow", "trigger", "cycle_id", "job_id", "status", "started_at", "duration_s", "error",
                  "host", "pid"]]  # fmt: skip
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "id": st.column_config.NumberColumn("run", format="%d"),
            "job_id": st.column_config.NumberColumn("job", format="%d"),
            "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "duration_s": st.column_config.NumberColumn("duration [s]", format="%.2f"),
            "error": st.column_config.TextColumn("error", width="large"),
        },
    )
    st.markdown("**Steps of a run**")
    ids = [int(i) for i in runs["id"]]
    labels = {
        int(i): f"#{i} {name} — {status}" + (f" ({cycle})" if isinstance(cycle, str) else "")
        for i, name, status, cycle in zip(runs["id"], runs["workflow"], runs["status"], runs["cycle_id"], strict=True)
    }
    asked: Any = st.query_params.get("run")
    wanted = int(asked) if isinstance(asked, str) and asked.isdigit() else st.session_state.get(RUN_KEY)
    chosen = st.selectbox(
        "Workflow run",
        ids,
        index=ids.index(wanted) if wanted in ids else 0,
        format_func=lambda i: labels.get(i, str(i)),
    )
    st.session_state[RUN_KEY] = chosen
    steps = run_action("Reading the steps…", lambda: steps_q(int(chosen)))
    if steps is not None and steps.empty:
        st.caption("This run stored no step (it was skipped before its first step, or is starting).")
    elif steps is not None:
        st.dataframe(
            steps[["step", "status", "attempts", "started_at", "duration_s", "error"]],
            hide_index=True,
            width="stretch",
            column_config={
                "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "duration_s": st.column_config.NumberColumn("duration [s]", format="%.3f"),
                "error": st.column_config.TextColumn("error", width="large"),
            },
        )
        logged = [
            (str(step), str(status), int(tries), log)
            for step, status, tries, log in zip(
                steps["step"], steps["status"], steps["attempts"], steps["log"], strict=True
            )
            if isinstance(log, str) and log.strip()
        ]
        if not logged:
            st.caption("No step logged anything.")
        for step, status, tries, log in logged:
            failed = status not in ("succeeded", "skipped")
            with st.expander(f"Log of step {step} — {status}, {tries} attempt(s)", expanded=failed):
                st.code(log[-LOG_TAIL:], language="text")

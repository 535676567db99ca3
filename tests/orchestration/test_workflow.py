"""Workflows: dependency order, retries with exponential backoff, timeouts, skips, stopping; every run and step
stored in a real SQLite store."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest

from ravenshire.errors import ConfigError
from ravenshire.orchestration import OrchestrationManager, Skip, StepContext, WorkflowBuilder, WorkflowExecutor
from ravenshire.orchestration.queries import step_history, workflow_history
from ravenshire.store import init_db


@pytest.fixture
def engine(tmp_path: Path):
    return init_db(f"sqlite:///{tmp_path / 'wf.db'}")


def run(executor: WorkflowExecutor, wf, **kwargs):
    return asyncio.run(executor.run(wf, **kwargs))


def test_a_step_that_fails_twice_then_succeeds_is_retried_with_backoff_and_recorded(engine) -> None:
    calls: list[float] = []
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:  # the delays are recorded; the clock is not waited on
        sleeps.append(seconds)

    def flaky(ctx: StepContext) -> str:
        calls.append(time.monotonic())
        ctx.log.info("attempt %d", ctx.attempt)
        if ctx.attempt < 3:
            raise RuntimeError(f"source down (attempt {ctx.attempt})")
        return "bars"

    wf = WorkflowBuilder("flaky").step("fetch", flaky, retries=3, backoff=2.0, factor=3.0).build()
    result = run(WorkflowExecutor(engine, sleep=fake_sleep), wf)
    assert result.status == "succeeded" and result.result("fetch") == "bars"
    assert len(calls) == 3 and sleeps == [2.0, 6.0]  # backoff · factor^(k-1)
    runs = workflow_history(engine)
    assert runs.iloc[0]["status"] == "succeeded" and runs.iloc[0]["workflow"] == "flaky"
    step = step_history(engine, int(runs.iloc[0]["id"])).iloc[0]
    assert step["status"] == "succeeded" and step["attempts"] == 3 and step["duration_s"] >= 0
    assert "source down (attempt 1)" in step["log"] and "source down (attempt 2)" in step["log"]
    assert "retry 1/3 in 2 s" in step["log"] and "attempt 3" in step["log"]


def test_a_step_out_of_retries_fails_the_run_and_skips_its_dependents(engine) -> None:
    async def no_sleep(_s: float) -> None:
        return None

    def broken() -> None:
        raise ValueError("bad bar")

    ran: list[str] = []
    wf = (
        WorkflowBuilder("broken")
        .step("a", broken, retries=1)
        .step("b", lambda: ran.append("b"), depends_on=["a"])
        .step("c", lambda: ran.append("c"))
        .build()
    )
    result = run(WorkflowExecutor(engine, sleep=no_sleep), wf)
    assert result.status == "failed" and "a: ValueError: bad bar" in result.error
    assert result.steps["a"].attempts == 2 and result.steps["b"].status == "skipped" and ran == ["c"]
    steps = step_history(engine, result.run_id).set_index("step")
    assert steps.loc["a", "status"] == "failed" and steps.loc["a", "error"] == "ValueError: bad bar"
    assert steps.loc["b", "status"] == "skipped" and "a failed" in steps.loc["b", "error"]
    assert workflow_history(engine).iloc[0]["error"].startswith("a: ValueError")


def test_bad_input_is_not_retried(engine) -> None:
    attempts = []

    def refuse() -> None:
        attempts.append(1)
        raise ConfigError("symbol 'X' unknown")

    result = run(WorkflowExecutor(engine), WorkflowBuilder("cfg").step("s", refuse, retries=5).build())
    assert result.status == "failed" and len(attempts) == 1


def test_a_timed_out_attempt_is_recorded_and_retried(engine) -> None:
    async def slow(ctx: StepContext) -> str:
        if ctx.attempt == 1:
            await asyncio.sleep(5)
        return "ok"

    wf = WorkflowBuilder("slow").step("s", slow, retries=1, backoff=0.0, timeout=0.2).build()
    started = time.perf_counter()
    result = run(WorkflowExecutor(engine), wf)
    assert time.perf_counter() - started < 3
    assert result.status == "succeeded" and result.steps["s"].attempts == 2
    assert "attempt 1 timed out after 0.2 s" in step_history(engine, result.run_id).iloc[0]["log"]


def test_steps_run_in_dependency_order_and_get_their_inputs(engine) -> None:
    order: list[str] = []

    def step(name: str, value: int):
        def fn(ctx: StepContext) -> int:
            order.append(name)
            return value + sum(ctx.results.values())

        return fn

    wf = (
        WorkflowBuilder("dag")
        .step("total", step("total", 0), depends_on=["left", "right"])
        .step("left", step("left", 1), depends_on=["root"])
        .step("right", step("right", 2), depends_on=["root"])
        .step("root", step("root", 10))
        .build()
    )
    assert wf.order.index("root") < wf.order.index("left") < wf.order.index("total")
    result = run(WorkflowExecutor(engine), wf)
    assert order[0] == "root" and order[-1] == "total"
    assert result.result("total") == (1 + 10) + (2 + 10)


def test_a_skip_is_recorded_with_its_reason_and_the_run_is_skipped(engine) -> None:
    wf = (
        WorkflowBuilder("done")
        .step("claim", lambda: Skip("data-2024-06-28 completed"))
        .step("work", lambda: 1, depends_on=["claim"])
        .build()
    )
    result = run(WorkflowExecutor(engine), wf)
    assert result.status == "skipped" and result.ok
    steps = step_history(engine, result.run_id).set_index("step")
    assert steps.loc["claim", "status"] == "skipped" and "completed" in steps.loc["claim", "log"]


def test_stopping_finishes_the_step_in_flight_and_interrupts_the_rest(engine) -> None:
    stop = threading.Event()

    def first() -> str:
        stop.set()  # SIGTERM arrives while this step runs
        time.sleep(0.1)
        return "finished"

    wf = WorkflowBuilder("stop").step("first", first).step("second", lambda: 2, depends_on=["first"]).build()
    result = run(WorkflowExecutor(engine, stop=stop), wf)
    assert result.steps["first"].status == "succeeded" and result.steps["second"].status == "interrupted"
    assert result.status == "interrupted"
    assert workflow_history(engine).iloc[0]["status"] == "interrupted"


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: WorkflowBuilder("x").step("a", lambda: 1, depends_on=["nope"]).build(), "unknown step"),
        (
            lambda: (
                WorkflowBuilder("x")
                .step("a", lambda: 1, depends_on=["b"])
                .step("b", lambda: 1, depends_on=["a"])
                .build()
            ),
            "dependency cycle",
        ),
        (lambda: WorkflowBuilder("x").step("a", lambda: 1).step("a", lambda: 2), "already has a step"),
        (lambda: WorkflowBuilder("x").step("a", lambda: 1, retries=-1), "retries must be"),
        (lambda: WorkflowBuilder("x").step("a", lambda: 1, timeout=0), "timeout must be"),
        (lambda: WorkflowBuilder("x").build(), "has no step"),
    ],
)
def test_bad_workflows_are_refused_with_the_reason(build, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_the_seed_api_fetch_workflow_schedule_and_run(make_config) -> None:
    config = make_config(
        "[DATA]\nsource = synthetic\nuniverse = AAA, BBB\nhistory_start = 2024-01-02\n[SCHEDULE]\nretries = 0\n"
    )
    from ravenshire.data import DataManager
    from tests.conftest import NOW

    om = OrchestrationManager(config)
    data_manager = DataManager(config, engine=om.engine, now=NOW)
    wf = om.create_data_fetch_workflow(data_manager)
    entry = om.schedule_workflow(workflow=wf, schedule_time="16:00", frequency="daily")
    assert entry.id == "workflow:data_fetch" and entry.next_run is not None
    assert (entry.next_run.hour, entry.next_run.minute) == (16, 0)
    result = asyncio.run(om.run_workflow(wf))
    assert result.status == "succeeded", result.error
    assert result.result("fetch")["rows_stored"] > 0 and result.result("snapshot")["data_version"]
    with pytest.raises(ConfigError, match="frequency 'monthly'"):
        om.schedule_workflow(wf, "16:00", "monthly")
    with pytest.raises(ConfigError, match="not a time"):
        om.schedule_workflow(wf, "25:00")


def test_step_logs_do_not_leak_between_concurrent_steps(engine) -> None:
    def noisy(tag: str):
        def fn(ctx: StepContext) -> None:
            for i in range(20):
                logging.getLogger("ravenshire.test").info("%s line %d", tag, i)
                time.sleep(0.001)

        return fn

    wf = WorkflowBuilder("logs").step("a", noisy("AAA")).step("b", noisy("BBB")).build()
    result = run(WorkflowExecutor(engine), wf)
    steps = step_history(engine, result.run_id).set_index("step")
    assert "AAA line 19" in steps.loc["a", "log"] and "BBB" not in steps.loc["a", "log"]
    assert "BBB line 19" in steps.loc["b", "log"] and "AAA" not in steps.loc["b", "log"]


def test_a_timed_out_thread_does_not_hold_the_run_and_is_not_retried_while_it_runs(engine) -> None:
    release = threading.Event()
    calls: list[int] = []

    def hangs(ctx: StepContext) -> str:
        calls.append(ctx.attempt)
        release.wait(30)  # a network call that ignores its timeout
        return "late"

    wf = WorkflowBuilder("hang").step("fetch", hangs, retries=3, backoff=0.1, timeout=0.3).build()
    started = time.perf_counter()
    result = run(WorkflowExecutor(engine), wf)
    took = time.perf_counter() - started
    release.set()
    assert took < 5, "the run waited for the timed-out thread"
    assert result.status == "failed" and calls == [1]  # never two attempts at once
    assert "still running" in result.steps["fetch"].error
    assert step_history(engine, result.run_id).iloc[0]["status"] == "timed_out"


def test_a_stop_during_the_backoff_ends_the_wait_and_no_attempt_follows(engine) -> None:
    stop = threading.Event()
    calls: list[int] = []

    def fails(ctx: StepContext) -> None:
        calls.append(ctx.attempt)
        threading.Timer(0.2, stop.set).start()  # SIGTERM arrives during the 30 s backoff
        raise RuntimeError("source down")

    wf = WorkflowBuilder("backoff").step("fetch", fails, retries=3, backoff=30.0).build()
    started = time.perf_counter()
    result = run(WorkflowExecutor(engine, stop=stop), wf)
    assert time.perf_counter() - started < 5 and calls == [1]
    assert result.status == "interrupted" and "not retried: stopping" in result.steps["fetch"].error
    assert step_history(engine, result.run_id).iloc[0]["status"] == "interrupted"


def test_run_sync_works_inside_a_running_event_loop(engine) -> None:
    from ravenshire.orchestration.workflow import run_sync

    wf = (
        WorkflowBuilder("nb").step("a", lambda: 41).step("b", lambda ctx: ctx.result("a") + 1, depends_on=["a"]).build()
    )

    async def notebook_cell() -> int:  # Jupyter runs cells inside a loop
        return run_sync(WorkflowExecutor(engine), wf).result("b")

    assert asyncio.run(notebook_cell()) == 42

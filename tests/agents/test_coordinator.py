"""A full agent cycle on synthetic data, end to end: data from the store → five agents → messages on the bus →
orders filled; a re-run of the same date is idempotent; a crash after the decision resends only the stored
orders; a failing agent is recorded."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select, update

from ravenshire.agents import AGENTS, AgentCoordinator, cycle_messages
from ravenshire.config import Config
from ravenshire.data import DataManager
from ravenshire.errors import ConfigError, OperationalError
from ravenshire.execution import ExecutionManager
from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s
from tests.conftest import NOW

UNIVERSE = "S01, S02, S03, S04, S05, S06, S07, S08, S09, S10, S11, S12, VIX"
DATE = "2024-06-28"


@pytest.fixture
def cycle_config(make_config: Callable[..., Config]) -> Config:
    config = make_config(
        f"[DATA]\nsource = synthetic\nuniverse = {UNIVERSE}\nhistory_start = 2021-06-01\nsynthetic_seed = 5\n"
        "[RISK]\nmax_position_weight = 0.3\nvar_limit = 0.05\n"
        "[AGENTS]\nmin_confidence = 0.5\ndecision_threshold = 0.3\nlookback_days = 504\n"
    )
    DataManager(config, engine=init_db(config.store_url), now=NOW).get_market_data()
    return config


def count(engine, table) -> int:
    with read(engine) as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_a_full_cycle_end_to_end_and_a_rerun_is_idempotent(cycle_config: Config) -> None:
    coordinator = AgentCoordinator(cycle_config)
    result = coordinator.run_cycle(DATE)
    assert result.status == "completed" and not result.reused and result.is_demo
    assert result.cycle_id == f"agent-{DATE}" and result.data_version
    messages = cycle_messages(coordinator.engine, result.cycle_id)
    decisions = messages[messages["type"] == "decision"]
    assert decisions["sender"].tolist() == list(AGENTS)
    assert messages["seq"].tolist() == list(range(1, len(messages) + 1))
    assert messages.iloc[-1]["type"] == "orders" and messages.iloc[-1]["receiver"] == "execution"
    final = decisions.iloc[-1]["payload"]
    assert final["recommendation"] == result.recommendation
    with read(coordinator.engine) as conn:
        status = {r.agent: r.outcome for r in conn.execute(select(s.agent_status))}
        regime = conn.execute(select(s.regime_readings.c.regime)).scalar_one()
    assert set(status) == set(AGENTS) and "error" not in status.values()
    assert regime == result.regime
    execution = ExecutionManager(cycle_config)
    orders = execution.orders()
    if result.recommendation == "execute":
        assert len(result.orders) > 0 and len(orders) == len(result.orders)
        assert set(orders["client_order_id"]) == {o["client_order_id"] for o in result.orders}
        assert (orders["cycle_id"] == result.cycle_id).all() and (orders["origin"] == "agent").all()
    before = [count(coordinator.engine, t) for t in (s.orders, s.fills, s.agent_messages, s.cycles)]
    again = coordinator.run_cycle(DATE)
    assert again.reused and again.recommendation == result.recommendation and again.orders == result.orders
    assert [count(coordinator.engine, t) for t in (s.orders, s.fills, s.agent_messages, s.cycles)] == before
    assert execution.reconcile().ok


def test_a_crash_after_the_decision_sends_the_stored_orders_once(cycle_config: Config) -> None:
    coordinator = AgentCoordinator(cycle_config)
    first = coordinator.run_cycle(DATE)
    if not first.orders:
        pytest.skip("this data made the Sovereign hold: nothing to resend")
    engine = coordinator.engine
    # As if the process died after sending part of the basket: the cycle is back at "decided".
    with write(engine) as conn:
        conn.execute(update(s.cycles).values(status="decided"))
    n_orders = count(engine, s.orders)
    resent = coordinator.run_cycle(DATE)
    assert resent.status == "completed" and not resent.reused
    assert count(engine, s.orders) == n_orders  # the client order ids made the resend a no-op
    assert [o["order_id"] for o in resent.orders] == [o["order_id"] for o in first.orders]


def test_a_failing_agent_is_recorded_and_the_cycle_can_be_run_again(
    cycle_config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ravenshire.agents.strategist import StrategistAgent

    def broken(self, inputs):
        raise RuntimeError("division by zero in the optimizer")

    monkeypatch.setattr(StrategistAgent, "_decide", broken)
    coordinator = AgentCoordinator(cycle_config)
    with pytest.raises(OperationalError, match="RuntimeError: division by zero"):
        coordinator.run_cycle(DATE)
    with read(coordinator.engine) as conn:
        cycle = conn.execute(select(s.cycles)).mappings().one()
        status = {r.agent: (r.outcome, r.error) for r in conn.execute(select(s.agent_status))}
    assert cycle["status"] == "failed" and "division by zero" in cycle["error"]
    assert status["strategist"][0] == "error" and status["oracle"][0] in ("ok", "hold")
    assert count(coordinator.engine, s.orders) == 0
    monkeypatch.undo()
    again = coordinator.run_cycle(DATE)
    assert again.status == "completed"
    with read(coordinator.engine) as conn:
        assert conn.execute(select(s.cycles.c.attempts)).scalar_one() == 2
        payloads = [json.loads(p) for p in conn.execute(select(s.agent_messages.c.payload)).scalars()]
    assert not any("division by zero" in json.dumps(p) for p in payloads)  # the failed attempt's messages are gone


def test_bad_dates_are_refused(cycle_config: Config) -> None:
    coordinator = AgentCoordinator(cycle_config)
    with pytest.raises(ConfigError, match="not a trading session"):
        coordinator.run_cycle("2024-06-29")
    assert count(coordinator.engine, s.cycles) == 0  # refused before anything was stored
    with pytest.raises(ConfigError, match="no stored bars for 2024-07-01"):
        coordinator.run_cycle("2024-07-01")
    with pytest.raises(ConfigError, match="got the number"):
        coordinator.run_cycle(20240628)


def test_the_cycle_command(cycle_config: Config) -> None:
    import subprocess
    import sys

    from tests.conftest import PROJECT

    env = {"RAVENSHIRE_CONFIG": str(cycle_config.source), "RAVENSHIRE_STORE_URL": cycle_config.store_url,
           "PATH": "/usr/bin:/bin"}  # fmt: skip
    run = lambda *a: subprocess.run(  # noqa: E731
        [sys.executable, "-m", "ravenshire", *a], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300
    )
    done = run("cycle", "--date", DATE)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith(f"agent-{DATE}: ") and "regime" in first and "[DEMO DATA]" in first
    again = run("cycle", "--date", DATE)
    assert "done before: the stored decision; nothing was sent again" in again.stdout
    bad = run("cycle", "--date", "2024-06-29")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "not a trading session" in bad.stderr


def test_the_regime_model_is_stored_and_reused_until_its_refit(cycle_config: Config) -> None:
    coordinator = AgentCoordinator(cycle_config)  # [AGENTS] regime_refit_days = 21
    anchor = coordinator.regime_anchor(DATE)
    assert coordinator.regime_anchor("2024-06-27") == anchor == pd.Timestamp("2024-06-06")
    assert coordinator.regime_anchor("2024-06-05") < anchor
    coordinator.run_cycle("2024-06-27")
    with read(coordinator.engine) as conn:
        first = conn.execute(select(s.models)).mappings().one()
    assert first["train_end"] == 20240606 and first["train_start"] == 20210601  # the history up to the anchor
    assert first["name"].startswith("regime:20240606:")
    coordinator.run_cycle(DATE)  # the same block of the refit grid: the stored model is used, not refitted
    with read(coordinator.engine) as conn:
        again = conn.execute(select(s.models)).mappings().one()
        readings = conn.execute(select(s.regime_readings.c.date)).scalars().all()
    assert again["name"] == first["name"] and again["state"] == first["state"]
    assert again["fitted_at"] == first["fitted_at"]
    assert sorted(readings) == [20240627, 20240628]
    coordinator.run_cycle("2024-06-05")  # the block before: its own model, fitted on the data to its anchor
    with read(coordinator.engine) as conn:
        names = conn.execute(select(s.models.c.name, s.models.c.train_end)).all()
    assert len(names) == 2 and min(end for _, end in names) < 20240606


def test_the_grid_anchor_is_a_pure_function_of_the_date() -> None:
    from ravenshire.agents.coordinator import regime_anchor
    from ravenshire.data.calendar import sessions

    days = sessions("2024-01-02", "2024-12-31", "XNYS")
    anchors = [regime_anchor(d, 21, "XNYS") for d in days]
    assert all(a <= d for a, d in zip(anchors, days, strict=True))
    blocks = sorted(set(anchors))
    assert all(len(sessions(a, b, "XNYS")) - 1 == 21 for a, b in itertools.pairwise(blocks))
    assert all(regime_anchor(a, 21, "XNYS") == a for a in blocks)  # an anchor is its own anchor
    assert regime_anchor("2024-06-28", 1, "XNYS") == pd.Timestamp("2024-06-28")


def test_the_decisions_do_not_depend_on_the_order_the_dates_are_run_in(
    make_config: Callable[..., Config], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Regression: the regime model was refitted every regime_refit_days sessions after whichever cycle fitted it
    # last, and reused under one name, so the model (and so the decision) of a date depended on the dates run
    # before it. No order is sent, so the book stays empty and only the run order differs between the stores.
    monkeypatch.setattr(ExecutionManager, "execute_trades", lambda self, orders: [])
    dates = ["2024-06-05", "2024-06-27", DATE]
    outcomes = []
    for name, order in (("ascending", dates), ("descending", dates[::-1])):
        config = make_config(
            f"[DATA]\nsource = synthetic\nuniverse = {UNIVERSE}\nhistory_start = 2021-06-01\nsynthetic_seed = 5\n"
            "[RISK]\nmax_position_weight = 0.3\nvar_limit = 0.05\n"
            "[AGENTS]\nmin_confidence = 0.5\ndecision_threshold = 0.3\nlookback_days = 504\n",
            RAVENSHIRE_STORE_URL=f"sqlite:///{tmp_path / f'{name}.db'}",
        )
        DataManager(config, engine=init_db(config.store_url), now=NOW).get_market_data()
        coordinator = AgentCoordinator(config)
        for date in order:
            coordinator.run_cycle(date)
        with read(coordinator.engine) as conn:
            summaries = {r.id: json.loads(r.summary) for r in conn.execute(select(s.cycles.c.id, s.cycles.c.summary))}
            readings = {
                r.date: (r.regime, json.loads(r.probabilities)) for r in conn.execute(select(s.regime_readings))
            }
            models = sorted(conn.execute(select(s.models.c.name, s.models.c.state)).all())
        decisions = {
            cycle: [(m.sender, m.payload["recommendation"], m.payload["confidence"], m.payload["payload"])
                    for m in cycle_messages(coordinator.engine, cycle).itertuples() if m.type == "decision"]
            for cycle in summaries
        }  # fmt: skip
        outcomes.append((summaries, readings, models, decisions))
    (summaries, readings, models, decisions), other = outcomes
    assert len(summaries) == 3 and any(summary["orders"] for summary in summaries.values())
    assert summaries == other[0]  # recommendation, confidence, regime, vetoes and orders of every date
    assert readings == other[1]
    assert models == other[2]  # the same models, under the same keys
    assert decisions == other[3]


def test_the_agents_after_a_failed_one_are_skipped(cycle_config: Config, monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression: after the Oracle failed, the other agents kept the outcome of the previous cycle ("ok").
    from ravenshire.agents.oracle import OracleAgent

    coordinator = AgentCoordinator(cycle_config)
    coordinator.run_cycle("2024-06-27")

    def broken(self, inputs):
        raise RuntimeError("no reading")

    monkeypatch.setattr(OracleAgent, "_decide", broken)
    with pytest.raises(OperationalError, match="no reading"):
        coordinator.run_cycle(DATE)

    def stored() -> tuple[dict, dict]:
        with read(coordinator.engine) as conn:
            cycle = conn.execute(select(s.cycles).where(s.cycles.c.id == f"agent-{DATE}")).mappings().one()
            rows = {r.agent: r for r in conn.execute(select(s.agent_status))}
        return dict(cycle), rows

    cycle, status = stored()
    assert cycle["status"] == "failed"
    assert status["oracle"].outcome == "error" and "no reading" in status["oracle"].error
    for agent in AGENTS[1:]:
        assert (status[agent].outcome, status[agent].error) == ("skipped", "oracle failed")
        assert status[agent].recommendation is None and status[agent].confidence is None
    assert {r.last_cycle_id for r in status.values()} == {f"agent-{DATE}"}
    assert {r.last_run_at for r in status.values()} == {cycle["finished_at"]}  # written with the failure
    monkeypatch.undo()

    def no_model(self, prices, date, version):
        raise RuntimeError("the regime model cannot be fitted")

    monkeypatch.setattr(AgentCoordinator, "_regime", no_model)  # before any agent runs: all five are skipped
    with pytest.raises(OperationalError, match="cannot be fitted"):
        coordinator.run_cycle(DATE)
    cycle, status = stored()
    assert cycle["status"] == "failed" and cycle["attempts"] == 2
    assert {r.outcome for r in status.values()} == {"skipped"}
    assert all("cannot be fitted" in r.error for r in status.values())


def test_a_run_that_lost_its_claim_writes_nothing(cycle_config: Config) -> None:
    import datetime as dt

    import pandas as pd

    coordinator = AgentCoordinator(cycle_config)
    date = pd.Timestamp(DATE)
    _, stalled = coordinator._claim(f"agent-{DATE}", date)  # process A claims, then stalls
    with write(coordinator.engine) as conn:
        conn.execute(update(s.cycles).values(started_at=dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)))
    done = coordinator.run_cycle(DATE)  # process B takes the stale claim over and completes
    assert done.status == "completed"
    n_messages = count(coordinator.engine, s.agent_messages)
    execution = ExecutionManager(cycle_config, engine=coordinator.engine, origin="agent")
    with pytest.raises(OperationalError, match="lost its claim"):
        coordinator._decide(f"agent-{DATE}", date, execution, stalled)  # A wakes up
    coordinator._fail(f"agent-{DATE}", RuntimeError("A's late failure"), stalled)
    with read(coordinator.engine) as conn:
        cycle = conn.execute(select(s.cycles)).mappings().one()
    assert cycle["status"] == "completed" and cycle["error"] is None and cycle["attempts"] == 2
    assert count(coordinator.engine, s.agent_messages) == n_messages


def test_a_decided_cycle_whose_session_has_passed_is_not_sent(cycle_config: Config) -> None:
    coordinator = AgentCoordinator(cycle_config)
    coordinator.run_cycle("2024-06-27")
    n_orders = count(coordinator.engine, s.orders)
    with write(coordinator.engine) as conn:  # as if it crashed after deciding; bars to 2024-06-28 are stored
        conn.execute(update(s.cycles).values(status="decided"))
    late = coordinator.run_cycle("2024-06-27")
    assert late.status == "expired" and late.reused
    assert count(coordinator.engine, s.orders) == n_orders
    with read(coordinator.engine) as conn:
        assert "not sent" in conn.execute(select(s.cycles.c.error)).scalar_one()

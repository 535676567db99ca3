"""The Command center (the app's landing page) under AppTest, against a real temp store seeded by real agent
cycles. The seeding fixtures here are shared with the Clusters and Neural stream page tests."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from ravenshire.agents import AgentCoordinator
from ravenshire.agents import queries as q
from ravenshire.config import load_config
from ravenshire.data import DataManager
from ravenshire.execution import ExecutionManager
from ravenshire.execution.killswitch import set_kill_switch
from ravenshire.store import init_db
from tests.conftest import NOW, PROJECT, write_ini

APP = str(PROJECT / "app.py")
PAGE = "pages/command.py"
#: A universe large enough for the Analyst to cluster it, and limits that make the Sentinel veto some trades.
AGENT_INI = """
[DATA]
source = synthetic
universe = S01, S02, S03, S04, S05, S06, S07, S08, S09, S10, S11, S12, VIX
history_start = 2021-06-01
synthetic_seed = 5
[RISK]
max_position_weight = 0.3
var_limit = 0.05
[AGENTS]
min_confidence = 0.5
decision_threshold = 0.3
lookback_days = 504
[UI]
cache_ttl = 1
"""
FIRST, LAST = "2024-06-27", "2024-06-28"


def _backup(source: Path, target: Path) -> None:
    """A consistent copy of a SQLite store (its WAL included)."""
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def seed_stores(folder: Path) -> dict[str, Path]:
    """Two stores in ``folder``: ``data`` (the synthetic universe's bars) and ``cycles`` (the same, then the agent
    cycles of FIRST and LAST, run at NOW)."""
    folder.mkdir(parents=True, exist_ok=True)
    ini = write_ini(folder / "agents.ini", AGENT_INI)
    stores = {"data": folder / "data.db", "cycles": folder / "cycles.db"}
    config = load_config(ini, env={"RAVENSHIRE_STORE_URL": f"sqlite:///{stores['data']}"})
    engine = init_db(config.store_url)
    DataManager(config, engine=engine, now=NOW).get_market_data()
    engine.dispose()
    _backup(stores["data"], stores["cycles"])
    config = load_config(ini, env={"RAVENSHIRE_STORE_URL": f"sqlite:///{stores['cycles']}"})
    engine = init_db(config.store_url)
    coordinator = AgentCoordinator(config, engine=engine, now=lambda: NOW.to_pydatetime())
    for date in (FIRST, LAST):
        coordinator.run_cycle(date)
    engine.dispose()
    return stores


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The stores of :func:`seed_stores`, made once per module (tests use copies)."""
    return seed_stores(tmp_path_factory.mktemp("agent_ui"))


def use_store(app_env: dict[str, str], store: Path) -> None:
    """Point the app's environment at a copy of ``store``, with the agents' configuration."""
    write_ini(Path(app_env["RAVENSHIRE_CONFIG"]), AGENT_INI)
    _backup(store, Path(app_env["RAVENSHIRE_STORE_URL"].removeprefix("sqlite:///")))


@pytest.fixture
def with_data(app_env: dict[str, str], seeded: dict[str, Path]) -> dict[str, str]:
    """The app's store holds market data and no agent cycle."""
    use_store(app_env, seeded["data"])
    return app_env


@pytest.fixture
def with_cycles(app_env: dict[str, str], seeded: dict[str, Path]) -> dict[str, str]:
    """The app's store holds market data and two completed agent cycles."""
    use_store(app_env, seeded["cycles"])
    return app_env


def run_page(page: str, at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _texts(elements: object) -> list[str]:
    return [e.value for e in elements]  # type: ignore[attr-defined]


def test_command_center_is_the_landing_page_and_deep_links_still_open_their_page(app_env) -> None:
    at = run_page(PAGE, AppTest.from_file(APP, default_timeout=120))
    assert _texts(at.title) == ["Command center"]
    for page, title in [("pages/clusters.py", "Clusters"), ("pages/stream.py", "Neural stream"),
                        ("pages/data.py", "Data")]:  # fmt: skip
        at = AppTest.from_file(APP, default_timeout=120)
        at.session_state["_ravenshire_deep_link"] = page  # what require_frame keeps for a deep link
        at = run_page(page, at)
        assert _texts(at.title) == [title]


def test_an_empty_store_says_how_to_run_a_cycle(app_env) -> None:
    at = run_page(PAGE)
    infos = _texts(at.info)
    assert any("No agent cycle has run yet" in i and "python -m ravenshire cycle" in i and "python scheduler.py" in i
               for i in infos)  # fmt: skip
    assert any("No Sovereign decision stored yet" in i for i in infos)
    assert any("No regime reading yet" in i for i in infos)
    assert any("No daily snapshot yet" in i and "python -m ravenshire mark" in i for i in infos)
    assert any("No scheduler has run on this store" in i and "python scheduler.py" in i for i in infos)
    assert any("DEMO DATA" in w for w in _texts(at.warning))  # the frame's banner
    assert _metric(at, "Positions") == "0"
    assert any("Off — trading is on" in s for s in _texts(at.success))
    assert not at.error


def test_a_cycle_shows_the_agents_the_regime_the_decision_and_the_book(with_cycles) -> None:
    config = load_config()
    engine = init_db(config.store_url)
    ExecutionManager(config, engine=engine).mark_to_market()  # one daily snapshot: the equity curve has a point
    statuses = q.agent_statuses(engine)
    regime = q.current_regime(engine)
    decision = q.latest_decision(engine)
    metrics = ExecutionManager(config, engine=engine).get_performance_metrics()
    assert regime is not None and decision is not None and decision.cycle_id == f"agent-{LAST}"

    at = run_page(PAGE)
    for row in statuses.itertuples():
        assert _metric(at, row.agent.capitalize()) == row.outcome
    captions = " ".join(_texts(at.caption))
    assert "Last run 2024-06-29 12:00 UTC" in captions and f"agent-{LAST}" in captions
    assert _metric(at, "Regime") == regime.regime
    assert _metric(at, "Probability [%]") == f"{100 * regime.probability:.1f} %"
    assert _metric(at, "Decision") == decision.recommendation
    assert _metric(at, "Confidence [%]") == f"{100 * decision.confidence:.1f} %"
    assert _metric(at, "Vetoes") == str(len(decision.vetoes)) and len(decision.vetoes) > 0
    assert _metric(at, "Orders") == str(len(decision.orders))
    markdown = " ".join(_texts(at.markdown))
    assert all(line in markdown for line in decision.reasoning)
    frames = [d.value for d in at.dataframe]
    vetoes = next(f for f in frames if "detail" in f.columns and "scope" in f.columns)
    assert vetoes["symbol"].tolist() == decision.vetoes["symbol"].tolist()
    sent = next(f for f in frames if "client_order_id" in f.columns)
    assert sent["order_id"].tolist() == decision.sent["order_id"].tolist()
    assert _metric(at, "Equity [USD]") == f"{metrics.equity:,.2f}"
    assert _metric(at, "Today's P&L [USD]") == f"{metrics.daily_pnl:,.2f}"
    assert _metric(at, "Positions") == str(metrics.n_positions)
    assert any("DEMO DATA" in c for c in _texts(at.caption))  # decided on synthetic prices
    assert len(at.get("vega_lite_chart")) == 3  # regime probabilities, regime history, equity curve
    assert not any("No daily snapshot" in i for i in _texts(at.info))
    cycles = next(f for f in frames if "n_vetoes" in f.columns)
    assert cycles["cycle_id"].tolist() == [f"agent-{LAST}", f"agent-{FIRST}"]
    assert not at.error


def test_a_failed_cycle_and_the_kill_switch_are_said_plainly(with_data, monkeypatch: pytest.MonkeyPatch) -> None:
    from ravenshire.agents.strategist import StrategistAgent
    from ravenshire.errors import OperationalError

    config = load_config()
    engine = init_db(config.store_url)
    set_kill_switch(engine, actor="tester", reason="broker outage drill")

    def broken(self: StrategistAgent, inputs: object) -> None:
        raise RuntimeError("division by zero in the optimizer")

    with monkeypatch.context() as patch:
        patch.setattr(StrategistAgent, "_decide", broken)
        with pytest.raises(OperationalError):
            AgentCoordinator(config, engine=engine).run_cycle(LAST)

    at = run_page(PAGE)
    assert _metric(at, "Strategist") == "error" and _metric(at, "Oracle") in ("ok", "hold")
    errors = _texts(at.error)
    assert any("division by zero in the optimizer" in e and "agent-2024-06-28, failed" in e
               and f"python -m ravenshire cycle --date {LAST}" in e for e in errors)  # fmt: skip
    assert any("ON — trading halted" in e and "broker outage drill" in e for e in errors)
    assert any("No Sovereign decision stored yet" in i for i in _texts(at.info))


def test_the_scheduler_heartbeat_alive_then_down(app_env) -> None:
    from ravenshire.orchestration import SchedulerService

    config = load_config()
    service = SchedulerService(config, init_db(config.store_url))
    service.acquire()  # what python scheduler.py writes at start
    at = run_page(PAGE)
    assert any("ALIVE" in m for m in _texts(at.markdown))
    table = next(d.value for d in at.dataframe if "next run (UTC)" in d.value.columns)
    assert set(table["job"]) == {"data_cycle", "agent_cycle", "monitoring_cycle"}
    assert not any("The scheduler is not running" in w for w in _texts(at.warning))
    service.beat("stopped", "stopped cleanly")
    at = run_page(PAGE)
    assert any("DOWN" in m for m in _texts(at.markdown))
    assert any("The scheduler is not running" in w and "caught up" in w for w in _texts(at.warning))


def test_a_failed_cycle_beside_completed_ones_and_a_queued_job_beside_a_finished_one(with_cycles) -> None:
    """NULL texts (a failed cycle has no summary, a queued job no result) read as NaN in pandas 3 text columns: the
    pages must not take them for text."""
    import datetime as dt

    from sqlalchemy import insert

    from ravenshire.orchestration import submit_job
    from ravenshire.orchestration.jobs import claim_next_job, finish_job
    from ravenshire.store import schema as s
    from ravenshire.store import write

    engine = init_db(load_config().store_url)
    with write(engine) as conn:
        conn.execute(insert(s.cycles), {"id": "agent-2024-07-01", "kind": "agent", "business_date": 20240701,
                                         "status": "failed", "attempts": 1, "is_demo": True, "error": "feed down",
                                         "started_at": dt.datetime.now(dt.UTC)})  # fmt: skip
    done = submit_job(engine, "ping")
    claim_next_job(engine, "h:1:1")
    finish_job(engine, done.id, "succeeded", result={"pong": True})
    submit_job(engine, "ping")  # queued: no result yet
    for page in ("pages/command.py", "pages/stream.py", "pages/operations.py"):
        at = run_page(page)
        assert not at.exception, page
        assert not any("Unexpected error" in e for e in _texts(at.error)), page
    at = run_page("pages/command.py")
    assert not any("Why: nan" in c for c in _texts(at.caption))

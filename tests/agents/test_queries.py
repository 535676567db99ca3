"""The read-only queries of the agents' work (ravenshire.agents.queries) on a real store after real agent cycles:
what they return is what the coordinator stored and returned."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select

from ravenshire.agents import AGENTS, AgentCoordinator, CycleResult, cycle_messages
from ravenshire.agents import queries as q
from ravenshire.config import Config, load_config
from ravenshire.data import DataManager
from ravenshire.errors import ConfigError, OperationalError
from ravenshire.store import init_db, read
from ravenshire.store import schema as s
from tests.conftest import NOW, write_ini

UNIVERSE = "S01, S02, S03, S04, S05, S06, S07, S08, S09, S10, S11, S12, VIX"
INI = f"""
[DATA]
source = synthetic
universe = {UNIVERSE}
history_start = 2021-06-01
synthetic_seed = 5
[RISK]
max_position_weight = 0.3
var_limit = 0.05
[AGENTS]
min_confidence = 0.5
decision_threshold = 0.3
lookback_days = 504
"""
FIRST, LAST = "2024-06-27", "2024-06-28"


def _config(folder: Path) -> Config:
    ini = write_ini(folder / "agents.ini", INI)
    return load_config(ini, env={"RAVENSHIRE_STORE_URL": f"sqlite:///{folder / 'store.db'}"})


def _seed(config: Config) -> Engine:
    engine = init_db(config.store_url)
    DataManager(config, engine=engine, now=NOW).get_market_data()
    return engine


@pytest.fixture(scope="module")
def cycles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Engine, dict[str, CycleResult]]]:
    """A store with the synthetic universe and two completed agent cycles (read only: shared by the module)."""
    config = _config(tmp_path_factory.mktemp("agent_queries"))
    engine = _seed(config)
    coordinator = AgentCoordinator(config, engine=engine, now=lambda: NOW.to_pydatetime())
    yield engine, {date: coordinator.run_cycle(date) for date in (FIRST, LAST)}
    engine.dispose()


@pytest.fixture
def engine(cycles: tuple[Engine, dict[str, CycleResult]]) -> Engine:
    return cycles[0]


@pytest.fixture
def results(cycles: tuple[Engine, dict[str, CycleResult]]) -> dict[str, CycleResult]:
    return cycles[1]


def _stored(engine: Engine, table: s.Table) -> list[dict]:
    with read(engine) as conn:
        return [dict(r) for r in conn.execute(select(table)).mappings()]


def test_agent_statuses_are_the_stored_rows_in_the_cycles_order(engine: Engine) -> None:
    statuses = q.agent_statuses(engine)
    assert list(statuses.columns) == q.STATUS_COLUMNS
    assert statuses["agent"].tolist() == list(AGENTS)
    stored = {r["agent"]: r for r in _stored(engine, s.agent_status)}
    for row in statuses.itertuples():
        assert row.outcome == stored[row.agent]["outcome"] and row.outcome in ("ok", "hold", "veto")
        assert row.recommendation == stored[row.agent]["recommendation"]
        assert row.duration_s == pytest.approx(stored[row.agent]["duration_s"])
        assert row.cycle_id == f"agent-{LAST}" and row.business_date == pd.Timestamp(LAST)
        assert row.last_run_at == NOW and row.error is None


def test_recent_cycles_are_newest_first_with_their_decision(engine: Engine, results: dict[str, CycleResult]) -> None:
    cycles = q.recent_cycles(engine)
    assert list(cycles.columns) == q.CYCLE_COLUMNS
    assert cycles["cycle_id"].tolist() == [f"agent-{LAST}", f"agent-{FIRST}"]
    for row in cycles.itertuples():
        result = results[f"{row.business_date:%Y-%m-%d}"]
        assert row.status == "completed" and row.kind == "agent" and row.is_demo
        assert row.recommendation == result.recommendation and row.regime == result.regime
        assert row.confidence == pytest.approx(result.confidence)
        assert row.n_vetoes == len(result.vetoes) and row.n_orders == len(result.orders)
        assert row.data_version == result.data_version and row.duration_s == pytest.approx(result.duration_s)
        assert row.started_at.tzinfo is not None
    assert q.recent_cycles(engine, limit=1)["cycle_id"].tolist() == [f"agent-{LAST}"]
    assert q.recent_cycles(engine, kind="data").empty
    with pytest.raises(ConfigError, match="positive whole number"):
        q.recent_cycles(engine, limit=0)


def test_latest_decision_is_the_newest_sovereign_decision(engine: Engine, results: dict[str, CycleResult]) -> None:
    decision = q.latest_decision(engine)
    result = results[LAST]
    assert decision is not None and decision.cycle_id == result.cycle_id
    assert decision.business_date == pd.Timestamp(LAST) and decision.status == "completed" and decision.is_demo
    assert decision.recommendation == result.recommendation and decision.regime == result.regime
    assert decision.confidence == pytest.approx(result.confidence)
    assert decision.threshold == pytest.approx(0.3)  # [AGENTS] decision_threshold
    sovereign = cycle_messages(engine, result.cycle_id)
    final = sovereign[(sovereign["sender"] == "sovereign") & (sovereign["type"] == "decision")].iloc[0]["payload"]
    assert decision.reasoning == tuple(final["reasoning"]) and decision.reasoning[0].startswith("overall confidence")
    assert list(decision.vetoes.columns[:6]) == q.VETO_COLUMNS
    assert decision.vetoes.to_dict(orient="records") == [dict(v) for v in result.vetoes]
    assert decision.book_vetoed == any(v["scope"] == "book" for v in result.vetoes)
    assert decision.sent["order_id"].tolist() == [o["order_id"] for o in result.orders]
    assert decision.orders["symbol"].tolist() == [o["symbol"] for o in result.orders]
    assert decision.decided_at is not None and decision.error is None
    json.dumps(decision.to_dict())  # plain values
    older = q.latest_decision(engine, f"agent-{FIRST}")
    assert older is not None and older.recommendation == results[FIRST].recommendation
    assert q.latest_decision(engine, "agent-1999-01-04") is None


def test_the_regime_history_and_the_current_regime(engine: Engine, results: dict[str, CycleResult]) -> None:
    history = q.regime_history(engine)
    assert history["date"].tolist() == [pd.Timestamp(FIRST), pd.Timestamp(LAST)]
    assert history["regime"].tolist() == [results[FIRST].regime, results[LAST].regime]
    assert history["cycle_id"].tolist() == [f"agent-{FIRST}", f"agent-{LAST}"]
    probabilities = history[["p_bull", "p_bear", "p_sideways", "p_crisis"]]
    assert probabilities.sum(axis=1).to_numpy() == pytest.approx([1.0, 1.0])
    assert (history["probability"] == probabilities.max(axis=1)).all()  # the reading is the likeliest regime
    assert q.regime_history(engine, start=LAST)["date"].tolist() == [pd.Timestamp(LAST)]
    assert q.regime_history(engine, model="nope").empty
    with pytest.raises(ConfigError, match="start must be a date"):
        q.regime_history(engine, start="yesterday-ish")
    now = q.current_regime(engine)
    assert now is not None and now.date == pd.Timestamp(LAST) and now.regime == results[LAST].regime
    assert now.cycle_id == f"agent-{LAST}" and now.model == "gmm" and now.is_demo
    assert list(now.probabilities) == ["bull", "bear", "sideways", "crisis"]
    assert now.probability == pytest.approx(history["probability"].iloc[-1])
    assert json.loads(json.dumps(now.to_dict()))["date"] == LAST


def test_the_cluster_snapshot_is_the_stored_embedding_with_its_figures(engine: Engine) -> None:
    snap = q.cluster_snapshot(engine)
    assert snap is not None and snap.cycle_id == f"agent-{LAST}" and snap.is_demo
    stored = {r["symbol"]: r for r in _stored(engine, s.asset_clusters) if r["cycle_id"] == snap.cycle_id}
    assert sorted(snap.assets["symbol"]) == sorted(stored) == [f"S{k:02d}" for k in range(1, 13)]  # VIX not traded
    for row in snap.assets.to_dict(orient="records"):
        kept = stored[row["symbol"]]
        assert [row[k] for k in ("cluster", "x", "y", "z")] == [kept[k] for k in ("cluster", "x", "y", "z")]
        figures = json.loads(kept["features"])
        assert {k: row[k] for k in figures} == figures  # return, volatility, beta, the loadings
    assert snap.k == snap.assets["cluster"].nunique() == len(snap.clusters)
    table = snap.clusters.set_index("cluster")
    assert table["n_assets"].sum() == 12
    means = snap.assets.groupby("cluster")[["return", "volatility", "beta"]].mean()
    pd.testing.assert_frame_equal(table[["return", "volatility", "beta"]], means, check_names=False)
    for cluster, members in table["members"].items():
        assert members.split(", ") == sorted(snap.assets.loc[snap.assets["cluster"] == cluster, "symbol"])
    analyst = cycle_messages(engine, snap.cycle_id).query("sender == 'analyst' and type == 'decision'")
    reported = analyst.iloc[0]["payload"]["payload"]["clusters"]
    assert snap.k == reported["k"]
    assert snap.explained_variance == pytest.approx(tuple(reported["explained_variance"]))
    assert table["silhouette"].tolist() == pytest.approx([c["silhouette"] for c in reported["clusters"]])
    json.dumps(snap.to_dict())
    older = q.cluster_snapshot(engine, f"agent-{FIRST}")
    assert older is not None and older.cycle_id == f"agent-{FIRST}" and len(older.assets) == 12
    assert q.cluster_snapshot(engine, "agent-1999-01-04") is None
    listed = q.cluster_cycles(engine)
    assert listed["cycle_id"].tolist() == [f"agent-{LAST}", f"agent-{FIRST}"]
    assert listed["n_assets"].tolist() == [12, 12] and listed["k"].iloc[0] == snap.k


def test_stream_messages_are_the_bus_in_order_and_filter(engine: Engine, results: dict[str, CycleResult]) -> None:
    everything = q.stream_messages(engine)
    bus = cycle_messages(engine, f"agent-{LAST}")
    assert list(everything.columns) == q.MESSAGE_COLUMNS
    assert everything["seq"].tolist() == bus["seq"].tolist() and (everything["cycle_id"] == f"agent-{LAST}").all()
    assert everything["payload"].tolist() == bus["payload"].tolist()
    decisions = everything[everything["type"] == "decision"]
    assert decisions["sender"].tolist() == list(AGENTS)
    assert decisions["recommendation"].iloc[-1] == results[LAST].recommendation
    assert decisions["confidence"].iloc[-1] == pytest.approx(results[LAST].confidence)
    assert everything.loc[everything["type"] != "decision", "recommendation"].isna().all()
    assert decisions["headline"].iloc[-1].startswith("overall confidence")
    vetoes = q.stream_messages(engine, sender="sentinel", type="veto")
    assert len(vetoes) == len(results[LAST].vetoes)
    for headline, veto in zip(vetoes["headline"], results[LAST].vetoes, strict=True):
        assert veto["detail"] in headline and veto["reason"] in headline
    several = q.stream_messages(engine, sender=["oracle", "sovereign"], type=("decision", "orders"))
    assert several["sender"].tolist() == ["oracle", "sovereign", "sovereign"]
    assert several["headline"].iloc[-1].startswith(f"{len(results[LAST].orders)} order(s) to execution")
    inputs = q.stream_messages(engine, type="input")
    assert (inputs["sender"] == "coordinator").all() and len(inputs) == len(AGENTS)
    assert len(q.stream_messages(engine, limit=3)) == 3
    older = q.stream_messages(engine, f"agent-{FIRST}", type="decision")
    assert (older["cycle_id"] == f"agent-{FIRST}").all() and len(older) == len(AGENTS)
    assert q.stream_messages(engine, "agent-1999-01-04").empty
    assert q.stream_messages(engine, sender="nobody").empty
    with pytest.raises(ConfigError, match="sender must be"):
        q.stream_messages(engine, sender=[1, 2])  # type: ignore[list-item]


def test_an_empty_store_gives_empty_answers(tmp_path: Path) -> None:
    engine = init_db(f"sqlite:///{tmp_path / 'empty.db'}")
    assert q.agent_statuses(engine).empty and list(q.agent_statuses(engine).columns) == q.STATUS_COLUMNS
    assert q.recent_cycles(engine).empty and list(q.recent_cycles(engine).columns) == q.CYCLE_COLUMNS
    assert q.latest_decision(engine) is None
    assert q.regime_history(engine).empty and q.current_regime(engine) is None
    assert q.cluster_snapshot(engine) is None and q.cluster_cycles(engine).empty
    assert q.stream_messages(engine).empty and list(q.stream_messages(engine).columns) == q.MESSAGE_COLUMNS


def test_a_failed_cycle_shows_in_the_statuses_the_cycles_and_the_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ravenshire.agents.strategist import StrategistAgent

    def broken(self: StrategistAgent, inputs: object) -> None:
        raise RuntimeError("division by zero in the optimizer")

    monkeypatch.setattr(StrategistAgent, "_decide", broken)
    config = _config(tmp_path)
    engine = _seed(config)
    with pytest.raises(OperationalError):
        AgentCoordinator(config, engine=engine).run_cycle(LAST)
    statuses = q.agent_statuses(engine).set_index("agent")
    assert statuses.loc["strategist", "outcome"] == "error"
    assert "division by zero" in statuses.loc["strategist", "error"]
    assert list(statuses.index[:3]) == ["oracle", "analyst", "strategist"]
    assert set(statuses.loc[statuses.index[3:], "outcome"]) <= {"skipped"}  # the later agents never ran
    cycle = q.recent_cycles(engine).iloc[0]
    assert cycle["status"] == "failed" and "division by zero" in cycle["error"]
    assert pd.isna(cycle["recommendation"]) and pd.isna(cycle["n_orders"])
    assert q.latest_decision(engine) is None  # a failed cycle decided nothing
    errors = q.stream_messages(engine, type="error")
    assert errors["sender"].tolist() == ["strategist"]
    assert errors["headline"].iloc[0] == "RuntimeError: division by zero in the optimizer"

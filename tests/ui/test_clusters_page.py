"""The Clusters page under AppTest, against a real temp store seeded by real agent cycles. AppTest does not draw
pydeck: the deck's JSON is checked here, the drawing in tests/ui/test_browser.py."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ravenshire.agents import queries as q
from ravenshire.config import load_config
from ravenshire.store import init_db
from tests.ui import test_command_page as command
from tests.ui.test_command_page import FIRST, LAST, run_page

# The Command center's fixtures: the app run inside its frame, and the seeded stores.
seeded, with_data, with_cycles = command.seeded, command.with_data, command.with_cycles

PAGE = "pages/clusters.py"


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _deck(at: AppTest) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json) | {"tooltip": json.loads(charts[0].proto.tooltip)}


def test_no_clusters_says_how_to_get_them(app_env) -> None:
    at = run_page(PAGE)
    assert at.title[0].value == "Clusters"
    assert any("No asset clusters stored yet" in i.value and "python -m ravenshire cycle" in i.value for i in at.info)
    assert not at.get("deck_gl_json_chart") and not at.error


def test_a_store_with_data_but_no_cycle_shows_the_empty_state(with_data) -> None:
    at = run_page(PAGE)
    assert any("No asset clusters stored yet" in i.value for i in at.info)


def test_the_newest_cycles_clusters_in_3d_beside_the_cluster_table(with_cycles) -> None:
    snap = q.cluster_snapshot(init_db(load_config().store_url))
    assert snap is not None and snap.cycle_id == f"agent-{LAST}"
    at = run_page(PAGE)
    picker = next(s for s in at.selectbox if s.label == "Cycle")
    assert picker.value == f"agent-{LAST}" and len(picker.options) == 2

    deck = _deck(at)
    assert [v["@@type"] for v in deck["views"]] == ["OrbitView"] and "mapStyle" not in deck  # no map, no tiles
    layer = next(x for x in deck["layers"] if x["@@type"] == "PointCloudLayer")
    assert layer["getPosition"] == "@@=[px, py, pz]" and layer["pickable"]
    points = pd.DataFrame(layer["data"])
    assert sorted(points["symbol"]) == sorted(snap.assets["symbol"])
    colours = points.groupby("cluster")["color"].agg(lambda c: {tuple(x) for x in c})
    assert all(len(c) == 1 for c in colours) and len({next(iter(c)) for c in colours}) == snap.k  # one per cluster
    # The scene is the stored embedding, scaled: the same direction for every asset.
    merged = points.merge(snap.assets, on="symbol")
    ratio = merged["px"] / merged["x"]
    assert ratio.to_numpy() == pytest.approx(ratio.iloc[0])
    s01 = points.set_index("symbol").loc["S01"]
    figures = snap.assets.set_index("symbol").loc["S01"]
    assert s01["ret"] == f"{figures['return']:+.1%}" and s01["beta_text"] == f"{figures['beta']:.2f}"
    assert all(f"{{{k}}}" in deck["tooltip"]["text"] for k in ("symbol", "cluster", "ret", "vol", "beta_text"))

    table = _frame(at, "members")
    pd.testing.assert_frame_equal(table.reset_index(drop=True), snap.clusters, check_dtype=False)
    assert table["n_assets"].sum() == 12
    assets = _frame(at, "x")
    assert assets["symbol"].tolist() == snap.assets["symbol"].tolist()
    assert any("DEMO DATA" in m.value for m in at.markdown)
    assert len(at.get("vega_lite_chart")) == 1  # return against volatility
    assert not at.error


def test_picking_an_older_cycle_shows_its_clusters(with_cycles) -> None:
    older = q.cluster_snapshot(init_db(load_config().store_url), f"agent-{FIRST}")
    assert older is not None
    at = run_page(PAGE)
    next(s for s in at.selectbox if s.label == "Cycle").set_value(f"agent-{FIRST}")
    at = run_page(PAGE, at)
    pd.testing.assert_frame_equal(_frame(at, "members").reset_index(drop=True), older.clusters, check_dtype=False)
    assert any(FIRST in c.value for c in at.caption)
    at = run_page(PAGE, at)  # the choice is kept
    assert next(s for s in at.selectbox if s.label == "Cycle").value == f"agent-{FIRST}"

"""The Portfolio & risk page under AppTest, inside app.py's frame, against a real temp store: paper positions sent
through the ExecutionManager, and (for the targets) real agent cycles. AppTest does not draw pydeck: the risk
sphere's JSON is checked here, the drawing in tests/ui/test_browser.py."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ravenshire.config import load_config
from ravenshire.data import DataManager
from ravenshire.execution import ExecutionManager
from ravenshire.portfolio import queries as pq
from ravenshire.store import init_db
from tests.conftest import write_ini
from tests.ui import test_command_page as command
from tests.ui.conftest import UI_INI
from tests.ui.test_command_page import LAST, run_page

# The app run inside its frame, and the agent cycles' seeded stores.
seeded, with_cycles = command.seeded, command.with_cycles

PAGE = "pages/portfolio.py"


def _frame(at: AppTest, column: str) -> pd.DataFrame:
    return next(d.value for d in at.dataframe if column in d.value.columns)


def _deck(at: AppTest) -> dict:
    charts = at.get("deck_gl_json_chart")
    assert len(charts) == 1
    return json.loads(charts[0].proto.json)


def _sphere(deck: dict) -> dict:
    return next(layer for layer in deck["layers"] if layer["id"] == "risk-sphere")


@pytest.fixture
def book(app_env) -> ExecutionManager:
    """The demo universe's bars in the temp store and two paper positions: AAA at about 20 % of equity and BBB at
    about 10 % (the execution layer refuses an order that would take a position above [RISK] max_position_weight)."""
    DataManager(load_config()).bootstrap_demo()
    em = ExecutionManager(load_config())
    equity = em.account().cash
    prices = em.positions()  # empty: the marks come from the stored closes
    assert prices.empty
    closes = DataManager(load_config()).close_prices(["AAA", "BBB"]).iloc[-1]
    em.execute_trade("AAA", "BUY", math.floor(0.20 * equity / closes["AAA"]))
    em.execute_trade("BBB", "BUY", math.floor(0.10 * equity / closes["BBB"]))
    return em


def test_an_empty_book_says_what_to_do(app_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAVENSHIRE_DATA_SOURCE", "yfinance")  # a real source: the store stays empty until fetched
    at = run_page(PAGE)
    assert at.title[0].value == "Portfolio & risk"
    infos = [i.value for i in at.info]
    assert any("The store holds no prices yet" in i and "python -m ravenshire fetch" in i for i in infos)
    assert any("No open position" in i and "**Execution** page" in i for i in infos)
    assert any("No target weights yet" in c.value and "python scheduler.py" in c.value for c in at.caption)
    assert not at.get("deck_gl_json_chart")  # no position: no risk sphere
    assert not at.error


def test_positions_show_their_weights_and_the_risk_table_against_the_limits(book: ExecutionManager) -> None:
    metrics = book.get_performance_metrics()
    held = book.positions()
    at = run_page(PAGE)
    assert next(m.value for m in at.metric if m.label == "Positions") == "2"

    weights = _frame(at, "current").set_index("symbol")
    expected = held["market_value"] / metrics.equity
    assert weights.loc["AAA", "current"] == pytest.approx(expected["AAA"])
    assert weights.loc["BBB", "current"] == pytest.approx(expected["BBB"])
    assert "target" not in weights.columns  # no agent cycle: no target

    risk = _frame(at, "limit_text").set_index("figure")
    limits = load_config().risk
    assert risk.loc["VaR 95 % [1 day]", "limit_text"] == f"{100 * limits.var_limit:.2f} %"
    assert risk.loc["Gross leverage [×]", "limit_text"] == f"{limits.max_leverage:.2f}×"
    assert risk.loc["Gross leverage [×]", "value_text"] == f"{expected.abs().sum():.2f}×"
    largest = risk.loc["Largest position"]
    assert largest["subject"] == "AAA" and largest["status"] == "ok"  # ~20 % against the 25 % limit
    assert largest["utilisation"] == pytest.approx(expected["AAA"] / limits.max_position_weight)
    assert risk.loc["Current drawdown", "status"] in ("ok", "warning", "breach")

    var_ratio = float(
        pq.risk_overview(
            expected,
            pq.stored_returns(init_db(load_config().store_url), load_config(), ["AAA", "BBB"], 252),
            load_config(),
        ).var_ratio
    )
    deck = _deck(at)
    sphere = _sphere(deck)
    colour = sphere["data"][0]["color"]
    dominant = max(range(3), key=lambda k: colour[k])
    assert dominant == (1 if var_ratio < 0.5 else 0)  # green under half the VaR limit, amber/red beyond
    radius = max(math.dist((0, 0, 0), (p["x"], p["y"], p["z"])) for p in sphere["data"])
    assert radius == pytest.approx(100.0 * min(max(var_ratio, 0.05), 2.0) ** (1 / 3))  # the limit shell is 100
    assert deck["views"][0]["@@type"] == "OrbitView" and deck.get("mapStyle") in (None, "")
    assert any("Risk sphere" in c.value and "of the 2.00 % limit" in c.value for c in at.caption)


def test_a_breach_is_stated_and_the_optimizers_are_compared(app_env, book: ExecutionManager) -> None:
    # The position limit lowered after the trades: AAA (~20 %) is above it, BBB (~10 %) is near it.
    write_ini(Path(app_env["RAVENSHIRE_CONFIG"]), UI_INI + "[RISK]\nmax_position_weight = 0.15\n")
    at = run_page(PAGE)
    breaches = [e.value for e in at.error]
    assert any(m.startswith("Position AAA weight") and "above the 15.00 % limit" in m for m in breaches), breaches
    risk = _frame(at, "limit_text").set_index("figure")
    assert risk.loc["Largest position", "status"] == "breach" and risk.loc["Largest position", "subject"] == "AAA"
    assert not any(s.value.startswith("Every [RISK] limit is met") for s in at.success)

    # Two symbols cannot be fully invested under a 15 % position limit: every method says so, none falls back.
    summary = _frame(at, "sharpe_ratio")
    assert summary["error"].notna().all() and summary["error"].str.contains("infeasible: max_weight 0.15").all()
    assert any("could not meet the constraints" in c.value for c in at.caption)

    next(t for t in at.toggle if t.label == "[RISK] limits").set_value(False)
    at = run_page(PAGE, at)
    summary = _frame(at, "sharpe_ratio").set_index("method")
    assert summary["error"].isna().all()
    weights = _frame(at, "equal_weight").set_index("symbol")
    assert list(weights.index) == ["AAA", "BBB"]
    assert weights["equal_weight"].tolist() == pytest.approx([0.5, 0.5])
    assert weights[["min_variance", "risk_parity", "hrp"]].sum().tolist() == pytest.approx([1.0, 1.0, 1.0])
    assert weights.loc["AAA", "current"] > weights.loc["BBB", "current"]
    assert any(c.value.startswith("Expected returns and volatilities") for c in at.caption)  # the correlations' side


def test_the_latest_agent_cycle_gives_the_target_weights(with_cycles) -> None:
    engine = init_db(load_config().store_url)
    targets = pq.latest_targets(engine)
    assert targets is not None and targets.cycle_id == f"agent-{LAST}" and len(targets.weights) > 0
    at = run_page(PAGE)
    assert not at.exception
    weights = _frame(at, "difference").set_index("symbol")
    for symbol, weight in targets.weights.items():
        assert weights.loc[symbol, "target"] == pytest.approx(weight)
    assert any(f"agent cycle **agent-{LAST}**" in c.value for c in at.caption)
    assert at.get("deck_gl_json_chart")  # the cycle's orders filled: the book holds positions

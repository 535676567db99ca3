"""The Execution page (and the kill switch in the app's frame) under AppTest, against a real temp store."""

from __future__ import annotations

import pandas as pd
import pytest
import streamlit as st
from sqlalchemy.exc import OperationalError
from streamlit.testing.v1 import AppTest

from ravenshire.config import load_config
from ravenshire.data import DataManager
from ravenshire.execution import ExecutionManager
from tests.conftest import PROJECT

APP = str(PROJECT / "app.py")
PAGE = "pages/execution.py"
CID_KEY = "_execution_order_cid"


def _run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _manager() -> ExecutionManager:
    return ExecutionManager(load_config())


def _order(at: AppTest, symbol: str, quantity: float | None, *, side: str = "BUY", limit: float | None = None):
    """Fill the order form in and send it."""
    next(s for s in at.selectbox if s.label == "Symbol").set_value(symbol)
    next(r for r in at.radio if r.label == "Side").set_value(side)
    if quantity is not None:
        next(n for n in at.number_input if n.label == "Quantity [shares]").set_value(quantity)
    if limit is not None:
        next(r for r in at.radio if r.label == "Order type").set_value("limit")
        next(n for n in at.number_input if n.label == "Limit price").set_value(limit)
    _button(at, "Send paper order").click()
    return _run(at)


@pytest.fixture
def prices(app_env) -> None:
    """The demo universe's bars in the temp store (what the Data page would bootstrap)."""
    DataManager(load_config()).bootstrap_demo()


def test_an_empty_ledger_shows_empty_states(app_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAVENSHIRE_DATA_SOURCE", "yfinance")  # a real source: the store stays empty until fetched
    at = _run()
    assert at.title[0].value == "Execution"
    assert any("No fill yet" in i.value for i in at.info)
    assert any("No daily snapshot yet" in i.value and "python -m ravenshire mark" in i.value for i in at.info)
    assert any("No order yet" in i.value for i in at.info)
    assert any("No open position" in i.value for i in at.info)
    assert any("store holds no prices yet" in w.value for w in at.warning)
    assert any("Trading on" in m.value for m in at.sidebar.markdown)
    assert not at.error


def test_a_seeded_ledger_shows_its_figures(app_env, prices) -> None:
    em = _manager()
    bought = em.execute_trade("AAA", "BUY", 10)
    resting = em.execute_trade("BBB", "BUY", 5, price=0.01)  # far below the market: stays working
    em.mark_to_market()
    metrics = em.get_performance_metrics()
    at = _run()
    assert _metric(at, "Equity [USD]") == f"{metrics.equity:,.2f}"
    assert _metric(at, "Positions") == "1"
    assert any("DEMO DATA" in m.value for m in at.markdown)
    frames = [d.value for d in at.dataframe]
    positions = next(f for f in frames if "avg_cost" in f.columns)
    assert list(positions["symbol"]) == ["AAA"] and positions["quantity"].iloc[0] == 10
    orders = next(f for f in frames if "client_order_id" in f.columns)
    assert set(orders["id"]) == {bought.id, resting.id}
    assert any("balance" in f.columns and "kind" in f.columns for f in frames)  # the cash ledger
    assert not any("No daily snapshot" in i.value for i in at.info)

    _button(at, "Cancel order").click()  # the only working order is selected
    at = _run(at)
    assert any(f"Order #{resting.id} cancelled" in s.value for s in at.success)
    assert em.get_order(resting.id).status == "cancelled"

    _button(at, "Reconcile the ledger").click()
    at = _run(at)
    assert any(s.value.startswith("Ledger reconciles") for s in at.success)


def test_the_order_form_sends_one_paper_order_however_often_it_runs(app_env, prices) -> None:
    at = _run()
    cid = at.session_state[CID_KEY]
    at = _order(at, "AAA", 7)
    assert any("Last order" in s.value and "filled 7 at" in s.value for s in at.success), [s.value for s in at.success]
    orders = _manager().orders()
    assert len(orders) == 1 and orders["client_order_id"].iloc[0] == cid and orders["origin"].iloc[0] == "ui"
    assert at.session_state[CID_KEY] != cid  # the next order gets a new key

    _run(at)  # a plain rerun sends nothing
    # A run interrupted before the key changed (a double click) sends the same key again: still one order.
    at.session_state[CID_KEY] = cid
    at = _run(at)
    at = _order(at, "AAA", 7)
    assert len(_manager().orders()) == 1
    assert any(f"Order #{orders['id'].iloc[0]}" in s.value for s in at.success)


def _dropped() -> OperationalError:
    return OperationalError("COMMIT", {}, Exception("server closed the connection unexpectedly"))


def test_a_send_that_fails_keeps_the_order_id_so_a_retry_is_one_order(app_env, prices, monkeypatch) -> None:
    send = ExecutionManager.execute_trade
    calls: list[str] = []

    def dropped_once(self: ExecutionManager, *args: object, **kwargs: object):
        calls.append(str(kwargs["client_order_id"]))
        if len(calls) == 1:  # the connection drops before anything is stored
            raise _dropped()
        return send(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(ExecutionManager, "execute_trade", dropped_once)
    at = _run()
    cid = at.session_state[CID_KEY]
    at = _order(at, "AAA", 7)
    assert any("Not sent" in e.value and "server closed the connection" in e.value and cid in e.value
               for e in at.error), [e.value for e in at.error]  # fmt: skip
    assert at.session_state[CID_KEY] == cid and _manager().orders().empty  # unknown outcome: the id is kept

    at = _order(at, "AAA", 7)  # the retry
    assert calls == [cid, cid]
    orders = _manager().orders()
    assert len(orders) == 1 and orders["client_order_id"].iloc[0] == cid
    assert any("Last order" in s.value and "filled 7 at" in s.value for s in at.success)
    assert at.session_state[CID_KEY] != cid  # a confirmed outcome: the next order is a new one


def test_a_send_stored_before_the_connection_dropped_is_found_and_the_id_renewed(app_env, prices, monkeypatch) -> None:
    send = ExecutionManager.execute_trade

    def stored_then_dropped(self: ExecutionManager, *args: object, **kwargs: object):
        send(self, *args, **kwargs)  # type: ignore[arg-type]
        raise _dropped()

    monkeypatch.setattr(ExecutionManager, "execute_trade", stored_then_dropped)
    at = _run()
    cid = at.session_state[CID_KEY]
    at = _order(at, "AAA", 7)
    (order_id,) = _manager().orders()["id"]
    assert any(f"Order id `{cid}` is stored already" in w.value and f"Order #{order_id}" in w.value
               and "filled 7 at" in w.value for w in at.warning), [w.value for w in at.warning]  # fmt: skip
    assert at.session_state[CID_KEY] != cid  # the outcome is known: the next order is a new one


def test_the_headline_and_positions_read_no_fill_and_the_table_shows_the_newest(app_env, prices, monkeypatch) -> None:
    em = _manager()
    em.execute_trade("AAA", "BUY", 10)
    em.execute_trade("AAA", "SELL", 4)
    real = em.fills()

    def unreadable(self: ExecutionManager, *args: object, **kwargs: object) -> pd.DataFrame:
        raise _dropped()

    monkeypatch.setattr(ExecutionManager, "fills", unreadable)
    at = _run()  # only the fills table needs the fills
    assert _metric(at, "Trades") == "2" and _metric(at, "Positions") == "1"
    assert any("avg_cost" in d.value.columns for d in at.dataframe)
    assert [e.value for e in at.error if "server closed the connection" in e.value] != []  # the table's read

    many = pd.concat([real] * 300, ignore_index=True).assign(fill_id=range(1, 601))  # 600 fills, oldest first
    monkeypatch.setattr(ExecutionManager, "fills", lambda self, *args, **kwargs: many)
    st.cache_data.clear()
    at = _run()
    shown = next(d.value for d in at.dataframe if "fill_id" in d.value.columns)
    assert len(shown) == 500 and list(shown["fill_id"].iloc[[0, -1]]) == [600, 101]  # the newest, newest first
    assert any("The newest 500 of 600 fills" in c.value for c in at.caption)


def test_a_bad_quantity_is_refused_beside_the_field_and_nothing_is_stored(app_env) -> None:
    at = _run()
    cid = at.session_state[CID_KEY]
    at = _order(at, "AAA", -5)
    assert any("Quantity must be a positive number" in e.value for e in at.error)
    at = _order(at, "AAA", None, limit=None)  # empty quantity
    assert any("Quantity must be a positive number" in e.value for e in at.error)
    next(r for r in at.radio if r.label == "Order type").set_value("limit")
    at = _order(at, "AAA", 3)  # a limit order without its price
    assert any("A limit order needs a limit price" in e.value for e in at.error)
    assert _manager().orders().empty
    assert at.session_state[CID_KEY] == cid  # nothing was sent: the same order may still be sent


def test_the_kill_switch_set_and_cleared_from_the_ui(app_env, prices) -> None:
    at = _run()
    _button(at, "Halt trading").click()
    at = _run(at)  # the reason is missing
    assert any(e.value == "Reason is required." for e in at.error)
    assert any(e.value == "Name is required." for e in at.error)
    assert not _manager().kill_switch().active

    next(t for t in at.text_input if t.label == "Your name").input("alice")
    next(t for t in at.text_area if t.label == "Reason").input("broker outage")
    _button(at, "Halt trading").click()
    at = _run(at)
    state = _manager().kill_switch()
    assert state.active and state.actor == "alice" and state.reason == "broker outage"
    assert any("TRADING HALTED" in e.value and "broker outage" in e.value and "alice" in e.value for e in at.error)
    assert any("Kill switch ON" in m.value for m in at.sidebar.markdown)
    assert any("Order entry is disabled" in e.value for e in at.error)
    assert _button(at, "Send paper order").disabled
    assert next(n for n in at.number_input if n.label == "Quantity [shares]").disabled

    # The banner is part of the frame: every page shows it.
    other = _run(AppTest.from_file(APP, default_timeout=120).switch_page("pages/drift.py"))
    assert any("TRADING HALTED" in e.value for e in other.error)

    assert next(t for t in at.text_input if t.label == "Your name").value == "alice"  # remembered
    next(t for t in at.text_area if t.label == "Reason").input("outage over")
    _button(at, "Resume trading").click()
    at = _run(at)
    assert not _manager().kill_switch().active
    assert any("Kill switch cleared by alice" in s.value for s in at.success)
    assert not any("TRADING HALTED" in e.value for e in at.error)
    assert not _button(at, "Send paper order").disabled
    history = next(d.value for d in at.dataframe if "automatic" in d.value.columns)
    assert list(history["active"]) == [False, True]


def test_a_kill_switch_set_elsewhere_shows_and_a_broken_store_is_a_message(app_env, monkeypatch, tmp_path) -> None:
    _manager().set_kill_switch(actor="cli-bob", reason="fat finger")
    at = _run()
    assert any("TRADING HALTED" in e.value and "cli-bob" in e.value for e in at.error)
    # The store cannot be read: a clear message in the frame, never a traceback.
    st.cache_resource.clear()
    st.cache_data.clear()
    (tmp_path / "a-file").write_text("not a folder")
    monkeypatch.setenv("RAVENSHIRE_STORE_URL", f"sqlite:///{tmp_path / 'a-file' / 'ravenshire.db'}")
    broken = AppTest.from_file(APP, default_timeout=120).switch_page(PAGE)
    broken.run()
    assert not broken.exception, [e.value for e in broken.exception]
    assert any("Kill switch state unknown" in e.value for e in broken.error)
    assert any("Kill switch: unknown" in m.value for m in broken.sidebar.markdown)

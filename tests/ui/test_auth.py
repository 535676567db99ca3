"""The optional login: hashes from the environment, viewers read, operators act, and the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from ravenshire.config import load_config
from ravenshire.data import DataManager
from ravenshire.security import hash_password
from ravenshire.store import init_db, read
from ravenshire.store import schema as s
from tests.conftest import PROJECT

APP = str(PROJECT / "app.py")


@pytest.fixture
def logins(app_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAVENSHIRE_UI_PASSWORD_HASH", hash_password("operator-secret"))
    monkeypatch.setenv("RAVENSHIRE_UI_VIEWER_PASSWORD_HASH", hash_password("viewer-secret"))


def audit_rows() -> list[dict]:
    engine = init_db(load_config().store_url)
    with read(engine) as conn:
        return [dict(r) for r in conn.execute(select(s.audit_log).order_by(s.audit_log.c.id)).mappings()]


def sign_in(user: str, password: str, page: str | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if page:
        at.switch_page(page)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    at.text_input[0].set_value(user)
    at.text_input[1].set_value(password)
    at.button[0].click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_without_a_login_every_page_shows_only_the_sign_in_form(logins) -> None:
    at = AppTest.from_file(APP, default_timeout=120).switch_page("pages/execution.py")
    at.run()
    assert [m.value for m in at.markdown if "Sign in" in m.value] == ["### Sign in"]
    assert not at.title  # no page ran
    assert not at.metric


def test_a_wrong_password_is_refused_and_audited(logins) -> None:
    at = sign_in("operator", "guess")
    assert any("Unknown user or wrong password" in e.value for e in at.error)
    assert not at.title
    rows = audit_rows()
    assert rows[-1]["action"] == "login" and rows[-1]["outcome"] == "refused" and rows[-1]["target"] == "operator"
    assert "guess" not in str(rows)  # never the password


def test_an_operator_signs_in_trades_and_every_action_is_audited(logins) -> None:
    DataManager(load_config(), engine=init_db(load_config().store_url)).bootstrap_demo()
    at = sign_in("operator", "operator-secret", "pages/execution.py")
    assert [t.value for t in at.title] == ["Execution"]
    assert any("operator · operator" in c.value for c in at.sidebar.caption)
    qty = next(n for n in at.number_input if n.label == "Quantity [shares]")
    qty.set_value(5)
    next(b for b in at.button if b.label == "Send paper order").click()
    at.run()
    assert not at.exception
    rows = audit_rows()
    assert [r["action"] for r in rows] == ["login", "order"]
    order = rows[-1]
    assert order["actor"] == "operator" and order["role"] == "operator" and order["origin"] == "ui"
    assert order["target"].startswith("BUY 5 ") and order["outcome"] == "ok"


def test_a_viewer_reads_but_cannot_trade_or_touch_the_kill_switch(logins) -> None:
    DataManager(load_config(), engine=init_db(load_config().store_url)).bootstrap_demo()
    at = sign_in("viewer", "viewer-secret", "pages/execution.py")
    assert [t.value for t in at.title] == ["Execution"]
    assert any("signed in as a viewer" in i.value for i in at.info)
    send = next(b for b in at.button if b.label == "Send paper order")
    assert send.disabled
    halt = next(b for b in at.button if b.label == "Halt trading")
    assert halt.disabled
    assert any("Viewers cannot change the kill switch" in c.value for c in at.caption)
    assert [r["action"] for r in audit_rows()] == ["login"]  # a viewer's visit generates nothing


def test_sign_out_returns_to_the_form(logins) -> None:
    at = sign_in("operator", "operator-secret")
    next(b for b in at.sidebar.button if b.label == "Sign out").click()
    at.run()
    assert any("Sign in" in m.value for m in at.markdown) and not at.title
    assert [r["action"] for r in audit_rows()] == ["login", "data_bootstrap", "logout"]  # a first visit: demo data


def test_the_demo_universe_is_generated_by_an_operators_first_visit_not_a_viewers(logins) -> None:
    engine = init_db(load_config().store_url)
    at = sign_in("viewer", "viewer-secret", "pages/data.py")
    assert DataManager(load_config(), engine=engine).store_is_empty()
    assert any("an operator's first visit generates the demo universe" in i.value for i in at.info)
    at = sign_in("operator", "operator-secret")
    assert not DataManager(load_config(), engine=engine).store_is_empty()
    assert [r["action"] for r in audit_rows()] == ["login", "login", "data_bootstrap"]
    assert audit_rows()[-1]["actor"] == "operator"


def test_the_sign_in_throttle_locks_a_name_from_one_client_only_and_stays_bounded(monkeypatch) -> None:
    from ravenshire.ui import auth

    throttle = auth._Throttle()
    here, there = ("operator", "10.0.0.9"), ("operator", "10.0.0.1")
    for _ in range(auth.LOCK_AFTER):
        assert throttle.wait(here) == 0.0
        throttle.fail(here)
    assert throttle.wait(here) > 0  # locked for the rest of the window
    assert throttle.wait(there) == 0.0  # the operator signs in from elsewhere
    throttle.clear(here)
    assert throttle.wait(here) == 0.0
    monkeypatch.setattr(auth, "LOCK_TABLE", 50)
    for n in range(200):  # guesses under many names do not grow the table without bound
        throttle.fail((f"user{n}", "10.0.0.9"))
    assert len(throttle._fails) <= 51

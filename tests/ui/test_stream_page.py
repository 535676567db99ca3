"""The Neural stream page under AppTest, against a real temp store seeded by real agent cycles."""

from __future__ import annotations

import pandas as pd
import pytest
from streamlit.testing.v1 import AppTest

from ravenshire.agents import AGENTS, AgentCoordinator
from ravenshire.agents import queries as q
from ravenshire.config import load_config
from ravenshire.errors import OperationalError
from ravenshire.store import init_db
from tests.ui import test_command_page as command
from tests.ui.test_command_page import FIRST, LAST, run_page

# The Command center's fixtures: the app run inside its frame, and the seeded stores.
seeded, with_data, with_cycles = command.seeded, command.with_data, command.with_cycles

PAGE = "pages/stream.py"


def _headers(at: AppTest) -> list[str]:
    """The first line of each message's card: ``#seq Sender → Receiver``."""
    return [m.value for m in at.markdown if " → " in m.value and "**#" in m.value]


def _multiselect(at: AppTest, label: str):
    return next(m for m in at.multiselect if m.label == label)


def _messages(cycle_id: str | None = None, **filters: object) -> pd.DataFrame:
    return q.stream_messages(init_db(load_config().store_url), cycle_id, **filters)  # type: ignore[arg-type]


def test_no_cycle_says_how_to_run_one(app_env) -> None:
    at = run_page(PAGE)
    assert at.title[0].value == "Neural stream"
    assert any("No agent cycle has run yet" in i.value and "python -m ravenshire cycle" in i.value for i in at.info)
    assert not at.error


def test_the_newest_cycle_reads_as_a_conversation(with_cycles) -> None:
    messages = _messages()
    decision = q.latest_decision(init_db(load_config().store_url))
    assert decision is not None
    at = run_page(PAGE)
    assert next(s for s in at.selectbox if s.label == "Cycle").value == f"agent-{LAST}"
    headers = _headers(at)
    assert len(headers) == len(messages)
    for header, row in zip(headers, messages.itertuples(), strict=True):
        assert f"#{row.seq} {row.sender.capitalize()} → {row.receiver.capitalize()}" in header and row.type in header
    assert _metric(at, "Sovereign decision") == decision.recommendation
    # Each decision's reasoning is text, not a JSON dump only.
    markdown = " ".join(m.value for m in at.markdown)
    for payload in messages.loc[messages["type"] == "decision", "payload"]:
        assert all(f"- {line}" in markdown for line in payload["reasoning"])
    assert all(v in markdown for v in decision.vetoes["detail"])
    frames = [d.value for d in at.dataframe]
    veto_tables = [f for f in frames if {"scope", "reason", "detail"} <= set(f.columns)]
    assert veto_tables and veto_tables[0]["symbol"].tolist() == decision.vetoes["symbol"].tolist()
    assert any("quantity" in f.columns and f["symbol"].tolist() == decision.orders["symbol"].tolist() for f in frames)
    raw = [e for e in at.expander if e.label == "Raw payload"]
    assert len(raw) == len(messages) and len(at.json) == len(messages)
    assert any("DEMO DATA" in m.value for m in at.markdown)
    assert not at.error


def test_the_filters_narrow_the_stream(with_cycles) -> None:
    vetoes = _messages(sender="sentinel", type="veto")
    assert len(vetoes) > 0
    at = run_page(PAGE)
    _multiselect(at, "Sender").set_value(["sentinel"])
    _multiselect(at, "Type").set_value(["veto"])
    at = run_page(PAGE, at)
    headers = _headers(at)
    assert len(headers) == len(vetoes) and all("Sentinel → Sovereign" in h and "veto" in h for h in headers)
    assert any(f"{len(vetoes)} message(s) (filtered)" in c.value for c in at.caption)

    _multiselect(at, "Sender").set_value(["oracle"])
    at = run_page(PAGE, at)
    assert not _headers(at)
    assert any("No message of this cycle matches the filters" in i.value for i in at.info)

    _multiselect(at, "Sender").set_value([])
    _multiselect(at, "Type").set_value(["decision"])
    next(s for s in at.selectbox if s.label == "Cycle").set_value(f"agent-{FIRST}")
    at = run_page(PAGE, at)
    assert [h.split("**#")[1].split(" ")[1] for h in _headers(at)] == [a.capitalize() for a in AGENTS]
    older = _messages(f"agent-{FIRST}", type="decision")
    assert [h.split("**#")[1].split(" ")[0] for h in _headers(at)] == [str(x) for x in older["seq"]]
    assert any(f"**agent-{FIRST}**" in m.value for m in at.markdown)


def test_a_failed_cycle_shows_its_error(with_data, monkeypatch: pytest.MonkeyPatch) -> None:
    from ravenshire.agents.strategist import StrategistAgent

    def broken(self: StrategistAgent, inputs: object) -> None:
        raise RuntimeError("division by zero in the optimizer")

    with monkeypatch.context() as patch:
        patch.setattr(StrategistAgent, "_decide", broken)
        with pytest.raises(OperationalError):
            AgentCoordinator(load_config()).run_cycle(LAST)
    at = run_page(PAGE)
    errors = [e.value for e in at.error]
    assert any(e.startswith("This cycle failed") and "division by zero" in e for e in errors)
    assert any(e == "RuntimeError: division by zero in the optimizer" for e in errors)  # the error message's card
    assert not any(m.label == "Sovereign decision" for m in at.metric)


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)

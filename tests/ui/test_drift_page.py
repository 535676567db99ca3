"""The Drift page under AppTest, against a real temp store."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import streamlit as st
from streamlit.testing.v1 import AppTest

from ravenshire.config import load_config
from ravenshire.execution import ExecutionManager
from tests.conftest import PROJECT

APP = str(PROJECT / "app.py")
PAGE = "pages/drift.py"


def _run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def test_no_monitor_says_how_to_start_one(app_env) -> None:
    at = _run()
    assert at.title[0].value == "Drift"
    (hint,) = [i.value for i in at.info if "No drift monitor is started" in i.value]
    assert "start_drift_monitor" in hint and "`python -m ravenshire drift start --run ID`" in hint
    assert "once that command exists" not in hint  # it exists
    assert any("No input drift shift recorded" in i.value for i in at.info)
    assert not at.error


def test_a_shift_in_live_returns_shows_in_the_events_table(app_env) -> None:
    rng = np.random.default_rng(5)
    em = ExecutionManager(load_config())
    reference = pd.Series(rng.normal(0.0005, 0.01, 504), index=pd.bdate_range("2020-01-01", periods=504))
    em.start_drift_monitor(backtest_returns=reference)
    live = np.concatenate([rng.normal(0.0005, 0.01, 5), rng.normal(-0.03, 0.01, 10)])  # the mean falls on day 6
    days = pd.bdate_range("2024-01-01", periods=len(live))
    checks = [em.check_for_drift(current_return=float(r), when=d) for d, r in zip(days, live, strict=True)]
    fired = [e for c in checks for e in c.events]
    assert fired  # the shift is detected

    at = _run()
    subjects = at.dataframe[0].value
    assert list(subjects["subject"]) == ["strategy"] and subjects["steps"].iloc[0] == len(live)
    events = at.dataframe[1].value
    assert len(events) == len(fired)
    assert set(events["detector"]) == {e.detector for e in fired}
    assert events["message"].iloc[-1] == fired[0].message
    assert pd.Timestamp(events["date"].iloc[-1]) == fired[0].when
    assert len(at.get("vega_lite_chart")) == 3  # one chart per detector


def test_input_drift_per_feature(app_env) -> None:
    rng = np.random.default_rng(3)
    em = ExecutionManager(load_config())
    reference = pd.DataFrame({"vix": rng.normal(15, 2, 500), "momentum": rng.normal(0, 1, 500)})
    current = pd.DataFrame({"vix": rng.normal(25, 2, 60), "momentum": rng.normal(0, 1, 60)})
    table = em.drift_monitor().record_feature_drift("regime", reference, current, "2024-06-28")
    assert table.loc["vix", "verdict"] == "shift"
    at = _run()
    assert next(s for s in at.selectbox if s.label == "Model").value == "regime"
    psi = at.dataframe[-1].value
    assert set(psi["feature"]) == {"vix", "momentum"}
    assert psi.set_index("feature").loc["vix", "verdict"] == "shift"


def test_earlier_lives_are_shown_apart_from_the_current_one(app_env) -> None:
    em = ExecutionManager(load_config())
    reference = pd.Series(
        np.random.default_rng(5).normal(0.0005, 0.01, 504), index=pd.bdate_range("2020-01-01", periods=504)
    )
    em.start_drift_monitor(backtest_returns=reference)
    days = pd.bdate_range("2024-01-01", periods=3)
    old = [em.check_for_drift(current_return=-0.1, when=d) for d in days]  # a crash: detected
    fired = [e for c in old for e in c.events]
    assert fired
    em.start_drift_monitor(backtest_returns=reference, replace=True)  # a new life: nothing detected since
    for d in days:
        assert not em.check_for_drift(current_return=0.0005, when=d).drift_detected

    at = _run()
    assert any("No drift detected for 'strategy' since its last start" in s.value for s in at.success)
    (expander,) = [e for e in at.expander if e.label.startswith("Earlier lives")]
    assert expander.label == f"Earlier lives: {len(fired)} event(s)"
    earlier = expander.dataframe[0].value
    assert len(earlier) == len(fired) and set(earlier["message"]) == {e.message for e in fired}
    assert len(at.dataframe) == 2  # the strategies and the earlier lives' events: no table of this life's events
    charts = at.get("vega_lite_chart")
    assert len(charts) == 3
    for chart in charts:  # no red points of the earlier life: each chart is its line and its threshold
        assert len(json.loads(chart.proto.spec)["layer"]) == 2

    em.check_for_drift(current_return=-0.1, when=pd.Timestamp("2024-01-04"))  # this life detects too
    st.cache_data.clear()  # the page's reads live [UI] cache_ttl seconds
    at = _run()
    current = at.dataframe[1].value
    assert len(current) >= 1 and (current["date"] == pd.Timestamp("2024-01-04")).all()
    assert len(next(e for e in at.expander if e.label.startswith("Earlier lives")).dataframe[0].value) == len(fired)

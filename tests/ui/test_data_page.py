"""The app frame and the Data page under Streamlit's AppTest (a real script run, no browser)."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT

APP = str(PROJECT / "app.py")


def _run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).switch_page("pages/data.py")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_empty_store_bootstraps_the_demo_universe_and_says_demo(app_env) -> None:
    at = _run()
    assert any("DEMO DATA" in w.value for w in at.warning)
    assert _metric(at, "Instruments") == "3"
    coverage = at.dataframe[0].value
    assert list(coverage["symbol"]) == ["AAA", "BBB", "VIX"]
    assert coverage["bars"].notna().all()
    assert coverage["demo"].all()
    assert [t.label for t in at.tabs] == ["Coverage", "Validation", "Versions", "Fetch & import", "Fetch log"]


def test_the_fetch_form_queues_one_job_the_scheduler_fetches_and_the_page_shows_it(app_env) -> None:
    from ravenshire.config import load_config
    from ravenshire.orchestration import list_jobs
    from ravenshire.orchestration.jobs import claim_next_job, finish_job
    from ravenshire.orchestration.runner import run_job
    from ravenshire.store import init_db

    at = _run()
    form_text = next(t for t in at.text_input if t.label == "More symbols (comma-separated)")
    form_text.input("DDD")
    next(b for b in at.button if b.label == "Fetch").click()
    _run(at)
    config = load_config()
    engine = init_db(config.store_url)
    jobs = list_jobs(engine)
    assert list(jobs["kind"]) == ["data_fetch"] and "DDD" in jobs.iloc[0]["params"]  # queued, nothing fetched here
    assert any("Fetch queued as job #1" in i.value for i in at.info)
    assert any("scheduler is not running" in w.value for w in at.warning)
    job = claim_next_job(engine, "test:1:1")  # what the scheduler does
    finish_job(engine, job.id, "succeeded", result=run_job(job, engine, config))
    _run(at)
    assert any("Fetch job #1 — succeeded: ok" in c.value for c in at.caption)
    assert "DDD" in list(at.dataframe[0].value["symbol"])
    assert _metric(at, "Instruments") == "4"


def test_fetch_form_refuses_an_inverted_range_beside_the_field(app_env) -> None:
    at = _run()
    starts = [d for d in at.date_input if d.label == "From"]
    fetch_start = next(d for d in starts if d.key == "fetch_start")
    fetch_start.set_value(__import__("datetime").date(2030, 1, 1))
    next(b for b in at.button if b.label == "Fetch").click()
    _run(at)
    assert any("is after 'To'" in e.value for e in at.error)


def test_create_version_form(app_env) -> None:
    at = _run()
    next(t for t in at.text_input if t.label == "Label (optional)").input("from the test")
    next(b for b in at.button if b.label == "Create version").click()
    _run(at)
    assert any(s.value.startswith("Version ") for s in at.success)
    assert _metric(at, "Data versions") == "1"


def test_import_form_with_a_broken_file_shows_a_clear_error(app_env) -> None:
    at = _run()
    if not hasattr(at, "file_uploader") or not len(at.file_uploader):
        pytest.skip("this Streamlit's AppTest cannot drive file_uploader (the browser test covers import)")
    at.file_uploader[0].upload("prices.csv", b"when,price\nyesterday,abc\n", "text/csv")
    next(b for b in at.button if b.label == "Import").click()
    _run(at)
    assert any("prices.csv" in e.value for e in at.error), [e.value for e in at.error]


def test_bad_configuration_is_shown_not_raised(app_env, monkeypatch) -> None:
    monkeypatch.setenv("RAVENSHIRE_RISK_MAX_LEVERAGE", "lots")
    at = _run()
    assert any("Ravenshire cannot start" in e.value and "RAVENSHIRE_RISK_MAX_LEVERAGE" in e.value for e in at.error)


def test_drawing_the_page_never_fetches_and_an_import_stays_imported(app_env, tmp_path) -> None:
    """Regression: the chart fetched demo data under the ticker of an imported file while the page was drawn."""
    from ravenshire.config import load_config
    from ravenshire.data import DataManager, queries

    _run()  # bootstraps the demo universe
    manager = DataManager(load_config())
    path = tmp_path / "house.csv"
    path.write_text("Date,Close\n2025-06-02,50\n2025-06-03,50.5\n2025-06-04,50.2\n")
    manager.import_file(path, symbol="HOUSE")
    before = queries.fetch_log(manager.engine)
    at = _run()
    chart = next(m for m in at.multiselect if m.label.startswith("Chart"))
    chart.set_value([("HOUSE", "import")])
    _run(at)
    assert len(queries.fetch_log(manager.engine)) == len(before)  # nothing fetched by drawing
    cov = queries.coverage(manager.engine)
    assert list(cov.loc[cov["symbol"] == "HOUSE", "source"]) == ["import"]


def test_a_failed_fetch_is_shown_as_failed_not_as_clean(app_env) -> None:
    """Regression: a failed fetch (no report) was shown as 'Every row passed every rule.'"""
    import datetime as dt

    from ravenshire.config import load_config
    from ravenshire.data import DataManager

    _run()
    manager = DataManager(load_config())
    now = dt.datetime.now(dt.UTC)
    manager._log_failure("fetch", "yfinance", ["SPY"], dt.date(2025, 6, 2), dt.date(2025, 6, 3), now, "Yahoo down")
    st.cache_data.clear()  # as if the short TTL of reads had passed since another process wrote
    at = _run()
    assert any("failed before any data could be checked: Yahoo down" in e.value for e in at.error)
    assert not any("Every row passed" in s.value for s in at.success)

"""The Backtests page under AppTest, inside app.py's frame, against a real temp store seeded with demo data."""

from __future__ import annotations

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from ravenshire.config import load_config
from ravenshire.data import DataManager
from ravenshire.orchestration import list_jobs
from ravenshire.orchestration.jobs import claim_next_job, finish_job
from ravenshire.orchestration.runner import run_job
from ravenshire.research import ResearchManager
from ravenshire.store import init_db
from tests.conftest import PROJECT

APP = str(PROJECT / "app.py")
PAGE = "pages/backtests.py"
STUDY_FORM_KEY = "_backtests_study_form_id"


def _run(at: AppTest | None = None) -> AppTest:
    at = at or AppTest.from_file(APP, default_timeout=120).switch_page(PAGE)
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def _widget(widgets, label: str):
    return next(w for w in widgets if w.label == label)


def _runs():
    return ResearchManager(load_config()).list_runs()


def _engine():
    return init_db(load_config().store_url)


@pytest.fixture
def market(app_env) -> None:
    """The universe's demo bars in the temp store."""
    DataManager(load_config()).get_market_data()


@pytest.fixture
def audits(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict]]:
    """The audit calls of the page (the page imports ``audit`` from ravenshire.ui.auth on every run)."""
    import ravenshire.ui.auth as auth

    calls: list[tuple[str, dict]] = []
    real = auth.audit

    def record(action: str, **kwargs: object) -> None:
        calls.append((action, dict(kwargs)))
        real(action, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(auth, "audit", record)
    return calls


def test_an_empty_store_says_what_to_do(app_env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAVENSHIRE_DATA_SOURCE", "yfinance")  # a real source: the store stays empty until fetched
    at = _run()
    assert at.title[0].value == "Backtests"
    infos = [i.value for i in at.info]
    assert any("no market data yet" in i and "Data" in i for i in infos), infos
    assert any("No backtest stored yet" in i for i in infos)
    assert any("two stored backtests" in i for i in infos)
    assert any("No backtest or study job yet" in i for i in infos)
    assert any("start python scheduler.py to run queued jobs" in w.value.lower() for w in at.warning)
    assert not at.error


def test_the_form_runs_a_backtest_stores_it_and_shows_its_metrics(app_env, market, audits) -> None:
    at = _run()
    assert not at.error
    _widget(at.number_input, "ma_period (integer in [2, 500])").set_value(15)
    _button(at, "Run backtest").click()
    at = _run(at)
    assert not at.error, [e.value for e in at.error]
    runs = _runs()
    assert len(runs) == 1 and runs["kind"].iloc[0] == "backtest"
    stored = runs.iloc[0]
    assert stored["parameters"] == {"ma_period": 15, "threshold": 0.02}
    assert stored["data_version"]
    assert any(f"Run #{stored['id']} stored" in s.value for s in at.success)
    assert _metric(at, "Sharpe") == f"{stored['sharpe_ratio']:.2f}"
    assert _metric(at, "Total return [%]") == f"{100 * stored['total_return']:.2f}"
    assert _metric(at, "Trades") == f"{int(stored['n_trades']):,}"
    assert any(f"Run #{stored['id']} — ma_crossover" in m.value and "DEMO DATA" in m.value for m in at.markdown)
    assert any("entry_date" in d.value.columns for d in at.dataframe)  # the trades
    assert len(at.get("vega_lite_chart")) >= 2  # equity and drawdown
    action, kwargs = audits[0]
    assert action == "backtest" and kwargs["target"] == "ma_crossover"
    assert kwargs["detail"]["run_id"] == stored["id"]


@pytest.mark.parametrize(
    ("label", "value", "message"),
    [
        ("ma_period (integer in [2, 500])", 1000, "out of range; allowed: an integer in [2, 500]"),
        ("Commission [bps]", -1.0, "Costs.commission_bps must be a finite number >= 0"),
        ("Capital [USD]", 0.0, "Capital must be a positive amount"),
    ],
)
def test_bad_input_is_refused_beside_the_field_and_nothing_is_stored(app_env, market, label, value, message) -> None:
    at = _run()
    _widget(at.number_input, label).set_value(value)
    _button(at, "Run backtest").click()
    at = _run(at)
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    assert _runs().empty


def test_dates_in_the_wrong_order_and_a_broken_constraint_are_refused(app_env, market) -> None:
    at = _run()
    _widget(at.date_input, "From").set_value("2025-09-01")
    _widget(at.date_input, "To").set_value("2025-08-01")
    _button(at, "Run backtest").click()
    at = _run(at)
    assert any("must be after 'From'" in e.value for e in at.error), [e.value for e in at.error]

    _widget(at.selectbox, "Strategy").set_value("ma_crossover_fast_slow")
    at = _run(at)
    _widget(at.date_input, "To").set_value("2025-10-01")
    _widget(at.number_input, "fast (integer in [1, 250])").set_value(60)
    _widget(at.number_input, "slow (integer in [2, 500])").set_value(30)
    _button(at, "Run backtest").click()
    at = _run(at)
    assert any("needs fast < slow" in e.value for e in at.error), [e.value for e in at.error]
    assert _runs().empty


def test_compare_shows_both_runs(app_env, market) -> None:
    rm = ResearchManager(load_config())
    data = DataManager(load_config()).get_market_data(fetch=False)
    first = rm.backtest_strategy("ma_crossover", data, {"ma_period": 10})
    second = rm.backtest_strategy("buy_and_hold", data)
    at = _run()
    table = next(d.value for d in at.dataframe if "metric" in d.value.columns)
    assert {f"#{first.run_id} ma_crossover", f"#{second.run_id} buy_and_hold"} <= set(table.columns)
    sharpe = table.set_index("metric").loc["Sharpe"]
    assert sharpe[f"#{second.run_id} buy_and_hold"] == pytest.approx(second.sharpe_ratio)
    # the results default to the newest run, and the compare tab draws the normalized curves of both
    assert _metric(at, "Sharpe") == f"{second.sharpe_ratio:.2f}"
    specs = [c.proto.spec for c in at.get("vega_lite_chart")]
    assert any("growth" in s and "run" in s for s in specs)


def test_the_optimization_form_queues_one_job_however_often_it_is_submitted(app_env, market, audits) -> None:
    at = _run()
    key = at.session_state[STUDY_FORM_KEY]
    _widget(at.number_input, "Trials").set_value(5)
    _button(at, "Queue the study").click()
    at = _run(at)
    assert not at.error, [e.value for e in at.error]
    jobs = list_jobs(_engine())
    assert len(jobs) == 1 and jobs["kind"].iloc[0] == "optimize" and jobs["status"].iloc[0] == "queued"
    job_id = int(jobs["id"].iloc[0])
    assert jobs["idempotency_key"].iloc[0] == f"ui-optimize-{key}"
    assert any(f"job-{job_id}-ma_crossover" in s.value and f"job #{job_id}" in s.value for s in at.success)
    assert any(f"#{job_id} optimize" in m.value and "queued" in m.value for m in at.markdown)
    assert len(at.get("progress")) == 1
    assert any("start python scheduler.py to run queued jobs" in w.value.lower() for w in at.warning)
    assert audits == [("job_submit", {"target": "optimize", "detail": {"job_id": job_id, "strategy": "ma_crossover"}})]
    assert at.session_state[STUDY_FORM_KEY] != key  # the next submission is a new job

    # A run interrupted before the id changed (a double click) submits the same form again: still one job.
    at.session_state[STUDY_FORM_KEY] = key
    at = _run(at)
    _widget(at.number_input, "Trials").set_value(5)
    _button(at, "Queue the study").click()
    at = _run(at)
    assert len(list_jobs(_engine())) == 1

    # The scheduler's runner takes the job as the page queued it: its trials land in the study the page shows.
    engine = _engine()
    job = claim_next_job(engine, "test:1")
    finish_job(engine, job.id, "succeeded", result=run_job(job, engine, load_config()))
    st.cache_data.clear()  # the queue's reads live up to a second
    at = _run(at)
    assert any(f"#{job_id} optimize" in m.value and "succeeded" in m.value for m in at.markdown)
    assert at.get("progress")[0].proto.value == 100
    trials = next(d.value for d in at.dataframe if "sharpe_ratio" in d.value.columns)
    assert len(trials) == 5 and {"ma_period", "threshold"} <= set(trials.columns)


def test_a_bad_search_space_is_refused_beside_the_field(app_env, market) -> None:
    at = _run()
    _widget(at.number_input, "start").set_value(40)  # ma_period's range: start after stop (30)
    _button(at, "Queue the study").click()
    at = _run(at)
    assert any("ma_period" in e.value for e in at.error), [e.value for e in at.error]
    assert list_jobs(_engine()).empty


def test_a_study_job_shows_its_progress_and_trials(app_env, market) -> None:
    from ravenshire.orchestration import submit_job
    from ravenshire.orchestration.jobs import set_progress

    engine = _engine()
    job = submit_job(engine, "optimize", {"strategy": "ma_crossover", "space": {"ma_period": {"range": [10, 20, 5]}},
                                          "trials": 3, "method": "grid"})  # fmt: skip
    claim_next_job(engine, "test:1")
    set_progress(engine, job.id, 0.5, "1 of 3 trials")
    data = DataManager(load_config()).get_market_data(fetch=False)
    ResearchManager(load_config()).optimize_parameters(
        "ma_crossover",
        data,
        {"ma_period": (10, 20, 5)},
        n_trials=3,
        method="grid",
        study_name=f"job-{job.id}-ma_crossover",
    )
    at = _run()
    assert any(f"#{job.id} optimize" in m.value and "running" in m.value for m in at.markdown)
    (bar,) = at.get("progress")
    assert bar.proto.value == 50
    trials = next(d.value for d in at.dataframe if "ma_period" in d.value.columns and "Sharpe" not in d.value.columns
                  and "sharpe_ratio" in d.value.columns)  # fmt: skip
    assert sorted(trials["ma_period"]) == [10, 15, 20]


def test_viewers_see_the_forms_disabled(app_env, market, monkeypatch) -> None:
    import ravenshire.ui.auth as auth

    monkeypatch.setattr(auth, "can_operate", lambda: False)
    at = _run()
    assert sum(c.value == "viewers cannot run backtests" for c in at.caption) == 2
    assert _button(at, "Run backtest").disabled and _button(at, "Queue the study").disabled
    assert _widget(at.number_input, "ma_period (integer in [2, 500])").disabled
    assert _widget(at.selectbox, "Strategy").disabled
    assert not at.error and _runs().empty

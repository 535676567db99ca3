"""Drift detection in the store, against a real SQLite store: detections recorded day by day, a restart in another
process that continues exactly, idempotent re-runs of a cycle, the life of a subject (start, replace), input drift,
and the query functions' columns. Also the detectors' ``statistics()`` that the observations record."""

from __future__ import annotations

import datetime as dt
import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import ks_2samp
from sqlalchemy import Engine, delete, func, select

from ravenshire.data import DataManager
from ravenshire.errors import ConfigError
from ravenshire.execution.drift import Cusum, DriftCheck, DriftDetector, KSWindowTest, PageHinkley
from ravenshire.execution.drift_store import (
    EVENT_COLUMNS,
    FEATURE_DRIFT_COLUMNS,
    OBSERVATION_COLUMNS,
    SUBJECT_COLUMNS,
    DriftMonitor,
    drift_events,
    drift_observations,
    drift_subjects,
    feature_drift_history,
)
from ravenshire.research import ResearchManager
from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s
from tests.conftest import PROJECT

MU, SIGMA = 0.0004, 0.01  # a daily return scale
REFERENCE = np.random.default_rng(20240628).normal(MU, SIGMA, 504)  # a two-year backtest
EVENT_FIELDS = ["detector", "statistic", "threshold", "window", "step", "date", "direction", "severity", "p_value"]


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return init_db(f"sqlite:///{tmp_path / 's.db'}")


def live_returns(n: int, *, seed: int, shift_at: int | None = None, shift: float = 0.0) -> pd.Series:
    """``n`` Gaussian daily returns like the reference's on business days from 2024-01-01; from the 0-based
    position ``shift_at`` on, the mean moves by ``shift`` σ."""
    x = np.random.default_rng(seed).normal(MU, SIGMA, n)
    if shift_at is not None:
        x[shift_at:] += shift * SIGMA
    return pd.Series(x, index=pd.bdate_range("2024-01-01", periods=n), name="returns")


def feed(monitor: DriftMonitor, returns: pd.Series) -> list[DriftCheck]:
    return [monitor.check(float(x), when) for when, x in returns.items()]


def counts(engine: Engine) -> dict[str, int]:
    with read(engine) as conn:
        return {
            t.name: conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (s.drift_states, s.drift_observations, s.drift_events, s.feature_drift)
        }


def event_tuples(frame: pd.DataFrame) -> list[tuple[object, ...]]:
    """Stored events (oldest first) as comparable tuples; NaN p-values as None."""
    rows = frame.sort_values("id")[EVENT_FIELDS].astype(object)
    return [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in row) for row in rows.to_numpy()]


def memory_tuples(events: list) -> list[tuple[object, ...]]:
    return [
        (e.detector, e.statistic, e.threshold, e.window, e.step, e.when, e.direction, e.severity, e.p_value)
        for e in events
    ]


# ------------------------------------------------------------------------------------------------ statistics()


def test_cusum_statistics_by_hand() -> None:
    cusum = Cusum(target_mean=0.0, sigma=1.0, k=0.5, h=6.0)
    cusum.update(2.0)  # S⁺ = 1.5 (run 1), S⁻ = 0
    assert cusum.statistics() == {"statistic": 1.5, "threshold": 6.0, "up": 1.5, "down": 0.0, "window": 1}
    cusum.update(-1.0)  # S⁺ = max(0, 1.5 − 1 − 0.5) = 0, S⁻ = 0.5 (run 1)
    assert cusum.statistics() == {"statistic": 0.5, "threshold": 6.0, "up": 0.0, "down": 0.5, "window": 1}
    up_only = Cusum(target_mean=0.0, sigma=1.0, k=0.5, h=6.0, direction="up")
    up_only.update(-3.0)  # S⁻ = 2.5 is computed but not watched
    assert up_only.statistics()["statistic"] == 0.0 and up_only.statistics()["down"] == 2.5


def test_page_hinkley_statistics_by_hand() -> None:
    # δ = 0.1, x = [1, 3] (as in test_drift): PH⁺ = 0.9 over 1 observation, PH⁻ = 0, n = 2
    ph = PageHinkley(delta=0.1, threshold=1.0, min_samples=1)
    ph.update(1.0)
    ph.update(3.0)
    stats = ph.statistics()
    assert stats["statistic"] == pytest.approx(0.9) and stats["up"] == pytest.approx(0.9)
    assert (stats["down"], stats["window"], stats["n"], stats["threshold"]) == (0.0, 1, 2, 1.0)


def test_ks_statistics_are_the_distance_of_the_window_so_far() -> None:
    ks = KSWindowTest(REFERENCE, window=10)
    empty = ks.statistics()
    assert math.isnan(empty["statistic"]) and (empty["fill"], empty["window"]) == (0, 10)
    assert empty["threshold"] == ks.critical_value
    values = live_returns(15, seed=1).to_numpy()
    for i, x in enumerate(values, start=1):
        assert ks.update(x) == []
        window = values[max(0, i - 10) : i]
        stats = ks.statistics()
        assert stats["fill"] == min(i, 10)
        assert stats["statistic"] == pytest.approx(ks_2samp(window, REFERENCE).statistic, abs=1e-15)


def test_detector_statistics_reset_after_an_alarm_and_survive_a_restore() -> None:
    det = DriftDetector.from_reference(REFERENCE)
    events = det.update_many(live_returns(150, seed=2, shift_at=0, shift=-3.0))
    assert any(e.detector == "cusum" for e in events)
    stats = det.statistics()
    assert list(stats) == list(det.detectors)
    assert all({"statistic", "threshold", "window"} <= set(figures) for figures in stats.values())
    assert stats["cusum"]["threshold"] == 6.0 and stats["page_hinkley"]["threshold"] == 10.0
    assert stats["cusum"]["statistic"] <= 6.0 < min(e.statistic for e in events if e.detector == "cusum")
    again = DriftDetector.restore(json.loads(json.dumps(det.state().to_dict()))).statistics()
    assert json.dumps(again) == json.dumps(stats)  # NaN-safe equality


# ------------------------------------------------------------------------------------------------ detections


def test_a_mean_shift_fed_day_by_day_fires_and_its_events_are_recorded(engine: Engine) -> None:
    returns = live_returns(160, seed=3, shift_at=120, shift=-1.5)
    monitor = DriftMonitor(engine, "alpha")
    monitor.start(REFERENCE)
    checks = feed(monitor, returns)

    events = drift_events(engine, "alpha").sort_values("id")
    assert not events.empty and all(c.drift_detected == bool(c.events) for c in checks)
    first = events.iloc[0]
    assert first["detector"] == "cusum" and first["direction"] == "down" and first["severity"] == "alarm"
    assert 120 < first["step"] <= 140  # median delay ~6 steps for a 1.5 σ drop
    assert first["statistic"] > first["threshold"] == 6.0
    assert first["window"] >= 1 and first["step"] - first["window"] + 1 >= 100  # the run began near the shift
    assert first["date"] == returns.index[first["step"] - 1]
    assert first["subject"] == "alpha" and pd.isna(first["feature"]) and "CUSUM" in first["message"]
    # the same as one in-memory detector on the series
    expected = DriftDetector.from_reference(REFERENCE, subject="alpha").update_many(returns)
    assert event_tuples(events) == memory_tuples(expected)

    obs = drift_observations(engine, "alpha").set_index("step")
    assert list(obs.index) == list(range(1, 161)) and list(obs["date"]) == list(returns.index)
    np.testing.assert_array_equal(obs["value"].to_numpy(), returns.to_numpy())
    assert bool(obs.loc[first["step"], "drift"]) and bool(obs.loc[first["step"], "cusum_fired"])
    assert obs.loc[first["step"], "cusum_statistic"] == 0.0  # the reset after the alarm
    assert obs["drift"].sum() == len({int(x) for x in events["step"]})


def test_stationary_returns_raise_no_event_then_a_shift_does(engine: Engine) -> None:
    # 200 stationary steps. At the documented rates (CUSUM 0.89, Page-Hinkley 0.93 per 1,000 steps; KS cannot test
    # before its window of 120 fills, then 0.06) about 0.35 false alarms are expected; this seed has none.
    monitor = DriftMonitor(engine, "calm")
    monitor.start(REFERENCE)
    calm = live_returns(240, seed=4, shift_at=200, shift=-2.0)
    feed(monitor, calm.iloc[:200])
    assert drift_events(engine, "calm").empty
    obs = drift_observations(engine, "calm")
    assert not obs["drift"].any() and len(obs) == 200
    assert (obs["cusum_statistic"] <= obs["cusum_threshold"]).all()
    assert (obs["page_hinkley_statistic"] <= obs["page_hinkley_threshold"]).all()
    tested = obs["ks_fill"] == obs["ks_window"]  # a partly filled window's D is shown, not tested
    assert tested.sum() == 81 and (obs.loc[tested, "ks_statistic"] <= obs.loc[tested, "ks_threshold"]).all()
    # a detector that never fires would pass the above: a 2 σ drop must be found within a few steps
    checks = feed(monitor, calm.iloc[200:])
    fired = [c.step for c in checks if c.drift_detected]
    assert fired and fired[0] <= 210


# ------------------------------------------------------------------------------------------------ restart


RESUME = """
import json, sys
import pandas as pd
from ravenshire.store import init_db
from ravenshire.execution.drift_store import DriftMonitor

url, path = sys.argv[1], sys.argv[2]
data = json.loads(open(path, encoding="utf-8").read())
monitor = DriftMonitor(init_db(url), "alpha")
for when, x in zip(data["dates"], data["values"]):
    monitor.check(x, when)
print(monitor.load().steps)
"""


def test_a_restart_in_a_new_process_continues_exactly(engine: Engine, tmp_path: Path) -> None:
    returns = live_returns(260, seed=5, shift_at=90, shift=-1.0)
    half = 130
    DriftMonitor(engine, "alpha").start(REFERENCE)
    first = {"dates": [d.isoformat() for d in returns.index[:half]], "values": returns.iloc[:half].tolist()}
    (tmp_path / "first.json").write_text(json.dumps(first), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(RESUME), str(engine.url), str(tmp_path / "first.json")],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(half)

    monitor = DriftMonitor(engine, "alpha")
    assert monitor.load().steps == half
    feed(monitor, returns.iloc[half:])

    memory = DriftDetector.from_reference(REFERENCE, subject="alpha")
    expected = memory.update_many(returns)
    stored = drift_events(engine, "alpha")
    assert {e.step for e in expected if e.step is not None and e.step <= half}  # events on both sides of the restart
    assert {e.step for e in expected if e.step is not None and e.step > half}
    assert event_tuples(stored) == memory_tuples(expected)  # same steps, same statistics, exactly
    assert monitor.load().state() == memory.state()
    assert drift_subjects(engine).set_index("subject").loc["alpha", "last_date"] == returns.index[-1]


# ------------------------------------------------------------------------------------------------ re-runs


def test_a_rerun_for_a_recorded_date_returns_the_stored_check_and_changes_nothing(engine: Engine) -> None:
    returns = live_returns(140, seed=3, shift_at=100, shift=-1.5)
    monitor = DriftMonitor(engine, "alpha")
    monitor.start(REFERENCE)
    checks = feed(monitor, returns)
    fired = next(c for c in checks if c.drift_detected)
    before = counts(engine)
    state = monitor.load().state()

    assert monitor.check(float(returns.iloc[fired.step - 1]), returns.index[fired.step - 1]) == fired
    assert monitor.check(float(returns.iloc[-1]), returns.index[-1]) == checks[-1]
    last = float(returns.iloc[-1])
    assert monitor.check(last, returns.index[-1] + pd.Timedelta(hours=15)) == checks[-1]  # same business date
    assert monitor.check(last * (1 + 1e-13), returns.index[-1]) == checks[-1]  # the same return, read back
    assert monitor.stored_return(returns.index[-1]) == last and monitor.stored_return("2024-07-06") is None
    assert counts(engine) == before and monitor.load().state() == state

    with pytest.raises(ConfigError, match=r"already seen 2024-07-12.*feed each date once"):
        monitor.check(0.001, "2024-07-06")  # a Saturday between recorded dates: never fed, and before the last
    with pytest.raises(ConfigError, match="missing or infinite return"):
        monitor.check(math.nan, "2024-07-15")
    assert counts(engine) == before


def test_a_recorded_date_with_another_return_is_refused(engine: Engine) -> None:
    monitor = DriftMonitor(engine)
    monitor.start(REFERENCE)
    first = monitor.check(0.01, "2024-01-10")
    before, state = counts(engine), monitor.load().state()
    for other in (-0.5, 0.01 * (1 + 1e-9), 0, math.nan, "0.01"):
        with pytest.raises(ConfigError, match=r"^2024-01-10 was already checked with return 0\.01; a date is fed once"):
            monitor.check(other, "2024-01-10")  # type: ignore[arg-type]
    assert counts(engine) == before and monitor.load().state() == state
    assert monitor.check(0.01, pd.Timestamp("2024-01-10 16:00")) == first


@pytest.mark.parametrize("when", [20240628, 20240628.0, True, np.int64(20240628), 1.7e18])
def test_a_number_is_not_a_date(engine: Engine, when: object) -> None:
    monitor = DriftMonitor(engine)
    monitor.start(REFERENCE)
    with pytest.raises(ConfigError, match=r"when must be a date: 'YYYY-MM-DD'.*datetime\.date or a pandas Timestamp"):
        monitor.check(0.01, when)
    with pytest.raises(ConfigError, match=r"since must be a date: 'YYYY-MM-DD'.*got the number"):
        drift_events(engine, since=when)
    with pytest.raises(ConfigError, match="when must be a date"):
        monitor.record_feature_drift("regime", pd.DataFrame({"x": [1.0, 2.0]}), pd.DataFrame({"x": [1.0]}), when)
    assert counts(engine)["drift_observations"] == 0
    for good in ("2024-06-28", dt.date(2024, 6, 28), pd.Timestamp("2024-06-28 15:00", tz="America/New_York")):
        monitor.check(0.0, good)  # each is the same business date: fed once
    assert list(drift_observations(engine, "strategy")["date"]) == [pd.Timestamp("2024-06-28")]


def test_checks_without_a_date_are_new_steps(engine: Engine) -> None:
    monitor = DriftMonitor(engine)
    monitor.start(REFERENCE)
    first = monitor.check_for_drift(current_return=0.05)
    second = monitor.check_for_drift(current_return=0.05)
    assert (first.step, second.step, first.when) == (1, 2, None)
    obs = drift_observations(engine, "strategy")
    assert list(obs["step"]) == [1, 2] and obs["date"].isna().all()
    assert monitor.check(0.0, "2024-07-01").step == 3


# ------------------------------------------------------------------------------------------------ life of a subject


def test_not_started_says_how_to_start(engine: Engine) -> None:
    monitor = DriftMonitor(engine, "ghost")
    assert not monitor.is_started()
    with pytest.raises(ConfigError, match=r"'ghost' is not started.*\.start\(backtest_returns\).*start_from_run"):
        monitor.check(0.01, "2024-07-01")
    with pytest.raises(ConfigError, match="not started"):
        monitor.load()
    assert counts(engine) == dict.fromkeys(counts(engine), 0)


def test_start_twice_is_refused_and_replace_starts_a_new_life(engine: Engine) -> None:
    returns = live_returns(130, seed=3, shift_at=100, shift=-1.5)
    monitor = DriftMonitor(engine, "alpha")
    monitor.start(REFERENCE, cusum_h=5.0)
    assert monitor.is_started() and monitor.load().cusum is not None and monitor.load().cusum.h == 5.0
    first_life = feed(monitor, returns)
    n_events = sum(len(c.events) for c in first_life)
    assert n_events > 0
    with pytest.raises(ConfigError, match=r"'alpha' is already started \(130 returns fed\).*replace=True"):
        monitor.start(REFERENCE)

    monitor.start(REFERENCE, replace=True, cusum_h=5.0)
    assert monitor.load().steps == 0 and drift_observations(engine, "alpha").empty
    assert len(drift_events(engine, "alpha")) == n_events  # the first life's events stay as history
    second_life = feed(monitor, returns)  # a replay gives the same steps and dates …
    assert second_life == first_life
    fired = next(c for c in second_life if c.drift_detected)
    assert monitor.check(float(returns[fired.when]), fired.when) == fired  # … a re-run reads back only this life's
    subjects = drift_subjects(engine).set_index("subject")
    assert subjects.loc["alpha", "events"] == n_events and subjects.loc["alpha", "events_all"] == 2 * n_events
    current, earlier = drift_events(engine, "alpha", life="current"), drift_events(engine, "alpha", life="earlier")
    assert len(current) == len(earlier) == n_events and set(current["id"]).isdisjoint(earlier["id"])
    assert current["id"].min() > earlier["id"].max()


def test_the_life_of_an_event_does_not_depend_on_the_clock(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """Events are told apart by the check that wrote them, not by comparing clock readings: a clock that steps
    back after a start (NTP) or processes on hosts whose clocks disagree file no event in the wrong life."""
    when = {"at": dt.datetime(2024, 7, 1, tzinfo=dt.UTC)}
    monkeypatch.setattr("ravenshire.execution.drift_store._now", lambda: when["at"])
    monitor = DriftMonitor(engine, "alpha")
    shock = pd.Series([-0.1, -0.1], index=pd.bdate_range("2024-01-01", periods=2))

    when["at"] = dt.datetime(2024, 7, 1, 12, tzinfo=dt.UTC)  # first life: a host whose clock is 6 hours ahead
    monitor.start(REFERENCE)
    first = feed(monitor, shock)
    n_first = sum(len(c.events) for c in first)

    when["at"] = dt.datetime(2024, 7, 1, 9, tzinfo=dt.UTC)  # replaced from another host, "earlier" by its clock
    monitor.start(REFERENCE, replace=True, cusum_h=8.0)
    when["at"] = dt.datetime(2024, 7, 1, 8, 59, tzinfo=dt.UTC)  # then the clock steps back a minute
    (second,) = feed(monitor, shock.iloc[:1])
    n_second = len(second.events)
    assert 0 < n_second < n_first and {e.threshold for e in second.events if e.detector == "cusum"} == {8.0}

    current, earlier = drift_events(engine, "alpha", life="current"), drift_events(engine, "alpha", life="earlier")
    assert (len(current), len(earlier)) == (n_second, n_first) and current["id"].min() > earlier["id"].max()
    row = drift_subjects(engine).set_index("subject").loc["alpha"]
    assert (row["events"], row["events_all"]) == (n_second, n_first + n_second)
    assert monitor.check(-0.1, "2024-01-01") == second  # a re-run reads back this life's events only

    psi = pd.DataFrame({"x": REFERENCE}), pd.DataFrame({"x": REFERENCE + 1})
    monitor.record_feature_drift("alpha", *psi, "2024-01-02")
    assert len(drift_events(engine, "alpha")) == n_first + n_second + 1  # a psi event has no life …
    assert len(drift_events(engine, "alpha", life="current")) == n_second  # … and is in neither
    assert len(drift_events(engine, "alpha", life="earlier")) == n_first
    with pytest.raises(ConfigError, match="life must be one of current, earlier"):
        drift_events(engine, "alpha", life="all")


def test_bad_start_options_are_refused(engine: Engine) -> None:
    monitor = DriftMonitor(engine, "alpha")
    with pytest.raises(ConfigError, match=r"unknown detector option 'cusum_hh'.*did you mean 'cusum_h'"):
        monitor.start(REFERENCE, cusum_hh=5.0)
    with pytest.raises(ConfigError, match="no run #7"):
        monitor.start(REFERENCE, reference_run_id=7)
    with pytest.raises(ConfigError, match="subject must be a non-empty name"):
        DriftMonitor(engine, "x" * 65)
    assert not monitor.is_started()


def test_start_from_a_stored_backtest_run(manager: DataManager) -> None:
    research = ResearchManager(manager.config, engine=manager.engine)
    data = manager.get_market_data(["AAA", "BBB", "CCC"], "2023-06-01", "2024-06-28")
    run_id = research.backtest_strategy("equal_weight", data).run_id
    assert run_id is not None
    returns = research.load_run(run_id).returns
    monitor = DriftMonitor(manager.engine, "equal_weight")
    detector = monitor.start_from_run(run_id, detectors=("cusum", "ks"))
    assert detector.reference_mean == pytest.approx(returns.dropna().mean(), rel=1e-12)
    assert list(detector.detectors) == ["cusum", "ks"]
    assert drift_subjects(manager.engine).set_index("subject").loc["equal_weight", "reference_run_id"] == run_id

    with pytest.raises(ConfigError, match="from run #999: no run #999"):
        DriftMonitor(manager.engine, "other").start_from_run(999)
    with write(manager.engine) as conn:
        conn.execute(delete(s.run_artifacts).where(s.run_artifacts.c.run_id == run_id))
    with pytest.raises(ConfigError, match=f"run #{run_id} .* has no returns"):
        DriftMonitor(manager.engine, "other").start_from_run(run_id)
    assert not DriftMonitor(manager.engine, "other").is_started()


# ------------------------------------------------------------------------------------------------ input drift


def test_record_feature_drift_flags_the_shifted_feature_once_per_date(engine: Engine) -> None:
    rng = np.random.default_rng(6)
    reference = pd.DataFrame({"vol": rng.normal(0, 1, 500), "trend": rng.normal(0, 1, 500)})
    current = pd.DataFrame({"vol": rng.normal(0, 1, 250), "trend": rng.normal(1.0, 1, 250)})
    monitor = DriftMonitor(engine)
    table = monitor.record_feature_drift("regime", reference, current, "2024-06-28")
    assert table.loc["vol", "verdict"] == "stable" and table.loc["trend", "verdict"] == "shift"

    events = drift_events(engine, "regime")
    assert len(events) == 1
    event = events.iloc[0]
    assert (event["detector"], event["feature"], event["severity"], event["direction"]) == (
        "psi", "trend", "alarm", "shape"
    )  # fmt: skip
    assert event["statistic"] == table.loc["trend", "psi"] and event["threshold"] == 0.25
    assert event["window"] == 250 and pd.isna(event["step"]) and event["date"] == pd.Timestamp("2024-06-28")

    before = counts(engine)
    monitor.record_feature_drift("regime", reference, current, pd.Timestamp("2024-06-28 17:30"))
    assert counts(engine) == before  # replaced, not duplicated
    monitor.record_feature_drift("regime", reference, current, "2024-07-01")
    history = feature_drift_history(engine, "regime")
    assert list(history.columns) == list(FEATURE_DRIFT_COLUMNS)
    assert list(history["feature"]) == ["vol", "trend", "vol", "trend"]
    assert list(history["date"]) == [pd.Timestamp("2024-06-28")] * 2 + [pd.Timestamp("2024-07-01")] * 2
    assert len(drift_events(engine, "regime")) == 2
    assert drift_subjects(engine).empty  # a model is not a watched strategy


# ------------------------------------------------------------------------------------------------ queries


def test_query_functions_columns_and_types(engine: Engine) -> None:
    assert list(drift_events(engine).columns) == list(EVENT_COLUMNS)
    assert list(drift_observations(engine, "alpha").columns) == list(OBSERVATION_COLUMNS)
    assert list(feature_drift_history(engine, "regime").columns) == list(FEATURE_DRIFT_COLUMNS)
    assert list(drift_subjects(engine).columns) == list(SUBJECT_COLUMNS)

    monitor = DriftMonitor(engine, "alpha")
    monitor.start(REFERENCE)
    returns = live_returns(140, seed=3, shift_at=100, shift=-1.5)
    feed(monitor, returns)

    events = drift_events(engine)
    assert list(events.columns) == list(EVENT_COLUMNS)
    assert events["date"].dtype == "datetime64[ns]" and str(events["at"].dt.tz) == "UTC"
    assert events["id"].is_monotonic_decreasing
    assert len(drift_events(engine, limit=2)) == 2
    late = drift_events(engine, since="2024-06-01")
    assert (late["date"] >= pd.Timestamp("2024-06-01")).all() and 0 < len(late) < len(events)
    assert drift_events(engine, subject="beta").empty

    obs = drift_observations(engine, "alpha")
    flat = [
        f"{det}_{key}"
        for det, keys in (
            ("page_hinkley", ["statistic", "threshold", "up", "down", "window", "n", "fired"]),
            ("cusum", ["statistic", "threshold", "up", "down", "window", "fired"]),
            ("ks", ["statistic", "threshold", "fill", "window", "fired"]),
        )
        for key in keys
    ]
    assert list(obs.columns) == [*OBSERVATION_COLUMNS, *flat]
    assert obs["date"].dtype == "datetime64[ns]" and obs["drift"].dtype == bool
    assert obs["ks_statistic"].iloc[:5].notna().all() and obs["ks_fill"].iloc[0] == 1

    subjects = drift_subjects(engine)
    assert list(subjects.columns) == list(SUBJECT_COLUMNS)
    row = subjects.iloc[0]
    assert (row["subject"], row["steps"], row["last_date"]) == ("alpha", 140, returns.index[-1])
    assert row["events"] == row["events_all"] == len(events) and pd.isna(row["reference_run_id"])
    assert str(subjects["updated_at"].dt.tz) == "UTC" and row["updated_at"] >= row["created_at"]

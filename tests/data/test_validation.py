"""Tests of :mod:`ravenshire.data.validation`: one valid base frame on real XNYS sessions, one thing broken."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from ravenshire.data.calendar import sessions
from ravenshire.data.frames import BAR_COLUMNS, normalize_bars
from ravenshire.data.validation import ISSUE_COLUMNS, RULES, DataValidator, ValidationReport
from ravenshire.errors import ConfigError

# June-July 2024 on XNYS: 2024-06-19 (Juneteenth) and 2024-07-04 are holidays.
SESSIONS = sessions("2024-06-03", "2024-07-31", "XNYS")


def make_bars(symbol: str = "AAA", n: int = 10, start: str = "2024-06-03", first: float = 100.0) -> pd.DataFrame:
    """Valid bars on consecutive XNYS sessions, close rising 1% a day, open/high/low around it."""
    dates = SESSIONS[pd.Timestamp(start) <= SESSIONS][:n]
    close = first * 1.01 ** np.arange(n)
    return pd.DataFrame(
        {
            "symbol": symbol,
            "date": dates,
            "open": close * 0.995,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": 1e6,
        }
    )


def base() -> pd.DataFrame:
    return pd.concat([make_bars("AAA"), make_bars("BBB", first=50.0)], ignore_index=True)


def at(frame: pd.DataFrame, symbol: str, i: int) -> pd.Timestamp:
    """The date of the i-th bar of ``symbol`` in ``frame``."""
    return frame.loc[frame["symbol"] == symbol, "date"].iloc[i]


def keys(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return [(s, f"{d:%Y-%m-%d}") for s, d in zip(frame["symbol"], frame["date"], strict=True)]


def issues_of(report: ValidationReport, rule: str) -> pd.DataFrame:
    return report.issues[report.issues["rule"] == rule].reset_index(drop=True)


def set_price(frame: pd.DataFrame, symbol: str, i: int, value: float) -> None:
    """Set every price of one bar (open/high/low around it), so only continuity rules can notice."""
    mask = frame["date"].eq(at(frame, symbol, i)) & frame["symbol"].eq(symbol)
    frame.loc[mask, ["open", "high", "low", "close", "adj_close"]] = [
        value * 0.995,
        value * 1.01,
        value * 0.99,
        value,
        value,
    ]


def validate(frame: pd.DataFrame, **kwargs) -> ValidationReport:
    previous = kwargs.pop("previous", None)
    return DataValidator(**kwargs).validate(frame, previous=previous)


# --- clean data and the report's shape ------------------------------------------------------------------


def test_clean_data_passes_with_no_issues():
    bars = base()
    report = validate(bars)
    assert report.ok
    assert (report.n_rows, report.n_accepted, report.n_rejected, report.n_flagged) == (20, 20, 0, 0)
    assert report.issues.empty
    assert report.rejected.empty
    pd.testing.assert_frame_equal(report.accepted, normalize_bars(bars))
    assert report.counts() == dict.fromkeys(RULES, 0)


def test_report_frames_have_the_documented_columns_and_naive_dates():
    bars = base()
    bars.loc[0, "close"] = np.nan
    bars.loc[5, "date"] = pd.Timestamp("2024-06-08")  # a Saturday, flagged
    report = validate(bars)
    assert list(report.accepted.columns) == list(BAR_COLUMNS)
    assert list(report.rejected.columns) == [*BAR_COLUMNS, "rule", "detail"]
    assert list(report.issues.columns) == list(ISSUE_COLUMNS)
    for frame in (report.accepted, report.rejected, report.issues):
        assert frame["date"].dtype == "datetime64[ns]"
        assert isinstance(frame["date"].iloc[0], pd.Timestamp)
        assert frame["date"].iloc[0].tzinfo is None
        assert frame.index.equals(pd.RangeIndex(len(frame)))
    assert set(report.issues["action"]) == {"rejected", "flagged"}


def test_to_dict_is_json_safe_and_counts_findings():
    bars = base()
    bars.loc[0, "close"] = np.nan
    report = validate(bars)
    summary = json.loads(json.dumps(report.to_dict()))
    assert summary["ok"] is False
    assert summary["n_rows"] == 20
    assert summary["n_rejected"] == 1
    assert summary["n_accepted"] == 19
    assert summary["counts"]["missing_value"] == 1
    assert list(summary["counts"]) == list(RULES)


def test_input_order_and_tz_aware_dates_are_normalised():
    bars = base().sample(frac=1.0, random_state=3)
    bars["date"] = bars["date"].dt.tz_localize("America/New_York")
    report = validate(bars)
    assert report.ok and report.issues.empty
    pd.testing.assert_frame_equal(report.accepted, normalize_bars(base()))


# --- one test per rule ----------------------------------------------------------------------------------


def test_missing_close_or_adj_close_is_rejected():
    bars = base()
    bars.loc[2, "close"] = np.nan
    bars.loc[12, "adj_close"] = np.nan
    report = validate(bars)
    assert keys(report.rejected) == [("AAA", "2024-06-05"), ("BBB", "2024-06-05")]
    assert list(report.rejected["rule"]) == ["missing_value", "missing_value"]
    assert list(report.rejected["detail"]) == ["close is NaN", "adj_close is NaN"]
    assert report.counts()["missing_value"] == 2
    assert len(report.accepted) == 18


def test_close_only_source_is_valid():
    bars = base()
    bars[["open", "high", "low", "volume"]] = np.nan
    report = validate(bars)
    assert report.ok and report.issues.empty


def test_missing_columns_count_as_missing_values():
    bars = base().drop(columns=["adj_close", "open"])
    report = validate(bars)
    assert report.n_rejected == 20
    assert set(report.rejected["detail"]) == {"adj_close is NaN"}


def test_missing_symbol_or_unreadable_date_is_rejected():
    bars = base()
    bars["date"] = bars["date"].dt.strftime("%Y-%m-%d").astype(object)
    bars.loc[3, "date"] = "not a date"
    bars.loc[13, "symbol"] = None
    report = validate(bars)
    assert report.n_rejected == 2
    assert set(report.rejected["rule"]) == {"missing_value"}
    assert sorted(report.rejected["detail"]) == ["date is missing or unreadable", "symbol is missing"]


def test_non_positive_price_and_negative_volume_are_rejected():
    bars = base()
    bars.loc[1, "low"] = -1.0
    bars.loc[4, "close"] = 0.0
    bars.loc[4, "adj_close"] = 0.0
    bars.loc[11, "open"] = np.inf
    bars.loc[14, "volume"] = -100.0
    report = validate(bars)
    rejected = report.rejected
    assert keys(rejected) == [
        ("AAA", "2024-06-04"),
        ("AAA", "2024-06-07"),
        ("BBB", "2024-06-04"),
        ("BBB", "2024-06-07"),
    ]
    assert set(rejected["rule"]) == {"non_positive_price"}
    detail = list(rejected["detail"])
    assert detail[0].startswith("low -1.00 ≤ 0")
    assert detail[1].startswith("close 0.00 ≤ 0; adj_close 0.00 ≤ 0")
    assert detail[2].startswith("open inf is not finite")
    assert detail[3] == "volume -100 < 0"


def test_high_below_low_is_rejected_and_the_range_check_is_appended():
    bars = base()
    bars.loc[3, ["high", "low"]] = [99.0, 105.0]  # close 103.03 lies in neither order of the bounds
    report = validate(bars)
    assert keys(report.rejected) == [("AAA", "2024-06-06")]
    row = report.rejected.iloc[0]
    assert row["rule"] == "high_below_low"
    assert row["detail"].startswith("high 99.00 < low 105.00; also price_outside_range: ")
    assert "close 103.03 > high 99.00" in row["detail"]
    assert "close 103.03 < low 105.00" in row["detail"]
    found = report.issues[["rule", "action"]].to_numpy().tolist()
    assert found == [["high_below_low", "rejected"], ["price_outside_range", "rejected"]]


def test_price_outside_range_is_rejected_with_its_figures():
    bars = base()
    bars.loc[2, "close"] = 110.0  # high is 103.03
    bars.loc[15, "open"] = 40.0  # low is 52.02
    report = validate(bars)
    assert keys(report.rejected) == [("AAA", "2024-06-05"), ("BBB", "2024-06-10")]
    assert set(report.rejected["rule"]) == {"price_outside_range"}
    assert list(report.rejected["detail"]) == ["close 110.00 > high 103.03", "open 40.00 < low 52.02"]


def test_price_outside_range_respects_the_tolerance():
    bars = base()
    bars.loc[2, "close"] = bars.loc[2, "high"] * (1 + 1e-12)
    assert validate(bars).ok
    report = validate(bars, tolerance=0.0)
    assert keys(report.rejected) == [("AAA", "2024-06-05")]


def test_identical_duplicates_keep_the_first_copy():
    bars = base()
    bars = pd.concat([bars, bars.iloc[[3, 3]]], ignore_index=True)  # three identical copies
    report = validate(bars)
    assert report.n_rows == 22
    assert keys(report.rejected) == [("AAA", "2024-06-06")] * 2
    assert set(report.rejected["rule"]) == {"duplicate_date"}
    assert report.rejected["detail"].iloc[0] == (
        "identical copy of another bar in this batch; the first of 3 copies was kept"
    )
    assert keys(report.accepted) == keys(normalize_bars(base()))


def test_differing_duplicates_are_all_rejected():
    bars = base()
    copy = bars.iloc[[3]].assign(close=102.5, volume=2e6)
    bars = pd.concat([bars, copy], ignore_index=True)
    report = validate(bars)
    assert keys(report.rejected) == [("AAA", "2024-06-06")] * 2
    assert set(report.rejected["rule"]) == {"duplicate_date"}
    assert set(report.rejected["detail"]) == {
        "2 copies of this bar differ (close 102.50 to 103.03, volume); all rejected"
    }
    assert ("AAA", "2024-06-06") not in keys(report.accepted)
    assert issues_of(report, "calendar_gap").empty  # the bar arrived: its rejection says the store lacks it


def test_bar_on_a_holiday_and_on_a_weekend_is_flagged():
    bars = make_bars("AAA", n=3, start="2024-07-01")  # 07-01, 07-02, 07-03
    extra = make_bars("AAA", n=2, start="2024-07-05", first=103.0)
    extra["date"] = pd.to_datetime(["2024-07-04", "2024-07-06"])  # Thursday holiday, Saturday
    report = validate(pd.concat([bars, extra], ignore_index=True))
    assert report.ok
    assert report.n_flagged == 2
    flagged = issues_of(report, "not_a_session")
    assert keys(flagged) == [("AAA", "2024-07-04"), ("AAA", "2024-07-06")]
    assert set(flagged["action"]) == {"flagged"}
    assert flagged["detail"][0] == "2024-07-04 (Thursday) is not a session of XNYS; the exchange was closed (holiday)"
    assert flagged["detail"][1] == "2024-07-06 (Saturday) is not a session of XNYS; it is closed on weekends"
    assert ("AAA", "2024-07-04") in keys(report.accepted)
    # 2024-07-05 is a session with no bar between 07-04 and 07-06
    assert list(issues_of(report, "calendar_gap")["detail"]) == [
        "1 XNYS session missing: 2024-07-05 (between bars on 2024-07-04 and 2024-07-06)"
    ]


def test_holiday_is_not_a_gap():
    bars = make_bars("AAA", n=4, start="2024-07-01")  # 07-01, 07-02, 07-03, 07-05
    assert list(bars["date"].dt.day) == [1, 2, 3, 5]
    report = validate(bars)
    assert report.ok and report.issues.empty


def test_calendar_gap_is_one_issue_per_run_of_missing_sessions():
    bars = base()
    bars = bars.drop(index=[3, 4, 5, 8]).reset_index(drop=True)  # AAA: 06-06, 06-07, 06-10 and 06-13
    report = validate(bars)
    assert report.ok
    assert report.n_flagged == 0  # a gap has no bar
    gaps = issues_of(report, "calendar_gap")
    assert keys(gaps) == [("AAA", "2024-06-06"), ("AAA", "2024-06-13")]
    assert set(gaps["action"]) == {"flagged"}
    assert list(gaps["detail"]) == [
        "3 XNYS sessions missing: 2024-06-06 → 2024-06-10 (between bars on 2024-06-05 and 2024-06-11)",
        "1 XNYS session missing: 2024-06-13 (between bars on 2024-06-12 and 2024-06-14)",
    ]
    assert report.counts()["calendar_gap"] == 2


def test_check_calendar_off_skips_sessions_and_gaps():
    bars = base().drop(index=[3]).reset_index(drop=True)
    bars.loc[0, "date"] = pd.Timestamp("2024-06-01")  # a Saturday
    report = validate(bars, check_calendar=False)
    assert report.issues.empty


def test_stale_run_flags_the_repeats_not_the_first():
    bars = base()
    set_price(bars, "AAA", 3, 100.0)
    for i in range(4, 9):
        set_price(bars, "AAA", i, 100.0)  # bars 3..8: six equal closes
    report = validate(bars)
    assert report.ok
    stale = issues_of(report, "stale_price")
    assert keys(stale) == [("AAA", f"{at(bars, 'AAA', i):%Y-%m-%d}") for i in range(4, 9)]
    assert report.n_flagged == 5
    assert stale["detail"][0] == "close 100.00 unchanged: bar 2 of a run of 6 equal closes (2024-06-06 → 2024-06-13)"
    assert stale["detail"][4].startswith("close 100.00 unchanged: bar 6 of a run of 6")


def test_a_run_shorter_than_stale_run_is_not_flagged():
    bars = base()
    for i in range(3, 7):
        set_price(bars, "AAA", i, 100.0)  # four equal closes
    assert validate(bars).issues.empty
    report = validate(bars, stale_run=4)
    assert len(issues_of(report, "stale_price")) == 3


def test_outlier_jump_is_flagged_with_its_figures():
    bars = base()
    for i in range(5, 10):
        set_price(bars, "AAA", i, 170.0 * 1.01 ** (i - 5))  # +63.4% on the 6th bar, then calm
    report = validate(bars)
    assert report.ok
    jumps = issues_of(report, "outlier_jump")
    assert keys(jumps) == [("AAA", "2024-06-10")]
    assert jumps["action"][0] == "flagged"
    assert jumps["detail"][0] == "close 104.06 → 170.00 (+63.4%) on 2024-06-10, beyond the ±40% limit"
    assert report.n_flagged == 1


def test_reject_outliers_switch_rejects_the_jump():
    bars = base()
    for i in range(5, 10):
        set_price(bars, "AAA", i, 160.0 * 1.01 ** (i - 5))
    report = validate(bars, reject_outliers=True)
    assert not report.ok
    assert keys(report.rejected) == [("AAA", "2024-06-10")]
    assert report.rejected["rule"][0] == "outlier_jump"
    assert issues_of(report, "outlier_jump")["action"][0] == "rejected"
    assert report.n_accepted == 19  # the bars after the jump agree with it: stored
    assert list(report.issues["rule"]) == ["outlier_jump"]


def test_one_bar_spike_flags_the_spike_not_the_return():
    bars = base()
    set_price(bars, "AAA", 4, 300.0)
    report = validate(bars)
    assert keys(issues_of(report, "outlier_jump")) == [("AAA", "2024-06-07")]
    report = validate(bars, reject_outliers=True)
    assert keys(report.rejected) == [("AAA", "2024-06-07")]


@pytest.mark.parametrize(
    ("before", "after", "wording"),
    [
        (101.20, 50.55, "(−50.0%) on 2024-06-10, beyond the ±40% limit; likely an unadjusted 2:1 split"),
        (90.0, 30.3, "likely an unadjusted 3:1 split"),
        (100.0, 10.1, "likely an unadjusted 10:1 split"),
        (100.0, 66.0, None),  # -34%: not an outlier at all
        (100.0, 50.0 * 1.05, None),  # -47.5%: an outlier, 5% away from 1/2: no split wording
        (3.0, 30.0, "(+900.0%) on 2024-06-10, beyond the ±40% limit; likely an unadjusted 1:10 split (reverse)"),
        (10.0, 15.0, "likely an unadjusted 2:3 split (reverse)"),
    ],
)
def test_split_wording(before, after, wording):
    bars = make_bars("AAA", n=10)
    for i in range(5):
        set_price(bars, "AAA", i, before * 1.001 ** (i - 4))  # ends on `before` on 2024-06-07
    for i in range(5, 10):
        set_price(bars, "AAA", i, after * 1.001 ** (i - 5))  # starts on `after` on 2024-06-10
    jumps = issues_of(validate(bars, max_jump=0.4), "outlier_jump")
    moved = abs(after / before - 1) > 0.4
    assert len(jumps) == int(moved)
    if moved:
        detail = jumps["detail"][0]
        assert detail.startswith(f"close {before:.2f} → {after:.2f} (")
        if wording is None:
            assert "split" not in detail
        else:
            assert wording in detail


def test_adjusted_split_is_not_an_outlier_but_adj_close_jump_names_both_series():
    bars = make_bars("AAA", n=6)
    bars["adj_close"] = bars["close"] * 0.98  # adjusted for a later dividend
    bars.loc[3:, ["open", "high", "low", "close"]] /= 2  # a 2:1 split, adj_close adjusted for it
    assert validate(bars).issues.empty
    bars.loc[3:, "adj_close"] /= 2  # adj_close not adjusted for the split
    jumps = issues_of(validate(bars), "outlier_jump")
    assert keys(jumps) == [("AAA", "2024-06-06")]
    assert jumps["detail"][0] == (
        "adj_close 99.97 → 50.48 (−49.5%) on 2024-06-06, beyond the ±40% limit; close 102.01 → 51.52; "
        "likely an unadjusted 2:1 split"
    )


# --- interactions ---------------------------------------------------------------------------------------


def test_row_hit_by_several_rules_is_filed_under_the_first():
    bars = base()
    bars.loc[2, "close"] = np.nan
    bars.loc[2, "low"] = -1.0
    report = validate(bars)
    assert keys(report.rejected) == [("AAA", "2024-06-05")]
    row = report.rejected.iloc[0]
    assert row["rule"] == "missing_value"
    assert row["detail"] == "close is NaN; also non_positive_price: low -1.00 ≤ 0"
    found = issues_of(report, "missing_value"), issues_of(report, "non_positive_price")
    assert [len(f) for f in found] == [1, 1]
    assert report.counts()["non_positive_price"] == 1
    assert report.n_rejected == 1


def test_duplicate_that_is_also_broken_lists_both_rules():
    bars = base()
    bars = pd.concat([bars, bars.iloc[[3]].assign(close=200.0)], ignore_index=True)
    report = validate(bars)
    rejected = report.rejected.set_index("close")
    assert rejected.loc[200.0, "rule"] == "price_outside_range"
    assert "; also duplicate_date: 2 copies of this bar differ (close" in rejected.loc[200.0, "detail"]
    assert rejected.loc[bars.loc[3, "close"], "rule"] == "duplicate_date"


def test_rejected_bar_is_not_a_price_for_continuity_rules():
    bars = base()
    bars.loc[4, "close"] = -103.0  # rejected; the bars around it move 1% a day
    bars.loc[4, "adj_close"] = -103.0
    report = validate(bars)
    assert keys(report.rejected) == [("AAA", "2024-06-07")]
    assert issues_of(report, "outlier_jump").empty
    assert report.n_flagged == 0


def test_issues_are_sorted_by_symbol_date_and_rule_order():
    bars = base()
    bars.loc[12, "close"] = np.nan  # BBB 2024-06-05
    bars.loc[12, "low"] = -1.0
    bars = bars.drop(index=[2]).reset_index(drop=True)  # AAA gap on 2024-06-05
    bars.loc[0, "date"] = pd.Timestamp("2024-06-02")  # AAA on a Sunday, then a gap on 06-03
    report = validate(bars.sample(frac=1.0, random_state=7))
    assert report.issues[["symbol", "date", "rule"]].astype(str).to_numpy().tolist() == [
        ["AAA", "2024-06-02", "not_a_session"],
        ["AAA", "2024-06-03", "calendar_gap"],
        ["AAA", "2024-06-05", "calendar_gap"],
        ["BBB", "2024-06-05", "missing_value"],
        ["BBB", "2024-06-05", "non_positive_price"],
    ]


def test_reject_rules_follow_the_switch():
    assert "outlier_jump" not in DataValidator().reject_rules
    assert DataValidator(reject_outliers=True).reject_rules[-1] == "outlier_jump"


# --- previous: continuity across the boundary -----------------------------------------------------------


def split_at(bars: pd.DataFrame, n_old: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(previous, new): the first ``n_old`` bars of each symbol are already stored."""
    position = bars.groupby("symbol").cumcount()
    return bars[position < n_old].reset_index(drop=True), bars[position >= n_old].reset_index(drop=True)


def test_previous_rows_never_appear_in_the_output():
    previous, new = split_at(base(), 5)
    report = validate(new, previous=previous)
    assert report.ok and report.issues.empty
    assert report.n_rows == 10
    assert keys(report.accepted) == keys(new)


def test_previous_of_other_symbols_and_its_own_defects_are_ignored():
    previous, new = split_at(base(), 5)
    other = make_bars("CCC", n=5).drop(index=[2])  # a stored hole in a symbol not in this batch
    stale = previous[previous["symbol"] == "AAA"].assign(close=100.0, adj_close=100.0)  # a stale run, stored
    stale = pd.concat([stale, previous[previous["symbol"] == "BBB"]], ignore_index=True)
    report = validate(new, previous=pd.concat([stale, other], ignore_index=True))
    assert report.ok
    assert report.issues.empty  # 105.10 after five stored 100.00 closes: the stored run is not reported


def test_jump_across_the_boundary_is_caught():
    bars = base()
    for i in range(5, 10):
        set_price(bars, "AAA", i, 160.0 * 1.01 ** (i - 5))
    previous, new = split_at(bars, 5)
    report = validate(new, previous=previous)
    assert keys(issues_of(report, "outlier_jump")) == [("AAA", "2024-06-10")]
    report = validate(new, previous=previous, reject_outliers=True)
    assert keys(report.rejected) == [("AAA", "2024-06-10")]
    assert set(keys(report.accepted)).isdisjoint(keys(previous))


def test_duplicate_of_a_stored_date_is_rejected():
    previous, new = split_at(base(), 5)
    overlap = previous.iloc[[4]]  # AAA 2024-06-07, identical to the stored bar
    revised = previous.iloc[[9]].assign(close=previous["close"].iloc[9] * 1.001)  # BBB 2024-06-07, revised
    report = validate(pd.concat([overlap, revised, new], ignore_index=True), previous=previous)
    assert keys(report.rejected) == [("AAA", "2024-06-07"), ("BBB", "2024-06-07")]
    assert set(report.rejected["rule"]) == {"duplicate_date"}
    assert report.rejected["detail"][0] == "already stored with identical values"
    assert report.rejected["detail"][1] == "already stored with different values (stored close 52.03, new close 52.08)"
    assert report.n_rows == 12 and report.n_accepted == 10
    assert report.issues["date"].min() == pd.Timestamp("2024-06-07")


def test_stale_run_continues_from_previous():
    bars = base()
    for i in range(2, 8):
        set_price(bars, "AAA", i, 100.0)  # six equal closes, four of them stored
    previous, new = split_at(bars, 6)
    report = validate(new, previous=previous)
    stale = issues_of(report, "stale_price")
    assert keys(stale) == [("AAA", "2024-06-11"), ("AAA", "2024-06-12")]
    assert stale["detail"][0] == "close 100.00 unchanged: bar 5 of a run of 6 equal closes (2024-06-05 → 2024-06-12)"


def test_gap_across_the_boundary_is_caught_but_not_gaps_inside_previous():
    bars = base()
    previous, new = split_at(bars, 5)
    previous = previous.drop(index=[1])  # an old hole in the store: AAA 2024-06-04, not reported again
    new = new.drop(index=[0])  # AAA 2024-06-10 never arrived
    report = validate(new, previous=previous)
    gaps = issues_of(report, "calendar_gap")
    assert keys(gaps) == [("AAA", "2024-06-10")]
    assert gaps["detail"][0] == "1 XNYS session missing: 2024-06-10 (between bars on 2024-06-07 and 2024-06-11)"


# --- edge cases -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [base().iloc[0:0], pd.DataFrame()])
def test_empty_input(empty):
    report = validate(empty, previous=base())
    assert report.ok
    assert (report.n_rows, report.n_accepted, report.n_rejected, report.n_flagged) == (0, 0, 0, 0)
    assert list(report.accepted.columns) == list(BAR_COLUMNS)
    assert list(report.rejected.columns) == [*BAR_COLUMNS, "rule", "detail"]
    assert list(report.issues.columns) == list(ISSUE_COLUMNS)
    assert report.counts() == dict.fromkeys(RULES, 0)
    json.dumps(report.to_dict())


def test_all_rows_rejected():
    bars = base()
    bars["close"] = np.nan
    report = validate(bars)
    assert report.n_rejected == 20 and report.accepted.empty
    assert list(report.accepted.columns) == list(BAR_COLUMNS)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"exchange": "NOPE"},
        {"exchange": ""},
        {"exchange": 7},
        {"stale_run": 1},
        {"stale_run": 2.5},
        {"stale_run": True},
        {"max_jump": 0.0},
        {"max_jump": -0.1},
        {"max_jump": float("nan")},
        {"max_jump": "0.4"},
        {"reject_outliers": "false"},
        {"check_calendar": 1},
        {"tolerance": -1e-9},
        {"tolerance": 0.5},
        {"tolerance": float("inf")},
    ],
)
def test_bad_constructor_arguments_raise_config_error(kwargs):
    with pytest.raises(ConfigError) as caught:
        DataValidator(**kwargs)
    assert next(iter(kwargs)) in str(caught.value) or "exchange" in str(caught.value)


def test_constructor_is_keyword_only():
    with pytest.raises(TypeError):
        DataValidator("XNYS")  # type: ignore[misc]


@pytest.mark.parametrize(
    ("bars", "previous"),
    [
        ([1, 2, 3], None),
        (base().drop(columns=["symbol"]), None),
        (base(), base().drop(columns=["date"])),
    ],
)
def test_bad_frames_raise_config_error(bars, previous):
    with pytest.raises(ConfigError):
        DataValidator().validate(bars, previous=previous)


def test_rules_are_described():
    assert list(RULES) == [
        "missing_value",
        "non_positive_price",
        "high_below_low",
        "price_outside_range",
        "duplicate_date",
        "not_a_session",
        "calendar_gap",
        "stale_price",
        "outlier_jump",
    ]
    assert all(isinstance(text, str) and text for text in RULES.values())


# --- scale (speed is measured in bench/, never asserted) ---------------------------------------------------


def test_a_batch_of_500_symbols_over_10_years_is_validated_whole():
    days = sessions("2015-01-01", "2024-12-31")
    symbols = [f"S{i:03d}" for i in range(500)]
    rng = np.random.default_rng(0)
    close = (100 * np.exp(np.cumsum(rng.normal(0, 0.01, (500, len(days))), axis=1))).ravel()
    bars = pd.DataFrame(
        {
            "symbol": np.repeat(symbols, len(days)),
            "date": np.tile(days.to_numpy(), 500),
            "open": close,
            "high": close * 1.01,
            "low": close * 0.99,
            "close": close,
            "adj_close": close,
            "volume": 1e6,
        }
    )
    bars.loc[rng.choice(len(bars), 1000, replace=False), "close"] = np.nan
    report = DataValidator().validate(bars)
    assert report.n_rows == 1_258_000
    assert report.n_rejected == 1000
    assert set(report.rejected["rule"]) == {"missing_value"}
    assert report.n_accepted == 1_258_000 - 1000

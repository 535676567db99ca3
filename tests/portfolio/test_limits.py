"""Risk limits: every limit breached, warned and passed; groups aggregated; ordering; skipped inputs; errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ravenshire.config import RiskConfig
from ravenshire.errors import ConfigError
from ravenshire.portfolio.limits import LIMITS, Breach, RiskMonitor, RiskReport, group_weights
from ravenshire.portfolio.risk import compute_risk_metrics, value_at_risk

CONFIG = RiskConfig(
    max_leverage=1.5,
    var_limit=0.02,
    max_drawdown=0.15,
    max_position_weight=0.25,
    max_group_weight=0.4,
    var_method="historical",
    sectors={"AAA": "Tech", "BBB": "Tech", "CCC": "Energy"},
)


def _only(report: RiskReport, limit: str) -> list[Breach]:
    return [b for b in report if b.limit == limit]


# ------------------------------------------------------------------------------------------------ leverage


def test_leverage_breach_warning_and_pass() -> None:
    monitor = RiskMonitor(CONFIG)
    spread = ["A1", "A2", "A3", "A4", "A5", "A6", "A7", "A8"]  # ungrouped, small positions: only leverage matters
    over = monitor.check(weights=pd.Series(1.72 / 8, index=spread))
    (b,) = _only(over, "max_leverage")
    assert (b.severity, b.subject) == ("breach", "portfolio")
    assert b.value == pytest.approx(1.72)
    assert b.threshold == 1.5
    assert b.message == "Gross leverage 1.72× is above the 1.50× limit"
    assert not over.ok
    # shorts count gross: 0.7 − 0.7 nets to 0 but is 1.4 gross → 93 % of the limit: a warning
    near = monitor.check(weights=pd.Series([0.175, -0.175] * 4, index=spread))
    (b,) = _only(near, "max_leverage")
    assert b.severity == "warning"
    assert b.value == pytest.approx(1.4)
    assert "1.40×" in b.message and "93 %" in b.message and "1.50×" in b.message
    assert near.ok  # a warning is not a breach
    assert _only(monitor.check(weights=pd.Series(0.1, index=spread)), "max_leverage") == []


# ------------------------------------------------------------------------------------------------ positions and groups


def test_position_weights() -> None:
    monitor = RiskMonitor(RiskConfig(max_position_weight=0.25, max_group_weight=10.0))
    w = pd.Series({"AAA": 0.30, "BBB": -0.30, "CCC": 0.23, "DDD": 0.20})
    report = monitor.check(weights=w)
    found = {b.subject: b for b in _only(report, "max_position_weight")}
    assert set(found) == {"AAA", "BBB", "CCC"}
    assert found["AAA"].severity == "breach"
    assert found["AAA"].message == "Position AAA weight 30.00 % is above the 25.00 % limit"
    assert found["BBB"].severity == "breach"
    assert found["BBB"].value == pytest.approx(0.30)
    assert "-30.00 %" in found["BBB"].message and "|w| 30.00 %" in found["BBB"].message
    assert found["CCC"].severity == "warning"  # 0.23 ≥ 0.9 · 0.25 = 0.225
    assert "23.00 %" in found["CCC"].message and "92 %" in found["CCC"].message
    assert "25.00 %" in found["CCC"].message


def test_group_weights_aggregate_by_sector_gross() -> None:
    monitor = RiskMonitor(CONFIG)
    # Tech = |0.2| + |−0.25| = 0.45 > 0.4; Energy = 0.1; DDD has no sector: its own group at 0.24 (no breach)
    w = pd.Series({"AAA": 0.2, "BBB": -0.25, "CCC": 0.1, "DDD": 0.24})
    groups = _only(monitor.check(weights=w), "max_group_weight")
    assert [(b.subject, b.severity) for b in groups] == [("Tech", "breach")]
    (b,) = groups
    assert b.value == pytest.approx(0.45)
    assert b.message == "Sector Tech gross weight 45.00 % (AAA, BBB) is above the 40.00 % limit"
    pd.testing.assert_series_equal(
        group_weights(w, CONFIG.sectors),
        pd.Series([0.45, 0.1, 0.24], index=pd.Index(["Tech", "Energy", "DDD"], name="group"), name="gross_weight"),
    )


def test_ungrouped_symbol_is_its_own_group() -> None:
    monitor = RiskMonitor(RiskConfig(max_position_weight=1.0, max_group_weight=0.4))
    report = monitor.check(weights=pd.Series({"ZZZ": 0.5, "YYY": 0.1}))
    (b,) = _only(report, "max_group_weight")
    assert (b.subject, b.severity) == ("ZZZ", "breach")
    assert "(ZZZ)" in b.message


def test_clusters_instead_of_sectors() -> None:
    clusters = {"AAA": "c1", "DDD": "c1", "BBB": "c2"}
    monitor = RiskMonitor(CONFIG, clusters, group_kind="cluster")
    report = monitor.check(weights=pd.Series({"AAA": 0.2, "BBB": 0.2, "DDD": 0.21}))
    (b,) = _only(report, "max_group_weight")
    assert b.subject == "c1"
    assert b.message.startswith("Cluster c1 gross weight 41.00 % (AAA, DDD)")
    # the configured sectors are not used once groups are given; the default word is "group"
    assert RiskMonitor(CONFIG, clusters).group_kind == "group"
    assert RiskMonitor(CONFIG).groups == dict(CONFIG.sectors)


# ------------------------------------------------------------------------------------------------ VaR


def _returns(scale: float) -> pd.Series:
    rng = np.random.default_rng(4)
    return pd.Series(rng.normal(0.0, scale, 500), index=pd.bdate_range("2023-01-02", periods=500))


def test_var_limit_by_the_configured_method() -> None:
    for method in ("historical", "parametric", "cornish_fisher"):
        monitor = RiskMonitor(RiskConfig(var_limit=0.02, var_method=method))
        wild = _returns(0.02)  # VaR ≈ 1.645 · 2 % ≈ 3.3 % > 2 %
        (b,) = _only(monitor.check(returns=wild), "var_limit")
        assert b.severity == "breach"
        assert b.value == value_at_risk(wild, 0.95, method)
        assert f"{100 * b.value:.2f} %" in b.message and "2.00 % limit" in b.message
        assert method.replace("_", "-") in b.message
        calm = _returns(0.005)  # VaR ≈ 0.8 %
        assert _only(monitor.check(returns=calm), "var_limit") == []


def test_var_warning_at_ninety_percent() -> None:
    r = _returns(0.01)
    var = value_at_risk(r, 0.95)
    monitor = RiskMonitor(RiskConfig(var_limit=var / 0.95))  # VaR at 95 % of the limit
    (b,) = _only(monitor.check(returns=r), "var_limit")
    assert b.severity == "warning"
    assert "95 %" in b.message
    assert _only(RiskMonitor(RiskConfig(var_limit=var / 0.85)).check(returns=r), "var_limit") == []


def test_var_from_risk_metrics_must_use_the_configured_method() -> None:
    r = _returns(0.02)
    monitor = RiskMonitor(RiskConfig(var_limit=0.02, var_method="parametric"))
    ok = compute_risk_metrics(r, var_method="parametric")
    (b,) = _only(monitor.check(risk=ok), "var_limit")
    assert b.value == ok.var_95
    with pytest.raises(ConfigError, match=r"var_method='historical'.*'parametric'"):
        monitor.check(risk=compute_risk_metrics(r, var_method="historical"))


# ------------------------------------------------------------------------------------------------ drawdown


def test_current_drawdown_not_the_worst_past_one() -> None:
    monitor = RiskMonitor(CONFIG)
    # now 1/6 = 16.67 % below the peak of 120 → breach
    (b,) = _only(monitor.check(equity_curve=pd.Series([100.0, 120.0, 100.0])), "max_drawdown")
    assert b.severity == "breach"
    assert b.value == pytest.approx(1 / 6)
    assert b.message == "Current drawdown 16.67 % from the peak is above the 15.00 % limit"
    # a 25 % drawdown in the past, recovered to a new peak: nothing to report
    assert _only(monitor.check(equity_curve=pd.Series([100.0, 120.0, 90.0, 121.0])), "max_drawdown") == []
    # 14 % below the peak: a warning (≥ 13.5 %)
    (b,) = _only(monitor.check(equity_curve=pd.Series([100.0, 86.0])), "max_drawdown")
    assert b.severity == "warning"


def test_drawdown_from_returns_or_risk() -> None:
    monitor = RiskMonitor(CONFIG)
    # W = 1.1, 0.88 → 1 − 0.88 / 1.1 = 0.2
    (b,) = _only(monitor.check(returns=pd.Series([0.1, -0.2])), "max_drawdown")
    assert b.value == pytest.approx(0.2)
    risk = compute_risk_metrics(pd.Series([0.1, -0.2]))
    (b,) = _only(monitor.check(risk=risk), "max_drawdown")
    assert b.value == pytest.approx(0.2)
    # the equity curve wins over returns and risk
    assert _only(monitor.check(risk=risk, equity_curve=pd.Series([1.0, 1.1])), "max_drawdown") == []


# ------------------------------------------------------------------------------------------------ report


def test_report_orders_most_severe_first_deterministically() -> None:
    monitor = RiskMonitor(CONFIG)
    w = pd.Series({"AAA": 0.3, "BBB": 0.35, "CCC": 0.23, "DDD": 0.5, "EEE": 0.05})
    report = monitor.check(weights=w, equity_curve=pd.Series([100.0, 87.0]))
    keys = [(b.severity, b.limit, b.subject) for b in report]
    severities = [k[0] for k in keys]
    assert severities == sorted(severities, key=("breach", "warning").index)
    breaches = [b for b in report if b.severity == "breach"]
    assert [b.utilisation for b in breaches] == sorted((b.utilisation for b in breaches), reverse=True)
    # Tech 0.65 / 0.4 = 1.625 and DDD as its own group 0.5 / 0.4 = 1.25; DDD position 0.5 / 0.25 = 2.0 first
    assert keys[0] == ("breach", "max_position_weight", "DDD")
    # the same weights in another order: the same report
    shuffled = monitor.check(weights=w.iloc[::-1], equity_curve=pd.Series([100.0, 87.0]))
    assert [(b.severity, b.limit, b.subject, b.value) for b in shuffled] == [
        (b.severity, b.limit, b.subject, b.value) for b in report
    ]
    assert report.warnings and all(b.severity == "warning" for b in report.warnings)
    assert len(report) == len(report.messages) == len(report.breaches)


def test_skipped_limits_are_listed_not_passed() -> None:
    monitor = RiskMonitor(CONFIG)
    empty = monitor.check()
    assert empty.ok and not empty.complete
    assert empty.checked == ()
    assert set(empty.skipped) == set(LIMITS)
    only_weights = monitor.check(weights=pd.Series({"AAA": 0.1}))
    assert set(only_weights.skipped) == {"var_limit", "max_drawdown"}
    assert only_weights.checked == ("max_leverage", "max_position_weight", "max_group_weight")
    full = monitor.check(weights=pd.Series({"AAA": 0.1}), returns=_returns(0.001))
    assert full.complete and full.ok and len(full) == 0


def test_risk_metrics_alone_fill_leverage_var_and_drawdown() -> None:
    idx = pd.bdate_range("2024-01-02", periods=4)
    assets = pd.DataFrame({"AAA": [0.05, -0.06, 0.04, -0.2], "BBB": [0.03, -0.04, 0.05, -0.2]}, index=idx)
    risk = compute_risk_metrics(assets, weights=pd.Series({"AAA": 1.0, "BBB": 0.8}))
    report = RiskMonitor(CONFIG).check(risk=risk)
    assert report.checked == ("max_leverage", "var_limit", "max_drawdown")
    assert {b.limit for b in report} == {"max_leverage", "var_limit", "max_drawdown"}
    (lev,) = _only(report, "max_leverage")
    assert lev.value == pytest.approx(1.8)


def test_zero_limit_and_tolerance() -> None:
    monitor = RiskMonitor(RiskConfig(max_leverage=0.0, max_position_weight=0.25, max_group_weight=1.0))
    assert monitor.check(weights=pd.Series({"AAA": 0.0})).ok  # nothing held against a zero limit: no finding
    report = monitor.check(weights=pd.Series({"AAA": 0.1}))
    (b,) = _only(report, "max_leverage")
    assert b.severity == "breach" and math.isinf(b.utilisation)
    assert b.to_dict()["utilisation"] is None
    # a weight capped exactly at the limit, off by rounding: a warning at 100 %, not a breach
    (b,) = _only(monitor.check(weights=pd.Series({"AAA": 0.25 + 1e-15})), "max_position_weight")
    assert b.severity == "warning"
    (b,) = _only(monitor.check(weights=pd.Series({"AAA": 0.25 + 1e-6})), "max_position_weight")
    assert b.severity == "breach"


def test_to_dict_is_json_safe() -> None:
    report = RiskMonitor(CONFIG).check(weights=pd.Series({"AAA": 0.3, "BBB": 0.2}))
    d = report.to_dict()
    json.dumps(d, allow_nan=False)
    assert d["ok"] is False and d["complete"] is False
    assert d["breaches"][0]["limit"] in LIMITS
    assert set(d["breaches"][0]) == {"limit", "value", "threshold", "subject", "severity", "message", "utilisation"}


def test_errors() -> None:
    with pytest.raises(ConfigError, match="warning_level"):
        RiskMonitor(CONFIG, warning_level=0.0)
    with pytest.raises(ConfigError, match="warning_level"):
        RiskMonitor(CONFIG, warning_level=1.2)
    with pytest.raises(ConfigError, match="tolerance"):
        RiskMonitor(CONFIG, tolerance=-1.0)
    monitor = RiskMonitor(CONFIG)
    with pytest.raises(ConfigError, match="RiskMetrics"):
        monitor.check(risk={"var_95": 0.01})  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="not finite"):
        monitor.check(weights=pd.Series({"AAA": np.nan}))
    with pytest.raises(ConfigError, match="0 observation"):
        monitor.check(returns=pd.Series([np.nan]), weights=pd.Series({"AAA": 0.1}))
    with pytest.raises(ConfigError, match="never negative"):
        monitor.check(equity_curve=pd.Series([100.0, -1.0]))


def test_default_config_and_warning_level_one() -> None:
    monitor = RiskMonitor()
    assert monitor.config == RiskConfig()
    strict = RiskMonitor(CONFIG, warning_level=1.0)
    assert _only(strict.check(weights=pd.Series({"AAA": 0.24})), "max_position_weight") == []
    assert _only(monitor.check(weights=pd.Series({"AAA": 0.24})), "max_position_weight")[0].severity == "warning"


# ------------------------------------------------------------------------------------------------ properties


@settings(max_examples=80, deadline=None)
@given(
    weights=st.lists(st.floats(min_value=-1.0, max_value=1.0, allow_nan=False), min_size=1, max_size=8),
    limit=st.floats(min_value=0.01, max_value=1.0),
)
def test_a_position_is_reported_exactly_when_near_or_above_its_limit(weights: list[float], limit: float) -> None:
    w = pd.Series(weights, index=[f"S{i}" for i in range(len(weights))])
    monitor = RiskMonitor(RiskConfig(max_position_weight=limit, max_leverage=10.0, max_group_weight=10.0))
    report = monitor.check(weights=w)
    found = {b.subject: b.severity for b in _only(report, "max_position_weight")}
    for symbol, weight in w.items():
        size = abs(weight)
        if size > limit + 1e-9:
            assert found[symbol] == "breach"
        elif size >= 0.9 * limit:
            assert found[symbol] == "warning"
        else:
            assert symbol not in found
    assert report.ok == all(abs(x) <= limit + 1e-9 for x in weights)

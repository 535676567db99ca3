"""Each agent on crafted inputs: the Oracle's reading, the Analyst's signals, the Strategist cutting exposure in a
crisis, the Sentinel's vetoes with their reasons, the Sovereign holding under low confidence."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ravenshire.agents import AnalystAgent, Decision, OracleAgent, SentinelAgent, SovereignAgent, StrategistAgent
from ravenshire.errors import ConfigError


def prices(n_days: int = 400, n_assets: int = 6, seed: int = 3, drift: float = 0.0008) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.bdate_range("2022-01-03", periods=n_days)
    returns = rng.normal(drift, 0.01, (n_days, n_assets)) + rng.normal(0, 0.005, (n_days, 1))
    frame = pd.DataFrame(100 * np.exp(np.cumsum(returns, axis=0)), index=index,
                         columns=[f"S{i}" for i in range(n_assets)])  # fmt: skip
    frame["VIX"] = 15.0
    return frame


def test_the_seed_call_and_the_oracle_reading() -> None:
    decision = OracleAgent(config={"vix_threshold": 20}).process({"regime": "crisis", "vix": 35.0})
    assert isinstance(decision, Decision) and decision.recommendation == "risk_off"
    assert decision.payload["vix_above_threshold"] is True and decision.confidence == 1.0
    calm = OracleAgent(config={"vix_threshold": 20}).process(
        {"prices": prices(), "regime": {"regime": "bull", "probabilities": {"bull": 0.9, "bear": 0.1}}}
    )
    assert calm.recommendation == "risk_on" and calm.payload["trend"] == "up"
    assert calm.confidence == pytest.approx(0.9)  # regime probability × all three readings agree
    mixed = OracleAgent({"vix_threshold": 20}).process({"regime": "bull", "vix": 25.0})
    assert mixed.recommendation == "neutral" and mixed.confidence == pytest.approx(0.0)
    inverted = OracleAgent().process({"regime": "sideways", "vix": 30.0, "yield_curve": -0.4})
    assert inverted.recommendation == "risk_off" and "inverted" in " ".join(inverted.reasoning)
    with pytest.raises(ConfigError, match="unknown setting"):
        OracleAgent({"vix_treshold": 20})
    with pytest.raises(ConfigError, match="regime must be one of"):
        OracleAgent().process({"regime": "euphoria"})


def test_the_analyst_signals_with_confidences() -> None:
    p = prices(drift=0.0015)
    decision = AnalystAgent({"min_confidence": 0.55}).process({"prices": p, "clusters": {}})
    signals = decision.payload["signals"]
    assert "VIX" not in signals and set(signals) == {f"S{i}" for i in range(6)}
    for sym in decision.payload["selected"]:
        assert signals[sym]["direction"] == 1 and signals[sym]["confidence"] >= 0.55
    strict = AnalystAgent({"min_confidence": 0.9999}).process({"prices": p, "clusters": {}})
    assert len(strict.payload["selected"]) < len(decision.payload["selected"])
    with pytest.raises(ConfigError, match="needs input"):
        AnalystAgent().process({})


def analyst_picks(symbols: list[str]) -> dict:
    return {
        "confidence": 0.8,
        "payload": {"selected": symbols, "signals": {s: {"direction": 1, "confidence": 0.8} for s in symbols}},
    }


def test_a_crisis_cuts_the_strategists_exposure() -> None:
    p = prices()
    picks = analyst_picks(["S0", "S1", "S2", "S3", "S4"])
    strategist = StrategistAgent({"optimizer": "risk_parity", "max_position_weight": 0.3})
    bull = strategist.process(
        {"prices": p, "analyst": picks, "oracle": {"confidence": 0.9, "payload": {"regime": "bull"}}}
    )
    crisis = strategist.process(
        {"prices": p, "analyst": picks, "oracle": {"confidence": 0.9, "payload": {"regime": "crisis"}}}
    )
    assert bull.payload["gross"] == pytest.approx(1.0, abs=1e-6)
    assert crisis.payload["gross"] == pytest.approx(0.25, abs=1e-6)  # [AGENTS] regime_exposure crisis:0.25
    assert max(bull.payload["target_weights"].values()) <= 0.3 + 1e-9
    planned = strategist.process(
        {
            "prices": p,
            "analyst": picks,
            "oracle": {"confidence": 0.9, "payload": {"regime": "bull"}},
            "positions": {},
            "cash": 100_000.0,
        }
    )
    assert planned.recommendation == "rebalance" and all(o["side"] == "BUY" for o in planned.payload["orders"])
    assert sum(o["value"] for o in planned.payload["orders"]) <= 100_000


def proposal(weights: dict[str, float]) -> dict:
    orders = [{"symbol": s, "side": "BUY", "quantity": 10, "price": 100.0, "value": 1000.0} for s in weights]
    return {"payload": {"target_weights": weights, "orders": orders}}


def test_the_sentinel_vetoes_an_over_levered_book_with_the_reason() -> None:
    p = prices()
    sentinel = SentinelAgent({"max_leverage": 1.5, "max_position_weight": 0.6, "var_limit": 0.5})
    decision = sentinel.process({"prices": p, "strategist": proposal({"S0": 0.6, "S1": 0.6, "S2": 0.5})})
    assert decision.recommendation == "veto" and decision.payload["approved_orders"] == []
    assert [v["reason"] for v in decision.payload["vetoes"] if v["scope"] == "book"] == ["max_leverage"]
    concentrated = SentinelAgent({"max_position_weight": 0.25, "var_limit": 0.5}).process(
        {"prices": p, "strategist": proposal({"S0": 0.4, "S1": 0.2})}
    )
    assert concentrated.recommendation == "partial"
    assert [(v["symbol"], v["reason"]) for v in concentrated.payload["vetoes"]] == [("S0", "concentration")]
    assert [o["symbol"] for o in concentrated.payload["approved_orders"]] == ["S1"]
    halted = SentinelAgent({"var_limit": 0.5}).process(
        {"prices": p, "strategist": proposal({"S1": 0.2}), "kill_switch": {"active": True, "message": "halted by bob"}}
    )
    assert halted.recommendation == "veto" and halted.payload["vetoes"][0]["reason"] == "kill_switch"
    var = SentinelAgent({"var_limit": 0.001}).process({"prices": p, "strategist": proposal({"S1": 0.2})})
    assert "var" in [v["reason"] for v in var.payload["vetoes"]]
    drawdown = SentinelAgent({"var_limit": 0.5}).process(
        {"prices": p, "strategist": proposal({"S1": 0.2}), "equity_curve": pd.Series([100.0, 120.0, 90.0])}
    )
    assert "drawdown" in [v["reason"] for v in drawdown.payload["vetoes"]]


def test_a_book_veto_still_lets_the_sells_through_and_a_new_book_has_no_drawdown() -> None:
    p = prices(drift=-0.004)  # the assets fell hard over the year: their back-test has a deep drawdown
    plan = proposal({"S0": 0.25, "S1": 0.25})
    plan["payload"]["orders"].append({"symbol": "S5", "side": "SELL", "quantity": 10, "price": 100.0, "value": 1000.0})
    fresh = SentinelAgent({"var_limit": 0.5}).process({"prices": p, "strategist": plan})  # no equity curve yet
    assert "drawdown" not in [v["reason"] for v in fresh.payload["vetoes"]]
    tight = SentinelAgent({"var_limit": 0.0001}).process({"prices": p, "strategist": plan})
    assert tight.recommendation == "veto" and [o["side"] for o in tight.payload["approved_orders"]] == ["SELL"]
    halted = SentinelAgent({"var_limit": 0.0001}).process(
        {"prices": p, "strategist": plan, "kill_switch": {"active": True, "message": "halted"}}
    )
    assert halted.payload["approved_orders"] == []  # under the kill switch nothing goes
    young = p.copy()
    young.loc[young.index[:-20], "S0"] = np.nan  # S0 has traded 20 days: its risk cannot be measured
    unchecked = SentinelAgent({"var_limit": 0.5}).process({"prices": young, "strategist": plan})
    assert "unchecked" in [v["reason"] for v in unchecked.payload["vetoes"]]


def test_the_sovereign_holds_under_low_confidence_and_never_overrides_a_veto() -> None:
    approve = {
        "payload": {
            "vetoes": [],
            "approved_orders": [
                {"symbol": "S0", "side": "BUY", "quantity": 5},
                {"symbol": "S1", "side": "SELL", "quantity": 3},
            ],
        }
    }
    strong = {"confidence": 0.9}
    weak = {"confidence": 0.2}
    sovereign = SovereignAgent({"decision_threshold": 0.5})
    go = sovereign.process({"oracle": strong, "analyst": strong, "strategist": strong, "sentinel": approve})
    assert go.recommendation == "execute" and len(go.payload["orders"]) == 2
    low = sovereign.process({"oracle": weak, "analyst": weak, "strategist": weak, "sentinel": approve})
    assert low.recommendation == "reduce_only" and [o["side"] for o in low.payload["orders"]] == ["SELL"]
    buys_only = {"payload": {"vetoes": [], "approved_orders": [{"symbol": "S0", "side": "BUY", "quantity": 5}]}}
    held = sovereign.process({"oracle": weak, "analyst": weak, "strategist": weak, "sentinel": buys_only})
    assert held.recommendation == "hold" and held.payload["orders"] == []
    book_veto = [{"scope": "book", "reason": "max_leverage", "detail": "1.8× > 1.5×"}]
    vetoed = {"payload": {"vetoes": book_veto, "approved_orders": []}}
    veto = sovereign.process({"oracle": strong, "analyst": strong, "strategist": strong, "sentinel": vetoed})
    assert veto.recommendation == "veto" and veto.payload["orders"] == []
    # Under a book veto the Sentinel still approves the sells; the Sovereign sends only those, never a buy.
    sells = {"payload": {"vetoes": book_veto, "approved_orders": approve["payload"]["approved_orders"]}}
    cut = sovereign.process({"oracle": strong, "analyst": strong, "strategist": strong, "sentinel": sells})
    assert cut.recommendation == "reduce_only" and [o["side"] for o in cut.payload["orders"]] == ["SELL"]


def test_the_strategist_plans_exactly_what_is_held_when_holdings_are_fractional() -> None:
    # Regression: held shares were rounded before planning, so 10.6 held was sold as 11 (an oversell), 0.4 held was
    # never closed, and a partial sell of 500.7 left a fractional position off its whole target.
    p = prices()
    last = p.iloc[-1]
    picks = analyst_picks(["S0", "S1", "S2", "S3"])
    held = {"S0": 10.4, "S1": 500.7, "S4": 0.4, "S5": 10.6}
    decision = StrategistAgent({"optimizer": "risk_parity", "max_position_weight": 0.3}).process(
        {
            "prices": p,
            "analyst": picks,
            "oracle": {"confidence": 0.9, "payload": {"regime": "bull"}},
            "positions": held,
            "cash": 50_000.0,
            "last_prices": last.to_dict(),
        }
    )
    orders = {o["symbol"]: o for o in decision.payload["orders"]}
    assert orders["S5"]["side"] == "SELL" and orders["S5"]["quantity"] == 10.6  # all of it, not 11
    assert orders["S4"]["side"] == "SELL" and orders["S4"]["quantity"] == 0.4  # the residue is closed too
    assert orders["S1"]["side"] == "SELL"  # 500.7 shares are far above the 30 % cap: cut to a whole target
    left = held["S1"] - orders["S1"]["quantity"]
    assert left > 0 and left == pytest.approx(round(left), abs=1e-9)
    for order in decision.payload["orders"]:
        if order["side"] == "SELL":
            assert order["quantity"] <= held[order["symbol"]] + 1e-12  # never more than is held
        else:
            assert isinstance(order["quantity"], int)  # buys stay in whole shares
        assert order["value"] == pytest.approx(order["quantity"] * last[order["symbol"]])
    assert [o["side"] for o in decision.payload["orders"]] == sorted(
        (o["side"] for o in decision.payload["orders"]), key=lambda side: side == "BUY"
    )  # sells first
    whole = StrategistAgent().process(
        {
            "prices": p,
            "analyst": analyst_picks(["S0"]),
            "oracle": {"confidence": 0.9, "payload": {"regime": "bull"}},
            "positions": {"S2": 12.0},
            "cash": 10_000.0,
        }
    )
    (close,) = [o for o in whole.payload["orders"] if o["symbol"] == "S2"]
    assert close["quantity"] == 12 and isinstance(close["quantity"], int)  # whole holdings: whole orders as before


def test_the_sovereign_counts_each_confidence_once() -> None:
    # Regression: the Strategist's confidence (the Oracle's times the Analyst's) was averaged in again.
    approve = {"payload": {"vetoes": [], "approved_orders": [{"symbol": "S0", "side": "BUY", "quantity": 5}]}}
    oracle, analyst = {"confidence": 0.6}, {"confidence": 0.8}
    sovereign = SovereignAgent({"decision_threshold": 0.5})
    product = sovereign.process(
        {"oracle": oracle, "analyst": analyst, "strategist": {"confidence": 0.48}, "sentinel": approve}
    )
    assert product.confidence == pytest.approx(0.7)  # (0.5 · 0.6 + 0.5 · 0.8) / (0.5 + 0.5)
    other = sovereign.process(
        {"oracle": oracle, "analyst": analyst, "strategist": {"confidence": 0.05}, "sentinel": approve}
    )
    assert other.confidence == product.confidence  # the Strategist's confidence is not a source of its own
    weighted = SovereignAgent({"weights": {"oracle": 3.0, "analyst": 1.0}}).process(
        {"oracle": oracle, "analyst": analyst, "strategist": {"confidence": 0.48}, "sentinel": approve}
    )
    assert weighted.confidence == pytest.approx(0.65)
    with pytest.raises(ConfigError, match="strategist is not a source of its own"):
        SovereignAgent({"weights": {"oracle": 0.4, "analyst": 0.4, "strategist": 0.2}})
    with pytest.raises(ConfigError, match="positive sum"):
        SovereignAgent({"weights": {"oracle": 0.0, "analyst": 0.0}})

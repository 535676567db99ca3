"""Rebalancing: orders from positions and targets, skipping rules, cash and expected cost."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio.rebalance import ProposedOrder, RebalancePlan, Rebalancer
from ravenshire.research import Costs


def _orders(plan: RebalancePlan) -> list[tuple[str, str, int]]:
    return [(o.side, o.symbol, o.quantity) for o in plan.orders]


def test_from_cash_buys_the_targets() -> None:
    plan = Rebalancer().plan(
        pd.Series(dtype=float), pd.Series({"A": 0.5, "B": 0.5}), pd.Series({"A": 100.0, "B": 50.0}), cash=10_000
    )
    assert _orders(plan) == [("BUY", "A", 50), ("BUY", "B", 100)]
    assert plan.equity == 10_000
    assert plan.cash_after == 0.0
    assert plan.expected_cost == 0.0
    assert plan.turnover == pytest.approx(1.0)
    assert plan.skipped == {}
    assert plan.post_shares.to_dict() == {"A": 50, "B": 100}
    assert plan.post_weights.to_dict() == {"A": 0.5, "B": 0.5}


def test_sells_come_before_buys() -> None:
    plan = Rebalancer().plan(
        pd.Series({"A": 100, "C": 10}),
        pd.Series({"B": 0.6, "C": 0.4}),
        pd.Series({"A": 100.0, "B": 40.0, "C": 100.0}),
        cash=0.0,
    )
    # equity 11 000; B 6 600 / 40 = 165; C 4 400 / 100 = 44
    assert _orders(plan) == [("SELL", "A", 100), ("BUY", "B", 165), ("BUY", "C", 34)]
    assert [o.side for o in plan.orders] == ["SELL", "BUY", "BUY"]
    assert plan.orders[0].reason.startswith("close +100 shares: not in the targets")
    assert plan.cash_after == pytest.approx(0.0)
    assert plan.post_shares.to_dict() == {"B": 165, "C": 44, "A": 0}


def test_expected_cost_and_turnover() -> None:
    costs = Costs(commission_bps=10, slippage_bps=5, fixed_per_trade=2.0)
    plan = Rebalancer(costs).plan(
        pd.Series({"A": 100, "B": 100}),
        pd.Series({"A": 0.2, "B": 0.8}),
        pd.Series({"A": 100.0, "B": 100.0}),
        cash=0.0,
    )
    traded = sum(o.value for o in plan.orders)
    assert plan.traded_value == traded
    assert plan.expected_cost == pytest.approx(15e-4 * traded + 2.0 * len(plan.orders), rel=1e-12)
    assert plan.turnover == pytest.approx(traded / 20_000, rel=1e-12)
    assert plan.cash_after >= 0.0
    # sell 60 A (6 000) then buy B: 60 would need 6 000 + costs, so the buy is trimmed to 59
    assert _orders(plan) == [("SELL", "A", 60), ("BUY", "B", 59)]
    assert "trimmed from 60 to 59 shares" in plan.orders[1].reason
    assert plan.cash_after == pytest.approx(6000 - 5900 - 15e-4 * 11_900 - 4.0)


def test_buy_with_all_the_cash_leaves_room_for_costs() -> None:
    plan = Rebalancer(Costs(commission_bps=5, slippage_bps=5, fixed_per_trade=1.0)).plan(
        pd.Series(dtype=float), pd.Series({"A": 1.0}), pd.Series({"A": 100.0}), cash=100_000
    )
    # 999 shares would cost 99 900 + 99.9 + 1 > 100 000; 998 fit
    assert _orders(plan) == [("BUY", "A", 998)]
    assert plan.cash_after == pytest.approx(100_000 - 99_800 - 99.8 - 1.0)
    assert plan.target_shares["A"] == 1000


def test_drift_band_skips_small_drifts_with_reason() -> None:
    rebalancer = Rebalancer(drift_band=0.05)
    current, prices = pd.Series({"A": 52, "B": 48}), pd.Series({"A": 100.0, "B": 100.0})
    plan = rebalancer.plan(current, pd.Series({"A": 0.5, "B": 0.5}), prices, cash=0.0)
    assert plan.orders == ()
    assert set(plan.skipped) == {"A", "B"}
    assert plan.skipped["A"] == "inside drift band: drift 2.00 % <= band 5.00 % (weight 52.00 %, target 50.00 %)"
    plan = rebalancer.plan(current, pd.Series({"A": 0.4, "B": 0.6}), prices, cash=0.0)
    assert _orders(plan) == [("SELL", "A", 12), ("BUY", "B", 12)]
    assert plan.orders[0].reason == "drift 12.00 % > band 5.00 %: weight 52.00 % → 40.00 %"
    assert plan.skipped == {}


def test_drift_band_is_absolute() -> None:
    # a 1 % position with a 4 % target: 300 % off in relative terms, 3 points in absolute terms → inside a 5 % band
    plan = Rebalancer(drift_band=0.05).plan(
        pd.Series({"A": 1}), pd.Series({"A": 0.04}), pd.Series({"A": 100.0}), cash=9_900
    )
    assert plan.orders == ()
    assert "inside drift band: drift 3.00 %" in plan.skipped["A"]


def test_min_trade_value_skips_with_reason() -> None:
    plan = Rebalancer(min_trade_value=100).plan(
        pd.Series({"A": 49, "B": 40}),
        pd.Series({"A": 0.5, "B": 0.5}),
        pd.Series({"A": 100.0, "B": 100.0}),
        cash=1_100,
    )
    # equity 10 000: A 49 → 50 (100, traded), B 40 → 50 (1 000, traded); with min 150 only B trades
    assert _orders(plan) == [("BUY", "B", 10), ("BUY", "A", 1)]
    plan = Rebalancer(min_trade_value=150).plan(
        pd.Series({"A": 49, "B": 40}),
        pd.Series({"A": 0.5, "B": 0.5}),
        pd.Series({"A": 100.0, "B": 100.0}),
        cash=1_100,
    )
    assert _orders(plan) == [("BUY", "B", 10)]
    assert plan.skipped == {"A": "trade value 100.00 < minimum 150.00 (+1 shares)"}
    assert plan.post_shares["A"] == 49


def test_closing_is_exempt_from_band_and_minimum_unless_disabled() -> None:
    args = (pd.Series({"A": 99, "X": 1}), pd.Series({"A": 1.0}), pd.Series({"A": 100.0, "X": 10.0}))
    plan = Rebalancer(drift_band=0.05, min_trade_value=100).plan(*args, cash=0.0)
    assert _orders(plan) == [("SELL", "X", 1)]  # A is at its target (9 910 / 100 → 99 shares)
    assert "not in the targets" in plan.orders[0].reason
    plan = Rebalancer(drift_band=0.05, min_trade_value=100, always_close=False).plan(*args, cash=0.0)
    assert plan.orders == ()
    assert "inside drift band" in plan.skipped["X"]
    explicit_zero = Rebalancer(min_trade_value=100).plan(
        pd.Series({"A": 99, "X": 1}), pd.Series({"A": 1.0, "X": 0.0}), pd.Series({"A": 100.0, "X": 10.0}), cash=0.0
    )
    assert "close +1 shares: target weight 0" in explicit_zero.orders[0].reason


def test_never_shorts_unless_the_target_is_negative() -> None:
    prices = pd.Series({"A": 100.0, "B": 100.0})
    plan = Rebalancer().plan(pd.Series({"A": 100}), pd.Series({"A": 0.0, "B": 1.0}), prices, cash=0.0)
    assert _orders(plan) == [("SELL", "A", 100), ("BUY", "B", 100)]
    assert plan.post_shares["A"] == 0
    plan = Rebalancer().plan(pd.Series({"A": 100}), pd.Series({"A": -0.5, "B": 1.0}), prices, cash=0.0)
    # equity 10 000: A → −50 (one SELL of 150), B → 100 funded by the sale and the short proceeds
    assert _orders(plan) == [("SELL", "A", 150), ("BUY", "B", 100)]
    assert plan.orders[0].target_shares == -50


def test_skipped_sells_trim_the_buys_to_the_cash() -> None:
    # A and C are over their targets but inside the band, so they are kept: the 1 000 they would have raised is
    # missing for B. Cash 2 000 buys 200 of the 300 B asked for.
    args = (pd.Series({"A": 40, "C": 40}), pd.Series({"A": 0.35, "C": 0.35, "B": 0.3}))
    prices = pd.Series({"A": 100.0, "B": 10.0, "C": 100.0})
    plan = Rebalancer(drift_band=0.06).plan(*args, prices, cash=2_000)
    assert "inside drift band" in plan.skipped["A"]
    assert "inside drift band" in plan.skipped["C"]
    assert _orders(plan) == [("BUY", "B", 200)]
    assert plan.orders[0].reason.endswith("; trimmed from 300 to 200 shares to fit the cash")
    assert plan.cash_after == pytest.approx(0.0, abs=1e-9)
    # in lots of 300, not even one lot of B fits: the buy is dropped and said so
    plan = Rebalancer(drift_band=0.06, lot_size={"B": 300}).plan(*args, prices, cash=2_000)
    assert plan.orders == ()
    assert plan.skipped["B"] == "not enough cash: buy of 300 shares dropped (cash after sells and costs)"
    assert plan.cash_after == 2_000


def test_borrowed_cash_is_repaid_not_increased() -> None:
    # cash −1 000 (borrowed), A worth 11 000: equity 10 000; the target 100 % A sells 10 to repay
    plan = Rebalancer(Costs(fixed_per_trade=1.0)).plan(
        pd.Series({"A": 110}), pd.Series({"A": 1.0}), pd.Series({"A": 100.0}), cash=-1_000
    )
    assert _orders(plan) == [("SELL", "A", 10)]
    assert plan.cash_after == pytest.approx(-1.0)


def test_sell_whose_cost_exceeds_its_value_is_dropped_when_cash_is_short() -> None:
    plan = Rebalancer(Costs(fixed_per_trade=5.0)).plan(
        pd.Series({"A": 1}), pd.Series({"A": 0.0}), pd.Series({"A": 1.0}), cash=0.0
    )
    assert plan.orders == ()
    assert plan.skipped["A"] == "not enough cash: sell of 1 shares dropped (cash after sells and costs)"


def test_lot_size_in_targets() -> None:
    plan = Rebalancer(lot_size={"A": 100}).plan(
        pd.Series(dtype=float), pd.Series({"A": 0.5, "B": 0.5}), pd.Series({"A": 7.0, "B": 7.0}), cash=10_000
    )
    assert plan.target_shares["A"] == 700
    assert all(o.quantity % 100 == 0 for o in plan.orders if o.symbol == "A")


def test_target_smaller_than_a_lot_is_reported() -> None:
    plan = Rebalancer(lot_size={"B": 100}).plan(
        pd.Series(dtype=float), pd.Series({"A": 0.9, "B": 0.1}), pd.Series({"A": 10.0, "B": 50.0}), cash=10_000
    )
    # B: 1 000 / (100 × 50) = 0.2 lot → 0 shares
    assert _orders(plan) == [("BUY", "A", 900)]
    assert plan.skipped == {"B": "target weight 10.00 % rounds to 0 shares (lots, price and cash)"}


def test_targets_asking_for_borrowing_are_scaled_to_the_equity() -> None:
    plan = Rebalancer().plan(
        pd.Series(dtype=float), pd.Series({"A": 1.0, "B": 1.0}), pd.Series({"A": 100.0, "B": 50.0}), cash=10_000
    )
    assert plan.long_scale == pytest.approx(0.5)
    assert _orders(plan) == [("BUY", "A", 50), ("BUY", "B", 100)]
    assert plan.cash_after == 0.0


def test_nothing_to_do() -> None:
    plan = Rebalancer().plan(pd.Series({"A": 50}), pd.Series({"A": 0.5}), pd.Series({"A": 100.0}), cash=5_000)
    assert plan.orders == ()
    assert plan.skipped == {}
    empty = Rebalancer().plan(pd.Series(dtype=float), pd.Series(dtype=float), pd.Series(dtype=float), cash=100.0)
    assert empty.orders == ()
    assert empty.cash_after == 100.0
    liquidate = Rebalancer().plan(pd.Series({"A": 5}), pd.Series(dtype=float), pd.Series({"A": 10.0}), cash=0.0)
    assert _orders(liquidate) == [("SELL", "A", 5)]


def test_plan_to_dict_is_json() -> None:
    plan = Rebalancer(Costs(commission_bps=1), drift_band=0.01).plan(
        {"A": 10, "X": 3}, {"A": 0.3, "B": 0.7}, {"A": 100.0, "B": 20.0, "X": 5.0}, cash=1_000
    )
    d = json.loads(json.dumps(plan.to_dict()))
    assert [o["side"] for o in d["orders"]] == [o.side for o in plan.orders]
    assert d["post_shares"] == {k: int(v) for k, v in plan.post_shares.items()}
    assert set(d) >= {"orders", "skipped", "expected_cost", "turnover", "pre_weights", "post_weights"}


@pytest.mark.parametrize(
    ("current", "targets", "prices", "cash", "match"),
    [
        ({"A": 1.5}, {"A": 0.5}, {"A": 10.0}, 0.0, "current_shares of A are not whole numbers"),
        ({"A": math.nan}, {"A": 0.5}, {"A": 10.0}, 0.0, "current_shares of A are NaN"),
        ({"A": 1}, {"A": math.nan}, {"A": 10.0}, 0.0, "target_weights of A are NaN"),
        ({"A": 1, "X": 5}, {"A": 0.5}, {"A": 10.0}, 0.0, r"no usable price for X \(missing\): a symbol with a pos"),
        ({"A": 1}, {"A": 0.5}, {"A": 0.0}, 0.0, r"no usable price for A \(0.0\)"),
        ({"A": 1}, {"A": 0.5}, {"A": 10.0}, math.nan, "cash must be a finite number"),
    ],
)
def test_plan_bad_inputs(current: dict, targets: dict, prices: dict, cash: float, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Rebalancer().plan(pd.Series(current), pd.Series(targets), pd.Series(prices), cash=cash)


def test_plan_without_equity_is_infeasible() -> None:
    with pytest.raises(InfeasibleError, match="nothing to allocate"):
        Rebalancer().plan(pd.Series({"A": 1}), pd.Series({"A": 1.0}), pd.Series({"A": 10.0}), cash=-10.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"drift_band": -0.01}, "drift_band must be >= 0"),
        ({"min_trade_value": math.inf}, "min_trade_value must be a finite"),
        ({"lot_size": 0}, "lot size of every symbol"),
        ({"lot_size": {"A": 2.5}}, "lot size of A"),
        ({"costs": {"commission_bps": 1}}, "costs must be a ravenshire.research.Costs"),
    ],
)
def test_rebalancer_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        Rebalancer(**kwargs)


def test_proposed_order_is_validated() -> None:
    order = ProposedOrder(
        symbol="A", side="SELL", quantity=5, price=10.0, value=50.0, reason="r", current_shares=5, target_shares=0
    )
    assert order.signed_quantity == -5
    assert order.to_dict()["side"] == "SELL"
    base = {"symbol": "A", "price": 10.0, "value": 50.0, "reason": "r", "current_shares": 0, "target_shares": 5}
    with pytest.raises(ConfigError, match="side of A must be BUY or SELL"):
        ProposedOrder(side="HOLD", quantity=5, **base)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="quantity of A must be a whole number"):
        ProposedOrder(side="BUY", quantity=0, **base)
    with pytest.raises(ConfigError, match="does not take 0 shares to 5"):
        ProposedOrder(side="SELL", quantity=5, **base)


# ------------------------------------------------------------------------------------------------ properties


@st.composite
def _case(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 6))
    symbols = [f"S{i}" for i in range(n)]
    prices = pd.Series(draw(st.lists(st.floats(1.0, 1000.0), min_size=n, max_size=n)), index=symbols)
    current = pd.Series(draw(st.lists(st.integers(-200, 2000), min_size=n, max_size=n)), index=symbols)
    current[draw(st.lists(st.booleans(), min_size=n, max_size=n))] = 0
    in_targets = draw(st.lists(st.booleans(), min_size=n, max_size=n))
    raw = draw(st.lists(st.floats(-0.3, 1.0), min_size=n, max_size=n))
    targets = pd.Series(raw, index=symbols)[in_targets]
    gross = float(targets.abs().sum())
    scale = draw(st.floats(0.1, 1.5))
    if gross > 0:
        targets = targets / gross * scale
    lots = dict(zip(symbols, draw(st.lists(st.sampled_from([1, 1, 10, 100]), min_size=n, max_size=n)), strict=True))
    held_value = float((current * prices).sum())
    cash = draw(st.floats(-0.5, 3.0)) * max(abs(held_value), 1_000.0)
    assume(cash + held_value > 1.0)
    costs = Costs(
        commission_bps=draw(st.sampled_from([0.0, 1.0, 10.0])),
        slippage_bps=draw(st.sampled_from([0.0, 5.0, 50.0])),
        fixed_per_trade=draw(st.sampled_from([0.0, 1.0, 25.0])),
    )
    rebalancer = Rebalancer(
        costs,
        min_trade_value=draw(st.sampled_from([0.0, 50.0, 2_000.0])),
        drift_band=draw(st.sampled_from([0.0, 0.02, 0.1])),
        lot_size=lots,
        always_close=draw(st.booleans()),
    )
    return {"rebalancer": rebalancer, "current": current, "targets": targets, "prices": prices, "cash": cash}


@settings(max_examples=200, deadline=None)
@given(case=_case())
def test_plan_constraints_hold(case: dict) -> None:
    rb: Rebalancer = case["rebalancer"]
    current, targets, prices, cash = case["current"], case["targets"], case["prices"], case["cash"]
    plan = rb.plan(current, targets, prices, cash=cash)
    floor = min(cash, 0.0)
    tol = 1e-9 * (abs(cash) + plan.equity + 1.0)
    by_symbol = {o.symbol: o for o in plan.orders}
    assert len(by_symbol) == len(plan.orders)  # one order per symbol

    # orders: positive whole quantities, value = quantity · price, sells strictly before buys
    sides = [o.side for o in plan.orders]
    assert sides == sorted(sides, key=lambda s: s == "BUY")
    for o in plan.orders:
        assert isinstance(o.quantity, int) and o.quantity > 0
        assert o.price == prices[o.symbol]
        assert o.value == pytest.approx(o.quantity * o.price, rel=1e-12)
        assert o.current_shares == current.get(o.symbol, 0)

    # cash walked order by order never goes below min(cash, 0), and ends where the plan says
    walk = cash
    for o in plan.orders:
        walk += -o.signed_quantity * o.price - (rb.costs.proportional * o.value + rb.costs.fixed_per_trade)
        assert walk >= floor - tol
    assert plan.cash_after == pytest.approx(walk, abs=tol)
    assert plan.cash_after >= floor

    # cost and turnover formulas
    traded = sum(o.value for o in plan.orders)
    assert plan.expected_cost == pytest.approx(
        rb.costs.proportional * traded + rb.costs.fixed_per_trade * len(plan.orders), rel=1e-12, abs=1e-12
    )
    assert plan.turnover == pytest.approx(traded / plan.equity, rel=1e-12, abs=1e-15)
    assert plan.equity == pytest.approx(cash + float((current * prices).sum()), rel=1e-12)

    for sym in plan.post_shares.index:
        cur, post, tgt = int(plan.current_shares[sym]), int(plan.post_shares[sym]), int(plan.target_shares[sym])
        w = float(targets.get(sym, 0.0))
        order = by_symbol.get(sym)
        # post = current + the order
        assert post == cur + (order.signed_quantity if order else 0)
        if order is not None:
            assert sym not in plan.skipped
            assert order.target_shares == post
            # an order reaches the target shares unless it is a buy trimmed for cash (which says so)
            if "trimmed" in order.reason:
                assert order.side == "BUY" and cur < post < tgt
            else:
                assert post == tgt
            # no short is opened unless the target is negative
            if order.side == "SELL" and post < 0:
                assert w < 0
            # small trades only to close a position
            if order.value < rb.min_trade_value:
                assert rb.always_close and post == 0 and w == 0
        elif tgt != cur:
            assert sym in plan.skipped  # every difference left alone is explained
        if sym in plan.skipped and plan.skipped[sym].startswith("inside drift band"):
            assert abs(plan.pre_weights[sym] - w) <= rb.drift_band
    # lots: every target is in whole lots
    lots = pd.Series(rb.lot_size).reindex(plan.target_shares.index).fillna(1).astype(int)
    assert ((plan.target_shares % lots) == 0).all()
    np.testing.assert_allclose(
        plan.post_weights, plan.post_shares * prices.reindex(plan.post_shares.index).fillna(0) / plan.equity
    )

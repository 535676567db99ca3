"""The order state machine and the paper broker's fill model, on crafted orders and bars (no store)."""

from __future__ import annotations

import datetime as dt
import itertools

import pandas as pd
import pytest

from ravenshire.config import ExecutionConfig
from ravenshire.errors import ConfigError
from ravenshire.execution.broker import Bar, PaperBroker, commission_for
from ravenshire.execution.ledger import draft_order, plan_new_order
from ravenshire.execution.orders import (
    OrderStateError,
    OrderStatus,
    check_transition,
    parse_order_type,
    parse_side,
)

S = OrderStatus
LEGAL = {
    (S.NEW, S.ACCEPTED), (S.NEW, S.REJECTED), (S.NEW, S.CANCELLED),
    (S.ACCEPTED, S.PARTIALLY_FILLED), (S.ACCEPTED, S.FILLED), (S.ACCEPTED, S.CANCELLED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED), (S.PARTIALLY_FILLED, S.FILLED), (S.PARTIALLY_FILLED, S.CANCELLED),
}  # fmt: skip
NOW = dt.datetime(2024, 1, 10, 22, tzinfo=dt.UTC)
D1, D2, D3 = (pd.Timestamp(d) for d in ("2024-01-08", "2024-01-09", "2024-01-10"))


@pytest.mark.parametrize(("current", "new"), list(itertools.product(S, S)))
def test_every_transition_is_legal_or_refused(current: OrderStatus, new: OrderStatus) -> None:
    if (current, new) in LEGAL:
        check_transition(current, new)
    else:
        with pytest.raises(OrderStateError, match=f"is {current} and cannot become {new}"):
            check_transition(current, new, order_id=7)


def test_final_states_say_they_are_final() -> None:
    with pytest.raises(OrderStateError, match=r"nothing \(filled is final\)"):
        check_transition("filled", "cancelled")


def test_side_and_type_parsing() -> None:
    assert parse_side(" buy ") == "BUY"
    with pytest.raises(ConfigError, match="BUY or SELL"):
        parse_side("hold")
    assert parse_order_type(None, None) == "market"
    assert parse_order_type(None, 150.0) == "limit"  # the seed's execute_trade(..., price=150.00)
    with pytest.raises(ConfigError, match="needs a price"):
        parse_order_type("limit", None)
    with pytest.raises(ConfigError, match="takes no price"):
        parse_order_type("market", 10.0)
    with pytest.raises(ConfigError, match="market or limit"):
        parse_order_type("stop", 10.0)


def order(side: str = "BUY", quantity: float = 100, kind: str = "market", limit: float | None = None):
    values = {
        "client_order_id": "c1", "account": "A", "symbol": "XYZ", "side": side, "quantity": quantity,
        "order_type": kind, "limit_price": limit, "origin": "api", "cycle_id": None, "broker": "paper",
        "is_demo": False,
    }  # fmt: skip
    return draft_order(values, NOW), values


def bar(date: pd.Timestamp, o: float, h: float, lo: float, c: float, v: float = 1e6) -> Bar:
    return Bar(symbol="XYZ", date=date, open=o, high=h, low=lo, close=c, volume=v, is_demo=False)


def broker(bars: list[Bar], **cfg: float) -> PaperBroker:
    config = ExecutionConfig(**{"commission_bps": 1.0, "min_commission": 1.0, "slippage_bps": 10.0, **cfg})
    return PaperBroker(config, lambda _s: bars[0], lambda _s, after: [b for b in bars[1:] if b.date > after])


def test_market_orders_fill_at_the_close_with_slippage_against_the_trader() -> None:
    b = broker([bar(D1, 99, 101, 98, 100)])
    buy, _ = order("BUY", 100)
    (fill,) = b.submit(buy).executions
    assert fill.price == pytest.approx(100 * 1.001)
    assert fill.slippage == pytest.approx(100 * 0.1)
    assert fill.commission == pytest.approx(max(1.0, 1e-4 * 100 * 100.1))
    sell, _ = order("SELL", 5)
    (fill,) = b.submit(sell).executions
    assert fill.price == pytest.approx(100 * 0.999)
    assert fill.commission == 1.0  # the minimum: 1 bp of 499.5 is 0.05


def test_a_limit_fills_on_submission_only_when_marketable_and_never_worse_than_the_limit() -> None:
    b = broker([bar(D1, 99, 101, 98, 100)])
    rest, _ = order("BUY", 10, "limit", 99.5)  # the bar traded at 98 but that was before the order: it rests
    reply = b.submit(rest)
    assert reply.accepted and reply.executions == () and reply.last_bar_date == D1
    marketable, _ = order("BUY", 10, "limit", 100.5)
    (fill,) = b.submit(marketable).executions
    assert fill.price == pytest.approx(100.1)  # the market price, better than the limit
    sell, _ = order("SELL", 10, "limit", 99.95)  # the market sells at 100·(1 − 10 bp) = 99.9 < 99.95: it rests
    assert b.submit(sell).executions == ()
    sell, _ = order("SELL", 10, "limit", 99.85)
    assert b.submit(sell).executions[0].price == pytest.approx(99.9)


def test_a_resting_limit_fills_when_a_later_bar_trades_through_it() -> None:
    bars = [bar(D1, 99, 101, 98, 100), bar(D2, 99.6, 100, 99.5, 99.8), bar(D3, 99.8, 99.9, 98.5, 99)]
    b = broker(bars)
    o, values = order("BUY", 10, "limit", 99.5)
    o = plan_new_order(values, NOW, reply=b.submit(o)).order
    assert o.status == S.ACCEPTED
    reply = b.poll(o)  # D2 only touches 99.5 (low = limit): no trade through; D3 trades through: fill at 99.5
    (fill,) = reply.executions
    assert fill.bar_date == D3 and fill.price == 99.5 and fill.slippage == 0.0
    assert reply.last_bar_date == D3


def test_a_gap_through_the_limit_fills_at_the_open() -> None:
    bars = [bar(D1, 99, 101, 98, 100), bar(D2, 97, 98, 96, 97.5)]
    b = broker(bars)
    o, values = order("BUY", 10, "limit", 99.5)
    o = plan_new_order(values, NOW, reply=b.submit(o)).order
    (fill,) = b.poll(o).executions
    assert fill.price == 97.0  # better than the limit
    sell_bars = [bar(D1, 99, 101, 98, 100), bar(D2, 103, 104, 102, 103)]
    s, values = order("SELL", 10, "limit", 101)
    s = plan_new_order(values, NOW, reply=broker(sell_bars).submit(s)).order
    assert broker(sell_bars).poll(s).executions[0].price == 103.0


def test_the_volume_cap_splits_an_order_over_bars() -> None:
    bars = [bar(D1, 100, 100, 100, 100, v=500), bar(D2, 101, 101, 101, 101, v=400), bar(D3, 102, 102, 102, 102, v=0)]
    b = broker(bars, max_volume_fraction=0.1, slippage_bps=0.0)
    o, values = order("BUY", 120)
    plan = plan_new_order(values, NOW, reply=b.submit(o))
    assert plan.order.status == S.PARTIALLY_FILLED and plan.order.filled_quantity == 50
    assert [st for st, _, _ in plan.steps] == [S.NEW, S.ACCEPTED, S.PARTIALLY_FILLED]
    reply = b.poll(plan.order)
    assert [(e.quantity, e.price) for e in reply.executions] == [(40, 101.0)]  # no volume on D3: no fill there
    assert reply.last_bar_date == D3


def test_commission_has_a_minimum() -> None:
    cfg = ExecutionConfig(commission_bps=2.0, min_commission=1.5)
    assert commission_for(1000.0, cfg) == 1.5
    assert commission_for(100_000.0, cfg) == pytest.approx(20.0)


def test_no_price_no_fill() -> None:
    config = ExecutionConfig()
    b = PaperBroker(config, lambda _s: None, lambda _s, _a: [])
    reply = b.submit(order()[0])
    assert not reply.accepted and "no stored price" in (reply.reason or "")

"""ExecutionManager on a real store with hand-made bars: the order path, idempotency, pre-trade checks, partial
fills, working orders, the kill switch, reconciliation and the drawdown halt."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pandas as pd
import pytest
from sqlalchemy import func, select, update

from ravenshire.config import Config
from ravenshire.errors import ConfigError
from ravenshire.execution import BrokerReply, Execution, ExecutionManager, Order, OrderStateError
from ravenshire.execution.killswitch import kill_switch_history
from ravenshire.store import read, write
from ravenshire.store import schema as s
from tests.execution.conftest import DAYS, FREE, Clock, Market


def count(em: ExecutionManager, table) -> int:
    with read(em.engine) as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def events(em: ExecutionManager, order: Order) -> list[str]:
    return em.order_events(order.id)["status"].tolist()


# ------------------------------------------------------------------------------------------------ the order path
def test_the_seed_call_is_a_limit_order_that_fills_when_marketable(
    exec_config: Callable[..., Config], market: Market
) -> None:
    config = exec_config("[EXECUTION]\ncommission_bps = 1\nmin_commission = 1\nslippage_bps = 5\n")
    market.flat("AAA", DAYS[:3], 149.0)
    em = ExecutionManager(config, now=Clock())
    order = em.execute_trade(symbol="AAA", side="BUY", quantity=100, price=150.00)
    price = 149.0 * 1.0005  # the close moved by 5 bp of slippage, better than the 150 limit
    assert (order.status, order.order_type, order.limit_price) == ("filled", "limit", 150.0)
    assert order.filled_quantity == 100 and order.avg_fill_price == pytest.approx(price)
    assert order.last_bar_date == pd.Timestamp(DAYS[2]) and order.is_demo is False
    assert events(em, order) == ["new", "accepted", "filled"]
    fill = em.fills().iloc[0]
    assert fill["price"] == pytest.approx(price) and fill["commission"] == pytest.approx(1e-4 * 100 * price)
    assert fill["slippage"] == pytest.approx(100 * 149.0 * 0.0005)
    assert em.account().cash == pytest.approx(100_000 - 100 * price - 1e-4 * 100 * price)
    ledger = em.cash_ledger()
    assert ledger["balance"].iloc[0] == pytest.approx(em.account().cash)
    assert em.reconcile().ok


def test_a_sell_fills_below_the_close(exec_config: Callable[..., Config], market: Market) -> None:
    config = exec_config("[EXECUTION]\ncommission_bps = 0\nmin_commission = 0\nslippage_bps = 10\n")
    market.flat("AAA", DAYS[:2], 50.0)
    em = ExecutionManager(config, now=Clock())
    em.execute_trade("AAA", "BUY", 10)
    sold = em.execute_trade("AAA", "SELL", 10)
    assert sold.avg_fill_price == pytest.approx(50 * 0.999)
    assert em.account().cash == pytest.approx(100_000 - 10 * 50.05 + 10 * 49.95)


def test_the_same_client_order_id_is_one_order(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:2], 10.0)
    first = em.execute_trade("AAA", "BUY", 5, client_order_id="cycle-1:AAA")
    before = [count(em, t) for t in (s.orders, s.fills, s.order_events, s.cash_ledger)]
    again = em.execute_trade("AAA", "BUY", 5, client_order_id="cycle-1:AAA")
    assert again == first
    assert [count(em, t) for t in (s.orders, s.fills, s.order_events, s.cash_ledger)] == before
    basket = em.execute_trades([{"symbol": "AAA", "side": "BUY", "quantity": 5, "client_order_id": "cycle-1:AAA"}])
    assert basket == [first]
    with pytest.raises(ConfigError, match=r"cycle-1:AAA is order .* a different order .*quantity"):
        em.execute_trade("AAA", "BUY", 6, client_order_id="cycle-1:AAA")
    rejected = em.execute_trade("AAA", "BUY", 0, client_order_id="zero")
    assert em.execute_trade("AAA", "BUY", 0, client_order_id="zero") == rejected  # a rejection is idempotent too


def test_a_basket_sees_what_earlier_orders_did(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    orders = em.execute_trades(
        [
            {"symbol": "AAA", "side": "BUY", "quantity": 600},
            {"symbol": "AAA", "side": "BUY", "quantity": 500},  # 60,000 spent: 40,000 left, this needs 50,000
            {"symbol": "AAA", "side": "SELL", "quantity": 600},
            {"symbol": "AAA", "side": "SELL", "quantity": 1},  # nothing left to sell
        ]
    )
    assert [o.status for o in orders] == ["filled", "rejected", "filled", "rejected"]
    assert "insufficient cash" in orders[1].reason and "insufficient position" in orders[3].reason
    assert em.reconcile().ok and em.account().cash == pytest.approx(100_000)
    with pytest.raises(ConfigError, match="order 1 of the basket: side must be BUY or SELL"):
        em.execute_trades([{"symbol": "AAA", "side": "BUY", "quantity": 1}, {"symbol": "AAA", "side": "X"}])
    with pytest.raises(ConfigError, match="unknown field"):
        em.execute_trades([{"symbol": "AAA", "side": "BUY", "quantity": 1, "qty": 2}])
    with pytest.raises(ConfigError, match="client_order_id twice"):
        em.execute_trades([{"symbol": "AAA", "side": "BUY", "quantity": 1, "client_order_id": "a"}] * 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbol": "aa a", "side": "BUY", "quantity": 1}, "symbol must be a ticker"),
        ({"symbol": "AAA", "side": "LONG", "quantity": 1}, "side must be BUY or SELL"),
        ({"symbol": "AAA", "side": "BUY", "quantity": "ten"}, "quantity must be a number"),
        ({"symbol": "AAA", "side": "BUY", "quantity": True}, "quantity must be a number"),
        ({"symbol": "AAA", "side": "BUY", "quantity": 1, "price": -3}, "price must be a positive number"),
        ({"symbol": "AAA", "side": "BUY", "quantity": 1, "order_type": "stop"}, "market or limit"),
        ({"symbol": "AAA", "side": "BUY", "quantity": 1, "client_order_id": "a b"}, "client_order_id must be"),
    ],
)
def test_requests_that_cannot_be_orders_are_refused_and_nothing_is_stored(
    em: ExecutionManager, market: Market, kwargs: dict, message: str
) -> None:
    market.flat("AAA", DAYS[:2], 10.0)
    with pytest.raises(ConfigError, match=message):
        em.execute_trade(**kwargs)
    assert count(em, s.orders) == 0


# ------------------------------------------------------------------------------------------------ pre-trade checks
def test_pre_trade_checks_reject_with_the_reason_and_never_reach_the_broker(
    em: ExecutionManager, market: Market
) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    cases = [
        (("AAA", "BUY", 0), "quantity must be a positive number of shares (above 1e-06), got 0"),
        (("AAA", "BUY", -5), "got -5"),
        (("ZZZ", "BUY", 1), "unknown symbol ZZZ: no stored prices"),
        (("AAA", "BUY", 2000), "insufficient cash: BUY 2000 AAA at ~100.00 needs 200,000.00; free cash is 100,000.00"),
        (("AAA", "SELL", 1), "insufficient position: selling 1 AAA but 0 is held"),
    ]
    for (symbol, side, qty), reason in cases:
        order = em.execute_trade(symbol, side, qty)
        assert order.status == "rejected" and reason in order.reason, order.reason
        assert events(em, order) == ["new", "rejected"] and order.broker_order_id is None
    assert count(em, s.fills) == 0 and em.account().cash == 100_000


def test_working_orders_reserve_cash_and_shares(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    resting = em.execute_trade("AAA", "BUY", 900, price=90.0)  # not marketable: rests, reserving 81,000
    assert resting.status == "accepted"
    refused = em.execute_trade("AAA", "BUY", 200)
    assert "19,000.00 (100,000.00 less 81,000.00 reserved by working orders)" in refused.reason
    em.cancel_order(resting.id)
    em.execute_trade("AAA", "BUY", 100)
    em.execute_trade("AAA", "SELL", 60, price=120.0)  # rests, reserving 60 of the 100 held
    assert "but 40 is held net of working sell orders" in em.execute_trade("AAA", "SELL", 50).reason


def test_short_selling_when_allowed(exec_config: Callable[..., Config], market: Market) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    em = ExecutionManager(exec_config(FREE + "allow_short = true\n"), now=Clock())
    order = em.execute_trade("AAA", "SELL", 100)
    assert order.status == "filled"
    assert em.account().cash == pytest.approx(110_000)
    assert em.reconcile().ok


def test_risk_limits_block_trades_that_add_exposure_only(exec_config: Callable[..., Config], market: Market) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    market.flat("BBB", DAYS[:2], 100.0)
    config = exec_config(FREE + "allow_short = true\n", risk="max_position_weight = 0.3\nmax_leverage = 0.5\n")
    em = ExecutionManager(config, now=Clock())
    assert (
        "AAA would be 31.0 % of equity after this order (with the working orders on its side); "
        "[RISK] max_position_weight is 30.0 %" in (em.execute_trade("AAA", "BUY", 310).reason)
    )
    assert em.execute_trade("AAA", "BUY", 300).status == "filled"
    assert "gross leverage would be 0.60× after this order (with the working orders); [RISK] max_leverage is 0.5×" in (
        em.execute_trade("BBB", "SELL", 300).reason
    )
    # Tighter limits later: a trade that reduces the position passes although the position is over the limit.
    tight = dataclasses.replace(config, risk=dataclasses.replace(config.risk, max_position_weight=0.1))
    em2 = ExecutionManager(tight, now=Clock())
    assert em2.execute_trade("AAA", "SELL", 100).status == "filled"
    assert em2.execute_trade("AAA", "BUY", 1).status == "rejected"


# ------------------------------------------------------------------------------------------------ working orders
def test_partial_fills_under_the_volume_cap_complete_on_later_bars(
    exec_config: Callable[..., Config], market: Market
) -> None:
    market.flat("AAA", DAYS[:1], 10.0, volume=500)
    em = ExecutionManager(exec_config(FREE + "max_volume_fraction = 0.1\n"), now=Clock())
    order = em.execute_trade("AAA", "BUY", 120)
    assert (order.status, order.filled_quantity, order.remaining) == ("partially_filled", 50, 70)
    assert em.process_open_orders() == []  # no newer bar yet
    market.bars([(DAYS[1], "AAA", 11, 11, 11, 11, 400)])
    (order,) = em.process_open_orders()
    assert (order.status, order.filled_quantity) == ("partially_filled", 90)
    market.bars([(DAYS[2], "AAA", 12, 12, 12, 12, 0), (DAYS[3], "AAA", 13, 13, 13, 13, 1000)])
    (order,) = em.process_open_orders()
    assert (order.status, order.filled_quantity) == ("filled", 120)
    assert order.avg_fill_price == pytest.approx((50 * 10 + 40 * 11 + 30 * 13) / 120)
    assert events(em, order) == ["new", "accepted", "partially_filled", "partially_filled", "filled"]
    assert em.fills()["bar_date"].dt.strftime("%Y-%m-%d").tolist() == [DAYS[0], DAYS[1], DAYS[3]]
    assert em.reconcile().ok


def test_a_resting_limit_fills_when_a_later_bar_trades_through(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    order = em.execute_trade("AAA", "BUY", 10, price=95.0)
    assert order.status == "accepted" and order.remaining == 10
    market.bars([(DAYS[1], "AAA", 97, 98, 94, 96, 1e6)])
    (order,) = em.process_open_orders()
    assert (order.status, order.avg_fill_price) == ("filled", 95.0)
    assert em.positions().loc["AAA", "quantity"] == 10


def test_cancel(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    resting = em.execute_trade("AAA", "BUY", 10, price=90.0, client_order_id="r1")
    cancelled = em.cancel_order("r1", reason="changed my mind")
    assert (cancelled.status, cancelled.reason) == ("cancelled", "changed my mind")
    assert events(em, resting) == ["new", "accepted", "cancelled"]
    with pytest.raises(OrderStateError, match="is cancelled and cannot become cancelled"):
        em.cancel_order(resting.id)
    filled = em.execute_trade("AAA", "BUY", 1)
    with pytest.raises(OrderStateError, match="is filled"):
        em.cancel_order(filled.id)
    with pytest.raises(ConfigError, match="no order 'nope'"):
        em.cancel_order("nope")


class SlowBroker:
    """An asynchronous broker adapter (like a real one): answers later; can fail once."""

    name = "slow"
    live = False
    synchronous = False

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.sent: list[str] = []

    def submit(self, order: Order) -> BrokerReply:
        self.sent.append(order.client_order_id)
        if self.fail:
            self.fail = False
            raise ConnectionError("broker unreachable")
        fill = Execution(
            quantity=order.quantity, price=10.0, commission=0.0, slippage=0.0, bar_date=pd.Timestamp(DAYS[0])
        )
        return BrokerReply(
            accepted=True, broker_order_id=f"B-{order.id}", executions=(fill,), last_bar_date=fill.bar_date
        )

    def poll(self, order: Order) -> BrokerReply:
        return BrokerReply(accepted=True, last_bar_date=order.last_bar_date)

    def cancel(self, order: Order) -> bool:
        return True


def test_an_asynchronous_broker_gets_committed_orders_and_a_crash_is_resent(xconfig: Config, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 10.0)
    broker = SlowBroker(fail=True)
    em = ExecutionManager(xconfig, broker=broker, now=Clock())
    with pytest.raises(ConnectionError):
        em.execute_trade("AAA", "BUY", 5, client_order_id="k1")
    stored = em.get_order("k1")
    assert stored.status == "new"  # committed before it was sent; no fill
    assert count(em, s.fills) == 0
    (done,) = em.process_open_orders()
    assert (done.status, done.broker_order_id) == ("filled", f"B-{stored.id}")
    assert broker.sent == ["k1", "k1"]  # resent with the same client order id
    assert em.execute_trade("AAA", "BUY", 5, client_order_id="k1") == done
    assert em.reconcile().ok


def test_a_live_broker_needs_the_explicit_opt_in(xconfig: Config, market: Market) -> None:
    broker = SlowBroker()
    broker.live = True  # type: ignore[misc]
    with pytest.raises(ConfigError, match="live_trading = true"):
        ExecutionManager(xconfig, broker=broker)


# ------------------------------------------------------------------------------------------------ kill switch
def test_the_kill_switch_blocks_orders_and_cancels_working_ones(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    resting = em.execute_trade("AAA", "BUY", 10, price=90.0)
    state = em.set_kill_switch(actor="alice", reason="broker outage")
    assert state.active and "set by alice: broker outage" in state.message
    assert em.get_order(resting.id).status == "cancelled"
    assert "kill switch set by alice" in em.get_order(resting.id).reason
    blocked = em.execute_trade("AAA", "BUY", 1)
    assert (
        blocked.status == "rejected" and "kill switch on since" in blocked.reason and "broker outage" in blocked.reason
    )
    assert em.set_kill_switch(actor="bob", reason="again").actor == "alice"  # already on: nothing new
    em.clear_kill_switch(actor="alice", reason="outage over")
    assert em.execute_trade("AAA", "BUY", 1).status == "filled"
    history = kill_switch_history(em.engine)
    assert history["active"].tolist() == [False, True] and history["actor"].tolist() == ["alice", "alice"]
    with pytest.raises(ConfigError, match="reason is required"):
        em.set_kill_switch(actor="alice", reason=" ")


def test_a_drawdown_past_the_limit_halts_trading(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    em.execute_trade("AAA", "BUY", 900)  # 90 % invested
    em.mark_to_market()
    market.flat("AAA", DAYS[1:2], 80.0)  # −20 % on the position: −18 % of equity ≥ the 15 % limit
    metrics = em.mark_to_market()
    assert metrics.current_drawdown == pytest.approx(0.18)
    state = em.kill_switch()
    assert state.active and state.automatic and state.actor == "risk"
    assert "drawdown 18.0 % reached [RISK] max_drawdown 15.0 %" in state.reason
    assert em.execute_trade("AAA", "SELL", 100).status == "rejected"
    # A person clears it to cut risk: the halt does not come straight back while the drawdown persists ...
    em.clear_kill_switch(actor="alice", reason="reducing the position")
    assert em.execute_trade("AAA", "SELL", 400).status == "filled"
    assert not em.kill_switch().active
    # ... and re-arms once a snapshot shows the drawdown back under the limit.
    market.flat("AAA", DAYS[2:3], 100.0)
    em.mark_to_market()
    market.flat("AAA", DAYS[3:4], 60.0)
    em.mark_to_market()
    assert em.kill_switch().active


def test_an_order_can_trip_the_drawdown_halt(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    em.execute_trade("AAA", "BUY", 900)
    em.set_kill_switch(actor="alice", reason="fire drill")
    em.clear_kill_switch(actor="alice", reason="drill over")  # clearing a person's halt does not disarm the risk one
    market.flat("AAA", DAYS[1:2], 80.0)  # no snapshot taken: the order's own check sees it
    order = em.execute_trade("AAA", "SELL", 1)
    assert order.status == "rejected" and "drawdown 18.0 %" in order.reason
    assert em.kill_switch().automatic


# ------------------------------------------------------------------------------------------------ reconciliation
def test_reconciliation_finds_a_tampered_ledger(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    em.execute_trade("AAA", "BUY", 10)
    assert em.reconcile().ok
    with write(em.engine) as conn:
        conn.execute(update(s.positions).values(quantity=11.0))
        conn.execute(update(s.accounts).values(cash=s.accounts.c.cash + 5))
    report = em.reconcile()
    assert not report.ok
    assert report.position_breaks.to_dict("records") == [
        {"symbol": "AAA", "stored": 11.0, "from_fills": 10.0, "difference": 1.0}
    ]
    assert report.cash_difference == pytest.approx(5.0)
    assert "positions differ for AAA" in report.message


def test_a_new_account_reads_without_writing(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    metrics = em.get_performance_metrics()
    assert (metrics.equity, metrics.n_trades, metrics.n_positions) == (100_000, 0, 0)
    assert em.positions().empty and em.orders().empty and em.account().cash == 100_000
    assert em.reconcile().ok
    assert count(em, s.accounts) == 0  # reading created nothing
    em.mark_to_market()
    assert count(em, s.accounts) == 1 and len(em.equity_curve()) == 1
    with pytest.raises(ConfigError, match="cannot mark 2024-01-03: the newest stored bar is 2024-01-02"):
        em.mark_to_market("2024-01-03")


def test_orders_by_numpy_id_and_frame_types(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    em.execute_trade("AAA", "BUY", 10, price=90.0)
    frame = em.orders()
    order_id = frame["id"].iloc[0]  # a numpy integer
    assert em.get_order(order_id).status == "accepted"
    assert em.cancel_order(order_id).status == "cancelled"
    assert (
        str(em.orders()["created_at"].dtype).startswith("datetime64") and em.orders()["status"].iloc[0] == "cancelled"
    )

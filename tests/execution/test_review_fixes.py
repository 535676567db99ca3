"""Regressions found by review: pre-trade limit holes, a halt in the middle of a basket, NaN and tiny quantities,
later fills past the cash, re-arming of the drawdown halt, the bar cache across snapshots, stale prices."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from ravenshire.config import Config
from ravenshire.errors import ConfigError
from ravenshire.execution import ExecutionManager
from ravenshire.store import read
from ravenshire.store import schema as s
from tests.execution.conftest import DAYS, FREE, Clock, Market

SHORTS = FREE + "allow_short = true\n"
TIGHT = "max_position_weight = 0.25\nmax_leverage = 1.5\n"


def test_a_sell_limit_below_the_market_is_held_to_the_position_limit(
    exec_config: Callable[..., Config], market: Market
) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    em = ExecutionManager(exec_config(SHORTS, risk=TIGHT), now=Clock())
    assert em.execute_trade("AAA", "SELL", 1000).status == "rejected"
    order = em.execute_trade("AAA", "SELL", 1000, price=0.01)  # would fill at once at the market
    assert order.status == "rejected" and "max_position_weight" in order.reason


def test_a_working_order_on_the_other_side_does_not_make_a_new_position_look_like_a_reduction(
    exec_config: Callable[..., Config], market: Market
) -> None:
    market.flat("AAA", DAYS[:2], 100.0)
    em = ExecutionManager(exec_config(SHORTS, risk=TIGHT), now=Clock())
    bait = em.execute_trade("AAA", "BUY", 1500, price=1.0)
    assert bait.status == "accepted"
    short = em.execute_trade("AAA", "SELL", 1500)
    assert short.status == "rejected" and "max_position_weight" in short.reason


def test_leverage_counts_working_orders_in_other_symbols(exec_config: Callable[..., Config], market: Market) -> None:
    market.bars([(d, sym, 100, 101, 99, 100, 1e6) for d in DAYS[:2] for sym in ("AAA", "BBB")])
    em = ExecutionManager(exec_config(risk="max_position_weight = 0.4\nmax_leverage = 0.5\n"), now=Clock())
    assert em.execute_trade("AAA", "BUY", 400, price=99.5).status == "accepted"
    second = em.execute_trade("BBB", "BUY", 400, price=99.5)
    assert second.status == "rejected" and "gross leverage would be 0.80×" in second.reason


def test_a_drawdown_halt_is_decided_before_the_basket(exec_config: Callable[..., Config], market: Market) -> None:
    market.bars([(DAYS[0], "AAA", 100, 100, 100, 100, 1e6), (DAYS[0], "BBB", 10, 10, 10, 10, 500)])
    clock = Clock()
    em = ExecutionManager(exec_config(), now=clock)
    em.execute_trade("AAA", "BUY", 500)
    em.mark_to_market()
    market.bars([(DAYS[1], "AAA", 71, 71, 71, 71, 1e6), (DAYS[1], "BBB", 10, 10, 10, 10, 500)])  # −14.5 %
    costly = exec_config("[EXECUTION]\ncommission_bps = 0\nmin_commission = 1000\nslippage_bps = 0\n"
                         "max_volume_fraction = 0.1\n")  # fmt: skip
    out = ExecutionManager(costly, now=clock).execute_trades(
        [{"symbol": "BBB", "side": "BUY", "quantity": 100}, {"symbol": "BBB", "side": "BUY", "quantity": 1}]
    )
    # 14.5 % < 15 % before the basket: both orders are decided under the same (un-halted) book; none is left
    # working under a halt decided half-way.
    assert not em.kill_switch().active or all(not o.is_open for o in out)
    assert em.reconcile().ok


def test_nan_and_tiny_quantities(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:2], 10.0)
    with pytest.raises(ConfigError, match="finite number of shares"):
        em.execute_trade("AAA", "BUY", float("nan"))
    with pytest.raises(ConfigError, match="order 1 of the basket: quantity must be a finite"):
        em.execute_trades([{"symbol": "AAA", "side": "BUY", "quantity": 1}, {"symbol": "AAA", "side": "BUY",
                                                                             "quantity": float("inf")}])  # fmt: skip
    tiny = em.execute_trade("AAA", "BUY", 1e-7)
    assert tiny.status == "rejected" and "above 1e-06" in tiny.reason
    assert em.orders()["status"].tolist() == ["rejected"]


def test_later_fills_never_overdraw_the_cash(exec_config: Callable[..., Config], market: Market) -> None:
    market.bars([(DAYS[0], "AAA", 100, 100, 100, 100, 1000)])
    em = ExecutionManager(exec_config(FREE + "max_volume_fraction = 0.5\n", risk="max_position_weight = 1.0\n"),
                          now=Clock())  # fmt: skip
    order = em.execute_trade("AAA", "BUY", 990)  # 500 fill now, 490 work
    assert order.filled_quantity == 500
    market.bars([(DAYS[1], "AAA", 150, 150, 150, 150, 1000)])  # gap up: the rest would cost 73,500; 50,000 left
    (order,) = em.process_open_orders()
    assert order.status == "cancelled" and "insufficient cash for the rest" in order.reason
    assert em.account().cash >= 0 and em.reconcile().ok


def test_a_clear_after_recovery_leaves_the_drawdown_halt_armed(
    exec_config: Callable[..., Config], market: Market
) -> None:
    market.bars([(DAYS[0], sym, 100, 100, 100, 100, 1e6) for sym in ("AAA", "BBB")])
    em = ExecutionManager(exec_config(), now=Clock())
    em.execute_trade("AAA", "BUY", 900)
    em.mark_to_market()
    market.bars([(DAYS[1], sym, 83, 83, 83, 83, 1e6) for sym in ("AAA", "BBB")])
    em.mark_to_market()
    assert em.kill_switch().automatic
    market.bars([(DAYS[2], sym, 99, 99, 99, 99, 1e6) for sym in ("AAA", "BBB")])  # recovered: ~1 %
    em.clear_kill_switch(actor="alice", reason="recovered")
    market.bars([(DAYS[3], sym, 50, 50, 50, 50, 1e6) for sym in ("AAA", "BBB")])  # crash: ~45 %
    order = em.execute_trade("BBB", "BUY", 10)
    assert order.status == "rejected" and "drawdown" in order.reason and em.kill_switch().active


def test_an_older_snapshot_never_rolls_the_bar_cache_back(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    with read(em.engine) as old:
        old.execute(select(s.fetches.c.id)).all()  # this reader's snapshot sees only the 100 bar
        market.flat("AAA", DAYS[1:2], 200.0)  # a fetch commits meanwhile
        submit = em.broker.submit

        def racing_submit(order):  # another thread reads on its older snapshot just before the fill
            assert em.bars.latest_on(old, ["AAA"])["AAA"].close == 100.0
            return submit(order)

        em.broker.submit = racing_submit  # type: ignore[method-assign]
        order = em.execute_trade("AAA", "BUY", 10)
    assert order.avg_fill_price == 200.0 and order.last_bar_date.strftime("%Y-%m-%d") == DAYS[1]


def test_a_stale_price_or_an_unpriced_holding_is_not_traded(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 10.0)
    market.flat("BBB", DAYS, 20.0)
    stale = em.execute_trade("AAA", "BUY", 5)
    assert stale.status == "rejected" and "stale price: the newest bar of AAA is 2024-01-02" in stale.reason
    assert em.execute_trade("BBB", "BUY", 5).status == "filled"

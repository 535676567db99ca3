"""The ledger over time: P&L and FIFO statistics on a hand-computed sequence, daily snapshots, performance across
a restart (a new process on the same store), reconciliation after a long random sequence, and drift checks
through the manager."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import textwrap
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from ravenshire.config import Config
from ravenshire.errors import ConfigError
from ravenshire.execution import ExecutionManager
from ravenshire.store import read
from ravenshire.store import schema as s
from tests.conftest import PROJECT
from tests.execution.conftest import DAYS, FREE, Clock, Market


def trade_day(em: ExecutionManager, market: Market, day: str, price: float, *orders: tuple[str, float]) -> None:
    market.flat("AAA", [day], price)
    for side, qty in orders:
        order = em.execute_trade("AAA", side, qty)
        assert order.status == "filled", order.reason
    em.mark_to_market()


def test_pnl_and_fifo_statistics_on_a_hand_computed_sequence(em: ExecutionManager, market: Market) -> None:
    # day 0 @10: BUY 100                 cash 99,000   equity 99,000 + 100·10 = 100,000
    # day 1 @12: BUY 50                  cash 98,400   equity 98,400 + 150·12 = 100,200   daily +200
    # day 2 @11: SELL 120 → FIFO closes lot 1 (100: +100) and 20 of lot 2 (20·(11−12) = −20)
    #                                    cash 99,720   equity 99,720 + 30·11 = 100,050    daily −150
    #            unrealized 30·(11−12) = −30, realized +80, total +50
    # day 3 @9:  SELL 30 → lot 2's last 30: 30·(9−12) = −90; lot 2 is closed: −110 in all
    #                                    cash 99,990   equity 99,990                       daily −60
    #            closed trades: +100 and −110 → win rate 1/2, profit factor 100/110; realized −10
    trade_day(em, market, DAYS[0], 10.0, ("BUY", 100))
    trade_day(em, market, DAYS[1], 12.0, ("BUY", 50))
    trade_day(em, market, DAYS[2], 11.0, ("SELL", 120))
    m = em.get_performance_metrics()
    assert (m.equity, m.cash, m.daily_pnl) == pytest.approx((100_050, 99_720, -150))
    assert (m.realized_pnl, m.unrealized_pnl, m.total_pnl) == pytest.approx((80, -30, 50))
    assert m.n_closed_trades == 1 and m.win_rate == 1.0 and m.profit_factor == float("inf")
    assert (m.long_value, m.gross_exposure) == pytest.approx((330, 330 / 100_050))
    assert m.turnover == pytest.approx(1320 / 100_050)  # today's traded value / equity
    position = em.positions().loc["AAA"]
    assert (position["quantity"], position["avg_cost"], position["unrealized_pnl"]) == pytest.approx((30, 12, -30))
    trade_day(em, market, DAYS[3], 9.0, ("SELL", 30))
    m = em.get_performance_metrics()
    assert (m.equity, m.daily_pnl, m.realized_pnl, m.unrealized_pnl) == pytest.approx((99_990, -60, -10, 0))
    assert (m.n_trades, m.n_closed_trades, m.win_rate) == (4, 2, 0.5)
    assert m.profit_factor == pytest.approx(100 / 110)
    assert m.peak_equity == pytest.approx(100_200)
    assert m.current_drawdown == pytest.approx(1 - 99_990 / 100_200)
    curve = em.equity_curve()
    assert curve.index.strftime("%Y-%m-%d").tolist() == DAYS[:4]
    assert curve["equity"].tolist() == pytest.approx([100_000, 100_200, 100_050, 99_990])
    assert curve["daily_pnl"].tolist() == pytest.approx([0, 200, -150, -60])
    assert not curve["is_demo"].any()


def test_a_snapshot_is_made_once_per_date_and_a_past_date_is_marked_as_it_was(
    em: ExecutionManager, market: Market
) -> None:
    trade_day(em, market, DAYS[0], 10.0, ("BUY", 100))
    trade_day(em, market, DAYS[1], 12.0, ("BUY", 50))
    em.mark_to_market()  # again for the same date: replaced, not added
    with read(em.engine) as conn:
        assert conn.execute(select(func.count()).select_from(s.equity_snapshots)).scalar_one() == 2
    past = em.mark_to_market(DAYS[0])  # the day-0 book: 100 shares at 10, before day 1's purchase
    assert (past.equity, past.cash, past.n_trades) == pytest.approx((100_000, 99_000, 1))


def test_performance_survives_a_restart(em: ExecutionManager, market: Market, xconfig: Config) -> None:
    trade_day(em, market, DAYS[0], 10.0, ("BUY", 100))
    trade_day(em, market, DAYS[1], 12.0, ("SELL", 40))
    here = em.get_performance_metrics().to_dict()
    script = """
        import json, sys
        from ravenshire.config import load_config
        from ravenshire.execution import ExecutionManager
        config = load_config(sys.argv[1], env={"RAVENSHIRE_STORE_URL": sys.argv[2]})
        print(json.dumps(ExecutionManager(config).get_performance_metrics().to_dict()))
    """
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script), str(xconfig.source), xconfig.store_url],
        cwd=PROJECT, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    there = json.loads(done.stdout)
    assert there == here
    assert there["realized_pnl"] == pytest.approx(80.0)  # 40·(12 − 10)
    assert there["win_rate"] is None  # lot 1 is not closed yet: no closed trade


def test_demo_prices_are_labelled(make_config: Callable[..., Config]) -> None:
    from ravenshire.data import DataManager
    from tests.conftest import NOW

    config = make_config("[DATA]\nsource = synthetic\nuniverse = AAA\nhistory_start = 2024-01-02\n" + FREE)
    DataManager(config, now=NOW).get_market_data()
    em = ExecutionManager(config, now=Clock())
    order = em.execute_trade("AAA", "BUY", 1)
    assert order.is_demo and em.fills()["is_demo"].all()
    em.mark_to_market()
    assert em.equity_curve()["is_demo"].all()


# ------------------------------------------------------------------------------------------------ reconciliation
ORDER = st.tuples(
    st.sampled_from(["AAA", "BBB", "ZZZ"]),
    st.sampled_from(["BUY", "SELL"]),
    st.one_of(st.integers(-5, 400).map(float), st.floats(0.5, 50.0)),
    st.one_of(st.none(), st.floats(0.8, 1.2)),  # a limit as a multiple of the close
    st.booleans(),  # a new day of bars after this order
)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(ORDER, min_size=20, max_size=60), seed=st.integers(0, 2**16))
def test_the_ledger_reconciles_after_any_sequence(
    exec_config: Callable[..., Config], tmp_path_factory: pytest.TempPathFactory, orders: list, seed: int
) -> None:
    from ravenshire.data import DataManager
    from ravenshire.store import init_db
    from tests.conftest import NOW

    folder = tmp_path_factory.mktemp("ledger")
    config = exec_config(
        "[EXECUTION]\ncommission_bps = 2\nmin_commission = 1\nslippage_bps = 5\nmax_volume_fraction = 0.001\n"
    )
    config = dataclasses.replace(config, store=dataclasses.replace(config.store, url=f"sqlite:///{folder / 's.db'}"))
    market = Market(DataManager(config, engine=init_db(config.store_url), now=NOW), folder)
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2024-01-02", periods=60).strftime("%Y-%m-%d").tolist()
    price = {"AAA": 50.0, "BBB": 20.0}
    day = 0

    def new_day() -> None:
        nonlocal day
        rows = []
        for sym in price:
            o = price[sym]
            price[sym] = c = max(1.0, o * float(np.exp(rng.normal(0, 0.03))))
            rows.append((days[day], sym, o, max(o, c) * 1.01, min(o, c) * 0.99, c, float(rng.integers(0, 200_000))))
        market.bars(rows)
        day += 1

    new_day()
    em = ExecutionManager(config, now=Clock())
    for symbol, side, qty, limit, advance in orders:
        price_arg = None if limit is None else round(price.get(symbol, 10.0) * limit, 2)
        em.execute_trade(symbol, side, qty, price=price_arg)
        if advance and day < len(days):
            new_day()
            em.process_open_orders()
    report = em.reconcile()
    assert report.ok, report.message
    account = em.account()
    assert account.cash >= -1e-6  # a cash account, short selling off: never overdrawn
    positions = em.fills().assign(q=lambda f: np.where(f["side"] == "BUY", 1, -1) * f["quantity"])
    assert (positions.groupby("symbol")["q"].sum() >= -1e-9).all()  # never short
    orders_frame = em.orders(limit=10_000)
    assert (orders_frame["filled_quantity"] <= orders_frame["quantity"].clip(lower=0) + 1e-9).all()
    assert set(orders_frame["status"]) <= {"filled", "rejected", "accepted", "partially_filled", "cancelled"}


# ------------------------------------------------------------------------------------------------ drift
def test_the_seed_drift_call_goes_through_the_store(em: ExecutionManager) -> None:
    rng = np.random.default_rng(5)
    reference = pd.Series(rng.normal(0.0005, 0.01, 504), index=pd.bdate_range("2020-01-01", periods=504))
    with pytest.raises(ConfigError, match="start"):
        em.check_for_drift(current_return=0.05)
    em.start_drift_monitor(backtest_returns=reference)
    live = pd.Series(rng.normal(-0.02, 0.01, 30), index=pd.bdate_range("2024-01-01", periods=30))
    checks = [em.check_for_drift(current_return=float(x), when=d) for d, x in live.items()]
    assert any(c.drift_detected for c in checks)
    first = next(c for c in checks if c.drift_detected)
    assert {e.detector for e in first.events} <= {"cusum", "page_hinkley", "ks"}
    again = em.check_for_drift(current_return=float(live.iloc[0]), when=live.index[0])  # a re-run: stored answer
    assert again.step == checks[0].step
    assert em.drift_monitor().load().steps == 30
    with pytest.raises(ConfigError, match="either backtest_returns or run_id"):
        em.start_drift_monitor()


def test_daily_pnl_is_against_the_previous_session_even_without_its_snapshot(
    em: ExecutionManager, market: Market
) -> None:
    trade_day(em, market, DAYS[0], 100.0, ("BUY", 100))  # a snapshot on day 0 only
    market.flat("AAA", DAYS[1:4], 104.0)
    market.flat("AAA", DAYS[4:5], 110.0)
    m = em.get_performance_metrics()
    assert m.daily_pnl == pytest.approx(600)  # 100·(110 − 104), not the 1,000 since day 0's snapshot
    assert m.total_pnl == pytest.approx(1000)


def test_a_mark_at_negative_equity_is_stored_and_halts(exec_config: Callable[..., Config], market: Market) -> None:
    market.flat("AAA", DAYS[:1], 100.0)
    em = ExecutionManager(exec_config(FREE + "allow_short = true\n"), now=Clock())
    assert em.execute_trade("AAA", "SELL", 1000).status == "filled"  # short 100 % of equity
    market.flat("AAA", DAYS[1:2], 250.0)  # equity 200,000 − 250,000 < 0
    metrics = em.mark_to_market()
    assert metrics.equity < 0
    assert em.kill_switch().active and em.kill_switch().automatic
    snapshot = em.equity_curve().iloc[-1]
    assert snapshot["equity"] == pytest.approx(-50_000) and pd.isna(snapshot["gross_exposure"])


def test_a_leftover_below_the_order_tolerance_still_gets_a_mark(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 10.0)
    em.execute_trade("AAA", "BUY", 10.0000005)
    em.execute_trade("AAA", "SELL", 10)
    metrics = em.get_performance_metrics()  # FIFO still holds 5e-7 shares: it is marked, not refused
    assert metrics.n_trades == 2 and em.mark_to_market().n_trades == 2


def test_dates_given_as_numbers_are_refused(em: ExecutionManager, market: Market) -> None:
    market.flat("AAA", DAYS[:1], 10.0)
    with pytest.raises(ConfigError, match="got the number 20240102"):
        em.mark_to_market(20240102)

"""Ledger performance: FIFO lots by hand, crossing zero, per-symbol independence, the vectorised FIFO against a
plain deque loop (hypothesis), the accounting identity realized + unrealized = equity − initial cash, trade
statistics edge cases and the live metrics (daily P&L, drawdown, turnover, missing marks)."""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ravenshire.errors import ConfigError
from ravenshire.execution.performance import (
    CLOSED_COLUMNS,
    OPEN_LOT_COLUMNS,
    POSITION_COLUMNS,
    TRADE_COLUMNS,
    PerformanceMetrics,
    fifo_lots,
    performance_metrics,
    position_table,
    trade_statistics,
)

T0 = pd.Timestamp("2024-06-03 13:30", tz="UTC")
INITIAL = 100_000.0


def make_fills(rows: Sequence[tuple], day: str = "2024-06-03") -> pd.DataFrame:
    """Fills from (fill_id, symbol, side, quantity, price, commission[, bar_date]) tuples."""
    records = []
    for row in rows:
        fill_id, symbol, side, qty, price, commission = row[:6]
        bar = row[6] if len(row) > 6 else day
        records.append(
            {
                "fill_id": fill_id,
                "filled_at": T0 + pd.Timedelta(minutes=fill_id),
                "bar_date": pd.Timestamp(bar),
                "symbol": symbol,
                "side": side,
                "quantity": float(qty),
                "price": float(price),
                "commission": float(commission),
            }
        )
    columns = ["fill_id", "filled_at", "bar_date", "symbol", "side", "quantity", "price", "commission"]
    frame = pd.DataFrame(records, columns=columns)
    return frame.astype({"fill_id": "int64", "quantity": float, "price": float, "commission": float})


def ledger_cash(fills: pd.DataFrame, initial: float = INITIAL) -> float:
    """initial − Σ_BUY q·p + Σ_SELL q·p − Σ commission."""
    sign = np.where(fills["side"] == "BUY", -1.0, 1.0)
    return float(initial + (sign * fills["quantity"] * fills["price"]).sum() - fills["commission"].sum())


# The hand-computed ledger of one symbol:
#   1  BUY  100 @ 10  comm 1     lot A: long 100 @ 10
#   2  BUY   50 @ 12  comm 1     lot B: long 50 @ 12
#   3  SELL 120 @ 11  comm 2     closes A fully: 100·(11−10) = +100; closes 20 of B: 20·(11−12) = −20
#   4  SELL  30 @  9  comm 0.5   closes the last 30 of B: 30·(9−12) = −90  → B: gross −110 over its 50 shares
#   5  SELL  40 @ 10  comm 1     flat → opens lot C: short 40 @ 10
HAND = [
    (1, "AAA", "BUY", 100, 10, 1.0, "2024-06-03"),
    (2, "AAA", "BUY", 50, 12, 1.0, "2024-06-03"),
    (3, "AAA", "SELL", 120, 11, 2.0, "2024-06-04"),
    (4, "AAA", "SELL", 30, 9, 0.5, "2024-06-04"),
    (5, "AAA", "SELL", 40, 10, 1.0, "2024-06-05"),
]


# ------------------------------------------------------------------------------------------------ hand-computed


def test_fifo_closed_pieces_by_hand() -> None:
    result = fifo_lots(make_fills(HAND))
    closed = result.closed
    assert tuple(closed.columns) == CLOSED_COLUMNS
    assert closed[["open_fill_id", "close_fill_id"]].to_numpy().tolist() == [[1, 3], [2, 3], [2, 4]]
    assert closed["quantity"].tolist() == [100.0, 20.0, 30.0]
    assert closed["entry_price"].tolist() == [10.0, 12.0, 12.0]
    assert closed["exit_price"].tolist() == [11.0, 11.0, 9.0]
    assert closed["gross_pnl"].tolist() == pytest.approx([100.0, -20.0, -90.0])
    assert (closed["direction"] == "long").all()
    assert closed["opened_at"].tolist() == [T0 + pd.Timedelta(minutes=m) for m in (1, 2, 2)]
    assert closed["closed_at"].tolist() == [T0 + pd.Timedelta(minutes=m) for m in (3, 3, 4)]


def test_fifo_trades_by_hand() -> None:
    trades = fifo_lots(make_fills(HAND)).trades
    assert tuple(trades.columns) == TRADE_COLUMNS
    assert trades["open_fill_id"].tolist() == [1, 2]
    assert trades["close_fill_id"].tolist() == [3, 4]
    assert trades["quantity"].tolist() == [100.0, 50.0]
    # lot A: exit 11; commission = 1 (its own fill) + 2·100/120 (its piece of fill 3) = 2.6667
    # lot B: exit (20·11 + 30·9)/50 = 9.8; commission = 1 + 2·20/120 + 0.5·30/30 = 1.8333
    assert trades["exit_price"].tolist() == pytest.approx([11.0, 9.8])
    assert trades["gross_pnl"].tolist() == pytest.approx([100.0, -110.0])
    assert trades["commission"].tolist() == pytest.approx([1 + 2 * 100 / 120, 1 + 2 * 20 / 120 + 0.5])
    assert trades["net_pnl"].tolist() == pytest.approx([100 - 2.6666667, -110 - 1.8333333])
    assert trades["closed_at"].tolist() == [T0 + pd.Timedelta(minutes=3), T0 + pd.Timedelta(minutes=4)]


def test_fifo_realized_and_open_lot_by_hand() -> None:
    result = fifo_lots(make_fills(HAND))
    # gross 100 − 20 − 90 = −10; every commission paid 1 + 1 + 2 + 0.5 + 1 = 5.5 (lot C's included) → −15.5
    assert result.realized_pnl == pytest.approx(-15.5)
    assert result.realized_by_symbol.to_dict() == pytest.approx({"AAA": -15.5})
    lots = result.open_lots
    assert tuple(lots.columns) == OPEN_LOT_COLUMNS
    assert lots[["fill_id", "direction", "quantity", "price"]].to_numpy().tolist() == [[5, "short", 40.0, 10.0]]


def test_trade_statistics_by_hand() -> None:
    stats = trade_statistics(fifo_lots(make_fills(HAND)).trades)
    win, loss = 100 - (1 + 2 * 100 / 120), -110 - (1 + 2 * 20 / 120 + 0.5)  # 97.3333, −111.8333
    assert (stats.n_closed_trades, stats.n_winners, stats.n_losers) == (2, 1, 1)
    assert stats.win_rate == 0.5
    assert stats.profit_factor == pytest.approx(win / -loss)  # 0.8703
    assert (stats.average_win, stats.largest_win) == pytest.approx((win, win))
    assert (stats.average_loss, stats.largest_loss) == pytest.approx((loss, loss))
    assert stats.expectancy == pytest.approx((win + loss) / 2)  # −7.25


def test_positions_by_hand() -> None:
    # After fills 1–3: lot B has 30 @ 12 left. Mark 11.5 → unrealized 30·(11.5 − 12) = −15.
    table = position_table(make_fills(HAND[:3]), {"AAA": 11.5, "ZZZ": 1.0})
    assert tuple(table.columns) == POSITION_COLUMNS
    row = table.loc["AAA"]
    assert (row["quantity"], row["avg_cost"], row["cost_basis"]) == (30.0, 12.0, 360.0)
    assert (row["mark"], row["market_value"], row["unrealized_pnl"]) == (11.5, 345.0, pytest.approx(-15.0))
    # realized: 100 − 20 − (1 + 1 + 2) = 76
    assert row["realized_pnl"] == pytest.approx(76.0)
    assert list(table.index) == ["AAA"]

    # After all five: short 40 @ 10 marked at 9 → +40; signed quantity, basis and value.
    row = position_table(make_fills(HAND), pd.Series({"AAA": 9.0})).loc["AAA"]
    assert (row["quantity"], row["avg_cost"], row["cost_basis"], row["market_value"]) == (-40.0, 10.0, -400.0, -360.0)
    assert row["unrealized_pnl"] == pytest.approx(40.0)


def test_avg_cost_over_several_open_lots() -> None:
    # BUY 100 @ 10, BUY 50 @ 13, SELL 60 @ 11 → open 40 @ 10 and 50 @ 13: avg (400 + 650)/90 = 11.6667
    fills = make_fills([(1, "X", "BUY", 100, 10, 0), (2, "X", "BUY", 50, 13, 0), (3, "X", "SELL", 60, 11, 0)])
    row = position_table(fills, {"X": 12.0}).loc["X"]
    assert row["quantity"] == 90.0
    assert row["avg_cost"] == pytest.approx(1050 / 90)
    assert row["unrealized_pnl"] == pytest.approx(40 * 2 + 50 * -1)  # 30


# ------------------------------------------------------------------------------------------------ crossing zero


def test_long_to_short_and_back_in_one_fill() -> None:
    fills = make_fills(
        [
            (1, "X", "BUY", 100, 10, 1.0),  # long 100 @ 10
            (2, "X", "SELL", 150, 12, 3.0),  # closes 100 (+200), opens short 50 @ 12; comm 2 + 1
            (3, "X", "BUY", 80, 11, 0.8),  # covers 50: 50·(12 − 11) = +50; opens long 30 @ 11; comm 0.5 + 0.3
        ]
    )
    result = fifo_lots(fills)
    assert result.closed[["direction", "open_fill_id", "close_fill_id", "quantity"]].to_numpy().tolist() == [
        ["long", 1, 2, 100.0],
        ["short", 2, 3, 50.0],
    ]
    assert result.closed["gross_pnl"].tolist() == pytest.approx([200.0, 50.0])
    trades = result.trades
    assert trades["direction"].tolist() == ["long", "short"]
    assert trades["entry_price"].tolist() == [10.0, 12.0]
    assert trades["quantity"].tolist() == [100.0, 50.0]
    # long: 1 + 3·100/150 = 3; short: 3·50/150 + 0.8·50/80 = 1 + 0.5 = 1.5
    assert trades["commission"].tolist() == pytest.approx([3.0, 1.5])
    assert trades["net_pnl"].tolist() == pytest.approx([197.0, 48.5])
    lots = result.open_lots
    assert lots[["fill_id", "direction", "quantity", "price"]].to_numpy().tolist() == [[3, "long", 30.0, 11.0]]
    assert result.realized_pnl == pytest.approx(250.0 - 4.8)


def test_short_pnl_sign() -> None:
    # SELL 10 @ 50 short, BUY 10 @ 55: a loss of 10·(50 − 55) = −50; short marked below entry is a gain.
    result = fifo_lots(make_fills([(1, "S", "SELL", 10, 50, 0), (2, "S", "BUY", 10, 55, 0)]))
    assert result.closed["gross_pnl"].tolist() == [-50.0]
    assert result.trades["direction"].tolist() == ["short"]
    assert result.open_lots.empty
    row = position_table(make_fills([(1, "S", "SELL", 10, 50, 0)]), {"S": 45.0}).loc["S"]
    assert (row["quantity"], row["unrealized_pnl"], row["market_value"]) == (-10.0, 50.0, -450.0)


def test_fifo_consumes_oldest_short_lots_first() -> None:
    fills = make_fills(
        [
            (1, "S", "SELL", 10, 50, 0),
            (2, "S", "SELL", 10, 40, 0),
            (3, "S", "BUY", 15, 45, 0),
            (4, "S", "BUY", 5, 30, 0),
        ]
    )
    closed = fifo_lots(fills).closed
    assert closed[["open_fill_id", "close_fill_id", "quantity"]].to_numpy().tolist() == [
        [1, 3, 10],
        [2, 3, 5],
        [2, 4, 5],
    ]
    assert closed["gross_pnl"].tolist() == [50.0, -25.0, 50.0]  # 10·(50−45), 5·(40−45), 5·(40−30)


def test_decimal_quantities_flatten_within_tolerance() -> None:
    # 0.1 + 0.2 ≠ 0.3 in floating point: the position is still flat, so the next SELL opens a short.
    fills = make_fills(
        [
            (1, "X", "BUY", 0.1, 10, 0),
            (2, "X", "BUY", 0.2, 10, 0),
            (3, "X", "SELL", 0.3, 11, 0),
            (4, "X", "SELL", 1, 12, 0),
        ]
    )
    result = fifo_lots(fills)
    assert result.closed["quantity"].tolist() == pytest.approx([0.1, 0.2])
    assert result.trades["open_fill_id"].tolist() == [1, 2]
    assert result.open_lots[["fill_id", "direction", "quantity"]].to_numpy().tolist() == [[4, "short", 1.0]]


def test_rows_are_processed_in_fill_id_order() -> None:
    fills = make_fills(HAND)
    shuffled = fills.iloc[[4, 2, 0, 3, 1]].reset_index(drop=True)
    a, b = fifo_lots(fills), fifo_lots(shuffled)
    pd.testing.assert_frame_equal(a.closed, b.closed)
    pd.testing.assert_frame_equal(a.trades, b.trades)
    pd.testing.assert_frame_equal(a.open_lots, b.open_lots)


# ------------------------------------------------------------------------------------------------ symbols


def test_interleaved_symbols_are_independent() -> None:
    aaa = [(1, "AAA", "BUY", 100, 10, 1), (4, "AAA", "SELL", 150, 11, 1), (6, "AAA", "BUY", 20, 9, 1)]
    bbb = [(2, "BBB", "SELL", 30, 20, 1), (3, "BBB", "SELL", 30, 21, 1), (5, "BBB", "BUY", 40, 19, 1)]
    both = fifo_lots(make_fills(sorted(aaa + bbb)))
    for rows in (aaa, bbb):
        alone = fifo_lots(make_fills(rows))
        symbol = rows[0][1]
        for name in ("closed", "trades", "open_lots"):
            mine = getattr(both, name)
            mine = mine[mine["symbol"] == symbol].reset_index(drop=True)
            pd.testing.assert_frame_equal(mine, getattr(alone, name), check_dtype=False)
        assert both.realized_by_symbol[symbol] == pytest.approx(alone.realized_pnl)
    assert both.realized_pnl == pytest.approx(both.realized_by_symbol.sum())
    # AAA: +100·1 − 3 commissions; short 50 @ 11 covered 20 @ 9: +40 → realized 137; open short 30 @ 11
    assert both.realized_by_symbol["AAA"] == pytest.approx(137.0)
    # BBB: shorts 30 @ 20 and 30 @ 21, cover 40 @ 19: 30·1 + 10·2 = 50, − 3 → 47; open short 20 @ 21
    assert both.realized_by_symbol["BBB"] == pytest.approx(47.0)


# ------------------------------------------------------------------------------------------------ reference loop


@dataclass
class Lot:
    fill_id: int
    sign: float
    quantity: float
    price: float


def reference_fifo(fills: pd.DataFrame) -> tuple[list[tuple], list[tuple], float]:
    """Closed pieces, open lots and realized P&L with one deque of lots per symbol, fill by fill."""
    books: dict[str, deque[Lot]] = {}
    pieces: list[tuple] = []
    realized = 0.0
    for f in fills.sort_values("fill_id").itertuples():
        sign = 1.0 if f.side == "BUY" else -1.0
        book = books.setdefault(f.symbol, deque())
        left = f.quantity
        realized -= f.commission
        while left > 1e-9 and book and book[0].sign != sign:
            lot = book[0]
            take = min(left, lot.quantity)
            gross = take * (f.price - lot.price) * lot.sign
            pieces.append((f.symbol, lot.fill_id, f.fill_id, take, gross))
            realized += gross
            lot.quantity -= take
            left -= take
            if lot.quantity <= 1e-9:
                book.popleft()
        if left > 1e-9:
            book.append(Lot(f.fill_id, sign, left, f.price))
    open_lots = [(s, lot.fill_id, lot.sign, lot.quantity, lot.price) for s, book in books.items() for lot in book]
    return pieces, sorted(open_lots), realized


QUANTITY = st.one_of(st.integers(1, 300).map(float), st.integers(1, 40).map(lambda k: k * 0.25))
FILL = st.tuples(
    st.sampled_from(["AAA", "BBB", "CCC"]),
    st.sampled_from(["BUY", "SELL"]),
    QUANTITY,
    st.integers(100, 20_000).map(lambda c: c / 100),  # price
    st.integers(0, 500).map(lambda c: c / 100),  # commission
)


@st.composite
def ledgers(draw: st.DrawFn) -> pd.DataFrame:
    rows = draw(st.lists(FILL, max_size=40))
    gaps = draw(st.lists(st.integers(1, 3), min_size=len(rows), max_size=len(rows)))
    ids = np.cumsum(gaps).tolist()
    fills = make_fills([(i, *row) for i, row in zip(ids, rows, strict=True)])
    order = draw(st.permutations(range(len(fills))))
    return fills.iloc[list(order)].reset_index(drop=True)


@settings(max_examples=200, deadline=None)
@given(fills=ledgers(), marks=st.lists(st.integers(100, 20_000).map(lambda c: c / 100), min_size=3, max_size=3))
def test_vectorised_fifo_matches_reference_loop(fills: pd.DataFrame, marks: list[float]) -> None:
    pieces, open_lots, realized = reference_fifo(fills)
    result = fifo_lots(fills)

    got = result.closed.sort_values(["close_fill_id", "open_fill_id"])
    expected = sorted(pieces, key=lambda p: (p[2], p[1]))
    assert list(zip(got["symbol"], got["open_fill_id"], got["close_fill_id"], strict=True)) == [p[:3] for p in expected]
    assert got["quantity"].tolist() == pytest.approx([p[3] for p in expected], abs=1e-9)
    assert got["gross_pnl"].tolist() == pytest.approx([p[4] for p in expected], abs=1e-6)

    lots = result.open_lots
    sign = np.where(lots["direction"] == "long", 1.0, -1.0).tolist()
    got_lots = sorted(zip(lots["symbol"], lots["fill_id"], sign, lots["quantity"], lots["price"], strict=True))
    assert [lot[:3] for lot in got_lots] == [lot[:3] for lot in open_lots]
    assert [q for lot in got_lots for q in lot[3:]] == pytest.approx([q for lot in open_lots for q in lot[3:]])
    assert result.realized_pnl == pytest.approx(realized, abs=1e-6)

    # every trade is a fully closed lot: its pieces sum to its quantity and its net = gross − commission
    for trade in result.trades.itertuples():
        mine = result.closed[result.closed["open_fill_id"] == trade.open_fill_id]
        assert mine["quantity"].sum() == pytest.approx(trade.quantity)
        assert trade.gross_pnl == pytest.approx(mine["gross_pnl"].sum(), abs=1e-6)
    assert (result.trades["net_pnl"] == result.trades["gross_pnl"] - result.trades["commission"]).all()

    # accounting identity and position quantities
    prices = dict(zip(["AAA", "BBB", "CCC"], marks, strict=True))
    metrics = performance_metrics(
        fills,
        cash=ledger_cash(fills),
        initial_cash=INITIAL,
        marks=prices,
        snapshots=pd.DataFrame(),
        as_of="2024-06-03",
    )
    assert metrics.realized_pnl + metrics.unrealized_pnl == pytest.approx(metrics.equity - INITIAL, abs=1e-6)
    positions = position_table(fills, prices)
    signed = np.where(fills["side"] == "BUY", 1.0, -1.0) * fills["quantity"]
    held = signed.groupby(fills["symbol"]).sum()
    held = held[held.abs() > 1e-9]
    assert positions["quantity"].to_dict() == pytest.approx(held.to_dict())
    identity = positions["market_value"] - positions["cost_basis"]
    assert positions["unrealized_pnl"].tolist() == pytest.approx(identity.tolist(), abs=1e-6)


def test_large_ledger_matches_reference_loop() -> None:
    rng = np.random.default_rng(7)
    n = 3_000
    rows = [
        (
            i + 1,
            f"S{rng.integers(30):02d}",
            "BUY" if rng.random() < 0.5 else "SELL",
            int(rng.integers(1, 20)) * 10,
            round(float(rng.uniform(5, 500)), 2),
            round(float(rng.uniform(0, 3)), 2),
        )
        for i in range(n)
    ]
    fills = make_fills(rows)
    pieces, open_lots, realized = reference_fifo(fills)
    result = fifo_lots(fills)
    assert len(result.closed) == len(pieces)
    assert len(result.open_lots) == len(open_lots)
    assert result.realized_pnl == pytest.approx(realized, rel=1e-12, abs=1e-6)
    expected = sorted(pieces, key=lambda p: (p[2], p[1]))
    assert result.closed["gross_pnl"].to_numpy() == pytest.approx([p[4] for p in expected], abs=1e-6)


# ------------------------------------------------------------------------------------------------ statistics


def test_trade_statistics_without_trades() -> None:
    stats = trade_statistics(fifo_lots(make_fills([(1, "X", "BUY", 10, 10, 0)])).trades)
    assert (stats.n_closed_trades, stats.n_winners, stats.n_losers) == (0, 0, 0)
    for name in ("win_rate", "profit_factor", "average_win", "average_loss", "largest_win", "largest_loss"):
        assert math.isnan(getattr(stats, name)), name
    assert math.isnan(stats.expectancy)
    assert stats.to_dict()["win_rate"] is None


def test_trade_statistics_only_winners() -> None:
    stats = trade_statistics(pd.DataFrame({"net_pnl": [10.0, 30.0]}))
    assert stats.win_rate == 1.0
    assert stats.profit_factor == math.inf
    assert (stats.average_win, stats.largest_win, stats.expectancy) == (20.0, 30.0, 20.0)
    assert math.isnan(stats.average_loss) and math.isnan(stats.largest_loss)
    assert stats.to_dict()["profit_factor"] == "inf"
    json.dumps(stats.to_dict(), allow_nan=False)


def test_trade_statistics_zero_pnl_trade_is_a_trade_not_a_win() -> None:
    stats = trade_statistics(pd.DataFrame({"net_pnl": [0.0, 10.0, -5.0, -15.0]}))
    assert (stats.n_closed_trades, stats.n_winners, stats.n_losers) == (4, 1, 2)
    assert stats.win_rate == 0.25
    assert stats.profit_factor == 10.0 / 20.0
    assert (stats.average_loss, stats.largest_loss) == (-10.0, -15.0)
    assert stats.expectancy == pytest.approx(-2.5)
    only_zero = trade_statistics(pd.DataFrame({"net_pnl": [0.0]}))
    assert only_zero.win_rate == 0.0 and math.isnan(only_zero.profit_factor)
    assert trade_statistics(pd.DataFrame({"net_pnl": [-1.0]})).profit_factor == 0.0


def test_trade_statistics_refuses_bad_input() -> None:
    with pytest.raises(ConfigError, match="net_pnl"):
        trade_statistics(pd.DataFrame({"pnl": [1.0]}))
    with pytest.raises(ConfigError, match="NaN"):
        trade_statistics(pd.DataFrame({"net_pnl": [1.0, np.nan]}))


# ------------------------------------------------------------------------------------------------ metrics


def hand_metrics(snapshots: pd.DataFrame, as_of: str = "2024-06-05", mark: float = 9.0) -> PerformanceMetrics:
    fills = make_fills(HAND)
    return performance_metrics(
        fills, cash=ledger_cash(fills), initial_cash=INITIAL, marks={"AAA": mark}, snapshots=snapshots, as_of=as_of
    )


def test_metrics_identity_and_values_by_hand() -> None:
    m = hand_metrics(pd.DataFrame())
    # cash = 100000 − 1000 − 600 + 1320 + 270 + 400 − 5.5 = 100384.5; short 40 marked at 9: −360
    assert m.cash == pytest.approx(100_384.5)
    assert (m.long_value, m.short_value) == (0.0, -360.0)
    assert m.equity == pytest.approx(100_024.5)
    assert (m.realized_pnl, m.unrealized_pnl) == (pytest.approx(-15.5), pytest.approx(40.0))
    assert m.total_pnl == pytest.approx(24.5) == m.realized_pnl + m.unrealized_pnl
    assert m.gross_exposure == pytest.approx(360 / 100_024.5)
    assert m.net_exposure == pytest.approx(-360 / 100_024.5)
    assert (m.n_trades, m.n_closed_trades, m.n_positions) == (5, 2, 1)
    assert m.win_rate == 0.5
    assert m.traded_value == pytest.approx(1000 + 600 + 1320 + 270 + 400)
    assert m.commissions == pytest.approx(5.5)
    assert m.turnover == pytest.approx(400 / 100_024.5)  # only fill 5 has bar_date 2024-06-05
    assert m.as_of == pd.Timestamp("2024-06-05")


def test_daily_pnl_without_snapshots_is_against_initial_cash() -> None:
    m = hand_metrics(pd.DataFrame(columns=["equity"], index=pd.DatetimeIndex([], name="date")))
    assert m.daily_pnl == pytest.approx(24.5)
    assert (m.peak_equity, m.current_drawdown) == (pytest.approx(100_024.5), 0.0)


def test_daily_pnl_against_the_previous_snapshot() -> None:
    snapshots = pd.DataFrame(
        {"equity": [100_900.0, 100_010.0, 1.0, 2.0]},
        index=pd.DatetimeIndex(["2024-06-03", "2024-06-04", "2024-06-05", "2024-06-06"], name="date"),
    ).iloc[[1, 0, 3, 2]]  # unsorted; today's and later snapshots are ignored
    m = hand_metrics(snapshots)
    assert m.daily_pnl == pytest.approx(100_024.5 - 100_010.0)
    assert m.peak_equity == 100_900.0
    assert m.current_drawdown == pytest.approx(1 - 100_024.5 / 100_900.0)
    assert m.to_dict()["as_of"] == "2024-06-05"
    json.dumps(m.to_dict(), allow_nan=False)


def test_drawdown_is_zero_at_a_new_peak_and_positive_below() -> None:
    snapshots = pd.DataFrame({"equity": [99_000.0]}, index=pd.DatetimeIndex(["2024-06-04"], name="date"))
    high = hand_metrics(snapshots, mark=5.0)  # short 40 marked at 5: unrealized +200
    assert high.peak_equity == pytest.approx(high.equity) and high.current_drawdown == 0.0
    low = hand_metrics(snapshots, mark=20.0)  # unrealized 40·(10 − 20) = −400: equity 99584.5
    assert low.equity == pytest.approx(99_584.5)
    assert low.peak_equity == INITIAL
    assert low.current_drawdown == pytest.approx(1 - 99_584.5 / INITIAL)
    assert low.daily_pnl == pytest.approx(584.5)


def test_missing_mark_names_the_symbols() -> None:
    fills = make_fills([(1, "AAA", "BUY", 10, 10, 0), (2, "BBB", "SELL", 5, 20, 0), (3, "CCC", "BUY", 1, 5, 0)])
    with pytest.raises(ConfigError, match=r"BBB, CCC"):
        position_table(fills, {"AAA": 10.0})
    with pytest.raises(ConfigError, match="CCC"):
        performance_metrics(
            fills,
            cash=0.0,
            initial_cash=INITIAL,
            marks={"AAA": 1, "BBB": 2, "CCC": np.nan},
            snapshots=None,
            as_of="2024-06-03",
        )
    # a symbol that is flat again needs no mark
    flat = make_fills([(1, "AAA", "BUY", 10, 10, 0), (2, "AAA", "SELL", 10, 11, 0)])
    assert position_table(flat, {}).empty


def test_empty_ledger() -> None:
    fills = make_fills([])
    result = fifo_lots(fills)
    assert result.closed.empty and result.open_lots.empty and result.trades.empty
    assert tuple(result.trades.columns) == TRADE_COLUMNS
    assert result.realized_pnl == 0.0
    m = performance_metrics(
        fills, cash=INITIAL, initial_cash=INITIAL, marks={}, snapshots=pd.DataFrame(), as_of="2024-06-03"
    )
    assert (m.equity, m.total_pnl, m.n_trades, m.n_positions, m.turnover) == (INITIAL, 0.0, 0, 0, 0.0)
    assert m.to_dict()["win_rate"] is None


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("side", "HOLD", "BUY"),
        ("quantity", 0.0, "quantity"),
        ("price", -1.0, "price"),
        ("commission", -0.5, "commission"),
        ("fill_id", 1, "more than once"),
    ],
)
def test_bad_fills_are_refused(column: str, value: object, message: str) -> None:
    fills = make_fills(HAND)
    fills.loc[1, column] = value
    with pytest.raises(ConfigError, match=message):
        fifo_lots(fills)


def test_missing_columns_and_bad_metrics_arguments() -> None:
    with pytest.raises(ConfigError, match="price"):
        fifo_lots(make_fills(HAND).drop(columns="price"))
    fills = make_fills(HAND)
    with pytest.raises(ConfigError, match="initial_cash"):
        performance_metrics(fills, cash=0.0, initial_cash=0.0, marks={"AAA": 9}, snapshots=None, as_of="2024-06-05")
    with pytest.raises(ConfigError, match="tz-naive"):
        performance_metrics(
            fills,
            cash=0.0,
            initial_cash=1.0,
            marks={"AAA": 9},
            snapshots=None,
            as_of=pd.Timestamp("2024-06-05", tz="UTC"),
        )
    with pytest.raises(ConfigError, match="bar_date"):
        performance_metrics(
            fills.drop(columns="bar_date"),
            cash=0.0,
            initial_cash=1.0,
            marks={"AAA": 9},
            snapshots=None,
            as_of="2024-06-05",
        )

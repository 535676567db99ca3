"""``ExecutionManager``: Layer 4's front door (the seed's ``execute_trade``, ``get_performance_metrics`` and
``check_for_drift``).

An order's path (:meth:`ExecutionManager.execute_trade`), in one write transaction for the paper broker:

1. Idempotency: an order with the same ``client_order_id`` in the account is returned as it is (a request that
   differs from the stored one is refused). Nothing new is written.
2. Pre-trade checks, in this order; the first that fails rejects the order (stored ``new → rejected`` with the
   reason; it never reaches the broker):

   - the kill switch is on;
   - the drawdown from the equity peak has reached ``[RISK] max_drawdown``: the kill switch is set (automatic)
     in the same transaction;
   - the quantity is not a positive number;
   - the symbol has no stored price (unknown to the store);
   - a buy needs more cash than is free: ``q·p + commission > cash − reserved`` where ``p`` is the limit, or
     the latest close moved by the slippage for a market order, and ``reserved`` prices the working buy orders
     the same way (a cash account: no margin);
   - with ``[EXECUTION] allow_short = false``, a sell of more than is held net of working sell orders;
   - ``[RISK]`` limits after the trade, counting working orders, for a trade that INCREASES exposure (a trade
     that reduces a position is never blocked by them): ``|position·p| / equity ≤ max_position_weight`` and
     ``gross / equity ≤ max_leverage`` (gross = Σ|position·close|). The VaR limit is the Sentinel's portfolio
     check, not a per-order one.
3. The broker: the paper broker answers at once (:mod:`ravenshire.execution.broker`); the order becomes
   ``accepted`` or ``rejected`` and each execution is booked (:func:`ravenshire.execution.ledger.book_new_order`:
   fill, position, cash and cash-ledger row together).

Working orders (a resting limit, what a volume cap left) are advanced by :meth:`ExecutionManager.process_open_orders`
as newer bars arrive (the daily data cycle calls it).

Equity is ``cash + Σ position·close`` at the latest stored closes (raw, unadjusted); the drawdown's peak is the
largest of the initial cash and every stored daily snapshot's equity.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, func, select

from ravenshire.config import Config, load_config
from ravenshire.errors import ConfigError
from ravenshire.execution import ledger
from ravenshire.execution.broker import Bar, Broker, BrokerReply, Execution, commission_for, make_broker
from ravenshire.execution.killswitch import (
    RISK_ACTOR,
    KillSwitchState,
    clear_kill_switch,
    current_state,
    record_event,
    set_kill_switch,
)
from ravenshire.execution.ledger import Account, ReconciliationReport
from ravenshire.execution.market import StoreBars
from ravenshire.execution.orders import (
    Order,
    OrderStatus,
    is_positive_number,
    parse_order_type,
    parse_side,
)
from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s
from ravenshire.store.bulk import upsert_statement
from ravenshire.store.dates import date_key, from_date_keys

__all__ = ["ExecutionManager"]

_CLIENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$")
ORIGINS = ("api", "cli", "ui", "agent", "scheduler")
#: A symbol whose newest bar is more than this many sessions behind the store's newest is not traded.
STALE_SESSIONS = 3


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _business_date(value: Any) -> pd.Timestamp:
    if isinstance(value, bool | int | float | np.integer | np.floating):
        raise ConfigError(f"date must be YYYY-MM-DD (text, a date or a Timestamp), got the number {value!r}")
    try:
        stamp = pd.Timestamp(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"date must be YYYY-MM-DD, got {value!r}") from exc
    if pd.isna(stamp):
        raise ConfigError(f"date must be YYYY-MM-DD, got {value!r}")
    return stamp.tz_localize(None).normalize() if stamp.tzinfo is not None else stamp.normalize()


def _finite_or_none(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _pct(x: float) -> str:
    return f"{100 * x:.1f} %"


@dataclasses.dataclass
class _Book:
    """What the pre-trade checks see, kept current through a basket of orders in one transaction: cash,
    positions, working orders, the latest bars, the equity peak and the kill switch."""

    account: Account
    cash: float
    positions: dict[str, float]
    working: list[ledger.Working]
    bars: dict[str, Bar | None]
    peak: float
    switch: KillSwitchState
    newest: pd.Timestamp | None = None  # the newest bar date in the store

    @property
    def equity(self) -> float:
        return self.cash + sum(
            q * b.close for sym, q in self.positions.items() if (b := self.bars.get(sym)) is not None
        )

    @property
    def drawdown(self) -> float:
        return 0.0 if self.peak <= 0 else max(0.0, 1.0 - self.equity / self.peak)

    def value(self, symbol: str, quantity: float) -> float:
        bar = self.bars.get(symbol)
        return 0.0 if bar is None else quantity * bar.close

    def pending(self) -> dict[tuple[str, str], float]:
        """(symbol, side) → shares still to fill on working orders."""
        out: dict[tuple[str, str], float] = {}
        for w in self.working:
            out[(w.symbol, w.side)] = out.get((w.symbol, w.side), 0.0) + w.remaining
        return out

    def record(self, plan: ledger.PlannedOrder) -> None:
        """Bring the book up to date with a planned order and its fills."""
        order = plan.order
        if plan.booked:
            self.positions[order.symbol] = self.positions.get(order.symbol, 0.0) + plan.fills_shares()
            self.cash += plan.fills_cash()
        if order.is_open:
            limit_value = None if order.limit_price is None else order.remaining * order.limit_price
            self.working.append(ledger.Working(order.symbol, order.side, order.remaining, limit_value, 1))


class ExecutionManager:
    """Orders, the ledger, live performance, the kill switch and drift checks of one account.

    Parameters
    ----------
    config:
        The configuration; default :func:`ravenshire.config.load_config`. ``[EXECUTION]`` names the broker, the
        account and the cost model; ``[RISK]`` gives the pre-trade limits.
    engine:
        The store's engine; default ``init_db(config.store_url)``.
    broker:
        A :class:`~ravenshire.execution.broker.Broker`; default the one ``[EXECUTION] broker`` names (paper).
        A live broker is refused unless ``[EXECUTION] live_trading = true``.
    origin:
        Who sends orders through this manager, stored with each: ``api``, ``cli``, ``ui``, ``agent``,
        ``scheduler``.
    now:
        A clock (UTC) for the stored times; default the system clock. Tests pin it.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: Engine | None = None,
        broker: Broker | None = None,
        origin: str = "api",
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.engine = engine or init_db(self.config.store_url, busy_timeout_ms=self.config.store.busy_timeout_ms)
        if origin not in ORIGINS:
            raise ConfigError(f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
        self.origin = origin
        self._now = now or _utcnow
        self.bars = StoreBars(self.engine, self.config)
        self.broker: Broker = broker or make_broker(self.config.execution, self.bars.latest, self.bars.bars_after)
        if self.broker.live and not self.config.execution.live_trading:
            raise ConfigError(
                f"broker {self.broker.name} trades live; set [EXECUTION] live_trading = true to allow it "
                "(paper trading is the default)"
            )
        self.account_id = self.config.execution.account_id
        self._drift: Any = None

    # ------------------------------------------------------------------ orders
    def execute_trade(
        self,
        symbol: str,
        side: str,
        quantity: float,
        price: float | None = None,
        order_type: str | None = None,
        client_order_id: str | None = None,
        *,
        cycle_id: str | None = None,
        origin: str | None = None,
    ) -> Order:
        """Check, send and book one order; returns it as stored (look at ``status`` and ``reason``).

        Parameters
        ----------
        symbol, side, quantity:
            What to trade: ``side`` is BUY or SELL, ``quantity`` a number of shares (> 0; a non-positive one is
            stored as rejected).
        price, order_type:
            ``order_type`` is ``"market"`` or ``"limit"``; when omitted, a given ``price`` makes it a limit order
            at that price (the seed's call), no price a market order.
        client_order_id:
            The idempotency key (1–64 of letters, digits, ``_.:-``): submitting it again returns the first order
            and creates nothing. Default a fresh random id.
        cycle_id:
            The agent cycle the order belongs to, stored with it.
        origin:
            Overrides the manager's origin for this order.

        Raises
        ------
        ConfigError
            The request cannot be an order at all (side, type, price, symbol format, id), or the
            ``client_order_id`` was used for a different order.
        """
        request = self._request(symbol, side, quantity, price, order_type, client_order_id, cycle_id, origin)
        return self._execute([request], generated={request["client_order_id"]} if client_order_id is None else set())[0]

    def execute_trades(self, orders: Sequence[Mapping[str, Any]]) -> list[Order]:
        """A basket of orders (each a mapping of :meth:`execute_trade`'s arguments) checked and booked in ONE
        transaction, in the given order: each order's checks see the cash, positions and working orders the
        earlier ones left. All are validated before anything is written; the orders are returned in the same
        order. This is how the agent cycle sends its orders."""
        allowed = {"symbol", "side", "quantity", "price", "order_type", "client_order_id", "cycle_id", "origin"}
        requests = []
        for k, spec in enumerate(orders):
            if not isinstance(spec, Mapping):
                raise ConfigError(f"order {k} of the basket is not a mapping of execute_trade's arguments")
            unknown = sorted(set(spec) - allowed)
            if unknown:
                raise ConfigError(f"order {k} of the basket has unknown field(s) {', '.join(unknown)}")
            try:
                requests.append(
                    self._request(*(spec.get(key) for key in ("symbol", "side", "quantity", "price",
                                                             "order_type", "client_order_id", "cycle_id", "origin")))
                )  # fmt: skip
            except ConfigError as exc:
                raise ConfigError(f"order {k} of the basket: {exc}") from exc
        ids = [r["client_order_id"] for r in requests]
        if len(set(ids)) != len(ids):
            raise ConfigError("the basket uses a client_order_id twice")
        generated = {
            r["client_order_id"]
            for r, spec in zip(requests, orders, strict=True)
            if spec.get("client_order_id") is None
        }
        return self._execute(requests, generated=generated)

    def _execute(self, requests: Sequence[Mapping[str, Any]], *, generated: set[str]) -> list[Order]:
        """Check and book ``requests`` in one transaction: each is decided in memory against the running book
        (the paper broker answers at once), then all are written in bulk before the commit. ``generated`` are
        client order ids made here (fresh random ones): they need no idempotency lookup."""
        now = self._now()
        out: list[Order | None] = [None] * len(requests)
        unsent: list[int] = []
        with write(self.engine) as conn:
            given = [r["client_order_id"] for r in requests if r["client_order_id"] not in generated]
            existing = ledger.orders_by_client_ids(conn, self.account_id, given) if given else {}
            fresh = []
            for k, request in enumerate(requests):
                found = existing.get(request["client_order_id"])
                if found is not None:
                    self._same_request(found, request)
                    out[k] = found
                else:
                    fresh.append(k)
            if not fresh:
                return [o for o in out if o is not None]
            book = self._book_state(conn, now, [requests[k]["symbol"] for k in fresh])
            # The drawdown halt is decided once, on the book before the basket: the basket's own fills move the
            # equity by their costs only, and a halt decided half-way would leave the basket's earlier orders
            # working under it.
            if not book.switch.active:
                halted = self._halt_on_drawdown(conn, book)
                if halted is not None:
                    book.switch = halted
                    book.working.clear()  # the halt cancelled them
            planned: list[ledger.PlannedOrder] = []
            for k in fresh:
                request = requests[k]
                reason, is_demo = self._pre_trade(conn, book, request)
                values = {**request, "account": self.account_id, "broker": self.broker.name, "is_demo": is_demo}
                if reason is None and not self.broker.synchronous:
                    out[k] = ledger.insert_order(
                        conn, {**values, "reason": None, "broker_order_id": None, "last_bar_date": None}, now
                    )
                    limit = request["limit_price"]
                    book.working.append(
                        ledger.Working(
                            request["symbol"],
                            request["side"],
                            request["quantity"],
                            None if limit is None else limit * request["quantity"],
                            1,
                        )
                    )
                    unsent.append(k)
                    continue
                if reason is not None:
                    plan = ledger.plan_new_order(values, now, reject=reason)
                else:
                    plan = ledger.plan_new_order(values, now, reply=self.broker.submit(ledger.draft_order(values, now)))
                book.record(plan)
                planned.append(plan)
            written = iter(ledger.write_new_orders(conn, planned, now))
            for k in fresh:
                if out[k] is None:
                    out[k] = next(written)[0]
        for k in unsent:  # an asynchronous broker: send what was committed as new
            order = out[k]
            assert order is not None
            out[k] = self._send(order)
        return [o for o in out if o is not None]

    def _request(
        self,
        symbol: Any,
        side: Any,
        quantity: Any,
        price: Any,
        order_type: Any,
        client_order_id: Any,
        cycle_id: Any,
        origin: Any,
    ) -> dict[str, Any]:
        sym = symbol.strip().upper() if isinstance(symbol, str) else None
        if not sym or not _SYMBOL.match(sym):
            raise ConfigError(
                f"symbol must be a ticker such as AAPL (letters, digits, '.', '-', '^', '='), got {symbol!r}"
            )
        side_ = parse_side(side)
        if price is not None and not is_positive_number(price):
            raise ConfigError(f"price must be a positive number, got {price!r}")
        kind = parse_order_type(order_type, price)
        if isinstance(quantity, bool) or not isinstance(quantity, int | float | np.integer | np.floating):
            raise ConfigError(f"quantity must be a number of shares, got {quantity!r}")
        qty = float(quantity)
        if not math.isfinite(qty):
            raise ConfigError(f"quantity must be a finite number of shares, got {quantity!r}")
        if client_order_id is None:
            cid = uuid.uuid4().hex
        elif isinstance(client_order_id, str) and _CLIENT_ID.match(client_order_id):
            cid = client_order_id
        else:
            raise ConfigError(f"client_order_id must be 1–64 letters, digits or '_.:-', got {client_order_id!r}")
        who = self.origin if origin is None else origin
        if who not in ORIGINS:
            raise ConfigError(f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}")
        if cycle_id is not None and (not isinstance(cycle_id, str) or len(cycle_id) > 64):
            raise ConfigError(f"cycle_id must be text of at most 64 characters, got {cycle_id!r}")
        return {
            "client_order_id": cid,
            "symbol": sym,
            "side": side_,
            "quantity": qty,
            "order_type": kind,
            "limit_price": None if price is None else float(price),
            "origin": who,
            "cycle_id": cycle_id,
        }

    @staticmethod
    def _same_request(order: Order, request: Mapping[str, Any]) -> None:
        differs = [
            f"{key} {getattr(order, key)!r} ≠ {request[key]!r}"
            for key in ("symbol", "side", "quantity", "order_type", "limit_price")
            if getattr(order, key) != request[key]
        ]
        if differs:
            raise ConfigError(
                f"client_order_id {order.client_order_id} is order {order.id} already, a different order "
                f"({'; '.join(differs)}); use a new id for a new order"
            )

    # ------------------------------------------------------------------ pre-trade checks
    def _book_state(self, conn: Connection, now: dt.datetime, symbols: Sequence[str]) -> _Book:
        head = ledger.book_head(conn, self.config.execution, now)
        account = head.account
        held, working = ledger.holdings(conn, account.id)
        wanted = sorted(set(held) | set(symbols) | {w.symbol for w in working})
        bars = self.bars.latest_on(conn, wanted, stamp=head.stamp)
        if head.switch_row is None:
            switch = KillSwitchState(active=False)
        else:
            active, actor, reason, at, automatic = head.switch_row
            switch = KillSwitchState(active=active, actor=actor, reason=reason, at=at, automatic=automatic)
        book = _Book(
            account=account,
            cash=account.cash,
            positions=held,
            working=working,
            bars=bars,
            peak=account.initial_cash if head.peak is None else max(account.initial_cash, head.peak),
            switch=switch,
            newest=head.newest,
        )
        book.peak = max(book.peak, book.equity)
        return book

    def _auto_halt_armed(self, conn: Connection, state: KillSwitchState) -> bool:
        """False after a person cleared the switch while the drawdown was past the limit (recorded with the
        clear), until a snapshot made after the clear shows the drawdown back under the limit (see
        :mod:`ravenshire.execution.killswitch`)."""
        if state.active or state.at is None:
            return not state.active
        k = s.kill_switch_events
        at_clear = conn.execute(select(k.c.drawdown).order_by(k.c.id.desc()).limit(1)).scalar()
        limit = self.config.risk.max_drawdown
        if at_clear is None or at_clear < limit:
            return True
        snap = s.equity_snapshots
        recovered = conn.execute(
            select(func.count())
            .select_from(snap)
            .where(snap.c.account == self.account_id, snap.c.created_at > state.at, snap.c.drawdown < limit)
        ).scalar_one()
        return bool(recovered)

    def _halt_on_drawdown(self, conn: Connection, book: _Book) -> KillSwitchState | None:
        """Set the kill switch when the drawdown has reached ``[RISK] max_drawdown``; returns the new state."""
        limit = self.config.risk.max_drawdown
        if book.drawdown < limit:
            return None
        state = current_state(conn)
        if state.active or not self._auto_halt_armed(conn, state):
            return None
        reason = f"drawdown {_pct(book.drawdown)} reached [RISK] max_drawdown {_pct(limit)}"
        return record_event(
            conn, active=True, actor=RISK_ACTOR, reason=reason, automatic=True, now=self._now(), drawdown=book.drawdown
        )

    def _pre_trade(self, conn: Connection, book: _Book, req: Mapping[str, Any]) -> tuple[str | None, bool]:
        """The first failed check's reason (None when all pass), and whether the symbol's price is demo data."""
        symbol, side, qty = req["symbol"], req["side"], req["quantity"]
        bar = book.bars.get(symbol)
        is_demo = bool(bar.is_demo) if bar is not None else self.config.is_demo
        if book.switch.active:
            return book.switch.message, is_demo
        if not qty > ledger.TOLERANCE:
            return f"quantity must be a positive number of shares (above {ledger.TOLERANCE:g}), got {qty:g}", is_demo
        if bar is None:
            return (
                f"unknown symbol {symbol}: no stored prices (fetch it first: python -m ravenshire fetch {symbol})",
                is_demo,
            )
        unpriced = sorted(sym for sym in book.positions if book.bars.get(sym) is None)
        if unpriced:
            return (
                f"no stored price for the held position(s) {', '.join(unpriced)}: equity cannot be measured "
                "(has [DATA] source or symbol_sources changed?)",
                is_demo,
            )
        if book.newest is not None and np.busday_count(bar.date.date(), book.newest.date()) > STALE_SESSIONS:
            return (
                f"stale price: the newest bar of {symbol} is {bar.date.date()} while the store has bars to "
                f"{book.newest.date()}; fetch it first (python -m ravenshire fetch {symbol})",
                is_demo,
            )
        slip = self.config.execution.slippage_bps / 1e4
        if req["limit_price"] is not None:
            price = req["limit_price"]
        else:
            price = bar.close * (1 + slip if side == "BUY" else 1 - slip)
        pending = book.pending()
        reason = self._funds_check(book, symbol, side, qty, price, pending)
        if reason is None:
            # Exposure is valued at the expected fill price: the close for a market order or a limit through the
            # market, the limit for a resting one (it fills only once the price has reached it).
            limit = req["limit_price"]
            if limit is None:
                value_price = bar.close
            else:
                value_price = min(bar.close, limit) if side == "BUY" else max(bar.close, limit)
            reason = self._limit_check(book, symbol, side, qty, value_price, pending)
        return reason, is_demo

    def _funds_check(
        self,
        book: _Book,
        symbol: str,
        side: str,
        qty: float,
        price: float,
        pending: Mapping[tuple[str, str], float],
    ) -> str | None:
        """Cash for a buy (working buys reserved); shares for a sell when short selling is off."""
        execution = self.config.execution
        if side == "BUY":
            slip = execution.slippage_bps / 1e4
            reserved = 0.0
            for w in book.working:
                if w.side != "BUY":
                    continue
                if w.limit_value is not None:
                    value = w.limit_value
                else:
                    pbar = book.bars.get(w.symbol)
                    value = w.remaining * pbar.close * (1 + slip) if pbar is not None else 0.0
                # each working order pays at least the minimum commission
                reserved += value + max(w.n_orders * execution.min_commission, execution.commission_bps / 1e4 * value)
            need = qty * price + commission_for(qty * price, execution)
            cash = book.cash
            free = cash - reserved
            if need > free + 1e-9:
                return (
                    f"insufficient cash: {side} {qty:g} {symbol} at ~{price:,.2f} needs {need:,.2f}; free cash is "
                    f"{free:,.2f} ({cash:,.2f} less {reserved:,.2f} reserved by working orders)"
                )
        elif not execution.allow_short:
            held = book.positions.get(symbol, 0.0) - pending.get((symbol, "SELL"), 0.0)
            if qty > held + 1e-9:
                return (
                    f"insufficient position: selling {qty:g} {symbol} but {max(held, 0.0):g} is held net of working "
                    "sell orders, and [EXECUTION] allow_short is false"
                )
        return None

    def _limit_check(
        self,
        book: _Book,
        symbol: str,
        side: str,
        qty: float,
        price: float,
        pending: Mapping[tuple[str, str], float],
    ) -> str | None:
        """``[RISK]`` position weight and gross leverage in the WORST case after the trade: this order and every
        working order on the same side of each symbol filled. A trade that reduces the actual position (this order
        and the working orders on its side together) is never blocked by them."""
        sign = 1.0 if side == "BUY" else -1.0
        position = book.positions.get(symbol, 0.0)
        worst = position + sign * (qty + pending.get((symbol, side), 0.0))
        if abs(worst) <= abs(position) + 1e-12:
            return None
        risk, equity = self.config.risk, book.equity
        if equity <= 0:
            return f"equity is {equity:,.2f}: no trade that adds exposure"
        weight = abs(worst) * price / equity
        if weight > risk.max_position_weight + 1e-12:
            return (
                f"{symbol} would be {_pct(weight)} of equity after this order (with the working orders on its side); "
                f"[RISK] max_position_weight is {_pct(risk.max_position_weight)}"
            )
        gross_others = 0.0
        for sym in set(book.positions) | {w.symbol for w in book.working}:
            if sym == symbol:
                continue
            held = book.positions.get(sym, 0.0)
            exposure = max(abs(held + pending.get((sym, "BUY"), 0.0)), abs(held - pending.get((sym, "SELL"), 0.0)))
            gross_others += abs(book.value(sym, exposure))
        leverage = (gross_others + abs(worst) * price) / equity
        if leverage > risk.max_leverage + 1e-12:
            return (
                f"gross leverage would be {leverage:.2f}× after this order (with the working orders); [RISK] "
                f"max_leverage is {risk.max_leverage:g}×"
            )
        return None

    # ------------------------------------------------------------------ the broker
    def _book(self, conn: Connection, order: Order, reply: BrokerReply, now: dt.datetime) -> Order:
        """Record a broker's reply to ``order`` on ``conn``: acceptance or rejection, then every execution."""
        if order.status == OrderStatus.NEW:
            if not reply.accepted:
                return ledger.transition(
                    conn, order, OrderStatus.REJECTED, now, reason=reply.reason or "rejected by the broker"
                )
            order = ledger.transition(
                conn,
                order,
                OrderStatus.ACCEPTED,
                now,
                broker_order_id=reply.broker_order_id,
                last_bar_date=None if reply.last_bar_date is None else date_key(reply.last_bar_date),
            )
        executions, short_of = self._affordable(conn, order, reply.executions)
        order, _fills = ledger.book_executions(conn, order, executions, now, last_bar_date=reply.last_bar_date)
        if short_of is not None and order.is_open:
            order = ledger.transition(conn, order, OrderStatus.CANCELLED, now, reason=short_of)
        return order

    def _affordable(
        self, conn: Connection, order: Order, executions: Sequence[Execution]
    ) -> tuple[list[Execution], str | None]:
        """The executions of a working BUY that the cash pays for (a cash account: a later bar may cost more than
        the reservation assumed), and why the rest is cancelled (None when all are paid for)."""
        if order.side != "BUY" or not executions:
            return list(executions), None
        cash = ledger.read_account(conn, self.config.execution, self._now()).cash
        paid: list[Execution] = []
        for e in executions:
            cost = e.quantity * e.price + e.commission
            if cost > cash + 1e-9:
                return paid, (
                    f"insufficient cash for the rest: {e.quantity:g} {order.symbol} at {e.price:,.2f} needs "
                    f"{cost:,.2f}, cash is {cash:,.2f}"
                )
            cash -= cost
            paid.append(e)
        return paid, None

    def _send(self, order: Order) -> Order:
        """An asynchronous broker: send the committed ``new`` order, then book the reply in its own transaction."""
        reply = self.broker.submit(order)
        now = self._now()
        with write(self.engine) as conn:
            fresh = ledger.load_order(conn, order.id)
            assert fresh is not None
            if fresh.status != OrderStatus.NEW:  # booked meanwhile (another process resent it)
                return fresh
            return self._book(conn, fresh, reply, now)

    def process_open_orders(self) -> list[Order]:
        """Advance every working order: resend those still ``new`` (left by a crash before the broker answered),
        and ask the broker about the others (the paper broker fills them against bars newer than the last one
        they saw). Returns the orders whose status or filled quantity changed."""
        with read(self.engine) as conn:
            working = ledger.open_orders(conn, self.account_id)
        changed: list[Order] = []
        for order in working:
            now = self._now()
            if order.status == OrderStatus.NEW and not self.broker.synchronous:
                result = self._send(order)
            else:
                reply = self.broker.submit(order) if order.status == OrderStatus.NEW else self.broker.poll(order)
                with write(self.engine) as conn:
                    fresh = ledger.load_order(conn, order.id)
                    if fresh is None or fresh.status != order.status or fresh.filled_quantity != order.filled_quantity:
                        continue  # changed by someone else meanwhile; the next pass sees it
                    if current_state(conn).active:
                        continue
                    result = self._book(conn, fresh, reply, now)
            if (result.status, result.filled_quantity) != (order.status, order.filled_quantity):
                changed.append(result)
        return changed

    def _find(self, conn: Connection, order_id: int | str) -> Order:
        """An order of this account by id (any integer, numpy's too) or client order id."""
        if isinstance(order_id, int | np.integer) and not isinstance(order_id, bool):
            order = ledger.load_order(conn, int(order_id))
        else:
            order = ledger.order_by_client_id(conn, self.account_id, str(order_id))
        if order is None or order.account != self.account_id:
            raise ConfigError(f"no order {order_id!r} in account {self.account_id}")
        return order

    def cancel_order(self, order_id: int | str, *, reason: str = "cancelled by the user") -> Order:
        """Cancel a working order (by id or client order id); ConfigError when there is none, OrderStateError
        when it is already final."""
        now = self._now()
        with write(self.engine) as conn:
            order = self._find(conn, order_id)
            if order.is_open and not self.broker.cancel(order):
                raise ConfigError(f"the broker says order {order.id} is already done; run process_open_orders()")
            return ledger.transition(conn, order, OrderStatus.CANCELLED, now, reason=reason)

    # ------------------------------------------------------------------ the kill switch
    def kill_switch(self) -> KillSwitchState:
        """The kill switch now."""
        with read(self.engine) as conn:
            return current_state(conn)

    def set_kill_switch(self, *, actor: str, reason: str) -> KillSwitchState:
        """Halt trading and cancel working orders (see :mod:`ravenshire.execution.killswitch`)."""
        return set_kill_switch(self.engine, actor=actor, reason=reason, now=self._now())

    def clear_kill_switch(self, *, actor: str, reason: str) -> KillSwitchState:
        """Resume trading."""
        now = self._now()
        return clear_kill_switch(
            self.engine,
            actor=actor,
            reason=reason,
            now=now,
            drawdown=lambda conn: self._book_state(conn, now, []).drawdown,
        )

    # ------------------------------------------------------------------ the ledger
    def account(self) -> Account:
        """The account; one not stored yet (no order so far) is shown as it will be created, with
        ``[EXECUTION] initial_cash``. Read only."""
        with read(self.engine) as conn:
            return ledger.read_account(conn, self.config.execution, self._now())

    def reconcile(self) -> ReconciliationReport:
        """Positions, cash and filled quantities recomputed from the fills, against the stored balances."""
        return ledger.reconcile(self.engine, self.account_id, self.config.execution)

    def get_order(self, order_id: int | str) -> Order:
        """An order by id or client order id."""
        with read(self.engine) as conn:
            return self._find(conn, order_id)

    def orders(self, *, status: str | Sequence[str] | None = None, limit: int = 500) -> pd.DataFrame:
        """The newest ``limit`` orders (optionally of some statuses), newest first: every column of the order."""
        t = s.orders
        query = select(t).where(t.c.account == self.account_id)
        if status is not None:
            wanted = [status] if isinstance(status, str) else list(status)
            bad = [w for w in wanted if w not in {str(x) for x in OrderStatus}]
            if bad:
                raise ConfigError(f"unknown order status {', '.join(bad)}; one of {', '.join(map(str, OrderStatus))}")
            query = query.where(t.c.status.in_(wanted))
        with read(self.engine) as conn:
            rows = conn.execute(query.order_by(t.c.id.desc()).limit(limit)).all()
        columns = [f.name for f in dataclasses.fields(Order)]
        frame = pd.DataFrame([dataclasses.asdict(ledger.order_from_row(r)) for r in rows], columns=columns)
        frame["status"] = frame["status"].astype(str)
        for column in ("created_at", "updated_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        frame["last_bar_date"] = pd.to_datetime(frame["last_bar_date"])
        return frame

    def order_events(self, order_id: int) -> pd.DataFrame:
        """An order's life: at, status, filled_quantity, reason, oldest first."""
        e = s.order_events
        with read(self.engine) as conn:
            rows = conn.execute(
                select(e.c.at, e.c.status, e.c.filled_quantity, e.c.reason)
                .where(e.c.order_id == order_id)
                .order_by(e.c.id)
            ).all()
        frame = pd.DataFrame(rows, columns=["at", "status", "filled_quantity", "reason"])
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    def fills(self, symbols: Sequence[str] | None = None) -> pd.DataFrame:
        """The account's fills, oldest first (see :func:`ravenshire.execution.ledger.fills_frame`)."""
        with read(self.engine) as conn:
            return ledger.fills_frame(conn, self.account_id, symbols)

    def cash_ledger(self, limit: int = 1000) -> pd.DataFrame:
        """The newest cash movements: at, kind, amount, balance, fill_id, note."""
        c = s.cash_ledger
        with read(self.engine) as conn:
            rows = conn.execute(
                select(c.c.at, c.c.kind, c.c.amount, c.c.balance, c.c.fill_id, c.c.note)
                .where(c.c.account == self.account_id)
                .order_by(c.c.id.desc())
                .limit(limit)
            ).all()
        frame = pd.DataFrame(rows, columns=["at", "kind", "amount", "balance", "fill_id", "note"])
        frame["at"] = pd.to_datetime(frame["at"], utc=True)
        return frame

    # ------------------------------------------------------------------ live performance
    def _snapshots(self, conn: Connection) -> pd.DataFrame:
        snap = s.equity_snapshots
        rows = conn.execute(select(snap).where(snap.c.account == self.account_id).order_by(snap.c.date)).all()
        frame = pd.DataFrame(rows, columns=[c.name for c in snap.columns])
        frame.index = from_date_keys(frame["date"].to_numpy(dtype="int64")) if len(frame) else pd.DatetimeIndex([])
        frame.index.name = "date"
        return frame.drop(columns=["date", "account"])

    def _book_at(
        self, conn: Connection, account: Account, fills: pd.DataFrame, when: pd.Timestamp, latest: bool
    ) -> tuple[pd.DataFrame, float, dict[str, float]]:
        """The fills up to the close of ``when``, the cash they leave and the marks of what they hold (the newest
        stored closes when ``latest``, else the closes on or before ``when``)."""
        from ravenshire.execution.performance import QTY_EPS

        fills = fills[fills["bar_date"] <= when]
        sign = fills["side"].map({"BUY": 1.0, "SELL": -1.0}).astype(float)
        shares = (sign * fills["quantity"]).groupby(fills["symbol"]).sum()
        held = sorted(shares.index[shares.abs() > QTY_EPS])  # FIFO's own zero: any open lot needs a mark
        cash = account.initial_cash + float((-sign * fills["quantity"] * fills["price"] - fills["commission"]).sum())
        cash += ledger.transfers(conn, self.account_id, when)
        bars = self.bars.latest_on(conn, held, None if latest else when)
        missing = sorted(sym for sym, bar in bars.items() if bar is None)
        if missing:
            raise ConfigError(
                f"no stored price on or before {when.date()} for the held position(s) {', '.join(missing)}"
            )
        return fills, cash, {sym: bar.close for sym, bar in bars.items() if bar is not None}

    def _previous_session(self, when: pd.Timestamp) -> pd.Timestamp | None:
        from ravenshire.data.calendar import sessions

        before = sessions(when - pd.Timedelta(days=14), when - pd.Timedelta(days=1), self.config.data.exchange)
        return before[-1] if len(before) else None

    def _metrics(self, conn: Connection, as_of: pd.Timestamp | None) -> Any:
        """The book at the close of ``as_of`` (default the newest stored bar date), rebuilt from the fills up to
        that date — the record — so a past date is marked with the positions and cash it had then. ``daily_pnl``
        is against the previous session's close: its stored snapshot, or the book rebuilt at that close when no
        snapshot was stored that day."""
        from ravenshire.execution.performance import performance_metrics

        account = ledger.read_account(conn, self.config.execution, self._now())
        all_fills = ledger.fills_frame(conn, self.account_id)
        when = as_of if as_of is not None else self.bars.latest_date()
        if when is None:
            when = pd.Timestamp(self._now().date())
        fills, cash, marks = self._book_at(conn, account, all_fills, when, latest=as_of is None)
        snapshots = self._snapshots(conn)
        previous = self._previous_session(when)
        if previous is not None and previous not in snapshots.index:
            _, prev_cash, prev_marks = self._book_at(conn, account, all_fills, previous, latest=False)
            prev_fills = all_fills[all_fills["bar_date"] <= previous]
            sign = prev_fills["side"].map({"BUY": 1.0, "SELL": -1.0}).astype(float)
            shares = (sign * prev_fills["quantity"]).groupby(prev_fills["symbol"]).sum()
            equity = prev_cash + sum(float(q) * prev_marks.get(str(sym), 0.0) for sym, q in shares.items())
            extra = pd.DataFrame({"equity": [equity]}, index=pd.DatetimeIndex([previous], name="date"))
            snapshots = pd.concat([snapshots, extra]).sort_index() if len(snapshots) else extra
        return performance_metrics(
            fills, cash=cash, initial_cash=account.initial_cash, marks=marks, snapshots=snapshots, as_of=when
        )

    def get_performance_metrics(self) -> Any:
        """Live performance from the store (so across restarts): equity, cash, exposures, realized and
        unrealized P&L, ``daily_pnl``, ``win_rate`` and ``profit_factor`` over closed FIFO trades, trades,
        turnover and the current drawdown, marked at the latest stored closes. See
        :class:`ravenshire.execution.performance.PerformanceMetrics`."""
        with read(self.engine) as conn:  # one consistent snapshot
            return self._metrics(conn, None)

    def mark_to_market(self, as_of: Any = None) -> Any:
        """Store the daily snapshot (equity, cash, exposures, P&L, drawdown) for ``as_of`` (default the latest
        stored bar date), replacing one already stored for that date, and set the kill switch when the drawdown
        has reached ``[RISK] max_drawdown``. Returns the metrics the snapshot was made from."""
        when = None if as_of is None else _business_date(as_of)
        latest = self.bars.latest_date()
        if when is not None and latest is not None and when > latest:
            raise ConfigError(
                f"cannot mark {when.date()}: the newest stored bar is {latest.date()} (fetch first, or give an "
                "earlier date)"
            )
        now = self._now()
        with write(self.engine) as conn:
            ledger.ensure_account(conn, self.config.execution, now)
            metrics = self._metrics(conn, when)
            key = date_key(metrics.as_of)
            row = {
                "account": self.account_id,
                "date": key,
                "equity": metrics.equity,
                "cash": metrics.cash,
                "long_value": metrics.long_value,
                "short_value": metrics.short_value,
                "gross_exposure": _finite_or_none(metrics.gross_exposure),
                "net_exposure": _finite_or_none(metrics.net_exposure),
                "realized_pnl": metrics.realized_pnl,
                "unrealized_pnl": metrics.unrealized_pnl,
                "daily_pnl": metrics.daily_pnl,
                "peak_equity": metrics.peak_equity,
                "drawdown": metrics.current_drawdown,
                "n_positions": metrics.n_positions,
                "is_demo": self._is_demo(conn),
                "created_at": now,
            }
            conn.execute(upsert_statement(conn, s.equity_snapshots, ["account", "date"], list(row)), row)
            book = self._book_state(conn, now, [])
            book.peak = max(book.peak, metrics.peak_equity)
            self._halt_on_drawdown(conn, book)
        return metrics

    def _is_demo(self, conn: Connection) -> bool:
        f = s.fills
        demo = conn.execute(
            select(func.count()).select_from(f).where(f.c.account == self.account_id, f.c.is_demo.is_(True))
        ).scalar_one()
        return bool(demo) or self.config.is_demo

    def equity_curve(self) -> pd.DataFrame:
        """The stored daily snapshots, indexed by date (see ``equity_snapshots`` in the schema)."""
        with read(self.engine) as conn:
            return self._snapshots(conn)

    def positions(self) -> pd.DataFrame:
        """Open positions with FIFO cost, marks and P&L (see
        :func:`ravenshire.execution.performance.position_table`)."""
        from ravenshire.execution.performance import position_table

        with read(self.engine) as conn:
            held = ledger.positions(conn, self.account_id)
            fills = ledger.fills_frame(conn, self.account_id, sorted(held))
            bars = self.bars.latest_on(conn, sorted(held))
        marks = {sym: bar.close for sym, bar in bars.items() if bar is not None}
        return position_table(fills, marks)

    # ------------------------------------------------------------------ drift
    def drift_monitor(self, subject: str = "strategy") -> Any:
        """The stored drift detectors of ``subject`` (see :class:`ravenshire.execution.drift_store.DriftMonitor`)."""
        from ravenshire.execution.drift_store import DriftMonitor

        return DriftMonitor(self.engine, subject)

    def start_drift_monitor(
        self,
        backtest_returns: Any = None,
        *,
        run_id: int | None = None,
        subject: str = "strategy",
        replace: bool = False,
        **detector_options: Any,
    ) -> Any:
        """Start watching ``subject``'s live returns against its backtest: give the backtest's daily returns, or
        the id of a stored backtest run (its returns are the reference). Refused when already started unless
        ``replace``."""
        if (backtest_returns is None) == (run_id is None):
            raise ConfigError("give either backtest_returns or run_id (a stored backtest run), not both or neither")
        monitor = self.drift_monitor(subject)
        if run_id is not None:
            return monitor.start_from_run(run_id, replace=replace, **detector_options)
        return monitor.start(backtest_returns, replace=replace, **detector_options)

    def drift_events(self, subject: str | None = None, since: Any = None, limit: int = 500) -> pd.DataFrame:
        """Stored drift events, newest first (see :func:`ravenshire.execution.drift_store.drift_events`)."""
        from ravenshire.execution.drift_store import drift_events

        return drift_events(self.engine, subject, since, limit)

    def check_for_drift(self, current_return: float, when: Any = None, *, subject: str = "strategy") -> Any:
        """The seed's call: feed the live strategy's return of ``when`` (a business date; default none) to its
        stored drift detectors; the new state, the statistics and any events are stored in one transaction, and
        a date already checked returns its stored result. Returns a
        :class:`~ravenshire.execution.drift.DriftCheck` (``.drift_detected``, ``.events``). ConfigError when no
        detector was started for ``subject`` (see :meth:`start_drift_monitor`)."""
        return self.drift_monitor(subject).check(current_return, when)

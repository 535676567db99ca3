"""The ledger: orders, fills, positions and cash in the store, and their reconciliation.

Fills are the record. Positions (signed shares per symbol) and the account's cash are balances, updated in the
same transaction as the fill that moves them, with a cash-ledger row per movement::

    position[symbol] = Σ_fills(symbol) sign·quantity                       (sign = +1 buy, −1 sell)
    cash = initial_cash + Σ_fills (−sign·quantity·price − commission) + Σ deposits − Σ withdrawals

:func:`reconcile` recomputes both from the fills (and each order's filled quantity from its fills) and reports
every difference. Every function taking a ``conn`` works inside the caller's transaction and commits nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Float, Row, bindparam, func, insert, literal, select, union_all, update

from ravenshire.config import ExecutionConfig
from ravenshire.errors import ConfigError
from ravenshire.execution.broker import BrokerReply, Execution
from ravenshire.execution.orders import (
    OPEN_STATUSES,
    Fill,
    Order,
    OrderStatus,
    check_transition,
)
from ravenshire.store import read
from ravenshire.store import schema as s
from ravenshire.store.dates import date_key, from_date_keys

__all__ = [
    "Account",
    "ReconciliationReport",
    "book_executions",
    "book_new_order",
    "cancel_open_orders",
    "ensure_account",
    "reconcile",
    "transition",
]

#: Quantities and money closer than this are equal (reconciliation, "is the order done").
TOLERANCE = 1e-6

# Statements of the order path, built once (building a statement costs more than running it on SQLite).
_INSERT_FILL_RETURNING = insert(s.fills).returning(s.fills.c.id, sort_by_parameter_order=True)
_UPDATE_CASH = (
    update(s.accounts)
    .where(s.accounts.c.id == bindparam("p_account"))
    .values(cash=s.accounts.c.cash + bindparam("delta"), updated_at=bindparam("now"))
    .returning(s.accounts.c.cash)
)
_SELECT_ACCOUNT = select(s.accounts).where(s.accounts.c.id == bindparam("account"))
_SELECT_BY_CLIENT_ID = select(s.orders).where(
    s.orders.c.account == bindparam("account"), s.orders.c.client_order_id == bindparam("cid")
)
_SELECT_POSITIONS = select(s.positions.c.symbol, s.positions.c.quantity).where(
    s.positions.c.account == bindparam("account")
)
_REMAINING = s.orders.c.quantity - s.orders.c.filled_quantity
_IS_LIMIT = s.orders.c.limit_price.is_not(None)
# Positions and working orders in one round trip: kind 'P' rows are positions (quantity in ``shares``), kind 'W'
# rows are working orders summed per (symbol, side, limit or market): what the cash and position checks reserve,
# one row per group, so the cost does not grow with the number of resting orders.
_SELECT_HOLDINGS = union_all(
    select(
        literal("P").label("kind"),
        s.positions.c.symbol,
        literal("").label("side"),
        literal(False).label("is_limit"),
        s.positions.c.quantity.label("shares"),
        literal(None, Float).label("limit_value"),
        literal(0).label("n"),
    ).where(s.positions.c.account == bindparam("account")),
    select(
        literal("W"),
        s.orders.c.symbol,
        s.orders.c.side,
        _IS_LIMIT,
        func.sum(_REMAINING),
        func.sum(_REMAINING * s.orders.c.limit_price),
        func.count(),
    )
    .where(s.orders.c.account == bindparam("account"), s.orders.c.status.in_(sorted(map(str, OPEN_STATUSES))))
    .group_by(s.orders.c.symbol, s.orders.c.side, _IS_LIMIT),
)
_INSERT_EVENTS = insert(s.order_events)
_INSERT_CASH = insert(s.cash_ledger)
_POSITION_UPSERTS: dict[str, Any] = {}


def _latest_switch(column: Any) -> Any:
    k = s.kill_switch_events
    return select(column).order_by(k.c.id.desc()).limit(1).scalar_subquery()


# What every order's checks start from, in one statement: the account row, its equity peak, the newest fetch
# (the bars' version) and the kill switch's newest event.
_SELECT_BOOK_HEAD = select(
    s.accounts,
    select(func.max(s.equity_snapshots.c.equity))
    .where(s.equity_snapshots.c.account == s.accounts.c.id)
    .scalar_subquery()
    .label("peak"),
    select(func.max(s.fetches.c.id)).scalar_subquery().label("stamp"),
    select(func.max(s.series.c.last_date)).scalar_subquery().label("newest"),
    _latest_switch(s.kill_switch_events.c.id).label("ks_id"),
    _latest_switch(s.kill_switch_events.c.active).label("ks_active"),
    _latest_switch(s.kill_switch_events.c.actor).label("ks_actor"),
    _latest_switch(s.kill_switch_events.c.reason).label("ks_reason"),
    _latest_switch(s.kill_switch_events.c.at).label("ks_at"),
    _latest_switch(s.kill_switch_events.c.automatic).label("ks_automatic"),
).where(s.accounts.c.id == bindparam("account"))


@dataclasses.dataclass(frozen=True)
class BookHead:
    """The account, its equity peak (None without a snapshot), the newest fetch id and the kill switch's newest
    event (``switch_row``: active, actor, reason, at, automatic; None when never used)."""

    account: Account
    peak: float | None
    stamp: int | None
    switch_row: tuple[bool, str, str, dt.datetime, bool] | None
    newest: pd.Timestamp | None = None


def book_head(conn: Connection, config: ExecutionConfig, now: dt.datetime) -> BookHead:
    """One SELECT for the start of every order's checks (the account is created first when new)."""
    row = conn.execute(_SELECT_BOOK_HEAD, {"account": config.account_id}).first()
    if row is None:
        ensure_account(conn, config, now)
        row = conn.execute(_SELECT_BOOK_HEAD, {"account": config.account_id}).one()
    switch = None
    if row.ks_id is not None:
        switch = (bool(row.ks_active), row.ks_actor, row.ks_reason, _aware(row.ks_at), bool(row.ks_automatic))
    newest = None if row.newest is None else pd.Timestamp(str(row.newest))
    return BookHead(account=_account(row), peak=row.peak, stamp=row.stamp, switch_row=switch, newest=newest)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Account:
    """The account row: ``cash`` is the balance now."""

    id: str
    broker: str
    currency: str
    initial_cash: float
    cash: float
    created_at: dt.datetime


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _date(key: int | None) -> pd.Timestamp | None:
    return None if key is None else pd.Timestamp(str(key))


def _account(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        broker=row.broker,
        currency=row.currency,
        initial_cash=row.initial_cash,
        cash=row.cash,
        created_at=_aware(row.created_at),
    )


def read_account(conn: Connection, config: ExecutionConfig, now: dt.datetime) -> Account:
    """The stored account ``[EXECUTION] account_id``, or — when no order has created it yet — the account as it
    will be created (nothing is written)."""
    row = conn.execute(_SELECT_ACCOUNT, {"account": config.account_id}).first()
    if row is not None:
        return _account(row)
    return Account(
        id=config.account_id,
        broker=config.broker,
        currency="USD",
        initial_cash=config.initial_cash,
        cash=config.initial_cash,
        created_at=now,
    )


def ensure_account(conn: Connection, config: ExecutionConfig, now: dt.datetime) -> Account:
    """The account ``[EXECUTION] account_id``, created with ``initial_cash`` the first time. Later changes of
    ``initial_cash`` in the config do not move an existing account's cash (record a deposit instead)."""
    row = conn.execute(_SELECT_ACCOUNT, {"account": config.account_id}).first()
    if row is None:
        values = {
            "id": config.account_id,
            "broker": config.broker,
            "currency": "USD",
            "initial_cash": config.initial_cash,
            "cash": config.initial_cash,
            "created_at": now,
            "updated_at": now,
        }
        conn.execute(insert(s.accounts), values)
        row = conn.execute(_SELECT_ACCOUNT, {"account": config.account_id}).one()
    return _account(row)


def order_from_row(row: Row[Any] | Mapping[str, Any]) -> Order:
    m = row._mapping if isinstance(row, Row) else row
    return Order(
        id=m["id"],
        client_order_id=m["client_order_id"],
        account=m["account"],
        symbol=m["symbol"],
        side=m["side"],
        quantity=m["quantity"],
        order_type=m["order_type"],
        limit_price=m["limit_price"],
        status=OrderStatus(m["status"]),
        filled_quantity=m["filled_quantity"],
        avg_fill_price=m["avg_fill_price"],
        reason=m["reason"],
        origin=m["origin"],
        cycle_id=m["cycle_id"],
        broker=m["broker"],
        broker_order_id=m["broker_order_id"],
        last_bar_date=_date(m["last_bar_date"]),
        is_demo=bool(m["is_demo"]),
        created_at=_aware(m["created_at"]),
        updated_at=_aware(m["updated_at"]),
    )


def load_order(conn: Connection, order_id: int) -> Order | None:
    row = conn.execute(select(s.orders).where(s.orders.c.id == order_id)).first()
    return None if row is None else order_from_row(row)


def order_by_client_id(conn: Connection, account: str, client_order_id: str) -> Order | None:
    row = conn.execute(_SELECT_BY_CLIENT_ID, {"account": account, "cid": client_order_id}).first()
    return None if row is None else order_from_row(row)


def orders_by_client_ids(conn: Connection, account: str, client_order_ids: Sequence[str]) -> dict[str, Order]:
    """The stored orders among ``client_order_ids``, by client order id (queried in chunks of 500)."""
    t = s.orders
    found: dict[str, Order] = {}
    for k in range(0, len(client_order_ids), 500):
        chunk = list(client_order_ids[k : k + 500])
        if len(chunk) == 1:
            order = order_by_client_id(conn, account, chunk[0])
            found.update({} if order is None else {order.client_order_id: order})
            continue
        rows = conn.execute(select(t).where(t.c.account == account, t.c.client_order_id.in_(chunk)))
        found.update({r.client_order_id: order_from_row(r) for r in rows})
    return found


def insert_order(conn: Connection, values: Mapping[str, Any], now: dt.datetime) -> Order:
    """Store a ``new`` order and its first event."""
    row = {
        **values,
        "status": str(OrderStatus.NEW),
        "filled_quantity": 0.0,
        "avg_fill_price": None,
        "created_at": now,
        "updated_at": now,
    }
    order_id = conn.execute(insert(s.orders), row).inserted_primary_key[0]  # type: ignore[index]
    conn.execute(
        insert(s.order_events),
        {"order_id": order_id, "status": str(OrderStatus.NEW), "filled_quantity": 0.0, "reason": None, "at": now},
    )
    return order_from_row({**row, "id": order_id})


def transition(
    conn: Connection,
    order: Order,
    status: OrderStatus,
    now: dt.datetime,
    *,
    reason: str | None = None,
    **fields: Any,
) -> Order:
    """Move ``order`` to ``status`` (checked against the state machine), with its event row; ``fields`` are
    other columns to set (filled_quantity, avg_fill_price, broker_order_id, last_bar_date)."""
    check_transition(order.status, status, order_id=order.id)
    values: dict[str, Any] = {"status": str(status), "updated_at": now, **fields}
    if reason is not None:
        values["reason"] = reason
    conn.execute(update(s.orders).where(s.orders.c.id == order.id), values)
    filled = fields.get("filled_quantity", order.filled_quantity)
    conn.execute(
        insert(s.order_events),
        {"order_id": order.id, "status": str(status), "filled_quantity": filled, "reason": reason, "at": now},
    )
    changes = {k: v for k, v in values.items() if k in {f.name for f in dataclasses.fields(Order)}}
    changes["status"] = status
    if "last_bar_date" in changes and isinstance(changes["last_bar_date"], int):
        changes["last_bar_date"] = _date(changes["last_bar_date"])
    return dataclasses.replace(order, **changes)


def touch(conn: Connection, order: Order, now: dt.datetime, last_bar_date: pd.Timestamp | None) -> Order:
    """Record that a working order was checked against bars up to ``last_bar_date`` (no status change)."""
    if last_bar_date is None or last_bar_date == order.last_bar_date:
        return order
    conn.execute(
        update(s.orders).where(s.orders.c.id == order.id),
        {"last_bar_date": date_key(last_bar_date), "updated_at": now},
    )
    return dataclasses.replace(order, last_bar_date=last_bar_date, updated_at=now)


def _book_fills(
    conn: Connection,
    booked: Sequence[tuple[Order, Sequence[tuple[float, Execution]]]],
    now: dt.datetime,
) -> list[list[Fill]]:
    """Book the executions of stored orders (each a quantity to book and its execution), in bulk on ``conn``:
    the fill rows, the positions (net per symbol), the account's cash and one cash-ledger row per fill with the
    running balance. Returns each order's fills. The one place fills are written."""
    rows = [
        {
            "order_id": o.id,
            "account": o.account,
            "symbol": o.symbol,
            "side": o.side,
            "quantity": q,
            "price": e.price,
            "commission": e.commission,
            "slippage": e.slippage,
            "bar_date": date_key(e.bar_date),
            "is_demo": o.is_demo,
            "filled_at": now,
        }
        for o, executions in booked
        for q, e in executions
    ]
    fills_of: list[list[Fill]] = [[] for _ in booked]
    if not rows:
        return fills_of
    fill_ids = iter(r[0] for r in conn.execute(_INSERT_FILL_RETURNING, rows))
    amounts: list[float] = []
    ledger: list[tuple[int, str]] = []
    shares: dict[tuple[str, str], tuple[float, int]] = {}
    for n, (o, executions) in enumerate(booked):
        sign = 1.0 if o.side == "BUY" else -1.0
        for q, e in executions:
            fill_id = next(fill_ids)
            fills_of[n].append(
                Fill(id=fill_id, order_id=o.id, symbol=o.symbol, side=o.side, quantity=q, price=e.price,
                     commission=e.commission, slippage=e.slippage, bar_date=e.bar_date, filled_at=now,
                     is_demo=o.is_demo)
            )  # fmt: skip
            amounts.append(-sign * q * e.price - e.commission)
            ledger.append((fill_id, f"{o.side} {q:g} {o.symbol} @ {e.price:.6g}"))
            key = (o.account, o.symbol)
            shares[key] = (shares.get(key, (0.0, 0))[0] + sign * q, fill_id)
    conn.execute(
        _position_upsert(conn),
        [
            {"account": acct, "symbol": sym, "quantity": q, "last_fill_id": last, "updated_at": now}
            for (acct, sym), (q, last) in shares.items()
        ],
    )
    account = booked[0][0].account
    balance = conn.execute(_UPDATE_CASH, {"p_account": account, "delta": sum(amounts), "now": now}).scalar_one()
    running = balance - sum(amounts)
    cash_rows = []
    for amount, (fill_id, note) in zip(amounts, ledger, strict=True):
        running += amount
        cash_rows.append({"account": account, "kind": "fill", "amount": amount, "balance": running,
                          "fill_id": fill_id, "note": note, "at": now})  # fmt: skip
    conn.execute(_INSERT_CASH, cash_rows)
    return fills_of


def _life(
    order: Order, executions: Sequence[Execution]
) -> tuple[list[tuple[float, Execution]], list[tuple[OrderStatus, float]], float, float | None]:
    """What ``executions`` do to ``order``: the quantities to book (never more than is left), the statuses it
    passes through with the filled quantity at each, and its final filled quantity and average price."""
    booked: list[tuple[float, Execution]] = []
    steps: list[tuple[OrderStatus, float]] = []
    filled, avg = order.filled_quantity, order.avg_fill_price
    for e in executions:
        left = order.quantity - filled
        if left <= TOLERANCE:
            break
        q = min(e.quantity, left)
        if q <= TOLERANCE:
            continue
        avg = ((avg or 0.0) * filled + e.price * q) / (filled + q)
        filled += q
        done = order.quantity - filled <= TOLERANCE
        if done:
            filled = order.quantity
        booked.append((q, e))
        steps.append((OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, filled))
    return booked, steps, filled, avg


def book_executions(
    conn: Connection,
    order: Order,
    executions: Sequence[Execution],
    now: dt.datetime,
    *,
    last_bar_date: pd.Timestamp | None = None,
) -> tuple[Order, list[Fill]]:
    """Book executions of a working ``order``: fills, position, cash and cash-ledger rows, the order's filled
    quantity, average price and status with an event per step — all on ``conn``, in the caller's transaction."""
    booked, steps, filled, avg = _life(order, executions)
    if not booked:
        return touch(conn, order, now, last_bar_date), []
    current = order.status
    for status, _ in steps:
        check_transition(current, status, order_id=order.id)
        current = status
    fills = _book_fills(conn, [(order, booked)], now)[0]
    last = max(
        [f.bar_date for f in fills]
        + ([last_bar_date] if last_bar_date is not None else [])
        + ([order.last_bar_date] if order.last_bar_date is not None else [])
    )
    conn.execute(
        update(s.orders).where(s.orders.c.id == order.id),
        {
            "status": str(current),
            "filled_quantity": filled,
            "avg_fill_price": avg,
            "last_bar_date": date_key(last),
            "updated_at": now,
        },
    )
    conn.execute(
        insert(s.order_events),
        [{"order_id": order.id, "status": str(st), "filled_quantity": q, "reason": None, "at": now} for st, q in steps],
    )
    order = dataclasses.replace(
        order, status=current, filled_quantity=filled, avg_fill_price=avg, last_bar_date=last, updated_at=now
    )
    return order, fills


def draft_order(values: Mapping[str, Any], now: dt.datetime) -> Order:
    """The order ``values`` describe as it is before it is stored (id 0, status new): what a synchronous broker
    is shown."""
    return order_from_row({**values, "id": 0, "status": str(OrderStatus.NEW), "filled_quantity": 0.0,
                           "avg_fill_price": None, "reason": None, "broker_order_id": None, "last_bar_date": None,
                           "origin": values.get("origin", "api"), "cycle_id": values.get("cycle_id"),
                           "created_at": now, "updated_at": now})  # fmt: skip


@dataclasses.dataclass(frozen=True)
class PlannedOrder:
    """A new order's whole life so far, decided in memory and not yet written: ``order`` (id 0) in its final
    state, the statuses it passed through (status, filled quantity, reason) and its executions (quantity
    booked, execution)."""

    order: Order
    steps: tuple[tuple[OrderStatus, float, str | None], ...]
    booked: tuple[tuple[float, Execution], ...]

    def fills_cash(self) -> float:
        """The cash its fills move: Σ (∓ q·p − commission)."""
        sign = 1.0 if self.order.side == "BUY" else -1.0
        return sum(-sign * q * e.price - e.commission for q, e in self.booked)

    def fills_shares(self) -> float:
        """The signed shares its fills move."""
        sign = 1.0 if self.order.side == "BUY" else -1.0
        return sign * sum(q for q, _ in self.booked)


def plan_new_order(
    values: Mapping[str, Any], now: dt.datetime, *, reject: str | None = None, reply: BrokerReply | None = None
) -> PlannedOrder:
    """The life of a new order: rejected by the pre-trade checks (``reject``), or the broker's ``reply``
    (accepted or rejected, and its executions), checked against the state machine."""
    draft = draft_order(values, now)
    steps: list[tuple[OrderStatus, float, str | None]] = [(OrderStatus.NEW, 0.0, None)]
    booked: list[tuple[float, Execution]] = []
    filled, avg, reason, broker_id, last = 0.0, None, None, None, None
    if reject is not None or reply is None or not reply.accepted:
        reason = reject if reject is not None else (reply.reason if reply is not None else None) or "rejected"
        steps.append((OrderStatus.REJECTED, 0.0, reason))
    else:
        broker_id, last = reply.broker_order_id, reply.last_bar_date
        steps.append((OrderStatus.ACCEPTED, 0.0, None))
        booked, fill_steps, filled, avg = _life(draft, reply.executions)
        steps.extend((st, q, None) for st, q in fill_steps)
        if booked:
            last = max(([last] if last is not None else []) + [e.bar_date for _, e in booked])
    for (a, _, _), (b, _, _) in itertools.pairwise(steps):
        check_transition(a, b)
    order = dataclasses.replace(
        draft,
        status=steps[-1][0],
        filled_quantity=filled,
        avg_fill_price=avg,
        reason=reason,
        broker_order_id=broker_id,
        last_bar_date=last,
    )
    return PlannedOrder(order=order, steps=tuple(steps), booked=tuple(booked))


_ORDER_COLUMNS = [c.name for c in s.orders.columns if c.name != "id"]
_INSERT_ORDER_RETURNING = insert(s.orders).returning(s.orders.c.id, sort_by_parameter_order=True)


def _position_upsert(conn: Connection) -> Any:
    """``INSERT … ON CONFLICT DO UPDATE SET quantity = quantity + excluded.quantity`` (SQLite and PostgreSQL), built
    once per dialect."""
    name = conn.dialect.name
    if name not in _POSITION_UPSERTS:
        _POSITION_UPSERTS[name] = _build_position_upsert(name)
    return _POSITION_UPSERTS[name]


def _build_position_upsert(dialect: str) -> Any:
    from sqlalchemy.dialects import postgresql, sqlite

    p = s.positions
    stmt: Any = postgresql.insert(p) if dialect == "postgresql" else sqlite.insert(p)
    return stmt.on_conflict_do_update(
        index_elements=[p.c.account, p.c.symbol],
        set_={
            "quantity": p.c.quantity + stmt.excluded.quantity,
            "last_fill_id": stmt.excluded.last_fill_id,
            "updated_at": stmt.excluded.updated_at,
        },
    )


def write_new_orders(
    conn: Connection, planned: Sequence[PlannedOrder], now: dt.datetime
) -> list[tuple[Order, list[Fill]]]:
    """Write planned new orders with everything they did, in bulk on ``conn`` (the caller's one transaction):
    the order rows in their final state, one event per status, the fills, the positions (net per symbol), the
    account's cash and one cash-ledger row per fill with the running balance. Returns the stored orders and
    their fills, in the given order."""
    if not planned:
        return []
    rows = []
    for plan in planned:
        o = plan.order
        row = {c: getattr(o, c) for c in _ORDER_COLUMNS}
        row["status"] = str(o.status)
        row["last_bar_date"] = None if o.last_bar_date is None else date_key(o.last_bar_date)
        rows.append(row)
    ids = [r[0] for r in conn.execute(_INSERT_ORDER_RETURNING, rows)]
    conn.execute(
        _INSERT_EVENTS,
        [
            {"order_id": oid, "status": str(st), "filled_quantity": q, "reason": r, "at": now}
            for oid, plan in zip(ids, planned, strict=True)
            for st, q, r in plan.steps
        ],
    )
    orders = [dataclasses.replace(plan.order, id=oid) for oid, plan in zip(ids, planned, strict=True)]
    fills = _book_fills(conn, [(o, plan.booked) for o, plan in zip(orders, planned, strict=True)], now)
    return list(zip(orders, fills, strict=True))


def book_new_order(
    conn: Connection,
    values: Mapping[str, Any],
    now: dt.datetime,
    *,
    reject: str | None = None,
    reply: BrokerReply | None = None,
) -> tuple[Order, list[Fill]]:
    """Plan and write one new order (:func:`plan_new_order`, :func:`write_new_orders`)."""
    return write_new_orders(conn, [plan_new_order(values, now, reject=reject, reply=reply)], now)[0]


def open_orders(conn: Connection, account: str | None = None) -> list[Order]:
    """Working orders (new, accepted, partially filled), oldest first."""
    t = s.orders
    query = select(t).where(t.c.status.in_([str(x) for x in OPEN_STATUSES]))
    if account is not None:
        query = query.where(t.c.account == account)
    return [order_from_row(r) for r in conn.execute(query.order_by(t.c.id))]


def cancel_open_orders(conn: Connection, *, reason: str, now: dt.datetime, account: str | None = None) -> int:
    """Cancel every working order (the kill switch); returns how many."""
    orders = open_orders(conn, account)
    for order in orders:
        transition(conn, order, OrderStatus.CANCELLED, now, reason=reason)
    return len(orders)


def positions(conn: Connection, account: str) -> dict[str, float]:
    """Symbol → signed shares, non-zero positions only."""
    rows = conn.execute(_SELECT_POSITIONS, {"account": account})
    return {r.symbol: r.quantity for r in rows if abs(r.quantity) > TOLERANCE}


@dataclasses.dataclass(frozen=True, slots=True)
class Working:
    """Working orders of one (symbol, side, market or limit): ``remaining`` shares still to fill over
    ``n_orders`` orders; ``limit_value`` = Σ remaining·limit for limit orders (None for market orders)."""

    symbol: str
    side: str
    remaining: float
    limit_value: float | None
    n_orders: int


def holdings(conn: Connection, account: str) -> tuple[dict[str, float], list[Working]]:
    """The non-zero positions (as :func:`positions`) and the working orders summed per (symbol, side, market or
    limit), in one round trip."""
    held: dict[str, float] = {}
    working: list[Working] = []
    for kind, symbol, side, is_limit, shares, limit_value, n in conn.execute(_SELECT_HOLDINGS, {"account": account}):
        if kind == "P":
            if abs(shares) > TOLERANCE:
                held[symbol] = shares
        else:
            working.append(Working(symbol, side, float(shares), float(limit_value) if is_limit else None, n))
    return held, working


# ------------------------------------------------------------------------------------------------ reconciliation
@dataclasses.dataclass(frozen=True, kw_only=True)
class ReconciliationReport:
    """Balances recomputed from the fills against the stored ones. ``position_breaks`` has one row per symbol
    whose stored position differs (symbol, stored, from_fills, difference); ``order_breaks`` per order whose
    filled quantity differs from the sum of its fills; ``cash_*`` are the stored balance, the balance from the
    fills and the balance from the cash ledger. ``ok`` when nothing differs by more than :data:`TOLERANCE`."""

    account: str
    cash_stored: float
    cash_from_fills: float
    cash_from_ledger: float
    position_breaks: pd.DataFrame
    order_breaks: pd.DataFrame
    n_fills: int
    n_positions: int

    @property
    def cash_difference(self) -> float:
        return self.cash_stored - self.cash_from_fills

    @property
    def ok(self) -> bool:
        cash_ok = abs(self.cash_difference) <= TOLERANCE * max(1.0, abs(self.cash_stored)) and abs(
            self.cash_stored - self.cash_from_ledger
        ) <= TOLERANCE * max(1.0, abs(self.cash_stored))
        return cash_ok and self.position_breaks.empty and self.order_breaks.empty

    @property
    def message(self) -> str:
        if self.ok:
            return (
                f"ledger reconciles: {self.n_fills} fills, {self.n_positions} positions, cash {self.cash_stored:,.2f}"
            )
        parts = []
        if abs(self.cash_difference) > TOLERANCE:
            parts.append(f"cash {self.cash_stored:,.2f} stored vs {self.cash_from_fills:,.2f} from fills")
        if abs(self.cash_stored - self.cash_from_ledger) > TOLERANCE:
            parts.append(f"cash ledger sums to {self.cash_from_ledger:,.2f}")
        if not self.position_breaks.empty:
            parts.append(f"positions differ for {', '.join(self.position_breaks['symbol'])}")
        if not self.order_breaks.empty:
            parts.append(f"filled quantity differs for orders {', '.join(map(str, self.order_breaks['order_id']))}")
        return "ledger does NOT reconcile: " + "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "ok": self.ok,
            "message": self.message,
            "cash_stored": self.cash_stored,
            "cash_from_fills": self.cash_from_fills,
            "cash_from_ledger": self.cash_from_ledger,
            "position_breaks": self.position_breaks.to_dict(orient="records"),
            "order_breaks": self.order_breaks.to_dict(orient="records"),
            "n_fills": self.n_fills,
            "n_positions": self.n_positions,
        }


def reconcile(engine: Engine, account: str, config: ExecutionConfig | None = None) -> ReconciliationReport:
    """Recompute positions, cash and filled quantities from the fills and compare (one consistent snapshot). An
    account not stored yet reconciles trivially when ``config`` describes it."""
    with read(engine) as conn:
        acct: Any = conn.execute(select(s.accounts).where(s.accounts.c.id == account)).first()
        if acct is None and config is not None and config.account_id == account:
            acct = read_account(conn, config, dt.datetime.now(dt.UTC))
        if acct is None:
            raise ConfigError(f"no account {account!r} in the store (it is created by the first order)")
        f = s.fills
        fills = pd.DataFrame(
            conn.execute(
                select(f.c.order_id, f.c.symbol, f.c.side, f.c.quantity, f.c.price, f.c.commission).where(
                    f.c.account == account
                )
            ).all(),
            columns=["order_id", "symbol", "side", "quantity", "price", "commission"],
        )
        stored_pos = pd.Series(positions_all(conn, account), dtype=float)
        ledger = s.cash_ledger
        ledger_sum = conn.execute(
            select(func.coalesce(func.sum(ledger.c.amount), 0.0)).where(ledger.c.account == account)
        ).scalar_one()
        transfers = conn.execute(
            select(func.coalesce(func.sum(ledger.c.amount), 0.0)).where(
                ledger.c.account == account, ledger.c.kind != "fill"
            )
        ).scalar_one()
        o = s.orders
        orders = pd.DataFrame(
            conn.execute(select(o.c.id, o.c.filled_quantity).where(o.c.account == account)).all(),
            columns=["order_id", "filled_quantity"],
        )
    sign = fills["side"].map({"BUY": 1.0, "SELL": -1.0}).astype(float)
    from_fills = (sign * fills["quantity"]).groupby(fills["symbol"]).sum()
    symbols = sorted(set(from_fills.index) | set(stored_pos.index))
    both = pd.DataFrame(
        {
            "symbol": symbols,
            "stored": stored_pos.reindex(symbols).fillna(0.0).to_numpy(),
            "from_fills": from_fills.reindex(symbols).fillna(0.0).to_numpy(),
        }
    )
    both["difference"] = both["stored"] - both["from_fills"]
    position_breaks = both[both["difference"].abs() > TOLERANCE].reset_index(drop=True)
    cash_from_fills = float(
        acct.initial_cash + (-sign * fills["quantity"] * fills["price"] - fills["commission"]).sum() + transfers
    )
    by_order = fills.groupby("order_id")["quantity"].sum()
    orders["from_fills"] = orders["order_id"].map(by_order).fillna(0.0)
    orders["difference"] = orders["filled_quantity"] - orders["from_fills"]
    order_breaks = orders[orders["difference"].abs() > TOLERANCE].reset_index(drop=True)
    return ReconciliationReport(
        account=account,
        cash_stored=float(acct.cash),
        cash_from_fills=cash_from_fills,
        cash_from_ledger=float(acct.initial_cash + ledger_sum),
        position_breaks=position_breaks,
        order_breaks=order_breaks,
        n_fills=len(fills),
        n_positions=int((both["stored"].abs() > TOLERANCE).sum()),
    )


def positions_all(conn: Connection, account: str) -> dict[str, float]:
    """Symbol → stored signed shares, including rows that are zero."""
    p = s.positions
    return {r.symbol: r.quantity for r in conn.execute(select(p.c.symbol, p.c.quantity).where(p.c.account == account))}


def transfers(conn: Connection, account: str, until: pd.Timestamp | None = None) -> float:
    """Σ of the cash movements that are not fills (deposits +, withdrawals −), up to the end of ``until``."""
    c = s.cash_ledger
    query = select(func.coalesce(func.sum(c.c.amount), 0.0)).where(c.c.account == account, c.c.kind != "fill")
    if until is not None:
        end = (pd.Timestamp(until).normalize() + pd.Timedelta(days=1)).to_pydatetime().replace(tzinfo=dt.UTC)
        query = query.where(c.c.at < end)
    return float(conn.execute(query).scalar_one())


def fills_frame(conn: Connection, account: str, symbols: Iterable[str] | None = None) -> pd.DataFrame:
    """The account's fills in time order: fill_id, order_id, filled_at (UTC), bar_date (tz-naive), symbol, side,
    quantity, price, commission, slippage, is_demo."""
    f = s.fills
    query = select(
        f.c.id.label("fill_id"),
        f.c.order_id,
        f.c.filled_at,
        f.c.bar_date,
        f.c.symbol,
        f.c.side,
        f.c.quantity,
        f.c.price,
        f.c.commission,
        f.c.slippage,
        f.c.is_demo,
    ).where(f.c.account == account)
    if symbols is not None:
        query = query.where(f.c.symbol.in_(list(symbols)))
    rows = conn.execute(query.order_by(f.c.id)).all()
    columns = [
        "fill_id",
        "order_id",
        "filled_at",
        "bar_date",
        "symbol",
        "side",
        "quantity",
        "price",
        "commission",
        "slippage",
        "is_demo",
    ]
    frame = pd.DataFrame(rows, columns=columns)
    frame["filled_at"] = pd.to_datetime(frame["filled_at"], utc=True)
    frame["bar_date"] = (
        from_date_keys(frame["bar_date"].to_numpy(dtype="int64")) if len(frame) else pd.DatetimeIndex([])
    )
    return frame.astype(
        {
            "fill_id": "int64",
            "order_id": "int64",
            "symbol": object,
            "side": object,
            "quantity": float,
            "price": float,
            "commission": float,
            "slippage": float,
            "is_demo": bool,
        }
    )

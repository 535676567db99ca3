"""Orders and fills: the records, and the order's life as a state machine.

An order's life::

    new ──► accepted ──► partially_filled ──► filled
     │          │               │  ▲
     │          │               └──┘ (more partial fills)
     ├──► rejected              │
     └──► cancelled ◄───────────┴── (from accepted or partially_filled too)

- ``new``: stored, passed the pre-trade checks, not yet acknowledged by the broker. An order refused by the
  pre-trade checks goes ``new → rejected`` in the same transaction and never reaches a broker.
- ``accepted``: the broker took it; a limit order that is not marketable rests here.
- ``partially_filled``: some quantity filled (a volume cap, or a limit touched for part); the rest is working.
- ``filled``, ``rejected``, ``cancelled``: terminal. Nothing leaves a terminal state.

Every transition is a row of ``order_events`` written in the same transaction as the change it records.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError, RavenshireError

__all__ = [
    "OPEN_STATUSES",
    "ORDER_TYPES",
    "SIDES",
    "TERMINAL_STATUSES",
    "Fill",
    "Order",
    "OrderStateError",
    "OrderStatus",
    "check_transition",
    "is_positive_number",
    "parse_order_type",
    "parse_side",
]

SIDES = ("BUY", "SELL")
ORDER_TYPES = ("market", "limit")


class OrderStatus(StrEnum):
    """Where an order is in its life (see the module docstring)."""

    NEW = "new"
    ACCEPTED = "accepted"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({OrderStatus.NEW, OrderStatus.ACCEPTED, OrderStatus.PARTIALLY_FILLED})
TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.REJECTED, OrderStatus.CANCELLED})

_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.NEW: frozenset({OrderStatus.ACCEPTED, OrderStatus.REJECTED, OrderStatus.CANCELLED}),
    OrderStatus.ACCEPTED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}),
    OrderStatus.PARTIALLY_FILLED: frozenset({OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED, OrderStatus.CANCELLED}),
    OrderStatus.FILLED: frozenset(),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
}


class OrderStateError(RavenshireError):
    """An order was asked to make a transition its state machine does not allow (a bug, or a stale request such
    as cancelling a filled order); nothing was changed."""

    action = "refuse"


def check_transition(current: OrderStatus | str, new: OrderStatus | str, *, order_id: int | None = None) -> None:
    """Raise :class:`OrderStateError` unless ``current → new`` is a transition of the order's life."""
    cur, nxt = OrderStatus(current), OrderStatus(new)
    allowed = _TRANSITIONS[cur]
    if nxt not in allowed:
        which = f"order {order_id}" if order_id is not None else "an order"
        options = ", ".join(sorted(allowed)) if allowed else f"nothing ({cur} is final)"
        raise OrderStateError(f"{which} is {cur} and cannot become {nxt}; from {cur} it may become: {options}")


def parse_side(side: Any) -> str:
    """``"buy"``/``"BUY"`` → ``"BUY"``; ConfigError for anything else."""
    text = side.strip().upper() if isinstance(side, str) else None
    if text not in SIDES:
        raise ConfigError(f"side must be BUY or SELL, got {side!r}")
    return text


def parse_order_type(order_type: Any, price: float | None) -> str:
    """The order type: ``"market"`` or ``"limit"``; None means limit when a price is given, else market (the
    seed's ``execute_trade(..., price=150.00)`` is a limit order at 150)."""
    if order_type is None:
        return "market" if price is None else "limit"
    text = order_type.strip().lower() if isinstance(order_type, str) else None
    if text not in ORDER_TYPES:
        raise ConfigError(f"order_type must be market or limit, got {order_type!r}")
    if text == "limit" and price is None:
        raise ConfigError("a limit order needs a price (the limit)")
    if text == "market" and price is not None:
        raise ConfigError(f"a market order takes no price (got {price}); use order_type='limit' for a limit")
    return text


def _iso(value: dt.datetime | pd.Timestamp | None) -> str | None:
    return None if value is None else value.isoformat()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Order:
    """An order as stored. ``quantity`` and ``filled_quantity`` are shares (> 0 and ≥ 0; the side says the
    direction); ``avg_fill_price`` is the quantity-weighted price of its fills (None before the first);
    ``limit_price`` is None for a market order; ``reason`` says why it was rejected or cancelled;
    ``last_bar_date`` is the newest bar it was checked against; ``is_demo`` is True when its price came from
    the synthetic (demo) source."""

    id: int
    client_order_id: str
    account: str
    symbol: str
    side: str
    quantity: float
    order_type: str
    limit_price: float | None
    status: OrderStatus
    filled_quantity: float
    avg_fill_price: float | None
    reason: str | None
    origin: str
    cycle_id: str | None
    broker: str
    broker_order_id: str | None
    last_bar_date: pd.Timestamp | None
    is_demo: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def remaining(self) -> float:
        """Shares still to fill (0 once terminal)."""
        return 0.0 if self.status in TERMINAL_STATUSES else max(self.quantity - self.filled_quantity, 0.0)

    @property
    def is_open(self) -> bool:
        """Still working (new, accepted or partially filled)."""
        return self.status in OPEN_STATUSES

    @property
    def sign(self) -> int:
        """+1 for a buy, −1 for a sell."""
        return 1 if self.side == "BUY" else -1

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["status"] = str(self.status)
        out["last_bar_date"] = None if self.last_bar_date is None else self.last_bar_date.date().isoformat()
        out["created_at"], out["updated_at"] = _iso(self.created_at), _iso(self.updated_at)
        return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Fill:
    """One execution of an order. ``price`` is what was paid or received per share (slippage included);
    ``commission`` (≥ 0) is charged on top; ``slippage`` is the cost of slippage in currency, for reports (it is
    already in the price); ``bar_date`` is the bar it filled against."""

    id: int
    order_id: int
    symbol: str
    side: str
    quantity: float
    price: float
    commission: float
    slippage: float
    bar_date: pd.Timestamp
    filled_at: dt.datetime
    is_demo: bool

    @property
    def cash_amount(self) -> float:
        """The fill's effect on cash: ``−q·p − commission`` for a buy, ``+q·p − commission`` for a sell."""
        sign = -1.0 if self.side == "BUY" else 1.0
        return sign * self.quantity * self.price - self.commission

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["bar_date"] = self.bar_date.date().isoformat()
        out["filled_at"] = _iso(self.filled_at)
        return out


def is_positive_number(value: Any) -> bool:
    """A real, finite number > 0 (bools are not numbers here)."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return False
    return math.isfinite(float(value)) and float(value) > 0

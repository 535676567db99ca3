"""The broker protocol, and the paper broker that fills against the stored bars.

A :class:`Broker` takes an order that passed the pre-trade checks and answers with a :class:`BrokerReply`:
accepted or rejected, and the executions so far. A working order is asked again with :meth:`Broker.poll`
(the paper broker looks at bars newer than the last one the order saw). A broker that answers in process and
at once (``synchronous = True``, the paper broker) is called inside the transaction that stores the order, so
an order and its fills are written together; a remote broker (``synchronous = False``) is called after the
order is committed as ``new``, and an order left ``new`` by a crash is sent again with the same client order
id, which the broker must treat as the same order.

The paper broker's fill model, per order and per bar (daily bars; ``s`` = ``slippage_bps / 1e4``):

- On submission it sees the latest stored bar. A market order fills at that bar's close, moved against the
  trader by the slippage: ``close·(1 + s)`` for a buy, ``close·(1 − s)`` for a sell. A limit order fills there
  only if that price is at or better than the limit (a marketable limit, at the better of the two); otherwise
  it rests, accepted.
- On each later bar (:meth:`PaperBroker.poll`): what is left of a market order fills at the bar's open, with
  slippage. A resting buy limit ``L`` fills at the open if the bar opens at or below ``L`` (a gap through the
  limit), else at ``L`` if the bar trades through it (``low < L``); a sell limit symmetrically (``open ≥ L``,
  else ``high > L``). Limit fills carry no slippage: the limit is the price.
- Volume cap: with ``max_volume_fraction = f > 0`` an order fills at most ``f·volume`` shares on one bar
  (whole shares when the order is for whole shares; no volume → no fill on that bar); the rest works on later
  bars, so the order is ``partially_filled`` meanwhile. The cap is per order: two orders in one symbol on the
  same bar each get ``f·volume``.
- Commission: ``max(min_commission, commission_bps/1e4 · quantity·price)`` per fill.

Orders are good till cancelled. The paper broker keeps no state of its own: everything it needs is the stored
order and the stored bars.
"""

from __future__ import annotations

import dataclasses
import math
import uuid
from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import pandas as pd

from ravenshire.config import ExecutionConfig
from ravenshire.errors import ConfigError
from ravenshire.execution.orders import Order

__all__ = ["Bar", "Broker", "BrokerReply", "Execution", "PaperBroker", "commission_for", "make_broker"]

_EPS = 1e-9


@dataclasses.dataclass(frozen=True, slots=True)
class Bar:
    """One daily bar of a symbol (raw, unadjusted prices: what traded that day). ``volume`` is NaN when the
    source gives none."""

    symbol: str
    date: pd.Timestamp
    open: float
    high: float
    low: float
    close: float
    volume: float
    is_demo: bool


@dataclasses.dataclass(frozen=True, slots=True)
class Execution:
    """A fill as the broker reports it: ``price`` per share (slippage included), ``commission`` ≥ 0 in currency,
    ``slippage`` its cost in currency (already in the price) and the bar it filled against."""

    quantity: float
    price: float
    commission: float
    slippage: float
    bar_date: pd.Timestamp


@dataclasses.dataclass(frozen=True, slots=True)
class BrokerReply:
    """The broker's answer: ``accepted`` (else ``reason`` says why not), its id for the order, the executions
    since the order was last asked, and the newest bar it looked at."""

    accepted: bool
    reason: str | None = None
    broker_order_id: str | None = None
    executions: tuple[Execution, ...] = ()
    last_bar_date: pd.Timestamp | None = None


@runtime_checkable
class Broker(Protocol):
    """What the execution manager needs of a broker adapter."""

    #: The name stored with each order (``[EXECUTION] broker``).
    name: str
    #: True when orders reach a real market (needs ``[EXECUTION] live_trading = true``).
    live: bool
    #: True when ``submit`` answers in process and at once (called inside the order's transaction).
    synchronous: bool

    def submit(self, order: Order) -> BrokerReply:
        """Send a new order (its ``client_order_id`` identifies it: sending it twice is one order)."""
        ...

    def poll(self, order: Order) -> BrokerReply:
        """Executions of a working order since it was last asked."""
        ...

    def cancel(self, order: Order) -> bool:
        """Cancel what is left of a working order; False when the broker says it is already done."""
        ...


def commission_for(notional: float, config: ExecutionConfig) -> float:
    """``max(min_commission, commission_bps/1e4 · |notional|)``."""
    return max(config.min_commission, config.commission_bps / 1e4 * abs(notional))


#: Latest bar of a symbol (None when none is stored) and the bars after a date, oldest first.
LatestBar = Callable[[str], "Bar | None"]
BarsAfter = Callable[[str, pd.Timestamp], Sequence[Bar]]


class PaperBroker:
    """Fills orders against the stored bars (see the module docstring for the model).

    Parameters
    ----------
    config:
        ``[EXECUTION]``: commission, slippage and volume cap.
    latest_bar, bars_after:
        Where bars come from (the execution manager reads them from the store).
    """

    name = "paper"
    live = False
    synchronous = True

    def __init__(self, config: ExecutionConfig, latest_bar: LatestBar, bars_after: BarsAfter) -> None:
        self.config = config
        self._latest_bar = latest_bar
        self._bars_after = bars_after

    # ------------------------------------------------------------------ protocol
    def submit(self, order: Order) -> BrokerReply:
        bar = self._latest_bar(order.symbol)
        if bar is None:
            return BrokerReply(accepted=False, reason=f"no stored price for {order.symbol}")
        broker_id = order.broker_order_id or f"PAPER-{uuid.uuid5(uuid.NAMESPACE_OID, order.client_order_id).hex[:16]}"
        executions = self._on_bar(order, bar, order.remaining, first=True)
        return BrokerReply(accepted=True, broker_order_id=broker_id, executions=executions, last_bar_date=bar.date)

    def poll(self, order: Order) -> BrokerReply:
        if not order.is_open or order.last_bar_date is None:
            return BrokerReply(accepted=order.is_open, last_bar_date=order.last_bar_date)
        remaining = order.remaining
        executions: list[Execution] = []
        last = order.last_bar_date
        for bar in self._bars_after(order.symbol, order.last_bar_date):
            if remaining <= _EPS:
                break
            got = self._on_bar(order, bar, remaining, first=False)
            executions.extend(got)
            remaining -= sum(e.quantity for e in got)
            last = bar.date
        return BrokerReply(
            accepted=True, broker_order_id=order.broker_order_id, executions=tuple(executions), last_bar_date=last
        )

    def cancel(self, order: Order) -> bool:
        return order.is_open

    # ------------------------------------------------------------------ the fill model
    def _price(self, order: Order, bar: Bar, first: bool) -> tuple[float, float] | None:
        """(fill price, reference price) on ``bar``, or None when the order does not trade there."""
        buy = order.side == "BUY"
        s = self.config.slippage_bps / 1e4
        if order.order_type == "market" or first:
            reference = bar.close if first else bar.open
            if not (math.isfinite(reference) and reference > 0):
                return None
            price = reference * (1 + s) if buy else reference * (1 - s)
            if order.order_type == "market":
                return price, reference
            limit = float(order.limit_price)  # type: ignore[arg-type]
            marketable = price <= limit if buy else price >= limit
            return (price, reference) if marketable else None
        limit = float(order.limit_price)  # type: ignore[arg-type]
        if buy:
            if math.isfinite(bar.open) and bar.open <= limit:
                return bar.open, bar.open
            return (limit, limit) if bar.low < limit else None
        if math.isfinite(bar.open) and bar.open >= limit:
            return bar.open, bar.open
        return (limit, limit) if bar.high > limit else None

    def _on_bar(self, order: Order, bar: Bar, remaining: float, *, first: bool) -> tuple[Execution, ...]:
        priced = self._price(order, bar, first)
        if priced is None or remaining <= _EPS:
            return ()
        price, reference = priced
        quantity = remaining
        cap = self.config.max_volume_fraction
        if cap > 0:
            volume = bar.volume if math.isfinite(bar.volume) else 0.0
            limit = cap * volume
            if float(order.quantity).is_integer():
                limit = math.floor(limit)
            quantity = min(quantity, limit)
            if quantity <= _EPS:
                return ()
        notional = quantity * price
        return (
            Execution(
                quantity=quantity,
                price=price,
                commission=commission_for(notional, self.config),
                slippage=abs(price - reference) * quantity,
                bar_date=bar.date,
            ),
        )


def make_broker(config: ExecutionConfig, latest_bar: LatestBar, bars_after: BarsAfter) -> Broker:
    """The broker ``[EXECUTION] broker`` names. Only ``paper`` exists; a live adapter will also need
    ``live_trading = true`` (refused here otherwise)."""
    if config.broker == "paper":
        return PaperBroker(config, latest_bar, bars_after)
    raise ConfigError(  # config validation refuses other names first; this guards direct construction
        f"[EXECUTION] broker = {config.broker}: no such adapter; the only broker is paper"
    )

"""Rebalancing: from the shares held and target weights to a list of proposed orders, with their expected cost.

:meth:`Rebalancer.plan` works in five steps (all at the given reference prices):

1. Equity ``E = cash + Σ_i current_i · price_i``; current weights ``current_i · price_i / E``. Symbols held but
   absent from the targets get a target weight of 0 (they are closed).
2. Target shares from :meth:`PositionSizer.to_shares` with ``cash = E``: the whole target portfolio, in whole lots,
   fits in the equity (long positions rounded down, shorts toward zero, leftover cash spent greedily).
3. Per symbol whose target shares differ from its current shares, in this order:

   - a CLOSE (target weight 0, position held) is always traded while ``always_close`` is on (the default), whatever
     the band and the minimum — a position the strategy left is not kept for being small;
   - DRIFT BAND (absolute, in weight): skipped when ``|w_current − w_target| ≤ drift_band`` (``drift_band = 0.05``
     means ±5 percentage points around the target, the same for a 2 % and a 40 % position; a relative band would
     be ``|w_current / w_target − 1|``). ``drift_band = 0`` turns the band off;
   - MINIMUM TRADE: skipped when ``|Δshares| · price < min_trade_value``.

   A skipped symbol keeps its current shares; :attr:`RebalancePlan.skipped` says why.
4. Cash: after the trades and their expected cost the cash must stay ``≥ min(cash, 0)`` (the plan never borrows;
   an account already borrowing never borrows more). If it would not, every buy is scaled down by one factor and
   rounded down to whole lots (the smallest cut that funds the shortfall), a buy that becomes zero or smaller than
   ``min_trade_value`` is dropped, and, as a guard against floating-point rounding, a lot is taken off the largest
   buys and then orders that consume cash are dropped, smallest first, until the cash fits. A trimmed order says so
   in its reason; a dropped one is in ``skipped``.
5. Orders: SELLS FIRST, THEN BUYS (each group by value, largest first, then symbol), so that the proceeds of the
   sells fund the buys. Buys only spend cash and sells, largest first, add it (a sell worth less than its own cost
   can only come after every sell that raises cash), so the cash is lowest either before the first order or after
   the last one: checking the end state keeps it ``≥ min(cash, 0)`` after every order.

Costs use :class:`~ravenshire.research.engine.Costs`: ``expected_cost = (commission_bps + slippage_bps) / 1e4 ·
Σ traded value + fixed_per_trade · number of orders``; ``turnover = Σ traded value / E`` (buys plus sells, the
backtest engine's ``Σ|Δw|``). ``cash_rate`` is not used. A position is never turned short unless its target
weight is negative; a long-to-short flip (or the reverse) is one order. Orders are proposals at reference prices,
in whole shares; the execution layer turns them into real orders.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

from ravenshire.errors import ConfigError, InfeasibleError
from ravenshire.portfolio.sizing import _SNAP, PositionSizer, _float_series, _lots, _non_negative, _prices
from ravenshire.research.engine import Costs

__all__ = ["NO_COSTS", "SIDES", "ProposedOrder", "RebalancePlan", "Rebalancer", "Side"]

Side = Literal["BUY", "SELL"]
#: The sides of an order, as the execution layer spells them.
SIDES: tuple[str, ...] = ("BUY", "SELL")

#: The default costs of a :class:`Rebalancer`: none.
NO_COSTS = Costs()

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def _pct(x: float) -> str:
    return f"{100.0 * x:.2f} %"


def _money(x: float) -> str:
    return f"{x:,.2f}"


@dataclass(frozen=True, kw_only=True)
class ProposedOrder:
    """One order a rebalance proposes (not an execution).

    ``quantity`` is a whole number of shares > 0, ``side`` ``"BUY"`` or ``"SELL"``, ``price`` the reference price
    it was planned at, ``value = quantity · price`` (currency, > 0), ``current_shares`` the position before and
    ``target_shares`` the position after (``target_shares − current_shares = ±quantity``), ``reason`` a sentence,
    e.g. ``"drift 6.20 % > band 5.00 %: weight 4.00 % → 10.20 %"``.
    """

    symbol: str
    side: Side
    quantity: int
    price: float
    value: float
    reason: str
    current_shares: int
    target_shares: int

    def __post_init__(self) -> None:
        if self.side not in SIDES:
            raise ConfigError(f"side of {self.symbol} must be BUY or SELL, got {self.side!r}")
        if isinstance(self.quantity, bool) or not isinstance(self.quantity, int) or self.quantity <= 0:
            raise ConfigError(f"quantity of {self.symbol} must be a whole number of shares > 0, got {self.quantity!r}")
        if not (math.isfinite(self.price) and self.price > 0):
            raise ConfigError(f"price of {self.symbol} must be a finite number > 0, got {self.price!r}")
        if self.target_shares - self.current_shares != self.signed_quantity:
            raise ConfigError(
                f"{self.side} {self.quantity} {self.symbol} does not take {self.current_shares} shares to "
                f"{self.target_shares}"
            )

    @property
    def signed_quantity(self) -> int:
        """``+quantity`` for a buy, ``−quantity`` for a sell."""
        return self.quantity if self.side == "BUY" else -self.quantity

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True, kw_only=True, eq=False)
class RebalancePlan:
    """What :meth:`Rebalancer.plan` proposes.

    ``orders``: sells first, then buys (see the module docstring). ``skipped``: symbol → why no order (inside the
    drift band, under the minimum trade value, not enough cash, a target smaller than one lot); a symbol already at
    its target shares is in neither.
    ``expected_cost`` (currency) and ``turnover`` (fraction of equity) as in the module docstring; ``long_scale``
    the factor the sizer scaled the long targets by to fit the equity (1.0 unless the targets ask for borrowing,
    see :meth:`PositionSizer.to_shares`). ``cash_before``
    and ``cash_after`` (after the orders and their expected cost). Series by symbol (targets first, then symbols only
    held): shares ``current_shares``, ``target_shares`` (what the sizer asked for), ``post_shares`` (after the
    orders); weights ``pre_weights``, ``target_weights``, ``post_weights`` (values at reference prices / ``equity``,
    the equity before the trades). Equality is identity.
    """

    orders: tuple[ProposedOrder, ...]
    skipped: Mapping[str, str]
    expected_cost: float
    turnover: float
    equity: float
    long_scale: float
    cash_before: float
    cash_after: float
    current_shares: pd.Series
    target_shares: pd.Series
    post_shares: pd.Series
    pre_weights: pd.Series
    target_weights: pd.Series
    post_weights: pd.Series

    @property
    def sells(self) -> tuple[ProposedOrder, ...]:
        return tuple(o for o in self.orders if o.side == "SELL")

    @property
    def buys(self) -> tuple[ProposedOrder, ...]:
        return tuple(o for o in self.orders if o.side == "BUY")

    @property
    def traded_value(self) -> float:
        """``Σ value`` of the orders (currency)."""
        return float(sum(o.value for o in self.orders))

    def to_dict(self) -> dict[str, Any]:
        """Plain Python values: orders → list of dicts, Series → dicts keyed by symbol."""
        out: dict[str, Any] = {"orders": [o.to_dict() for o in self.orders], "skipped": dict(self.skipped)}
        for name in ("expected_cost", "turnover", "equity", "long_scale", "cash_before", "cash_after"):
            out[name] = float(getattr(self, name))
        for name in ("current_shares", "target_shares", "post_shares"):
            out[name] = {str(k): int(v) for k, v in getattr(self, name).items()}
        for name in ("pre_weights", "target_weights", "post_weights"):
            out[name] = {str(k): float(v) for k, v in getattr(self, name).items()}
        return out


# ------------------------------------------------------------------------------------------------ validation


def _check_lot_size(lot_size: Any) -> int | Mapping[str, int]:
    sizes = lot_size.items() if isinstance(lot_size, Mapping) else [("every symbol", lot_size)]
    for name, size in sizes:
        if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
            raise ConfigError(f"lot size of {name} must be a whole number of shares >= 1, got {size!r}")
    return lot_size


def _current_shares(current: Any) -> pd.Series:
    """Shares held, as int64; refuses NaN and fractions."""
    s = _float_series(current, "current_shares")
    frac = s.index[s.to_numpy() != np.round(s.to_numpy())]
    if len(frac):
        raise ConfigError(
            f"current_shares of {', '.join(map(str, frac))} are not whole numbers; positions are in whole shares"
        )
    return s.astype(np.int64)


# ------------------------------------------------------------------------------------------------ cash


def _cash_after(q: IntArray, p: FloatArray, cash: float, costs: Costs) -> float:
    """Cash after the signed order quantities ``q`` and their expected cost."""
    values = np.where(q != 0, q * np.nan_to_num(p), 0.0)
    traded = float(np.sum(np.abs(values)))
    cost = costs.proportional * traded + costs.fixed_per_trade * int(np.count_nonzero(q))
    return float(cash - float(np.sum(values)) - cost)


def _scale_buys(q: IntArray, p: FloatArray, lots: FloatArray, shortfall: float, costs: Costs) -> IntArray:
    """Buys scaled by one factor ``k`` and rounded down to lots, so that they free ``shortfall`` of cash.

    Cutting buys by ``X`` in value frees ``X · (1 + proportional cost)``, so ``k = 1 − shortfall / ((1 + c) · B)``
    with ``B`` the buys' value; rounding down frees a little more (and dropped orders their fixed cost).
    """
    buys = q > 0
    total = float(np.sum(q[buys] * p[buys]))
    k = max(0.0, 1.0 - shortfall / ((1.0 + costs.proportional) * total)) if total > 0 else 0.0
    scaled = (np.floor(k * q / lots + _SNAP) * lots).astype(np.int64)
    return np.where(buys, np.minimum(scaled, q), q)


def _trim_for_cash(
    q: IntArray, p: FloatArray, lots: FloatArray, cash: float, floor: float, costs: Costs, min_trade_value: float
) -> IntArray:
    """Guard after :func:`_scale_buys` against floating-point rounding (and sells that cost more than they raise).

    First one lot comes off each buy, largest first (a buy falling under ``min_trade_value`` is dropped), then
    orders that consume cash (buys; sells worth less than their cost) are dropped, smallest first, until the cash
    after the orders is ``≥ floor``. Bounded by twice the number of orders; it ends, at worst, with only orders that
    raise cash, whose cash is ``≥ cash ≥ floor``.
    """
    q = q.copy()
    value = np.abs(q) * np.nan_to_num(p)
    for i in np.argsort(-np.where(q > 0, value, -np.inf), kind="stable").tolist():
        if q[i] <= 0 or _cash_after(q, p, cash, costs) >= floor:
            break
        q[i] = max(q[i] - int(lots[i]), 0)
        if q[i] * p[i] < min_trade_value:
            q[i] = 0
    consumes = (q > 0) | ((q < 0) & (value * (1.0 - costs.proportional) < costs.fixed_per_trade))
    for i in np.lexsort((np.arange(len(q)), value)).tolist():
        if _cash_after(q, p, cash, costs) >= floor:
            break
        if consumes[i]:
            q[i] = 0
    return q


# ------------------------------------------------------------------------------------------------ the rebalancer


class Rebalancer:
    """Turns current positions and target weights into a :class:`RebalancePlan` (see the module docstring).

    Parameters: ``costs`` for the expected cost (and the cash check); ``min_trade_value`` (currency) and
    ``drift_band`` (absolute, fraction of equity; 0 = off) skip small trades; ``lot_size`` (one number or symbol →
    lot, missing symbols 1) for the target shares; ``always_close`` exempts closing a position (target weight 0)
    from the band and the minimum; ``max_weight`` (fraction of equity) caps the extra lot the sizer's nearest-lot
    rounding may add (a position limit). Validated here: a bad parameter raises :class:`~ravenshire.errors.ConfigError`.
    """

    def __init__(
        self,
        costs: Costs = NO_COSTS,
        *,
        min_trade_value: float = 0.0,
        drift_band: float = 0.0,
        lot_size: int | Mapping[str, int] = 1,
        always_close: bool = True,
        max_weight: float | None = None,
    ) -> None:
        if not isinstance(costs, Costs):
            raise ConfigError(f"costs must be a ravenshire.research.Costs, got {type(costs).__name__}")
        self.costs = costs
        self.min_trade_value = _non_negative("min_trade_value", min_trade_value)
        self.drift_band = _non_negative("drift_band", drift_band)
        self.lot_size = _check_lot_size(lot_size)
        self.always_close = bool(always_close)
        self.max_weight = None if max_weight is None else _non_negative("max_weight", max_weight)

    def __repr__(self) -> str:
        return (
            f"Rebalancer(costs={self.costs!r}, min_trade_value={self.min_trade_value!r}, "
            f"drift_band={self.drift_band!r}, lot_size={self.lot_size!r}, always_close={self.always_close!r})"
        )

    def plan(
        self,
        current_shares: pd.Series | Mapping[str, int],
        target_weights: pd.Series | Mapping[str, float],
        prices: pd.Series | Mapping[str, float],
        *,
        cash: float,
    ) -> RebalancePlan:
        """Propose the orders that take ``current_shares`` to ``target_weights`` (see the module docstring).

        ``current_shares``: shares held by symbol (whole numbers, short < 0, zeros allowed). ``target_weights``:
        signed fractions of equity by symbol. ``prices``: reference price by symbol, needed (finite, > 0) for every
        symbol held or with a non-zero target. ``cash``: the cash balance (negative = borrowed).

        Raises:
            ConfigError: NaN / infinite / fractional shares, NaN weights, a missing or non-positive price for a
                symbol held or targeted (named), a non-finite cash.
            InfeasibleError: equity (cash + positions) ≤ 0: there is nothing to allocate.
        """
        w_in = _float_series(target_weights, "target_weights")
        held = _current_shares(current_shares)
        cash = float(_finite_cash(cash))
        symbols = w_in.index.append(held.index[(held != 0).to_numpy() & ~held.index.isin(w_in.index)])
        w = w_in.reindex(symbols, fill_value=0.0)
        cur = held.reindex(symbols, fill_value=0).to_numpy(dtype=np.int64)
        p = _prices(prices, symbols, (w.to_numpy() != 0) | (cur != 0), "a position or a non-zero target")
        equity = cash + float(np.sum(np.where(cur != 0, cur * np.nan_to_num(p), 0.0)))
        if not equity > 0:
            raise InfeasibleError(
                f"equity (cash {_money(cash)} + positions) is {_money(equity)} <= 0: there is nothing to allocate"
            )
        tgt, scale = np.zeros(0, dtype=np.int64), 1.0
        if len(symbols):  # nothing held and no targets: an empty plan
            alloc = PositionSizer().to_shares(
                w, equity, pd.Series(p, index=symbols), cash=equity, lot_size=self.lot_size, max_weight=self.max_weight
            )
            tgt, scale = alloc.shares.to_numpy(dtype=np.int64), alloc.long_scale
        return self._plan(_Inputs(symbols, w_in, w, cur, tgt, p, cash, equity, scale))

    # -------------------------------------------------------------------------------------------- steps

    def _plan(self, x: _Inputs) -> RebalancePlan:
        trade, skipped = self._select(x)
        q = np.where(trade, x.tgt - x.cur, 0).astype(np.int64)
        q_funded = self._fund(x, q)
        reasons = self._trade_reasons(x, trade)
        for i in np.flatnonzero(trade & (q_funded != q)).tolist():
            n_from, n_to = int(q[i]), int(q_funded[i])
            if n_to == 0:
                what = f"buy of {n_from}" if n_from > 0 else f"sell of {-n_from}"
                skipped[x.names[i]] = f"not enough cash: {what} shares dropped (cash after sells and costs)"
            else:
                reasons[i] += f"; trimmed from {n_from} to {n_to} shares to fit the cash"
        return self._result(x, q_funded, reasons, skipped)

    def _select(self, x: _Inputs) -> tuple[BoolArray, dict[str, str]]:
        """Which symbols trade, and why the others with a difference do not."""
        delta = x.tgt - x.cur
        changing = delta != 0
        exempt = (x.w.to_numpy() == 0) & (x.tgt == 0) & (x.cur != 0) & self.always_close
        drift = np.abs(x.pre - x.w.to_numpy())
        in_band = changing & ~exempt & (self.drift_band > 0) & (drift <= self.drift_band)
        value = np.abs(delta) * np.nan_to_num(x.p)
        small = changing & ~exempt & ~in_band & (value < self.min_trade_value)
        skipped: dict[str, str] = {}
        for i in np.flatnonzero(in_band).tolist():
            skipped[x.names[i]] = (
                f"inside drift band: drift {_pct(drift[i])} <= band {_pct(self.drift_band)} "
                f"(weight {_pct(x.pre[i])}, target {_pct(x.w.iloc[i])})"
            )
        sub_lot = (x.w.to_numpy() != 0) & (x.tgt == 0) & (x.cur == 0)
        for i in np.flatnonzero(sub_lot).tolist():
            skipped[x.names[i]] = f"target weight {_pct(x.w.iloc[i])} rounds to 0 shares (lots, price and cash)"
        for i in np.flatnonzero(small).tolist():
            skipped[x.names[i]] = (
                f"trade value {_money(value[i])} < minimum {_money(self.min_trade_value)} ({int(delta[i]):+d} shares)"
            )
        return changing & ~in_band & ~small, skipped

    def _fund(self, x: _Inputs, q: IntArray) -> IntArray:
        """Order quantities trimmed so that the cash after orders and costs stays ≥ min(cash, 0)."""
        floor = min(x.cash, 0.0)
        after = _cash_after(q, x.p, x.cash, self.costs)
        if after >= floor:
            return q
        lots = _lots(self.lot_size, x.symbols, allow_fractional=False)
        q = _scale_buys(q, x.p, lots, floor - after, self.costs)
        small = (q > 0) & (q * np.nan_to_num(x.p) < self.min_trade_value)
        q = np.where(small, 0, q).astype(np.int64)
        return _trim_for_cash(q, x.p, lots, x.cash, floor, self.costs, self.min_trade_value)

    def _trade_reasons(self, x: _Inputs, trade: BoolArray) -> dict[int, str]:
        reasons: dict[int, str] = {}
        w = x.w.to_numpy()
        for i in np.flatnonzero(trade).tolist():
            move = f"weight {_pct(x.pre[i])} → {_pct(w[i])}"
            if w[i] == 0 and x.tgt[i] == 0:
                why = "target weight 0" if x.symbols[i] in x.w_in.index else "not in the targets"
                reasons[i] = f"close {int(x.cur[i]):+d} shares: {why} ({move})"
            elif self.drift_band > 0:
                reasons[i] = f"drift {_pct(abs(x.pre[i] - w[i]))} > band {_pct(self.drift_band)}: {move}"
            else:
                reasons[i] = f"rebalance: {move}"
        return reasons

    def _result(self, x: _Inputs, q: IntArray, reasons: dict[int, str], skipped: dict[str, str]) -> RebalancePlan:
        orders = [
            ProposedOrder(
                symbol=x.names[i],
                side="BUY" if q[i] > 0 else "SELL",
                quantity=int(abs(q[i])),
                price=float(x.p[i]),
                value=float(abs(q[i]) * x.p[i]),
                reason=reasons[i],
                current_shares=int(x.cur[i]),
                target_shares=int(x.cur[i] + q[i]),
            )
            for i in np.flatnonzero(q).tolist()
        ]
        orders.sort(key=lambda o: (o.side == "BUY", -o.value, o.symbol))
        traded = float(sum(o.value for o in orders))
        cost = self.costs.proportional * traded + self.costs.fixed_per_trade * len(orders)
        post = x.cur + q
        idx = x.symbols

        def series(values: npt.ArrayLike, name: str) -> pd.Series:
            return pd.Series(values, index=idx, name=name)

        return RebalancePlan(
            orders=tuple(orders),
            skipped=skipped,
            expected_cost=cost,
            turnover=traded / x.equity,
            equity=x.equity,
            long_scale=x.long_scale,
            cash_before=x.cash,
            cash_after=_cash_after(q, x.p, x.cash, self.costs),
            current_shares=series(x.cur, "current_shares"),
            target_shares=series(x.tgt, "target_shares"),
            post_shares=series(post, "post_shares"),
            pre_weights=series(x.pre, "pre_weight"),
            target_weights=x.w.rename("target_weight"),
            post_weights=series(_weights_of(post, x.p, x.equity), "post_weight"),
        )


def _finite_cash(cash: Any) -> float:
    if (
        isinstance(cash, bool)
        or not isinstance(cash, int | float | np.integer | np.floating)
        or not math.isfinite(cash)
    ):
        raise ConfigError(f"cash must be a finite number (negative = borrowed), got {cash!r}")
    return float(cash)


def _weights_of(shares: IntArray, p: FloatArray, equity: float) -> FloatArray:
    return np.where(shares != 0, shares * np.nan_to_num(p), 0.0) / equity


@dataclass(frozen=True, eq=False)
class _Inputs:
    """The validated, aligned inputs of one plan (arrays in the order of ``symbols``)."""

    symbols: pd.Index
    w_in: pd.Series
    w: pd.Series
    cur: IntArray
    tgt: IntArray
    p: FloatArray
    cash: float
    equity: float
    long_scale: float
    pre: FloatArray = field(init=False)
    names: list[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pre", _weights_of(self.cur, self.p, self.equity))
        object.__setattr__(self, "names", [str(s) for s in self.symbols])

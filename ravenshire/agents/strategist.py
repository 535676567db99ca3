"""The Strategist: target weights from the portfolio layer, shaped by the regime, and the orders that reach them.

Inputs: ``prices`` (wide closes up to the decision date), ``analyst`` and ``oracle`` (their decisions or payloads);
optionally ``positions`` (shares held by symbol) and ``cash`` to plan the orders, and ``last_prices`` (the raw closes
the orders are priced at; default the last row of ``prices``).

1. The universe is the Analyst's selected LONG signals (this book is long-only: a short signal means "not held").
2. Weights: ``optimizer`` (a :func:`ravenshire.portfolio.optimizers.optimize_weights` method) on the last
   ``lookback`` daily returns of that universe, fully invested; one symbol gets weight 1.
3. Regime: every weight is multiplied by ``regime_exposure[regime]`` (e.g. 0.25 in a crisis): the rest is cash.
4. Limits: each weight is capped at ``max_position_weight`` and the total at ``max_leverage``; what the caps remove
   stays in cash (it is not spread over the others, which would raise their risk).
5. Orders (when ``positions`` and ``cash`` are given): :class:`ravenshire.portfolio.Rebalancer` from the held
   shares to the targets at the last closes — sells first, whole-share targets, never more cash than there is.
   Holdings may be fractional (partial fills, fractional quantities) while the Rebalancer plans in whole shares,
   so each holding is split into its whole shares (toward zero; within :data:`WHOLE_TOLERANCE` of a whole number
   it is that number) and a residue under one share, and the plan is made exact with respect to what is held:

   - an order that reduces a position (a sell of a long, a buy covering a short) lands exactly on its whole
     target: it trades ``held − target`` shares, fractional when the holding is, so a sell to zero sells exactly
     what is held (10.4 held → SELL 10.4), never a residue left or a share oversold;
   - a position held only as a residue (0.4 shares) whose target is 0 is closed by an order of exactly that;
   - buys that raise a position stay whole shares (the Rebalancer's convention); a residue of a symbol still
     targeted stays held;
   - the sizing equity counts the whole shares only (the residues, under one share each, are left out: the plan
     never spends cash it does not have); ``expected_cost`` and ``turnover`` are of the final orders, turnover
     over the equity with the residues.

``recommendation``: ``rebalance`` when there are orders, ``hold`` when the book is already at its targets (or no
orders were planned), ``go_flat`` when no symbol is selected; ``confidence``: the Oracle's confidence times the
Analyst's (a weak reading on either side weakens the plan).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ravenshire.agents.base import BaseAgent, Decision
from ravenshire.config import AGENT_OPTIMIZERS, REGIME_NAMES
from ravenshire.errors import ConfigError

__all__ = ["WHOLE_TOLERANCE", "StrategistAgent", "payload_of"]

#: A holding this close to a whole number of shares is that number (the ledger's tolerance).
WHOLE_TOLERANCE = 1e-6


def payload_of(value: Any, what: str) -> Mapping[str, Any]:
    """A decision's payload (a Decision, its ``to_dict()`` or the payload itself)."""
    if isinstance(value, Decision):
        return value.payload
    if isinstance(value, Mapping):
        inner = value.get("payload")
        return inner if isinstance(inner, Mapping) else value
    raise ConfigError(f"{what} must be a Decision or its payload, got {type(value).__name__}")


def confidence_of(value: Any) -> float:
    if isinstance(value, Decision):
        return value.confidence
    if isinstance(value, Mapping) and "confidence" in value:
        return float(value["confidence"])
    return 1.0


class StrategistAgent(BaseAgent):
    """Target weights and orders (see the module docstring)."""

    name = "strategist"
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "optimizer": "risk_parity",
        "lookback": 252,
        "regime_exposure": {"bull": 1.0, "sideways": 0.8, "bear": 0.5, "crisis": 0.25},
        "max_position_weight": 0.25,
        "max_leverage": 1.5,
        "commission_bps": 1.0,
        "slippage_bps": 5.0,
        "min_trade_value": 100.0,
    }
    REQUIRED = ("prices", "analyst", "oracle")

    def _weights(self, prices: pd.DataFrame, universe: list[str]) -> pd.Series:
        if not universe:
            return pd.Series(dtype=float)
        if len(universe) == 1:
            return pd.Series({universe[0]: 1.0})
        method = str(self.config["optimizer"])
        if method not in AGENT_OPTIMIZERS:
            raise ConfigError(f"optimizer must be one of {', '.join(AGENT_OPTIMIZERS)}, got {method!r}")
        from ravenshire.portfolio.optimizers import Constraints, optimize_weights

        returns = prices[universe].pct_change().iloc[1:].iloc[-int(self.config["lookback"]) :].dropna(how="all")
        result = optimize_weights(returns, method, constraints=Constraints(long_only=True))
        return result.weights.reindex(universe).fillna(0.0)

    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        prices: pd.DataFrame = inputs["prices"]
        analyst, oracle = payload_of(inputs["analyst"], "analyst"), payload_of(inputs["oracle"], "oracle")
        regime = str(oracle.get("regime"))
        exposure = dict(self.config["regime_exposure"])
        if regime not in REGIME_NAMES or regime not in exposure:
            raise ConfigError(f"the Oracle's regime {regime!r} has no exposure multiplier ({', '.join(exposure)})")
        signals = analyst.get("signals") or {}
        universe = [s for s in analyst.get("selected", []) if (signals.get(s) or {}).get("direction", 0) > 0]
        universe = [s for s in universe if s in prices.columns]
        multiplier = float(exposure[regime])
        raw = self._weights(prices, universe)
        weights = raw * multiplier
        cap = float(self.config["max_position_weight"])
        weights = weights.clip(upper=cap)
        gross = float(weights.sum())
        if gross > float(self.config["max_leverage"]) > 0:
            weights *= float(self.config["max_leverage"]) / gross
        reasoning = [
            f"{len(universe)} long candidates from the Analyst; {self.config['optimizer']} weights",
            f"regime {regime}: exposure × {multiplier:g}; each weight capped at {cap:.0%}",
            f"invested {float(weights.sum()):.1%}, cash {1 - float(weights.sum()):.1%}",
        ]
        payload: dict[str, Any] = {
            "regime": regime,
            "exposure_multiplier": multiplier,
            "optimizer": self.config["optimizer"],
            "raw_weights": {k: float(v) for k, v in raw.items()},
            "target_weights": {k: float(v) for k, v in weights.items() if v > 0},
            "gross": float(weights.sum()),
            "orders": [],
        }
        recommendation = "go_flat" if not universe else "hold"
        positions, cash = inputs.get("positions"), inputs.get("cash")
        if positions is not None and cash is not None:
            last = inputs.get("last_prices")
            plan = self._plan(prices, dict(positions), weights, float(cash), last)
            payload.update(plan)
            if plan["orders"]:
                recommendation = "rebalance"
                reasoning.append(
                    f"{len(plan['orders'])} orders, turnover {plan['turnover']:.1%}, expected cost "
                    f"{plan['expected_cost']:,.2f}"
                )
            else:
                reasoning.append("the book is at its targets: no order")
        confidence = confidence_of(inputs["oracle"]) * confidence_of(inputs["analyst"])
        return recommendation, confidence, reasoning, payload

    def _plan(
        self,
        prices: pd.DataFrame,
        positions: dict[str, float],
        weights: pd.Series,
        cash: float,
        last_prices: Any = None,
    ) -> dict[str, Any]:
        from ravenshire.portfolio.rebalance import Rebalancer
        from ravenshire.research.engine import Costs

        exact = {str(s): float(q) for s, q in positions.items() if abs(float(q)) > WHOLE_TOLERANCE}
        whole = {s: _whole_shares(q) for s, q in exact.items()}
        symbols = sorted(set(exact) | set(weights.index[weights > 0]))
        closes = prices.iloc[-1] if last_prices is None else pd.Series(last_prices, dtype=float)
        missing = [s for s in symbols if not np.isfinite(closes.get(s, np.nan)) or closes.get(s, 0.0) <= 0]
        if missing:
            raise ConfigError(f"the Strategist has no last close for {', '.join(missing)}")
        last = closes[symbols]
        costs = Costs(
            commission_bps=float(self.config["commission_bps"]), slippage_bps=float(self.config["slippage_bps"])
        )
        rebalancer = Rebalancer(
            costs,
            min_trade_value=float(self.config["min_trade_value"]),
            max_weight=float(self.config["max_position_weight"]),
        )
        plan = rebalancer.plan(pd.Series(whole, dtype=float), weights, last, cash=cash)
        orders = [_exact_order(o, exact.get(o.symbol, 0.0)) for o in plan.orders]
        ordered = {o["symbol"] for o in orders}
        for sym in sorted(exact):  # a residue-only position whose target is 0: close exactly what is held
            if whole[sym] == 0 and sym not in ordered and float(weights.get(sym, 0.0)) == 0.0:
                orders.append(_residue_close(sym, exact[sym], float(last[sym])))
        orders.sort(key=lambda o: (o["side"] == "BUY", -o["value"], o["symbol"]))  # sells first, as planned
        traded = float(sum(o["value"] for o in orders))
        equity = cash + sum(q * float(last[s]) for s, q in exact.items())
        return {
            "orders": orders,
            "skipped": dict(plan.skipped),
            "expected_cost": costs.proportional * traded + costs.fixed_per_trade * len(orders),
            "turnover": traded / equity if equity > 0 else float(plan.turnover),
        }


def _whole_shares(quantity: float) -> int:
    """The whole shares of a holding: toward zero, or the nearest whole number within :data:`WHOLE_TOLERANCE`."""
    nearest = round(quantity)
    return int(nearest) if abs(quantity - nearest) <= WHOLE_TOLERANCE else int(np.trunc(quantity))


def _shares(quantity: float) -> int | float:
    """An order quantity: an int when whole (within :data:`WHOLE_TOLERANCE`), else the exact fraction."""
    nearest = round(quantity)
    return int(nearest) if abs(quantity - nearest) <= WHOLE_TOLERANCE else float(quantity)


def _exact_order(order: Any, held: float) -> dict[str, Any]:
    """A planned order as a payload, exact with respect to the holding ``held``: an order that reduces the position
    trades ``held − target`` shares (all of it to zero), an order that raises it stays whole."""
    target = float(order.target_shares)
    quantity: float = float(order.quantity)
    if order.side == "SELL" and 0.0 <= target < held:
        quantity = held - target
    elif order.side == "BUY" and held < target <= 0.0:
        quantity = target - held
    shares = _shares(quantity)
    return {
        "symbol": order.symbol,
        "side": order.side,
        "quantity": shares,
        "price": float(order.price),
        "value": float(shares * float(order.price)),
        "reason": order.reason,
    }


def _residue_close(symbol: str, held: float, price: float) -> dict[str, Any]:
    side = "SELL" if held > 0 else "BUY"
    return {
        "symbol": symbol,
        "side": side,
        "quantity": abs(held),
        "price": price,
        "value": abs(held) * price,
        "reason": f"close the residue of {held:+g} shares: target weight 0",
    }

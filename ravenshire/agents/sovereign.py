"""The Sovereign: the final authority. It weighs the other agents' readings, may hold, and emits the orders that
go to the ExecutionManager.

Inputs: ``oracle``, ``analyst``, ``strategist``, ``sentinel`` (their decisions, or mappings with ``confidence``
and ``payload``).

- A book veto of the Sentinel means no BUY: only the SELLs the Sentinel still approved go (``reduce_only``), and
  nothing here can override it. Only the orders the Sentinel approved can ever be emitted.
- The overall confidence is the weighted mean of the Oracle's, the Analyst's and the Strategist's confidences
  (weights ``weights``: 0.4, 0.4, 0.2 by default). Below ``decision_threshold`` the Sovereign holds — except for
  orders that only SELL (reducing risk is never held back for lack of conviction).
- Otherwise it emits the approved orders.

``recommendation``: ``execute``, ``reduce_only`` (low confidence: only the approved sells), ``hold`` or ``veto``;
``confidence``: the overall confidence. ``payload["orders"]``: what to send, each with symbol, side, quantity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ravenshire.agents.base import BaseAgent
from ravenshire.agents.strategist import confidence_of, payload_of

__all__ = ["SovereignAgent"]


class SovereignAgent(BaseAgent):
    """The final decision (see the module docstring)."""

    name = "sovereign"
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "decision_threshold": 0.5,
        "weights": {"oracle": 0.4, "analyst": 0.4, "strategist": 0.2},
    }
    REQUIRED = ("oracle", "analyst", "strategist", "sentinel")

    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        weights = dict(self.config["weights"])
        total = sum(float(weights.get(k, 0.0)) for k in ("oracle", "analyst", "strategist"))
        confidence = (
            sum(float(weights.get(k, 0.0)) * confidence_of(inputs[k]) for k in ("oracle", "analyst", "strategist"))
            / total
            if total > 0
            else 0.0
        )
        sentinel = payload_of(inputs["sentinel"], "sentinel")
        vetoes = list(sentinel.get("vetoes") or [])
        approved = list(sentinel.get("approved_orders") or [])
        threshold = float(self.config["decision_threshold"])
        book = [v for v in vetoes if v.get("scope") == "book"]
        reasoning = [f"overall confidence {confidence:.0%} (threshold {threshold:.0%})"]
        if book:
            reasoning += [f"Sentinel veto: {v.get('detail')}" for v in book]
            sells = [o for o in approved if o.get("side") == "SELL"]  # what the Sentinel still lets through
            if sells:
                reasoning.append(f"only the {len(sells)} approved sells go (risk reduction)")
                return "reduce_only", confidence, reasoning, {"orders": sells, "vetoes": vetoes, "threshold": threshold}
            return "veto", confidence, reasoning, {"orders": [], "vetoes": vetoes, "threshold": threshold}
        if confidence < threshold:
            sells = [o for o in approved if o.get("side") == "SELL"]
            if sells:
                reasoning.append(f"below the threshold: only the {len(sells)} approved sells go (risk reduction)")
                return "reduce_only", confidence, reasoning, {"orders": sells, "vetoes": vetoes, "threshold": threshold}
            reasoning.append("below the threshold: hold")
            return "hold", confidence, reasoning, {"orders": [], "vetoes": vetoes, "threshold": threshold}
        if not approved:
            reasoning.append("no approved order: hold")
            return "hold", confidence, reasoning, {"orders": [], "vetoes": vetoes, "threshold": threshold}
        refused = len(sentinel.get("refused_orders") or [])
        reasoning.append(f"execute {len(approved)} orders" + (f" ({refused} vetoed)" if refused else ""))
        return "execute", confidence, reasoning, {"orders": approved, "vetoes": vetoes, "threshold": threshold}

"""The Sovereign: the final authority. It weighs the other agents' readings, may hold, and emits the orders that
go to the ExecutionManager.

Inputs: ``oracle``, ``analyst``, ``strategist``, ``sentinel`` (their decisions, or mappings with ``confidence``
and ``payload``).

- A book veto of the Sentinel means no BUY: only the SELLs the Sentinel still approved go (``reduce_only``), and
  nothing here can override it. Only the orders the Sentinel approved can ever be emitted.
- The overall confidence counts each independent source once: the weighted mean of the Oracle's and the
  Analyst's confidences,

  ``C = (w_oracle · c_oracle + w_analyst · c_analyst) / (w_oracle + w_analyst)``

  (``weights``: 0.5 and 0.5 by default). The Strategist's confidence is not a source of its own: it is
  ``c_oracle · c_analyst`` (see :mod:`ravenshire.agents.strategist`), so adding it would count the Oracle and the
  Analyst twice; it is reported in the reasoning only. The Sentinel's checks are a veto, not a confidence.
  Below ``decision_threshold`` the Sovereign holds — except for orders that only SELL (reducing risk is never held
  back for lack of conviction).
- Otherwise it emits the approved orders.

``recommendation``: ``execute``, ``reduce_only`` (low confidence: only the approved sells), ``hold`` or ``veto``;
``confidence``: the overall confidence. ``payload["orders"]``: what to send, each with symbol, side, quantity.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from ravenshire.agents.base import BaseAgent
from ravenshire.agents.strategist import confidence_of, payload_of
from ravenshire.errors import ConfigError

__all__ = ["SOURCES", "SovereignAgent"]

#: The independent confidences the Sovereign weighs (the Strategist's is their product, not a third source).
SOURCES = ("oracle", "analyst")


class SovereignAgent(BaseAgent):
    """The final decision (see the module docstring)."""

    name = "sovereign"
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "decision_threshold": 0.5,
        "weights": {"oracle": 0.5, "analyst": 0.5},
    }
    REQUIRED = ("oracle", "analyst", "strategist", "sentinel")

    def __init__(self, config: Mapping[str, Any] | None = None, *, clock: Any = None) -> None:
        super().__init__(config, clock=clock)
        self._weights()  # refused here, not at the first decision

    def _weights(self) -> dict[str, float]:
        given = dict(self.config["weights"])
        unknown = sorted(set(given) - set(SOURCES))
        if unknown:
            raise ConfigError(
                f"SovereignAgent weights: {', '.join(unknown)} is not a source of its own (the Strategist's "
                f"confidence is the Oracle's times the Analyst's); weigh only {', '.join(SOURCES)}"
            )
        weights = {k: float(given.get(k, 0.0)) for k in SOURCES}
        if any(not w >= 0.0 for w in weights.values()) or sum(weights.values()) <= 0.0:
            raise ConfigError(f"SovereignAgent weights must be >= 0 with a positive sum, got {given!r}")
        return weights

    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        weights = self._weights()
        confidence = sum(w * confidence_of(inputs[k]) for k, w in weights.items()) / sum(weights.values())
        sentinel = payload_of(inputs["sentinel"], "sentinel")
        vetoes = list(sentinel.get("vetoes") or [])
        approved = list(sentinel.get("approved_orders") or [])
        threshold = float(self.config["decision_threshold"])
        book = [v for v in vetoes if v.get("scope") == "book"]
        reasoning = [
            f"overall confidence {confidence:.0%} (threshold {threshold:.0%}): Oracle "
            f"{confidence_of(inputs['oracle']):.0%}, Analyst {confidence_of(inputs['analyst']):.0%} "
            f"(the Strategist's {confidence_of(inputs['strategist']):.0%} derives from them: not counted again)"
        ]
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

"""The Sentinel: the risk veto. It checks the Strategist's proposal against the ``[RISK]`` limits and the kill
switch, and vetoes trades or the whole book, each veto with its reason. Nothing downstream can override a veto:
the Sovereign only ever sends what the Sentinel approved.

Inputs: ``strategist`` (its decision or payload: ``target_weights`` and ``orders``), ``prices`` (wide closes: the
assets' daily history for the VaR of the target portfolio); optionally ``kill_switch`` (a mapping with ``active``
and ``message``, or a :class:`~ravenshire.execution.KillSwitchState`), ``equity_curve`` (the book's daily equity,
for the current drawdown), ``groups`` (symbol → sector or cluster).

Checks (:class:`ravenshire.portfolio.RiskMonitor`, the same definitions as everywhere else):

- the whole book is vetoed when the kill switch is on (``kill_switch``), the current drawdown of the book's equity
  curve has reached ``max_drawdown`` (``drawdown``; a book without a curve has lost nothing), the target's gross
  leverage is above ``max_leverage`` (``max_leverage``), the one-day 95 % VaR of the target weights over the last
  ``var_lookback`` days is above ``var_limit`` (``var``; only over days every target symbol traded, and with at
  least ``min_history`` of them), or a limit could not be checked at all (``unchecked``: a risk veto fails
  closed). A book veto stops every BUY; SELLs still go (cutting risk is never vetoed) — except under the kill
  switch, when nothing goes;
- a trade is vetoed when it raises a position above ``max_position_weight`` (``concentration``) or buys into a
  group above ``max_group_weight`` (``group_concentration``); a sell is never vetoed by these (it reduces risk).

``recommendation``: ``veto`` (book vetoed: no order), ``partial`` (some trades vetoed) or ``approve``;
``confidence`` 1 (the checks are deterministic).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import pandas as pd

from ravenshire.agents.base import BaseAgent
from ravenshire.agents.strategist import payload_of
from ravenshire.config import RiskConfig

__all__ = ["SentinelAgent"]

_BOOK_LIMITS = {"max_leverage": "max_leverage", "var_limit": "var", "max_drawdown": "drawdown"}


class SentinelAgent(BaseAgent):
    """The risk veto (see the module docstring)."""

    name = "sentinel"
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "max_leverage": 1.5,
        "var_limit": 0.02,
        "max_drawdown": 0.15,
        "max_position_weight": 0.25,
        "max_group_weight": 0.4,
        "var_method": "historical",
        "var_lookback": 252,
        "min_history": 60,
    }
    REQUIRED = ("strategist", "prices")

    def _monitor(self, groups: Mapping[str, str] | None) -> Any:
        from ravenshire.portfolio.limits import RiskMonitor

        risk = RiskConfig(
            max_leverage=float(self.config["max_leverage"]),
            var_limit=float(self.config["var_limit"]),
            max_drawdown=float(self.config["max_drawdown"]),
            max_position_weight=float(self.config["max_position_weight"]),
            max_group_weight=float(self.config["max_group_weight"]),
            var_method=str(self.config["var_method"]),
        )
        return RiskMonitor(risk, groups={} if groups is None else dict(groups))

    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        proposal = payload_of(inputs["strategist"], "strategist")
        prices: pd.DataFrame = inputs["prices"]
        weights = pd.Series(dict(proposal.get("target_weights") or {}), dtype=float)
        orders = list(proposal.get("orders") or [])
        vetoes: list[dict[str, Any]] = []
        switch = inputs.get("kill_switch")
        if switch is not None:
            active = getattr(switch, "active", None)
            active = switch.get("active") if active is None and isinstance(switch, Mapping) else active
            if active:
                message = getattr(switch, "message", None) or (
                    switch.get("message") if isinstance(switch, Mapping) else None
                )
                vetoes.append(
                    {
                        "scope": "book",
                        "symbol": None,
                        "reason": "kill_switch",
                        "detail": message or "the kill switch is on",
                    }
                )
        groups = inputs.get("groups")
        monitor = self._monitor(groups)
        report = None
        if len(weights):
            assets = prices[[s for s in weights.index if s in prices.columns]]
            history = assets.pct_change().iloc[1:].iloc[-int(self.config["var_lookback"]) :]
            short = sorted(str(c) for c, n in history.count().items() if n < int(self.config["min_history"]))
            missing = sorted(set(weights.index) - set(prices.columns))
            if short or missing:
                vetoes.append(
                    {
                        "scope": "book",
                        "symbol": None,
                        "reason": "unchecked",
                        "detail": f"VaR cannot be measured: fewer than {self.config['min_history']} daily returns for "
                        f"{', '.join(short + missing)}",
                    }
                )
            history = history.dropna()  # the days every target symbol traded (no return is made up)
            portfolio = history @ weights.reindex(assets.columns).fillna(0.0)
        else:
            portfolio = pd.Series(0.0, index=prices.index[-int(self.config["var_lookback"]) :])
        curve = inputs.get("equity_curve")
        equity_curve = None if curve is None or len(curve) == 0 else pd.Series(curve, dtype=float)
        report = monitor.check(
            weights=weights if len(weights) else pd.Series({"(all cash)": 0.0}),
            returns=portfolio,
            equity_curve=equity_curve,
        )
        warnings = self._breaches(report, weights, groups, equity_curve, vetoes)
        book_veto = any(v["scope"] == "book" for v in vetoes)
        halted = any(v["reason"] == "kill_switch" for v in vetoes)
        blocked = {v["symbol"] for v in vetoes if v["scope"] == "trade"}
        if halted:
            approved = []  # nothing goes while the kill switch is on
        elif book_veto:
            approved = [o for o in orders if o["side"] == "SELL"]  # cutting risk is never vetoed
        else:
            approved = [o for o in orders if not (o["side"] == "BUY" and o["symbol"] in blocked)]
        refused = [o for o in orders if o not in approved]
        if book_veto:
            recommendation = "veto"
        elif refused:
            recommendation = "partial"
        else:
            recommendation = "approve"
        reasoning = [v["detail"] for v in vetoes] or ["every limit holds"]
        reasoning += [f"warning: {w}" for w in warnings]
        if orders:
            reasoning.append(f"{len(approved)} of {len(orders)} orders approved")
        payload = {
            "vetoes": vetoes,
            "approved_orders": approved,
            "refused_orders": refused,
            "warnings": warnings,
            "checked": list(report.checked) if hasattr(report, "checked") else None,
        }
        return recommendation, 1.0, reasoning, payload

    @staticmethod
    def _breaches(
        report: Any,
        weights: pd.Series,
        groups: Mapping[str, str] | None,
        equity_curve: pd.Series | None,
        vetoes: list[dict[str, Any]],
    ) -> list[str]:
        """Turn the risk report into vetoes (appended to ``vetoes``); returns the warnings."""
        warnings: list[str] = []
        for breach in report.breaches:
            if breach.limit == "max_drawdown" and equity_curve is None:
                continue  # measured from the target's back-test, not the book: a new book has lost nothing
            if breach.severity != "breach":
                warnings.append(breach.message)
                continue
            if breach.limit in _BOOK_LIMITS:
                vetoes.append(
                    {
                        "scope": "book",
                        "symbol": None,
                        "reason": _BOOK_LIMITS[breach.limit],
                        "detail": breach.message,
                        "value": breach.value,
                        "limit": breach.threshold,
                    }
                )
            elif breach.limit == "max_position_weight":
                vetoes.append(
                    {
                        "scope": "trade",
                        "symbol": breach.subject,
                        "reason": "concentration",
                        "detail": breach.message,
                        "value": breach.value,
                        "limit": breach.threshold,
                    }
                )
            elif breach.limit == "max_group_weight":
                members = [s for s in weights.index if (groups or {}).get(s, s) == breach.subject]
                for sym in members:
                    vetoes.append(
                        {
                            "scope": "trade",
                            "symbol": sym,
                            "reason": "group_concentration",
                            "detail": breach.message,
                            "value": breach.value,
                            "limit": breach.threshold,
                        }
                    )
        for limit, why in report.skipped.items():
            if limit == "max_drawdown" and equity_curve is None:
                continue  # no book yet (a new account): nothing has been lost
            vetoes.append(
                {
                    "scope": "book",
                    "symbol": None,
                    "reason": "unchecked",
                    "detail": f"{limit} could not be checked: {why}",
                }
            )
        return warnings

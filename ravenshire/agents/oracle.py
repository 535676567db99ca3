"""The Oracle: the market's regime and the macro reading.

Inputs (all optional, at least ``prices`` or ``regime``):

- ``prices``: wide closes (dates × symbols) up to the decision date; a ``VIX`` column is the volatility index, and
  the market is ``SPY`` when present, else the equal-weight average of the other symbols;
- ``regime``: the regime model's reading, a name (``bull``, ``bear``, ``sideways``, ``crisis``) or a mapping with
  ``regime`` and ``probabilities``; without it the Oracle fits :class:`ravenshire.ml.RegimeDetector` on ``prices``;
- ``vix``: the volatility index level (default the last ``VIX`` close);
- ``yield_curve``: the 10-year minus 2-year yield, percentage points (an inverted curve is < 0).

The reading, each a vote for risk on (+1), neutral (0) or risk off (−1):

- regime: bull +1, sideways 0, bear −1, crisis −1;
- volatility: VIX above ``vix_threshold`` −1, else +1;
- trend: the market above its 200-session moving average +1, below −1 (0 with less history);
- yield curve (when given): inverted −1, else 0.

``recommendation`` is ``risk_off`` when the regime is crisis or bear or the votes sum below 0, ``risk_on`` when
the regime is bull and the sum is above 0, else ``neutral``. ``confidence`` is the regime's probability times the
share of the votes that agree with the recommendation (a neutral call agrees with neutral votes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ravenshire.agents.base import BaseAgent
from ravenshire.config import REGIME_NAMES
from ravenshire.errors import ConfigError

__all__ = ["OracleAgent", "market_index"]

_REGIME_VOTE = {"bull": 1, "sideways": 0, "bear": -1, "crisis": -1}
TREND_WINDOW = 200


def market_index(prices: pd.DataFrame) -> pd.Series:
    """The market: ``SPY`` when present, else the equal-weight average of the symbols' growth (VIX excluded),
    starting at 1."""
    if "SPY" in prices.columns:
        return prices["SPY"].astype(float)
    assets = prices.drop(columns=[c for c in prices.columns if c == "VIX"])
    if assets.shape[1] == 0:
        raise ConfigError("the Oracle needs at least one price series besides VIX")
    growth = assets / assets.bfill().iloc[0]
    return growth.mean(axis=1, skipna=True)


class OracleAgent(BaseAgent):
    """Regime and macro reading (see the module docstring)."""

    name = "oracle"
    DEFAULTS: ClassVar[Mapping[str, Any]] = {"vix_threshold": 20.0, "random_state": 7}

    def _regime(self, inputs: Mapping[str, Any]) -> tuple[str, dict[str, float]]:
        given = inputs.get("regime")
        if given is None:
            prices = inputs.get("prices")
            if prices is None:
                raise ConfigError("the Oracle needs prices or a regime reading")
            from ravenshire.ml import RegimeDetector

            latest = RegimeDetector(random_state=int(self.config["random_state"])).fit_predict(prices).latest
            return str(latest["regime"]), {str(k): float(v) for k, v in latest["probabilities"].items()}
        probabilities: dict[str, float]
        if isinstance(given, str):
            name, probabilities = given, {given: 1.0}
        elif isinstance(given, Mapping):
            name = str(given.get("regime"))
            probabilities = {str(k): float(v) for k, v in dict(given.get("probabilities") or {name: 1.0}).items()}
        else:
            raise ConfigError(f"regime must be a name or a mapping with regime and probabilities, got {given!r}")
        if name not in REGIME_NAMES:
            raise ConfigError(f"regime must be one of {', '.join(REGIME_NAMES)}, got {name!r}")
        return name, probabilities

    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        regime, probabilities = self._regime(inputs)
        threshold = float(self.config["vix_threshold"])
        prices = inputs.get("prices")
        vix = inputs.get("vix")
        if vix is None and prices is not None and "VIX" in prices.columns:
            last = prices["VIX"].dropna()
            vix = float(last.iloc[-1]) if len(last) else None
        trend, trend_gap = 0, None
        if prices is not None:
            market = market_index(prices).dropna()
            if len(market) >= TREND_WINDOW:
                ma = float(market.iloc[-TREND_WINDOW:].mean())
                trend_gap = float(market.iloc[-1] / ma - 1.0)
                trend = 1 if trend_gap > 0 else -1
        curve = inputs.get("yield_curve")
        votes = {"regime": _REGIME_VOTE[regime]}
        reasoning = [f"regime {regime} (probability {probabilities.get(regime, float('nan')):.0%})"]
        if vix is not None:
            votes["volatility"] = -1 if vix > threshold else 1
            side = "above" if vix > threshold else "at or below"
            reasoning.append(f"VIX {vix:.1f} {side} the threshold {threshold:g}")
        if trend_gap is not None:
            votes["trend"] = trend
            reasoning.append(
                f"market {abs(trend_gap):.1%} {'above' if trend > 0 else 'below'} its {TREND_WINDOW}-session average"
            )
        if curve is not None:
            votes["yield_curve"] = -1 if float(curve) < 0 else 0
            reasoning.append(f"yield curve {float(curve):+.2f} pp{' (inverted)' if float(curve) < 0 else ''}")
        total = sum(votes.values())
        if regime in ("crisis", "bear") or total < 0:
            recommendation, direction = "risk_off", -1
        elif regime == "bull" and total > 0:
            recommendation, direction = "risk_on", 1
        else:
            recommendation, direction = "neutral", 0
        agree = float(np.mean([v == direction for v in votes.values()]))
        confidence = probabilities.get(regime, 0.0) * agree
        reasoning.append(f"{recommendation}: {agree:.0%} of the readings agree")
        payload = {
            "regime": regime,
            "probabilities": probabilities,
            "vix": vix,
            "vix_threshold": threshold,
            "vix_above_threshold": None if vix is None else bool(vix > threshold),
            "trend": {1: "up", -1: "down", 0: "unknown"}[trend],
            "trend_gap": trend_gap,
            "yield_curve": None if curve is None else float(curve),
            "votes": votes,
        }
        return recommendation, confidence, reasoning, payload

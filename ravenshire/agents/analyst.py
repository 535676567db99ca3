"""The Analyst: alpha signals per symbol from a research strategy, with confidences, and the asset clusters.

Inputs: ``prices`` (wide closes up to the decision date; a ``VIX`` column is not traded), optionally ``clusters``
(a precomputed :class:`ravenshire.ml.ClusterResult` or its ``to_dict()``; else the Analyst clusters the assets
itself with :class:`ravenshire.ml.AssetClusterer`).

Signal of symbol i: the sign of the strategy's weight on the last date (``strategy``, a built-in research
strategy, with ``params``); +1 long, −1 short, 0 flat. Confidence: how far the symbol's trend is from noise, the
one-sided probability of its trailing return's z-score, ``Φ(|z|)`` with
``z = r_L / (σ·√L)`` (``r_L`` the log return over the last ``L = confidence_lookback`` sessions, ``σ`` the daily
log-return standard deviation over them). It is 0.5 for a trend indistinguishable from noise and → 1 for a strong
one. A signal whose direction disagrees with its own trend (a mean-reversion entry) gets 0.5: the trend gives
no evidence for it. Signals below ``min_confidence`` are dropped (``selected`` lists the rest).

``recommendation``: ``signals`` when any long or short survives, else ``no_signal``; ``confidence``: the mean
confidence of the selected signals (0 when none).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd
from scipy.stats import norm

from ravenshire.agents.base import BaseAgent
from ravenshire.errors import ConfigError

__all__ = ["AnalystAgent"]


class AnalystAgent(BaseAgent):
    """Alpha signals and clusters (see the module docstring)."""

    name = "analyst"
    DEFAULTS: ClassVar[Mapping[str, Any]] = {
        "strategy": "ts_momentum",
        "params": {},
        "min_confidence": 0.55,
        "confidence_lookback": 126,
        "k_min": 2,
        "k_max": 8,
        "random_state": 7,
    }
    REQUIRED = ("prices",)

    def _signals(self, prices: pd.DataFrame) -> pd.DataFrame:
        from ravenshire.research.strategies import get_strategy

        spec = get_strategy(str(self.config["strategy"]))
        weights = spec(prices, **dict(self.config["params"] or {}))
        last = weights.iloc[-1].reindex(prices.columns).fillna(0.0)
        direction = np.sign(last.to_numpy(dtype=float))
        lookback = int(self.config["confidence_lookback"])
        values = prices.to_numpy(dtype=float)
        logs = pd.DataFrame(np.log(values), index=prices.index, columns=prices.columns).diff().iloc[-lookback:]
        total = logs.sum(min_count=1)
        sigma = logs.std(ddof=1)
        n = logs.count()
        z = total / (sigma * np.sqrt(n.clip(lower=1)))
        strength = pd.Series(norm.cdf(z.abs().to_numpy(dtype=float)), index=prices.columns)
        agrees = np.sign(z.to_numpy(dtype=float)) == direction
        confidence = strength.where(agrees, 0.5).where(direction != 0, 0.0)
        return pd.DataFrame(
            {
                "direction": direction.astype(int),
                "weight": last,
                "z": z,
                "trailing_return": np.expm1(total),
                "confidence": confidence.fillna(0.0),
            },
            index=prices.columns,
        )

    def _clusters(self, inputs: Mapping[str, Any], prices: pd.DataFrame) -> dict[str, Any] | None:
        given = inputs.get("clusters")
        if given is not None:
            return given.to_dict() if hasattr(given, "to_dict") else dict(given)
        if prices.shape[1] < 3:
            return None
        from ravenshire.ml import AssetClusterer

        returns = prices.pct_change().iloc[1:]
        k_max = min(int(self.config["k_max"]), prices.shape[1] - 1)
        k_min = min(int(self.config["k_min"]), k_max)
        result = AssetClusterer(k_range=(k_min, k_max), random_state=int(self.config["random_state"])).fit(returns)
        return result.to_dict()

    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        prices = inputs["prices"]
        if not isinstance(prices, pd.DataFrame) or prices.empty:
            raise ConfigError("the Analyst needs prices: a non-empty DataFrame of closes (dates × symbols)")
        assets = prices.drop(columns=[c for c in prices.columns if c == "VIX"]).dropna(axis=1, how="all")
        signals = self._signals(assets)
        floor = float(self.config["min_confidence"])
        chosen = signals[(signals["direction"] != 0) & (signals["confidence"] >= floor)]
        dropped = signals[(signals["direction"] != 0) & (signals["confidence"] < floor)]
        clusters = self._clusters(inputs, assets)
        confidence = float(chosen["confidence"].mean()) if len(chosen) else 0.0
        longs, shorts = int((chosen["direction"] > 0).sum()), int((chosen["direction"] < 0).sum())
        reasoning = [
            f"{self.config['strategy']} on {assets.shape[1]} symbols: {longs} long, {shorts} short with confidence "
            f"≥ {floor:.0%}, {len(dropped)} dropped below it",
        ]
        if clusters is not None:
            reasoning.append(f"{clusters.get('k', '?')} asset clusters")
        payload = {
            "strategy": self.config["strategy"],
            "params": dict(self.config["params"] or {}),
            "signals": {
                sym: {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in row.items()}
                for sym, row in signals.to_dict(orient="index").items()
            },
            "selected": list(chosen.index),
            "min_confidence": floor,
            "clusters": clusters,
        }
        return ("signals" if len(chosen) else "no_signal"), confidence, reasoning, payload

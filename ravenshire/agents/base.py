"""The agents' common ground: :class:`Decision`, :class:`BaseAgent` and how payloads become JSON.

An agent is a pure function of its inputs and its configuration: ``process(inputs) -> Decision``. It reads
nothing from the store and writes nothing; the :class:`~ravenshire.agents.coordinator.AgentCoordinator` prepares
the inputs from the store, passes each agent's decision to the next, and records every input and output as a
message. So an agent can be run on crafted inputs (the seed's ``OracleAgent(config={"vix_threshold": 20})
.process({...})``), and a cycle is deterministic for its data and configuration.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = ["AGENTS", "BaseAgent", "Decision", "to_jsonable"]

#: The five agents, in the order of the cycle.
AGENTS = ("oracle", "analyst", "strategist", "sentinel", "sovereign")


def to_jsonable(value: Any) -> Any:
    """Plain JSON values for a payload: Series → dict, DataFrame → list of records, Timestamps → ISO text, numpy
    scalars → Python numbers, NaN → None, ±inf → "inf"/"-inf"; dataclasses and objects with ``to_dict`` too."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        x = float(value)
        if math.isnan(x):
            return None
        return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")
    if isinstance(value, pd.Timestamp | dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, pd.Series):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        frame = value.reset_index() if value.index.name is not None else value
        return [{str(k): to_jsonable(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset | np.ndarray):
        return [to_jsonable(v) for v in value]
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_jsonable(dataclasses.asdict(value))
    return str(value)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Decision:
    """What an agent decided: ``recommendation`` (the agent's verb, e.g. ``risk_off``, ``execute``, ``hold``),
    ``confidence`` in [0, 1], ``reasoning`` (sentences a person reads), ``payload`` (the figures the next agent
    uses) and when."""

    agent: str
    recommendation: str
    confidence: float
    reasoning: tuple[str, ...]
    payload: Mapping[str, Any]
    time: dt.datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent": self.agent,
            "recommendation": self.recommendation,
            "confidence": to_jsonable(self.confidence),
            "reasoning": list(self.reasoning),
            "payload": to_jsonable(self.payload),
            "time": self.time.isoformat(),
        }


class BaseAgent(ABC):
    """An agent: ``config`` is a plain mapping of its settings (defaults in :attr:`DEFAULTS`; an unknown key is
    refused), ``process(inputs)`` returns a :class:`Decision`. ``clock`` gives the decision's time (UTC)."""

    name: ClassVar[str]
    #: The settings the agent knows, with their defaults.
    DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    #: The inputs ``process`` needs.
    REQUIRED: ClassVar[tuple[str, ...]] = ()

    def __init__(self, config: Mapping[str, Any] | None = None, *, clock: Any = None) -> None:
        given = dict(config or {})
        unknown = sorted(set(given) - set(self.DEFAULTS))
        if unknown:
            raise ConfigError(
                f"{type(self).__name__}: unknown setting(s) {', '.join(unknown)}; known: "
                f"{', '.join(sorted(self.DEFAULTS)) or 'none'}"
            )
        self.config: dict[str, Any] = {**self.DEFAULTS, **given}
        self._clock = clock or (lambda: dt.datetime.now(dt.UTC))

    def process(self, inputs: Mapping[str, Any]) -> Decision:
        """Decide on ``inputs`` (ConfigError naming a missing input)."""
        if not isinstance(inputs, Mapping):
            raise ConfigError(f"{type(self).__name__}.process takes a mapping of inputs, got {type(inputs).__name__}")
        missing = [k for k in self.REQUIRED if inputs.get(k) is None]
        if missing:
            raise ConfigError(f"{type(self).__name__} needs input(s) {', '.join(missing)}")
        recommendation, confidence, reasoning, payload = self._decide(inputs)
        confidence = float(np.clip(confidence, 0.0, 1.0)) if math.isfinite(confidence) else 0.0
        return Decision(
            agent=self.name,
            recommendation=recommendation,
            confidence=confidence,
            reasoning=tuple(reasoning),
            payload=payload,
            time=self._clock(),
        )

    @abstractmethod
    def _decide(self, inputs: Mapping[str, Any]) -> tuple[str, float, list[str], dict[str, Any]]:
        """(recommendation, confidence, reasoning, payload)."""

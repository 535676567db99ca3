"""The five-agent decision pipeline (the seed's multi-agent system) and its coordinator.

Oracle (regime and macro) → Analyst (signals and clusters) → Strategist (target weights and orders) → Sentinel
(risk veto) → Sovereign (final decision). Each agent is a pure ``process(inputs) -> Decision``;
:class:`AgentCoordinator` runs a daily cycle on the store's data, records every message on the bus and sends the
Sovereign's orders to the ExecutionManager, once per business date.
"""

from ravenshire.agents.analyst import AnalystAgent
from ravenshire.agents.base import AGENTS, BaseAgent, Decision
from ravenshire.agents.coordinator import AgentCoordinator, CycleResult, cycle_messages
from ravenshire.agents.oracle import OracleAgent
from ravenshire.agents.sentinel import SentinelAgent
from ravenshire.agents.sovereign import SovereignAgent
from ravenshire.agents.strategist import StrategistAgent

__all__ = [
    "AGENTS",
    "AgentCoordinator",
    "AnalystAgent",
    "BaseAgent",
    "CycleResult",
    "Decision",
    "OracleAgent",
    "SentinelAgent",
    "SovereignAgent",
    "StrategistAgent",
    "cycle_messages",
]

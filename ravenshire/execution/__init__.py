"""Layer 4, execution and monitoring: orders and the ledger, the broker protocol and the paper broker, live
performance, the kill switch and drift detection.

- :class:`ExecutionManager` is the front door (the seed's ``execute_trade``, ``get_performance_metrics`` and
  ``check_for_drift``), with the pre-trade checks, reconciliation and the daily mark-to-market.
- :mod:`~ravenshire.execution.orders`: the order's life as a state machine; :mod:`~ravenshire.execution.ledger`:
  orders, fills, positions and cash in the store; :mod:`~ravenshire.execution.broker`: the :class:`Broker`
  protocol and the :class:`PaperBroker`; :mod:`~ravenshire.execution.killswitch`: the persisted trading halt;
  :mod:`~ravenshire.execution.performance`: FIFO P&L, win rate, profit factor.
- :mod:`~ravenshire.execution.drift`: CUSUM, Page-Hinkley and a windowed Kolmogorov-Smirnov test on a strategy's
  live returns against its backtest, and the population stability index of a model's inputs;
  :mod:`~ravenshire.execution.drift_store`: their state and events in the store (:class:`DriftMonitor`).
"""

from ravenshire.execution.broker import Bar, Broker, BrokerReply, Execution, PaperBroker
from ravenshire.execution.drift import (
    Cusum,
    CusumState,
    DriftCheck,
    DriftDetector,
    DriftDetectorState,
    DriftEvent,
    KSWindowState,
    KSWindowTest,
    PageHinkley,
    PageHinkleyState,
    feature_drift,
    feature_drift_events,
    population_stability_index,
)
from ravenshire.execution.drift_store import (
    DriftMonitor,
    drift_events,
    drift_observations,
    drift_subjects,
    feature_drift_history,
)
from ravenshire.execution.killswitch import KillSwitchState, kill_switch_history, kill_switch_state
from ravenshire.execution.ledger import Account, ReconciliationReport
from ravenshire.execution.manager import ExecutionManager
from ravenshire.execution.orders import Fill, Order, OrderStateError, OrderStatus

__all__ = [
    "Account",
    "Bar",
    "Broker",
    "BrokerReply",
    "Cusum",
    "CusumState",
    "DriftCheck",
    "DriftDetector",
    "DriftDetectorState",
    "DriftEvent",
    "DriftMonitor",
    "Execution",
    "ExecutionManager",
    "Fill",
    "KSWindowState",
    "KSWindowTest",
    "KillSwitchState",
    "Order",
    "OrderStateError",
    "OrderStatus",
    "PageHinkley",
    "PageHinkleyState",
    "PaperBroker",
    "ReconciliationReport",
    "drift_events",
    "drift_observations",
    "drift_subjects",
    "feature_drift",
    "feature_drift_events",
    "feature_drift_history",
    "kill_switch_history",
    "kill_switch_state",
    "population_stability_index",
]

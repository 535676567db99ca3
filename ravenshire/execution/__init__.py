"""Layer 4, execution and monitoring: the broker protocol, paper broker, orders/fills/positions ledger, live
metrics, drift detection and the kill switch. Drift detection (:mod:`ravenshire.execution.drift`) is here so far:
CUSUM, Page-Hinkley and a windowed Kolmogorov-Smirnov test on a strategy's live returns against its backtest
(:class:`DriftDetector` is the front door), and the population stability index of a model's input features."""

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

__all__ = [
    "Cusum",
    "CusumState",
    "DriftCheck",
    "DriftDetector",
    "DriftDetectorState",
    "DriftEvent",
    "KSWindowState",
    "KSWindowTest",
    "PageHinkley",
    "PageHinkleyState",
    "feature_drift",
    "feature_drift_events",
    "population_stability_index",
]

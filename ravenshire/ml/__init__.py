"""Machine learning beside research: market regime detection and asset clustering with a 3D embedding.

:class:`RegimeDetector` names each day bull, bear, sideways or crisis from market features
(:func:`market_features`) with a Gaussian mixture and a causal filter; :class:`AssetClusterer` groups assets with
K-Means on return, volatility, beta and correlation structure and embeds them in 3D for the UI. Both follow the
scikit-learn estimator shape: parameters in ``__init__``, ``fit`` learns state ending in ``_``.
"""

from ravenshire.ml.clustering import AssetClusterer, ClusterResult
from ravenshire.ml.features import DEFAULT_WINDOWS, FEATURE_COLUMNS, market_features
from ravenshire.ml.regime import REGIMES, RegimeDetector, RegimeEvaluation, RegimeResult, evaluate_regimes

__all__ = [
    "DEFAULT_WINDOWS",
    "FEATURE_COLUMNS",
    "REGIMES",
    "AssetClusterer",
    "ClusterResult",
    "RegimeDetector",
    "RegimeEvaluation",
    "RegimeResult",
    "evaluate_regimes",
    "market_features",
]

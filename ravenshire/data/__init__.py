"""Layer 1, data: sources, validation, the store as cache, versions (see :class:`DataManager`).

Frame shapes are described in :mod:`ravenshire.data.frames`.
"""

from ravenshire.data.cache import DataCache
from ravenshire.data.fetcher import MultiSourceFetcher
from ravenshire.data.frames import FIELDS, close_prices, to_long, to_wide
from ravenshire.data.manager import DataManager, FetchSummary
from ravenshire.data.validation import DataValidator, ValidationReport
from ravenshire.data.versioning import DataVersion, DataVersioning

__all__ = [
    "FIELDS",
    "DataCache",
    "DataManager",
    "DataValidator",
    "DataVersion",
    "DataVersioning",
    "FetchSummary",
    "MultiSourceFetcher",
    "ValidationReport",
    "close_prices",
    "to_long",
    "to_wide",
]

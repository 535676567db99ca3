"""Errors raised by Ravenshire.

Every error is a :class:`RavenshireError`. Its class says what the system does next (the freqtrade habit):

- :class:`TransientError` — worth retrying (network hiccup, rate limit, a locked database).
- :class:`OperationalError` — stop the current cycle, record it and alert; the process keeps running.
- :class:`ConfigError` — bad configuration or bad input: refuse to start / refuse the request.

Messages say what was wrong, the value that was given and what is allowed, so the UI and the CLI can show
them as they are, without a traceback.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DataError",
    "DataSourceError",
    "DataUnavailableError",
    "ImportFileError",
    "InfeasibleError",
    "OperationalError",
    "RavenshireError",
    "StoreError",
    "TransientError",
    "VersionNotFoundError",
]


class RavenshireError(Exception):
    """Base class of every error Ravenshire raises on purpose."""

    #: What the system does next: "retry", "stop" (the cycle) or "refuse" (to start / the request).
    action: str = "stop"


class TransientError(RavenshireError):
    """A failure that may pass if the same call is tried again later."""

    action = "retry"


class OperationalError(RavenshireError):
    """A failure that stops the current cycle; it is recorded and shown."""

    action = "stop"


class ConfigError(RavenshireError, ValueError):
    """Bad configuration or bad input: the request is refused, nothing is changed."""

    action = "refuse"


class StoreError(OperationalError):
    """The state store is missing, out of date or unreachable."""


class DataError(OperationalError):
    """Base class of the data layer's errors."""


class DataSourceError(DataError):
    """A market-data source failed (after its retries). Never answered with demo data instead."""


class DataUnavailableError(DataError):
    """Requested symbols or dates have no data in the store and none could be fetched."""


class ImportFileError(DataError, ConfigError):
    """A user's CSV/Parquet file cannot be imported; nothing from it was stored."""

    action = "refuse"


class VersionNotFoundError(DataError, LookupError):
    """No data version with the given id."""


class InfeasibleError(ConfigError):
    """A portfolio request that no weights can satisfy (e.g. max weight × assets < 1, a NaN-only column, fewer
    observations than assets without shrinkage), or an optimizer that did not converge. Never answered with a
    silent fallback such as equal weights."""

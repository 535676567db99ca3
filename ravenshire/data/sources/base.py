"""The protocol every market-data source follows.

A source turns (symbols, first day, last day) into long bars (see :mod:`ravenshire.data.frames`). It does no
storing and no validation: :class:`~ravenshire.data.manager.DataManager` does both, the same way for every
source. A source that cannot deliver a symbol names it in :attr:`FetchResult.failed` with the reason; a source
that cannot deliver at all raises :class:`~ravenshire.errors.DataSourceError` (after its own retries). A source
never substitutes other data for what it could not get.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import pandas as pd

__all__ = ["DataSource", "FetchResult"]


@dataclass(frozen=True)
class FetchResult:
    """What a source returns for one request.

    Attributes
    ----------
    bars:
        Long bars for the symbols that were delivered, dates within [start, end] inclusive.
    failed:
        Symbol → reason, for each requested symbol with no usable data.
    regimes:
        For the synthetic source only: the true regime label per date ("bull", "bear", "sideways", "crisis"),
        a Series indexed by date. ``None`` for real sources.
    """

    bars: pd.DataFrame
    failed: Mapping[str, str] = field(default_factory=dict)
    regimes: pd.Series | None = None


@runtime_checkable
class DataSource(Protocol):
    """A market-data source: ``name`` is what the store records; ``is_demo`` marks synthetic data."""

    name: str
    is_demo: bool

    def fetch(self, symbols: Sequence[str], start: dt.date, end: dt.date) -> FetchResult:
        """Daily bars for ``symbols`` from ``start`` to ``end``, both inclusive."""
        ...

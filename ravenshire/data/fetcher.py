"""``MultiSourceFetcher``: which source serves which symbol, and the source objects themselves.

``[DATA] source`` names the default source; ``[DATA] symbol_sources`` overrides it per symbol, so a universe
can combine sources (e.g. equities from yfinance and a house index from imported files). The special source
``import`` is never fetched from: its symbols come only from files imported with ``python -m ravenshire import``.
"""

from __future__ import annotations

from collections.abc import Mapping

from ravenshire.config import DataConfig
from ravenshire.data.sources.base import DataSource
from ravenshire.errors import ConfigError

__all__ = ["IMPORT_SOURCE", "MultiSourceFetcher"]

IMPORT_SOURCE = "import"


class MultiSourceFetcher:
    """Resolve symbols to sources and build each source once.

    Parameters
    ----------
    config:
        The ``[DATA]`` section.
    sources:
        Source objects to use instead of building them from the config (tests, notebooks); keyed by name.
    """

    def __init__(self, config: DataConfig, sources: Mapping[str, DataSource] | None = None) -> None:
        self.config = config
        self._sources: dict[str, DataSource] = dict(sources or {})

    def source_for(self, symbol: str) -> str:
        """The name of the source configured for ``symbol`` (``DataManager.sources_for`` also knows imports)."""
        return self.config.source_for(symbol)

    def is_demo(self, name: str) -> bool:
        """Whether the source ``name`` delivers demo (synthetic) data."""
        return name != IMPORT_SOURCE and self.source(name).is_demo

    def source(self, name: str) -> DataSource:
        """The source object for ``name`` (built on first use)."""
        if name == IMPORT_SOURCE:
            raise ConfigError("the import source is not fetched from: import files with `python -m ravenshire import`")
        if name not in self._sources:
            self._sources[name] = self._build(name)
        return self._sources[name]

    def _build(self, name: str) -> DataSource:
        if name == "synthetic":
            from ravenshire.data.sources.synthetic import SyntheticSource

            return SyntheticSource(seed=self.config.synthetic_seed, exchange=self.config.exchange)
        if name == "yfinance":
            from ravenshire.data.sources.yfinance_source import YFinanceSource

            return YFinanceSource()
        raise ConfigError(f"unknown data source {name!r}; use synthetic, yfinance or import")

"""Execution fixtures: a real store holding hand-made bars (imported through the data layer, as a user's file
would be), and an ExecutionManager on it with a pinned clock."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from ravenshire.config import Config
from ravenshire.data import DataManager
from ravenshire.execution import ExecutionManager
from ravenshire.store import init_db
from tests.conftest import NOW

#: XNYS sessions of early January 2024.
DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09", "2024-01-10"]

#: Costs off, so prices in tests are exact; tests that check the cost model set them.
FREE = """
[EXECUTION]
commission_bps = 0
min_commission = 0
slippage_bps = 0
"""


class Market:
    """Writes bars into the store as an imported file (source ``import``), one or more days at a time."""

    def __init__(self, data: DataManager, folder: Path) -> None:
        self.data = data
        self.folder = folder
        self.n = 0

    def bars(self, rows: Sequence[tuple[str, str, float, float, float, float, float]]) -> None:
        """``rows``: (date, symbol, open, high, low, close, volume)."""
        self.n += 1
        lines = ["date,symbol,open,high,low,close,adj_close,volume"]
        lines += [f"{d},{sym},{o},{h},{lo},{c},{c},{v}" for d, sym, o, h, lo, c, v in rows]
        path = self.folder / f"bars{self.n}.csv"
        path.write_text("\n".join(lines) + "\n")
        self.data.import_file(path)

    def flat(self, symbol: str, days: Sequence[str], price: float, volume: float = 1e6) -> None:
        """Bars at one price (open = high = low = close)."""
        self.bars([(d, symbol, price, price, price, price, volume) for d in days])


class Clock:
    """A settable UTC clock for the stored times."""

    def __init__(self) -> None:
        self.now = dt.datetime(2024, 1, 10, 22, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


@pytest.fixture
def exec_config(make_config: Callable[..., Config]) -> Callable[..., Config]:
    """Config with ``[DATA] source = import`` over AAA, BBB, CCC, costs off unless ``body`` says otherwise; ``risk``
    is the ``[RISK]`` section's lines."""

    def make(body: str = FREE, risk: str = "max_position_weight = 1.0\nmax_leverage = 1.5\n") -> Config:
        return make_config(
            "[DATA]\nsource = import\nuniverse = AAA, BBB, CCC\nhistory_start = 2024-01-02\n"
            "[RISK]\nmax_drawdown = 0.15\n" + risk + body
        )

    return make


@pytest.fixture
def xconfig(exec_config: Callable[..., Config]) -> Config:
    return exec_config()


@pytest.fixture
def market(xconfig: Config, tmp_path: Path) -> Market:
    return Market(DataManager(xconfig, engine=init_db(xconfig.store_url), now=NOW), tmp_path)


@pytest.fixture
def em(xconfig: Config, market: Market) -> ExecutionManager:
    return ExecutionManager(xconfig, now=Clock())

"""Trading dates ↔ the store's integer ``YYYYMMDD`` keys, vectorised."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

__all__ = ["date_key", "from_date_keys", "to_date_keys"]


def to_date_keys(dates: pd.Series | pd.Index | np.ndarray) -> np.ndarray:
    """Dates → int64 ``year * 10000 + month * 100 + day``."""
    index = pd.DatetimeIndex(np.asarray(dates, dtype="datetime64[ns]"))
    return (index.year * 10000 + index.month * 100 + index.day).to_numpy(dtype=np.int64)


def from_date_keys(keys: np.ndarray | list[int]) -> pd.DatetimeIndex:
    """int ``YYYYMMDD`` keys → tz-naive ``DatetimeIndex`` (unique keys are parsed once)."""
    keys = np.asarray(keys, dtype=np.int64)
    if keys.size == 0:
        return pd.DatetimeIndex([], dtype="datetime64[ns]")
    uniques, inverse = np.unique(keys, return_inverse=True)
    parsed = pd.to_datetime(uniques.astype(str), format="%Y%m%d").to_numpy(dtype="datetime64[ns]")
    return pd.DatetimeIndex(parsed[inverse])


def date_key(value: dt.date | str | pd.Timestamp) -> int:
    """One date → its ``YYYYMMDD`` key."""
    stamp = pd.Timestamp(value)
    return stamp.year * 10000 + stamp.month * 100 + stamp.day

"""Trading calendars: which days an exchange is open, from the ``exchange_calendars`` package.

Sessions are returned as a tz-naive ``DatetimeIndex`` of midnights (the convention of every frame in
Ravenshire). The calendar covers :data:`CALENDAR_START` to about one year past today.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache

import exchange_calendars as xcals
import pandas as pd

from ravenshire.errors import ConfigError

__all__ = ["CALENDAR_START", "DEFAULT_EXCHANGE", "last_closed_session", "sessions", "trading_calendar"]

#: First day any calendar here answers for.
CALENDAR_START = pd.Timestamp("1990-01-02")
#: The exchange used when none is configured: the New York Stock Exchange.
DEFAULT_EXCHANGE = "XNYS"


@lru_cache(maxsize=8)
def trading_calendar(exchange: str = DEFAULT_EXCHANGE) -> xcals.ExchangeCalendar:
    """The ``exchange_calendars`` calendar for an ISO MIC code such as ``XNYS`` (cached per process)."""
    try:
        return xcals.get_calendar(exchange, start=CALENDAR_START)
    except xcals.errors.InvalidCalendarName as exc:
        raise ConfigError(
            f"unknown exchange calendar {exchange!r}; use an ISO MIC code such as XNYS, XLON or XETR"
        ) from exc


def _as_timestamp(value: dt.date | str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return (stamp.tz_localize(None) if stamp.tzinfo else stamp).normalize()


def sessions(
    start: dt.date | str | pd.Timestamp, end: dt.date | str | pd.Timestamp, exchange: str = DEFAULT_EXCHANGE
) -> pd.DatetimeIndex:
    """Trading sessions from ``start`` to ``end``, both inclusive, clipped to the calendar's range."""
    cal = trading_calendar(exchange)
    first = max(_as_timestamp(start), cal.first_session)
    last = min(_as_timestamp(end), cal.last_session)
    if first > last:
        return pd.DatetimeIndex([], dtype="datetime64[ns]", name="date")
    out = cal.sessions_in_range(first, last)
    return pd.DatetimeIndex(out.to_numpy(dtype="datetime64[ns]"), name="date")


def last_closed_session(now: pd.Timestamp | None = None, exchange: str = DEFAULT_EXCHANGE) -> pd.Timestamp:
    """The latest session whose close is at or before ``now`` (UTC; default: the current time).

    A daily bar exists only once its session has closed, so no source is asked for a later day.
    """
    cal = trading_calendar(exchange)
    now = pd.Timestamp.now(tz="UTC") if now is None else pd.Timestamp(now)
    if now.tzinfo is None:
        now = now.tz_localize("UTC")
    today = now.tz_convert(None).normalize()
    candidates = sessions(today - pd.Timedelta(days=10), today, exchange)
    for session in candidates[::-1]:
        if cal.session_close(session) <= now:
            return session
    raise ConfigError(f"no closed session of {exchange} in the ten days before {now:%Y-%m-%d}")

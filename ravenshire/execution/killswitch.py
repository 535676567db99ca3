"""The kill switch: a persisted trading halt with who, why and when.

Its state is the newest row of ``kill_switch_events``; the rows are the audit trail. While it is on, the
execution manager sends no order (each attempt is stored as rejected, with the halt's reason), and setting it
cancels every working order in the same transaction. A person sets and clears it (CLI, UI); the system sets it
when the drawdown reaches ``[RISK] max_drawdown`` (``actor = "risk"``, ``automatic = True``).

After a person clears the switch while the drawdown is still past the limit (each event records the drawdown at
that moment), the automatic halt stays disarmed until a mark-to-market snapshot made after the clear shows the
drawdown back under the limit: the person has decided to trade through it (for instance to cut risk), and the
switch does not fight them on every order. A clear made with the drawdown under the limit disarms nothing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, insert, select

from ravenshire.errors import ConfigError
from ravenshire.store import read, write
from ravenshire.store import schema as s

__all__ = [
    "KillSwitchState",
    "clear_kill_switch",
    "kill_switch_history",
    "kill_switch_state",
    "set_kill_switch",
]

#: Actor recorded for the automatic halt.
RISK_ACTOR = "risk"


@dataclasses.dataclass(frozen=True, kw_only=True)
class KillSwitchState:
    """``active``: trading halted. ``actor``/``reason``/``at``/``automatic`` describe the newest event (all None
    when the switch was never used)."""

    active: bool
    actor: str | None = None
    reason: str | None = None
    at: dt.datetime | None = None
    automatic: bool = False

    @property
    def message(self) -> str:
        """One line for banners and rejections."""
        if not self.active:
            return "trading is on"
        when = self.at.strftime("%Y-%m-%d %H:%M UTC") if self.at is not None else "?"
        who = "automatically (risk limit)" if self.automatic else f"by {self.actor}"
        return f"kill switch on since {when}, set {who}: {self.reason}"

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        out["at"] = None if self.at is None else self.at.isoformat()
        out["message"] = self.message
        return out


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    """SQLite returns naive datetimes for timezone-aware columns: they are UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=dt.UTC)


_LATEST = select(s.kill_switch_events).order_by(s.kill_switch_events.c.id.desc()).limit(1)


def current_state(conn: Connection) -> KillSwitchState:
    """The switch's state, read on ``conn`` (inside the caller's transaction)."""
    row = conn.execute(_LATEST).first()
    if row is None:
        return KillSwitchState(active=False)
    return KillSwitchState(
        active=bool(row.active), actor=row.actor, reason=row.reason, at=_aware(row.at), automatic=bool(row.automatic)
    )


def kill_switch_state(engine: Engine) -> KillSwitchState:
    """The switch's state now."""
    with read(engine) as conn:
        return current_state(conn)


def _check_text(value: Any, name: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{name} is required (e.g. {example!r}), got {value!r}")
    if len(value) > (64 if name == "actor" else 2000):
        raise ConfigError(f"{name} is too long ({len(value)} characters)")
    return value.strip()


def record_event(
    conn: Connection,
    *,
    active: bool,
    actor: str,
    reason: str,
    automatic: bool,
    now: dt.datetime | None = None,
    drawdown: float | None = None,
) -> KillSwitchState:
    """Write one event on ``conn``; setting it also cancels the working orders. No row when the switch is already
    in the requested state (the existing state is returned)."""
    state = current_state(conn)
    if state.active == active:
        return state
    now = now or _utcnow()
    conn.execute(
        insert(s.kill_switch_events),
        {
            "active": active,
            "actor": actor,
            "reason": reason,
            "automatic": automatic,
            "at": now,
            "drawdown": drawdown,
        },
    )
    if active:
        from ravenshire.execution.ledger import cancel_open_orders

        cancel_open_orders(conn, reason=f"kill switch set by {actor}: {reason}", now=now)
    return KillSwitchState(active=active, actor=actor, reason=reason, at=now, automatic=automatic)


def set_kill_switch(engine: Engine, *, actor: str, reason: str, now: dt.datetime | None = None) -> KillSwitchState:
    """Halt trading (a person's decision), cancelling every working order; a no-op when already on."""
    actor, reason = _check_text(actor, "actor", "alice"), _check_text(reason, "reason", "broker outage")
    with write(engine) as conn:
        return record_event(conn, active=True, actor=actor, reason=reason, automatic=False, now=now)


def clear_kill_switch(
    engine: Engine,
    *,
    actor: str,
    reason: str,
    now: dt.datetime | None = None,
    drawdown: Callable[[Connection], float] | None = None,
) -> KillSwitchState:
    """Resume trading; a no-op when the switch is off. ``drawdown`` (given by the execution manager) measures the
    drawdown at the clear, in the same transaction; it is recorded with the event."""
    actor, reason = _check_text(actor, "actor", "alice"), _check_text(reason, "reason", "outage over")
    with write(engine) as conn:
        level = drawdown(conn) if drawdown is not None else None
        return record_event(conn, active=False, actor=actor, reason=reason, automatic=False, now=now, drawdown=level)


def kill_switch_history(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """The newest ``limit`` events: at, active, actor, reason, automatic."""
    t = s.kill_switch_events
    with read(engine) as conn:
        rows = conn.execute(
            select(t.c.at, t.c.active, t.c.actor, t.c.reason, t.c.automatic).order_by(t.c.id.desc()).limit(limit)
        ).all()
    frame = pd.DataFrame(rows, columns=["at", "active", "actor", "reason", "automatic"])
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame

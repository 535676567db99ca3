"""``AgentCoordinator``: one daily decision cycle of the five agents, on a message bus stored in the state store.

A cycle is keyed by (``agent``, business date) in the ``cycles`` table and goes through three stored phases:

1. ``running`` — claimed. The market data up to the business date is loaded from the store (nothing is fetched:
   the data cycle does that) and snapshotted as a data version; the regime model and the clusterer run; the
   agents decide in order: Oracle → Analyst → Strategist → Sentinel → Sovereign, each on the decisions before it,
   from the positions and cash the book had at the start of the cycle. The regime model of a date is fitted on
   the data up to its anchor on a fixed refit grid (:func:`regime_anchor`) and stored keyed by that anchor and a
   hash of what the fit depends on (:func:`regime_model_key`): it never depends on which dates were run before.
   A failure here marks the cycle ``failed`` in one transaction with the messages so far and the agents' statuses:
   the failing agent ``error``, every agent after it ``skipped`` (``error`` says why, e.g. ``oracle failed``).
2. ``decided`` — in ONE transaction: every agent's input and output as a message row (cycle id, sequence, sender,
   receiver, type, payload, time: the UI's "neural stream"), each agent's status, the regime reading, the
   clusters, and the Sovereign's orders in the cycle's summary.
3. ``completed`` — the orders were sent to the ExecutionManager as one basket, each with the client order id
   ``<cycle id>:<symbol>:<side>``, and their outcomes are in the summary.

Re-running a date: a ``completed`` cycle is returned as stored (nothing runs, nothing is sent); a ``decided`` one
sends its STORED orders again — the client order ids make that a no-op for those already sent — and completes,
unless a later session's bars are stored by then: its orders were sized on a book and prices that have moved on,
so it is marked ``expired`` and nothing is sent; a
``running`` or ``failed`` one (a crash or an error before the decision) is decided afresh (no order was sent
before the decision was stored). A ``running`` cycle younger than :data:`STALE_AFTER` belongs to another process
and is refused. For the same data version and configuration a cycle decides the same thing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import inspect
import json
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select, update

from ravenshire.agents.analyst import AnalystAgent
from ravenshire.agents.base import AGENTS, Decision, to_jsonable
from ravenshire.agents.oracle import OracleAgent
from ravenshire.agents.sentinel import SentinelAgent
from ravenshire.agents.sovereign import SovereignAgent
from ravenshire.agents.strategist import StrategistAgent
from ravenshire.config import Config, load_config
from ravenshire.errors import ConfigError, OperationalError, RavenshireError
from ravenshire.store import init_db, read, write
from ravenshire.store import schema as s
from ravenshire.store.bulk import upsert_statement
from ravenshire.store.dates import date_key

__all__ = [
    "REFIT_EPOCH",
    "STALE_AFTER",
    "AgentCoordinator",
    "CycleResult",
    "cycle_messages",
    "regime_anchor",
    "regime_model_key",
]

#: A ``running`` cycle older than this is taken to be left by a dead process and is run again.
STALE_AFTER = dt.timedelta(minutes=30)
KIND = "agent"
#: The prefix of the stored regime models' names in the ``models`` table: ``regime:<anchor>:<key>``.
REGIME_MODEL = "regime"
#: The regime detector's parameters (over its defaults).
REGIME_PARAMS: Mapping[str, Any] = {"random_state": 7}
#: Day 0 of the regime model's refit grid: sessions are counted from here (see :func:`regime_anchor`).
REFIT_EPOCH = pd.Timestamp("1990-01-02")


@dataclasses.dataclass(frozen=True, kw_only=True)
class CycleResult:
    """A cycle's outcome: its id and date, ``status``, the Sovereign's ``recommendation`` and ``confidence``, the
    Sentinel's ``vetoes``, the ``orders`` sent with their outcome, ``reused`` (True when a completed cycle was
    returned as stored), the data version and whether it ran on demo data."""

    cycle_id: str
    business_date: pd.Timestamp
    status: str
    recommendation: str | None
    confidence: float | None
    regime: str | None
    vetoes: tuple[Mapping[str, Any], ...]
    orders: tuple[Mapping[str, Any], ...]
    data_version: str | None
    is_demo: bool
    reused: bool
    duration_s: float | None

    def to_dict(self) -> dict[str, Any]:
        out = to_jsonable(dataclasses.asdict(self))
        out["business_date"] = self.business_date.date().isoformat()
        return out


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    return value if value is None or value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


@dataclasses.dataclass
class _Progress:
    """What a run has decided so far: the messages in order and each agent's status, for :meth:`AgentCoordinator
    ._fail` to record when a step fails."""

    messages: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    status: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def with_skipped(self, exc: BaseException) -> dict[str, dict[str, Any]]:
        """The statuses with every agent that did not run ``skipped``, its ``error`` saying why: ``"<agent>
        failed"`` after an agent's error, else the failure of the cycle itself (the market data, the regime model,
        the book)."""
        failed = next((name for name, st in self.status.items() if st.get("outcome") == "error"), None)
        reason = f"{failed} failed" if failed else f"the cycle failed before it ran: {type(exc).__name__}: {exc}"
        skipped = {"outcome": "skipped", "duration_s": 0.0, "error": reason}
        return {name: self.status.get(name, skipped) for name in AGENTS}


def regime_anchor(business_date: Any, refit_days: int, exchange: str) -> pd.Timestamp:
    """The refit grid's anchor of ``business_date``: the last session ``≤ business_date`` whose index, counting the
    sessions of ``exchange`` from :data:`REFIT_EPOCH` (index 0), is a multiple of ``refit_days``.

    A pure function of the date on a fixed grid: every date of a block of ``refit_days`` sessions gets the same
    anchor, whatever was run before, so the regime model (fitted on the data up to the anchor) is the same
    whichever order the dates are run in.
    """
    from ravenshire.data.calendar import sessions

    if isinstance(refit_days, bool) or not isinstance(refit_days, int | np.integer) or refit_days < 1:
        raise ConfigError(f"regime_refit_days must be a whole number of sessions >= 1, got {refit_days!r}")
    date = pd.Timestamp(business_date).normalize()
    days = sessions(REFIT_EPOCH, date, exchange)
    if len(days) == 0:
        raise ConfigError(f"{date.date()} is before the refit grid's epoch {REFIT_EPOCH.date()}")
    position = len(days) - 1
    return pd.Timestamp(days[position - position % int(refit_days)])


def regime_model_key(config: Config, anchor: pd.Timestamp, training: pd.DataFrame) -> str:
    """A SHA-256 hex digest of everything a regime model fitted at ``anchor`` depends on: the detector's parameters
    (:data:`REGIME_PARAMS` over the detector's defaults), the exchange, ``[DATA] history_start``, the universe and
    the training prices (symbols, dates and values). Two fits with the same key give the same model."""
    from ravenshire.ml import RegimeDetector

    detector = RegimeDetector(**REGIME_PARAMS)
    params = {k: getattr(detector, k) for k in inspect.signature(RegimeDetector.__init__).parameters if k != "self"}
    values = training.to_numpy(dtype="float64")
    data = hashlib.sha256()
    data.update(json.dumps([str(c) for c in training.columns]).encode())
    data.update(pd.DatetimeIndex(training.index).as_unit("ns").asi8.astype("<i8").tobytes())
    data.update(np.where(np.isnan(values), np.nan, values + 0.0).astype("<f8").tobytes())  # one NaN, no -0.0
    spec = {
        "model": "regime_detector",
        "params": params,
        "exchange": config.data.exchange,
        "history_start": str(config.data.history_start),
        "universe": sorted(config.data.universe),
        "anchor": anchor.date().isoformat(),
        "data": data.hexdigest(),
    }
    return hashlib.sha256(json.dumps(to_jsonable(spec), sort_keys=True).encode()).hexdigest()


def _config_hash(config: Config) -> str:
    data = config.to_dict()
    data.pop("UI", None)
    return hashlib.sha256(json.dumps(to_jsonable(data), sort_keys=True).encode()).hexdigest()


class AgentCoordinator:
    """Runs the agents' daily cycle (see the module docstring).

    Parameters
    ----------
    config:
        The configuration; default :func:`ravenshire.config.load_config`. ``[AGENTS]`` configures the agents,
        ``[RISK]`` the Sentinel and the Strategist's caps, ``[EXECUTION]`` the costs and the account.
    engine:
        The store's engine; default ``init_db(config.store_url)``.
    now:
        A clock (UTC); default the system clock.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        engine: Engine | None = None,
        now: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.config = config if config is not None else load_config()
        self.engine = engine or init_db(self.config.store_url, busy_timeout_ms=self.config.store.busy_timeout_ms)
        self._now = now or _utcnow

    # ------------------------------------------------------------------ the agents
    def agents(self) -> dict[str, Any]:
        """The five agents built from the configuration."""
        a, r, e = self.config.agents, self.config.risk, self.config.execution
        clock = self._now
        return {
            "oracle": OracleAgent({"vix_threshold": a.vix_threshold}, clock=clock),
            "analyst": AnalystAgent(
                {
                    "strategy": a.strategy,
                    "min_confidence": a.min_confidence,
                    "k_min": a.cluster_k_min,
                    "k_max": max(a.cluster_k_min, a.cluster_k_max),
                },
                clock=clock,
            ),
            "strategist": StrategistAgent(
                {
                    "optimizer": a.optimizer,
                    "regime_exposure": dict(a.regime_exposure),
                    "max_position_weight": r.max_position_weight,
                    "max_leverage": r.max_leverage,
                    "commission_bps": e.commission_bps,
                    "slippage_bps": e.slippage_bps,
                },
                clock=clock,
            ),
            "sentinel": SentinelAgent(
                {
                    "max_leverage": r.max_leverage,
                    "var_limit": r.var_limit,
                    "max_drawdown": r.max_drawdown,
                    "max_position_weight": r.max_position_weight,
                    "max_group_weight": r.max_group_weight,
                    "var_method": r.var_method,
                },
                clock=clock,
            ),
            "sovereign": SovereignAgent({"decision_threshold": a.decision_threshold}, clock=clock),
        }

    # ------------------------------------------------------------------ the cycle
    def run_cycle(self, business_date: Any = None) -> CycleResult:
        """Run (or finish, or return) the agent cycle of ``business_date`` (default: the newest stored session).

        Raises
        ------
        ConfigError
            A bad date, or no stored data for it.
        OperationalError
            An agent failed (recorded in the cycle and the agent's status), or the cycle is running elsewhere.
        """
        from ravenshire.execution import ExecutionManager

        execution = ExecutionManager(self.config, engine=self.engine, origin="agent", now=self._now)
        date = self._business_date(business_date, execution)
        cycle_id = f"{KIND}-{date.date().isoformat()}"
        started = time.perf_counter()
        row, attempt = self._claim(cycle_id, date)
        if row is not None and row["status"] in ("completed", "expired"):
            return self._result(row, reused=True)
        if row is not None and row["status"] == "decided":
            newest = execution.bars.latest_date()
            if newest is not None and newest > date:  # its orders were sized on a market that has moved on
                return self._expire(cycle_id, newest)
        if row is None:
            progress = _Progress()
            try:
                self._decide(cycle_id, date, execution, attempt, progress)
            except RavenshireError as exc:
                self._fail(cycle_id, exc, attempt, progress)
                raise
            except Exception as exc:  # an agent's bug: recorded, then raised as an operational failure
                self._fail(cycle_id, exc, attempt, progress)
                raise OperationalError(f"agent cycle {cycle_id} failed: {type(exc).__name__}: {exc}") from exc
        return self._send(cycle_id, execution, started)

    def _business_date(self, value: Any, execution: Any) -> pd.Timestamp:
        if value is None:
            newest = execution.bars.latest_date()
            if newest is None:
                raise ConfigError("the store holds no market data yet: run the data cycle (python -m ravenshire fetch)")
            return newest
        if isinstance(value, bool | int | float | np.integer | np.floating):
            raise ConfigError(f"the date must be YYYY-MM-DD, got the number {value!r}")
        try:
            stamp = pd.Timestamp(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"the date must be YYYY-MM-DD, got {value!r}") from exc
        if pd.isna(stamp):
            raise ConfigError(f"the date must be YYYY-MM-DD, got {value!r}")
        date = (stamp.tz_localize(None) if stamp.tzinfo is not None else stamp).normalize()
        from ravenshire.data.calendar import sessions

        if len(sessions(date, date, self.config.data.exchange)) == 0:  # refused before anything is stored
            raise ConfigError(f"{date.date()} is not a trading session of {self.config.data.exchange}")
        return date

    def _claim(self, cycle_id: str, date: pd.Timestamp) -> tuple[dict[str, Any] | None, int]:
        """Claim the cycle: (None, attempt) for a fresh claim — ``attempt`` fences every later write of this run
        (a process that lost its claim to a takeover writes nothing) — or (the stored row, its attempt) when it is
        completed or decided (the caller finishes it)."""
        now = self._now()
        c = s.cycles
        with write(self.engine) as conn:
            row = conn.execute(select(c).where(c.c.id == cycle_id)).mappings().first()
            if row is not None and row["status"] in ("completed", "decided"):
                return dict(row), int(row["attempts"])
            if row is not None and row["status"] == "running":
                started = _aware(row["started_at"])
                if started is not None and now - started < STALE_AFTER:
                    raise OperationalError(
                        f"agent cycle {cycle_id} is running (started {started:%Y-%m-%d %H:%M} UTC in another "
                        f"process); it is taken over after {STALE_AFTER} without finishing"
                    )
            if row is None:
                conn.execute(
                    insert(c),
                    {
                        "id": cycle_id,
                        "kind": KIND,
                        "business_date": date_key(date),
                        "status": "running",
                        "attempts": 1,
                        "is_demo": self.config.is_demo,
                        "started_at": now,
                    },
                )
            else:
                conn.execute(
                    update(c).where(c.c.id == cycle_id),
                    {
                        "status": "running",
                        "attempts": row["attempts"] + 1,
                        "error": None,
                        "started_at": now,
                        "finished_at": None,
                    },
                )
            conn.execute(delete(s.agent_messages).where(s.agent_messages.c.cycle_id == cycle_id))
        return None, 1 if row is None else int(row["attempts"]) + 1

    def _expire(self, cycle_id: str, newest: pd.Timestamp) -> CycleResult:
        """A decided cycle whose session has passed: its stored orders are not sent (they were sized and checked
        on that session's book and prices); the next session's cycle decides afresh."""
        c = s.cycles
        with write(self.engine) as conn:
            conn.execute(
                update(c).where(c.c.id == cycle_id, c.c.status == "decided"),
                {
                    "status": "expired",
                    "finished_at": self._now(),
                    "error": f"not sent: decided for its session, and bars to {newest.date()} are stored since",
                },
            )
            row = dict(conn.execute(select(c).where(c.c.id == cycle_id)).mappings().one())
        return self._result(row, reused=True)

    def _fail(self, cycle_id: str, exc: BaseException, attempt: int, progress: _Progress | None = None) -> None:
        """Record a failure of this run, only while it still owns the claim, in ONE transaction: the cycle is
        ``failed``; the messages up to the failure replace any earlier attempt's; the agents that ran keep their
        outcome, the one that failed is ``error`` and every agent after it is ``skipped`` (its ``error`` says why,
        e.g. ``oracle failed``), so no agent shows a stale outcome of an earlier cycle as if it were this one's."""
        now = self._now()
        c = s.cycles
        with write(self.engine) as conn:
            owned = conn.execute(
                update(c).where(c.c.id == cycle_id, c.c.status == "running", c.c.attempts == attempt),
                {"status": "failed", "error": f"{type(exc).__name__}: {exc}", "finished_at": now},
            ).rowcount
            if owned != 1 or progress is None:
                return
            conn.execute(delete(s.agent_messages).where(s.agent_messages.c.cycle_id == cycle_id))
            self._write_messages(conn, cycle_id, progress.messages, now)
            self._write_status(conn, cycle_id, progress.with_skipped(exc), now)

    # ------------------------------------------------------------------ deciding
    def _market(self, date: pd.Timestamp, held: Mapping[str, float]) -> tuple[pd.DataFrame, pd.Series, str, bool]:
        """Adjusted closes of the universe (for signals and risk) and the raw closes of the date of the universe and
        of whatever is held outside it (for orders: such a holding is sold), over the lookback, snapshotted as a
        data version."""
        from ravenshire.data import DataManager
        from ravenshire.data.calendar import sessions

        lookback = self.config.agents.lookback_days
        days = sessions(date - pd.Timedelta(days=int(lookback * 1.6) + 30), date, self.config.data.exchange)
        if len(days) == 0 or days[-1] != date:
            raise ConfigError(f"{date.date()} is not a trading session of {self.config.data.exchange}")
        start = days[-lookback] if len(days) >= lookback else days[0]
        universe = list(self.config.data.universe)
        symbols = universe + sorted(set(held) - set(universe))
        data = DataManager(self.config, engine=self.engine).get_market_data(
            symbols,
            start_date=start,
            end_date=date,
            fetch=False,
            create_version=True,
            label=f"agent cycle {date.date()}",
        )
        if data.index[-1] != date:
            raise ConfigError(
                f"no stored bars for {date.date()} (the newest is {data.index[-1].date()}): run the data cycle first"
            )
        prices = pd.DataFrame(data["adj_close"])[universe]
        closes = pd.DataFrame(data["close"]).iloc[-1]
        return prices, closes, str(data.attrs.get("data_version")), bool(data.attrs.get("is_demo"))

    def _decide(
        self, cycle_id: str, date: pd.Timestamp, execution: Any, attempt: int, progress: _Progress | None = None
    ) -> None:
        """Decide the cycle and store the decision; ``progress`` collects the messages and statuses as they come,
        for :meth:`_fail` to record when a step fails."""
        progress = progress if progress is not None else _Progress()
        messages, status = progress.messages, progress.status
        positions = execution.positions()
        held = {str(k): float(v) for k, v in positions["quantity"].items()} if len(positions) else {}
        prices, closes, version, is_demo = self._market(date, held)
        agents = self.agents()

        def message(sender: str, receiver: str, kind: str, payload: Any) -> None:
            messages.append({"sender": sender, "receiver": receiver, "type": kind, "payload": to_jsonable(payload)})

        def run(name: str, receiver: str, inputs: dict[str, Any], summary: Mapping[str, Any]) -> Decision:
            message("coordinator", name, "input", summary)
            t0 = time.perf_counter()
            try:
                decision = agents[name].process(inputs)
            except Exception as exc:
                status[name] = {
                    "outcome": "error",
                    "duration_s": time.perf_counter() - t0,
                    "error": f"{type(exc).__name__}: {exc}",
                }
                message(name, "coordinator", "error", {"error": f"{type(exc).__name__}: {exc}"})
                raise
            status[name] = {
                "outcome": _outcome(decision),
                "duration_s": time.perf_counter() - t0,
                "recommendation": decision.recommendation,
                "confidence": decision.confidence,
            }
            message(name, receiver, "decision", decision.to_dict())
            return decision

        frame = {
            "symbols": list(prices.columns),
            "start": prices.index[0],
            "end": prices.index[-1],
            "sessions": len(prices),
            "data_version": version,
            "is_demo": is_demo,
        }
        regime, fitted = self._regime(prices, date, version)
        oracle = run("oracle", "analyst", {"prices": prices, "regime": regime}, {**frame, "regime_model": regime})
        analyst = run("analyst", "strategist", {"prices": prices}, frame)
        account = execution.account()
        strategist = run(
            "strategist",
            "sentinel",
            {
                "prices": prices,
                "analyst": analyst,
                "oracle": oracle,
                "positions": held,
                "cash": account.cash,
                "last_prices": closes,
            },
            {**frame, "positions": held, "cash": account.cash},
        )
        curve = execution.equity_curve()
        switch = execution.kill_switch()
        groups = self._groups(analyst)
        sentinel = run(
            "sentinel",
            "sovereign",
            {
                "strategist": strategist,
                "prices": prices,
                "kill_switch": switch,
                "equity_curve": curve["equity"] if len(curve) else None,
                "groups": groups,
            },
            {"kill_switch": switch.to_dict(), "equity_points": len(curve), "groups": groups},
        )
        for veto in sentinel.payload.get("vetoes", []):
            message("sentinel", "sovereign", "veto", veto)
        sovereign = run(
            "sovereign",
            "execution",
            {"oracle": oracle, "analyst": analyst, "strategist": strategist, "sentinel": sentinel},
            {"threshold": self.config.agents.decision_threshold},
        )
        orders = list(sovereign.payload.get("orders", []))
        message("sovereign", "execution", "orders", {"orders": orders})
        summary = {
            "recommendation": sovereign.recommendation,
            "confidence": sovereign.confidence,
            "regime": oracle.payload.get("regime"),
            "vetoes": sentinel.payload.get("vetoes", []),
            "orders": orders,
            "reasoning": list(sovereign.reasoning),
        }
        now = self._now()
        c = s.cycles
        with write(self.engine) as conn:
            owned = conn.execute(
                update(c).where(c.c.id == cycle_id, c.c.status == "running", c.c.attempts == attempt),
                {
                    "status": "decided",
                    "data_version": version,
                    "config_hash": _config_hash(self.config),
                    "is_demo": is_demo,
                    "summary": json.dumps(to_jsonable(summary)),
                },
            ).rowcount
            if owned != 1:
                raise OperationalError(
                    f"agent cycle {cycle_id}: this run (attempt {attempt}) lost its claim to another process; "
                    "nothing of it was stored"
                )
            self._write_messages(conn, cycle_id, messages, now)
            self._write_status(conn, cycle_id, status, now)
            self._write_regime(conn, cycle_id, date, regime, is_demo)
            self._write_clusters(conn, cycle_id, analyst.payload.get("clusters"))
            if fitted is not None:
                conn.execute(
                    upsert_statement(conn, s.models, ["name"], [*fitted, "fitted_at"]), {**fitted, "fitted_at": now}
                )

    def regime_anchor(self, business_date: Any) -> pd.Timestamp:
        """The session whose data the regime model of ``business_date`` is fitted on (see :func:`regime_anchor`)."""
        return regime_anchor(business_date, self.config.agents.regime_refit_days, self.config.data.exchange)

    def _regime(self, prices: pd.DataFrame, date: pd.Timestamp, version: str) -> tuple[dict[str, Any], dict | None]:
        """The regime reading of ``date`` and, when the model was fitted now, its row for the ``models`` table.

        The model of ``date`` is a pure function of the date, the configuration and the stored data, never of the
        cycles run before: it is fitted on the whole stored history of the universe from ``[DATA] history_start``
        to the refit grid's anchor of ``date`` (:meth:`regime_anchor`: a model that has only seen calm years never
        names a bear or a crisis). It is stored under a name keyed by the anchor and a hash of everything the fit
        depends on (:func:`regime_model_key`: the detector's parameters, exchange, history start, universe and the
        training prices themselves), so a stored model is reused only when it is the very model a fit would give;
        any other fits a new one (returned, to be stored with the decision). The reading is the model's causal
        (filtered) label of the last day of the cycle's window."""
        from ravenshire.data import DataManager
        from ravenshire.ml import RegimeDetector

        anchor = self.regime_anchor(date)
        start = pd.Timestamp(self.config.data.history_start)
        if anchor < start:
            raise ConfigError(
                f"the regime model of {date.date()} is fitted on the data up to {anchor.date()} (the refit grid's "
                f"anchor, every {self.config.agents.regime_refit_days} sessions), which is before [DATA] "
                f"history_start {start.date()}: move history_start earlier or run a later date"
            )
        history = DataManager(self.config, engine=self.engine).get_market_data(
            start_date=start, end_date=anchor, fetch=False
        )
        training = pd.DataFrame(history["adj_close"])
        key = regime_model_key(self.config, anchor, training)
        name = f"{REGIME_MODEL}:{anchor:%Y%m%d}:{key[:40]}"
        m = s.models
        with read(self.engine) as conn:
            row = conn.execute(select(m.c.state).where(m.c.name == name)).first()
        fitted = None
        if row is not None:
            detector = RegimeDetector.from_dict(json.loads(row.state))
        else:
            detector = RegimeDetector(**REGIME_PARAMS).fit(training)
            fitted = {
                "name": name,
                "kind": "regime_detector",
                "state": json.dumps(to_jsonable(detector.to_dict())),
                "train_start": date_key(training.index[0]),
                "train_end": date_key(training.index[-1]),
                "data_version": version,
            }
        latest = detector.predict(prices).latest
        reading = {
            "regime": latest["regime"],
            "probabilities": latest["probabilities"],
            "model": "gmm",
            "model_id": name,
            "trained_to": str(date_key(training.index[-1])),
        }
        return reading, fitted

    @staticmethod
    def _groups(analyst: Decision) -> dict[str, str] | None:
        clusters = analyst.payload.get("clusters")
        labels = (clusters or {}).get("labels") if isinstance(clusters, Mapping) else None
        return {str(k): f"cluster {v}" for k, v in labels.items()} if isinstance(labels, Mapping) else None

    # ------------------------------------------------------------------ writing
    @staticmethod
    def _write_messages(conn: Connection, cycle_id: str, messages: list[dict[str, Any]], now: dt.datetime) -> None:
        if messages:
            conn.execute(
                insert(s.agent_messages),
                [
                    {
                        "cycle_id": cycle_id,
                        "seq": k,
                        "sender": m["sender"],
                        "receiver": m["receiver"],
                        "type": m["type"],
                        "payload": json.dumps(m["payload"]),
                        "at": now,
                    }
                    for k, m in enumerate(messages, start=1)
                ],
            )

    @staticmethod
    def _write_status(conn: Connection, cycle_id: str, status: Mapping[str, Any], now: dt.datetime) -> None:
        rows = [
            {
                "agent": name,
                "last_cycle_id": cycle_id,
                "last_run_at": now,
                "outcome": st["outcome"],
                "recommendation": st.get("recommendation"),
                "confidence": st.get("confidence"),
                "duration_s": st["duration_s"],
                "error": st.get("error"),
            }
            for name, st in status.items()
        ]
        if rows:
            conn.execute(upsert_statement(conn, s.agent_status, ["agent"], list(rows[0])), rows)

    @staticmethod
    def _write_regime(
        conn: Connection, cycle_id: str, date: pd.Timestamp, regime: Mapping[str, Any], demo: bool
    ) -> None:
        row = {
            "date": date_key(date),
            "model": regime.get("model", "gmm"),
            "regime": regime["regime"],
            "probabilities": json.dumps(to_jsonable(regime["probabilities"])),
            "cycle_id": cycle_id,
            "is_demo": demo,
        }
        conn.execute(upsert_statement(conn, s.regime_readings, ["date", "model"], list(row)), row)

    @staticmethod
    def _write_clusters(conn: Connection, cycle_id: str, clusters: Any) -> None:
        conn.execute(delete(s.asset_clusters).where(s.asset_clusters.c.cycle_id == cycle_id))
        if not isinstance(clusters, Mapping):
            return
        labels = clusters.get("labels") or {}
        embedding = clusters.get("embedding") or {}
        features = clusters.get("features") or {}
        rows = []
        for sym, label in labels.items():
            xyz = embedding.get(sym)
            if isinstance(xyz, Mapping):
                xyz = [xyz.get("x", 0.0), xyz.get("y", 0.0), xyz.get("z", 0.0)]
            x, y, z = (float(v) for v in [*list(xyz or []), 0.0, 0.0, 0.0][:3])
            rows.append(
                {
                    "cycle_id": cycle_id,
                    "symbol": sym,
                    "cluster": int(label),
                    "x": x,
                    "y": y,
                    "z": z,
                    "features": json.dumps(to_jsonable(features.get(sym, {}))),
                }
            )
        if rows:
            conn.execute(insert(s.asset_clusters), rows)

    # ------------------------------------------------------------------ sending
    def _send(self, cycle_id: str, execution: Any, started: float) -> CycleResult:
        with read(self.engine) as conn:
            row = dict(conn.execute(select(s.cycles).where(s.cycles.c.id == cycle_id)).mappings().one())
        summary = json.loads(row["summary"] or "{}")
        orders = summary.get("orders", [])
        basket = [
            {
                "symbol": o["symbol"],
                "side": o["side"],
                "quantity": o["quantity"],
                "cycle_id": cycle_id,
                "client_order_id": f"{cycle_id}:{o['symbol']}:{o['side']}",
            }
            for o in orders
        ]
        try:
            sent = execution.execute_trades(basket) if basket else []
        except Exception as exc:  # recorded on the cycle (still decided: a re-run sends again), then raised
            with write(self.engine) as conn:
                conn.execute(
                    update(s.cycles).where(s.cycles.c.id == cycle_id, s.cycles.c.status == "decided"),
                    {"error": f"sending the orders failed: {type(exc).__name__}: {exc}"},
                )
            raise
        summary["sent"] = [
            {
                "order_id": o.id,
                "client_order_id": o.client_order_id,
                "symbol": o.symbol,
                "side": o.side,
                "quantity": o.quantity,
                "status": str(o.status),
                "filled_quantity": o.filled_quantity,
                "avg_fill_price": o.avg_fill_price,
                "reason": o.reason,
            }
            for o in sent
        ]
        now = self._now()
        duration = time.perf_counter() - started
        with write(self.engine) as conn:
            conn.execute(
                update(s.cycles).where(s.cycles.c.id == cycle_id, s.cycles.c.status == "decided"),
                {
                    "status": "completed",
                    "error": None,
                    "summary": json.dumps(to_jsonable(summary)),
                    "finished_at": now,
                    "duration_s": duration,
                },
            )
            row = dict(conn.execute(select(s.cycles).where(s.cycles.c.id == cycle_id)).mappings().one())
        return self._result(row, reused=False)

    @staticmethod
    def _result(row: Mapping[str, Any], *, reused: bool) -> CycleResult:
        summary = json.loads(row["summary"] or "{}")
        return CycleResult(
            cycle_id=row["id"],
            business_date=pd.Timestamp(str(row["business_date"])),
            status=row["status"],
            recommendation=summary.get("recommendation"),
            confidence=summary.get("confidence"),
            regime=summary.get("regime"),
            vetoes=tuple(summary.get("vetoes", [])),
            orders=tuple(summary.get("sent", summary.get("orders", []))),
            data_version=row["data_version"],
            is_demo=bool(row["is_demo"]),
            reused=reused,
            duration_s=row["duration_s"],
        )


def _id_part(symbol: str) -> str:
    """A symbol as it may appear in a client order id (letters, digits, ``_.-``): ``^GSPC`` → ``_5EGSPC``."""
    return re.sub(r"[^A-Za-z0-9.\-]", lambda m: f"_{ord(m.group()):02X}", symbol)


def _outcome(decision: Decision) -> str:
    if decision.recommendation == "veto":
        return "veto"
    if decision.recommendation in ("hold", "no_signal"):
        return "hold"
    return "ok"


def cycle_messages(engine: Engine, cycle_id: str | None = None, limit: int = 1000) -> pd.DataFrame:
    """The stored messages of ``cycle_id`` (default the newest cycle), in order: cycle_id, seq, sender, receiver,
    type, payload (parsed JSON), at."""
    m = s.agent_messages
    with read(engine) as conn:
        if cycle_id is None:
            cycle_id = conn.execute(select(s.cycles.c.id).order_by(s.cycles.c.started_at.desc()).limit(1)).scalar()
        query = select(m.c.cycle_id, m.c.seq, m.c.sender, m.c.receiver, m.c.type, m.c.payload, m.c.at)
        rows = conn.execute(query.where(m.c.cycle_id == cycle_id).order_by(m.c.seq).limit(limit)).all()
    frame = pd.DataFrame(rows, columns=["cycle_id", "seq", "sender", "receiver", "type", "payload", "at"])
    frame["payload"] = frame["payload"].map(json.loads)
    frame["at"] = pd.to_datetime(frame["at"], utc=True)
    return frame

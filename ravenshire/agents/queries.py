"""Read-only queries of the agents' stored work, for the UI (Command center, Clusters, Neural stream) and the CLI.

Each function takes the store's engine first, runs SQLAlchemy Core selects (bound parameters only) in one short
read transaction and returns a DataFrame or a frozen dataclass — ``None`` (or an empty frame with the documented
columns) when nothing is stored yet. Nothing here writes.

"Newest" means the cycle of the latest business date (a re-run of an older date does not make it the newest);
among cycles of one date, the one started last. Times are UTC (tz-aware); business dates are tz-naive
Timestamps. Confidences, probabilities, returns and volatilities are fractions (0.12 is 12 %).
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, func, select

from ravenshire.agents.base import AGENTS, to_jsonable
from ravenshire.errors import ConfigError
from ravenshire.store import read
from ravenshire.store import schema as s
from ravenshire.store.dates import date_key

__all__ = [
    "MESSAGE_TYPES",
    "SENDERS",
    "ClusterSnapshot",
    "RegimeReading",
    "SovereignDecision",
    "agent_statuses",
    "cluster_cycles",
    "cluster_snapshot",
    "current_regime",
    "latest_decision",
    "recent_cycles",
    "regime_history",
    "stream_messages",
]

#: The kinds of message on the bus, in the order a cycle writes them.
MESSAGE_TYPES: tuple[str, ...] = ("input", "decision", "veto", "orders", "error")
#: Who sends messages: the coordinator (the agents' inputs) and the five agents.
SENDERS: tuple[str, ...] = ("coordinator", *AGENTS)
#: The regimes the regime model names (``ravenshire.ml.regime.REGIMES``), in their display order.
_REGIMES: tuple[str, ...] = ("bull", "bear", "sideways", "crisis")

STATUS_COLUMNS = ["agent", "outcome", "recommendation", "confidence", "last_run_at", "duration_s", "error",
                  "cycle_id", "business_date"]  # fmt: skip
CYCLE_COLUMNS = ["cycle_id", "kind", "business_date", "status", "attempts", "recommendation", "confidence", "regime",
                 "n_orders", "n_vetoes", "is_demo", "error", "started_at", "finished_at", "duration_s",
                 "data_version"]  # fmt: skip
VETO_COLUMNS = ["scope", "symbol", "reason", "detail", "value", "limit"]
ORDER_COLUMNS = ["symbol", "side", "quantity", "price", "value", "reason"]
SENT_COLUMNS = ["order_id", "client_order_id", "symbol", "side", "quantity", "status", "filled_quantity",
                "avg_fill_price", "reason"]  # fmt: skip
MESSAGE_COLUMNS = ["cycle_id", "seq", "sender", "receiver", "type", "recommendation", "confidence", "headline",
                   "payload", "at"]  # fmt: skip
ASSET_FIGURES = ["return", "volatility", "beta"]


# --------------------------------------------------------------------------- results
@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class SovereignDecision:
    """The Sovereign's decision of one agent cycle, as stored with the cycle.

    ``recommendation`` is ``execute``, ``reduce_only``, ``hold`` or ``veto``; ``confidence`` the overall confidence
    it weighed against ``threshold``; ``reasoning`` its sentences. ``vetoes`` are the Sentinel's (columns
    :data:`VETO_COLUMNS`: ``scope`` book or trade, ``symbol`` for a trade veto, ``reason``, ``detail``, ``value``
    and ``limit`` when a limit was measured); ``orders`` what it decided to send (:data:`ORDER_COLUMNS`); ``sent``
    what became of them once sent (:data:`SENT_COLUMNS`; empty while the cycle is only ``decided``, or
    ``expired``). ``status`` is the cycle's: ``decided``, ``completed`` or ``expired``.
    """

    cycle_id: str
    business_date: pd.Timestamp
    status: str
    recommendation: str | None
    confidence: float | None
    threshold: float | None
    regime: str | None
    reasoning: tuple[str, ...]
    vetoes: pd.DataFrame
    orders: pd.DataFrame
    sent: pd.DataFrame
    is_demo: bool
    error: str | None
    decided_at: pd.Timestamp | None

    @property
    def book_vetoed(self) -> bool:
        """Whether the Sentinel vetoed the whole book (no BUY goes)."""
        return bool(len(self.vetoes)) and bool((self.vetoes["scope"] == "book").any())

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["business_date"] = self.business_date.date().isoformat()
        return to_jsonable(out)


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegimeReading:
    """The regime model's reading of one business date: ``regime`` and the ``probabilities`` of every regime (a
    mapping regime → probability, summing to 1), from ``model``, stored by ``cycle_id``."""

    date: pd.Timestamp
    regime: str
    probabilities: Mapping[str, float]
    model: str
    cycle_id: str | None
    is_demo: bool

    @property
    def probability(self) -> float:
        """The probability of the regime read."""
        return float(self.probabilities.get(self.regime, math.nan))

    def to_dict(self) -> dict[str, Any]:
        out = to_jsonable(dataclasses.asdict(self))
        out["date"] = self.date.date().isoformat()
        return out


@dataclasses.dataclass(frozen=True, kw_only=True, eq=False)
class ClusterSnapshot:
    """The asset clusters of one agent cycle.

    ``assets``: one row per asset — ``symbol``, ``cluster`` (0 = the largest), ``x``, ``y``, ``z`` (its PCA
    coordinates), ``return`` (annualised mean daily return), ``volatility`` (annualised), ``beta`` (to the
    equal-weighted market of the universe) and the factor loadings ``loading_1`` … when stored. ``clusters``: one
    row per cluster — ``cluster``, ``n_assets``, the members' mean ``return``, ``volatility`` and ``beta``,
    ``silhouette`` (the members' mean, when the Analyst's message holds it) and ``members`` (comma-separated).
    ``explained_variance``: the share of the standardised feature variance along x, y and z (None when the
    Analyst's message is not stored); ``k`` the number of clusters.
    """

    cycle_id: str
    business_date: pd.Timestamp
    is_demo: bool
    k: int
    assets: pd.DataFrame
    clusters: pd.DataFrame
    explained_variance: tuple[float, ...] | None

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out["business_date"] = self.business_date.date().isoformat()
        return to_jsonable(out)


# --------------------------------------------------------------------------- helpers
def _utc(value: Any) -> pd.Timestamp | None:
    """A stored time as a UTC Timestamp (SQLite hands back naive datetimes: they are UTC)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _utc_column(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True)


def _day_column(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.astype("Int64").astype(str), format="%Y%m%d", errors="coerce")


def _loads(text: Any) -> Any:
    if not isinstance(text, str) or not text:  # NULL reads as None or NaN (pandas 3 text columns)
        return {}
    try:
        return json.loads(text)
    except ValueError:  # a damaged row is shown as empty, never breaks a page
        return {}


def _number(value: Any) -> float | None:
    """A stored number (JSON writes NaN as null and ±inf as text) as a float, or None."""
    if value is None or isinstance(value, bool):
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(x) else x


def _records(rows: Any, columns: Sequence[str]) -> pd.DataFrame:
    """A list of JSON objects as a frame with ``columns`` first (missing ones empty), then any others."""
    items = [dict(r) for r in rows] if isinstance(rows, list) else []
    frame = pd.DataFrame(items)
    for column in columns:
        if column not in frame.columns:
            frame[column] = None
    return frame[[*columns, *(c for c in frame.columns if c not in columns)]].reset_index(drop=True)


def _newest_first(stmt: Select) -> Select:
    return stmt.order_by(s.cycles.c.business_date.desc(), s.cycles.c.started_at.desc(), s.cycles.c.id.desc())


def _check_limit(limit: int) -> int:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be a positive whole number of rows, was {limit!r}")
    return limit


def _names(value: str | Sequence[str] | None, what: str) -> list[str] | None:
    """A filter given as one name or several (None: no filter)."""
    if value is None:
        return None
    names = [value] if isinstance(value, str) else list(value)
    if not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{what} must be a name or a list of names, was {value!r}")
    return names


# --------------------------------------------------------------------------- agents and cycles
def agent_statuses(engine: Engine) -> pd.DataFrame:
    """The last run of each agent, in the order of the cycle (oracle … sovereign; agents that never ran are
    absent): ``agent``, ``outcome`` (ok, hold, veto, error, or skipped when an agent before it failed),
    ``recommendation``, ``confidence``, ``last_run_at`` (UTC), ``duration_s``, ``error`` (for a skipped agent: why),
    and the ``cycle_id`` and ``business_date`` of that run."""
    a, c = s.agent_status, s.cycles
    stmt = select(
        a.c.agent,
        a.c.outcome,
        a.c.recommendation,
        a.c.confidence,
        a.c.last_run_at,
        a.c.duration_s,
        a.c.error,
        a.c.last_cycle_id.label("cycle_id"),
        c.c.business_date,
    ).select_from(a.outerjoin(c, c.c.id == a.c.last_cycle_id))
    with read(engine) as conn:
        frame = pd.DataFrame(conn.execute(stmt).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=STATUS_COLUMNS)
    order = {name: k for k, name in enumerate(AGENTS)}
    frame = frame.sort_values("agent", key=lambda col: col.map(lambda n: (order.get(n, len(order)), n)))
    frame["last_run_at"] = _utc_column(frame["last_run_at"])
    frame["business_date"] = _day_column(frame["business_date"])
    return frame[STATUS_COLUMNS].reset_index(drop=True)


def recent_cycles(engine: Engine, kind: str | None = None, limit: int = 50) -> pd.DataFrame:
    """The newest ``limit`` cycles (of ``kind``: agent, data or monitoring; default every kind), newest first:
    ``cycle_id``, ``kind``, ``business_date``, ``status`` (running, decided, completed, failed or expired),
    ``attempts``, the decision's ``recommendation``, ``confidence`` and ``regime``, ``n_orders`` (decided),
    ``n_vetoes``, ``is_demo``, ``error``, ``started_at`` and ``finished_at`` (UTC), ``duration_s`` and the
    ``data_version`` it ran on.

    Raises
    ------
    ConfigError
        ``limit`` is not a positive whole number.
    """
    c = s.cycles
    stmt = select(
        c.c.id.label("cycle_id"),
        c.c.kind,
        c.c.business_date,
        c.c.status,
        c.c.attempts,
        c.c.summary,
        c.c.is_demo,
        c.c.error,
        c.c.started_at,
        c.c.finished_at,
        c.c.duration_s,
        c.c.data_version,
    )
    if kind is not None:
        stmt = stmt.where(c.c.kind == kind)
    with read(engine) as conn:
        rows = conn.execute(_newest_first(stmt).limit(_check_limit(limit))).mappings().all()
    if not rows:
        return pd.DataFrame(columns=CYCLE_COLUMNS)
    frame = pd.DataFrame(rows)
    summaries = frame.pop("summary").map(_loads)
    frame["recommendation"] = summaries.map(lambda d: d.get("recommendation"))
    frame["confidence"] = summaries.map(lambda d: _number(d.get("confidence"))).astype(float)
    frame["regime"] = summaries.map(lambda d: d.get("regime"))
    frame["n_orders"] = summaries.map(lambda d: len(d.get("orders") or []) if d else None).astype("Int64")
    frame["n_vetoes"] = summaries.map(lambda d: len(d.get("vetoes") or []) if d else None).astype("Int64")
    frame["is_demo"] = frame["is_demo"].astype(bool)
    frame["business_date"] = _day_column(frame["business_date"])
    frame["started_at"] = _utc_column(frame["started_at"])
    frame["finished_at"] = _utc_column(frame["finished_at"])
    return frame[CYCLE_COLUMNS]


def _sovereign_payload(conn: Connection, cycle_id: str) -> dict[str, Any]:
    """The Sovereign's decision message of a cycle (its to_dict), or {}."""
    m = s.agent_messages
    text = conn.execute(
        select(m.c.payload)
        .where(m.c.cycle_id == cycle_id, m.c.sender == "sovereign", m.c.type == "decision")
        .order_by(m.c.seq.desc())
        .limit(1)
    ).scalar()
    payload = _loads(text)
    return payload if isinstance(payload, dict) else {}


def latest_decision(engine: Engine, cycle_id: str | None = None) -> SovereignDecision | None:
    """The Sovereign's decision of ``cycle_id``, by default of the newest agent cycle that reached a decision
    (a failed or running cycle has none); None when there is none. Its reasoning, the Sentinel's vetoes, the
    orders decided and, once sent, their outcomes (see :class:`SovereignDecision`)."""
    c = s.cycles
    stmt = select(c).where(c.c.kind == "agent", c.c.summary.is_not(None))
    stmt = stmt.where(c.c.id == cycle_id) if cycle_id is not None else _newest_first(stmt).limit(1)
    with read(engine) as conn:
        row = conn.execute(stmt).mappings().first()
        if row is None:
            return None
        message = _sovereign_payload(conn, row["id"])
    summary = _loads(row["summary"])
    summary = summary if isinstance(summary, dict) else {}
    reasoning = summary.get("reasoning") or message.get("reasoning") or []
    threshold = (message.get("payload") or {}).get("threshold") if isinstance(message.get("payload"), dict) else None
    return SovereignDecision(
        cycle_id=row["id"],
        business_date=pd.Timestamp(str(row["business_date"])),
        status=row["status"],
        recommendation=summary.get("recommendation"),
        confidence=_number(summary.get("confidence")),
        threshold=_number(threshold),
        regime=summary.get("regime"),
        reasoning=tuple(str(r) for r in reasoning),
        vetoes=_records(summary.get("vetoes"), VETO_COLUMNS),
        orders=_records(summary.get("orders"), ORDER_COLUMNS),
        sent=_records(summary.get("sent"), SENT_COLUMNS),
        is_demo=bool(row["is_demo"]),
        error=row["error"],
        decided_at=_utc(row["finished_at"] or row["started_at"]),
    )


# --------------------------------------------------------------------------- regimes
def _probabilities(text: str | None) -> dict[str, float]:
    raw = _loads(text)
    raw = raw if isinstance(raw, dict) else {}
    names = [r for r in _REGIMES if r in raw] + sorted(set(raw) - set(_REGIMES))
    return {name: _number(raw[name]) or 0.0 for name in names}


def regime_history(engine: Engine, start: Any = None, model: str | None = None) -> pd.DataFrame:
    """The stored regime readings from ``start`` (a date; default all), oldest first: ``date``, ``model``,
    ``regime``, ``probability`` (of the regime read), ``cycle_id``, ``is_demo``, then one column ``p_<regime>`` per
    regime (bull, bear, sideways, crisis) with its probability.

    Raises
    ------
    ConfigError
        ``start`` is not a date.
    """
    r = s.regime_readings
    stmt = select(r.c.date, r.c.model, r.c.regime, r.c.probabilities, r.c.cycle_id, r.c.is_demo)
    if start is not None:
        try:
            key = date_key(start)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"start must be a date (YYYY-MM-DD), was {start!r}") from exc
        stmt = stmt.where(r.c.date >= key)
    if model is not None:
        stmt = stmt.where(r.c.model == model)
    with read(engine) as conn:
        rows = conn.execute(stmt.order_by(r.c.date, r.c.model)).mappings().all()
    columns = ["date", "model", "regime", "probability", "cycle_id", "is_demo", *(f"p_{x}" for x in _REGIMES)]
    if not rows:
        return pd.DataFrame(columns=columns)
    frame = pd.DataFrame(rows)
    probabilities = frame.pop("probabilities").map(_probabilities)
    frame["date"] = _day_column(frame["date"])
    frame["is_demo"] = frame["is_demo"].astype(bool)
    frame["probability"] = [p.get(x, math.nan) for p, x in zip(probabilities, frame["regime"], strict=True)]
    names = list(_REGIMES) + sorted({n for p in probabilities for n in p} - set(_REGIMES))
    for name in names:
        frame[f"p_{name}"] = probabilities.map(lambda p, n=name: p.get(n, math.nan)).astype(float)
    return frame[[*columns[:6], *(f"p_{n}" for n in names)]]


def current_regime(engine: Engine, model: str | None = None) -> RegimeReading | None:
    """The newest regime reading (of ``model``; default any), or None when none is stored."""
    r = s.regime_readings
    stmt = select(r).order_by(r.c.date.desc(), r.c.model).limit(1)
    if model is not None:
        stmt = stmt.where(r.c.model == model)
    with read(engine) as conn:
        row = conn.execute(stmt).mappings().first()
    if row is None:
        return None
    return RegimeReading(
        date=pd.Timestamp(str(row["date"])),
        regime=row["regime"],
        probabilities=_probabilities(row["probabilities"]),
        model=row["model"],
        cycle_id=row["cycle_id"],
        is_demo=bool(row["is_demo"]),
    )


# --------------------------------------------------------------------------- clusters
def cluster_cycles(engine: Engine, limit: int = 200) -> pd.DataFrame:
    """The agent cycles with stored asset clusters, newest first: ``cycle_id``, ``business_date``, ``n_assets``,
    ``k`` (clusters), ``is_demo``."""
    a, c = s.asset_clusters, s.cycles
    stmt = (
        select(
            c.c.id.label("cycle_id"),
            c.c.business_date,
            func.count().label("n_assets"),
            func.count(func.distinct(a.c.cluster)).label("k"),
            c.c.is_demo,
        )
        .select_from(a.join(c, c.c.id == a.c.cycle_id))
        .group_by(c.c.id, c.c.business_date, c.c.started_at, c.c.is_demo)
    )
    with read(engine) as conn:
        rows = conn.execute(_newest_first(stmt).limit(_check_limit(limit))).mappings().all()
    if not rows:
        return pd.DataFrame(columns=["cycle_id", "business_date", "n_assets", "k", "is_demo"])
    frame = pd.DataFrame(rows)
    frame["business_date"] = _day_column(frame["business_date"])
    frame["is_demo"] = frame["is_demo"].astype(bool)
    return frame


def _analyst_clusters(conn: Connection, cycle_id: str) -> dict[str, Any]:
    """The clusters the Analyst reported in its decision message (k, silhouettes, explained variance), or {}."""
    m = s.agent_messages
    text = conn.execute(
        select(m.c.payload)
        .where(and_(m.c.cycle_id == cycle_id, m.c.sender == "analyst", m.c.type == "decision"))
        .order_by(m.c.seq.desc())
        .limit(1)
    ).scalar()
    payload = _loads(text)
    clusters = (payload.get("payload") or {}).get("clusters") if isinstance(payload, dict) else None
    return clusters if isinstance(clusters, dict) else {}


def _cluster_table(assets: pd.DataFrame, reported: Sequence[Any]) -> pd.DataFrame:
    """Per cluster: n_assets, mean return, volatility and beta, silhouette (when reported), members."""
    grouped = assets.groupby("cluster", sort=True)
    table = grouped[ASSET_FIGURES].mean()
    table.insert(0, "n_assets", grouped.size())
    table["members"] = grouped["symbol"].agg(lambda x: ", ".join(sorted(x)))
    silhouettes = {
        int(r["cluster"]): _number(r.get("silhouette"))
        for r in reported
        if isinstance(r, Mapping) and r.get("cluster") is not None
    }
    table.insert(4, "silhouette", [silhouettes.get(int(k)) for k in table.index])
    table["silhouette"] = table["silhouette"].astype(float)
    return table.reset_index()


def cluster_snapshot(engine: Engine, cycle_id: str | None = None) -> ClusterSnapshot | None:
    """The asset clusters of ``cycle_id`` (default the newest agent cycle that stored clusters), with each asset's
    3D coordinates and figures and a per-cluster summary (see :class:`ClusterSnapshot`); None when there are
    none."""
    a, c = s.asset_clusters, s.cycles
    with read(engine) as conn:
        if cycle_id is None:
            newest = select(c.c.id).where(c.c.id.in_(select(a.c.cycle_id).distinct()))
            cycle_id = conn.execute(_newest_first(newest).limit(1)).scalar()
            if cycle_id is None:
                return None
        cycle = conn.execute(select(c.c.business_date, c.c.is_demo).where(c.c.id == cycle_id)).first()
        rows = conn.execute(
            select(a.c.symbol, a.c.cluster, a.c.x, a.c.y, a.c.z, a.c.features)
            .where(a.c.cycle_id == cycle_id)
            .order_by(a.c.cluster, a.c.symbol)
        ).all()
        reported = _analyst_clusters(conn, cycle_id) if rows else {}
    if cycle is None or not rows:
        return None
    assets = pd.DataFrame(rows, columns=["symbol", "cluster", "x", "y", "z", "features"])
    figures = pd.DataFrame(
        [{k: _number(v) for k, v in (_loads(f) or {}).items()} for f in assets.pop("features")], index=assets.index
    )
    for name in ASSET_FIGURES:
        if name not in figures.columns:
            figures[name] = math.nan
    loadings = sorted((f for f in figures.columns if f not in ASSET_FIGURES), key=lambda n: (len(n), n))
    assets = pd.concat([assets, figures[ASSET_FIGURES + loadings].astype(float)], axis=1)
    variance = reported.get("explained_variance")
    explained = tuple(_number(v) or 0.0 for v in variance) if isinstance(variance, list) else None
    return ClusterSnapshot(
        cycle_id=cycle_id,
        business_date=pd.Timestamp(str(cycle.business_date)),
        is_demo=bool(cycle.is_demo),
        k=int(assets["cluster"].nunique()),
        assets=assets,
        clusters=_cluster_table(assets, reported.get("clusters") or []),
        explained_variance=explained,
    )


# --------------------------------------------------------------------------- the neural stream
def _quantity(value: Any) -> str:
    x = _number(value)
    return "?" if x is None else f"{x:g}"


def _headline(kind: str, payload: Any) -> str:
    """One line a person reads for a message."""
    if not isinstance(payload, dict):
        return str(payload)
    if kind == "decision":
        reasoning = payload.get("reasoning") or []
        return "; ".join(str(r) for r in reasoning) or str(payload.get("recommendation", ""))
    if kind == "veto":
        scope, symbol = payload.get("scope", "?"), payload.get("symbol")
        target = f"{symbol} ({payload.get('reason')})" if symbol else f"the book ({payload.get('reason')})"
        return f"{scope} veto of {target}: {payload.get('detail', '')}"
    if kind == "orders":
        orders = payload.get("orders") or []
        shown = ", ".join(f"{o.get('side')} {_quantity(o.get('quantity'))} {o.get('symbol')}" for o in orders[:6])
        more = f" and {len(orders) - 6} more" if len(orders) > 6 else ""
        return f"{len(orders)} order(s) to execution" + (f": {shown}{more}" if orders else "")
    if kind == "error":
        return str(payload.get("error", ""))
    return "inputs: " + (", ".join(str(k) for k in payload) or "none")


def stream_messages(
    engine: Engine,
    cycle_id: str | None = None,
    sender: str | Sequence[str] | None = None,
    type: str | Sequence[str] | None = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """The messages of ``cycle_id`` (default the newest agent cycle that has messages), in order, optionally only
    those of ``sender`` and of ``type`` (a name or a list of names; see :data:`SENDERS`, :data:`MESSAGE_TYPES`),
    at most ``limit``: ``cycle_id``, ``seq``, ``sender``, ``receiver``, ``type``, ``recommendation`` and
    ``confidence`` (of a decision), ``headline`` (one readable line: a decision's reasoning, a veto's reason, the
    orders), ``payload`` (the parsed JSON) and ``at`` (UTC).

    Raises
    ------
    ConfigError
        ``limit`` is not a positive whole number, or a filter is not a name or a list of names.
    """
    senders, types = _names(sender, "sender"), _names(type, "type")
    m, c = s.agent_messages, s.cycles
    stmt = select(m.c.cycle_id, m.c.seq, m.c.sender, m.c.receiver, m.c.type, m.c.payload, m.c.at)
    with read(engine) as conn:
        if cycle_id is None:
            newest = select(c.c.id).where(c.c.id.in_(select(m.c.cycle_id).distinct()))
            cycle_id = conn.execute(_newest_first(newest).limit(1)).scalar()
        stmt = stmt.where(m.c.cycle_id == cycle_id)
        if senders is not None:
            stmt = stmt.where(m.c.sender.in_(senders))
        if types is not None:
            stmt = stmt.where(m.c.type.in_(types))
        rows = conn.execute(stmt.order_by(m.c.seq).limit(_check_limit(limit))).all() if cycle_id else []
    if not rows:
        return pd.DataFrame(columns=MESSAGE_COLUMNS)
    frame = pd.DataFrame(rows, columns=["cycle_id", "seq", "sender", "receiver", "type", "payload", "at"])
    frame["payload"] = frame["payload"].map(_loads)
    decision = frame["type"] == "decision"
    frame["recommendation"] = frame["payload"].map(lambda p: p.get("recommendation") if isinstance(p, dict) else None)
    frame["recommendation"] = frame["recommendation"].where(decision, None)
    confidence = frame["payload"].map(lambda p: _number(p.get("confidence")) if isinstance(p, dict) else None)
    frame["confidence"] = confidence.where(decision, None).astype(float)
    frame["headline"] = [_headline(k, p) for k, p in zip(frame["type"], frame["payload"], strict=True)]
    frame["at"] = _utc_column(frame["at"])
    return frame[MESSAGE_COLUMNS]

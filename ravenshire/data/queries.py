"""Read-only queries of the data layer for the UI and the CLI. Each returns a plain DataFrame or dict."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import Engine, desc, func, select

from ravenshire.data.versioning import DataVersioning
from ravenshire.store import read
from ravenshire.store import schema as s
from ravenshire.store.dates import from_date_keys

__all__ = ["coverage", "fetch_log", "issues", "latest_report_id", "regimes", "store_totals", "versions"]


def _dates(keys: pd.Series) -> pd.Series:
    """Integer YYYYMMDD keys (with gaps) → datetime64 column."""
    out = pd.Series(pd.NaT, index=keys.index, dtype="datetime64[ns]")
    present = keys.notna()
    if present.any():
        out[present] = from_date_keys(keys[present].astype("int64").to_numpy())
    return out


def coverage(engine: Engine) -> pd.DataFrame:
    """One row per stored instrument: symbol, source, demo, first, last, bars, last_fetch."""
    stmt = (
        select(
            s.instruments.c.symbol,
            s.instruments.c.source,
            s.instruments.c.is_demo.label("demo"),
            s.series.c.first_date.label("first"),
            s.series.c.last_date.label("last"),
            s.series.c.n_bars.label("bars"),
            s.series.c.fetch_id.label("last_fetch"),
        )
        .join_from(s.instruments, s.series, s.series.c.instrument_id == s.instruments.c.id)
        .order_by(s.instruments.c.symbol, s.instruments.c.source)
    )
    with read(engine) as conn:
        frame = pd.DataFrame(conn.execute(stmt).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=["symbol", "source", "demo", "first", "last", "bars", "last_fetch"])
    frame["demo"] = frame["demo"].astype(bool)
    frame["first"] = _dates(frame["first"])
    frame["last"] = _dates(frame["last"])
    return frame


def store_totals(engine: Engine) -> dict[str, Any]:
    """Counts for a headline: instruments, bars, versions, fetches, the newest bar date."""
    with read(engine) as conn:
        n_bars, last = conn.execute(
            select(func.coalesce(func.sum(s.series.c.n_bars), 0), func.max(s.series.c.last_date))
        ).one()
        return {
            "instruments": conn.execute(select(func.count()).select_from(s.series)).scalar_one(),
            "bars": int(n_bars),
            "last_date": None if last is None else from_date_keys([last])[0],
            "versions": conn.execute(select(func.count()).select_from(s.data_versions)).scalar_one(),
            "fetches": conn.execute(select(func.count()).select_from(s.fetches)).scalar_one(),
        }


def fetch_log(engine: Engine, limit: int = 100) -> pd.DataFrame:
    """The newest fetch/import/validate runs, newest first."""
    columns = [c for c in s.fetches.c if c.name != "report"]
    has_report = s.fetches.c.report.is_not(None).label("has_report")
    with read(engine) as conn:
        frame = pd.DataFrame(
            conn.execute(select(*columns, has_report).order_by(desc(s.fetches.c.id)).limit(limit)).mappings().all()
        )
    if frame.empty:
        return pd.DataFrame(columns=[*(c.name for c in columns), "has_report"])
    frame["has_report"] = frame["has_report"].astype(bool)
    frame["symbols"] = frame["symbols"].map(lambda text: ", ".join(json.loads(text)))
    frame["start_date"] = _dates(frame["start_date"])
    frame["end_date"] = _dates(frame["end_date"])
    return frame


def latest_report_id(engine: Engine) -> int | None:
    """Id of the newest run that produced a validation report."""
    with read(engine) as conn:
        return conn.execute(
            select(s.fetches.c.id).where(s.fetches.c.report.is_not(None)).order_by(desc(s.fetches.c.id)).limit(1)
        ).scalar()


def issues(engine: Engine, fetch_id: int) -> pd.DataFrame:
    """The validation findings of one run: rejected rows (with their values) and flagged ones."""
    stmt = (
        select(s.validation_issues)
        .where(s.validation_issues.c.fetch_id == fetch_id)
        .order_by(s.validation_issues.c.action.desc(), s.validation_issues.c.symbol, s.validation_issues.c.date)
    )
    with read(engine) as conn:
        frame = pd.DataFrame(conn.execute(stmt).mappings().all())
    if frame.empty:
        return pd.DataFrame(columns=[c.name for c in s.validation_issues.c])
    frame["date"] = _dates(frame["date"])
    return frame


def versions(engine: Engine) -> pd.DataFrame:
    """Every data version, newest first, one row each (no data)."""
    rows = [v.to_dict() | {"short_id": v.short_id} for v in DataVersioning(engine).list()]
    if not rows:
        return pd.DataFrame(
            columns=["short_id", "created_at", "symbols", "start", "end", "n_rows", "sources", "is_demo"]
        )
    frame = pd.DataFrame(rows)
    frame["symbols"] = frame["symbols"].map(", ".join)
    frame["sources"] = frame["sources"].map(", ".join)
    return frame


def regimes(engine: Engine, seed: int) -> pd.Series:
    """The synthetic source's true regime per date for ``seed`` (empty for real data)."""
    with read(engine) as conn:
        rows = conn.execute(
            select(s.demo_regimes.c.date, s.demo_regimes.c.regime)
            .where(s.demo_regimes.c.seed == seed)
            .order_by(s.demo_regimes.c.date)
        ).all()
    if not rows:
        return pd.Series(dtype=object, name="regime")
    keys, labels = zip(*rows, strict=True)
    return pd.Series(labels, index=from_date_keys(list(keys)).rename("date"), name="regime")

"""Drift detection in the store: a strategy's detectors survive restarts, and every step and detection is recorded.

:class:`DriftMonitor` keeps one :class:`~ravenshire.execution.drift.DriftDetector` per *subject* (the strategy
watched) in the table ``drift_states`` and feeds it one live return at a time. Each :meth:`DriftMonitor.check` is
ONE write transaction: it reads the saved state, restores the detector, feeds the return, saves the new state and
records one ``drift_observations`` row (the return and every detector's statistic and threshold after the
update) and one ``drift_events`` row per detection. The state is read inside the write transaction (``BEGIN
IMMEDIATE``), so two processes checking the same subject take turns and never feed one state twice.

Conventions:

- A ``when`` is a business date: a ``'YYYY-MM-DD'`` text, a ``datetime.date`` or a pandas ``Timestamp`` (a number
  such as ``20240628`` is refused, not read as nanoseconds since 1970); its time of day and time zone are dropped
  (the calendar date as written in its own zone), and the store keeps it as a ``YYYYMMDD`` key. Each date is fed
  once: a ``check`` for a date already recorded with the same return (to 1e-12 relative) returns the recorded
  check and feeds nothing (a re-run of the daily cycle); the same date with a different return is refused
  (:class:`~ravenshire.errors.ConfigError` naming the stored return), as is a date before the last one fed (the
  detector's message). A ``check`` without ``when`` is always a new step (the seed's
  ``check_for_drift(current_return=...)``).
- Steps are 1-based and count the returns of the detector's *life*: a life begins with :meth:`DriftMonitor.start`.
  ``start`` refuses a subject that already has a detector unless ``replace=True``; a replacement starts a new
  life at step 0 and DELETES the subject's observations (their steps would collide with the new life's, and
  their statistics were measured against another reference) but KEEPS its events in ``drift_events`` as history.
- Which life an event belongs to: the schema stores no life number, so it is derived. An event of the current
  life is one written by the same ``check`` as one of the current life's observations — same subject, same step
  and the same ``at`` (one transaction writes both with one clock reading); the observations of earlier lives are
  deleted by the replacement, so their events match none. This needs no comparison of two clock readings (the
  former rule, ``event.at >= drift_states.created_at``, misfiled events when the clock stepped back after a start,
  or when the processes writing the store run on hosts whose clocks disagree). Its limits: an earlier life's
  event is misfiled only if it has the same step and the very same ``at`` (to the stored microsecond) as a
  current observation — possible only when a clock steps back onto exactly that instant; and it relies on
  observations being deleted only by a replacement (a future pruning of old observations would make their
  events look like earlier lives'). A re-run ``check``, :func:`drift_events` with ``life=`` and the ``events``
  count of :func:`drift_subjects` use this rule. ``psi`` events (input drift of a model) have no life.
- Observation statistics (``drift_observations.statistics``, JSON): ``{detector: {...}}`` for each detector run,
  with the keys of :meth:`DriftDetector.statistics` plus ``fired`` (whether it fired at this step). After an
  alarm a detector resets, so the statistics after that update show the reset; the value that fired is the
  event's ``statistic``. A NaN (the KS distance of an empty window) is stored as ``null``. The keys, by
  detector:

  - ``page_hinkley``: ``statistic`` (max of the watched sides), ``threshold`` (λ), ``up`` (PH⁺), ``down`` (PH⁻),
    ``window``, ``n``, ``fired``;
  - ``cusum``: ``statistic`` (max of the watched sides), ``threshold`` (h), ``up`` (S⁺), ``down`` (S⁻),
    ``window``, ``fired``;
  - ``ks``: ``statistic`` (D of the window so far), ``threshold`` (D_crit), ``fill``, ``window``, ``fired``.

  :func:`drift_observations` flattens them to columns ``{detector}_{key}`` (``cusum_statistic``,
  ``cusum_threshold``, ``ks_fill`` …).
- Model-input drift (:meth:`DriftMonitor.record_feature_drift`): one ``feature_drift`` row per (model, date,
  feature), replaced when recomputed, and a ``drift_events`` row (detector ``"psi"``, subject the model,
  ``feature`` set) per feature that is not stable.
- The query functions return DataFrames: business dates as tz-naive ``Timestamp`` (NaT when none), instants
  (``at``, ``created_at``, ``updated_at``) as UTC ``Timestamp``.
"""

from __future__ import annotations

import datetime as dt
import difflib
import inspect
import json
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Row,
    and_,
    case,
    delete,
    desc,
    exists,
    func,
    insert,
    or_,
    select,
    update,
)

from ravenshire.errors import ConfigError
from ravenshire.execution.drift import (
    PSI_BINS,
    PSI_EPS,
    PSI_MODERATE,
    PSI_SHIFT,
    DriftCheck,
    DriftDetector,
    DriftEvent,
    feature_drift,
    feature_drift_events,
)
from ravenshire.store import read, write
from ravenshire.store import schema as s
from ravenshire.store.dates import date_key, from_date_keys

__all__ = [
    "DETECTOR_OPTIONS",
    "EVENT_COLUMNS",
    "FEATURE_DRIFT_COLUMNS",
    "OBSERVATION_COLUMNS",
    "SUBJECT_COLUMNS",
    "DriftMonitor",
    "drift_events",
    "drift_observations",
    "drift_subjects",
    "feature_drift_history",
]

#: Values of :func:`drift_events`' ``life``.
LIVES: tuple[str, ...] = ("current", "earlier")

log = logging.getLogger(__name__)

#: Longest subject, model or feature name the store holds.
NAME_MAX = 64
#: Columns of :func:`drift_events`.
EVENT_COLUMNS: tuple[str, ...] = (
    "id", "subject", "detector", "feature", "statistic", "threshold", "window", "step", "date", "direction",
    "severity", "p_value", "message", "at",
)  # fmt: skip
#: Leading columns of :func:`drift_observations` (then ``{detector}_{key}`` per detector statistic).
OBSERVATION_COLUMNS: tuple[str, ...] = ("step", "date", "value", "drift", "at")
#: Columns of :func:`feature_drift_history`.
FEATURE_DRIFT_COLUMNS: tuple[str, ...] = ("date", "feature", "psi", "verdict", "n_reference", "n_current", "at")
#: Columns of :func:`drift_subjects`.
SUBJECT_COLUMNS: tuple[str, ...] = (
    "subject", "steps", "last_date", "reference_run_id", "created_at", "updated_at", "events", "events_all",
)  # fmt: skip

#: Options of :meth:`DriftDetector.from_reference` that :meth:`DriftMonitor.start` passes on.
DETECTOR_OPTIONS: tuple[str, ...] = tuple(
    name
    for name in inspect.signature(DriftDetector.from_reference).parameters
    if name not in ("backtest_returns", "subject")
)


# ------------------------------------------------------------------------------------------------ validation


def _name(value: Any, what: str, example: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > NAME_MAX:
        raise ConfigError(
            f"{what} must be a non-empty name of at most {NAME_MAX} characters ({example}), got {value!r}"
        )
    return value


_DATE_FORMS = "a date: 'YYYY-MM-DD' (e.g. '2024-06-28'), a datetime.date or a pandas Timestamp"


def _business_date(when: Any, what: str = "when") -> pd.Timestamp:
    """``when`` as a tz-naive midnight: its calendar date in its own zone. A number is refused: pandas would read
    ``20240628`` as nanoseconds since 1970 (1970-01-01)."""
    if isinstance(when, bool | int | float | np.number | np.bool_):
        raise ConfigError(f"{what} must be {_DATE_FORMS}, got the number {when!r}; write a date as '2024-06-28'")
    try:
        stamp = pd.Timestamp(when)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what} must be {_DATE_FORMS}, got {when!r}") from exc
    if pd.isna(stamp):
        raise ConfigError(f"{what} must be {_DATE_FORMS}, got {when!r}")
    return pd.Timestamp(year=stamp.year, month=stamp.month, day=stamp.day)


def _check_options(options: Mapping[str, Any]) -> None:
    for name in options:
        if name not in DETECTOR_OPTIONS:
            close = difflib.get_close_matches(name, DETECTOR_OPTIONS, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise ConfigError(f"unknown detector option {name!r}: use any of {', '.join(DETECTOR_OPTIONS)}{hint}")


def _run_id(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"a run id must be an integer (see ResearchManager().list_runs()), got {value!r}")
    return value


# ------------------------------------------------------------------------------------------------ rows


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key(stamp: pd.Timestamp | None) -> int | None:
    return None if stamp is None else date_key(stamp)


def _finite_or_none(value: Any) -> Any:
    return None if isinstance(value, float) and not math.isfinite(value) else value


def _statistics_json(detector: DriftDetector, fired: set[str]) -> str:
    payload = {
        name: {**{k: _finite_or_none(v) for k, v in figures.items()}, "fired": name in fired}
        for name, figures in detector.statistics().items()
    }
    return json.dumps(payload, allow_nan=False)


def _event_row(event: DriftEvent, *, subject: str, feature: str | None, at: dt.datetime) -> dict[str, Any]:
    return {
        "subject": subject,
        "detector": event.detector,
        "feature": feature,
        "statistic": event.statistic,
        "threshold": event.threshold,
        "window": event.window,
        "step": event.step,
        "date": _key(event.when),
        "direction": event.direction,
        "severity": event.severity,
        "p_value": event.p_value,
        "message": event.message,
        "at": at,
    }


def _event_from_row(row: Row[Any]) -> DriftEvent:
    return DriftEvent(
        detector=row.detector,
        statistic=row.statistic,
        threshold=row.threshold,
        window=row.window,
        step=row.step,
        when=None if row.date is None else from_date_keys([row.date])[0],
        direction=row.direction,
        message=row.message,
        subject=row.subject,
        p_value=row.p_value,
        severity=row.severity,
    )


# ------------------------------------------------------------------------------------------------ the monitor


class DriftMonitor:
    """The drift detector of one ``subject`` (the strategy watched), kept in the store (see the module docstring).

    Parameters
    ----------
    engine
        The state store (:func:`ravenshire.store.init_db`).
    subject
        What is watched, e.g. the live strategy's name; at most 64 characters.
    """

    def __init__(self, engine: Engine, subject: str = "strategy") -> None:
        self.engine = engine
        self.subject = _name(subject, "subject", "the strategy watched, e.g. 'strategy'")

    def __repr__(self) -> str:
        return f"DriftMonitor(subject={self.subject!r})"

    # -------------------------------------------------------------------------------------------- life

    def start(
        self,
        backtest_returns: Any,
        *,
        replace: bool = False,
        reference_run_id: int | None = None,
        **detector_options: Any,
    ) -> DriftDetector:
        """Start the subject's detector: :meth:`DriftDetector.from_reference` on ``backtest_returns`` (the daily
        returns of its backtest) with ``detector_options`` (``detectors``, ``cusum_h``, ``ks_window`` …), saved in
        one transaction. ``reference_run_id`` records the stored backtest run they came from.

        Raises
        ------
        ConfigError
            The subject already has a detector and ``replace`` is False (a replacement deletes its observations
            and keeps its events); an unknown option or a bad reference; an unknown ``reference_run_id``.
        """
        _check_options(detector_options)
        if reference_run_id is not None:
            reference_run_id = _run_id(reference_run_id)
        detector = DriftDetector.from_reference(backtest_returns, subject=self.subject, **detector_options)
        now = _now()
        with write(self.engine) as conn:
            if reference_run_id is not None and not _run_exists(conn, reference_run_id):
                raise ConfigError(
                    f"no run #{reference_run_id} to record as the reference; list them with "
                    "ResearchManager().list_runs()"
                )
            steps = conn.execute(
                select(s.drift_states.c.steps).where(s.drift_states.c.subject == self.subject)
            ).scalar()
            if steps is not None:
                if not replace:
                    raise ConfigError(
                        f"a drift detector for {self.subject!r} is already started ({steps} returns fed); to start "
                        "again from this reference pass replace=True (its observations are deleted, its events kept)"
                    )
                conn.execute(delete(s.drift_observations).where(s.drift_observations.c.subject == self.subject))
                conn.execute(delete(s.drift_states).where(s.drift_states.c.subject == self.subject))
            conn.execute(
                insert(s.drift_states).values(
                    subject=self.subject,
                    state=json.dumps(detector.state().to_dict()),
                    steps=0,
                    last_date=None,
                    reference_run_id=reference_run_id,
                    created_at=now,
                    updated_at=now,
                )
            )
        log.info("drift detection of %r started (%s)", self.subject, ", ".join(detector.detectors))
        return detector

    def start_from_run(self, run_id: int, *, replace: bool = False, **detector_options: Any) -> DriftDetector:
        """:meth:`start` with the daily portfolio returns of the stored backtest run ``run_id`` (its ``returns``
        artifact) as the reference, recorded as ``reference_run_id``.

        Raises
        ------
        ConfigError
            No such run, or a run without returns (an optimisation trial stores none); and as :meth:`start`.
        """
        # imported here: research is a lower layer, and importing it lazily keeps drift checks free of it
        from ravenshire.research.tracking import ExperimentTracker

        run_id = _run_id(run_id)
        try:
            run = ExperimentTracker(self.engine).load(run_id)
        except ConfigError as exc:
            raise ConfigError(f"cannot start drift detection of {self.subject!r} from run #{run_id}: {exc}") from exc
        if run.returns.empty:
            raise ConfigError(
                f"run #{run_id} ({run.info['kind']} of {run.info['strategy']}) has no returns to use as the "
                "reference; start from a backtest run, which stores its daily returns"
            )
        return self.start(run.returns, replace=replace, reference_run_id=run_id, **detector_options)

    def is_started(self) -> bool:
        """Whether the subject has a detector in the store."""
        with read(self.engine) as conn:
            found = conn.execute(select(s.drift_states.c.steps).where(s.drift_states.c.subject == self.subject))
            return found.first() is not None

    def load(self) -> DriftDetector:
        """The subject's detector as saved (its last state).

        Raises
        ------
        ConfigError
            Not started.
        """
        with read(self.engine) as conn:
            row = self._state_row(conn)
        return DriftDetector.restore(json.loads(row.state))

    def _state_row(self, conn: Connection) -> Row[Any]:
        row = conn.execute(select(s.drift_states).where(s.drift_states.c.subject == self.subject)).first()
        if row is None:
            raise ConfigError(
                f"drift detection of {self.subject!r} is not started: start it from the backtest with "
                f"DriftMonitor(engine, {self.subject!r}).start(backtest_returns) or .start_from_run(run_id)"
            )
        return row

    # -------------------------------------------------------------------------------------------- steps

    def check(self, current_return: float, when: Any = None) -> DriftCheck:
        """Feed the live return of the business date ``when`` (see the module docstring), in one transaction:
        restore, update, save the state, record the observation and the events. A date already recorded with the
        same return returns the recorded check (events read back from the store) without feeding it again.

        Raises
        ------
        ConfigError
            Not started; a NaN or infinite return; a ``when`` that is not a date; a date already recorded with a
            different return; a date before the last one fed (the detector's message).
        """
        stamp = None if when is None else _business_date(when)
        key = _key(stamp)
        with write(self.engine) as conn:
            row = self._state_row(conn)
            if key is not None:
                stored = self._stored_check(conn, key, stamp, current_return)
                if stored is not None:
                    return stored
            detector = DriftDetector.restore(json.loads(row.state))
            result = detector.check_for_drift(current_return, stamp)
            now = _now()
            conn.execute(
                update(s.drift_states)
                .where(s.drift_states.c.subject == self.subject)
                .values(
                    state=json.dumps(detector.state().to_dict()),
                    steps=detector.steps,
                    last_date=_key(detector.last_when),
                    updated_at=now,
                )
            )
            conn.execute(
                insert(s.drift_observations).values(
                    subject=self.subject,
                    step=result.step,
                    date=key,
                    value=float(current_return),
                    statistics=_statistics_json(detector, {e.detector for e in result.events}),
                    drift=result.drift_detected,
                    at=now,
                )
            )
            if result.events:
                rows = [_event_row(e, subject=self.subject, feature=None, at=now) for e in result.events]
                conn.execute(insert(s.drift_events), rows)
        for event in result.events:
            log.warning("drift of %r at step %d: %s", self.subject, result.step, event.message)
        return result

    def check_for_drift(self, current_return: float, when: Any = None) -> DriftCheck:
        """The seed's name for :meth:`check`."""
        return self.check(current_return, when)

    def _stored_check(
        self, conn: Connection, key: int, stamp: pd.Timestamp | None, current_return: Any
    ) -> DriftCheck | None:
        """The check recorded for the date ``key`` in the current life, or None; ConfigError when it was recorded
        with another return than ``current_return`` (a date is fed once)."""
        obs = s.drift_observations
        found = conn.execute(
            select(obs.c.step, obs.c.drift, obs.c.value, obs.c.at).where(
                obs.c.subject == self.subject, obs.c.date == key
            )
        )
        observation = found.first()
        if observation is None:
            return None
        if not _same_return(current_return, observation.value):
            raise ConfigError(
                f"{stamp:%Y-%m-%d} was already checked with return {observation.value!r}; a date is fed once "
                f"(drift of {self.subject!r}, step {observation.step}; got {current_return!r} now)"
            )
        ev = s.drift_events
        rows = conn.execute(
            select(ev)
            .where(
                ev.c.subject == self.subject,
                ev.c.detector != "psi",
                ev.c.step == observation.step,
                ev.c.at == observation.at,  # written by the same check (see the module docstring)
            )
            .order_by(ev.c.id)
        ).all()
        log.info("drift of %r on %s was checked already (step %d)", self.subject, key, observation.step)
        return DriftCheck(
            drift_detected=bool(observation.drift),
            events=tuple(_event_from_row(r) for r in rows),
            step=int(observation.step),
            when=stamp,
        )

    def stored_return(self, when: Any) -> float | None:
        """The return recorded for the business date ``when`` in the current life, or None when none is."""
        key = date_key(_business_date(when))
        obs = s.drift_observations
        with read(self.engine) as conn:
            value = conn.execute(select(obs.c.value).where(obs.c.subject == self.subject, obs.c.date == key)).scalar()
        return None if value is None else float(value)

    # -------------------------------------------------------------------------------------------- input drift

    def record_feature_drift(
        self,
        model: str,
        reference: pd.DataFrame,
        current: pd.DataFrame,
        when: Any,
        *,
        bins: int = PSI_BINS,
        eps: float = PSI_EPS,
        moderate: float = PSI_MODERATE,
        shift: float = PSI_SHIFT,
    ) -> pd.DataFrame:
        """PSI of each feature of ``model`` (:func:`~ravenshire.execution.drift.feature_drift`: every column of
        ``reference`` against ``current``) on the business date ``when`` the current sample ends, recorded in one
        transaction: a ``feature_drift`` row per feature and a ``drift_events`` row (detector ``"psi"``, subject
        ``model``) per feature that is not stable. Recomputing a (model, date, feature) replaces its row and its
        event. Returns the table of ``feature_drift`` (index ``feature``; ``psi``, ``verdict``, ``n_reference``,
        ``n_current``).

        Raises
        ------
        ConfigError
            A bad model name, date, frame or PSI option; a feature name longer than 64 characters.
        """
        model = _name(model, "model", "the model whose inputs are watched, e.g. 'regime'")
        stamp = _business_date(when)
        table = feature_drift(reference, current, bins=bins, eps=eps, moderate=moderate, shift=shift)
        events = feature_drift_events(
            reference, current, when=stamp, bins=bins, eps=eps, moderate=moderate, shift=shift
        )
        features = [str(f) for f in table.index]
        for feature in features:
            _name(feature, "a feature name", "a column of the model's inputs")
        key, now = date_key(stamp), _now()
        rows = [
            {
                "model": model,
                "date": key,
                "feature": str(feature),
                "psi": float(row["psi"]),
                "verdict": str(row["verdict"]),
                "n_reference": int(row["n_reference"]),
                "n_current": int(row["n_current"]),
                "at": now,
            }
            for feature, row in table.iterrows()
        ]
        fd, ev = s.feature_drift, s.drift_events
        with write(self.engine) as conn:
            conn.execute(delete(fd).where(fd.c.model == model, fd.c.date == key, fd.c.feature.in_(features)))
            conn.execute(
                delete(ev).where(
                    ev.c.subject == model, ev.c.detector == "psi", ev.c.date == key, ev.c.feature.in_(features)
                )
            )
            conn.execute(insert(fd), rows)
            if events:
                conn.execute(insert(ev), [_event_row(e, subject=model, feature=e.subject, at=now) for e in events])
        for event in events:
            log.warning("input drift of %r: %s", model, event.message)
        return table


def _same_return(given: Any, stored: float) -> bool:
    """Whether ``given`` is the stored return, to 1e-12 relative (a float read back from the store may differ in
    its last bits). Anything that is not a finite number differs."""
    if isinstance(given, bool) or not isinstance(given, int | float | np.integer | np.floating):
        return False
    return math.isclose(float(given), stored, rel_tol=1e-12, abs_tol=0.0)


def _run_exists(conn: Connection, run_id: int) -> bool:
    return conn.execute(select(s.runs.c.id).where(s.runs.c.id == run_id)).first() is not None


# ------------------------------------------------------------------------------------------------ queries


def _dates(keys: pd.Series) -> pd.Series:
    """Integer YYYYMMDD keys (with gaps) → tz-naive datetime64 column (NaT for a gap)."""
    out = pd.Series(pd.NaT, index=keys.index, dtype="datetime64[ns]")
    present = keys.notna()
    if present.any():
        out[present] = from_date_keys(keys[present].astype("int64").to_numpy())
    return out


def _instants(values: pd.Series) -> pd.Series:
    """Stored instants (UTC; naive on SQLite) → UTC datetime64 column."""
    return pd.to_datetime(values, utc=True)


def _frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    return pd.DataFrame([dict(r) for r in rows], columns=list(columns))


def _in_current_life() -> ColumnElement[bool]:
    """An event (of ``drift_events``) was written by the same check as an observation of its subject's current
    life: same subject, step and ``at`` (see the module docstring: no comparison of clock readings)."""
    ev, obs = s.drift_events, s.drift_observations
    return exists().where(and_(obs.c.subject == ev.c.subject, obs.c.step == ev.c.step, obs.c.at == ev.c.at))


def drift_events(
    engine: Engine, subject: str | None = None, since: Any = None, limit: int = 500, life: str | None = None
) -> pd.DataFrame:
    """The newest drift events, newest first, at most ``limit``: of ``subject`` when given (a strategy, or a model
    for its ``psi`` events), of business date ``since`` or later when given (an event without a date counts
    from the day it was recorded), and with ``life`` given only a strategy's events (no ``psi``) of its current
    life (``"current"``: recorded since its last :meth:`~DriftMonitor.start`) or of its earlier lives
    (``"earlier"``: before a ``start(replace=True)``); see the module docstring for how an event's life is told.
    Columns :data:`EVENT_COLUMNS`: ``id``, ``subject``, ``detector``, ``feature`` (psi events), ``statistic``,
    ``threshold``, ``window``, ``step`` (None for psi), ``date`` (business date), ``direction``, ``severity``,
    ``p_value`` (KS), ``message``, ``at`` (when recorded, UTC)."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise ConfigError(f"limit must be a positive integer (rows returned), got {limit!r}")
    if life is not None and life not in LIVES:
        raise ConfigError(f"life must be one of {', '.join(LIVES)} (or None for every event), got {life!r}")
    ev = s.drift_events
    stmt = select(*(ev.c[name] for name in EVENT_COLUMNS)).order_by(desc(ev.c.id)).limit(limit)
    if subject is not None:
        stmt = stmt.where(ev.c.subject == subject)
    if life is not None:
        in_life = _in_current_life()
        stmt = stmt.where(ev.c.detector != "psi", in_life if life == "current" else ~in_life)
    if since is not None:
        start = _business_date(since, "since")
        stmt = stmt.where(
            or_(
                ev.c.date >= date_key(start),
                ev.c.date.is_(None) & (ev.c.at >= start.tz_localize("UTC").to_pydatetime()),
            )
        )
    with read(engine) as conn:
        frame = _frame(conn.execute(stmt).mappings().all(), EVENT_COLUMNS)
    frame["date"] = _dates(frame["date"])
    frame["at"] = _instants(frame["at"])
    return frame


def _flatten(statistics: str) -> dict[str, Any]:
    return {
        f"{detector}_{key}": math.nan if value is None else value
        for detector, figures in json.loads(statistics).items()
        for key, value in figures.items()
    }


def drift_observations(engine: Engine, subject: str) -> pd.DataFrame:
    """One row per step of ``subject``'s current life, in step order: ``step``, ``date`` (business date, NaT when
    fed without one), ``value`` (the live return), ``drift`` (any detector fired), ``at`` (UTC), then each
    detector's figures after the update as ``{detector}_{key}`` (``page_hinkley_statistic``,
    ``cusum_threshold``, ``ks_fill``, ``cusum_fired`` …; see the module docstring)."""
    obs = s.drift_observations
    stmt = (
        select(*(obs.c[name] for name in OBSERVATION_COLUMNS), obs.c.statistics)
        .where(obs.c.subject == subject)
        .order_by(obs.c.step)
    )
    with read(engine) as conn:
        rows = conn.execute(stmt).mappings().all()
    frame = _frame(rows, OBSERVATION_COLUMNS)
    frame["drift"] = frame["drift"].astype(bool)
    frame["date"] = _dates(frame["date"])
    frame["at"] = _instants(frame["at"])
    if rows:
        flat = pd.DataFrame([_flatten(r["statistics"]) for r in rows], index=frame.index)
        frame = pd.concat([frame, flat], axis=1)
    return frame


def feature_drift_history(engine: Engine, model: str) -> pd.DataFrame:
    """Every recorded PSI of ``model``'s features, by date (then in the order recorded): columns
    :data:`FEATURE_DRIFT_COLUMNS` — ``date`` (business date the current sample ends), ``feature``, ``psi``,
    ``verdict`` (stable | moderate | shift), ``n_reference``, ``n_current``, ``at`` (UTC)."""
    fd = s.feature_drift
    stmt = (
        select(*(fd.c[name] for name in FEATURE_DRIFT_COLUMNS)).where(fd.c.model == model).order_by(fd.c.date, fd.c.id)
    )
    with read(engine) as conn:
        frame = _frame(conn.execute(stmt).mappings().all(), FEATURE_DRIFT_COLUMNS)
    frame["date"] = _dates(frame["date"])
    frame["at"] = _instants(frame["at"])
    return frame


def drift_subjects(engine: Engine) -> pd.DataFrame:
    """One row per started subject, by name: columns :data:`SUBJECT_COLUMNS` — ``subject``, ``steps`` (returns fed
    in this life), ``last_date`` (business date of the last return fed with a date), ``reference_run_id``,
    ``created_at`` (this life's start, UTC), ``updated_at`` (UTC), ``events`` (detections in this life; see the
    module docstring for how an event's life is told) and ``events_all`` (all stored for the subject, earlier
    lives included)."""
    st, ev = s.drift_states, s.drift_events
    in_life = case((_in_current_life(), 1), else_=0)
    stmt = (
        select(
            st.c.subject,
            st.c.steps,
            st.c.last_date,
            st.c.reference_run_id,
            st.c.created_at,
            st.c.updated_at,
            func.coalesce(func.sum(in_life), 0).label("events"),
            func.count(ev.c.id).label("events_all"),
        )
        .join_from(st, ev, (ev.c.subject == st.c.subject) & (ev.c.detector != "psi"), isouter=True)
        .group_by(st.c.subject)
        .order_by(st.c.subject)
    )
    with read(engine) as conn:
        frame = _frame(conn.execute(stmt).mappings().all(), SUBJECT_COLUMNS)
    frame["last_date"] = _dates(frame["last_date"])
    frame["created_at"] = _instants(frame["created_at"])
    frame["updated_at"] = _instants(frame["updated_at"])
    return frame

"""The optional MLflow mirror of tracked runs (the seed's MLflow integration).

The store is the source of truth: :class:`~ravenshire.research.tracking.ExperimentTracker` stores every run first
and then, when a mirror is configured, logs it to MLflow as well. A run in MLflow carries:

- **params** — the strategy's parameters under their own names (``fast``, ``window``; strategy parameters are
  Python keyword names, so they never contain a dot), the costs as ``costs.<field>`` and the backtest settings
  as ``backtest.initial_capital``, ``backtest.risk_free``, ``backtest.start``, ``backtest.end``;
- **metrics** — the finite :attr:`BacktestResult.METRICS <ravenshire.research.results.BacktestResult.METRICS>`
  (MLflow has no NaN/inf worth trusting: its SQL store turns inf into the largest float, so an undefined metric
  is left out; ``result.json`` has them all), and the equity curve as the history of the ``equity`` metric
  (step = day number, timestamp = the day);
- **tags** — ``ravenshire.run_id`` (the store's run id), ``ravenshire.kind``, ``ravenshire.strategy``,
  ``ravenshire.study``, ``ravenshire.data_version``, ``ravenshire.code_version``, ``ravenshire.is_demo``
  (``"true"`` for runs on demo data) and MLflow's own ``mlflow.source.git.commit``;
- **artifacts** — ``equity.csv``, ``returns.csv``, ``positions.csv``, ``trades.csv`` and ``result.json``;
- the run's start and end times are the backtest's, so MLflow's duration is the backtest's duration.

It is switched on by ``[RESEARCH] mlflow_tracking_uri`` or, when that is empty, the ``MLFLOW_TRACKING_URI``
environment variable (:meth:`MlflowMirror.from_config`). ``mlflow`` (``pip install mlflow-skinny`` is enough)
is imported only then. The mirror talks to MLflow through its own ``MlflowClient`` and never touches MLflow's
global state (the tracking URI of the ``mlflow`` module, active runs).

When MLflow fails (server down, bad URI), :meth:`MlflowMirror.log` records the failure in
:attr:`MlflowMirror.failures` and raises; the tracker keeps the stored run and logs a warning. MLflow's HTTP
client retries a refused connection for minutes by default (``MLFLOW_HTTP_REQUEST_MAX_RETRIES``,
``MLFLOW_HTTP_REQUEST_TIMEOUT``), so after a failure the mirror pauses for ``pause_s`` seconds (5 minutes by
default): runs tracked meanwhile are not sent, each is recorded as a failure, and a parameter search does not
wait on a dead server for every trial. Runs that failed are not sent again later.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import numpy as np
import pandas as pd

from ravenshire.config import Config
from ravenshire.errors import ConfigError, TransientError
from ravenshire.research.results import BacktestResult
from ravenshire.research.tracking import code_version

if TYPE_CHECKING:
    from mlflow import MlflowClient

    from ravenshire.research.optimize import SearchInfo, TrialRecord

__all__ = ["MlflowMirror"]

#: MLflow's limits per ``log_batch`` call (``mlflow.utils.validation``).
_MAX_PARAMS_TAGS = 100
_MAX_METRICS = 1000

_T = TypeVar("_T")


def _chunks(items: Sequence[_T], size: int) -> Iterator[Sequence[_T]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _ms(when: dt.datetime) -> int:
    """Milliseconds since the epoch (naive datetimes are taken as UTC)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return int(when.timestamp() * 1000)


def _redacted(uri: str) -> str:
    """``uri`` without its user-info part, for messages."""
    parts = urlsplit(uri)
    if "@" not in parts.netloc:
        return uri
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


class MlflowMirror:
    """Logs tracked runs to an MLflow tracking server or store as well (see the module docstring).

    Parameters
    ----------
    tracking_uri:
        Where MLflow runs go: ``http(s)://host:port``, ``sqlite:///path/mlflow.db``, ``databricks``…
    experiment:
        The MLflow experiment (created on first use).
    artifact_location:
        Where the experiment's artifacts go when the mirror creates it; default MLflow's (for a local
        ``sqlite:`` store that is ``./mlruns`` under the working directory).
    pause_s:
        After a failure, how long runs are not sent (0: always try).
    client:
        An ``mlflow.MlflowClient`` to use instead of a new one on ``tracking_uri``.
    """

    def __init__(
        self,
        tracking_uri: str,
        experiment: str = "ravenshire",
        *,
        artifact_location: str | None = None,
        pause_s: float = 300.0,
        client: MlflowClient | None = None,
    ) -> None:
        if client is None:
            client = _mlflow_client(tracking_uri, "MlflowMirror's tracking_uri", "build no mirror")
        self.client = client
        self.tracking_uri = tracking_uri
        self.experiment = experiment
        self.artifact_location = artifact_location
        self.pause_s = pause_s
        #: Store run id → why it is not in MLflow, for the runs whose mirroring failed or was skipped.
        self.failures: dict[int, str] = {}
        self._experiment_id: str | None = None
        self._lock = threading.Lock()
        self._failed_at: float | None = None  # time.monotonic() of the last failure
        self._last_error = ""

    @classmethod
    def from_config(cls, config: Config, env: Mapping[str, str] | None = None) -> MlflowMirror | None:
        """The mirror ``config`` asks for, or None.

        The URI is ``[RESEARCH] mlflow_tracking_uri``, else ``MLFLOW_TRACKING_URI`` in ``env`` (default
        ``os.environ``); neither set → None. A URI with ``mlflow`` not installed → :class:`ConfigError`.
        """
        if env is None:
            env = os.environ
        uri = config.research.mlflow_tracking_uri.strip()
        where, clear = "[RESEARCH] mlflow_tracking_uri", "clear [RESEARCH] mlflow_tracking_uri"
        if not uri:
            uri = env.get("MLFLOW_TRACKING_URI", "").strip()
            where, clear = "MLFLOW_TRACKING_URI", "unset MLFLOW_TRACKING_URI"
        if not uri:
            return None
        return cls(uri, config.research.mlflow_experiment, client=_mlflow_client(uri, where, clear))

    # ------------------------------------------------------------------ logging
    def log(
        self,
        result: BacktestResult,
        *,
        run_id: int,
        kind: str = "backtest",
        study: str | None = None,
        started_at: dt.datetime,
        duration_s: float,
    ) -> str:
        """Log ``result`` (stored as run ``run_id``) as an MLflow run; returns the MLflow run id.

        The MLflow run is named ``"<strategy>#<run_id>"`` and ends FINISHED, or FAILED when logging broke off
        after it was created. Any failure is recorded in :attr:`failures` and raised; while the mirror is
        paused after a failure, raises :class:`~ravenshire.errors.TransientError` without calling MLflow.
        """
        start_ms = _ms(started_at)
        metrics = [(k, v, start_ms, 0) for k, v in _metrics(result).items()]
        metrics += [("equity", v, ts, step) for step, (ts, v) in enumerate(_curve(result.equity_curve))]
        return self._guarded(
            run_id,
            lambda: self._send(
                run_name=f"{result.strategy_name}#{run_id}",
                tags=self._tags(result, run_id=run_id, kind=kind, study=study),
                params=_params(result),
                metrics=metrics,
                start_ms=start_ms,
                end_ms=start_ms + max(int(duration_s * 1000), 0),
                artifacts=lambda folder: _write_artifacts(result, folder, run_id=run_id),
            ),
        )

    def log_trial(
        self,
        info: SearchInfo,
        trial: TrialRecord,
        *,
        run_id: int,
        initial_capital: float,
        started_at: dt.datetime,
    ) -> str:
        """Log a trial of a parameter search (stored as run ``run_id``): its parameters, finite metrics and the
        search's tags (``ravenshire.kind`` = ``trial``, ``ravenshire.study``); no artifacts. Failures as in
        :meth:`log`."""
        start_ms = _ms(started_at)
        params = {str(k): _text(v) for k, v in trial.parameters.items()}
        params |= {f"costs.{k}": _text(v) for k, v in info.costs.to_dict().items()}
        params |= {
            "backtest.initial_capital": _text(initial_capital),
            "backtest.risk_free": _text(info.risk_free),
            "backtest.start": info.train[0].isoformat(),
            "backtest.end": info.train[1].isoformat(),
            "trial.number": str(trial.number),
        }
        metrics = [(k, float(v), start_ms, 0) for k, v in trial.metrics.items() if math.isfinite(v)]
        version = code_version()
        tags = {
            "ravenshire.run_id": str(run_id),
            "ravenshire.kind": "trial",
            "ravenshire.strategy": info.strategy_name,
            "ravenshire.is_demo": "true" if info.is_demo else "false",
            "ravenshire.study": info.study_name,
        }
        optional = {
            "ravenshire.data_version": info.data_version,
            "ravenshire.code_version": version,
            "mlflow.source.git.commit": version.removesuffix("-dirty") if version else None,
        }
        tags |= {k: v for k, v in optional.items() if v}
        return self._guarded(
            run_id,
            lambda: self._send(
                run_name=f"{info.strategy_name}#{run_id}",
                tags=tags,
                params=params,
                metrics=metrics,
                start_ms=start_ms,
                end_ms=start_ms + max(int(trial.duration_s * 1000), 0),
            ),
        )

    def _guarded(self, run_id: int, send: Callable[[], str]) -> str:
        """``send()``, unless paused after a failure; failures are recorded in :attr:`failures` and start a pause."""
        failed_at = self._failed_at
        if failed_at is not None and (ago := time.monotonic() - failed_at) < self.pause_s:
            reason = (
                f"not sent: MLflow at {_redacted(self.tracking_uri)} failed {ago:.0f} s ago ({self._last_error}); "
                f"the mirror tries again {self.pause_s:g} s after the failure"
            )
            self.failures[run_id] = reason
            raise TransientError(reason)
        try:
            mlflow_run_id = send()
        except Exception as exc:
            self._last_error = " ".join(str(exc).split())[:300] or type(exc).__name__
            self._failed_at = time.monotonic()
            self.failures[run_id] = self._last_error
            raise
        self._failed_at = None
        return mlflow_run_id

    def _send(
        self,
        *,
        run_name: str,
        tags: Mapping[str, str],
        params: Mapping[str, str],
        metrics: Sequence[tuple[str, float, int, int]],
        start_ms: int,
        end_ms: int,
        artifacts: Callable[[Path], None] | None = None,
    ) -> str:
        """One MLflow run: created with ``tags``, then params and metrics (key, value, timestamp ms, step) in
        batches, then the files ``artifacts(folder)`` writes; FINISHED at ``end_ms``, or FAILED when a step
        raised. Returns the MLflow run id."""
        from mlflow.entities import Metric, Param

        run = self.client.create_run(self._experiment(), start_time=start_ms, tags=dict(tags), run_name=run_name)
        mlflow_run_id: str = run.info.run_id
        try:
            for chunk in _chunks([Param(k, v) for k, v in params.items()], _MAX_PARAMS_TAGS):
                self.client.log_batch(mlflow_run_id, params=chunk, synchronous=True)
            for mchunk in _chunks([Metric(*m) for m in metrics], _MAX_METRICS):
                self.client.log_batch(mlflow_run_id, metrics=mchunk, synchronous=True)
            if artifacts is not None:
                with tempfile.TemporaryDirectory(prefix="ravenshire-mlflow-") as tmp:
                    artifacts(Path(tmp))
                    self.client.log_artifacts(mlflow_run_id, tmp)
        except BaseException:
            with contextlib.suppress(Exception):  # the original error is the one worth raising
                self.client.set_terminated(mlflow_run_id, "FAILED")
            raise
        self.client.set_terminated(mlflow_run_id, "FINISHED", end_time=end_ms)
        return mlflow_run_id

    def _experiment(self) -> str:
        """The experiment id, created on first use (and cached)."""
        with self._lock:
            if self._experiment_id is None:
                found = self.client.get_experiment_by_name(self.experiment)
                if found is None:
                    from mlflow.exceptions import MlflowException

                    try:
                        self._experiment_id = self.client.create_experiment(
                            self.experiment, artifact_location=self.artifact_location
                        )
                    except MlflowException:  # created meanwhile by another process
                        found = self.client.get_experiment_by_name(self.experiment)
                        if found is None:
                            raise
                if found is not None:
                    if found.lifecycle_stage != "active":
                        raise ConfigError(
                            f"the MLflow experiment {self.experiment!r} is deleted; restore it or set "
                            "[RESEARCH] mlflow_experiment to another name"
                        )
                    self._experiment_id = str(found.experiment_id)
            assert self._experiment_id is not None
            return self._experiment_id

    @staticmethod
    def _tags(result: BacktestResult, *, run_id: int, kind: str, study: str | None) -> dict[str, str]:
        version = code_version()
        tags = {
            "ravenshire.run_id": str(run_id),
            "ravenshire.kind": kind,
            "ravenshire.strategy": result.strategy_name,
            "ravenshire.is_demo": "true" if result.is_demo else "false",
        }
        optional = {
            "ravenshire.study": study,
            "ravenshire.data_version": result.data_version,
            "ravenshire.code_version": version,
            "mlflow.source.git.commit": version.removesuffix("-dirty") if version else None,
        }
        return tags | {k: v for k, v in optional.items() if v}


def _mlflow_client(uri: str, where: str, clear: str) -> MlflowClient:
    """A client on ``uri``; when mlflow is missing, :class:`ConfigError` naming ``where`` the URI came from and
    how to ``clear`` it."""
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise ConfigError(
            f"{where} is set ({_redacted(uri)}) but mlflow is not installed: pip install mlflow-skinny, or {clear}"
        ) from None
    # MLflow retries a refused HTTP request for minutes by default; a mirror must not stall the store's path that
    # long. Only defaults: a user's own MLFLOW_HTTP_REQUEST_* settings win.
    for key, value in _HTTP_DEFAULTS.items():
        os.environ.setdefault(key, value)
    try:
        return MlflowClient(tracking_uri=uri)
    except Exception as exc:  # an unknown scheme, a refused file store…: bad configuration, said in one line
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{where} = {_redacted(uri)}: MLflow cannot use it ({first}); fix it or {clear}") from None


#: MLflow HTTP settings the mirror sets when the environment does not: 2 retries, 10 s per request.
_HTTP_DEFAULTS = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10"}


def _params(result: BacktestResult) -> dict[str, str]:
    """MLflow params (strings): strategy parameters by name, ``costs.*`` and ``backtest.*``."""
    params = {str(k): _text(v) for k, v in result.parameters.items()}
    params |= {f"costs.{k}": _text(v) for k, v in result.costs.to_dict().items()}
    params |= {
        "backtest.initial_capital": _text(result.initial_capital),
        "backtest.risk_free": _text(result.risk_free),
        "backtest.start": result.start.isoformat(),
        "backtest.end": result.end.isoformat(),
    }
    return params


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (bool, int, float)) or value is None:
        return str(value)
    return json.dumps(value, sort_keys=True, default=str)


def _metrics(result: BacktestResult) -> dict[str, float]:
    """The finite metrics, as floats."""
    values = {k: float(v) for k, v in result.metrics().items()}
    return {k: v for k, v in values.items() if math.isfinite(v)}


def _curve(series: pd.Series) -> list[tuple[int, float]]:
    """(timestamp in ms, value) of the finite points of a date-indexed series."""
    values = series.to_numpy(dtype="float64")
    if isinstance(series.index, pd.DatetimeIndex):
        index = series.index if series.index.tz is None else series.index.tz_convert("UTC").tz_localize(None)
        stamps = (index.to_numpy(dtype="datetime64[ms]").astype("int64")).tolist()
    else:
        stamps = [0] * len(values)
    finite = np.isfinite(values)
    return [(int(t), float(v)) for t, v, ok in zip(stamps, values, finite, strict=True) if ok]


def _write_artifacts(result: BacktestResult, folder: Path, *, run_id: int) -> None:
    """The run's series as CSV files and its full record (non-finite metrics included) as ``result.json``."""
    result.equity_curve.rename("equity").to_csv(folder / "equity.csv", index_label="date")
    result.returns.rename("returns").to_csv(folder / "returns.csv", index_label="date")
    result.positions.to_csv(folder / "positions.csv", index_label="date")
    result.trades.to_csv(folder / "trades.csv", index=False)
    record = result.to_dict() | {"run_id": run_id}
    (folder / "result.json").write_text(json.dumps(record, indent=2, default=str), encoding="utf-8")

"""The MLflow mirror of tracked runs, against a real local MLflow store (SQLite) and an unreachable server."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import logging
import math
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ravenshire.config import Config
from ravenshire.data import DataManager
from ravenshire.data.versioning import DataVersioning
from ravenshire.errors import ConfigError
from ravenshire.research import BacktestResult, Costs, ResearchManager
from ravenshire.research.mlflow_mirror import MlflowMirror
from ravenshire.research.tracking import ExperimentTracker
from tests.conftest import PROJECT, skip_or_fail

# MLflow's SQL store on SQLAlchemy 2.1 (not our code)
pytestmark = pytest.mark.filterwarnings("ignore:The ``noload`` loader strategy is deprecated")

STARTED = dt.datetime(2024, 7, 1, 9, 30, tzinfo=dt.UTC)
ARTIFACT_FILES = {"equity.csv", "returns.csv", "positions.csv", "trades.csv", "result.json"}


@pytest.fixture(scope="module")
def needs_mlflow() -> None:
    try:
        import mlflow  # noqa: F401
    except ImportError:
        skip_or_fail("mlflow is not installed (pip install mlflow-skinny)")


@pytest.fixture(scope="module")
def mlflow_uri(needs_mlflow: None, tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite MLflow store for the module (creating its tables takes a while); tests use their own experiment."""
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture
def mirror(mlflow_uri: str, request: pytest.FixtureRequest, tmp_path: Path) -> MlflowMirror:
    return MlflowMirror(mlflow_uri, experiment=request.node.name, artifact_location=(tmp_path / "mlruns").as_uri())


@pytest.fixture
def result(manager: DataManager) -> BacktestResult:
    """An untracked backtest on demo data, whose data version is stored (the tracker under test stores the run)."""
    data = manager.get_market_data(["AAA", "BBB", "CCC"], "2023-06-01", "2024-06-28")
    version = DataVersioning(manager.engine).create(data, sources=data.attrs["sources"], is_demo=True)
    research = ResearchManager(manager.config, engine=manager.engine, track=False)
    result = research.backtest_strategy("ma_crossover", data, {"ma_period": 30}, costs=Costs(commission_bps=3))
    assert result.data_version == version.id and result.is_demo
    return result


def mlflow_run(mirror: MlflowMirror, run_id: int) -> Any:
    """The one MLflow run tagged with the store's ``run_id``."""
    experiment = mirror.client.get_experiment_by_name(mirror.experiment)
    assert experiment is not None
    runs = mirror.client.search_runs([experiment.experiment_id], f"tags.`ravenshire.run_id` = '{run_id}'")
    assert len(runs) == 1, runs
    return runs[0]


def test_a_tracked_run_is_mirrored_with_params_metrics_tags_and_artifacts(
    manager: DataManager, mirror: MlflowMirror, result: BacktestResult, tmp_path: Path
) -> None:
    # an undefined metric and an infinite one, which MLflow cannot hold: left out there, kept in the store
    result = dataclasses.replace(result, win_rate_trades=math.nan, profit_factor_daily=math.inf)
    tracker = ExperimentTracker(manager.engine, mirror)
    run_id = tracker.log(result, started_at=STARTED, duration_s=1.25)
    stored = tracker.load(run_id)
    run = mlflow_run(mirror, run_id)

    assert mirror.failures == {}
    assert run.info.status == "FINISHED"
    assert run.info.run_name == f"ma_crossover#{run_id}"
    assert run.info.start_time == int(STARTED.timestamp() * 1000)
    assert run.info.end_time - run.info.start_time == 1250

    params = run.data.params
    assert params["ma_period"] == str(stored.info["parameters"]["ma_period"]) == "30"
    assert params["threshold"] == str(stored.info["parameters"]["threshold"])
    assert {k: float(params[f"costs.{k}"]) for k in stored.info["costs"]} == stored.info["costs"]
    assert float(params["backtest.initial_capital"]) == stored.info["initial_capital"]
    assert float(params["backtest.risk_free"]) == stored.info["risk_free"]
    assert params["backtest.start"] == stored.info["start_date"].isoformat()

    finite = {k: v for k, v in stored.info["metrics"].items() if isinstance(v, (int, float))}
    assert stored.info["metrics"]["win_rate_trades"] is None and stored.info["metrics"]["profit_factor_daily"] == "inf"
    assert set(finite) == set(BacktestResult.METRICS) - {"win_rate_trades", "profit_factor_daily"}
    logged = {k: v for k, v in run.data.metrics.items() if k != "equity"}
    assert logged == finite  # exactly, not approximately

    tags = run.data.tags
    assert tags["ravenshire.run_id"] == str(run_id)
    assert tags["ravenshire.kind"] == "backtest"
    assert tags["ravenshire.strategy"] == "ma_crossover"
    assert tags["ravenshire.is_demo"] == "true" and stored.info["is_demo"]
    assert "ravenshire.study" not in tags
    assert tags.get("ravenshire.data_version") == stored.info["data_version"]
    assert tags.get("ravenshire.code_version") == stored.info["code_version"]

    history = mirror.client.get_metric_history(run.info.run_id, "equity")
    assert [h.step for h in history] == list(range(len(stored.equity)))
    np.testing.assert_array_equal([h.value for h in history], stored.equity.to_numpy())
    assert history[0].timestamp == int(stored.equity.index[0].timestamp() * 1000)

    assert {f.path for f in mirror.client.list_artifacts(run.info.run_id)} == ARTIFACT_FILES
    folder = Path(mirror.client.download_artifacts(run.info.run_id, "", str(tmp_path / "download")))
    equity = pd.read_csv(folder / "equity.csv", index_col="date", parse_dates=True)["equity"]
    np.testing.assert_allclose(equity.to_numpy(), stored.equity.to_numpy(), rtol=1e-15)
    assert len(pd.read_csv(folder / "trades.csv")) == len(stored.trades) == result.n_trades
    record = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert record["run_id"] == run_id and record["win_rate_trades"] is None and record["profit_factor_daily"] == "inf"


def test_trials_carry_their_kind_and_study_in_one_experiment(
    manager: DataManager, mirror: MlflowMirror, result: BacktestResult
) -> None:
    tracker = ExperimentTracker(manager.engine, mirror)
    first = tracker.log(result, started_at=STARTED, duration_s=0.5, kind="trial", study="ma-search")
    second = tracker.log(result, started_at=STARTED, duration_s=0.5, kind="trial", study="ma-search")
    for run_id in (first, second):
        tags = mlflow_run(mirror, run_id).data.tags
        assert (tags["ravenshire.kind"], tags["ravenshire.study"]) == ("trial", "ma-search")
    experiment = mirror.client.get_experiment_by_name(mirror.experiment)
    assert experiment is not None
    assert len(mirror.client.search_runs([experiment.experiment_id])) == 2


def test_a_run_that_breaks_off_is_failed_in_mlflow_and_kept_in_the_store(
    manager: DataManager,
    mlflow_uri: str,
    result: BacktestResult,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mirror = MlflowMirror(mlflow_uri, "breaks-off", artifact_location=(tmp_path / "mlruns").as_uri(), pause_s=0)
    tracker = ExperimentTracker(manager.engine, mirror)

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(mirror.client, "log_artifacts", broken)
    with caplog.at_level(logging.WARNING, logger="ravenshire.research.tracking"):
        run_id = tracker.log(result, started_at=STARTED, duration_s=0.5)
    assert tracker.load(run_id).info["strategy"] == "ma_crossover"
    assert mlflow_run(mirror, run_id).info.status == "FAILED"
    assert mirror.failures == {run_id: "disk full"}
    assert f"run #{run_id} is stored but not in MLflow: disk full" in caplog.text

    monkeypatch.undo()  # with pause_s=0 the next run is sent again
    again = tracker.log(result, started_at=STARTED, duration_s=0.5)
    assert mlflow_run(mirror, again).info.status == "FINISHED"
    assert set(mirror.failures) == {run_id}


@pytest.mark.usefixtures("needs_mlflow")
def test_an_unreachable_server_keeps_the_store_run_and_warns(
    manager: DataManager, result: BacktestResult, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as probe:  # a port nothing listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "5")
    mirror = MlflowMirror(f"http://127.0.0.1:{port}")
    tracker = ExperimentTracker(manager.engine, mirror)
    with caplog.at_level(logging.WARNING, logger="ravenshire.research.tracking"):
        first = tracker.log(result, started_at=STARTED, duration_s=0.5)
        second = tracker.log(result, started_at=STARTED, duration_s=0.5)  # within the pause: not sent

    assert list(tracker.list_runs()["id"]) == [second, first]
    assert tracker.load(first).info["metrics"]["sharpe_ratio"] == pytest.approx(result.sharpe_ratio, abs=0)
    assert set(mirror.failures) == {first, second}
    assert f"127.0.0.1:{port}" in mirror.failures[first]
    assert mirror.failures[second].startswith(f"not sent: MLflow at http://127.0.0.1:{port} failed")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2
    assert warnings[0].startswith(f"run #{first} is stored but not in MLflow: ")
    assert warnings[1].startswith(f"run #{second} is stored but not in MLflow: not sent")


# ---------------------------------------------------------------------- from_config
def test_without_a_uri_there_is_no_mirror(config: Config) -> None:
    assert config.research.mlflow_tracking_uri == ""
    assert MlflowMirror.from_config(config, env={}) is None
    assert MlflowMirror.from_config(config, env={"MLFLOW_TRACKING_URI": "  "}) is None


def test_the_uri_comes_from_the_config_else_the_environment(
    make_config: Callable[..., Config], mlflow_uri: str, tmp_path: Path
) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    from_env = MlflowMirror.from_config(make_config(), env={"MLFLOW_TRACKING_URI": mlflow_uri})
    assert from_env is not None
    assert (from_env.tracking_uri, from_env.experiment) == (mlflow_uri, "ravenshire")
    assert from_env.client.tracking_uri == mlflow_uri

    configured = make_config(f"[RESEARCH]\nmlflow_tracking_uri = {mlflow_uri}\nmlflow_experiment = alpha\n")
    mirror = MlflowMirror.from_config(configured, env={"MLFLOW_TRACKING_URI": other})
    assert mirror is not None
    assert (mirror.tracking_uri, mirror.experiment) == (mlflow_uri, "alpha")


@pytest.mark.parametrize(
    ("ini", "env", "clear"),
    [
        ("[RESEARCH]\nmlflow_tracking_uri = http://mlflow.internal:5000\n", {}, "clear [RESEARCH] mlflow_tracking_uri"),
        ("", {"MLFLOW_TRACKING_URI": "http://mlflow.internal:5000"}, "unset MLFLOW_TRACKING_URI"),
    ],
)
def test_a_uri_without_mlflow_installed_is_refused(
    make_config: Callable[..., Config],
    monkeypatch: pytest.MonkeyPatch,
    ini: str,
    env: dict[str, str],
    clear: str,
) -> None:
    config = make_config(ini)
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow → ImportError
    with pytest.raises(ConfigError, match="mlflow is not installed: pip install mlflow-skinny, or ") as caught:
        MlflowMirror.from_config(config, env=env)
    assert str(caught.value).endswith(clear)
    assert "http://mlflow.internal:5000" in str(caught.value)


def test_importing_ravenshire_does_not_import_mlflow() -> None:
    code = (
        "import sys, ravenshire.research, ravenshire.research.tracking, ravenshire.research.mlflow_mirror\n"
        "assert 'mlflow' not in sys.modules, 'mlflow was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_a_search_mirrors_every_trial_and_the_best_run(manager: DataManager, mirror: MlflowMirror) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    data = manager.get_market_data(["AAA", "BBB", "CCC"], "2022-01-03", "2024-06-28")
    research = ResearchManager(manager.config, engine=manager.engine)
    research.mirror = mirror
    result = research.optimize_parameters(
        "ma_crossover_fast_slow", data, {"fast": (5, 25, 10), "slow": [30, 60]}, method="grid", walk_forward_folds=0
    )
    complete = result.trials[result.trials["state"] == "complete"]
    assert len(complete) == 6 and not mirror.failures
    for row in complete.itertuples():
        run = mlflow_run(mirror, int(row.run_id))
        assert run.data.tags["ravenshire.kind"] == "trial"
        assert run.data.tags["ravenshire.study"] == result.study_name
        assert run.data.tags["ravenshire.is_demo"] == "true"
        assert run.data.params["fast"] == str(row.fast) and run.data.params["slow"] == str(row.slow)
        assert run.data.params["backtest.end"] == result.train[1].isoformat()
        assert run.data.metrics["sharpe_ratio"] == row.sharpe_ratio
    best = mlflow_run(mirror, result.best_run_id)
    assert best.data.tags["ravenshire.kind"] == "backtest" and best.data.tags["ravenshire.study"] == result.study_name

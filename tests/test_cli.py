"""``python -m ravenshire`` in real subprocesses: exit codes and one-line messages."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import PROJECT, write_ini


@pytest.fixture
def run(tmp_path: Path):
    ini = write_ini(
        tmp_path / "cli.ini",
        f"""
        [DATA]
        universe = AAA, BBB
        history_start = 2024-01-02
        [STORE]
        url = sqlite:///{tmp_path / "cli.db"}
        """,
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAVENSHIRE_")}
    env["RAVENSHIRE_CONFIG"] = str(ini)

    def run(*args: str, **extra_env: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "ravenshire", *args],
            cwd=PROJECT,
            env={**env, **extra_env},
            capture_output=True,
            text=True,
            timeout=120,
        )

    run.db = tmp_path / "cli.db"  # type: ignore[attr-defined]
    return run


def _one_line_error(proc: subprocess.CompletedProcess, code: int, *needles: str) -> None:
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    for needle in needles:
        assert needle in lines[0]


def test_init_fetch_versions_validate(run) -> None:
    proc = run("init")
    assert proc.returncode == 0 and "schema revision" in proc.stdout
    assert run.db.is_file()

    proc = run("fetch", "--start", "2024-01-02", "--end", "2024-03-28")
    assert proc.returncode == 0, proc.stderr
    assert "fetch synthetic 2 symbols 2024-01-02..2024-03-28: ok" in proc.stdout
    proc = run("fetch", "--start", "2024-01-02", "--end", "2024-03-28")
    assert "nothing to fetch" in proc.stdout

    proc = run("--json", "versions", "--create", "--start", "2024-01-02", "--end", "2024-03-28", "--label", "cli")
    assert proc.returncode == 0, proc.stderr
    created = json.loads(proc.stdout)
    assert created["symbols"] == ["AAA", "BBB"] and created["is_demo"] is True
    listing = run("versions")
    assert created["id"][:12] in listing.stdout and "DEMO" in listing.stdout

    proc = run("validate", "--start", "2024-01-02", "--end", "2024-03-28")
    assert proc.returncode == 0, proc.stderr
    assert "validate synthetic 2 symbols" in proc.stdout


def test_import_of_a_good_and_a_broken_file(run, tmp_path: Path) -> None:
    good = tmp_path / "good.csv"
    good.write_text("Date,Close\n2024-01-02,10\n2024-01-03,10.5\n2024-01-04,10.2\n")
    proc = run("import", str(good), "--symbol", "HOUSE")
    assert proc.returncode == 0, proc.stderr
    assert "import import 1 symbols" in proc.stdout

    broken = tmp_path / "broken.csv"
    broken.write_text("when,price\nyesterday,abc\n")
    proc = run("import", str(broken))
    _one_line_error(proc, 2, "broken.csv")


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("fetch", "--start", "2024-13-01"), ("start_date '2024-13-01' is not a date",)),
        (("fetch", "--symbols", "A A"), ("not valid symbols",)),
        (("versions", "--create", "--start", "2024-05-01", "--end", "2024-01-01"), ("is after end_date",)),
        (("import", "/no/such/file.csv"), ("file.csv",)),
        (("frobnicate",), ("invalid choice: 'frobnicate'",)),
        (("import", "x.csv", "--map", "nonsense"), ("not FILE_COLUMN=FIELD",)),
    ],
)
def test_bad_input_exits_2_with_one_line(run, args, needles) -> None:
    _one_line_error(run(*args), 2, *needles)


def test_bad_configuration_is_one_line_naming_the_variable(run) -> None:
    proc = run("fetch", RAVENSHIRE_RISK_MAX_LEVERAGE="lots")
    _one_line_error(proc, 2, "RAVENSHIRE_RISK_MAX_LEVERAGE", "not a number")


def test_unknown_version_exits_non_zero(run) -> None:
    run("init")
    from ravenshire.store import init_db  # the store exists; the version does not

    init_db(f"sqlite:///{run.db}")
    proc = run("--json", "versions")
    assert proc.returncode == 0 and json.loads(proc.stdout) == []


def test_a_corrupt_store_is_one_line_not_a_traceback(run, tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a database" * 100)
    proc = run("init", RAVENSHIRE_STORE_URL=f"sqlite:///{bad}")
    _one_line_error(proc, 1, "cannot open the state store", "not a database")


def test_backtest_prints_metrics_and_tracks_the_run(run) -> None:
    proc = run("backtest", "ma_crossover", "--start", "2024-01-02", "--end", "2024-06-28", "--param", "ma_period=10")
    assert proc.returncode == 0, proc.stderr
    assert "ma_crossover (ma_period=10, threshold=0.02) 2024-01-02..2024-06-28  [DEMO DATA]" in proc.stdout
    assert "run #1" in proc.stdout and "Sharpe ratio" in proc.stdout
    version = json.loads(run("--json", "versions").stdout)[0]["id"]
    proc = run("--json", "backtest", "equal_weight", "--version", version[:10], "--no-track")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["data_version"] == version and result["run_id"] is None


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("backtest", "ma_crosover"), ("did you mean 'ma_crossover'",)),
        (("backtest", "ma_crossover", "--param", "ma_perod=3"), ("did you mean 'ma_period'",)),
        (("backtest", "ma_crossover", "--param", "ma_period=1"), ("out of range",)),
        (("backtest", "ma_crossover", "--param", "oops"), ("not NAME=VALUE",)),
        (("backtest", "equal_weight", "--commission-bps", "-1"), ("commission_bps",)),
    ],
)
def test_bad_backtest_input_is_refused_before_anything_is_written(run, args, needles) -> None:
    _one_line_error(run(*args), 2, *needles)
    assert not run.db.exists()  # the store was not even opened


def test_backtest_dates_outside_a_version_are_refused(run) -> None:
    run("versions", "--create", "--start", "2024-01-02", "--end", "2024-03-28")
    version = json.loads(run("--json", "versions").stdout)[0]["id"]
    proc = run("backtest", "equal_weight", "--version", version, "--start", "2023-01-03")
    _one_line_error(proc, 2, "out of data version", "2024-01-02..2024-03-28")


def test_optimize_prints_in_and_out_of_sample_and_the_luck_check(run) -> None:
    args = ("optimize", "ma_crossover_fast_slow", "--start", "2022-01-03", "--end", "2024-06-28")
    space = ("--space", "fast=5:25:10", "--space", "slow=30,60", "--method", "grid", "--walk-forward", "2")
    proc = run(*args, *space, "--commission-bps", "10", RAVENSHIRE_DATA_HISTORY_START="2022-01-03")
    assert proc.returncode == 0, proc.stderr
    for needle in ("grid search for the maximum sharpe_ratio  [DEMO DATA]", "in sample", "out of sample",
                   "deflated Sharpe ratio", "walk-forward, 2 folds over 6 sets", "best: fast="):  # fmt: skip
        assert needle in proc.stdout, proc.stdout
    proc = run("--json", *args, *space, "--no-track", RAVENSHIRE_DATA_HISTORY_START="2022-01-03")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["n_trials"] == 6 and result["best_run_id"] is None and result["walk_forward"]["n_sets"] == 6


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("optimize", "ma_crossover_fast_slow"), ("give the search space with --space",)),
        (("optimize", "ma_crossover_fast_slow", "--space", "fast=10:5"), ("a range is START:STOP:STEP",)),
        (("optimize", "ma_crossover_fast_slow", "--space", "fast=50:10:5"), ("empty range",)),
        (("optimize", "ma_crossover_fast_slow", "--space", "fast=10:50:0"), ("step must be > 0",)),
        (("optimize", "ma_crossover_fast_slow", "--space", "fats=10:50:5"), ("did you mean 'fast'",)),
        (("optimize", "ma_crossover_fast_slow", "--space", "fast=5:9:1", "--trials", "0"), ("--trials",)),
        (("optimize", "ma_crossover_fast_slow", "--space", "fast=5:9:1", "--method", "anneal"), ("invalid choice",)),
    ],
)
def test_bad_optimize_input_is_refused_before_anything_is_written(run, args, needles) -> None:
    _one_line_error(run(*args), 2, *needles)
    assert not run.db.exists()

"""Configuration: defaults, the shipped file, environment overrides and every kind of bad input."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from ravenshire.config import PROJECT_ROOT, default_config_path, load_config
from ravenshire.errors import ConfigError
from tests.conftest import write_ini


def test_shipped_file_loads_with_the_seed_keys() -> None:
    config = load_config(default_config_path({}), env={})
    assert config.strategy.ma_period == 20
    assert config.strategy.threshold == pytest.approx(0.02)
    assert config.risk.max_leverage == pytest.approx(1.5)
    assert config.risk.var_limit == pytest.approx(0.02)
    assert config.risk.max_drawdown == pytest.approx(0.15)
    assert config.execution.broker == "paper"
    assert config.data.source == "synthetic"
    assert config.schedule.data_cycle == dt.time(16, 0)
    assert config.is_demo


def test_relative_sqlite_path_is_taken_from_the_project_folder() -> None:
    config = load_config(default_config_path({}), env={})
    assert config.store_url == f"sqlite:///{PROJECT_ROOT / 'var' / 'ravenshire.db'}"


def test_environment_overrides_file(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "c.ini", "[RISK]\nmax_leverage = 2\n")
    config = load_config(ini, env={"RAVENSHIRE_RISK_MAX_LEVERAGE": "3.5", "RAVENSHIRE_DATA_UNIVERSE": "spy, qqq"})
    assert config.risk.max_leverage == 3.5
    assert config.data.universe == ("SPY", "QQQ")


def test_ravenshire_config_points_at_another_file(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "other.ini", "[STRATEGY]\nma_period = 55\n")
    assert default_config_path({"RAVENSHIRE_CONFIG": str(ini)}) == ini
    assert load_config(env={"RAVENSHIRE_CONFIG": str(ini)}).strategy.ma_period == 55


def test_per_symbol_sources_combine(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "c.ini", "[DATA]\nsource = synthetic\nsymbol_sources = SPY:yfinance, HOUSE:import\n")
    data = load_config(ini, env={}).data
    assert data.source_for("SPY") == "yfinance"
    assert data.source_for("HOUSE") == "import"
    assert data.source_for("AAPL") == "synthetic"


@pytest.mark.parametrize(
    ("body", "env", "expected"),
    [
        ("[RISK]\nmax_leverage = lots\n", {}, r"\[RISK\] max_leverage = 'lots': not a number"),
        (
            "[RISK]\nmax_leverage = 50\n",
            {},
            r"max_leverage = '50': above the maximum; use a value between 0.0 and 10.0",
        ),
        ("[RISK]\nvar_limit = -0.1\n", {}, r"var_limit = '-0.1': below the minimum"),
        ("[STRATEGY]\nma_period = 2.5\n", {}, r"ma_period = '2.5': not a whole number"),
        ("[RISK]\nmax_levrage = 2\n", {}, r"unknown key 'max_levrage'; did you mean 'max_leverage'\?"),
        ("[RISKS]\nmax_leverage = 2\n", {}, r"unknown section \[RISKS\]; did you mean 'RISK'\?"),
        (
            "[DATA]\nsource = bloomberg\n",
            {},
            r"source = 'bloomberg': not allowed; use one of synthetic, yfinance, import",
        ),
        ("[DATA]\nhistory_start = 2024/01/01\n", {}, r"history_start = '2024/01/01': not a date; use YYYY-MM-DD"),
        ("[DATA]\nuniverse = AAPL, AAPL\n", {}, r"AAPL listed twice"),
        ("[DATA]\nexchange = NYSE\n", {}, r"unknown exchange calendar"),
        ("[DATA]\nreject_outliers = maybe\n", {}, r"not a boolean; use true or false"),
        ("[SCHEDULE]\ndata_cycle = 25:00\n", {}, r"data_cycle = '25:00': not a time; use HH:MM"),
        ("[SCHEDULE]\ntimezone = Mars/Olympus\n", {}, r"unknown time zone"),
        (
            "[EXECUTION]\nbroker = interactive_brokers\n",
            {},
            r"Interactive Brokers adapter does not exist yet; use paper",
        ),
        ("[STORE]\nurl = not a url\n", {}, r"not a database URL"),
        (
            "",
            {"RAVENSHIRE_UI_CACHE_TTL": "0"},
            r"environment variable RAVENSHIRE_UI_CACHE_TTL = '0': below the minimum",
        ),
        ("[STRATEGY\nma_period = 3\n", {}, r"not a valid ini file"),
    ],
)
def test_bad_values_are_refused_with_where_what_and_allowed(
    tmp_path: Path, body: str, env: dict[str, str], expected: str
) -> None:
    ini = write_ini(tmp_path / "bad.ini", body)
    with pytest.raises(ConfigError, match=expected) as info:
        load_config(ini, env=env)
    if not env:
        assert str(ini) in str(info.value)  # the message names the file


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"configuration file .*nowhere.ini not found.*RAVENSHIRE_CONFIG"):
        load_config(tmp_path / "nowhere.ini", env={})


@pytest.mark.parametrize("key", ["api_key", "password", "broker_secret", "token"])
def test_secrets_are_never_read_from_the_ini_file(tmp_path: Path, key: str) -> None:
    ini = write_ini(tmp_path / "s.ini", f"[EXECUTION]\n{key} = hunter2\n")
    with pytest.raises(ConfigError, match="secrets are never read from the ini file") as info:
        load_config(ini, env={})
    assert "hunter2" not in str(info.value)


def test_config_is_frozen() -> None:
    config = load_config(default_config_path({}), env={})
    with pytest.raises(AttributeError):
        config.risk.max_leverage = 9  # type: ignore[misc]


def test_to_dict_hides_a_database_password(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "c.ini", "")
    config = load_config(ini, env={"RAVENSHIRE_STORE_URL": "postgresql+psycopg://fund:s3cret@db.local/ravenshire"})
    assert "s3cret" not in str(config.to_dict())


def test_a_database_password_in_the_ini_file_is_refused(tmp_path: Path) -> None:
    ini = write_ini(tmp_path / "c.ini", "[STORE]\nurl = postgresql+psycopg://fund:s3cret@db.local/ravenshire\n")
    with pytest.raises(ConfigError, match="RAVENSHIRE_STORE_URL") as info:
        load_config(ini, env={})
    assert "s3cret" not in str(info.value)

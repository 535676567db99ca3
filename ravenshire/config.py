"""Typed configuration: ``config/trading_config.ini``, overridden by ``RAVENSHIRE_<SECTION>_<KEY>`` variables.

Loaded once into frozen, keyword-only dataclasses (one per ini section) by :func:`load_config`. Every key is
declared below with its type, default and allowed range; the loader refuses anything else with a
:class:`~ravenshire.errors.ConfigError` whose message names the file (or environment variable), the section,
the key, the bad value and what is allowed. ``RAVENSHIRE_CONFIG`` points at another ini file.

Secrets are never read from the ini file: a key that looks like one (password, token, secret, api key…) is
refused. They come from the environment or ``.streamlit/secrets.toml`` and are read where they are used.

A relative SQLite path in ``[STORE] url`` is taken from the project folder (the folder holding ``ravenshire/``
and ``config/``), so the app and the scheduler find the same file whatever their working directory.
"""

from __future__ import annotations

import configparser
import dataclasses
import datetime as dt
import difflib
import os
import re
import zoneinfo
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from ravenshire.errors import ConfigError

__all__ = [
    "PROJECT_ROOT",
    "Config",
    "DataConfig",
    "ExecutionConfig",
    "ResearchConfig",
    "RiskConfig",
    "ScheduleConfig",
    "StoreConfig",
    "StrategyConfig",
    "UIConfig",
    "default_config_path",
    "load_config",
    "parse_symbols",
]

#: The folder holding ``ravenshire/``, ``config/``, ``app.py``.
PROJECT_ROOT = Path(__file__).resolve().parents[1]
ENV_PREFIX = "RAVENSHIRE_"
DATA_SOURCES = ("synthetic", "yfinance", "import")
_SECRET_KEY = re.compile(r"pass(word)?|secret|token|api_?key|private_?key|credential", re.IGNORECASE)
_SYMBOL = re.compile(r"^[A-Z0-9^][A-Z0-9.\-^=]{0,19}$")


def _setting(default: Any, help: str, **rules: Any) -> Any:
    """Declare a key: its default, a one-line help and its rules.

    Rules: ``minimum``/``maximum`` (inclusive), ``choices``, ``parse`` (text → value, raising ValueError),
    ``check`` (value → value, raising ValueError with what is allowed).
    """
    metadata = {"help": help, **rules}
    if isinstance(default, dict):
        return dataclasses.field(default_factory=lambda: dict(default), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


# --------------------------------------------------------------------------------------------- sections
@dataclasses.dataclass(frozen=True, kw_only=True)
class StrategyConfig:
    """``[STRATEGY]``: defaults of the seed's moving-average strategy."""

    ma_period: int = _setting(20, "moving-average window in trading days", minimum=2, maximum=1000)
    threshold: float = _setting(0.02, "price/MA distance that triggers a signal", minimum=0.0, maximum=1.0)


def _parse_sectors(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for symbol, sector in _symbol_pairs(text, "SECTOR"):
        if symbol in out:
            raise ValueError(f"{symbol} is given a sector twice")
        out[symbol] = sector
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class RiskConfig:
    """``[RISK]``: the fund's limits. Fractions, not percent (0.02 = 2 %)."""

    max_leverage: float = _setting(1.5, "gross exposure / equity", minimum=0.0, maximum=10.0)
    var_limit: float = _setting(0.02, "one-day 95 % VaR as a fraction of equity", minimum=0.0, maximum=1.0)
    max_drawdown: float = _setting(0.15, "drawdown from peak that halts trading", minimum=0.0, maximum=1.0)
    max_position_weight: float = _setting(
        0.25, "largest |weight| of one position, fraction of equity", minimum=0.0, maximum=10.0
    )
    max_group_weight: float = _setting(
        0.4, "largest gross weight of one sector or cluster, fraction of equity", minimum=0.0, maximum=10.0
    )
    var_method: str = _setting(
        "historical", "how the VaR limit is measured", choices=("historical", "parametric", "cornish_fisher")
    )
    sectors: Mapping[str, str] = _setting({}, "sector of each symbol (SYMBOL:SECTOR, ...)", parse=_parse_sectors)


def _broker(value: str) -> str:
    if value == "interactive_brokers":
        raise ValueError("the Interactive Brokers adapter does not exist yet; use paper")
    return value


def _account_id(value: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", value):
        raise ValueError("an account id is 1–64 letters, digits, '_', '.' or '-'")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutionConfig:
    """``[EXECUTION]``: where orders go. Paper trading is the default and the only broker for now."""

    broker: str = _setting("paper", "broker adapter", choices=("paper",), check=_broker)
    account_id: str = _setting("PAPER-001", "account identifier (not a secret)", check=_account_id)
    initial_cash: float = _setting(100_000.0, "cash the paper account starts with", minimum=1.0, maximum=1e12)
    commission_bps: float = _setting(1.0, "commission, basis points of traded value", minimum=0.0, maximum=1000.0)
    min_commission: float = _setting(1.0, "smallest commission of one fill, in currency", minimum=0.0, maximum=1e6)
    slippage_bps: float = _setting(
        5.0, "slippage of a market order, basis points against the trader", minimum=0.0, maximum=1000.0
    )
    max_volume_fraction: float = _setting(
        0.0, "largest fraction of a bar's volume one order may fill (0 = no cap)", minimum=0.0, maximum=1.0
    )
    allow_short: bool = _setting(False, "allow selling more than is held")
    live_trading: bool = _setting(False, "send orders to a live broker (needs a live adapter; paper ignores it)")


def parse_symbols(text: str) -> tuple[str, ...]:
    """Comma- or newline-separated symbols → upper-case tuple; ValueError names the invalid or repeated ones."""
    symbols = tuple(s.strip().upper() for s in text.replace("\n", ",").split(",") if s.strip())
    bad = [s for s in symbols if not _SYMBOL.match(s)]
    if bad:
        raise ValueError(f"{', '.join(bad)} not valid symbols (letters, digits, '.', '-', '^', '=')")
    if len(set(symbols)) != len(symbols):
        dup = sorted({s for s in symbols if symbols.count(s) > 1})
        raise ValueError(f"{', '.join(dup)} listed twice")
    return symbols


def _symbol_pairs(text: str, what: str) -> Iterator[tuple[str, str]]:
    """``SYMBOL:VALUE`` items separated by commas or new lines → (upper-case symbol, value); ValueError names a
    malformed item."""
    for item in (p.strip() for p in text.replace("\n", ",").split(",")):
        if not item:
            continue
        symbol, sep, value = (x.strip() for x in item.partition(":"))
        if not sep or not symbol or not value:
            raise ValueError(f"{item!r} is not SYMBOL:{what}")
        yield parse_symbols(symbol)[0], value


def _parse_symbol_sources(text: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for symbol, source in _symbol_pairs(text, "SOURCE"):
        if source not in DATA_SOURCES:
            raise ValueError(f"source {source!r} for {symbol} is not one of {', '.join(DATA_SOURCES)}")
        out[symbol] = source
    return out


def _exchange(value: str) -> str:
    import exchange_calendars  # deferred: a heavy import only this key needs

    names = exchange_calendars.get_calendar_names(include_aliases=False)
    if value not in names:
        raise ValueError("unknown exchange calendar; use an ISO MIC code such as XNYS, XLON, XETR, XTKS")
    return value


_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def _weekdays(value: str) -> str:
    text = value.strip().lower()
    for part in text.split(","):
        first, _, last = part.strip().partition("-")
        if first not in _WEEKDAYS or (last and last not in _WEEKDAYS):
            raise ValueError("not days of the week; use names mon..sun, ranges and lists, e.g. mon-fri or mon,wed,fri")
    return text


def _timezone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError("unknown time zone; use an IANA name such as UTC or America/New_York") from None
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig:
    """``[DATA]``: where market data comes from and how it is checked."""

    source: str = _setting("synthetic", "default market-data source", choices=DATA_SOURCES)
    symbol_sources: Mapping[str, str] = _setting({}, "per-symbol sources", parse=_parse_symbol_sources)
    universe: tuple[str, ...] = _setting(
        ("AAPL", "MSFT", "SPY", "VIX"), "symbols the fund follows", parse=parse_symbols
    )
    history_start: dt.date = _setting(
        dt.date(2018, 1, 2), "first day of history", minimum=dt.date(1990, 1, 2), maximum=dt.date(2100, 1, 1)
    )
    exchange: str = _setting("XNYS", "trading calendar (ISO MIC code)", check=_exchange)
    synthetic_seed: int = _setting(7, "seed of the synthetic (demo) source", minimum=0, maximum=2**32 - 1)
    stale_run: int = _setting(5, "equal closes in a row flagged as stale", minimum=2, maximum=250)
    max_jump: float = _setting(0.4, "close-to-close move flagged as an outlier", minimum=0.01, maximum=10.0)
    reject_outliers: bool = _setting(False, "reject outlier jumps instead of flagging them")

    def source_for(self, symbol: str) -> str:
        """The source configured for ``symbol``."""
        return self.symbol_sources.get(symbol, self.source)


def _database_url(value: str) -> str:
    try:
        make_url(value)
    except ArgumentError:
        raise ValueError(
            "not a database URL; use e.g. sqlite:///var/ravenshire.db or postgresql+psycopg://user@host/db"
        ) from None
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoreConfig:
    """``[STORE]``: the SQLAlchemy URL of the state store (SQLite by default, PostgreSQL works)."""

    url: str = _setting("sqlite:///var/ravenshire.db", "SQLAlchemy database URL", check=_database_url)
    busy_timeout_ms: int = _setting(30000, "SQLite: wait this long for a lock", minimum=0, maximum=600000)


#: Metrics a parameter search can optimise (the metric columns of ``ravenshire.research.sweep``).
OBJECTIVES = ("sharpe_ratio", "sortino_ratio", "calmar_ratio", "cagr", "total_return", "max_drawdown", "volatility")
OPTIMIZERS = ("grid", "tpe", "random")


def _tracking_uri(value: str) -> str:
    if value and _has_password(value):
        raise ValueError("the URI holds a password; set MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD instead")
    return value


def _has_password(uri: str) -> bool:
    """True when ``uri`` carries a password in its user-info part (``scheme://user:password@host``)."""
    netloc = urlsplit(uri).netloc
    return "@" in netloc and ":" in netloc.rsplit("@", 1)[0]


@dataclasses.dataclass(frozen=True, kw_only=True)
class ResearchConfig:
    """``[RESEARCH]``: parameter searches and the optional MLflow mirror of tracked runs."""

    objective: str = _setting("sharpe_ratio", "metric a parameter search optimises", choices=OBJECTIVES)
    optimizer: str = _setting("tpe", "search method", choices=OPTIMIZERS)
    n_trials: int = _setting(50, "trials of an Optuna search", minimum=1, maximum=100000)
    seed: int = _setting(42, "seed of the Optuna sampler", minimum=0, maximum=2**32 - 1)
    test_fraction: float = _setting(
        0.3, "share of the dates held out as the out-of-sample test", minimum=0.05, maximum=0.8
    )
    walk_forward_folds: int = _setting(4, "folds of the walk-forward evaluation (0 = off)", minimum=0, maximum=50)
    mlflow_tracking_uri: str = _setting(
        "", "also log runs to this MLflow tracking URI (empty: MLFLOW_TRACKING_URI, else off)", check=_tracking_uri
    )
    mlflow_experiment: str = _setting("ravenshire", "MLflow experiment name")


REGIME_NAMES = ("bull", "bear", "sideways", "crisis")
AGENT_STRATEGIES = ("ts_momentum", "ma_crossover", "ma_crossover_fast_slow", "xs_momentum", "mean_reversion")
AGENT_OPTIMIZERS = ("risk_parity", "min_variance", "max_sharpe", "mean_variance", "hrp", "inverse_volatility",
                    "equal_weight")  # fmt: skip


def _parse_exposure(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in (p.strip() for p in text.replace("\n", ",").split(",")):
        if not item:
            continue
        name, sep, value = (x.strip() for x in item.partition(":"))
        name = name.lower()
        if not sep or name not in REGIME_NAMES:
            raise ValueError(f"{item!r} is not REGIME:MULTIPLIER with a regime of {', '.join(REGIME_NAMES)}")
        try:
            number = float(value)
        except ValueError:
            raise ValueError(f"{item!r}: the multiplier must be a number from 0 to 2") from None
        if not 0.0 <= number <= 2.0:
            raise ValueError(f"{item!r}: the multiplier must be from 0 to 2")
        if name in out:
            raise ValueError(f"{name} is given twice")
        out[name] = number
    missing = [r for r in REGIME_NAMES if r not in out]
    if missing:
        raise ValueError(f"no multiplier for {', '.join(missing)} (give all of {', '.join(REGIME_NAMES)})")
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class AgentsConfig:
    """``[AGENTS]``: the five agents of the daily decision cycle."""

    vix_threshold: float = _setting(20.0, "Oracle: a volatility index above this reads as stress", minimum=0.0,
                                    maximum=200.0)  # fmt: skip
    min_confidence: float = _setting(
        0.55, "Analyst: signals below this confidence are dropped", minimum=0.0, maximum=1.0
    )
    decision_threshold: float = _setting(
        0.5, "Sovereign: below this overall confidence the book holds", minimum=0.0, maximum=1.0
    )
    strategy: str = _setting("ts_momentum", "Analyst: the research strategy giving the signals",
                             choices=AGENT_STRATEGIES)  # fmt: skip
    optimizer: str = _setting("risk_parity", "Strategist: the portfolio optimizer", choices=AGENT_OPTIMIZERS)
    lookback_days: int = _setting(504, "sessions of history a cycle uses", minimum=126, maximum=5000)
    regime_exposure: Mapping[str, float] = _setting(
        {"bull": 1.0, "sideways": 0.8, "bear": 0.5, "crisis": 0.25},
        "Strategist: gross exposure multiplier per regime (REGIME:MULTIPLIER, ...)",
        parse=_parse_exposure,
    )
    cluster_k_min: int = _setting(2, "Analyst: fewest asset clusters tried", minimum=2, maximum=50)
    cluster_k_max: int = _setting(8, "Analyst: most asset clusters tried", minimum=2, maximum=50)
    regime_refit_days: int = _setting(21, "Oracle: sessions between refits of the regime model", minimum=1,
                                      maximum=2520)  # fmt: skip


@dataclasses.dataclass(frozen=True, kw_only=True)
class ScheduleConfig:
    """``[SCHEDULE]``: when the daily cycles run, as HH:MM in ``timezone`` (UTC by default)."""

    data_cycle: dt.time = _setting(dt.time(16, 0), "data cycle time")
    agent_cycle: dt.time = _setting(dt.time(9, 30), "agent cycle time")
    monitoring_cycle: dt.time = _setting(dt.time(17, 0), "monitoring cycle time")
    timezone: str = _setting("UTC", "IANA time zone of the times above", check=_timezone)
    days: str = _setting("mon-fri", "days of the week the cycles fire", check=_weekdays)
    misfire_grace: int = _setting(
        21600, "seconds a cycle missed by a busy or paused process may still run late", minimum=1, maximum=7 * 86400
    )
    catchup_sessions: int = _setting(
        5,
        "sessions back that cycles missed while the scheduler was down are caught up (0: none)",
        minimum=0,
        maximum=250,
    )
    retries: int = _setting(3, "retries of a failed cycle step, with exponential backoff", minimum=0, maximum=20)
    retry_backoff: float = _setting(
        30.0, "seconds before a step's first retry (doubling each retry, at most 5 min)", minimum=0.0, maximum=300.0
    )
    step_timeout: float = _setting(
        1200.0,
        "seconds one attempt of a cycle step may take (with the 5-minute backoff, under the 30-minute stale limit)",
        minimum=1.0,
        maximum=1200.0,
    )
    job_concurrency: int = _setting(2, "queued jobs (backtests, studies) run at once", minimum=1, maximum=64)
    poll_seconds: float = _setting(0.5, "seconds between looks at the job queue", minimum=0.05, maximum=60.0)
    heartbeat_seconds: float = _setting(
        5.0, "seconds between the scheduler's heartbeats (shown as down after 3 missed)", minimum=0.5, maximum=300.0
    )


@dataclasses.dataclass(frozen=True, kw_only=True)
class UIConfig:
    """``[UI]``: the Streamlit app."""

    title: str = _setting("Ravenshire", "title in the browser tab and sidebar")
    cache_ttl: int = _setting(15, "seconds a cached store read stays fresh", minimum=1, maximum=3600)
    refresh_seconds: int = _setting(30, "seconds between live-panel refreshes", minimum=5, maximum=3600)


_SECTIONS: dict[str, type] = {
    "STRATEGY": StrategyConfig,
    "RISK": RiskConfig,
    "EXECUTION": ExecutionConfig,
    "DATA": DataConfig,
    "STORE": StoreConfig,
    "SCHEDULE": ScheduleConfig,
    "UI": UIConfig,
    "RESEARCH": ResearchConfig,
    "AGENTS": AgentsConfig,
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """The whole configuration. ``source`` is the ini file it came from."""

    strategy: StrategyConfig = dataclasses.field(default_factory=StrategyConfig)
    risk: RiskConfig = dataclasses.field(default_factory=RiskConfig)
    execution: ExecutionConfig = dataclasses.field(default_factory=ExecutionConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    store: StoreConfig = dataclasses.field(default_factory=StoreConfig)
    schedule: ScheduleConfig = dataclasses.field(default_factory=ScheduleConfig)
    ui: UIConfig = dataclasses.field(default_factory=UIConfig)
    research: ResearchConfig = dataclasses.field(default_factory=ResearchConfig)
    agents: AgentsConfig = dataclasses.field(default_factory=AgentsConfig)
    source: Path | None = None

    @property
    def store_url(self) -> str:
        """``store.url`` with a relative SQLite path made absolute against :data:`PROJECT_ROOT`."""
        url = make_url(self.store.url)
        if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
            path = Path(url.database)
            if not path.is_absolute() and not url.database.startswith("file:"):
                url = url.set(database=str(PROJECT_ROOT / path))
        return url.render_as_string(hide_password=False)

    @property
    def is_demo(self) -> bool:
        """True when any symbol of the universe comes from the synthetic (demo) source."""
        return any(self.data.source_for(s) == "synthetic" for s in self.data.universe)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Section → key → value, as plain Python values (the store URL's password hidden)."""
        out = {name: dataclasses.asdict(getattr(self, name.lower())) for name in _SECTIONS}
        out["STORE"]["url"] = make_url(self.store.url).render_as_string(hide_password=True)
        return out


# --------------------------------------------------------------------------------------------- parsing
def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("not a boolean; use true or false")


def _parse_time(text: str) -> dt.time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})(?::(\d{2}))?", text.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59 or int(match[3] or 0) > 59:
        raise ValueError("not a time; use HH:MM (or HH:MM:SS) between 00:00 and 23:59:59")
    return dt.time(int(match[1]), int(match[2]), int(match[3] or 0))


def _parse_date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise ValueError("not a date; use YYYY-MM-DD") from None


def _parse_int(text: str) -> int:
    try:
        return int(text.strip().replace("_", ""))
    except ValueError:
        raise ValueError("not a whole number") from None


def _parse_float(text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError("not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("not a finite number")
    return value


_PARSERS: dict[Any, Callable[[str], Any]] = {
    int: _parse_int,
    float: _parse_float,
    bool: _parse_bool,
    str: str.strip,
    dt.time: _parse_time,
    dt.date: _parse_date,
}


def _allowed(meta: Mapping[str, Any]) -> str:
    if "choices" in meta:
        return "one of " + ", ".join(meta["choices"])
    low, high = meta.get("minimum"), meta.get("maximum")
    if low is not None and high is not None:
        return f"between {low} and {high}"
    return meta["help"]


def _convert(field: dataclasses.Field, raw: str, where: str) -> Any:
    meta = field.metadata
    parse = meta.get("parse") or _PARSERS[_field_type(field)]
    try:
        value = parse(raw)
        if "check" in meta:
            value = meta["check"](value)
        if "choices" in meta and value not in meta["choices"]:
            raise ValueError(f"not allowed; use {_allowed(meta)}")
        if meta.get("minimum") is not None and value < meta["minimum"]:
            raise ValueError(f"below the minimum; use a value {_allowed(meta)}")
        if meta.get("maximum") is not None and value > meta["maximum"]:
            raise ValueError(f"above the maximum; use a value {_allowed(meta)}")
    except ValueError as exc:
        raise ConfigError(f"{where} = {raw!r}: {exc} ({meta['help']})") from None
    return value


def _field_type(field: dataclasses.Field) -> Any:
    names = {"int": int, "float": float, "bool": bool, "str": str, "dt.time": dt.time, "dt.date": dt.date}
    return names[field.type] if isinstance(field.type, str) else field.type


def _suggest(word: str, options: list[str]) -> str:
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known: {', '.join(options)}"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    """``RAVENSHIRE_CONFIG`` if set, else ``config/trading_config.ini`` in the project folder."""
    env = os.environ if env is None else env
    return Path(env.get(ENV_PREFIX + "CONFIG") or PROJECT_ROOT / "config" / "trading_config.ini")


def _read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";", "#"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keep key case for messages
    if not path.is_file():
        raise ConfigError(
            f"configuration file {path} not found; create it from config/trading_config.ini "
            f"or point {ENV_PREFIX}CONFIG at an existing file"
        )
    try:
        with path.open(encoding="utf-8") as handle:
            parser.read_file(handle)
    except (configparser.Error, UnicodeDecodeError) as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"{path}: not a valid ini file: {first}") from None
    return parser


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the configuration: defaults ← ini file ← ``RAVENSHIRE_<SECTION>_<KEY>`` environment variables.

    Parameters
    ----------
    path:
        The ini file; default :func:`default_config_path`.
    env:
        The environment to read overrides from; default ``os.environ``.

    Raises
    ------
    ConfigError
        Missing or unreadable file, unknown section or key, a secret in the file, a value of the wrong type
        or out of range. The message names where the value came from and what is allowed.
    """
    env = os.environ if env is None else env
    path = Path(path) if path is not None else default_config_path(env)
    parser = _read_ini(path)

    for section in parser.sections():
        if section.upper() not in _SECTIONS:
            raise ConfigError(f"{path}: unknown section [{section}]" + _suggest(section.upper(), list(_SECTIONS)))

    sections: dict[str, Any] = {}
    for name, cls in _SECTIONS.items():
        fields = {f.name: f for f in dataclasses.fields(cls)}
        found = next((s for s in parser.sections() if s.upper() == name), None)
        values: dict[str, Any] = {}
        if found is not None:
            for key, raw in parser.items(found):
                if _SECRET_KEY.search(key):
                    raise ConfigError(
                        f"{path} [{found}] {key}: secrets are never read from the ini file; remove it "
                        f"and set it in the environment or .streamlit/secrets.toml"
                    )
                if key.lower() not in fields:
                    raise ConfigError(f"{path} [{found}]: unknown key {key!r}" + _suggest(key.lower(), list(fields)))
                values[key.lower()] = _convert(fields[key.lower()], raw, f"{path} [{found}] {key}")
                if name == "STORE" and key.lower() == "url" and make_url(values["url"]).password:
                    raise ConfigError(
                        f"{path} [{found}] {key}: the URL holds a password, and secrets are never read from the ini "
                        f"file; set the whole URL in the environment variable {ENV_PREFIX}STORE_URL instead"
                    )
        for key, field in fields.items():
            var = f"{ENV_PREFIX}{name}_{key.upper()}"
            if var in env:
                values[key] = _convert(field, env[var], f"environment variable {var}")
        sections[name.lower()] = cls(**values)

    return Config(**sections, source=path)

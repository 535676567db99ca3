"""The state store's tables (SQLAlchemy Core), shared by every layer.

Conventions:

- Trading dates are stored as integers ``YYYYMMDD`` (``date_key``): compact, sortable, readable in any SQL
  client, identical on SQLite and PostgreSQL, and fast to turn into a ``DatetimeIndex`` (see
  :func:`ravenshire.store.dates.to_date_keys`). Instants (when something happened) are timezone-aware UTC.
- Market data is long: one row per (instrument, date). An instrument is a (symbol, source) pair, so demo
  bars of ``AAPL`` from the synthetic source and real ones from yfinance can never mix.
- Nothing here holds credentials.

The schema is created and upgraded only by migrations (``ravenshire/store/migrations``); this module is the
target they are checked against.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

__all__ = [
    "accounts",
    "agent_messages",
    "agent_status",
    "asset_clusters",
    "audit_log",
    "bars",
    "cash_ledger",
    "cycles",
    "data_versions",
    "demo_regimes",
    "drift_events",
    "drift_observations",
    "drift_states",
    "equity_snapshots",
    "feature_drift",
    "fetched_ranges",
    "fetches",
    "fills",
    "instruments",
    "jobs",
    "kill_switch_events",
    "metadata",
    "models",
    "order_events",
    "orders",
    "positions",
    "regime_readings",
    "run_artifacts",
    "runs",
    "scheduler_state",
    "series",
    "step_runs",
    "validation_issues",
    "workflow_runs",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

instruments = Table(
    "instruments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("symbol", String(32), nullable=False),
    Column("source", String(32), nullable=False),
    Column("is_demo", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("symbol", "source"),
)

fetches = Table(
    "fetches",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # fetch | import | validate
    Column("source", String(32), nullable=False),
    Column("origin", String(32), nullable=False),  # cli | ui | api | scheduler
    Column("symbols", Text, nullable=False),  # JSON list
    Column("start_date", Integer),
    Column("end_date", Integer),
    Column("status", String(16), nullable=False),  # ok | partial | failed | empty
    Column("rows_received", Integer, nullable=False, default=0),
    Column("rows_stored", Integer, nullable=False, default=0),
    Column("rows_rejected", Integer, nullable=False, default=0),
    Column("rows_flagged", Integer, nullable=False, default=0),
    Column("message", Text),
    Column("report", Text),  # JSON summary of the validation report
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=False),
)

bars = Table(
    "bars",
    metadata,
    Column("instrument_id", Integer, ForeignKey("instruments.id"), primary_key=True),
    Column("date", Integer, primary_key=True),  # YYYYMMDD
    Column("open", Float),
    Column("high", Float),
    Column("low", Float),
    Column("close", Float, nullable=False),
    Column("adj_close", Float, nullable=False),
    Column("volume", Float),
    Column("fetch_id", Integer, ForeignKey("fetches.id"), nullable=False),
    sqlite_with_rowid=False,  # one B-tree clustered on (instrument_id, date): smaller, ~15 % faster bulk writes
)

# Columnar copy of ``bars``, one row per instrument, written in the same transaction as the bars it mirrors.
# Loading a 500-symbol close matrix from 1.26 M long rows costs a second of Python objects; from 500 rows of
# arrays it costs milliseconds. ``bars`` stays the record (queryable, with lineage); ``series`` is derived.
# Arrays are little-endian: dates int32 YYYYMMDD ascending, fields float64 with NaN for missing.
series = Table(
    "series",
    metadata,
    Column("instrument_id", Integer, ForeignKey("instruments.id"), primary_key=True),
    Column("n_bars", Integer, nullable=False),
    Column("first_date", Integer),
    Column("last_date", Integer),
    Column("dates", LargeBinary, nullable=False),
    Column("open", LargeBinary, nullable=False),
    Column("high", LargeBinary, nullable=False),
    Column("low", LargeBinary, nullable=False),
    Column("close", LargeBinary, nullable=False),
    Column("adj_close", LargeBinary, nullable=False),
    Column("volume", LargeBinary, nullable=False),
    Column("fetch_id", Integer, ForeignKey("fetches.id"), nullable=False),
)

fetched_ranges = Table(
    "fetched_ranges",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("instrument_id", Integer, ForeignKey("instruments.id"), nullable=False),
    Column("start_date", Integer, nullable=False),
    Column("end_date", Integer, nullable=False),
    Column("fetch_id", Integer, ForeignKey("fetches.id"), nullable=False),
    Index("ix_fetched_ranges_instrument", "instrument_id", "start_date"),
)

validation_issues = Table(
    "validation_issues",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("fetch_id", Integer, ForeignKey("fetches.id"), nullable=False, index=True),
    Column("symbol", String(32), nullable=False),
    Column("date", Integer),  # YYYYMMDD; the missing session for a calendar gap
    Column("rule", String(32), nullable=False),
    Column("action", String(16), nullable=False),  # rejected | flagged
    Column("detail", Text, nullable=False),
    # the bar as received, for rejected rows (quarantine)
    Column("open", Float),
    Column("high", Float),
    Column("low", Float),
    Column("close", Float),
    Column("adj_close", Float),
    Column("volume", Float),
)

data_versions = Table(
    "data_versions",
    metadata,
    Column("id", String(64), primary_key=True),  # sha256 of the canonical bytes, hex
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("sources", Text, nullable=False),  # JSON list
    Column("is_demo", Boolean, nullable=False),
    Column("symbols", Text, nullable=False),  # JSON list
    Column("start_date", Integer),
    Column("end_date", Integer),
    Column("n_rows", Integer, nullable=False),
    Column("label", Text),
    Column("payload", LargeBinary, nullable=False),  # zlib(canonical bytes)
    Column("payload_bytes", Integer, nullable=False),  # len(canonical bytes)
)

demo_regimes = Table(
    "demo_regimes",
    metadata,
    Column("seed", Integer, primary_key=True),
    Column("date", Integer, primary_key=True),
    Column("regime", String(16), nullable=False),
    sqlite_with_rowid=False,
)


# --------------------------------------------------------------------------- research: experiment tracking
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),  # backtest | trial
    Column("strategy", String(64), nullable=False, index=True),  # the name shown (the seed's strategy_name)
    Column("builtin", String(64)),  # the built-in strategy that ran (None: a user's function)
    Column("parameters", Text, nullable=False),  # JSON object
    Column("costs", Text, nullable=False),  # JSON object
    Column("data_version", String(64), ForeignKey("data_versions.id")),
    Column("is_demo", Boolean, nullable=False),
    Column("start_date", Integer, nullable=False),
    Column("end_date", Integer, nullable=False),
    Column("initial_capital", Float, nullable=False),
    Column("risk_free", Float, nullable=False),
    Column("metrics", Text, nullable=False),  # JSON object (NaN → null, inf → "inf")
    Column("code_version", String(64)),  # git commit (+ "-dirty"), when known
    Column("study", String(128)),  # the optimization study a trial belongs to
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_s", Float, nullable=False),
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", Integer, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(32), primary_key=True),  # returns | equity | positions | trades
    Column("format", String(16), nullable=False),  # parquet
    Column("payload", LargeBinary, nullable=False),
)


# --------------------------------------------------------------------------- execution: the ledger
# Fills are the record; positions and cash are balances kept in the same transaction as each fill, so a
# reconciliation can recompute them from the fills. Quantities are shares (floats: fractional shares exist);
# prices and money are in the account's currency.
accounts = Table(
    "accounts",
    metadata,
    Column("id", String(64), primary_key=True),  # [EXECUTION] account_id
    Column("broker", String(32), nullable=False),
    Column("currency", String(8), nullable=False),
    Column("initial_cash", Float, nullable=False),
    Column("cash", Float, nullable=False),  # balance: initial_cash + Σ cash_ledger.amount
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

orders = Table(
    "orders",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("client_order_id", String(64), nullable=False),  # the idempotency key
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),  # BUY | SELL
    Column("quantity", Float, nullable=False),
    Column("order_type", String(8), nullable=False),  # market | limit
    Column("limit_price", Float),
    Column("status", String(16), nullable=False),  # new | accepted | partially_filled | filled | rejected | cancelled
    Column("filled_quantity", Float, nullable=False),
    Column("avg_fill_price", Float),
    Column("reason", Text),  # why rejected or cancelled
    Column("origin", String(16), nullable=False),  # api | cli | ui | agent | scheduler
    Column("cycle_id", String(64)),  # the agent cycle that sent it
    Column("broker", String(32), nullable=False),
    Column("broker_order_id", String(64)),
    Column("last_bar_date", Integer),  # YYYYMMDD of the newest bar the order was checked against
    Column("is_demo", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("account", "client_order_id"),
    Index("ix_orders_account_status", "account", "status"),
)

order_events = Table(
    "order_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("status", String(16), nullable=False),  # the status entered
    Column("filled_quantity", Float, nullable=False),
    Column("reason", Text),
    Column("at", DateTime(timezone=True), nullable=False),
)

fills = Table(
    "fills",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("order_id", Integer, ForeignKey("orders.id"), nullable=False, index=True),
    Column("account", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("symbol", String(32), nullable=False),
    Column("side", String(4), nullable=False),
    Column("quantity", Float, nullable=False),  # > 0
    Column("price", Float, nullable=False),  # what was paid or received per share, slippage included
    Column("commission", Float, nullable=False),  # ≥ 0, in currency
    Column("slippage", Float, nullable=False),  # cost of slippage in currency (already in price), for reports
    Column("bar_date", Integer, nullable=False),  # YYYYMMDD of the bar it filled against
    Column("is_demo", Boolean, nullable=False),
    Column("filled_at", DateTime(timezone=True), nullable=False),
    Index("ix_fills_account_symbol", "account", "symbol", "id"),
)

positions = Table(
    "positions",
    metadata,
    Column("account", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("quantity", Float, nullable=False),  # signed: < 0 is short; Σ signed fill quantities
    Column("last_fill_id", Integer, ForeignKey("fills.id")),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

cash_ledger = Table(
    "cash_ledger",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), ForeignKey("accounts.id"), nullable=False),
    Column("kind", String(16), nullable=False),  # fill | deposit | withdrawal
    Column("amount", Float, nullable=False),  # signed: + cash in; a fill's is ∓ quantity·price − commission
    Column("balance", Float, nullable=False),  # the account's cash after this entry
    Column("fill_id", Integer, ForeignKey("fills.id")),
    Column("note", Text),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_cash_ledger_account", "account", "id"),
)

# The trading halt: its state is the newest row. Set and cleared by a person (CLI, UI) or set by the system
# (a drawdown-limit breach); the rows are the audit trail.
kill_switch_events = Table(
    "kill_switch_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("active", Boolean, nullable=False),  # True: trading halted from here on
    Column("actor", String(64), nullable=False),  # who: a user name, "risk" for the automatic halt
    Column("reason", Text, nullable=False),
    Column("automatic", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("drawdown", Float),  # the drawdown from the equity peak when the event was recorded, when known
)

equity_snapshots = Table(
    "equity_snapshots",
    metadata,
    Column("account", String(64), ForeignKey("accounts.id"), primary_key=True),
    Column("date", Integer, primary_key=True),  # YYYYMMDD business date of the marks
    Column("equity", Float, nullable=False),
    Column("cash", Float, nullable=False),
    Column("long_value", Float, nullable=False),
    Column("short_value", Float, nullable=False),  # ≤ 0
    Column("gross_exposure", Float),  # (long − short) / equity; NULL when equity ≤ 0
    Column("net_exposure", Float),  # (long + short) / equity; NULL when equity ≤ 0
    Column("realized_pnl", Float, nullable=False),  # since inception, commissions deducted
    Column("unrealized_pnl", Float, nullable=False),
    Column("daily_pnl", Float, nullable=False),
    Column("peak_equity", Float, nullable=False),
    Column("drawdown", Float, nullable=False),  # 1 − equity / peak_equity
    Column("n_positions", Integer, nullable=False),
    Column("is_demo", Boolean, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)

# --------------------------------------------------------------------------- execution: drift detection
drift_states = Table(
    "drift_states",
    metadata,
    Column("subject", String(64), primary_key=True),  # what is watched (a strategy's name)
    Column("state", Text, nullable=False),  # JSON: DriftDetectorState.to_dict()
    Column("steps", Integer, nullable=False),
    Column("last_date", Integer),  # YYYYMMDD of the last return fed
    Column("reference_run_id", Integer, ForeignKey("runs.id")),  # the backtest it is compared with, when stored
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

drift_observations = Table(
    "drift_observations",
    metadata,
    Column("subject", String(64), primary_key=True),
    Column("step", Integer, primary_key=True),  # 1-based, as the detector counts
    Column("date", Integer),  # YYYYMMDD of the return, when given
    Column("value", Float, nullable=False),  # the live return fed
    Column("statistics", Text, nullable=False),  # JSON: detector → {statistic, threshold, ...} after the update
    Column("drift", Boolean, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
)

drift_events = Table(
    "drift_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subject", String(64), nullable=False),  # the strategy, or the model for input drift
    Column("detector", String(16), nullable=False),  # cusum | page_hinkley | ks | psi
    Column("feature", String(64)),  # the feature, for input drift
    Column("statistic", Float, nullable=False),
    Column("threshold", Float, nullable=False),
    Column("window", Integer, nullable=False),
    Column("step", Integer),
    Column("date", Integer),  # YYYYMMDD
    Column("direction", String(8), nullable=False),  # up | down | shape
    Column("severity", String(8), nullable=False),  # alarm | warning
    Column("p_value", Float),
    Column("message", Text, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_drift_events_subject", "subject", "id"),
)

feature_drift = Table(
    "feature_drift",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("model", String(64), nullable=False),  # e.g. "regime"
    Column("date", Integer, nullable=False),  # YYYYMMDD the current sample ends
    Column("feature", String(64), nullable=False),
    Column("psi", Float, nullable=False),
    Column("verdict", String(16), nullable=False),  # stable | moderate | shift (psi_verdict)
    Column("n_reference", Integer, nullable=False),
    Column("n_current", Integer, nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("model", "date", "feature"),
)


# --------------------------------------------------------------------------- agents: cycles and the message bus
# A cycle is keyed by (kind, business date): a re-run of the same date finds its row and does the work once.
cycles = Table(
    "cycles",
    metadata,
    Column("id", String(64), primary_key=True),  # e.g. "agent-2024-06-28"
    Column("kind", String(16), nullable=False),  # agent | data | monitoring
    Column("business_date", Integer, nullable=False),  # YYYYMMDD
    Column("status", String(16), nullable=False),  # running | decided | completed | failed | expired
    Column("attempts", Integer, nullable=False),
    Column("data_version", String(64), ForeignKey("data_versions.id")),
    Column("config_hash", String(64)),  # sha256 of the configuration the cycle ran with
    Column("is_demo", Boolean, nullable=False),
    Column("summary", Text),  # JSON: the cycle's outcome (the Sovereign's decision, vetoes, orders)
    Column("error", Text),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    UniqueConstraint("kind", "business_date"),
)

# The "neural stream": every agent's input and output in a cycle, in order.
agent_messages = Table(
    "agent_messages",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", String(64), ForeignKey("cycles.id"), nullable=False),
    Column("seq", Integer, nullable=False),  # order within the cycle
    Column("sender", String(32), nullable=False),  # oracle | analyst | strategist | sentinel | sovereign | coordinator
    Column("receiver", String(32), nullable=False),
    Column("type", String(16), nullable=False),  # input | decision | veto | orders | error
    Column("payload", Text, nullable=False),  # JSON
    Column("at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("cycle_id", "seq"),
)

agent_status = Table(
    "agent_status",
    metadata,
    Column("agent", String(32), primary_key=True),
    Column("last_cycle_id", String(64), ForeignKey("cycles.id")),
    Column("last_run_at", DateTime(timezone=True), nullable=False),
    Column("outcome", String(16), nullable=False),  # ok | hold | veto | error | skipped (an agent before it failed)
    Column("recommendation", String(64)),
    Column("confidence", Float),
    Column("duration_s", Float, nullable=False),
    Column("error", Text),
)

# The regime model's daily reading and the asset clusters, per cycle, for the UI and the next cycles.
regime_readings = Table(
    "regime_readings",
    metadata,
    Column("date", Integer, primary_key=True),  # YYYYMMDD
    Column("model", String(32), primary_key=True),  # e.g. "gmm"
    Column("regime", String(16), nullable=False),  # bull | bear | sideways | crisis
    Column("probabilities", Text, nullable=False),  # JSON: regime → probability
    Column("cycle_id", String(64), ForeignKey("cycles.id")),
    Column("is_demo", Boolean, nullable=False),
)

asset_clusters = Table(
    "asset_clusters",
    metadata,
    Column("cycle_id", String(64), ForeignKey("cycles.id"), primary_key=True),
    Column("symbol", String(32), primary_key=True),
    Column("cluster", Integer, nullable=False),
    Column("x", Float, nullable=False),  # 3D embedding (PCA) for the UI's view
    Column("y", Float, nullable=False),
    Column("z", Float, nullable=False),
    Column("features", Text, nullable=False),  # JSON: the asset's figures (return, volatility, beta, …)
)

# Fitted models the cycles reuse (the regime detector's parameters), JSON, refitted on a schedule.
models = Table(
    "models",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),  # regime_detector | ...
    Column("state", Text, nullable=False),  # JSON
    Column("train_start", Integer),
    Column("train_end", Integer),
    Column("data_version", String(64), ForeignKey("data_versions.id")),
    Column("fitted_at", DateTime(timezone=True), nullable=False),
)


# --------------------------------------------------------------------------- orchestration
# Every workflow run (a daily cycle, a job, a user's workflow) and each of its steps, for the Operations page.
workflow_runs = Table(
    "workflow_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow", String(64), nullable=False, index=True),  # e.g. "data_cycle"
    Column("trigger", String(16), nullable=False),  # schedule | catch-up | once | backfill | job | manual
    Column("cycle_id", String(64), index=True),  # the keyed cycle it ran (``cycles.id``), when it ran one
    Column("business_date", Integer),  # YYYYMMDD
    Column("job_id", Integer),  # the queued job it ran, when it ran one
    Column("status", String(16), nullable=False),  # running | succeeded | failed | interrupted | skipped
    Column("host", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("owner", String(160)),  # host:pid:process start time — tells a live owner from a reused pid
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("error", Text),
    Column("summary", Text),  # JSON: what the run did (one line per step)
    Index("ix_workflow_runs_status", "status"),
)

step_runs = Table(
    "step_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("workflow_run_id", Integer, ForeignKey("workflow_runs.id", ondelete="CASCADE"), nullable=False),
    Column("step", String(64), nullable=False),
    # running | retrying | succeeded | failed | timed_out | skipped | interrupted
    Column("status", String(16), nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("duration_s", Float),
    Column("error", Text),  # the last attempt's error (type: message), and every attempt's in ``log``
    Column("log", Text),  # the tail of the step's log records and tracebacks
    UniqueConstraint("workflow_run_id", "step"),
)

# The job queue: the UI and the CLI insert rows; the scheduler process runs them.
jobs = Table(
    "jobs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    # backtest | optimize | data_cycle | monitoring_cycle | agent_cycle | ping
    Column("kind", String(32), nullable=False),
    Column("params", Text, nullable=False),  # JSON object, checked at submission
    # queued | running | succeeded | failed | cancelled | interrupted
    Column("status", String(16), nullable=False),
    Column("submitted_by", String(64), nullable=False),
    Column("submitted_at", DateTime(timezone=True), nullable=False),
    Column("idempotency_key", String(128), unique=True),  # a form's submission id: a resubmission is one job
    Column("started_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Column("worker", String(160)),  # host:pid:process start time of the scheduler that runs it
    Column("progress", Float),  # 0..1 when known
    Column("message", Text),  # the latest progress line
    Column("result", Text),  # JSON: result links (run id, study, cycle id) and headline figures
    Column("error", Text),
    Index("ix_jobs_status_id", "status", "id"),
)

# The scheduler process's heartbeat and its jobs' next run times (the UI cannot import the scheduler).
scheduler_state = Table(
    "scheduler_state",
    metadata,
    Column("name", String(32), primary_key=True),  # "scheduler": one row per scheduler (there is one)
    Column("status", String(16), nullable=False),  # running | stopping | stopped
    Column("host", String(128), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("token", String(32), nullable=False),  # this start's random id: a takeover changes it
    Column("owner", String(160)),  # host:pid:process start time (tells a live scheduler from a reused pid)
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("beat_at", DateTime(timezone=True), nullable=False),
    Column("stopped_at", DateTime(timezone=True)),
    Column("schedule", Text),  # JSON: [{id, name, trigger, next_run}]
    Column("message", Text),
)

# Who did what from the UI or the CLI (orders, kill switch, backtests, jobs): append-only.
audit_log = Table(
    "audit_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False, index=True),
    Column("actor", String(64), nullable=False),
    Column("role", String(16), nullable=False),  # operator | viewer | system
    Column("origin", String(16), nullable=False),  # ui | cli | scheduler
    Column("action", String(64), nullable=False),  # e.g. "order", "kill_switch_on", "job_submit"
    Column("target", String(128)),
    Column("outcome", String(16), nullable=False),  # ok | refused | failed
    Column("detail", Text),  # JSON
)

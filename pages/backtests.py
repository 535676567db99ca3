"""Backtests: run a built-in strategy on stored data, read a stored run, compare runs, queue an optimization study.

A backtest of ordinary size runs here, at once, and is tracked (stored with its data version); a large one (more
than :data:`LARGE_SYMBOL_YEARS` symbol-years) and every optimization study go to the scheduler's job queue.
"""

import dataclasses
import datetime as dt
import json
import math
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import altair as alt
import numpy as np
import pandas as pd
import streamlit as st

from ravenshire.config import OBJECTIVES, OPTIMIZERS
from ravenshire.data import queries as data_queries
from ravenshire.errors import RavenshireError
from ravenshire.orchestration import list_jobs, scheduler_heartbeat, submit_job
from ravenshire.research import STRATEGIES, Costs, ResearchManager, queries
from ravenshire.research.strategies import ParamSpec, StrategySpec, check_parameters
from ravenshire.research.sweep import parse_space
from ravenshire.ui import (
    attempt,
    cached_query,
    clear_reads,
    flash,
    get_config,
    get_engine,
    get_manager,
    live_query,
    require_frame,
    run_action,
    show_flashes,
)
from ravenshire.ui.auth import audit, can_operate, current_user

require_frame("pages/backtests.py")  # first: only inside app.py's frame

runs_q = cached_query(queries.runs)
run_q = cached_query(queries.load_run)
compare_q = cached_query(queries.compare_runs)
coverage_q = cached_query(data_queries.coverage)
versions_q = cached_query(data_queries.versions)
jobs_q = live_query(list_jobs)
trials_q = live_query(queries.study_trials)
heartbeat_q = live_query(scheduler_heartbeat)

#: A backtest larger than this many symbol-years (e.g. 200 symbols × 10 years) goes to the job queue.
LARGE_SYMBOL_YEARS = 500
#: Stored runs offered in the pickers (the newest).
RUNS_LISTED = 500
#: Research jobs shown with their progress (the newest), and how often (seconds) their panel is redrawn.
JOBS_SHOWN = 10
JOBS_REFRESH_S = 3
RESEARCH_JOBS = ("backtest", "optimize")
SEARCH_MODES = ("range", "choices", "default (not searched)")
VIEWER_CAPTION = "viewers cannot run backtests"

# Session keys: each form's submission id (the form's key and the job's idempotency key: a second click on a
# form already handled does not match the next form's button), and the run just stored (shown by default).
BACKTEST_FORM_KEY = "_backtests_form_id"
STUDY_FORM_KEY = "_backtests_study_form_id"
LAST_RUN_KEY = "_backtests_last_run"
#: form submission id → the run it stored: a click that lands while its own run goes on does not run it twice.
DONE_KEY = "_backtests_done"

#: Headline metrics: label, metric, format ("pct", "ratio", "count"), help.
HEADLINE = (
    ("Total return [%]", "total_return", "pct", "compounded return over the run, net of costs"),
    ("CAGR [%]", "cagr", "pct", "compound annual growth rate (252 days a year)"),
    ("Sharpe", "sharpe_ratio", "ratio", "annualized mean excess return / volatility"),
    ("Sortino", "sortino_ratio", "ratio", "annualized mean excess return / downside deviation"),
    ("Max drawdown [%]", "max_drawdown", "pct", "largest fall of the equity from a peak"),
    ("Volatility [%]", "volatility", "pct", "annualized standard deviation of daily returns"),
    ("Calmar", "calmar_ratio", "ratio", "CAGR / max drawdown"),
    ("Win rate (trades) [%]", "win_rate_trades", "pct", "share of trades with a positive P&L"),
    ("Profit factor (trades)", "profit_factor_trades", "ratio", "gross wins / gross losses of the trades"),
    ("Trades", "n_trades", "count", "runs of days a symbol is held with one sign"),
    ("Turnover [/yr]", "turnover", "ratio", "one-way traded fraction of equity per year"),
    ("Exposure [%]", "exposure", "pct", "average gross exposure (sum of |weights|)"),
)
METRIC_LABELS = {metric: label for label, metric, _, _ in HEADLINE} | {
    "var_95": "VaR 95% [%]",
    "cvar_95": "CVaR 95% [%]",
    "win_rate_daily": "Win rate (days) [%]",
    "profit_factor_daily": "Profit factor (days)",
}
PCT_METRICS = {metric for _, metric, kind, _ in HEADLINE if kind == "pct"} | {"var_95", "cvar_95", "win_rate_daily"}


# --------------------------------------------------------------------------- formatting
def number(value: Any) -> float:
    """A stored metric as a float: None → NaN, "inf" → inf."""
    if value is None:
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt(value: Any, kind: str) -> str:
    """A metric for st.metric: percentages with 2 decimals, ratios with 2, counts whole; "—" when undefined."""
    x = number(value)
    if math.isnan(x):
        return "—"
    if math.isinf(x):
        return "∞" if x > 0 else "−∞"
    if kind == "pct":
        return f"{100 * x:.2f}"
    if kind == "count":
        return f"{int(x):,}"
    return f"{x:.2f}"


def run_label(row: Any) -> str:
    """One line naming a stored run: id, strategy, parameters, dates, Sharpe."""
    params = ", ".join(f"{k}={v}" for k, v in dict(row.parameters).items())
    sharpe = number(row.sharpe_ratio)
    shown = "—" if math.isnan(sharpe) else f"{sharpe:.2f}"
    demo = " · demo" if row.is_demo else ""
    return f"#{row.id} {row.strategy}({params}) {row.start_date}…{row.end_date} · Sharpe {shown}{demo}"


def new_form_id() -> str:
    return uuid.uuid4().hex[:16]


def operator_name() -> str:
    user = current_user()
    return user.name[:64] if user is not None else "ui"


def engine() -> Any:
    config = get_config()
    return get_engine(config.store_url, config.store.busy_timeout_ms)


def problem(check: Callable[[], Any]) -> str | None:
    """The message of the ConfigError ``check`` raises (the layer's own check), or None when it passes."""
    try:
        check()
    except RavenshireError as exc:
        return str(exc)
    return None


# --------------------------------------------------------------------------- form pieces
def float_step(p: ParamSpec) -> float:
    """A widget step for a float parameter: about a hundredth of its range, a power of ten."""
    if p.minimum is not None and p.maximum is not None and p.maximum > p.minimum:
        return float(10 ** math.floor(math.log10((p.maximum - p.minimum) / 100)))
    return 0.01


def float_format(step: float) -> str:
    return f"%.{max(2, -math.floor(math.log10(step)) + 1)}f"


def param_help(p: ParamSpec) -> str:
    return f"{p.description}. Allowed: {p.allowed()}." if p.description else f"Allowed: {p.allowed()}."


def param_input(name: str, p: ParamSpec, default: Any, *, key: str, disabled: bool) -> Any:
    """A widget for one strategy parameter, by its kind; the allowed range is in its help (checked on submit by
    the strategy's own check, so a bad value gets a message beside the field rather than a silent clamp)."""
    label = f"{name} ({p.allowed().removeprefix('an ').removeprefix('a ')})"
    if p.kind is bool:
        return st.checkbox(name, value=bool(default), help=param_help(p), key=key, disabled=disabled)
    if p.kind is int:
        return st.number_input(label, value=int(default), step=1, help=param_help(p), key=key, disabled=disabled)
    step = float_step(p)
    return st.number_input(
        label,
        value=float(default),
        step=step,
        format=float_format(step),
        help=param_help(p),
        key=key,
        disabled=disabled,
    )


def strategy_defaults(spec: StrategySpec) -> dict[str, Any]:
    """The defaults a backtest uses: the spec's, with ``[STRATEGY]``'s for the seed's MA crossover."""
    defaults = spec.defaults()
    if spec.name == "ma_crossover":
        config = get_config()
        defaults |= {"ma_period": config.strategy.ma_period, "threshold": config.strategy.threshold}
    return defaults


_PROBE = pd.DataFrame({"X": np.linspace(100.0, 110.0, 8)}, index=pd.bdate_range("2020-01-01", periods=8))


def constraint_problem(spec: StrategySpec, params: Mapping[str, Any]) -> str | None:
    """A constraint between parameters (e.g. fast < slow) the strategy function refuses, checked by calling it on
    a few days of made-up prices (its own check, before any data is loaded)."""
    return problem(lambda: spec.func(_PROBE, **params))


@dataclasses.dataclass(frozen=True)
class DataChoice:
    """What a form asks the data for: stored symbols or a data version, and dates."""

    symbols: list[str] | None
    version: str | None
    start: dt.date
    end: dt.date
    n_symbols: int

    def job_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        return out | ({"version": self.version} if self.version else {"symbols": list(self.symbols or [])})

    @property
    def symbol_years(self) -> float:
        return self.n_symbols * max(0, (self.end - self.start).days) / 365.25

    def load(self) -> pd.DataFrame:
        manager = get_manager()
        if self.version:
            return manager.version_slice(self.version, self.start, self.end)
        return manager.get_market_data(self.symbols, self.start, self.end, fetch=False)


@dataclasses.dataclass(frozen=True)
class Stored:
    """What the store holds to run on: symbols (with their overall first and last bar) and data versions."""

    symbols: list[str]
    first: dt.date | None
    last: dt.date | None
    versions: pd.DataFrame

    @property
    def empty(self) -> bool:
        return not self.symbols and self.versions.empty


def stored_data() -> Stored | None:
    read = run_action("Reading the stored data…", lambda: (coverage_q(), versions_q()))
    if read is None:
        return None
    cov, vers = read
    if cov.empty:
        return Stored([], None, None, vers)
    return Stored(sorted(cov["symbol"].unique()), cov["first"].min().date(), cov["last"].max().date(), vers)


def data_inputs(prefix: str, stored: Stored, *, disabled: bool) -> tuple[DataChoice | None, dict[str, Any]]:
    """The data widgets of a form (the mode and the version are picked above the form): symbols or the version's
    symbols, then dates. Returns the choice (None when nothing is picked) and the placeholders of its messages."""
    config = get_config()
    mode = st.session_state.get(f"{prefix}_data_mode", "Stored symbols")
    notes: dict[str, Any] = {}
    if mode == "Data version" and not stored.versions.empty:
        matching = stored.versions[stored.versions["id"] == st.session_state.get(f"{prefix}_version")]
        row = (matching if not matching.empty else stored.versions).iloc[0]
        first = dt.date.fromisoformat(row["start"]) if row["start"] else config.data.history_start
        last = dt.date.fromisoformat(row["end"]) if row["end"] else dt.date.today()
        symbols, version = [s.strip() for s in str(row["symbols"]).split(",")], str(row["id"])
        st.caption(f"Version `{row['short_id']}`: {row['symbols']} from {first} to {last}.")
    else:
        universe = list(config.data.universe)
        options = sorted(set(stored.symbols) | set(universe))
        default = [s for s in universe if s in stored.symbols] or stored.symbols
        symbols = st.multiselect(
            "Symbols",
            options,
            default=default,
            key=f"{prefix}_symbols",
            disabled=disabled,
            help="Stored symbols of the universe by default; fetch more on the Data page.",
        )
        notes["symbols"] = st.empty()
        version = None
        first = max(config.data.history_start, stored.first) if stored.first else config.data.history_start
        last = stored.last or dt.date.today()
    c1, c2 = st.columns(2)
    with c1:
        start = st.date_input("From", value=first, key=f"{prefix}_start_{version or 'symbols'}", disabled=disabled)
        notes["start"] = st.empty()
    with c2:
        end = st.date_input("To", value=last, key=f"{prefix}_end_{version or 'symbols'}", disabled=disabled)
        notes["end"] = st.empty()
    if not isinstance(start, dt.date) or not isinstance(end, dt.date):
        return None, notes
    return DataChoice(symbols or None, version, start, end, len(symbols)), notes


def data_problems(choice: DataChoice | None) -> dict[str, str]:
    """Messages by field for a data choice (the job queue's rule: start before end)."""
    out: dict[str, str] = {}
    if choice is None:
        out["start"] = "Pick both dates."
    elif not choice.version and not choice.symbols:
        out["symbols"] = "Pick at least one symbol."
    elif choice.start >= choice.end:
        out["end"] = f"'To' ({choice.end}) must be after 'From' ({choice.start})."
    return out


COST_FIELDS = (
    ("commission_bps", "Commission [bps]", "of traded value"),
    ("slippage_bps", "Slippage [bps]", "of traded value, against the trade"),
    ("fixed_per_trade", "Fixed per trade [USD]", "per order (a change of position in one symbol on one day)"),
    ("cash_rate", "Cash rate [/yr]", "annual rate earned on cash, paid on borrowed cash, e.g. 0.03"),
)


def cost_inputs(prefix: str, *, disabled: bool) -> tuple[dict[str, float], dict[str, Any]]:
    config = get_config()
    defaults = {"commission_bps": config.execution.commission_bps, "slippage_bps": config.execution.slippage_bps}
    values: dict[str, float] = {}
    notes: dict[str, Any] = {}
    for column, (name, label, what) in zip(st.columns(len(COST_FIELDS)), COST_FIELDS, strict=True):
        with column:
            values[name] = st.number_input(
                label,
                value=float(defaults.get(name, 0.0)),
                step=0.5 if "bps" in name else 0.01,
                help=f"{what}; at least 0.",
                key=f"{prefix}_{name}",
                disabled=disabled,
            )
            notes[name] = st.empty()
    return values, notes


def cost_problems(values: Mapping[str, float]) -> dict[str, str]:
    """Each cost checked by :class:`Costs` itself."""
    out: dict[str, str] = {}
    for name, value in values.items():
        message = problem(lambda name=name, value=value: Costs(**{name: value}))
        if message:
            out[name] = message
    return out


def capital_problem(capital: float | None) -> str | None:
    if capital is None or not math.isfinite(capital) or capital <= 0:
        return f"Capital must be a positive amount, got {capital}."
    return None


def show_problems(problems: Mapping[str, str], notes: Mapping[str, Any]) -> None:
    """Each message beside its field (in the form-level placeholder when the field has none)."""
    for field, message in problems.items():
        (notes.get(field) or notes["form"]).error(message, icon=":material/error:")


def data_pickers(prefix: str, stored: Stored, *, disabled: bool) -> None:
    """The data mode (and version) of a form, above it: they change which fields the form shows."""
    modes = ["Stored symbols"] + (["Data version"] if not stored.versions.empty else [])
    mode = st.radio(
        "Data",
        modes,
        horizontal=True,
        key=f"{prefix}_data_mode",
        disabled=disabled,
        help="Stored bars of chosen symbols, or an immutable data version (see the Data page).",
    )
    if mode == "Data version":
        labels = {
            r.id: f"{r.short_id} — {r.symbols} {r.start}…{r.end}" + (f" ({r.label})" if r.label else "")
            for r in stored.versions.itertuples()
        }
        st.selectbox("Data version", list(labels), format_func=labels.get, key=f"{prefix}_version", disabled=disabled)


# --------------------------------------------------------------------------- the queue
def heartbeat_warning() -> None:
    """Warn when no scheduler runs: queued jobs wait until one starts."""
    config = get_config()
    beat, error = attempt("Reading the scheduler's heartbeat…", lambda: heartbeat_q(config.schedule.heartbeat_seconds))
    if error is not None:
        st.warning(f"The scheduler's state could not be read ({error}).")
    elif beat is None or not beat.alive:
        since = "" if beat is None else f" (last heartbeat {beat.age_s:,.0f} s ago, status {beat.status})"
        st.warning(
            f"No scheduler is running{since}: jobs wait in the queue. Start python scheduler.py to run queued jobs.",
            icon=":material/schedule:",
        )


def queue(kind: str, params: Mapping[str, Any], key: str) -> Any:
    """Submit a job (checked by the queue's own check) with the form submission's idempotency key."""
    return submit_job(
        engine(), kind, params, submitted_by=operator_name(), idempotency_key=f"ui-{kind}-{key}", config=get_config()
    )


def study_of(job: Any) -> str:
    """The study a study job writes its trials to: its result's, else the one it was given, else the runner's
    ``job-<id>-<strategy>``."""
    result = json.loads(job.result) if isinstance(job.result, str) and job.result else {}
    params = json.loads(job.params) if isinstance(job.params, str) and job.params else {}
    return str(result.get("study") or params.get("study") or f"job-{job.id}-{params.get('strategy')}")


def job_line(job: Any) -> str:
    params = json.loads(job.params) if isinstance(job.params, str) and job.params else {}
    what = params.get("strategy", "")
    at = pd.Timestamp(job.submitted_at)
    return f"**#{job.id} {job.kind}** {what} — {job.status} · by {job.submitted_by}, {at:%Y-%m-%d %H:%M} UTC"


def jobs_panel() -> None:
    """The newest research jobs with their progress, and a study's trials (redrawn every few seconds)."""
    jobs = run_action("Reading the job queue…", lambda: jobs_q(None, None, 200))
    if jobs is None:
        return
    jobs = jobs[jobs["kind"].isin(RESEARCH_JOBS)].head(JOBS_SHOWN)
    if jobs.empty:
        st.info("No backtest or study job yet: queue a study with the form above (large backtests go here too).")
        return
    for job in jobs.itertuples():
        st.markdown(job_line(job))
        progress = 0.0 if job.progress is None or pd.isna(job.progress) else float(job.progress)
        text = job.message if isinstance(job.message, str) and job.message else str(job.status)
        st.progress(min(1.0, max(0.0, progress)), text=text)
        if job.status == "failed" and isinstance(job.error, str):
            st.error(f"Job #{job.id} failed: {job.error}")
        elif job.status == "succeeded" and isinstance(job.result, str):
            result = json.loads(job.result)
            run_id = result.get("best_run_id") or result.get("run_id")
            if run_id:
                st.caption(f"Stored as run #{run_id}: pick it under **Backtest** → Results.")
    studies = {int(j.id): study_of(j) for j in jobs.itertuples() if j.kind == "optimize"}
    if studies:
        job_id = st.selectbox("Trials of study", list(studies), format_func=lambda i: f"#{i} {studies[i]}")
        study = studies[int(job_id)]
        trials = run_action("Reading the trials…", lambda: trials_q(study))
        if trials is not None and trials.empty:
            st.caption(f"No trial of {study!r} stored yet.")
        elif trials is not None:
            table = pd.concat(
                [
                    trials[["id"]],
                    pd.DataFrame(list(trials["parameters"]), index=trials.index),
                    trials[["sharpe_ratio", "total_return", "max_drawdown", "duration_s"]],
                ],
                axis=1,
            )
            st.caption(f"{len(trials)} trial(s) of {study!r} stored, newest first.")
            st.dataframe(
                table,
                hide_index=True,
                width="stretch",
                column_config={
                    "id": st.column_config.NumberColumn("run", format="%d"),
                    "sharpe_ratio": st.column_config.NumberColumn("Sharpe", format="%.3f"),
                    "total_return": st.column_config.NumberColumn("total return", format="percent"),
                    "max_drawdown": st.column_config.NumberColumn("max drawdown", format="percent"),
                    "duration_s": st.column_config.NumberColumn("seconds", format="%.2f"),
                },
            )


# --------------------------------------------------------------------------- the backtest form
def backtest_form(stored: Stored, operator: bool) -> None:
    spec_name = st.selectbox(
        "Strategy",
        list(STRATEGIES),
        key="bt_strategy",
        disabled=not operator,
        format_func=lambda n: f"{n} — {STRATEGIES[n].description}",
    )
    spec = STRATEGIES[spec_name]
    data_pickers("bt", stored, disabled=not operator)
    form_id = st.session_state.setdefault(BACKTEST_FORM_KEY, new_form_id())
    with st.form(f"backtest_{form_id}"):
        st.markdown(f"**Backtest {spec.name}**")
        notes: dict[str, Any] = {"form": st.empty()}
        params: dict[str, Any] = {}
        if spec.params:
            defaults = strategy_defaults(spec)
            for column, (name, p) in zip(st.columns(len(spec.params)), spec.params.items(), strict=True):
                with column:
                    params[name] = param_input(
                        name, p, defaults[name], key=f"bt_{spec.name}_{name}", disabled=not operator
                    )
                    notes[f"param:{name}"] = st.empty()
        else:
            st.caption("This strategy has no parameter.")
        notes["params"] = st.empty()
        choice, data_notes = data_inputs("bt", stored, disabled=not operator)
        notes |= data_notes
        costs, cost_notes = cost_inputs("bt", disabled=not operator)
        notes |= cost_notes
        capital = st.number_input(
            "Capital [USD]",
            value=float(get_config().execution.initial_cash),
            step=10_000.0,
            key="bt_capital",
            disabled=not operator,
        )
        notes["capital"] = st.empty()
        submitted = st.form_submit_button("Run backtest", type="primary", disabled=not operator)
    if submitted and operator:
        problems = {
            f"param:{n}": m
            for n, v in params.items()
            if (m := problem(lambda n=n, v=v: check_parameters(spec, {n: v})))
        }
        if not problems and (message := constraint_problem(spec, params)):
            problems["params"] = message
        problems |= data_problems(choice) | cost_problems(costs)
        if message := capital_problem(capital):
            problems["capital"] = message
        if problems:
            show_problems(problems, notes)
            return
        assert choice is not None
        done = st.session_state.setdefault(DONE_KEY, {})
        if form_id in done:  # this submission already stored its run
            st.session_state[LAST_RUN_KEY] = done[form_id]
            st.session_state[BACKTEST_FORM_KEY] = new_form_id()
            st.rerun()
        if choice.symbol_years > LARGE_SYMBOL_YEARS:
            queue_backtest(spec, params, choice, costs, capital, form_id, notes)
        else:
            run_backtest(spec, params, choice, costs, capital, notes, form_id)


def run_backtest(
    spec: StrategySpec,
    params: dict[str, Any],
    choice: DataChoice,
    costs: Mapping[str, float],
    capital: float,
    notes: Mapping[str, Any],
    form_id: str,
) -> None:
    """Run it here and store it (tracking on), then show it."""
    config = get_config()

    def run() -> Any:
        data = choice.load()
        manager = ResearchManager(config, engine=engine(), track=True)
        result = manager.backtest_strategy(spec.name, data, params, costs=Costs(**costs), initial_capital=capital)
        # Recorded before anything is sent to the browser: a second click's rerun (it interrupts the script at its
        # next message, the spinner's end) finds this submission done instead of running it again.
        st.session_state.setdefault(DONE_KEY, {})[form_id] = result.run_id
        return result

    result, error = attempt(f"Running {spec.name}…", run)
    if result is None:
        audit("backtest", target=spec.name, outcome="failed", detail={"parameters": params, "error": error})
        notes["form"].error(f"The backtest did not run: {error}", icon=":material/error:")
        return
    audit(
        "backtest",
        target=spec.name,
        detail={
            "run_id": result.run_id,
            "parameters": params,
            "data_version": result.data_version,
            "start": str(result.start),
            "end": str(result.end),
        },
    )
    st.session_state[LAST_RUN_KEY] = result.run_id
    st.session_state[BACKTEST_FORM_KEY] = new_form_id()
    flash(
        "success",
        f"Run #{result.run_id} stored: {spec.name} from {result.start} to {result.end}, total return "
        f"{fmt(result.total_return, 'pct')} %, Sharpe {fmt(result.sharpe_ratio, 'ratio')}.",
    )
    clear_reads()
    st.rerun()


def queue_backtest(
    spec: StrategySpec,
    params: dict[str, Any],
    choice: DataChoice,
    costs: Mapping[str, float],
    capital: float,
    form_id: str,
    notes: Mapping[str, Any],
) -> None:
    """A large backtest goes to the job queue (the scheduler runs it), once per form submission."""
    job_params = {
        "strategy": spec.name,
        "parameters": params,
        **choice.job_params(),
        "costs": dict(costs),
        "capital": capital,
    }
    job, error = attempt("Queueing the backtest…", lambda: queue("backtest", job_params, form_id))
    if job is None:
        audit("job_submit", target="backtest", outcome="failed", detail={"error": error})
        notes["form"].error(f"The backtest was not queued: {error}", icon=":material/error:")
        return
    audit("job_submit", target="backtest", detail={"job_id": job.id, "strategy": spec.name})
    st.session_state[BACKTEST_FORM_KEY] = new_form_id()
    flash(
        "info",
        f"Large backtest ({choice.n_symbols} symbols × {choice.symbol_years / max(1, choice.n_symbols):.1f}"
        f" years): queued as job #{job.id} for the scheduler. Follow it under **Optimize & jobs**.",
    )
    clear_reads()
    st.rerun()


# --------------------------------------------------------------------------- results
def equity_charts(equity: pd.Series) -> None:
    """The equity curve and its drawdown (compounded, from the running peak)."""
    frame = pd.DataFrame({"date": pd.to_datetime(equity.index), "equity": equity.to_numpy(dtype="float64")})
    frame["drawdown"] = frame["equity"] / frame["equity"].cummax() - 1.0
    x = alt.X("date:T", title=None)
    curve = (
        alt.Chart(frame)
        .mark_line(strokeWidth=1.5)
        .encode(
            x=x,
            y=alt.Y("equity:Q", title="Equity [USD]", scale=alt.Scale(zero=False), axis=alt.Axis(format=",.0f")),
            tooltip=[alt.Tooltip("date:T"), alt.Tooltip("equity:Q", format=",.2f")],
        )
        .properties(height=260, title="Equity")
    )
    drawdown = (
        alt.Chart(frame)
        .mark_area(color="#d62728", opacity=0.5, line={"color": "#d62728"})
        .encode(
            x=x,
            y=alt.Y("drawdown:Q", title="Drawdown [%]", axis=alt.Axis(format="%")),
            tooltip=[alt.Tooltip("date:T"), alt.Tooltip("drawdown:Q", format=".2%")],
        )
        .properties(height=160, title="Drawdown")
    )
    st.altair_chart(curve, width="stretch")
    st.altair_chart(drawdown, width="stretch")


def headline(metrics: Mapping[str, Any]) -> None:
    for row in (HEADLINE[:6], HEADLINE[6:]):
        for column, (label, metric, kind, help_) in zip(st.columns(len(row)), row, strict=True):
            column.metric(label, fmt(metrics.get(metric), kind), help=help_)


def show_run(run_id: int) -> None:
    run = run_action(f"Loading run #{run_id}…", lambda: run_q(run_id))
    if run is None:
        return
    info = run.info
    badge = "  :orange-badge[:material/science: DEMO DATA]" if info["is_demo"] else ""
    st.markdown(f"#### Run #{run_id} — {info['strategy']}{badge}")
    st.caption(
        f"{info['start_date']} to {info['end_date']} · capital {info['initial_capital']:,.0f} · "
        f"data version `{(info['data_version'] or 'none')[:12]}`"
    )
    headline(info["metrics"])
    if run.equity.empty:
        st.info("This run has no stored equity curve (an optimization trial keeps its metrics only).")
    else:
        equity_charts(run.equity)
    trades_tab, params_tab = st.tabs(["Trades", "Parameters & data"])
    with trades_tab:
        if run.trades.empty:
            st.info("No trade: the strategy never held a position over these dates.")
        else:
            st.caption(f"{len(run.trades):,} trade(s); pnl in fractions of equity, return compounded over the hold.")
            st.dataframe(
                run.trades,
                hide_index=True,
                width="stretch",
                column_config={
                    "entry_date": st.column_config.DateColumn("entry"),
                    "exit_date": st.column_config.DateColumn("exit"),
                    "pnl": st.column_config.NumberColumn("pnl", format="%.5f"),
                    "return": st.column_config.NumberColumn("return", format="percent"),
                },
            )
    with params_tab:
        left, right = st.columns(2)
        left.markdown("**Parameters**")
        left.json(info["parameters"])
        left.markdown("**Costs**")
        left.json(info["costs"])
        right.markdown("**Data and code**")
        right.dataframe(
            pd.DataFrame(
                {
                    "field": [
                        "data version",
                        "demo data",
                        "dates",
                        "capital",
                        "risk-free rate",
                        "code version",
                        "run at (UTC)",
                        "duration [s]",
                        "study",
                    ],
                    "value": [
                        info["data_version"] or "—",
                        "yes" if info["is_demo"] else "no",
                        f"{info['start_date']} … {info['end_date']}",
                        f"{info['initial_capital']:,.2f}",
                        f"{info['risk_free']:g}",
                        info["code_version"] or "—",
                        str(info["started_at"])[:19],
                        f"{info['duration_s']:.3f}",
                        info["study"] or "—",
                    ],
                }
            ),
            hide_index=True,
            width="stretch",
        )
        if info["data_version"]:
            right.caption(f"Reproduce it: `ResearchManager().reproduce({run_id})`.")


def results_section(runs: pd.DataFrame, labels: Mapping[int, str]) -> None:
    st.subheader("Results")
    if runs.empty:
        st.info(
            "No backtest stored yet: run one with the form above (or `ResearchManager().backtest_strategy(...)`"
            " in Python; every tracked run shows here)."
        )
        return
    ids = list(labels)
    last = st.session_state.get(LAST_RUN_KEY)
    chosen = st.selectbox(
        "Run (newest first)",
        ids,
        index=ids.index(last) if last in ids else 0,
        format_func=lambda i: labels.get(i, f"#{i}"),
    )
    if chosen is not None:
        show_run(int(chosen))


# --------------------------------------------------------------------------- compare
def compare_section(runs: pd.DataFrame, labels: Mapping[int, str]) -> None:
    if len(runs) < 2:
        st.info("Comparing needs two stored backtests or more: run them under **Backtest**.")
        return
    ids = list(labels)
    picked = st.multiselect("Runs to compare", ids, default=ids[:2], format_func=lambda i: labels.get(i, f"#{i}"))
    if len(picked) < 2:
        st.info("Pick two runs or more.")
        return
    short = {int(r.id): f"#{r.id} {r.strategy}" for r in runs.itertuples() if int(r.id) in picked}
    read = run_action(
        "Loading the runs…", lambda: (compare_q(tuple(int(i) for i in picked)), [run_q(int(i)) for i in picked])
    )
    if read is None:
        return
    table, loaded = read
    shown = table.map(number)
    for metric in shown.index.intersection(list(PCT_METRICS)):
        shown.loc[metric] = 100 * shown.loc[metric]
    shown.index = [METRIC_LABELS.get(m, m) for m in shown.index]
    shown.columns = [short.get(int(c), f"#{c}") for c in shown.columns]
    st.dataframe(
        shown.reset_index(names="metric"),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(c, format="%.3f") for c in shown.columns},
    )
    curves = []
    for run_id, run in zip(picked, loaded, strict=True):
        if run.equity.empty:
            continue
        eq = run.equity.astype("float64")
        curves.append(
            pd.DataFrame(
                {
                    "date": pd.to_datetime(eq.index),
                    "growth": (eq / eq.iloc[0]).to_numpy(),
                    "run": short.get(int(run_id), f"#{run_id}"),
                }
            )
        )
    if curves:
        chart = (
            alt.Chart(pd.concat(curves, ignore_index=True))
            .mark_line(strokeWidth=1.4)
            .encode(
                x=alt.X("date:T", title=None),
                y=alt.Y("growth:Q", title="Growth of 1 (normalized equity)", scale=alt.Scale(zero=False)),
                color=alt.Color("run:N", legend=alt.Legend(orient="top")),
                tooltip=["run", alt.Tooltip("date:T"), alt.Tooltip("growth:Q", format=".3f")],
            )
            .properties(height=320)
        )
        st.altair_chart(chart, width="stretch")


# --------------------------------------------------------------------------- the optimization form
def default_range(p: ParamSpec, default: Any) -> tuple[Any, Any, Any]:
    """A search range around the default, inside the allowed range: (start, stop, step), about five values."""

    def clamp(x: float) -> float:
        x = max(x, p.minimum) if p.minimum is not None else x
        return min(x, p.maximum) if p.maximum is not None else x

    if p.kind is int:
        first, last = int(clamp(round(default * 0.5))), int(clamp(round(default * 1.5)))
        if last <= first:
            last = int(clamp(first + 4))
            first = int(clamp(last - 4))
        return first, last, max(1, (last - first) // 4)
    if default:
        lo, hi = sorted((clamp(default * 0.5), clamp(default * 1.5)))
    else:
        lo, hi = clamp(-1.0), clamp(1.0)
    return round(lo, 6), round(hi, 6), round((hi - lo) / 4, 6) or 0.01


def bound_input(column: Any, label: str, value: Any, p: ParamSpec, *, key: str, disabled: bool) -> Any:
    """A start, stop or step of a search range, of the parameter's kind."""
    if p.kind is int:
        return column.number_input(label, value=int(value), step=1, key=key, disabled=disabled)
    step = float_step(p)
    return column.number_input(
        label, value=float(value), step=step, format=float_format(step), key=key, disabled=disabled
    )


def space_inputs(spec: StrategySpec, *, disabled: bool) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """Per parameter: how it is searched (a range, choices, or its default) and the values. Returns the space,
    the messages of values that do not parse, and each row's placeholder."""
    space: dict[str, Any] = {}
    problems: dict[str, str] = {}
    notes: dict[str, Any] = {}
    defaults = strategy_defaults(spec)
    for name, p in spec.params.items():
        key = f"opt_{spec.name}_{name}"
        st.markdown(f"`{name}` — {p.description or 'parameter'}; allowed: {p.allowed()}")
        if p.kind is bool:
            c1, c2 = st.columns([1, 3])
            mode = c1.selectbox("Search", SEARCH_MODES[1:], key=f"{key}_mode", disabled=disabled)
            picked = c2.multiselect(
                "Choices", [True, False], default=[True, False], key=f"{key}_bools", disabled=disabled
            )
            if mode == "choices":
                space[name] = {"choices": list(picked)}
            notes[f"space:{name}"] = st.empty()
            continue
        start, stop, step = default_range(p, defaults[name])
        cast = int if p.kind is int else float
        c1, c2, c3, c4, c5 = st.columns([1.2, 1, 1, 1, 2])
        mode = c1.selectbox("Search", SEARCH_MODES, key=f"{key}_mode", disabled=disabled)
        a = bound_input(c2, "start", start, p, key=f"{key}_start", disabled=disabled)
        b = bound_input(c3, "stop", stop, p, key=f"{key}_stop", disabled=disabled)
        s = bound_input(c4, "step", step, p, key=f"{key}_step", disabled=disabled)
        text = c5.text_input(
            "choices (comma-separated)", value=str(defaults[name]), key=f"{key}_choices", disabled=disabled
        )
        notes[f"space:{name}"] = st.empty()
        if mode == "range":
            space[name] = {"range": [a, b, s]}
        elif mode == "choices":
            values = [x.strip() for x in text.replace(";", ",").split(",") if x.strip()]
            try:
                space[name] = {
                    "choices": [cast(float(x)) if p.kind is int and float(x).is_integer() else cast(x) for x in values]
                }
            except ValueError:
                problems[f"space:{name}"] = f"{name}: write numbers separated by commas, got {text!r}"
    return space, problems, notes


def space_problems(spec: StrategySpec, space: Mapping[str, Mapping[str, Any]]) -> dict[str, str]:
    """Each parameter's range or choices checked by the search's own parser (types, ranges, steps)."""
    out: dict[str, str] = {}
    for name, value in space.items():
        arg = tuple(value["range"]) if "range" in value else list(value["choices"])
        message = problem(lambda name=name, arg=arg: parse_space(spec, {name: arg}))
        if message:
            out[f"space:{name}"] = message
    return out


def optimize_form(stored: Stored, operator: bool) -> None:
    config = get_config()
    spec_name = st.selectbox(
        "Strategy",
        [n for n, s in STRATEGIES.items() if s.params],
        key="opt_strategy",
        disabled=not operator,
        format_func=lambda n: f"{n} — {STRATEGIES[n].description}",
    )
    spec = STRATEGIES[spec_name]
    data_pickers("opt", stored, disabled=not operator)
    form_id = st.session_state.setdefault(STUDY_FORM_KEY, new_form_id())
    with st.form(f"optimize_{form_id}"):
        st.markdown(f"**Study of {spec.name}**: the search space")
        notes: dict[str, Any] = {"form": st.empty()}
        space, problems, space_notes = space_inputs(spec, disabled=not operator)
        notes |= space_notes
        c1, c2, c3, c4 = st.columns(4)
        trials = c1.number_input(
            "Trials",
            value=config.research.n_trials,
            min_value=1,
            max_value=100_000,
            step=1,
            key="opt_trials",
            disabled=not operator,
            help="ignored by grid (every set)",
        )
        method = c2.selectbox(
            "Method",
            OPTIMIZERS,
            index=OPTIMIZERS.index(config.research.optimizer),
            key="opt_method",
            disabled=not operator,
        )
        objective = c3.selectbox(
            "Objective",
            OBJECTIVES,
            index=OBJECTIVES.index(config.research.objective),
            key="opt_objective",
            disabled=not operator,
            help="max_drawdown and volatility are minimised, the others maximised",
        )
        study = c4.text_input(
            "Study name (optional)",
            max_chars=128,
            key="opt_study",
            disabled=not operator,
            help="default job-<id>-<strategy>; an existing study is resumed",
        )
        choice, data_notes = data_inputs("opt", stored, disabled=not operator)
        notes |= data_notes
        costs, cost_notes = cost_inputs("opt", disabled=not operator)
        notes |= cost_notes
        st.caption(f"Submission id `{form_id}` — submitting it twice queues one job.")
        submitted = st.form_submit_button("Queue the study", type="primary", disabled=not operator)
    if not (submitted and operator):
        return
    if not space and not problems:
        problems["form"] = "Search at least one parameter (a range or choices)."
    problems |= space_problems(spec, {k: v for k, v in space.items() if f"space:{k}" not in problems})
    problems |= data_problems(choice) | cost_problems(costs)
    if problems:
        show_problems(problems, notes)
        return
    assert choice is not None
    params = {
        "strategy": spec.name,
        "space": space,
        **choice.job_params(),
        "costs": dict(costs),
        "trials": int(trials),
        "method": method,
        "objective": objective,
    } | ({"study": study.strip()} if study.strip() else {})
    job, error = attempt("Queueing the study…", lambda: queue("optimize", params, form_id))
    if job is None:
        audit("job_submit", target="optimize", outcome="failed", detail={"error": error})
        notes["form"].error(f"The study was not queued: {error}", icon=":material/error:")
        return
    audit("job_submit", target="optimize", detail={"job_id": job.id, "strategy": spec.name})
    st.session_state[STUDY_FORM_KEY] = new_form_id()
    name = study.strip() or f"job-{job.id}-{spec.name}"
    flash("success", f"Study {name!r} queued as job #{job.id} ({job.status}).")
    clear_reads()
    st.rerun()


# --------------------------------------------------------------------------- the page
st.title("Backtests")
show_flashes()
st.caption(
    "Run a built-in strategy on stored data (each run is stored with its data version, so it can be reproduced), "
    "read and compare stored runs, and queue parameter searches for the scheduler."
)
operator = can_operate()
stored = stored_data()
all_runs = run_action("Reading the stored runs…", lambda: runs_q("backtest", None, RUNS_LISTED))
if stored is None or all_runs is None:
    st.stop()
run_labels = {int(r.id): run_label(r) for r in all_runs.itertuples()}

tab_run, tab_compare, tab_opt = st.tabs(["Backtest", "Compare", "Optimize & jobs"])

with tab_run:
    if not operator:
        st.caption(VIEWER_CAPTION)
    if stored.empty:
        st.info(
            "The store holds no market data yet, so there is nothing to backtest on: fetch it on the **Data** page "
            "(or `python -m ravenshire fetch`), then come back here."
        )
    else:
        backtest_form(stored, operator)
    results_section(all_runs, run_labels)

with tab_compare:
    compare_section(all_runs, run_labels)

with tab_opt:
    if not operator:
        st.caption(VIEWER_CAPTION)
    heartbeat_warning()
    if stored.empty:
        st.info("The store holds no market data yet: fetch it on the **Data** page before queueing a study.")
    else:
        optimize_form(stored, operator)
    st.subheader("Jobs")
    st.fragment(jobs_panel, run_every=JOBS_REFRESH_S)()

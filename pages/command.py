"""Command center: the five agents' last runs, the current market regime, the book's equity curve and today's P&L,
the latest Sovereign decision with the Sentinel's vetoes, the kill switch, and the scheduler's heartbeat.

Read only: the agents' work through :mod:`ravenshire.agents.queries`, the book through the ExecutionManager's
queries (as on the Execution page). The live panels redraw themselves every ``[UI] refresh_seconds``.
"""

import math
from collections.abc import Mapping
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from ravenshire.agents import queries as agent_queries
from ravenshire.agents.base import AGENTS
from ravenshire.orchestration import Heartbeat, scheduler_heartbeat
from ravenshire.ui import (
    attempt,
    cached_query,
    execution_query,
    get_config,
    get_engine,
    live_panel,
    read_kill_switch,
    require_frame,
    run_action,
    show_flashes,
)
from ravenshire.ui.charts import equity_chart

require_frame("pages/command.py")  # first: only inside app.py's frame

statuses_q = cached_query(agent_queries.agent_statuses)
cycles_q = cached_query(agent_queries.recent_cycles)
decision_q = cached_query(agent_queries.latest_decision)
regime_q = cached_query(agent_queries.current_regime)
regime_history_q = cached_query(agent_queries.regime_history)
account_q = execution_query("account")
metrics_q = execution_query("get_performance_metrics")
curve_q = execution_query("equity_curve")

NO_CYCLE_HINT = (
    "No agent cycle has run yet: run one with `python -m ravenshire cycle` (today's session, or `--date "
    "YYYY-MM-DD`), or start `python scheduler.py`, which runs it on every trading day at [SCHEDULE] agent_cycle. "
    "A cycle needs stored market data: open the **Data** page or run `python -m ravenshire fetch` first."
)
#: Cycles shown in the "Recent cycles" table.
CYCLES_SHOWN = 20
#: Regime readings shown on the history strip (the newest).
REGIME_DAYS = 250
REGIME_COLORS = {"bull": "#2ca02c", "sideways": "#1f77b4", "bear": "#ff7f0e", "crisis": "#d62728"}
VETO_CONFIG = {
    "value": st.column_config.NumberColumn("measured", format="%.4f"),
    "limit": st.column_config.NumberColumn("limit", format="%.4f"),
}


# --------------------------------------------------------------------------- formatting
def text(value: Any) -> str | None:
    """A stored text, or None for NULL (which pandas reads as None or NaN)."""
    return value if isinstance(value, str) and value else None


def money(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:,.2f}"


def pct(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f} %"


def when(stamp: Any) -> str:
    """A UTC time and how long ago it was."""
    if stamp is None or pd.isna(stamp):
        return "—"
    stamp = pd.Timestamp(stamp)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    age = pd.Timestamp.now(tz="UTC") - stamp
    if age < pd.Timedelta(0):
        ago = "just now"
    elif age < pd.Timedelta(hours=1):
        ago = f"{int(age.total_seconds() // 60)} min ago"
    elif age < pd.Timedelta(days=2):
        ago = f"{age.total_seconds() / 3600:.0f} h ago"
    else:
        ago = f"{age.days} days ago"
    return f"{stamp:%Y-%m-%d %H:%M} UTC ({ago})"


def seconds(x: float | None) -> str:
    if x is None or not math.isfinite(x):
        return "—"
    return f"{1000 * x:.0f} ms" if x < 1 else f"{x:.1f} s"


def badge(text: str | None, colors: Mapping[str, str]) -> str:
    label = text or "—"
    return f":{colors.get(label, 'gray')}-badge[{label}]"


# --------------------------------------------------------------------------- panels
def agents_panel() -> None:
    """Each agent's last run: outcome, recommendation and confidence, when, how long, the error; and the newest
    cycles (a failed one is said plainly)."""
    st.subheader("Agents")
    read = run_action("Reading the agents' status…", lambda: (statuses_q(), cycles_q("agent", CYCLES_SHOWN)))
    if read is None:
        return
    statuses, cycles = read
    if statuses.empty and cycles.empty:
        st.info(NO_CYCLE_HINT)
        return
    rows = {row["agent"]: row for _, row in statuses.iterrows()}
    for column, name in zip(st.columns(len(AGENTS)), AGENTS, strict=True):
        with column.container(border=True):
            row = rows.get(name)
            if row is None:
                st.metric(name.capitalize(), "not run")
                st.caption("No run stored yet.")
                continue
            st.metric(
                name.capitalize(), row["outcome"], help="ok, hold, veto, error, or skipped (an agent before it failed)"
            )
            conf = row["confidence"]
            conf_text = "" if conf is None or pd.isna(conf) else f" · confidence {pct(float(conf))}"
            st.markdown(badge(text(row["recommendation"]), {}) + conf_text)
            st.caption(f"Last run {when(row['last_run_at'])} · took {seconds(row['duration_s'])} · {row['cycle_id']}")
            if row["outcome"] == "error":
                st.error(text(row["error"]) or "failed", icon=":material/error:")
            elif text(row["error"]):
                st.caption(f"Why: {row['error']}")
    newest = None if cycles.empty else cycles.iloc[0]
    if newest is not None and newest["status"] == "failed":
        day = f"{newest['business_date']:%Y-%m-%d}"
        st.error(
            f"The newest agent cycle, {newest['cycle_id']}, failed: {newest['error']}. Once the cause is fixed, run "
            f"it again with `python -m ravenshire cycle --date {day}` (it decides afresh; nothing was sent).",
            icon=":material/report:",
        )
    elif newest is not None and newest["status"] == "running":
        st.info(f"Agent cycle {newest['cycle_id']} is running (started {when(newest['started_at'])}).")
    if not cycles.empty:
        with st.expander(f"Recent agent cycles ({len(cycles)})"):
            st.dataframe(
                cycles.drop(columns=["kind", "data_version"]),
                hide_index=True,
                width="stretch",
                column_config={
                    "business_date": st.column_config.DateColumn("date"),
                    "confidence": st.column_config.NumberColumn("confidence", format="percent"),
                    "started_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                    "finished_at": st.column_config.DatetimeColumn("finished (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                    "duration_s": st.column_config.NumberColumn("duration [s]", format="%.2f"),
                    "is_demo": st.column_config.CheckboxColumn("demo"),
                },
            )


def regime_chart(reading: Any) -> alt.Chart:
    """The probability of each regime (bars)."""
    frame = pd.DataFrame({"regime": list(reading.probabilities), "probability": list(reading.probabilities.values())})
    color = alt.Color(
        "regime:N",
        scale=alt.Scale(domain=list(REGIME_COLORS), range=list(REGIME_COLORS.values())),
        legend=None,
    )
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            y=alt.Y("regime:N", sort=list(frame["regime"]), title=None),
            x=alt.X("probability:Q", title="Probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=color,
            tooltip=["regime", alt.Tooltip("probability:Q", format=".2%")],
        )
        .properties(height=alt.Step(26))
    )


def regime_strip(history: pd.DataFrame) -> alt.Chart:
    """The regime read each day (a coloured strip) with its probability (the bar's height)."""
    color = alt.Color(
        "regime:N",
        scale=alt.Scale(domain=list(REGIME_COLORS), range=list(REGIME_COLORS.values())),
        title="regime",
    )
    return (
        alt.Chart(history)
        .mark_bar()
        .encode(
            x=alt.X("date:T", title=None, axis=alt.Axis(format="%Y-%m-%d", tickCount="day")),
            y=alt.Y("probability:Q", title="Probability", scale=alt.Scale(domain=[0, 1]), axis=alt.Axis(format="%")),
            color=color,
            tooltip=[alt.Tooltip("date:T"), "regime", alt.Tooltip("probability:Q", format=".1%"), "cycle_id"],
        )
        .properties(height=150)
    )


def regime_panel() -> None:
    """The newest regime reading, its probabilities, and the readings before it."""
    st.subheader("Market regime")
    reading = run_action("Reading the regime…", regime_q)
    if reading is None:
        st.info("No regime reading yet: the Oracle stores one with each agent cycle (`python -m ravenshire cycle`).")
        return
    c1, c2 = st.columns(2)
    c1.metric("Regime", reading.regime, help=f"model {reading.model}, read by cycle {reading.cycle_id}")
    c2.metric("Probability [%]", pct(reading.probability), help="the model's filtered probability of the regime")
    demo = " · :orange-badge[DEMO DATA] synthetic prices" if reading.is_demo else ""
    st.caption(f"Reading of {reading.date:%Y-%m-%d}{demo}")
    st.altair_chart(regime_chart(reading), width="stretch")
    start = reading.date - pd.Timedelta(days=int(REGIME_DAYS * 1.5))
    history = run_action("Reading the regime history…", lambda: regime_history_q(start.date()))
    if history is not None and len(history) > 1:
        st.altair_chart(regime_strip(history.tail(REGIME_DAYS)), width="stretch")


def book_panel() -> None:
    """The paper book: equity, today's P&L, drawdown, positions, and the equity curve of the daily marks."""
    st.subheader("Book")
    read = run_action("Reading the ledger…", lambda: (account_q(), metrics_q(), curve_q()))
    if read is None:
        return
    account, m, curve = read
    cur = account.currency
    c1, c2, c3, c4 = st.columns(4)
    c1.metric(f"Equity [{cur}]", money(m.equity))
    c2.metric(f"Today's P&L [{cur}]", money(m.daily_pnl), help="equity now less the previous daily snapshot's")
    c3.metric("Drawdown [%]", pct(m.current_drawdown), help=f"from the equity peak {money(m.peak_equity)}")
    c4.metric("Positions", f"{m.n_positions}")
    if m.n_trades == 0:
        st.caption(
            f"No fill yet: the account {account.id} holds its initial cash. The agent cycle trades once it decides "
            "to (or send a paper order on the **Execution** page)."
        )
    elif m.as_of is not None:
        st.caption(f"Marked at the closes of {m.as_of:%Y-%m-%d}.")
    if curve.empty:
        st.info(
            "No daily snapshot yet, so no equity curve: store one with `python -m ravenshire mark`, or let the "
            "scheduler's monitoring cycle store them."
        )
        return
    st.altair_chart(equity_chart(curve, title=f"Equity [{cur}]", height=220), width="stretch")


def kill_switch_panel() -> None:
    """The kill switch's state (set and cleared on the Execution page)."""
    st.subheader("Kill switch")
    switch = run_action("Reading the kill switch…", read_kill_switch)
    if switch is None:
        return
    if switch.active:
        st.error(f"**ON — trading halted.** {switch.message}.", icon=":material/block:")
    else:
        st.success("Off — trading is on.", icon=":material/check_circle:")
    if switch.at is not None:
        st.caption(f"Last change {when(switch.at)} by {switch.actor}: {switch.reason}")
    st.caption("Set or clear it on the **Execution** page (tab Kill switch).")


def decision_panel() -> None:
    """The newest Sovereign decision: the verdict, its reasoning, the Sentinel's vetoes and the orders."""
    st.subheader("Latest Sovereign decision")
    d = run_action("Reading the latest decision…", decision_q)
    if d is None:
        st.info(
            "No Sovereign decision stored yet: an agent cycle stores one once all five agents have run (a failed "
            "cycle decides nothing). Run one with `python -m ravenshire cycle`, or start `python scheduler.py`."
        )
        return
    c1, c2, c3, c4 = st.columns(4)
    c1.metric("Decision", d.recommendation or "—", help="execute, reduce_only, hold or veto")
    c2.metric("Confidence [%]", pct(d.confidence), help=f"threshold {pct(d.threshold)}")
    c3.metric("Orders", f"{len(d.orders)}", help="decided; their outcomes below once sent")
    c4.metric("Vetoes", f"{len(d.vetoes)}", help="the Sentinel's, on the whole book or on single trades")
    demo = " · :orange-badge[DEMO DATA] decided on synthetic prices" if d.is_demo else ""
    st.caption(
        f"Cycle {d.cycle_id} · session {d.business_date:%Y-%m-%d} · {d.status} {when(d.decided_at)} · regime "
        f"{d.regime or '—'}{demo}"
    )
    if d.error:
        st.warning(d.error, icon=":material/warning:")
    st.markdown("**Reasoning**")
    st.markdown("\n".join(f"- {line}" for line in d.reasoning) or "_none stored_")
    if d.vetoes.empty:
        st.success("No veto: every risk limit held.", icon=":material/verified_user:")
    else:
        if d.book_vetoed:
            st.error("The Sentinel vetoed the whole book: no BUY went (risk-reducing SELLs still may).")
        st.markdown("**Vetoes**")
        st.dataframe(d.vetoes, hide_index=True, width="stretch", column_config=VETO_CONFIG)
    if not d.sent.empty:
        st.markdown("**Orders sent**")
        st.dataframe(
            d.sent,
            hide_index=True,
            width="stretch",
            column_config={"avg_fill_price": st.column_config.NumberColumn("avg fill price", format="%.4f")},
        )
    elif not d.orders.empty:
        st.markdown("**Orders decided**" + (" (not sent: the cycle expired)" if d.status == "expired" else ""))
        st.dataframe(d.orders, hide_index=True, width="stretch")
    st.caption("Every message of the cycle is on the **Neural stream** page.")


def show_heartbeat(beat: Heartbeat | None) -> None:
    """Alive or down, since when, and the next runs of the scheduled cycles."""
    if beat is None:
        st.info(
            "No scheduler has run on this store: start it with `python scheduler.py` (it runs the daily cycles "
            "and the job queue).",
            icon=":material/schedule:",
        )
        return
    c1, c2, c3 = st.columns(3)
    if beat.alive:
        c1.markdown(":green-badge[:material/favorite: ALIVE]")
    else:
        c1.markdown(":red-badge[:material/heart_broken: DOWN]")
    c1.caption(f"{beat.status} · pid {beat.pid} on {beat.host}")
    c2.metric("Last heartbeat", f"{beat.age_s:,.0f} s ago")
    c3.metric("Running since", f"{beat.started_at:%Y-%m-%d %H:%M} UTC")
    if not beat.alive:
        stopped = f" It stopped at {beat.stopped_at:%Y-%m-%d %H:%M} UTC." if beat.stopped_at else ""
        st.warning(
            f"The scheduler is not running.{stopped} Scheduled cycles and queued jobs wait until "
            "`python scheduler.py` runs again; missed cycles are caught up at its start."
        )
    if beat.message:
        st.caption(beat.message)
    nxt = [e for e in beat.schedule if e.get("next_run")]
    if nxt:
        frame = pd.DataFrame(nxt)[["id", "next_run"]]
        frame["next_run"] = pd.to_datetime(frame["next_run"], utc=True)
        st.dataframe(
            frame.rename(columns={"id": "job", "next_run": "next run (UTC)"}),
            hide_index=True,
            width="stretch",
            column_config={"next run (UTC)": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
        )


def scheduler_section() -> None:
    """The scheduler's heartbeat (the UI never runs a scheduler: it reads the row the scheduler writes)."""
    st.subheader("Scheduler")
    config = get_config()

    def panel() -> None:
        engine = get_engine(config.store_url, config.store.busy_timeout_ms)
        beat, error = attempt(
            "Reading the scheduler's heartbeat…",
            lambda: scheduler_heartbeat(engine, config.schedule.heartbeat_seconds),
        )
        if error is None:
            show_heartbeat(beat)
        else:
            st.error(f"The scheduler's state could not be read: {error}")

    live_panel(panel)


# --------------------------------------------------------------------------- the page
st.title("Command center")
show_flashes()
st.caption(
    "The agents' daily cycle at a glance: Oracle (regime) → Analyst (signals, clusters) → Strategist (weights) → "
    "Sentinel (risk veto) → Sovereign (decision) → execution. Live panels refresh every "
    f"{get_config().ui.refresh_seconds} s."
)

live_panel(agents_panel)
left, right = st.columns([3, 2], gap="large")
with left:
    live_panel(decision_panel)
with right:
    live_panel(kill_switch_panel)
    live_panel(regime_panel)
live_panel(book_panel)

st.divider()
scheduler_section()

"""Neural stream: the messages the agents exchanged in a cycle, in order — each agent's input and decision, the
Sentinel's vetoes, the Sovereign's orders — filterable by cycle, sender and type, each readable as text and
tables, with its raw payload at hand."""

from collections import Counter
from collections.abc import Mapping
from typing import Any

import pandas as pd
import streamlit as st

from ravenshire.agents import queries as agent_queries
from ravenshire.ui import cached_query, require_frame, run_action, show_flashes

require_frame("pages/stream.py")  # first: only inside app.py's frame

cycles_q = cached_query(agent_queries.recent_cycles)
messages_q = cached_query(agent_queries.stream_messages)
decision_q = cached_query(agent_queries.latest_decision)

#: Session key (not a widget key, so the choice survives a change of page).
CYCLE_KEY = "_stream_cycle"
#: Cycles offered in the picker (the newest).
CYCLES_OFFERED = 200
NO_CYCLE_HINT = (
    "No agent cycle has run yet, so the stream is empty: run one with `python -m ravenshire cycle`, or start "
    "`python scheduler.py`. A cycle needs stored market data (the **Data** page, or `python -m ravenshire fetch`)."
)
ICONS = {
    "coordinator": ":material/hub:",
    "oracle": ":material/visibility:",
    "analyst": ":material/insights:",
    "strategist": ":material/strategy:",
    "sentinel": ":material/shield:",
    "sovereign": ":material/gavel:",
}
TYPE_COLORS = {"input": "gray", "decision": "blue", "veto": "orange", "orders": "green", "error": "red"}
DECISION_COLORS = {"execute": "green", "reduce_only": "blue", "hold": "gray", "veto": "orange", "approve": "green",
                   "partial": "orange", "risk_off": "orange", "risk_on": "green", "no_signal": "gray"}  # fmt: skip
STATUS_COLORS = {"completed": "green", "decided": "blue", "running": "blue", "failed": "red", "expired": "gray"}
VETO_CONFIG = {
    "value": st.column_config.NumberColumn("measured", format="%.4f"),
    "limit": st.column_config.NumberColumn("limit", format="%.4f"),
}
ORDER_CONFIG = {
    "price": st.column_config.NumberColumn("price", format="%.2f"),
    "value": st.column_config.NumberColumn("value", format="%.2f"),
}


def pct(x: Any) -> str:
    return "—" if x is None or pd.isna(x) else f"{100 * float(x):.1f} %"


def badge(text: str, colors: Mapping[str, str]) -> str:
    return f":{colors.get(text, 'gray')}-badge[{text}]"


def table(rows: Any, columns: list[str]) -> pd.DataFrame:
    """A list of JSON objects as a frame, ``columns`` first."""
    frame = pd.DataFrame([r for r in rows if isinstance(r, Mapping)])
    first = [c for c in columns if c in frame.columns]
    return frame[first + [c for c in frame.columns if c not in first]]


def show_decision(message: Mapping[str, Any]) -> None:
    """A decision: the verdict, the reasoning as text, and its vetoes, warnings and orders as tables."""
    outer = message["payload"]
    inner = outer.get("payload") if isinstance(outer.get("payload"), Mapping) else {}
    verdict = str(message["recommendation"] or outer.get("recommendation") or "—")
    st.markdown(f"{badge(verdict, DECISION_COLORS)} confidence **{pct(message['confidence'])}**")
    reasoning = Counter(str(r) for r in outer.get("reasoning") or [])  # in order; a repeated line once, counted
    if reasoning:
        st.markdown("\n".join(f"- {line}" + (f" (×{n})" if n > 1 else "") for line, n in reasoning.items()))
    vetoes = inner.get("vetoes") or []
    if vetoes:
        st.markdown(f"**Vetoes ({len(vetoes)})**")
        st.dataframe(table(vetoes, list(agent_queries.VETO_COLUMNS)), hide_index=True, width="stretch",
                     column_config=VETO_CONFIG)  # fmt: skip
    for warning in inner.get("warnings") or []:
        st.warning(str(warning), icon=":material/warning:")
    orders = inner.get("orders") or []
    if orders:
        label = "Orders proposed" if message["sender"] == "strategist" else "Orders"
        st.markdown(f"**{label} ({len(orders)})**")
        st.dataframe(table(orders, list(agent_queries.ORDER_COLUMNS)), hide_index=True, width="stretch",
                     column_config=ORDER_CONFIG)  # fmt: skip
    refused = inner.get("refused_orders") or []
    if refused:
        st.caption("Refused: " + ", ".join(f"{o.get('side')} {o.get('symbol')}" for o in refused))


def show_veto(payload: Mapping[str, Any]) -> None:
    scope, symbol = payload.get("scope", "?"), payload.get("symbol")
    target = f"the trade in **{symbol}**" if symbol else "**the whole book**"
    st.markdown(f"Vetoes {target} — reason `{payload.get('reason', '?')}`")
    st.markdown(f"> {payload.get('detail', '')}")
    if payload.get("value") is not None and payload.get("limit") is not None:
        st.caption(f"measured {payload['value']} against the limit {payload['limit']} ({scope} veto)")


def show_message(message: Mapping[str, Any]) -> None:
    """One message: who to whom and what, readable; the raw payload in an expander."""
    kind, payload = str(message["type"]), message["payload"]
    sender = str(message["sender"])
    at = message["at"]
    stamp = "" if at is None or pd.isna(at) else f" · {pd.Timestamp(at):%H:%M:%S} UTC"
    with st.container(border=True):
        st.markdown(
            f"{ICONS.get(sender, ':material/smart_toy:')} **#{message['seq']} {sender.capitalize()} → "
            f"{str(message['receiver']).capitalize()}** {badge(kind, TYPE_COLORS)}{stamp}"
        )
        if not isinstance(payload, Mapping):
            st.write(payload)
        elif kind == "decision":
            show_decision(message)
        elif kind == "veto":
            show_veto(payload)
        elif kind == "orders":
            orders = payload.get("orders") or []
            st.markdown(f"{len(orders)} order(s) sent to execution")
            if orders:
                st.dataframe(table(orders, list(agent_queries.ORDER_COLUMNS)), hide_index=True, width="stretch",
                             column_config=ORDER_CONFIG)  # fmt: skip
        elif kind == "error":
            st.error(str(payload.get("error", payload)), icon=":material/error:")
        else:
            st.caption(str(message["headline"]))
        with st.expander("Raw payload"):
            st.json(payload, expanded=False)


def cycle_header(row: pd.Series) -> None:
    """The cycle's status and, when it decided, the Sovereign's verdict."""
    status = str(row["status"])
    demo = " · :orange-badge[:material/science: DEMO DATA]" if row["is_demo"] else ""
    st.markdown(
        f"**{row['cycle_id']}** · session {row['business_date']:%Y-%m-%d} · {badge(status, STATUS_COLORS)} · "
        f"attempt {row['attempts']}{demo}"
    )
    error = row["error"] if isinstance(row["error"], str) and row["error"] else None  # NULL may read as NaN
    if status == "failed":
        st.error(f"This cycle failed: {error or 'no reason stored'}", icon=":material/report:")
    elif error:
        st.warning(error, icon=":material/warning:")
    if row["recommendation"] is not None and not pd.isna(row["recommendation"]):
        c1, c2, c3, c4 = st.columns(4)
        c1.metric("Sovereign decision", str(row["recommendation"]))
        c2.metric("Confidence [%]", pct(row["confidence"]))
        c3.metric("Vetoes", f"{row['n_vetoes']}")
        c4.metric("Orders", f"{row['n_orders']}")


st.title("Neural stream")
show_flashes()
st.caption(
    "What the agents told each other in a cycle, in order: the coordinator's inputs, each agent's decision with its "
    "reasoning, the Sentinel's vetoes, the Sovereign's orders to execution."
)

cycles = run_action("Reading the cycles…", lambda: cycles_q("agent", CYCLES_OFFERED))
if cycles is None:
    st.stop()
if cycles.empty:
    st.info(NO_CYCLE_HINT)
    st.stop()

ids = list(cycles["cycle_id"])
labels = {r.cycle_id: f"{r.business_date:%Y-%m-%d} — {r.cycle_id} ({r.status})" for r in cycles.itertuples()}
kept = st.session_state.get(CYCLE_KEY)
f1, f2, f3 = st.columns([2, 2, 2])
chosen = f1.selectbox(
    "Cycle", ids, index=ids.index(kept) if kept in ids else 0, format_func=lambda i: labels.get(i, i),
    help="The newest first.",
)  # fmt: skip
st.session_state[CYCLE_KEY] = chosen
senders = f2.multiselect("Sender", list(agent_queries.SENDERS), placeholder="every sender")
types = f3.multiselect("Type", list(agent_queries.MESSAGE_TYPES), placeholder="every type")

cycle_header(cycles.loc[cycles["cycle_id"] == chosen].iloc[0])

messages = run_action("Reading the messages…", lambda: messages_q(chosen, tuple(senders) or None, tuple(types) or None))
if messages is None:
    st.stop()
if messages.empty:
    if senders or types:
        st.info("No message of this cycle matches the filters: clear them to see the whole stream.")
    else:
        st.info(
            f"{chosen} stored no message: it stopped before its first agent ran (see its error above), or it is "
            f"still running. Run it again with `python -m ravenshire cycle --date "
            f"{cycles.loc[cycles['cycle_id'] == chosen, 'business_date'].iloc[0]:%Y-%m-%d}`."
        )
    st.stop()

st.caption(f"{len(messages)} message(s)" + (" (filtered)" if senders or types else ""))
with st.expander("As a table"):
    st.dataframe(
        messages.drop(columns=["payload", "cycle_id"]),
        hide_index=True,
        width="stretch",
        column_config={
            "confidence": st.column_config.NumberColumn("confidence", format="percent"),
            "at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss"),
            "headline": st.column_config.TextColumn("what", width="large"),
        },
    )
for record in messages.to_dict(orient="records"):
    show_message(record)

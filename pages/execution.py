"""Execution: the paper account's figures and equity curve, orders and their life, positions, fills, cash,
manual paper orders, the kill switch and reconciliation. Everything goes through the ExecutionManager."""

import math
import uuid

import pandas as pd
import streamlit as st

from ravenshire.data import queries
from ravenshire.execution import Order, OrderStatus, kill_switch_history
from ravenshire.execution.orders import OPEN_STATUSES
from ravenshire.ui import (
    attempt,
    cached_query,
    clear_reads,
    execution_query,
    flash,
    get_config,
    get_execution_manager,
    live_panel,
    read_kill_switch,
    require_frame,
    run_action,
    show_flashes,
)
from ravenshire.ui.auth import audit, auth_enabled, can_operate, current_user
from ravenshire.ui.charts import equity_chart

require_frame("pages/execution.py")  # first: only inside app.py's frame

account_q = execution_query("account")
metrics_q = execution_query("get_performance_metrics")
orders_q = execution_query("orders")
order_events_q = execution_query("order_events")
positions_q = execution_query("positions")
fills_q = execution_query("fills")
cash_q = execution_query("cash_ledger")
curve_q = execution_query("equity_curve")
history_q = cached_query(kill_switch_history)
totals_q = cached_query(queries.store_totals)

#: Session keys (not widget keys, so they survive a change of page).
CID_KEY = "_execution_order_cid"
OUTCOME_KEY = "_execution_last_order"
NAME_KEY = "_execution_actor"

#: Fills shown in the table (the newest); `ExecutionManager().fills()` gives them all.
FILLS_SHOWN = 500

ORDER_COLUMNS = [
    "id", "created_at", "symbol", "side", "quantity", "order_type", "limit_price", "status", "filled_quantity",
    "avg_fill_price", "reason", "origin", "cycle_id", "is_demo", "client_order_id",
]  # fmt: skip


def refresh() -> None:
    """Forget cached reads after this session wrote to the store, and draw the page again."""
    clear_reads()
    st.rerun()


def new_client_id() -> str:
    """A fresh idempotency key for the next order of the form."""
    return f"ui-{uuid.uuid4().hex[:24]}"


def money(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{x:,.2f}"


def pct(x: float | None) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.1f} %"


def factor(x: float | None) -> str:
    if x is None or math.isnan(x):
        return "—"
    return "∞" if math.isinf(x) else f"{x:.2f}"


def outcome(order: Order) -> tuple[str, str]:
    """(kind, message) telling what became of an order the form sent."""
    what = f"Order #{order.id}: {order.side} {order.quantity:g} {order.symbol} {order.order_type}"
    if order.limit_price is not None:
        what += f" at limit {order.limit_price:,.2f}"
    demo = " (paper, DEMO DATA prices)" if order.is_demo else " (paper)"
    status = OrderStatus(order.status)
    if status == OrderStatus.FILLED:
        return "success", f"{what}{demo} — filled {order.filled_quantity:g} at {money(order.avg_fill_price)}."
    if status == OrderStatus.PARTIALLY_FILLED:
        return "info", (
            f"{what}{demo} — partially filled: {order.filled_quantity:g} at {money(order.avg_fill_price)}, "
            f"{order.remaining:g} still working."
        )
    if status in (OrderStatus.NEW, OrderStatus.ACCEPTED):
        return "info", (
            f"{what}{demo} — accepted and working: it fills on a later bar that trades through the limit "
            "(or cancel it under Orders)."
        )
    if status == OrderStatus.REJECTED:
        return "error", f"{what}{demo} — rejected: {order.reason}"
    return "warning", f"{what}{demo} — {status}: {order.reason}"


def order_problems(quantity: float | None, order_type: str, limit: float | None) -> dict[str, str]:
    """What is wrong with the form's fields, by field: checked before anything is sent."""
    problems = {}
    if quantity is None or not math.isfinite(quantity) or quantity <= 0:
        problems["quantity"] = "Quantity must be a positive number of shares (e.g. 100)."
    if order_type == "limit" and (limit is None or not math.isfinite(limit) or limit <= 0):
        problems["limit"] = "A limit order needs a limit price above 0."
    elif order_type == "market" and limit is not None:
        problems["limit"] = "A market order takes no price: clear it, or choose limit."
    return problems


def sentence(text: str) -> str:
    """``text`` with its first letter in upper case."""
    return text[:1].upper() + text[1:]


def text_problems(**fields: str) -> dict[str, str]:
    """A required text field left empty, by field."""
    return {name: f"{name.capitalize()} is required." for name, value in fields.items() if not value.strip()}


def not_sent(cid: str, error: str | None) -> tuple[str, str]:
    """(kind, message) for an order the form could not send, and whether its id is renewed: only when an order of
    that id is stored (a confirmed outcome: e.g. the connection dropped after the commit). Otherwise the form keeps
    the id, so a retry cannot create a second order: the same fields return the order stored, if the failed
    attempt did store one, and different fields are refused by the execution layer."""
    stored, _ = attempt("Looking the order up…", lambda: manager.get_order(cid))
    error = (error or "unknown error").rstrip(".") + "."
    if stored is not None:
        st.session_state[CID_KEY] = new_client_id()
        return "warning", (
            f"Not sent: {error} Order id `{cid}` is stored already — {outcome(stored)[1]} The form has a new order id "
            "for the next order."
        )
    return "error", (
        f"Not sent: {error} The form keeps order id `{cid}`: sending again is safe (one order per id; if this attempt "
        "did reach the store, the same fields return that order)."
    )


def headline() -> None:
    """The account's figures (a live panel: redrawn every [UI] refresh_seconds). It reads no fill: the metrics
    count them (``n_trades``)."""
    read = run_action("Reading the ledger…", lambda: (account_q(), orders_q()))
    if read is None:
        return
    account, orders = read
    demo = config.is_demo or bool(orders["is_demo"].astype(bool).any())  # a fill is demo when its order is
    st.subheader(f"Account {account.id}")
    st.caption(f"{account.broker} broker · {account.currency} · initial cash {money(account.initial_cash)}")
    if demo:
        st.markdown(
            ":orange-badge[:material/science: DEMO DATA] every figure is marked at synthetic (demo) prices, "
            "not at a real market's"
        )
    m = run_action("Computing live performance…", metrics_q)
    if m is None:
        return
    if m.n_trades == 0:
        st.info(
            f"No fill yet: the account holds its initial cash, {money(account.cash)} {account.currency}. "
            "Send a paper order under **Trade** below (or let the agent cycle trade)."
        )
        return
    cur = account.currency
    r1 = st.columns(6)
    r1[0].metric(f"Equity [{cur}]", money(m.equity))
    r1[1].metric(f"Cash [{cur}]", money(m.cash))
    r1[2].metric(f"Daily P&L [{cur}]", money(m.daily_pnl), help="equity now less the previous daily snapshot's")
    r1[3].metric(f"Realized P&L [{cur}]", money(m.realized_pnl), help="closed FIFO lots, less every commission")
    r1[4].metric(f"Unrealized P&L [{cur}]", money(m.unrealized_pnl), help="open lots at the latest closes")
    r1[5].metric("Drawdown [%]", pct(m.current_drawdown), help=f"from the equity peak {money(m.peak_equity)}")
    r2 = st.columns(6)
    r2[0].metric("Win rate [%]", pct(m.win_rate), help="share of closed FIFO trades with a positive net P&L")
    r2[1].metric("Profit factor", factor(m.profit_factor), help="gross wins / gross losses of closed trades")
    r2[2].metric("Trades", f"{m.n_trades}", help=f"fills; {m.n_closed_trades} closed FIFO trades")
    r2[3].metric("Gross exposure [%]", pct(m.gross_exposure), help="Σ|position value| / equity")
    r2[4].metric("Net exposure [%]", pct(m.net_exposure), help="Σ position value / equity")
    r2[5].metric("Positions", f"{m.n_positions}")
    st.caption(
        f"Marked at the closes of {m.as_of:%Y-%m-%d}. Win rate and profit factor count closed FIFO trades, net of "
        "commissions."
    )


config = get_config()
opened = run_action("Opening the ledger…", get_execution_manager)
if opened is None:
    st.stop()
manager = opened

st.title("Execution")
show_flashes()
live_panel(headline)

st.subheader("Equity curve")
curve = run_action("Reading the daily snapshots…", curve_q)
if curve is not None:
    if curve.empty:
        st.info(
            "No daily snapshot yet. The curve is drawn from the daily marks to market: store one with "
            "`python -m ravenshire mark`, or let the scheduler's monitoring cycle (17:00 UTC) store them."
        )
    else:
        st.altair_chart(equity_chart(curve), width="stretch")

tab_trade, tab_orders, tab_pos, tab_ledger, tab_kill = st.tabs(
    ["Trade", "Orders", "Positions", "Fills & cash", "Kill switch"]
)


switch = run_action("Reading the kill switch…", read_kill_switch)
halted = switch is not None and switch.active
VIEWER = not can_operate()  # viewers read; orders, cancels and the kill switch are for operators
locked = halted or VIEWER
halt_message = switch.message if switch is not None else ""

with tab_trade:
    if VIEWER:
        st.info("You are signed in as a viewer: orders are for operators.", icon=":material/visibility:")
    if halted:
        st.error(
            f"Order entry is disabled: {halt_message}. Clear the kill switch (tab **Kill switch**) to trade again.",
            icon=":material/block:",
        )
    totals = run_action("Reading the store…", totals_q)
    if totals is not None and totals["bars"] == 0:
        st.warning(
            "The store holds no prices yet, so every order would be rejected (unknown symbol). Fetch data on the "
            "**Data** page, or run `python -m ravenshire fetch`."
        )
    cid = st.session_state.setdefault(CID_KEY, new_client_id())
    # The form is keyed by its order's idempotency key: a second click on a form already sent does not match
    # the next form's button, and a run interrupted before the key changed resends the same key, which the
    # execution layer answers with the order already stored.
    with st.form(f"order_{cid}"):
        st.markdown("**Manual paper order**")
        c1, c2 = st.columns(2)
        symbol = c1.selectbox("Symbol", list(config.data.universe), disabled=locked)
        side = c2.radio("Side", ["BUY", "SELL"], horizontal=True, disabled=locked)
        c3, c4, c5 = st.columns(3)
        with c3:
            quantity = st.number_input("Quantity [shares]", value=None, step=1.0, placeholder="e.g. 100",
                                       disabled=locked)  # fmt: skip
            quantity_note = st.empty()
        order_type = c4.radio("Order type", ["market", "limit"], horizontal=True, disabled=locked)
        with c5:
            limit = st.number_input("Limit price", value=None, step=0.01, format="%.2f",
                                    placeholder="limit orders only", disabled=locked)  # fmt: skip
            limit_note = st.empty()
        st.caption(f"Order id `{cid}` — sending it twice creates one order.")
        send = st.form_submit_button("Send paper order", type="primary", disabled=locked)
    if send and not locked:
        problems = order_problems(quantity, order_type, limit)
        if "quantity" in problems:
            quantity_note.error(problems["quantity"])
        if "limit" in problems:
            limit_note.error(problems["limit"])
        if not problems:
            shares = float(quantity or 0)
            price = float(limit) if order_type == "limit" and limit is not None else None
            sent, error = attempt(
                "Sending the paper order…",
                lambda: manager.execute_trade(
                    symbol, side, shares, price=price, order_type=order_type, client_order_id=cid
                ),
            )
            audit(
                "order",
                target=f"{side} {shares:g} {symbol}",
                outcome="failed" if sent is None else ("refused" if str(sent.status) == "rejected" else "ok"),
                detail={"client_order_id": cid, "order_id": getattr(sent, "id", None),
                        "status": str(getattr(sent, "status", "unknown")), "error": error},
            )  # fmt: skip
            if sent is not None:  # a confirmed outcome (filled, working, rejected …): the next order is a new one
                st.session_state[CID_KEY] = new_client_id()
                st.session_state[OUTCOME_KEY] = outcome(sent)
            else:  # unknown whether it reached the store: keep the id unless an order of that id is found
                st.session_state[OUTCOME_KEY] = not_sent(cid, error)
            refresh()
    last = st.session_state.get(OUTCOME_KEY)
    if last is not None:
        getattr(st, last[0])(f"Last order — {last[1]}")

with tab_orders:
    orders = run_action("Reading the orders…", orders_q)
    if orders is not None and orders.empty:
        st.info("No order yet. Send a paper order under **Trade**, or let the agent cycle send its orders.")
    elif orders is not None:
        statuses = [str(x) for x in OrderStatus]
        present = [x for x in statuses if x in set(orders["status"])]
        wanted = st.multiselect("Status", statuses, default=present)
        shown = orders[orders["status"].isin(wanted)][ORDER_COLUMNS].copy()
        shown["created_at"] = pd.to_datetime(shown["created_at"], utc=True)
        st.dataframe(
            shown,
            hide_index=True,
            width="stretch",
            column_config={
                "id": st.column_config.NumberColumn("order", format="%d"),
                "created_at": st.column_config.DatetimeColumn("created (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "limit_price": st.column_config.NumberColumn("limit", format="%.2f"),
                "avg_fill_price": st.column_config.NumberColumn("avg fill price", format="%.4f"),
                "filled_quantity": st.column_config.NumberColumn("filled"),
                "is_demo": st.column_config.CheckboxColumn("demo", help="priced from synthetic (demo) data"),
            },
        )
        labels = {
            int(r.id): f"#{r.id} {r.side} {r.quantity:g} {r.symbol} {r.order_type} — {r.status}"
            for r in orders.itertuples()
        }
        with st.expander("Life of an order (its events)"):
            picked = st.selectbox("Order", list(labels), format_func=lambda i: labels.get(i, str(i)))
            if picked is not None:
                life = run_action("Reading the order's events…", lambda: order_events_q(int(picked)))
                if life is not None:
                    st.dataframe(
                        life,
                        hide_index=True,
                        width="stretch",
                        column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss")},
                    )
        working = orders[orders["status"].isin([str(x) for x in OPEN_STATUSES])]
        st.markdown("**Cancel a working order**")
        if working.empty:
            st.caption("No working order: market orders fill at once; a limit order not yet reached waits here.")
        else:
            c1, c2 = st.columns([3, 1], vertical_alignment="bottom")
            ids = [int(i) for i in working["id"]]
            to_cancel = c1.selectbox("Working order", ids, format_func=lambda i: labels.get(i, str(i)))
            if c2.button("Cancel order", disabled=VIEWER) and to_cancel is not None and not VIEWER:
                order_id = int(to_cancel)  # an int: cancel_order reads anything else as a client order id
                done, error = attempt("Cancelling…", lambda: manager.cancel_order(order_id))
                audit("order_cancel", target=str(order_id), outcome="ok" if done is not None else "failed",
                      detail={"error": error})  # fmt: skip
                if done is not None:
                    flash("success", f"Order #{done.id} cancelled ({done.filled_quantity:g} had filled).")
                else:
                    flash("error", f"Order #{to_cancel} was not cancelled: {error}")
                refresh()

with tab_pos:
    metrics = run_action("Computing live performance…", metrics_q)
    if metrics is not None and metrics.n_positions == 0:
        st.info("No open position.")
    elif metrics is not None:
        held = run_action("Reading the positions…", positions_q)
        if held is not None:
            st.dataframe(
                held.reset_index(),
                hide_index=True,
                width="stretch",
                column_config={
                    "quantity": st.column_config.NumberColumn("quantity [shares]"),
                    "avg_cost": st.column_config.NumberColumn("avg cost (FIFO)", format="%.4f"),
                    "cost_basis": st.column_config.NumberColumn("cost basis", format="%.2f"),
                    "mark": st.column_config.NumberColumn("mark (latest close)", format="%.2f"),
                    "market_value": st.column_config.NumberColumn("market value", format="%.2f"),
                    "unrealized_pnl": st.column_config.NumberColumn("unrealized P&L", format="%.2f"),
                    "realized_pnl": st.column_config.NumberColumn("realized P&L", format="%.2f"),
                },
            )

with tab_ledger:
    st.markdown("**Fills**")
    fills = None
    if metrics is not None and metrics.n_trades == 0:  # counted by the metrics: nothing to read
        st.info("No fill yet.")
    else:
        fills = run_action("Reading the fills…", fills_q)
    if fills is not None and fills.empty:
        st.info("No fill yet.")
    elif fills is not None:
        newest = fills.iloc[::-1].head(FILLS_SHOWN)  # the manager gives them oldest first
        st.caption(
            f"The newest {len(newest)} of {len(fills):,} fills, newest first (all of them: "
            "`ExecutionManager().fills()`)."
            if len(fills) > FILLS_SHOWN
            else f"{len(fills):,} fill(s), newest first."
        )
        st.dataframe(
            newest,
            hide_index=True,
            width="stretch",
            column_config={
                "filled_at": st.column_config.DatetimeColumn("filled (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "bar_date": st.column_config.DateColumn("bar"),
                "price": st.column_config.NumberColumn("price", format="%.4f"),
                "commission": st.column_config.NumberColumn("commission", format="%.2f"),
                "slippage": st.column_config.NumberColumn("slippage cost", format="%.2f"),
                "is_demo": st.column_config.CheckboxColumn("demo"),
            },
        )
    st.markdown("**Cash ledger**")
    cash = run_action("Reading the cash ledger…", cash_q)
    if cash is not None and cash.empty:
        st.info("No cash movement yet.")
    elif cash is not None:
        st.dataframe(
            cash,
            hide_index=True,
            width="stretch",
            column_config={
                "at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss"),
                "amount": st.column_config.NumberColumn("amount", format="%.2f"),
                "balance": st.column_config.NumberColumn("balance", format="%.2f"),
                "fill_id": st.column_config.NumberColumn("fill", format="%d"),
            },
        )
    if st.button("Reconcile the ledger", help="Recompute positions, cash and filled quantities from the fills"):
        report = run_action("Reconciling…", manager.reconcile)
        if report is not None and report.ok:
            st.success(sentence(report.message) + ".")
        elif report is not None:
            st.error(f"Reconciliation breaks: {report.message}")
            if not report.position_breaks.empty:
                st.dataframe(report.position_breaks, hide_index=True)
            if not report.order_breaks.empty:
                st.dataframe(report.order_breaks, hide_index=True)

with tab_kill:
    st.caption(
        "While the kill switch is on no order is sent (each attempt is stored as rejected), and setting it cancels "
        "every working order. The risk limit sets it by itself when the drawdown reaches [RISK] max_drawdown."
    )
    if switch is not None and switch.active:
        st.error(sentence(switch.message), icon=":material/block:")
        action, button, example = "Clear the kill switch — trading resumes", "Resume trading", "e.g. outage over"
    else:
        if switch is not None:
            st.success("Trading is on." + (f" Last change: {switch.at:%Y-%m-%d %H:%M} UTC by {switch.actor}: "
                                           f"{switch.reason}" if switch.at is not None else ""))  # fmt: skip
        action, button, example = "Set the kill switch — halt trading", "Halt trading", "e.g. broker outage"
    with st.form(f"kill_switch_{'clear' if halted else 'set'}"):
        st.markdown(f"**{action}**")
        user = current_user()
        signed_in = auth_enabled() and user is not None
        actor = st.text_input(
            "Your name",
            value=user.name if signed_in and user is not None else st.session_state.get(NAME_KEY, ""),
            max_chars=64,
            disabled=signed_in or VIEWER,  # signed in: the change is recorded under the login's name
        )
        actor_note = st.empty()
        reason = st.text_area("Reason", placeholder=example, max_chars=2000, height=80)
        reason_note = st.empty()
        go = st.form_submit_button(button, type="primary", disabled=VIEWER)
    if VIEWER:
        st.caption("Viewers cannot change the kill switch: sign in as an operator.")
    if go and not VIEWER:
        problems = text_problems(name=actor, reason=reason)
        if "name" in problems:
            actor_note.error(problems["name"])
        if "reason" in problems:
            reason_note.error(problems["reason"])
        if not problems:
            st.session_state[NAME_KEY] = actor.strip()
            change = manager.clear_kill_switch if halted else manager.set_kill_switch
            state, error = attempt("Recording…", lambda: change(actor=actor, reason=reason))
            audit(
                "kill_switch_off" if halted else "kill_switch_on",
                target=config.execution.account_id,
                outcome="ok" if state is not None else "failed",
                detail={"reason": reason, "error": error},
            )
            if state is None:
                flash("error", f"The kill switch was not changed: {error}")
            elif state.active:
                flash("warning", f"Kill switch set: {state.message}. Working orders were cancelled.")
            else:
                flash("success", f"Kill switch cleared by {state.actor}: trading is on ({state.reason}).")
            refresh()
    st.markdown("**History**")
    history = run_action("Reading the kill switch's history…", history_q)
    if history is not None and history.empty:
        st.caption("The kill switch was never used.")
    elif history is not None:
        st.dataframe(
            history,
            hide_index=True,
            width="stretch",
            column_config={"at": st.column_config.DatetimeColumn("at (UTC)", format="YYYY-MM-DD HH:mm:ss")},
        )

"""Data: universe and coverage, validation reports with rejected rows, versions, fetch and import."""

import json
import uuid

import altair as alt
import pandas as pd
import streamlit as st

from ravenshire.data import FetchSummary, queries
from ravenshire.data.validation import RULES
from ravenshire.orchestration import list_jobs, scheduler_heartbeat, submit_job
from ravenshire.ui import (
    attempt,
    bootstrap_demo_store,
    cached_query,
    clear_reads,
    flash,
    get_config,
    get_engine,
    get_manager,
    live_panel,
    require_frame,
    run_action,
    show_flashes,
)
from ravenshire.ui.auth import audit, can_operate, current_user

require_frame("pages/data.py")  # first: only inside app.py's frame
VIEWER = not can_operate()  # viewers read; fetching, importing and versioning are for operators

coverage = cached_query(queries.coverage)
totals = cached_query(queries.store_totals)
fetch_log = cached_query(queries.fetch_log)
issues = cached_query(queries.issues)
latest_report_id = cached_query(queries.latest_report_id)
versions = cached_query(queries.versions)


FETCH_FORM_KEY = "_data_fetch_form_id"


def user_name() -> str:
    user = current_user()
    return user.name if user is not None else "ui"


def fetch_jobs_panel() -> None:
    """The recent fetch jobs and whether the scheduler that runs them is alive (refreshes on its own)."""
    engine = get_engine(config.store_url, config.store.busy_timeout_ms)
    read, error = attempt(
        "Reading the fetch jobs…",
        lambda: (scheduler_heartbeat(engine, config.schedule.heartbeat_seconds), list_jobs(engine, kind="data_fetch",
                                                                                          limit=5)),
    )  # fmt: skip
    if read is None:
        st.caption(f"The fetch jobs could not be read: {error}")
        return
    beat, jobs = read
    if jobs.empty:
        return
    if beat is None or not beat.alive:
        st.warning("The scheduler is not running: queued fetches wait until `python scheduler.py` runs.")
    for row in jobs.itertuples():
        result = json.loads(row.result) if isinstance(row.result, str) else {}
        tail = (f": {result.get('status')}, {result.get('rows_stored', 0):,} rows stored" if row.status == "succeeded"
                else f": {row.error}" if isinstance(row.error, str) else "")  # fmt: skip
        st.caption(f"Fetch job #{row.id} — {row.status}{tail}")
    seen = st.session_state.setdefault("_data_fetch_seen", set(jobs.loc[jobs["status"] == "succeeded", "id"]))
    fresh = set(jobs.loc[jobs["status"] == "succeeded", "id"]) - seen
    if fresh:  # new bars since this page was drawn: draw it again with them
        seen |= fresh
        clear_reads()
        st.rerun(scope="app")


def refresh() -> None:
    """Forget cached reads after this session wrote to the store, and draw the page again."""
    for query in (coverage, totals, fetch_log, issues, latest_report_id, versions):
        query.clear()
    st.rerun()


def outcome(summary: FetchSummary, what: str | None = None) -> None:
    """Keep one line on a fetch, import or validation for the next run of the page."""
    kind = "success" if summary.status == "ok" else "warning"
    what = what or f"{summary.kind} from {summary.source}"
    flash(
        kind,
        f"#{summary.fetch_id} {what}: {summary.status} — {summary.rows_stored:,} stored, "
        f"{summary.rows_rejected} rejected, {summary.rows_flagged} flagged (see Validation).",
    )


config = get_config()
manager = run_action("Opening the state store…", get_manager)
if manager is None:
    st.stop()

st.title("Data")
show_flashes()

empty_store = run_action("Reading the state store…", manager.store_is_empty)
if empty_store is None:
    st.stop()
if empty_store:
    if config.is_demo and not VIEWER:
        done = run_action("Empty store: generating the demo universe…", bootstrap_demo_store)
        if done:
            flash("info", f"Empty store: demo universe generated, {sum(s.rows_stored for s in done):,} bars stored.")
            refresh()
    elif config.is_demo:
        st.info("The store holds no market data yet: an operator's first visit generates the demo universe.")
    else:
        st.info(
            "The store holds no market data yet. Fetch the universe in **Fetch & import** below, "
            "or import your own CSV/Parquet file."
        )

read = run_action("Reading the state store…", lambda: (totals(), coverage()))
if read is None:
    st.stop()
head, cov = read
c1, c2, c3, c4 = st.columns(4)
c1.metric("Instruments", head["instruments"], help="(symbol, source) pairs with stored bars")
c2.metric("Bars stored", f"{head['bars']:,}")
c3.metric("Latest bar", "—" if head["last_date"] is None else f"{head['last_date']:%Y-%m-%d}")
c4.metric("Data versions", head["versions"])

tab_cov, tab_val, tab_ver, tab_fetch, tab_log = st.tabs(
    ["Coverage", "Validation", "Versions", "Fetch & import", "Fetch log"]
)


with tab_cov:
    universe = pd.DataFrame({"symbol": list(config.data.universe)})
    universe["configured source"] = universe["symbol"].map(config.data.source_for)
    table = universe.merge(cov, on="symbol", how="outer")
    missing = table["bars"].isna() & table["configured source"].notna()
    st.subheader("Universe and coverage")
    if missing.any():
        st.warning(f"No stored bars yet for: {', '.join(table.loc[missing, 'symbol'])}. Fetch them below.")
    st.dataframe(
        table,
        hide_index=True,
        width="stretch",
        column_config={
            "demo": st.column_config.CheckboxColumn("demo", help="synthetic (demo) data"),
            "first": st.column_config.DateColumn("first bar"),
            "last": st.column_config.DateColumn("last bar"),
            "bars": st.column_config.NumberColumn("bars", format="%d"),
            "last_fetch": st.column_config.NumberColumn("last fetch #", format="%d"),
        },
    )
    # What the store holds, as (symbol, source) pairs: the chart draws them as stored and never fetches.
    pairs = list(cov[["symbol", "source"]].itertuples(index=False, name=None)) if not cov.empty else []
    shared = set(cov["symbol"][cov["symbol"].duplicated()]) if not cov.empty else set()
    stored = sorted(cov["symbol"].unique()) if not cov.empty else []
    if pairs:
        picked = st.multiselect(
            "Chart adjusted close (rebased to 100)",
            pairs,
            default=pairs[:4],
            format_func=lambda p: f"{p[0]} ({p[1]})" if p[0] in shared else p[0],
        )
        if picked:
            prices = run_action("Loading prices…", lambda: manager.load_stored(picked, fields=["adj_close"]))
            if prices is not None:
                prices = prices["adj_close"]
                prices.columns = [f"{sym} ({src})" if sym in shared else sym for sym, src in picked]
                rebased = 100 * prices / prices.bfill().iloc[0]
                long = rebased.reset_index().melt("date", var_name="symbol", value_name="value").dropna()
                chart = (
                    alt.Chart(long)
                    .mark_line(strokeWidth=1.4)
                    .encode(
                        x=alt.X("date:T", title=None),
                        y=alt.Y("value:Q", title="Adjusted close (start = 100)", scale=alt.Scale(zero=False)),
                        color=alt.Color("symbol:N", legend=alt.Legend(orient="top")),
                        tooltip=["symbol", alt.Tooltip("date:T"), alt.Tooltip("value:Q", format=".1f")],
                    )
                    .properties(height=320)
                )
                st.altair_chart(chart, width="stretch")

with tab_val:
    log = fetch_log()
    reported = log[log["has_report"] | (log["status"] == "failed")] if not log.empty else log
    if reported.empty:
        st.info("No validation report yet: every fetch and import produces one.")
    else:
        labels = {
            int(r.id): f"#{r.id} {r.kind} {r.source} — {r.status} ({pd.Timestamp(r.finished_at):%Y-%m-%d %H:%M} UTC)"
            for r in reported.itertuples()
        }
        chosen = st.selectbox("Report", list(labels), format_func=labels.get, index=0)
        row = reported[reported["id"] == chosen].iloc[0]
        r1, r2, r3, r4 = st.columns(4)
        r1.metric("Rows received", f"{row.rows_received:,}")
        r2.metric("Stored", f"{row.rows_stored:,}")
        r3.metric("Rejected", f"{row.rows_rejected:,}")
        r4.metric("Flagged", f"{row.rows_flagged:,}")
        found = issues(int(chosen))
        if not row.has_report:
            st.error(f"This {row.kind} failed before any data could be checked: {row.message}")
        elif found.empty:
            st.caption(row.message)
            st.success("Every row passed every rule.")
        else:
            st.caption(row.message)
            rejected = found[found["action"] == "rejected"]
            flagged = found[found["action"] == "flagged"]
            st.markdown(f"**Rejected rows (quarantined, not stored): {len(rejected)}**")
            if not rejected.empty:
                st.dataframe(
                    rejected[
                        ["symbol", "date", "rule", "detail", "open", "high", "low", "close", "adj_close", "volume"]
                    ],
                    hide_index=True,
                    width="stretch",
                    column_config={"date": st.column_config.DateColumn("date")},
                )
            st.markdown(f"**Flagged (stored, worth a look): {len(flagged)}**")
            if not flagged.empty:
                st.dataframe(
                    flagged[["symbol", "date", "rule", "detail"]],
                    hide_index=True,
                    width="stretch",
                    column_config={"date": st.column_config.DateColumn("date")},
                )
        with st.expander("What each rule checks"):
            st.table(pd.DataFrame({"rule": list(RULES), "checks": list(RULES.values())}).set_index("rule"))
    validate = st.button(
        "Validate stored data now", help="Run every rule over the stored bars of the universe", disabled=VIEWER
    )
    checked = run_action("Validating stored bars…", manager.validate_stored) if validate and not VIEWER else None
    if validate and not VIEWER and checked is None:
        audit("data_validate", outcome="failed")
    if checked is not None:
        audit("data_validate", outcome="ok", detail={"status": checked[0].status})
        outcome(checked[0])
        refresh()

with tab_ver:
    st.subheader("Data versions")
    st.caption("Immutable snapshots, named by the SHA-256 of their content: the same data always gets the same id.")
    vers = versions()
    if vers.empty:
        st.info("No versions yet. Create one below, or pass create_version=True to get_market_data.")
    else:
        st.dataframe(
            vers[["short_id", "created_at", "start", "end", "n_rows", "symbols", "sources", "is_demo", "label"]],
            hide_index=True,
            width="stretch",
            column_config={
                "short_id": "version",
                "n_rows": st.column_config.NumberColumn("days", format="%d"),
                "is_demo": st.column_config.CheckboxColumn("demo"),
            },
        )
    with st.form("create_version"):
        st.markdown("**Create a version** of stored data (nothing is fetched)")
        symbols = st.multiselect("Symbols", stored, default=stored)
        d1, d2 = st.columns(2)
        start = d1.date_input("From", value=config.data.history_start)
        end = d2.date_input("To", value=head["last_date"] or pd.Timestamp.today())
        label = st.text_input("Label (optional)", max_chars=200)
        if st.form_submit_button("Create version", disabled=VIEWER) and not VIEWER:
            if not symbols:
                st.error("Pick at least one symbol.")
            elif start > end:
                st.error(f"'From' ({start}) is after 'To' ({end}).")
            else:
                data = run_action(
                    "Snapshotting…",
                    lambda: manager.get_market_data(
                        symbols, start, end, create_version=True, label=label or None, fetch=False
                    ),
                )
                if data is None:
                    audit("data_version", outcome="failed", detail={"symbols": len(symbols)})
                else:
                    audit("data_version", target=data.attrs["data_version"][:12], detail={"symbols": len(symbols)})
                    flash("success", f"Version {data.attrs['data_version'][:12]} ({len(symbols)} symbols).")
                    refresh()

with tab_fetch:
    left, right = st.columns(2)
    fetch_id = st.session_state.setdefault(FETCH_FORM_KEY, uuid.uuid4().hex)
    with left, st.form(f"fetch_{fetch_id}"):
        st.markdown("**Fetch market data**")
        st.caption(
            "Queued for the scheduler, which fetches only the sessions the store lacks, validates and logs every "
            "fetch (a fetch can take minutes: it never runs in the page)."
        )
        fetch_symbols = st.multiselect("Symbols", list(config.data.universe), default=list(config.data.universe))
        extra = st.text_input("More symbols (comma-separated)", placeholder="e.g. IBM, ORCL")
        f1, f2 = st.columns(2)
        f_start = f1.date_input("From", value=config.data.history_start, key="fetch_start")
        f_end = f2.date_input("To", value=pd.Timestamp.today(), key="fetch_end")
        refetch = st.checkbox("Fetch the whole range again", help="Re-download even sessions already stored")
        if st.form_submit_button("Fetch", type="primary", disabled=VIEWER) and not VIEWER:
            wanted = fetch_symbols + [x for x in extra.replace(";", ",").split(",") if x.strip()]
            if not wanted:
                st.error("Pick or type at least one symbol.")
            elif f_start > f_end:
                st.error(f"'From' ({f_start}) is after 'To' ({f_end}).")
            else:
                params = {"symbols": wanted, "start": str(f_start), "end": str(f_end), "refresh": refetch}
                job, error = attempt(
                    "Queueing the fetch…",
                    lambda: submit_job(get_engine(config.store_url, config.store.busy_timeout_ms), "data_fetch",
                                       params, submitted_by=user_name(), idempotency_key=f"fetch-{fetch_id}",
                                       config=config),
                )  # fmt: skip
                audit("job_submit", target="data_fetch", outcome="ok" if job is not None else "failed",
                      detail={"job_id": getattr(job, "id", None), "symbols": len(wanted), "error": error})  # fmt: skip
                if job is not None:
                    st.session_state[FETCH_FORM_KEY] = uuid.uuid4().hex  # the next submission is a new fetch
                    flash("info", f"Fetch queued as job #{job.id}: its progress is below.")
                    refresh()
                else:
                    st.error(f"The fetch was not queued: {error}")
    with left:
        live_panel(fetch_jobs_panel)
    with right, st.form("import"):
        st.markdown("**Import your own file**")
        st.caption("CSV or Parquet, long (symbol, date, OHLCV) or wide (date + one column per symbol).")
        upload = st.file_uploader("File", type=["csv", "parquet", "pq"])
        layout = st.radio("Layout", ["auto", "long", "wide"], horizontal=True)
        one_symbol = st.text_input("Symbol (for a one-symbol file without a symbol column)")
        mapping = st.text_input("Column mapping (optional)", placeholder="Px_Last=close, Ticker=symbol")
        if st.form_submit_button("Import", disabled=VIEWER) and not VIEWER:
            pairs = [p.strip() for p in mapping.split(",") if p.strip()]
            bad = [p for p in pairs if p.count("=") != 1 or not all(x.strip() for x in p.split("="))]
            if upload is None:
                st.error("Choose a file to import.")
            elif bad:
                st.error(f"Column mapping {', '.join(bad)}: write FILE_COLUMN=FIELD, separated by commas.")
            else:
                column_map = dict((a.strip(), b.strip()) for a, b in (p.split("=") for p in pairs)) or None
                summary = run_action(
                    f"Importing {upload.name}…",
                    lambda: manager.import_file(
                        upload,
                        name=upload.name,
                        layout=layout,
                        symbol=one_symbol.strip() or None,
                        column_map=column_map,
                    ),
                )
                audit("data_import", target=upload.name[:128], outcome="ok" if summary is not None else "failed")
                if summary is not None:
                    outcome(summary, f"import of {upload.name}")
                    refresh()

with tab_log:
    log = fetch_log()
    if log.empty:
        st.info("Nothing fetched or imported yet.")
    else:
        st.dataframe(
            log[
                [
                    "id",
                    "kind",
                    "source",
                    "origin",
                    "status",
                    "start_date",
                    "end_date",
                    "rows_stored",
                    "rows_rejected",
                    "rows_flagged",
                    "finished_at",
                    "symbols",
                    "message",
                ]
            ],
            hide_index=True,
            width="stretch",
            column_config={
                "start_date": st.column_config.DateColumn("from"),
                "end_date": st.column_config.DateColumn("to"),
                "finished_at": st.column_config.DatetimeColumn("finished (UTC)", format="YYYY-MM-DD HH:mm"),
            },
        )

"""Drift: each watched strategy's detector statistics against their thresholds over time and its drift events,
and the input drift (PSI) of each model's features."""

import altair as alt
import pandas as pd
import streamlit as st

from ravenshire.execution import drift_events, drift_observations, drift_subjects, feature_drift_history
from ravenshire.execution.drift import PSI_MODERATE, PSI_SHIFT
from ravenshire.ui import cached_query, require_frame, run_action, show_flashes

require_frame("pages/drift.py")  # first: only inside app.py's frame

subjects_q = cached_query(drift_subjects)
observations_q = cached_query(drift_observations)
events_q = cached_query(drift_events)
features_q = cached_query(feature_drift_history)

DETECTOR_NAMES = {
    "page_hinkley": ("Page-Hinkley", "PH vs λ"),
    "cusum": ("CUSUM", "S in backtest σ vs h"),
    "ks": ("Kolmogorov-Smirnov", "D vs D_crit, tested once the window is full"),
}
READINGS = ["stable", "moderate", "shift"]
READING_COLORS = ["#2ca02c", "#ff7f0e", "#d62728"]
EVENT_COLUMNS = ["date", "detector", "direction", "severity", "statistic", "threshold", "window", "step", "p_value",
                 "message", "at"]  # fmt: skip
START_HINT = (
    "Start a monitor from a stored backtest run: `python -m ravenshire drift start --run ID` (or `--returns "
    "FILE.csv`), or in Python `ExecutionManager().start_drift_monitor(run_id=ID)` (or `backtest_returns=...`). The "
    "monitoring cycle then feeds it each day's live return (`python -m ravenshire drift check RETURN --date DAY`, "
    "or `ExecutionManager().check_for_drift(r, when=day)`)."
)
#: Events shown per table (the newest).
EVENTS_SHOWN = 500
EVENT_CONFIG = {
    "date": st.column_config.DateColumn("date"),
    "statistic": st.column_config.NumberColumn("statistic", format="%.3f"),
    "threshold": st.column_config.NumberColumn("threshold", format="%.3f"),
    "p_value": st.column_config.NumberColumn("p-value", format="%.4f"),
    "at": st.column_config.DatetimeColumn("recorded (UTC)", format="YYYY-MM-DD HH:mm"),
}


def detector_chart(obs: pd.DataFrame, detector: str, fired: pd.DataFrame, x: str) -> alt.LayerChart:
    """The detector's statistic after each step (a line), its threshold (a rule, or a dashed line when it moves)
    and the values that fired (red points: after an alarm the statistic is reset, so the line does not show
    them)."""
    name, what = DETECTOR_NAMES.get(detector, (detector, "statistic against its threshold"))
    kind = "T" if x == "date" else "Q"
    frame = obs[[x, f"{detector}_statistic", f"{detector}_threshold"]].rename(
        columns={f"{detector}_statistic": "statistic", f"{detector}_threshold": "threshold"}
    )
    base = alt.Chart(frame).encode(x=alt.X(f"{x}:{kind}", title=None))
    line = base.mark_line(strokeWidth=1.4).encode(
        y=alt.Y("statistic:Q", title=None),
        tooltip=[alt.Tooltip(f"{x}:{kind}"), alt.Tooltip("statistic:Q", format=".3f"),
                 alt.Tooltip("threshold:Q", format=".3f")],
    )  # fmt: skip
    thresholds = frame["threshold"].dropna().unique()
    if len(thresholds) <= 1:
        level = pd.DataFrame({"threshold": thresholds[:1]})
        rule = alt.Chart(level).mark_rule(color="#d62728", strokeDash=[5, 4]).encode(y="threshold:Q")
    else:
        rule = base.mark_line(color="#d62728", strokeDash=[5, 4]).encode(y="threshold:Q")
    layers = [line, rule]
    points = fired.loc[fired["detector"] == detector, [x, "statistic", "message"]].dropna(subset=[x])
    if not points.empty:
        layers.append(
            alt.Chart(points)
            .mark_point(color="#d62728", filled=True, size=60)
            .encode(x=f"{x}:{kind}", y="statistic:Q", tooltip=["message"])
        )
    return alt.LayerChart(layer=layers).properties(height=200, title=alt.TitleParams(name, subtitle=what))


def psi_chart(day: pd.DataFrame) -> alt.LayerChart:
    """PSI per feature (bars, coloured by reading) over the reading bands: stable < 0.1 ≤ moderate < 0.25 ≤
    shift."""
    top = max(PSI_SHIFT * 1.6, float(day["psi"].max()) * 1.1)
    bands = pd.DataFrame({"start": [0.0, PSI_MODERATE, PSI_SHIFT], "end": [PSI_MODERATE, PSI_SHIFT, top],
                          "reading": READINGS})  # fmt: skip
    color = alt.Color("reading:N", scale=alt.Scale(domain=READINGS, range=READING_COLORS), title="reading")
    band = alt.Chart(bands).mark_rect(opacity=0.12).encode(x="start:Q", x2="end:Q", color=color)
    bars = (
        alt.Chart(day.rename(columns={"verdict": "reading"}))
        .mark_bar()
        .encode(
            y=alt.Y("feature:N", title=None, sort="-x"),
            x=alt.X("psi:Q", title="PSI", scale=alt.Scale(domain=[0, top])),
            color=color,
            tooltip=["feature", alt.Tooltip("psi:Q", format=".3f"), "reading", "n_reference", "n_current"],
        )
    )
    return alt.LayerChart(layer=[band, bars]).properties(height=max(120, 28 * len(day)))


st.title("Drift")
show_flashes()
st.caption(
    "Live returns of each strategy against its backtest (Page-Hinkley, CUSUM, windowed Kolmogorov-Smirnov), and "
    "the population stability index (PSI) of each model's inputs."
)


subjects = run_action("Reading the drift monitors…", subjects_q)
if subjects is None:
    st.stop()

st.subheader("Strategies")
if subjects.empty:
    st.info(f"No drift monitor is started. {START_HINT}")
else:
    st.dataframe(
        subjects,
        hide_index=True,
        width="stretch",
        column_config={
            "steps": st.column_config.NumberColumn("returns fed", format="%d"),
            "last_date": st.column_config.DateColumn("last date"),
            "reference_run_id": st.column_config.NumberColumn("reference run #", format="%d"),
            "created_at": st.column_config.DatetimeColumn("started (UTC)", format="YYYY-MM-DD HH:mm"),
            "updated_at": st.column_config.DatetimeColumn("last check (UTC)", format="YYYY-MM-DD HH:mm"),
            "events": st.column_config.NumberColumn("detections", help="in this life (since the last start)"),
            "events_all": st.column_config.NumberColumn("all detections", help="earlier lives included"),
        },
    )
    subject = st.selectbox("Strategy", list(subjects["subject"]))
    # The current life's events go with its observations (a start with replace deleted the earlier ones); the
    # events of earlier lives were measured against another reference: shown apart, never on the charts.
    read = run_action(
        "Reading the checks…",
        lambda: (
            observations_q(subject),
            events_q(subject, None, EVENTS_SHOWN, "current"),
            events_q(subject, None, EVENTS_SHOWN, "earlier"),
        ),
    )
    if read is not None:
        obs, events, earlier = read
        if obs.empty:
            st.info(
                f"{subject!r} is watched but has no live return yet: the monitoring cycle feeds one a day "
                "(`ExecutionManager().check_for_drift(r, when=day)`)."
            )
        else:
            x = "date" if obs["date"].notna().all() else "step"
            detectors = [c.removesuffix("_statistic") for c in obs.columns if c.endswith("_statistic")]
            columns = st.columns(max(1, len(detectors)))
            for column, detector in zip(columns, detectors, strict=False):
                column.altair_chart(detector_chart(obs, detector, events, x), width="stretch")
            st.caption(
                "Line: the statistic after each day's return; dashed red: the threshold; red points: the values "
                "that fired (the detector resets after an alarm)."
            )
        st.markdown(f"**Drift events of {subject}** (this life: since its last start)")
        if events.empty:
            st.success(f"No drift detected for {subject!r} since its last start.")
        else:
            st.dataframe(events[EVENT_COLUMNS], hide_index=True, width="stretch", column_config=EVENT_CONFIG)
        if not earlier.empty:
            more = " (the newest shown)" if len(earlier) == EVENTS_SHOWN else ""
            with st.expander(f"Earlier lives: {len(earlier)} event(s){more}"):
                st.caption(
                    f"Detections of {subject!r} before its last start with `--replace`: measured against the "
                    "reference of that time, and not on the charts above."
                )
                st.dataframe(earlier[EVENT_COLUMNS], hide_index=True, width="stretch", column_config=EVENT_CONFIG)

st.subheader("Input drift (PSI per feature)")
everything = run_action("Reading the drift events…", events_q)
if everything is not None:
    models = sorted(set(everything.loc[everything["detector"] == "psi", "subject"]))
    model = st.selectbox(
        "Model",
        models,
        index=0 if models else None,
        accept_new_options=True,
        placeholder="type a model's name, e.g. regime",
        help="Models with a recorded shift are listed; type the name of another model to see its PSI.",
    )
    history = None if not model else run_action("Reading the PSI history…", lambda: features_q(model))
    if not model:
        st.info(
            "No input drift shift recorded for any model. Record one with "
            "`ExecutionManager().drift_monitor().record_feature_drift(model, reference, current, when)`, or type a "
            "model's name above."
        )
    elif history is not None and history.empty:
        st.info(
            f"No input drift recorded for {model!r}: "
            "`ExecutionManager().drift_monitor().record_feature_drift(model, reference, current, when)` stores one."
        )
    elif history is not None:
        dates = sorted(history["date"].unique())
        day = st.selectbox(
            "Current sample ending", dates, index=len(dates) - 1, format_func=lambda d: f"{pd.Timestamp(d):%Y-%m-%d}"
        )
        shown = history[history["date"] == day]
        st.altair_chart(psi_chart(shown), width="stretch")
        st.caption(
            f"PSI reading: below {PSI_MODERATE:g} stable, {PSI_MODERATE:g}–{PSI_SHIFT:g} moderate shift, "
            f"{PSI_SHIFT:g} and above significant shift."
        )
        st.dataframe(
            shown[["feature", "psi", "verdict", "n_reference", "n_current"]],
            hide_index=True,
            width="stretch",
            column_config={"psi": st.column_config.NumberColumn("PSI", format="%.3f")},
        )

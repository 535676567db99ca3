"""Portfolio & risk: the book's current weights beside the Strategist's latest targets, its risk against the [RISK]
limits (a table, bars and the risk sphere), the assets' correlations, and the optimizers side by side.

Read only. Weights come from the ExecutionManager's positions and equity, targets from the newest agent cycle,
every figure from STORED prices (nothing is fetched) through :mod:`ravenshire.portfolio.queries`, cached.
"""

import math

import altair as alt
import numpy as np
import pandas as pd
import pydeck as pdk
import streamlit as st
from sqlalchemy import Engine

from ravenshire.data import queries as data_queries
from ravenshire.errors import ConfigError
from ravenshire.portfolio import queries as pq
from ravenshire.ui import cached_query, execution_query, get_config, require_frame, run_action, show_flashes

require_frame("pages/portfolio.py")  # first: only inside app.py's frame

account_q = execution_query("account")
metrics_q = execution_query("get_performance_metrics")
positions_q = execution_query("positions")
curve_q = execution_query("equity_curve")
targets_q = cached_query(pq.latest_targets)
totals_q = cached_query(data_queries.store_totals)

#: Lookbacks offered for the optimizers and the risk figures [sessions].
LOOKBACKS = [63, 126, 252, 504]
#: Session keys (not widget keys, so the choices survive a change of page).
SYMBOLS_KEY = "_portfolio_symbols"
LOOKBACK_KEY = "_portfolio_lookback"
LIMITS_KEY = "_portfolio_risk_limits"
#: The risk sphere: radius of the VaR-limit shell in scene units, points on the sphere and on the shell.
SHELL = 100.0
SPHERE_POINTS = 2400
SHELL_POINTS = 500
#: Up to this many symbols the optimizers run with the page; above, when asked (a button).
AUTO_COMPARE = 40
#: Symbols in the correlation heatmap at most (the largest positions).
HEATMAP_MAX = 40
COMPARED_KEY = "_portfolio_compared"
GREEN, AMBER, RED, GREY = [46, 160, 67], [245, 166, 35], [214, 39, 40], [150, 150, 150]
STATUS_COLORS = {"ok": "#2ea043", "warning": "#f5a623", "breach": "#d62728", "above VaR limit": "#d62728",
                 "no limit": "#9e9e9e"}  # fmt: skip
NO_POSITION = (
    "No open position: the book is all cash, so there is no risk to measure. Send a paper order on the "
    "**Execution** page, or let the agent cycle trade: `python -m ravenshire cycle`, or start `python scheduler.py`."
)
NO_TARGETS = (
    "No target weights yet: the Strategist proposes them in every agent cycle. Run one with `python -m ravenshire "
    "cycle`, or start `python scheduler.py` (it needs stored market data: see the **Data** page)."
)
NO_PRICES = (
    "The store holds no prices yet: weights, risk and the optimizers are computed from stored prices. Fetch data "
    "on the **Data** page, or run `python -m ravenshire fetch`."
)


# --------------------------------------------------------------------------- cached computations (stored prices)
def portfolio_returns(engine: Engine, symbols: tuple[str, ...], lookback: int) -> pd.DataFrame:
    return pq.stored_returns(engine, get_config(), symbols, lookback)


def portfolio_comparison(engine: Engine, symbols: tuple[str, ...], lookback: int, risk_limits: bool) -> pq.Comparison:
    returns = pq.stored_returns(engine, get_config(), symbols, lookback)
    return pq.compare_optimizers(returns, get_config(), risk_limits=risk_limits)


def portfolio_risk(
    engine: Engine, weights: tuple[tuple[str, float], ...], lookback: int, equity: tuple[float, ...]
) -> pq.RiskOverview:
    w = pd.Series(dict(weights), dtype=float)
    returns = pq.stored_returns(engine, get_config(), tuple(w.index), lookback)
    if returns.attrs["missing"]:
        raise ConfigError(f"no stored prices for {', '.join(returns.attrs['missing'])}: fetch them on the Data page")
    curve = pd.Series(equity, dtype=float) if len(equity) >= 2 else None
    return pq.risk_overview(w, returns, get_config(), equity_curve=curve)


returns_q = cached_query(portfolio_returns)
comparison_q = cached_query(portfolio_comparison)
risk_q = cached_query(portfolio_risk)


# --------------------------------------------------------------------------- formatting
def pct(x: float | None, digits: int = 1) -> str:
    return "—" if x is None or not math.isfinite(x) else f"{100 * x:.{digits}f} %"


def shown(value: float, key: str | None, figure: str) -> str:
    """A figure in its unit: leverage as a multiple, the Herfindahl index as a number, the rest in percent."""
    if not math.isfinite(value):
        return "—"
    if key == "max_leverage":
        return f"{value:.2f}×"
    if figure.startswith("Herfindahl"):
        return f"{value:.3f}"
    return pct(value, 2)


def risk_colour(ratio: float) -> list[int]:
    """Green under 50 % of the VaR limit, amber to 100 %, red beyond."""
    if not math.isfinite(ratio) or ratio > 1.0:
        return RED
    return GREEN if ratio < 0.5 else AMBER


def risk_word(ratio: float) -> str:
    if not math.isfinite(ratio) or ratio > 1.0:
        return "red: above the VaR limit"
    return "green: under half the VaR limit" if ratio < 0.5 else "amber: between half the VaR limit and the limit"


# --------------------------------------------------------------------------- the risk sphere
def fibonacci_sphere(n: int, radius: float) -> np.ndarray:
    """``n`` points spread evenly on a sphere of ``radius`` (the Fibonacci lattice), as an (n, 3) array."""
    k = np.arange(n) + 0.5
    z = 1.0 - 2.0 * k / n
    r = np.sqrt(1.0 - z * z)
    phi = math.pi * (3.0 - math.sqrt(5.0)) * k
    return radius * np.column_stack([r * np.cos(phi), r * np.sin(phi), z])


def sphere_radius(ratio: float) -> float:
    """The sphere's radius: the limit shell's at 100 % of the VaR limit; its volume grows with the ratio."""
    bounded = min(max(ratio if math.isfinite(ratio) else 2.0, 0.05), 2.0)
    return SHELL * bounded ** (1.0 / 3.0)


def sphere_points(ratio: float, label: str) -> pd.DataFrame:
    """The risk sphere as a point cloud, shaded (lighter towards +z and +x) so it reads as a ball."""
    xyz = fibonacci_sphere(SPHERE_POINTS, sphere_radius(ratio))
    unit = xyz / np.linalg.norm(xyz, axis=1, keepdims=True)
    light = 0.55 + 0.45 * np.clip(unit @ np.array([0.45, 0.35, 0.82]), 0.0, 1.0)
    base = np.array(risk_colour(ratio), dtype=float)
    colours = np.clip(base[None, :] * light[:, None], 0, 255).astype(int)
    return pd.DataFrame({"x": xyz[:, 0], "y": xyz[:, 1], "z": xyz[:, 2], "color": colours.tolist(), "label": label})


def risk_sphere(ratio: float, label: str) -> pdk.Deck:
    """A pydeck OrbitView (no map, no tiles: it draws offline): the risk sphere inside the grey shell of the VaR
    limit."""
    shell = fibonacci_sphere(SHELL_POINTS, SHELL)
    shell_frame = pd.DataFrame({"x": shell[:, 0], "y": shell[:, 1], "z": shell[:, 2], "label": "VaR limit"})
    layers = [
        pdk.Layer(
            "PointCloudLayer",
            shell_frame,
            id="limit-shell",
            get_position="[x, y, z]",
            get_color=[*GREY, 110],
            get_normal=[0, 0, 1],
            material=False,
            point_size=2,
        ),
        pdk.Layer(
            "PointCloudLayer",
            sphere_points(ratio, label),
            id="risk-sphere",
            get_position="[x, y, z]",
            get_color="color",
            get_normal=[0, 0, 1],
            material=False,  # flat: the shading is in the colours, whatever the light
            point_size=5,
            pickable=True,
        ),
    ]
    return pdk.Deck(
        layers=layers,
        views=[pdk.View(type="OrbitView", controller=True)],
        initial_view_state=pdk.ViewState(
            target=[0, 0, 0], rotation_orbit=30, rotation_x=20, zoom=0.45, min_zoom=-2, max_zoom=5
        ),
        map_style=None,
        tooltip={"text": "{label}"},
    )


# --------------------------------------------------------------------------- charts
def weights_chart(frame: pd.DataFrame) -> alt.Chart:
    """Current and target weights by symbol, side by side."""
    long = frame.reset_index().melt(id_vars="symbol", var_name="book", value_name="weight").dropna()
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("symbol:N", title=None),
            xOffset="book:N",
            y=alt.Y("weight:Q", title="Weight [% of equity]", axis=alt.Axis(format="%")),
            color=alt.Color("book:N", title=None, scale=alt.Scale(range=["#1f77b4", "#ff7f0e", "#9467bd"])),
            tooltip=["symbol", "book", alt.Tooltip("weight:Q", format=".2%")],
        )
        .properties(height=260)
    )


def utilisation_chart(table: pd.DataFrame) -> alt.LayerChart:
    """Each limited figure as a bar of its limit's use, coloured by status, with the limit (100 %) as a rule."""
    limited = table[table["limit"].notna()].copy()
    limited["label"] = limited["figure"] + " · " + limited["subject"]
    limited["used"] = limited["utilisation"].clip(upper=2.0)
    domain = list(STATUS_COLORS)
    bars = (
        alt.Chart(limited)
        .mark_bar()
        .encode(
            y=alt.Y("label:N", title=None, sort=None),
            x=alt.X("used:Q", title="Use of the limit [%]", axis=alt.Axis(format="%"),
                    scale=alt.Scale(domain=[0, 1.2])),
            color=alt.Color("status:N", scale=alt.Scale(domain=domain, range=[STATUS_COLORS[d] for d in domain]),
                            legend=alt.Legend(title=None, orient="bottom")),
            tooltip=["figure", "subject", alt.Tooltip("utilisation:Q", title="use", format=".0%"), "status"],
        )
    )  # fmt: skip
    rule = alt.Chart(pd.DataFrame({"x": [1.0]})).mark_rule(color="#d62728", strokeDash=[4, 3]).encode(x="x:Q")
    return (bars + rule).properties(height=34 * max(len(limited), 1) + 40)


def correlation_chart(returns: pd.DataFrame) -> alt.Chart:
    """The assets' return correlations (Pearson) as a heatmap with the values written in."""
    corr = returns.corr()
    corr.index.name = "a"
    cells = corr.reset_index().melt(id_vars="a", var_name="b", value_name="correlation")
    order = list(corr.columns)
    base = alt.Chart(cells).encode(x=alt.X("b:N", title=None, sort=order), y=alt.Y("a:N", title=None, sort=order))
    heat = base.mark_rect().encode(
        color=alt.Color("correlation:Q", scale=alt.Scale(scheme="redblue", domain=[-1, 1], reverse=True)),
        tooltip=["a", "b", alt.Tooltip("correlation:Q", format=".2f")],
    )
    text = base.mark_text(fontSize=10).encode(
        text=alt.Text("correlation:Q", format=".2f"),
        color=alt.condition("abs(datum.correlation) > 0.6", alt.value("white"), alt.value("black")),
    )
    side = 36 * len(order) + 40
    return (heat + text).properties(width=max(side, 200), height=max(side, 200))


def comparison_chart(weights: pd.DataFrame) -> alt.Chart:
    long = weights.reset_index().melt(id_vars="symbol", var_name="method", value_name="weight").dropna()
    return (
        alt.Chart(long)
        .mark_bar()
        .encode(
            x=alt.X("method:N", title=None, sort=list(weights.columns)),
            y=alt.Y("weight:Q", title="Weight [%]", axis=alt.Axis(format="%"), stack="zero"),
            color=alt.Color("symbol:N", title="symbol"),
            tooltip=["method", "symbol", alt.Tooltip("weight:Q", format=".2%")],
        )
        .properties(height=300)
    )


# --------------------------------------------------------------------------- the page
config = get_config()
st.title("Portfolio & risk")
show_flashes()
st.caption(
    "The book's weights against the Strategist's latest targets, its risk against the [RISK] limits, and what each "
    "optimizer would hold — all from stored prices (nothing is fetched here)."
)

totals = run_action("Reading the store…", totals_q)
if totals is not None and totals["bars"] == 0:
    st.info(NO_PRICES)
read = run_action("Reading the ledger…", lambda: (account_q(), metrics_q(), positions_q(), curve_q()))
if read is None:
    st.stop()
account, metrics, positions, snapshots = read
targets = run_action("Reading the latest agent cycle…", targets_q)
current = run_action("Computing the weights…", lambda: pq.position_weights(positions, metrics.equity))
if current is None:
    st.stop()
demo = config.is_demo or (targets is not None and targets.is_demo)
if demo:
    st.markdown(":orange-badge[:material/science: DEMO DATA] figures computed from synthetic (demo) prices")

# ---- weights
st.subheader("Weights")
invested = float(current.sum()) if len(current) else 0.0
cols = st.columns(5)
cols[0].metric(f"Equity [{account.currency}]", f"{metrics.equity:,.2f}")
cols[1].metric("Invested [%]", pct(invested), help="Σ position value / equity (net)")
cols[2].metric("Cash [%]", pct(metrics.cash / metrics.equity if metrics.equity > 0 else math.nan))
cols[3].metric("Positions", f"{len(current)}")
cols[4].metric("Target invested [%]", "—" if targets is None else pct(targets.gross),
               help="the Strategist's gross target of the latest agent cycle")  # fmt: skip
if current.empty:
    st.info(NO_POSITION)
if targets is None:
    st.caption(NO_TARGETS)
else:
    exposure = "?" if targets.multiplier is None else f"{targets.multiplier:g}"
    st.caption(
        f"Targets: the Strategist's proposal in agent cycle **{targets.cycle_id}** ({targets.optimizer or '?'} "
        f"weights, regime {targets.regime or '?'}, exposure × {exposure}"
        f"); the Sovereign's decision: **{targets.recommendation or 'none yet'}** (cycle {targets.status})."
    )
target = targets.weights if targets is not None else pd.Series(dtype=float)
book = pd.concat([current.rename("current"), target.rename("target")], axis=1).astype(float).fillna(0.0)
book.index.name = "symbol"
if targets is None:
    book = book.drop(columns="target")  # no proposal: nothing to compare with
else:
    book["difference"] = book["target"] - book["current"]
if len(book):
    left, right = st.columns([3, 2], gap="large")
    with left:
        st.altair_chart(weights_chart(book.drop(columns="difference", errors="ignore")), width="stretch")
    with right:
        st.dataframe(
            book.reset_index(),
            hide_index=True,
            width="stretch",
            column_config={
                "current": st.column_config.NumberColumn("current [%]", format="percent"),
                "target": st.column_config.NumberColumn("target [%]", format="percent"),
                "difference": st.column_config.NumberColumn("target − current", format="percent"),
            },
        )

# ---- the choices shared by the risk figures and the optimizers
universe = list(config.data.universe)
held = [str(x) for x in current.index]
options = sorted(set(universe) | set(held) | (set(targets.weights.index) if targets is not None else set()))
with st.sidebar:
    st.markdown("**Portfolio & risk**")
    kept_lookback = st.session_state.get(LOOKBACK_KEY, 252)
    lookback = st.select_slider(
        "Lookback [sessions]",
        LOOKBACKS,
        value=kept_lookback if kept_lookback in LOOKBACKS else 252,
        help="the stored sessions the risk figures and the optimizers use",
    )
    st.session_state[LOOKBACK_KEY] = lookback

# ---- risk against the limits
st.subheader("Risk against the limits")
if current.empty:
    st.info(NO_POSITION)
else:
    equity = [float(account.initial_cash), *(float(x) for x in snapshots["equity"]), float(metrics.equity)]
    weights_arg = tuple((str(k), float(v)) for k, v in current.items())
    risk = run_action("Measuring the book's risk…", lambda: risk_q(weights_arg, lookback, tuple(equity)))
    if risk is not None:
        ratio = risk.var_ratio
        table = risk.table.copy()
        table["value_text"] = [
            shown(v, k, f) for v, k, f in zip(table["value"], table["limit_key"], table["figure"], strict=True)
        ]
        table["limit_text"] = [
            "—" if pd.isna(lim) else shown(float(lim), k, f)
            for lim, k, f in zip(table["limit"], table["limit_key"], table["figure"], strict=True)
        ]
        left, right = st.columns([3, 2], gap="large")
        with left:
            st.dataframe(
                table[["figure", "subject", "value_text", "limit_text", "utilisation", "status"]],
                hide_index=True,
                width="stretch",
                column_config={
                    "value_text": st.column_config.TextColumn("value"),
                    "limit_text": st.column_config.TextColumn("limit [RISK]"),
                    "utilisation": st.column_config.ProgressColumn("use of the limit", format="percent",
                                                                   min_value=0.0, max_value=1.0),
                },
            )  # fmt: skip
            st.altair_chart(utilisation_chart(risk.table), width="stretch")
            report = risk.report
            for b in report.breaches:
                (st.error if b.severity == "breach" else st.warning)(b.message + ".")
            if report.ok and not report.warnings:
                st.success("Every [RISK] limit is met (none above 90 % of its limit).")
            st.caption(
                f"One-day 95 % VaR and CVaR ({config.risk.var_method.replace('_', '-')}) of the current weights held "
                f"over the last {risk.metrics.n_obs} stored sessions to {risk.metrics.as_of}; current drawdown "
                f"from the {risk.drawdown_source} (the account's equity, its initial cash first); leverage and "
                "weights are fractions of equity."
            )
        with right:
            label = f"VaR {pct(risk.metrics.var_95, 2)} — {pct(ratio, 0)} of the {pct(config.risk.var_limit, 2)} limit"
            st.pydeck_chart(risk_sphere(ratio, label), height=380)
            st.caption(
                f"**Risk sphere** — {label}; {risk_word(ratio)}. The sphere's volume follows VaR / var_limit; the "
                "grey shell is the limit (the sphere fills it at 100 %). Drag to rotate."
            )


def show_comparison(
    comparison: pq.Comparison, returns: pd.DataFrame, current: pd.Series, targets: pq.TargetWeights | None
) -> None:
    """The optimizers' weights beside the current and target ones, their summary and chart."""
    weights = comparison.weights.copy()
    weights.insert(0, "current", current.reindex(weights.index).fillna(0.0))
    if targets is not None:
        weights.insert(1, "target", targets.weights.reindex(weights.index).fillna(0.0))
    st.markdown(f"**Weights** over {len(returns)} sessions to {returns.index[-1]:%Y-%m-%d}; "
                f"{comparison.constraints}")  # fmt: skip
    st.dataframe(
        weights.reset_index(),
        hide_index=True,
        width="stretch",
        column_config={c: st.column_config.NumberColumn(c, format="percent") for c in weights.columns},
    )
    st.dataframe(
        comparison.summary,
        hide_index=True,
        width="stretch",
        column_config={
            "expected_return": st.column_config.NumberColumn("return [/yr]", format="percent"),
            "volatility": st.column_config.NumberColumn("volatility [/yr]", format="percent"),
            "sharpe_ratio": st.column_config.NumberColumn("Sharpe", format="%.2f"),
            "largest_weight": st.column_config.NumberColumn("largest weight", format="percent"),
            "n_assets": st.column_config.NumberColumn("assets held", format="%d"),
            "error": st.column_config.TextColumn("error (no weights)", width="large"),
        },
    )
    failed = comparison.summary["error"].notna().sum()
    if failed:
        st.caption(
            f"{failed} method(s) could not meet the constraints (their error is in the table): turn "
            "**[RISK] limits** off to compare them long-only and fully invested."
        )
    if len(comparison.weights.columns):
        st.altair_chart(comparison_chart(comparison.weights), width="stretch")


# ---- correlations and the optimizers
st.subheader("Optimizers side by side")
kept = [x for x in st.session_state.get(SYMBOLS_KEY, held or universe) if x in options]
c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
symbols = c1.multiselect("Symbols", options, default=kept or options,
                         help="the held symbols by default (the universe when nothing is held)")  # fmt: skip
st.session_state[SYMBOLS_KEY] = symbols
risk_limits = c2.toggle("[RISK] limits", value=st.session_state.get(LIMITS_KEY, True),
                        help="hold each weight to max_position_weight and the gross to max_leverage")  # fmt: skip
st.session_state[LIMITS_KEY] = risk_limits
if len(symbols) < 2:
    st.info("Choose at least two symbols to compare the optimizers and draw their correlations.")
elif totals is not None and totals["bars"] > 0:
    chosen = tuple(sorted(symbols))
    returns = run_action("Reading the stored prices…", lambda: returns_q(chosen, lookback))
    asked = st.session_state.setdefault(COMPARED_KEY, set())
    key = (chosen, lookback, risk_limits)
    comparison = None
    if len(chosen) <= AUTO_COMPARE or key in asked:
        comparison = run_action("Running the optimizers…", lambda: comparison_q(chosen, lookback, risk_limits))
    else:  # seven optimizations of a large book take seconds: not in every page render, only when asked
        st.caption(f"{len(chosen)} symbols: the seven optimizers take a few seconds on a book this size.")
        if st.button(f"Compare the optimizers on {len(chosen)} symbols", type="primary"):
            asked.add(key)
            comparison = run_action("Running the optimizers…", lambda: comparison_q(chosen, lookback, risk_limits))
    if returns is not None and returns.attrs.get("missing"):
        st.warning(
            f"No stored prices for {', '.join(returns.attrs['missing'])}: left out. Fetch them on the **Data** page."
        )
    if returns is not None:
        if len(returns) < 2 or returns.shape[1] < 2:
            st.info("Too few stored sessions common to these symbols: fetch more history on the **Data** page.")
        else:
            left, right = st.columns([3, 2], gap="large")
            with left:
                if comparison is not None:
                    show_comparison(comparison, returns, current, targets)
            with right:
                shown = returns
                if returns.shape[1] > HEATMAP_MAX:  # a readable heatmap: the largest positions
                    top = current.reindex(returns.columns).abs().fillna(0.0).nlargest(HEATMAP_MAX).index
                    shown = returns[sorted(top)]
                    st.caption(f"The {HEATMAP_MAX} largest of {returns.shape[1]} positions.")
                st.markdown("**Correlations** of daily returns")
                st.altair_chart(correlation_chart(shown), width="content")
                st.caption("Expected returns and volatilities are annualised (252 days); covariance Ledoit-Wolf.")

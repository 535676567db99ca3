"""Clusters: the assets of an agent cycle in 3D (their PCA embedding, coloured by cluster, in a pydeck OrbitView),
beside the per-cluster table, and each asset's figures."""

from typing import Any

import altair as alt
import pandas as pd
import pydeck as pdk
import streamlit as st

from ravenshire.agents import queries as agent_queries
from ravenshire.ui import cached_query, require_frame, run_action, show_flashes

require_frame("pages/clusters.py")  # first: only inside app.py's frame

cycles_q = cached_query(agent_queries.cluster_cycles)
snapshot_q = cached_query(agent_queries.cluster_snapshot)

#: Session key (not a widget key, so the choice survives a change of page).
CYCLE_KEY = "_clusters_cycle"
#: Half the width of the 3D scene in deck.gl units: the embedding is scaled to it (zoom 0 is 1 unit per pixel).
SCENE = 160.0
#: Cluster colours (Tableau 10), for the 3D view and the charts alike.
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
           "#17becf"]  # fmt: skip
NO_CLUSTERS = (
    "No asset clusters stored yet. The Analyst clusters the universe in every agent cycle: run one with `python -m "
    "ravenshire cycle`, or start `python scheduler.py`. It needs market data for at least three assets of [DATA] "
    "universe (open the **Data** page or run `python -m ravenshire fetch` first)."
)
PERCENT = "percent"


def rgb(color: str) -> list[int]:
    return [int(color[k : k + 2], 16) for k in (1, 3, 5)]


def colour_of(cluster: int) -> str:
    return PALETTE[int(cluster) % len(PALETTE)]


def fmt(x: Any, spec: str) -> str:
    return "—" if x is None or pd.isna(x) else format(float(x), spec)


def scene_points(assets: pd.DataFrame) -> pd.DataFrame:
    """The assets with their coordinates scaled to the scene, a colour, and the tooltip's texts."""
    xyz = assets[["x", "y", "z"]].astype(float)
    span = float(xyz.abs().to_numpy().max()) if len(xyz) else 0.0
    scale = SCENE / span if span > 0 else 1.0
    points = pd.DataFrame(
        {
            "symbol": assets["symbol"],
            "cluster": assets["cluster"].astype(int),
            "px": xyz["x"] * scale,
            "py": xyz["y"] * scale,
            "pz": xyz["z"] * scale,
            "color": [rgb(colour_of(c)) for c in assets["cluster"]],
            "ret": [fmt(v, "+.1%") for v in assets["return"]],
            "vol": [fmt(v, ".1%") for v in assets["volatility"]],
            "beta_text": [fmt(v, ".2f") for v in assets["beta"]],
        }
    )
    return points


def axis_labels(explained: tuple[float, ...] | None) -> list[str]:
    names = ["PC1", "PC2", "PC3"]
    if not explained:
        return names
    return [f"{n} ({v:.0%})" for n, v in zip(names, [*explained, 0.0, 0.0, 0.0][:3], strict=True)]


def deck(points: pd.DataFrame, explained: tuple[float, ...] | None) -> pdk.Deck:
    """A non-map 3D view: one point per asset, its symbol beside it, the three principal axes."""
    length = SCENE * 1.15
    ends = [[length, 0, 0], [0, length, 0], [0, 0, length]]
    axes = pd.DataFrame({"source": [[0, 0, 0]] * 3, "target": ends, "label": axis_labels(explained)})
    layers = [
        pdk.Layer(
            "LineLayer",
            axes,
            get_source_position="source",
            get_target_position="target",
            get_color=[140, 140, 140],
            get_width=1.5,
        ),
        pdk.Layer(
            "TextLayer",
            axes,
            get_position="target",
            get_text="label",
            get_size=13,
            get_color=[150, 150, 150],
            get_alignment_baseline="'bottom'",
        ),
        pdk.Layer(
            "PointCloudLayer",
            points,
            id="assets",
            get_position="[px, py, pz]",
            get_color="color",
            get_normal=[0, 0, 1],
            material=False,  # flat: each point in its cluster's own colour, whatever the light
            point_size=14,
            pickable=True,
            auto_highlight=True,
        ),
        pdk.Layer(
            "TextLayer",
            points,
            get_position="[px, py, pz]",
            get_text="symbol",
            get_size=13,
            get_color=[150, 150, 150],
            get_pixel_offset=[0, -14],
            pickable=True,
        ),
    ]
    return pdk.Deck(
        layers=layers,
        views=[pdk.View(type="OrbitView", controller=True)],
        initial_view_state=pdk.ViewState(
            target=[0, 0, 0], rotation_orbit=30, rotation_x=25, zoom=0.15, min_zoom=-3, max_zoom=6
        ),
        map_style=None,
        tooltip={"text": "{symbol} — cluster {cluster}\nreturn {ret} a year\nvolatility {vol}\nbeta {beta_text}"},
    )


def scatter(assets: pd.DataFrame) -> alt.Chart:
    """Return against volatility, coloured by cluster (the same colours as the 3D view)."""
    clusters = sorted(int(c) for c in assets["cluster"].unique())
    color = alt.Color(
        "cluster:N", scale=alt.Scale(domain=clusters, range=[colour_of(c) for c in clusters]), title="cluster"
    )
    base = alt.Chart(assets).encode(
        x=alt.X("volatility:Q", title="Volatility [%/yr]", axis=alt.Axis(format="%"), scale=alt.Scale(zero=False)),
        y=alt.Y("return:Q", title="Return [%/yr]", axis=alt.Axis(format="%")),
    )
    dots = base.mark_circle(size=90).encode(
        color=color,
        tooltip=["symbol", "cluster", alt.Tooltip("return:Q", format="+.1%"),
                 alt.Tooltip("volatility:Q", format=".1%"), alt.Tooltip("beta:Q", format=".2f")],
    )  # fmt: skip
    labels = base.mark_text(dx=8, align="left", fontSize=11).encode(text="symbol")
    return (dots + labels).properties(height=280)


st.title("Clusters")
show_flashes()
st.caption(
    "The Analyst's asset clusters of an agent cycle: each asset's standardised figures (return, volatility, beta, "
    "factor loadings) projected on their first three principal components. Drag to rotate, scroll to zoom, hover "
    "for an asset's figures."
)

cycles = run_action("Reading the cycles…", cycles_q)
if cycles is None:
    st.stop()
if cycles.empty:
    st.info(NO_CLUSTERS)
    st.stop()

ids = list(cycles["cycle_id"])
labels = {
    r.cycle_id: f"{r.business_date:%Y-%m-%d} — {r.cycle_id} ({r.n_assets} assets, {r.k} clusters)"
    + (" · demo" if r.is_demo else "")
    for r in cycles.itertuples()
}
kept = st.session_state.get(CYCLE_KEY)
chosen = st.selectbox(
    "Cycle",
    ids,
    index=ids.index(kept) if kept in ids else 0,
    format_func=lambda i: labels.get(i, i),
    help="The newest first.",
)
st.session_state[CYCLE_KEY] = chosen

snap = run_action("Reading the clusters…", lambda: snapshot_q(chosen))
if snap is None:
    st.info(f"The clusters of {chosen} are no longer stored. {NO_CLUSTERS}")
    st.stop()

if snap.is_demo:
    st.markdown(":orange-badge[:material/science: DEMO DATA] these clusters were computed on synthetic prices")

view, table = st.columns([1, 1], gap="large")
with view:
    st.pydeck_chart(deck(scene_points(snap.assets), snap.explained_variance), height=520)
    variance = (
        ""
        if not snap.explained_variance
        else f" The three axes explain {sum(snap.explained_variance[:3]):.0%} of the standardised variance."
    )
    st.caption(f"{len(snap.assets)} assets in {snap.k} clusters on {snap.business_date:%Y-%m-%d}.{variance}")
with table:
    st.markdown("**Clusters** (the members' means)")
    st.dataframe(
        snap.clusters,
        hide_index=True,
        width="stretch",
        column_config={
            "cluster": st.column_config.NumberColumn("cluster", format="%d"),
            "n_assets": st.column_config.NumberColumn("assets", format="%d"),
            "return": st.column_config.NumberColumn("return [/yr]", format=PERCENT),
            "volatility": st.column_config.NumberColumn("vol [/yr]", format=PERCENT),
            "beta": st.column_config.NumberColumn("beta", format="%.2f"),
            "silhouette": st.column_config.NumberColumn("silhouette", format="%.2f",
                                                        help="members' mean silhouette: near 1 well separated"),
            "members": st.column_config.TextColumn("members", width="large"),
        },
    )  # fmt: skip
    legend = " &nbsp; ".join(
        f"<span style='color:{colour_of(c)}'>●</span> cluster {c}" for c in snap.clusters["cluster"]
    )
    st.markdown(legend, unsafe_allow_html=True)
    st.caption("Returns and volatilities are annualised (252 days); beta is to the universe's equal-weighted mean.")

st.subheader("Assets")
left, right = st.columns([3, 2], gap="large")
with left:
    shown = snap.assets[["symbol", "cluster", "return", "volatility", "beta", "x", "y", "z"]]
    st.dataframe(
        shown,
        hide_index=True,
        width="stretch",
        column_config={
            "return": st.column_config.NumberColumn("return [/yr]", format=PERCENT),
            "volatility": st.column_config.NumberColumn("volatility [/yr]", format=PERCENT),
            "beta": st.column_config.NumberColumn("beta", format="%.2f"),
            "x": st.column_config.NumberColumn("PC1", format="%.3f"),
            "y": st.column_config.NumberColumn("PC2", format="%.3f"),
            "z": st.column_config.NumberColumn("PC3", format="%.3f"),
        },
    )
with right:
    st.altair_chart(scatter(snap.assets), width="stretch")

"""Altair charts more than one page draws."""

from __future__ import annotations

import altair as alt
import pandas as pd

__all__ = ["equity_chart"]


def equity_chart(curve: pd.DataFrame, *, title: str = "Equity", height: int = 260) -> alt.Chart:
    """The book's daily snapshots (``equity_curve()``: indexed by date, with ``equity``, ``daily_pnl`` and
    ``drawdown``) as a line, points drawn while there are few, the day's figures in the tooltip."""
    points = curve.reset_index()
    return (
        alt.Chart(points)
        .mark_line(point=len(points) < 40, strokeWidth=1.6)
        .encode(
            x=alt.X("date:T", title=None),
            y=alt.Y("equity:Q", title=title, scale=alt.Scale(zero=False), axis=alt.Axis(format=",.0f")),
            tooltip=[
                alt.Tooltip("date:T"),
                alt.Tooltip("equity:Q", format=",.2f"),
                alt.Tooltip("daily_pnl:Q", title="daily P&L", format=",.2f"),
                alt.Tooltip("drawdown:Q", format=".1%"),
            ],
        )
        .properties(height=height)
    )

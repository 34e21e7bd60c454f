"""A sweep's metric against one swept key: one point per job, the mean per value joined by a line."""

from __future__ import annotations

from collections.abc import Sequence
from statistics import mean

import plotly.graph_objects as go

from bilin.figures.style import finish


def metric_against_key(values: Sequence[object], metric: Sequence[float], key: str, name: str) -> go.Figure:
    """`values[i]` is job i's value of `key`, `metric[i]` its metric `name`."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    xs = list(values) if numeric else [str(v) for v in values]
    levels = sorted(set(xs)) if numeric else list(dict.fromkeys(xs))
    means = [mean(m for x, m in zip(xs, metric, strict=True) if x == level) for level in levels]
    fig = go.Figure(
        [
            go.Scatter(x=xs, y=list(metric), mode="markers", name="job", marker={"size": 8, "opacity": 0.7}),
            go.Scatter(x=levels, y=means, mode="lines", name="mean", line={"color": "#444"}),
        ]
    )
    fig.update_layout(xaxis_title=key, yaxis_title=name)
    finish(fig, f"{name} against {key}", size=(560, 360), subtitle="one point per job; the line joins the means")
    if not numeric:
        fig.update_xaxes(type="category")
    elif all(isinstance(v, int) for v in values) and len(levels) <= 12:  # seeds, sizes: no 0.2, 0.4 ticks
        fig.update_xaxes(tickvals=levels)
    return fig

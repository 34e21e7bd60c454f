"""Figures of the contrast-sensitivity probe: training curves, psychometric fits, the CSF."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from bilin.csf.measure import CURVE_CONTRASTS, CsfSweep, LayerCSF


def training_figure(rows: Sequence[Mapping], layers: Sequence[str], title: str) -> go.Figure:
    fig = make_subplots(rows=1, cols=2, subplot_titles=["accuracy", "loss / ln 2 (1 = chance)"])
    for i, layer in enumerate(layers):
        mine = [r for r in rows if r["layer"] == layer]
        colour = qualitative.Plotly[i % 10]
        epochs = [r["epoch"] for r in mine]
        fig.add_trace(go.Scatter(x=epochs, y=[r["accuracy"] for r in mine], name=layer, line_color=colour), 1, 1)
        fig.add_trace(
            go.Scatter(
                x=epochs, y=[r["normalised_loss"] for r in mine], name=layer, line_color=colour, showlegend=False
            ),
            1,
            2,
        )
    fig.update_xaxes(title_text="epoch")
    fig.update_layout(title=title, template="plotly_white", width=1000, height=450)
    return fig


def psychometric_figure(layer: LayerCSF, title: str) -> go.Figure:
    """One panel per frequency: proportion correct at each tested contrast (marker area ~ trials)
    and the fitted Weibull, with the 75% threshold's CI."""
    stair, fit, sfs = layer.stair, layer.fit, layer.sfs
    cols = min(4, len(sfs))
    rows = -(-len(sfs) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{sf:g} cycles/image" for sf in sfs],
        vertical_spacing=0.2 if rows > 1 else 0.1,
    )
    curves = layer.psychometric_curves()
    for i, _ in enumerate(sfs):
        r, c = i // cols + 1, i % cols + 1
        tested = stair.trials[i] > 0
        x, n, k = stair.contrast[i][tested], stair.trials[i][tested], stair.correct[i][tested]
        fig.add_trace(
            go.Scatter(x=x.tolist(), y=(k / n).tolist(), mode="markers", marker_color="#1f77b4", showlegend=False), r, c
        )
        fig.add_trace(
            go.Scatter(
                x=CURVE_CONTRASTS.tolist(), y=curves[i].tolist(), mode="lines", line_color="#d62728", showlegend=False
            ),
            r,
            c,
        )
        fig.add_vrect(
            x0=float(fit.ci_low[i]),
            x1=float(fit.ci_high[i]),
            fillcolor="#d62728",
            opacity=0.15,
            line_width=0,
            row=r,
            col=c,
        )
    fig.update_xaxes(type="log", title_text="contrast", range=[-3, 0])
    fig.update_yaxes(range=[0.4, 1.02], title_text="proportion correct")
    fig.update_layout(title=title, template="plotly_white", width=280 * cols + 100, height=260 * rows + 120)
    return fig


def csf_figure(sweep: CsfSweep, title: str) -> go.Figure:
    """Sensitivity = 1 / fitted 75% threshold vs frequency, log-log, 95% bootstrap band; x in
    cycles/image (bottom) and cycles/degree (top). Max-normalised when shown with the human curve."""
    fig = go.Figure()
    lowest = 1.0
    for i, (name, curve) in enumerate(sweep.curves().items()):
        x, y = curve["x"].tolist(), curve["y"].tolist()
        if "low" not in curve:  # the human reference: a line only
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line={"dash": "dash", "color": "grey"}))
            continue
        colour = qualitative.Plotly[i % 10]
        lowest = min(lowest, float(curve["low"].min()))
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=curve["high"].tolist() + curve["low"].tolist()[::-1],
                fill="toself",
                fillcolor=colour,
                opacity=0.2,
                line_width=0,
                showlegend=False,
                hoverinfo="skip",
            )
        )
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, line_color=colour))
    sfs, degrees = sweep.sfs, sweep.degrees
    span = [math.log10(min(sfs) * 0.8), math.log10(max(sfs) * 1.25)]
    fig.add_trace(go.Scatter(x=[], y=[], xaxis="x2", showlegend=False))  # an overlaid axis shows only with a trace
    fig.update_layout(
        title=title,
        template="plotly_white",
        width=900,
        height=550,
        xaxis={
            "type": "log",
            "title": "spatial frequency (cycles/image)",
            "range": span,
            "tickvals": sfs,
            "ticktext": [f"{f:g}" for f in sfs],
        },
        xaxis2={
            "type": "log",
            "overlaying": "x",
            "side": "top",
            "title": "cycles/degree (224 px = 2°)",
            "range": span,
            "tickvals": sfs,
            "ticktext": [f"{f / degrees:.3g}" for f in sfs],
        },
        yaxis={
            "type": "log",
            "title": "sensitivity (1 / threshold)" + (", max-normalised" if sweep.with_human else ""),
            **({"range": [math.log10(lowest / 3), math.log10(1.5)]} if sweep.with_human else {}),
        },
    )
    return fig

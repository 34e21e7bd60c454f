"""Figures of the contrast-sensitivity probe: training curves, psychometric fits, the CSF."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from bilin.csf.measure import CURVE_CONTRASTS, CsfSweep, LayerCSF
from bilin.figures.style import PLOT_SIZE, finish, log_axis, log_ticks, plural


def psychometric_figure(layer: LayerCSF, title: str) -> go.Figure:
    """One panel per frequency: proportion correct at each tested contrast (marker area ~ trials)
    and the fitted Weibull, with the 75% threshold's CI."""
    stair, fit, sfs = layer.stair, layer.fit, layer.sfs
    cols = min(4, len(sfs))
    rows = -(-len(sfs) // cols)
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{plural(sf, 'cycle')}/image" for sf in sfs],
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
    tickvals, ticktext = log_ticks(CURVE_CONTRASTS.min().item(), CURVE_CONTRASTS.max().item(), max_ticks=4)
    fig.update_xaxes(type="log", title_text="contrast", range=[-3, 0], tickvals=tickvals, ticktext=ticktext)
    fig.update_yaxes(range=[0.4, 1.02], title_text="proportion correct")
    return finish(
        fig,
        title,
        (280 * cols + 100, 270 * rows + 130),
        subtitle="markers: trials at each contrast; line: Weibull fit; band: 95% CI of the 75% threshold",
    )


CONDITION_COLOUR = {"lum": "black", "rg": "#d62728", "yb": "#bcbd22"}  # red-green red, yellow-blue olive
CONDITION_MARKER = {"lum": "circle", "rg": "triangle-up", "yb": "square"}  # as DeepCSF marks them


def csf_figure(sweep: CsfSweep, title: str) -> go.Figure:
    """Sensitivity = 1 / fitted 75% threshold vs frequency, log-log, 95% bootstrap band; x in
    cycles/image (bottom) and cycles/degree (top). One colour per layer, one marker per colour
    condition (one layer, several conditions: the condition's colour too); the human CSF of each
    condition dashed. Max-normalised when shown with the human curves."""
    fig = go.Figure()
    lowest = 1.0
    layers = list(dict.fromkeys(r.layer for r in sweep.results))
    layer_of = {r.name: r.layer for r in sweep.results}
    for name, curve in sweep.curves().items():
        x, y = curve["x"].tolist(), curve["y"].tolist()
        if curve["human"]:
            line = {"dash": "dash", "color": CONDITION_COLOUR[curve["colour"]]}
            fig.add_trace(go.Scatter(x=x, y=y, mode="lines", name=name, line=line))
            continue
        colour = qualitative.Plotly[layers.index(layer_of[name]) % 10]
        if len(layers) == 1 and len(sweep.colours) > 1:
            colour = CONDITION_COLOUR[curve["colour"]]
        lowest = min(lowest, float(curve["low"].min()))
        fig.add_trace(
            go.Scatter(
                x=x + x[::-1],
                y=curve["high"].tolist() + curve["low"].tolist()[::-1],
                mode="lines",
                fill="toself",
                fillcolor=colour,
                opacity=0.2,
                line_width=0,
                showlegend=False,
                hoverinfo="skip",
            )
        )
        marker = {"symbol": CONDITION_MARKER[curve["colour"]], "size": 8}
        fig.add_trace(go.Scatter(x=x, y=y, mode="lines+markers", name=name, line_color=colour, marker=marker))
    sfs, degrees = sweep.sfs, sweep.degrees
    x_axis = log_axis([min(sfs), max(sfs)], max_ticks=10, pad=1.25)
    low, high = (10**v for v in x_axis["range"])
    top_ticks, top_text = log_ticks(low / degrees, high / degrees, max_ticks=10)
    fig.add_trace(go.Scatter(x=[], y=[], xaxis="x2", showlegend=False))  # an overlaid axis shows only with a trace
    y_values = [v for trace in fig.data for v in (trace.y or ())]
    y_axis = log_axis([lowest / 3, 1.5] if sweep.with_human else y_values)
    fig.update_layout(
        xaxis={**x_axis, "title": "spatial frequency (cycles/image)"},
        xaxis2={
            "type": "log",
            "overlaying": "x",
            "side": "top",
            "title": "cycles/degree (224 px = 2°)",
            "range": [math.log10(low / degrees), math.log10(high / degrees)],
            "tickvals": top_ticks,
            "ticktext": top_text,
        },
        yaxis={**y_axis, "title": "sensitivity (1 / threshold)" + (", max-normalised" if sweep.with_human else "")},
    )
    return finish(
        fig,
        title,
        (PLOT_SIZE[0] + 80, PLOT_SIZE[1] + 70),
        subtitle="markers: measured frequencies; band: 95% bootstrap CI",
        margin={"t": 150},
    )

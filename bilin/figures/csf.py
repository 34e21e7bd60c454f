"""Figures of the contrast-sensitivity probe: psychometric fits and the CSF (training curves: figures.training).

Where a frequency's data are step-like (a step fits them as well as any Weibull) its threshold is only
bracketed, between the last contrast at chance and the first perfect one; where the fit's 75% point
lies beyond contrast 1 and every tested contrast (unreached), only from below, by the highest contrast tested. Both
figures draw that bracket in place of a fitted threshold and its interval, an open end as an arrow."""

from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from bilin.csf.human import HUMAN_CSFS
from bilin.csf.measure import CURVE_CONTRASTS, LayerCSF
from bilin.csf.sweep import CsfSweep
from bilin.figures.style import PLOT_SIZE, band_trace, finish, full_number, log_axis, log_ticks, plural
from bilin.figures.training import probe_training_curves

FIT_COLOUR, TRIAL_COLOUR, STEP_COLOUR = "#d62728", "#1f77b4", "#ff7f0e"
THRESHOLD_LEVEL = 0.75  # proportion correct the threshold is defined at
THRESHOLD_TRACE, BRACKET_TRACE = "threshold, 95% CI", "only bracketed: bracket"


def probe_csf_figures(sweep: CsfSweep, label: str) -> dict[str, go.Figure]:
    """`probe-csf`'s figures, `label` naming the network: the probes' training, the first curve's
    psychometric fits and every CSF."""
    first = sweep.results[0]
    return {
        "training": probe_training_curves(sweep.tables()["training.csv"], sweep.layers, f"Probe training ({label})"),
        "psychometric": psychometric_figure(first, f"Psychometric curves, {first.name} ({label})"),
        "csf": csf_figure(sweep, f"Contrast sensitivity by linear probe ({label})"),
    }


def psychometric_figure(layer: LayerCSF, title: str) -> go.Figure:
    """One panel per frequency: proportion correct at each tested contrast, the fitted Weibull and
    the 75% threshold with its 95% interval; a frequency only bracketed (step-like, or 75% not reached
    at any tested contrast) shows its bracket instead."""
    stair, fit, sfs = layer.stair, layer.fit, layer.sfs
    cols = min(4, len(sfs))
    rows = -(-len(sfs) // cols)
    step, why = fit.bracketed.tolist(), [": step-like" if s else ": not reached" for s in fit.step_like.tolist()]
    fig = make_subplots(
        rows=rows,
        cols=cols,
        subplot_titles=[f"{plural(sf, 'cycle')}/image" + (why[i] if step[i] else "") for i, sf in enumerate(sfs)],
        vertical_spacing=min(0.2, 110 / (270 * rows)),  # room for tick labels, axis and panel titles: 110 px
    )
    lowest, highest = _contrast_range(layer)
    curves = layer.psychometric_curves()
    for i, _ in enumerate(sfs):
        r, c = i // cols + 1, i % cols + 1
        tested = stair.trials[i] > 0
        x, n, k = stair.contrast[i][tested], stair.trials[i][tested], stair.correct[i][tested]
        trials = go.Scatter(x=x.tolist(), y=(k / n).tolist(), mode="markers", marker_color=TRIAL_COLOUR)
        fig.add_trace(trials.update(showlegend=False, name="trials"), r, c)
        if step[i]:
            bracket = _bracket_trace(float(fit.bracket_low[i]), float(fit.bracket_high[i]), lowest, highest)
            fig.add_trace(bracket, r, c)
            continue
        weibull = go.Scatter(x=CURVE_CONTRASTS.tolist(), y=curves[i].tolist(), mode="lines", line_color=FIT_COLOUR)
        fig.add_trace(weibull.update(showlegend=False, name="Weibull fit"), r, c)
        fig.add_trace(_threshold_trace(float(fit.threshold[i]), float(fit.ci_low[i]), float(fit.ci_high[i])), r, c)
    tickvals, ticktext = log_ticks(lowest, highest, max_ticks=6)
    x_range = [math.log10(lowest), math.log10(highest)]
    fig.update_xaxes(type="log", title_text="contrast", range=x_range, tickvals=tickvals, ticktext=ticktext)
    proportions = (stair.correct / stair.trials)[stair.trials > 0]
    bottom = min(0.4, float(proportions.min()) - 0.04) if len(proportions) else 0.4  # below chance too
    fig.update_yaxes(range=[bottom, 1.02], title_text="proportion correct")
    subtitle = "markers: trials at each contrast; line: Weibull fit; diamond and bar: 75% threshold, 95% interval"
    if highest > 1.3:  # a fit whose threshold or interval runs past the highest contrast a grating can have
        fig.add_vline(x=1.0, line={"color": "#999999", "width": 1, "dash": "dot"}, row="all", col="all")
        subtitle += "; beyond the dotted line (contrast 1) the fit extrapolates"
    if any(step):
        subtitle += (
            "<br>no fitted threshold where step-like (a step fits as well as any Weibull; orange bar: from the last "
            "contrast at chance to the first perfect one) or not reached (the fit's 75% lies beyond contrast 1 and "
            "every tested contrast; arrow from the highest); arrow: open"
        )
    return finish(fig, title, (280 * cols + 100, 270 * rows + 130), subtitle=subtitle)


def _threshold_trace(threshold: float, low: float, high: float) -> go.Scatter:
    """The 75% threshold (diamond) and its interval (a bar with end ticks) at 75% correct."""
    return go.Scatter(
        x=[low, threshold, high],
        y=[THRESHOLD_LEVEL] * 3,
        mode="lines+markers",
        line={"color": FIT_COLOUR, "width": 2},
        marker={
            "symbol": ["line-ns", "diamond", "line-ns"],
            "size": [12, 9, 12],
            "color": FIT_COLOUR,
            "line": {"width": [2, 1, 2], "color": [FIT_COLOUR, "white", FIT_COLOUR]},
        },
        name=THRESHOLD_TRACE,
        showlegend=False,
        hovertemplate=f"threshold {threshold:.3g}, 95% interval [{low:.3g}, {high:.3g}]<extra></extra>",
    )


def _contrast_range(layer: LayerCSF) -> tuple[float, float]:
    """The psychometric panels' contrast axis: every tested contrast, fitted threshold, interval and
    finite bracket end, a decade at least (from 0.1 to 1)."""
    stair, fit = layer.stair, layer.fit
    values = [
        *stair.contrast[stair.trials > 0].tolist(),
        *(v for t in (fit.threshold, fit.ci_low, fit.ci_high, fit.bracket_low, fit.bracket_high) for v in t.tolist()),
    ]
    shown = [v for v in values if v > 0 and math.isfinite(v)]
    return min(0.1, min(shown, default=1e-3) / 2), max(1.0, max(shown, default=1.0)) * 1.3


def _bracket_trace(low: float, high: float, lowest: float, highest: float) -> go.Scatter:
    """The bracket the threshold lies in, drawn at 75% correct; an open end (0 or inf) as an arrowhead at
    the axis' edge."""
    ends = [low if low > 0 else lowest, high if math.isfinite(high) else highest]
    symbols = ["line-ns" if low > 0 else "triangle-left", "line-ns" if math.isfinite(high) else "triangle-right"]
    return go.Scatter(
        x=ends,
        y=[THRESHOLD_LEVEL] * 2,
        mode="lines+markers",
        line={"color": STEP_COLOUR, "width": 3},
        marker={"symbol": symbols, "size": 12, "line": {"width": 2, "color": STEP_COLOUR}, "color": STEP_COLOUR},
        name=BRACKET_TRACE,
        showlegend=False,
        cliponaxis=False,  # an arrowhead at the axis' edge stays whole
        hovertemplate=f"only bracketed: threshold in [{low:.3g}, {high:.3g}]<extra></extra>",
    )


CONDITION_COLOUR = {"lum": "#000000", "rg": "#d62728", "yb": "#bcbd22"}  # red-green red, yellow-blue olive
CONDITION_MARKER = {"lum": "circle", "rg": "triangle-up", "yb": "square"}  # as DeepCSF marks them


def angle(degrees: float) -> str:
    """A visual angle as the axis title writes it: 2 decimals without trailing zeros ("0.29", "2"),
    or 2 significant digits below 0.1."""
    text = f"{degrees:.2f}" if degrees >= 0.1 else f"{degrees:.2g}"
    return text.rstrip("0").rstrip(".") if "." in text and "e" not in text else text


def csf_figure(sweep: CsfSweep, title: str) -> go.Figure:
    """Sensitivity = 1 / fitted 75% threshold vs frequency, log-log, 95% bootstrap band; x in
    cycles/image (bottom) and cycles/degree (top, from the run's field of view). One colour per layer,
    one marker per colour condition (one layer, several conditions: the condition's colour too);
    points only bracketed (step-like or unreached) open, their bracket a bar (an arrow where it is
    open). The human CSF of each condition dashed, only where its source describes the frequencies.
    Max-normalised when shown with the human curves. Legend below the plot."""
    fig = go.Figure()
    layers = list(dict.fromkeys(r.layer for r in sweep.results))
    layer_of = {r.name: r.layer for r in sweep.results}
    curves = sweep.curves()
    network = {name: curve for name, curve in curves.items() if not curve["human"]}
    colour_of = {}
    for name, curve in network.items():
        colour_of[name] = qualitative.Plotly[layers.index(layer_of[name]) % 10]
        if len(layers) == 1 and len(sweep.colours) > 1:
            colour_of[name] = CONDITION_COLOUR[curve["colour"]]
    bounds: list[float] = []  # every y drawn, so the axis covers them all
    for name, curve in network.items():  # bands first, under every line
        x, y, low, high = (curve[k].tolist() for k in ("x", "y", "low", "high"))
        low = [b if b > 0 else v for b, v in zip(low, y, strict=True)]  # an open bracket: its finite end, and an arrow
        high = [b if math.isfinite(b) else v for b, v in zip(high, y, strict=True)]
        fig.add_trace(band_trace(x, low, high, colour_of[name], name))
        bounds += low + high
    arrows = []
    for name, curve in network.items():
        x, y, step = curve["x"].tolist(), curve["y"].tolist(), curve["bracketed"].tolist()
        symbol = CONDITION_MARKER[curve["colour"]]
        colour = colour_of[name]
        marker = {
            "symbol": [f"{symbol}-open" if s else symbol for s in step],
            "size": 9,
            "color": colour,
            "line": {"width": 2, "color": colour},
        }
        line = {"color": colour}
        drawn = go.Scatter(x=x, y=y, mode="lines+markers", name=name, line=line, marker=marker, legendgroup=name)
        fig.add_trace(drawn.update(showlegend=False))
        # the legend's key: a legend shows a trace's first marker, which may be an open (bracketed) one
        key = go.Scatter(x=[None], y=[None], mode="lines+markers", name=name, line=line, legendgroup=name)
        fig.add_trace(key.update(marker={**marker, "symbol": symbol}))
        step_points = [i for i, s in enumerate(step) if s]
        if step_points:
            fig.add_trace(_bracket_bars(name, curve, step_points, colour))
        for i in step_points:
            low, high = float(curve["low"][i]), float(curve["high"][i])
            if low <= 0 or not math.isfinite(high):  # open: sensitivity at most (low = 0) or at least y
                arrows.append((x[i], y[i], y[i] / 2 if low <= 0 else y[i] * 2, colour))
        bounds += y
    for name, curve in curves.items():
        if curve["human"]:
            line = {"dash": "dash", "color": CONDITION_COLOUR[curve["colour"]]}
            fig.add_trace(go.Scatter(x=curve["x"].tolist(), y=curve["y"].tolist(), mode="lines", name=name, line=line))
            bounds += curve["y"].tolist()
    stepped = any(bool(c["bracketed"].any()) for c in network.values())
    if stepped:  # the legend says what open markers are
        key = {"symbol": "circle-open", "color": "#444444", "size": 9, "line": {"width": 2}}
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", marker=key, name="open: only bracketed"))
    for x, y, head, colour in arrows:
        bounds.append(head)
        fig.add_annotation(
            x=math.log10(x), y=math.log10(head), ax=math.log10(x), ay=math.log10(y), axref="x", ayref="y",
            showarrow=True, arrowhead=2, arrowwidth=1.5, arrowcolor=colour, text="",
        )  # fmt: skip
    _axes(fig, sweep, bounds)
    legend_rows = math.ceil(len([t for t in fig.data if t.showlegend is not False and t.name]) / 4)
    fig.update_layout(legend={"orientation": "h", "x": 0, "xanchor": "left", "y": -0.16, "yanchor": "top"})
    return finish(
        fig,
        title,
        (PLOT_SIZE[0], PLOT_SIZE[1] + 90 + 22 * legend_rows),
        subtitle=_subtitle(sweep, curves, stepped),
        margin={"t": 175 if sweep.with_human else 150, "b": 85 + 22 * legend_rows},
    )


def _bracket_bars(name: str, curve: dict, points: list[int], colour: str) -> go.Scatter:
    """Vertical bars over the bracketed points of a curve: the sensitivities their bracket allows
    (a bar's open end has no length here; csf_figure draws an arrow there)."""
    y = [float(curve["y"][i]) for i in points]
    high = [float(curve["high"][i]) for i in points]
    low = [float(curve["low"][i]) for i in points]
    return go.Scatter(
        x=[float(curve["x"][i]) for i in points],
        y=y,
        mode="markers",
        marker={"opacity": 0},  # the curve's own open markers show the points
        error_y={
            "type": "data",
            "symmetric": False,
            "array": [h - v if math.isfinite(h) else 0 for h, v in zip(high, y, strict=True)],
            "arrayminus": [v - lo if lo > 0 else 0 for lo, v in zip(low, y, strict=True)],
            "color": colour,
            "thickness": 1.5,
            "width": 5,
        },
        name=f"{name}: {BRACKET_TRACE}",
        legendgroup=name,
        showlegend=False,
        hoverinfo="skip",
    )


def _axes(fig: go.Figure, sweep: CsfSweep, bounds: list[float]) -> None:
    """Bottom: cycles/image; top: cycles/degree for the run's field of view; y: every drawn value."""
    sfs, degrees = sweep.sfs, sweep.degrees
    x_axis = log_axis([min(sfs), max(sfs)], max_ticks=10, pad=1.25)
    low, high = (10**v for v in x_axis["range"])
    top_ticks, top_text = log_ticks(low / degrees, high / degrees, max_ticks=10)
    fig.add_trace(go.Scatter(x=[], y=[], xaxis="x2", showlegend=False))  # an overlaid axis shows only with a trace
    field = f"{sweep.size} px" if sweep.size else "image"
    y_axis = log_axis(bounds, min_ticks=4)
    low_y, high_y = y_axis["range"]
    y_axis["range"] = [low_y - 0.03, high_y + 0.03]  # a tick on the range's end would sit on the top axis' labels
    fig.update_layout(
        xaxis={**x_axis, "title": "spatial frequency (cycles/image)"},
        xaxis2={
            "type": "log",
            "overlaying": "x",
            "side": "top",
            "title": f"cycles/degree ({field} = {angle(degrees)}°)",
            "range": [math.log10(low / degrees), math.log10(high / degrees)],
            "tickvals": top_ticks,
            "ticktext": top_text,
        },
        yaxis={
            **y_axis,
            "title": "sensitivity (1 / threshold)" + (", max-normalised" if sweep.with_human else ""),
        },
    )


def _subtitle(sweep: CsfSweep, curves: dict[str, dict], stepped: bool) -> str:
    """What the marks mean, the human curves' sources, and which human curves were left out and why."""
    lines = ["markers: measured frequencies; band: 95% bootstrap CI"]
    if stepped:
        lines[0] += (
            "; open marker: threshold only bracketed, step-like or 75% not reached at contrast 1 "
            "(bar: the bracket, arrow: open-ended)"
        )
    if sweep.with_human:
        drawn = [c for c in sweep.colours if f"human {c}" in curves]
        sources = dict.fromkeys(HUMAN_CSFS[c].source for c in drawn)
        for i, source in enumerate(sources):
            named = ", ".join(c for c in drawn if HUMAN_CSFS[c].source == source)
            lines.append(f"{'dashed: human CSFs over their sources’ range; ' if i == 0 else ''}{named}: {source}")
        measured = f"{min(sweep.sfs) / sweep.degrees:.3g}-{max(sweep.sfs) / sweep.degrees:.3g}"
        for colour in sweep.human_left_out:
            low, high = (full_number(v) for v in HUMAN_CSFS[colour].cpd_range)
            lines.append(
                f"human {colour} left out: its source covers {low}-{high} cycles/degree, the measured {measured}"
            )
    return "<br>".join(lines)

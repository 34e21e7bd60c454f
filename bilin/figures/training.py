"""Figures of a training run. Functions return go.Figure and never write."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.colors import qualitative
from plotly.subplots import make_subplots

from bilin.figures.style import PLOT_SIZE, TICK_SIZE, finish, log_axis

TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"


def epoch_axis(epochs: Sequence[float]) -> dict:
    """Ticks at whole epochs only (plotly's own put 1.5, 2.5 on a short run's axis), at most ~10."""
    return {"tick0": 0, "dtick": max(1, math.ceil(len(epochs) / 10)), "tickformat": "d"}


def probe_training_curves(rows: Sequence[Mapping], layers: Sequence[str], title: str) -> go.Figure:
    """A two-way probe's accuracy and cross-entropy per epoch, one line per layer, each beside the
    level of guessing (50%, and ln 2 nats = 1 bit): a loss above that line is worse than a guess,
    however high the accuracy (an overconfident probe)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["accuracy", "cross-entropy (bits; 1 bit = guessing 50%)"],
        horizontal_spacing=0.12,
    )
    epochs = sorted({r["epoch"] for r in rows})
    for i, layer in enumerate(layers):
        mine = [r for r in rows if r["layer"] == layer]
        colour = qualitative.Plotly[i % len(qualitative.Plotly)]
        x = [r["epoch"] for r in mine]
        line = {"mode": "lines+markers", "marker": {"size": 5}, "line_color": colour, "legendgroup": layer}
        fig.add_trace(go.Scatter(x=x, y=[r["accuracy"] * 100 for r in mine], name=layer, **line), 1, 1)
        fig.add_trace(
            go.Scatter(x=x, y=[r["normalised_loss"] for r in mine], name=layer, showlegend=False, **line), 1, 2
        )
    guess = {"line_dash": "dash", "line_color": "#888", "annotation_font_size": TICK_SIZE}
    fig.add_hline(y=50, annotation_text="chance (50%)", annotation_position="bottom right", row=1, col=1, **guess)
    fig.add_hline(y=1, row=1, col=2, line_dash="dash", line_color="#888")
    fig.add_annotation(  # by hand: on a log axis an annotation's y is log10 of the value (add_hline's is not)
        text="guessing (1 bit)", x=1, xref="x2 domain", xanchor="right", y=0, yref="y2", yanchor="bottom",
        showarrow=False, font_size=TICK_SIZE,
    )  # fmt: skip
    accuracies = [r["accuracy"] * 100 for r in rows]
    fig.update_yaxes(title_text="accuracy (%)", range=[min(45, *accuracies), 100], row=1, col=1)
    fig.update_yaxes(
        title_text="loss / ln 2 (bits)", **log_axis([1.0, *(r["normalised_loss"] for r in rows)]), row=1, col=2
    )
    fig.update_xaxes(title_text="epoch", **epoch_axis(epochs))
    fig.update_layout(legend={"orientation": "h", "y": -0.2, "title_text": "layer"})
    return finish(
        fig,
        title,
        (1000, 460),
        subtitle="lower loss is better; a loss above 1 bit is worse than guessing",
        margin={"b": 100},
    )


def training_curves(metrics: Sequence[Mapping[str, float]], title: str) -> go.Figure:
    """Loss (log y) and accuracy per epoch, train (noisy inputs) vs validation (clean)."""
    epochs = [m["epoch"] for m in metrics]
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Cross-entropy loss", "Accuracy (%)"))
    for col, key, scale in ((1, "loss", 1.0), (2, "acc", 100.0)):
        for split, colour, label in (("train", TRAIN_COLOUR, "train (noisy)"), ("val", VAL_COLOUR, "validation")):
            fig.add_trace(
                go.Scatter(
                    x=epochs,
                    y=[m[f"{split}_{key}"] * scale for m in metrics],
                    mode="lines+markers",
                    marker={"size": 3},
                    line={"color": colour},
                    name=label,
                    legendgroup=split,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="epoch", **epoch_axis(epochs), row=1, col=col)
    losses = [m[f"{split}_loss"] for m in metrics for split in ("train", "val")]
    fig.update_yaxes(title_text="loss (nats)", row=1, col=1, **log_axis(losses))
    fig.update_yaxes(title_text="accuracy (%)", row=1, col=2)
    fig.update_layout(legend={"orientation": "h", "y": -0.2})
    return finish(fig, title, (1000, 440), margin={"b": 90})


def per_class_bars(classes: Sequence[str], accuracy: Sequence[float], title: str) -> go.Figure:
    """Validation accuracy of each class."""
    fig = go.Figure(
        go.Bar(
            x=list(classes),
            y=[a * 100 for a in accuracy],
            text=[f"{a * 100:.1f}" for a in accuracy],
            textposition="outside",
            textfont_size=TICK_SIZE,
            cliponaxis=False,  # labels of bars near 100% stand above the axis, in the top margin
        )
    )
    fig.update_layout(xaxis_title="class", yaxis_title="validation accuracy (%)", yaxis_range=[0, 100])
    return finish(fig, title, (max(PLOT_SIZE[0], 70 * len(classes) + 120), 420), margin={"t": 90})

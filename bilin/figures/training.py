"""Figures of a training run. Functions return go.Figure and never write."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.figures.style import PLOT_SIZE, TICK_SIZE, finish, log_axis

TRAIN_COLOUR, VAL_COLOUR = "#1f77b4", "#d62728"


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
        # whole epochs only: plotly's own ticks put 1.5, 2.5 on a short run's axis
        fig.update_xaxes(title_text="epoch", dtick=max(1, math.ceil(len(epochs) / 10)), row=1, col=col)
    losses = [m[f"{split}_loss"] for m in metrics for split in ("train", "val")]
    fig.update_yaxes(title_text="loss", row=1, col=1, **log_axis(losses))
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
    low = min(a * 100 for a in accuracy) if accuracy else 0
    fig.update_layout(xaxis_title="class", yaxis_title="validation accuracy (%)", yaxis_range=[max(0, low - 10), 100])
    return finish(fig, title, (max(PLOT_SIZE[0], 70 * len(classes) + 120), 420), margin={"t": 90})

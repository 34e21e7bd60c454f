"""Figures over a grid of models (sizes x seeds): truncation curves, similarity, noise sweep."""

from __future__ import annotations

from typing import Mapping, Sequence

import plotly.colors
import plotly.graph_objects as go
import torch

from bilin.analysis.stats import mean_t_band


def _size_colours(n: int) -> list[str]:
    return plotly.colors.sample_colorscale("Viridis", [i / max(n - 1, 1) * 0.9 for i in range(n)])


def band_lines(x: Sequence[float], curves: Mapping[str, torch.Tensor], title: str, x_title: str, y_title: str,
               log_y: bool = False, confidence: float = 0.9, subtitle: str = "") -> go.Figure:
    """One line per key: mean over the first axis of its (samples, len(x)) tensor, with a t band."""
    fig = go.Figure()
    for colour, (name, samples) in zip(_size_colours(len(curves)), curves.items()):
        mean, low, high = (t.tolist() for t in mean_t_band(samples, 0, confidence))
        if log_y:
            floor = 1e-4
            low = [max(v, floor) for v in low]
        fig.add_trace(go.Scatter(x=list(x) + list(x)[::-1], y=high + low[::-1], fill="toself", fillcolor=colour,
                                 opacity=0.2, line={"width": 0}, hoverinfo="skip", showlegend=False,
                                 legendgroup=name))
        fig.add_trace(go.Scatter(x=list(x), y=mean, mode="lines+markers", marker={"size": 4},
                                 line={"color": colour}, name=name, legendgroup=name))
    fig.update_layout(title={"text": title, "subtitle": {"text": subtitle}}, xaxis_title=x_title,
                      yaxis_title=y_title, template="plotly_white", width=820, height=480,
                      legend_title_text="hidden size", margin={"t": 90})
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def similarity_heatmap(sizes: Sequence[int], matrix: torch.Tensor, title: str) -> go.Figure:
    labels = [str(s) for s in sizes]
    fig = go.Figure(go.Heatmap(z=matrix.tolist(), x=labels, y=labels, colorscale="Viridis", zmin=0, zmax=1,
                               text=[[f"{v:.2f}" for v in row] for row in matrix.tolist()],
                               texttemplate="%{text}", colorbar={"title": "mean |cos|"}))
    fig.update_layout(title=title, xaxis_title="hidden size", yaxis_title="hidden size", template="plotly_white",
                      width=620, height=560, yaxis={"autorange": "reversed", "type": "category"},
                      xaxis={"type": "category"})
    return fig


def accuracy_bars(classes: Sequence[str], per_model: Mapping[str, Sequence[float]], title: str) -> go.Figure:
    """Grouped bars: per-class validation accuracy of each model."""
    fig = go.Figure()
    for name, accuracy in per_model.items():
        fig.add_trace(go.Bar(x=list(classes), y=[a * 100 for a in accuracy], name=name))
    low = min(min(a) for a in per_model.values()) * 100
    fig.update_layout(title=title, barmode="group", xaxis_title="class", yaxis_title="validation accuracy (%)",
                      yaxis_range=[max(0, low - 5), 100.5], template="plotly_white", width=900, height=420)
    return fig

"""Figures over a grid of models (sizes x seeds): truncation curves, similarity, noise sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.colors
import plotly.graph_objects as go
import torch

from bilin.analysis.similarity import ORDER_LABELS, SimilarityGrid
from bilin.analysis.stats import Band
from bilin.analysis.truncate import TruncationGrid


def _size_colours(n: int) -> list[str]:
    return plotly.colors.sample_colorscale("Viridis", [i / max(n - 1, 1) * 0.9 for i in range(n)])


def band_lines(
    x: Sequence[float],
    bands: Mapping[str, Band],
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool = False,
    subtitle: str = "",
) -> go.Figure:
    """One line per key: its mean curve with the band around it (computed by the analysis)."""
    fig = go.Figure()
    for colour, (name, band) in zip(_size_colours(len(bands)), bands.items(), strict=True):
        mean, low, high = (t.tolist() for t in (band.mean, band.low, band.high))
        if log_y:  # a log axis cannot draw a band reaching 0; the CSV keeps the true values
            floor = 1e-4
            low = [max(v, floor) for v in low]
        fig.add_trace(
            go.Scatter(
                x=list(x) + list(x)[::-1],
                y=high + low[::-1],
                fill="toself",
                fillcolor=colour,
                opacity=0.2,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            )
        )
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=mean,
                mode="lines+markers",
                marker={"size": 4},
                line={"color": colour},
                name=name,
                legendgroup=name,
            )
        )
    fig.update_layout(
        title={"text": title, "subtitle": {"text": subtitle}},
        xaxis_title=x_title,
        yaxis_title=y_title,
        template="plotly_white",
        width=820,
        height=480,
        legend_title_text="hidden size",
        margin={"t": 90},
    )
    if log_y:
        fig.update_yaxes(type="log")
    return fig


def similarity_heatmap(sizes: Sequence[int], matrix: torch.Tensor, title: str) -> go.Figure:
    labels = [str(s) for s in sizes]
    fig = go.Figure(
        go.Heatmap(
            z=matrix.tolist(),
            x=labels,
            y=labels,
            colorscale="Viridis",
            zmin=0,
            zmax=1,
            text=[[f"{v:.2f}" for v in row] for row in matrix.tolist()],
            texttemplate="%{text}",
            colorbar={"title": "mean |cos|"},
        )
    )
    fig.update_layout(
        title=title,
        xaxis_title="hidden size",
        yaxis_title="hidden size",
        template="plotly_white",
        width=620,
        height=560,
        yaxis={"autorange": "reversed", "type": "category"},
        xaxis={"type": "category"},
    )
    return fig


def accuracy_bars(classes: Sequence[str], per_model: Mapping[str, Sequence[float]], title: str) -> go.Figure:
    """Grouped bars: per-class validation accuracy of each model."""
    fig = go.Figure()
    for name, accuracy in per_model.items():
        fig.add_trace(go.Bar(x=list(classes), y=[a * 100 for a in accuracy], name=name))
    low = min(min(a) for a in per_model.values()) * 100
    fig.update_layout(
        title=title,
        barmode="group",
        xaxis_title="class",
        yaxis_title="validation accuracy (%)",
        yaxis_range=[max(0, low - 5), 100.5],
        template="plotly_white",
        width=900,
        height=420,
    )
    return fig


def truncation_figures(grid: TruncationGrid) -> dict[str, go.Figure]:
    """Test error (log y) and accuracy drop vs k, one line per hidden size, bands over seeds."""
    subtitle = f"mean and {grid.confidence:.0%} Student-t band over {len(grid.seeds)} seeds"
    x_title = "k (components per class, largest |λ|)"
    named = lambda bands: {f"d={size}": band for size, band in bands.items()}  # noqa: E731
    return {
        "truncation_error": band_lines(
            grid.ks,
            named(grid.error()),
            "Test error with the top-k eigenvectors per class",
            x_title,
            "test error",
            log_y=True,
            subtitle=subtitle,
        ),
        "truncation_drop": band_lines(
            grid.ks,
            named(grid.drop()),
            "Accuracy drop from truncation (full − top-k)",
            x_title,
            "accuracy drop",
            subtitle=subtitle,
        ),
    }


def similarity_figures(grid: SimilarityGrid) -> dict[str, go.Figure]:
    """Similarity to the reference size vs rank, and the rank-0 heatmap between sizes."""
    label = ORDER_LABELS[grid.order]
    bands = {f"d={size}": band for size, band in grid.bands().items()}
    return {
        "similarity_vs_rank": band_lines(
            list(range(grid.ranks)),
            bands,
            f"Eigenvector similarity to the d={grid.reference_size} models",
            f"eigenvector rank ({label} first)",
            "|cosine similarity|",
            subtitle=f"same class and rank, distinct seeds; mean and {grid.confidence:.0%}"
            " t band over (seed pair, class)",
        ),
        "similarity_rank0_heatmap": similarity_heatmap(
            grid.sizes, grid.rank0, f"Rank-0 ({label}) eigenvector similarity between sizes (distinct seeds)"
        ),
    }

"""Figures over a grid of models (sizes x seeds): truncation curves, similarity, noise sweep."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.colors
import plotly.graph_objects as go
import torch

from bilin.analysis.accuracy import AccuracyComparison
from bilin.analysis.similarity import ORDER_LABELS, SimilarityGrid
from bilin.analysis.stats import Band
from bilin.analysis.truncate import TruncationGrid
from bilin.data import DATASETS
from bilin.figures.style import PLOT_SIZE, TEXT_SIZE, TICK_SIZE, band_trace, finish, log_axis


def _size_colours(n: int) -> list[str]:
    return plotly.colors.sample_colorscale("Viridis", [i / max(n - 1, 1) * 0.9 for i in range(n)])


def whole_step(span: float, max_ticks: int = 10) -> int:
    """The smallest of 1, 2, 5, 10, 20, 50, ... that puts at most max_ticks steps on span."""
    ladder = (m * 10**e for e in range(12) for m in (1, 2, 5))
    return next(step for step in ladder if span / step <= max_ticks)


def band_lines(
    x: Sequence[float],
    bands: Mapping[str, Band],
    title: str,
    x_title: str,
    y_title: str,
    log_y: bool = False,
    subtitle: str = "",
) -> go.Figure:
    """One line per key: its mean curve with the band around it, both as the analysis computed
    them (the run's *_bands.csv holds the same numbers)."""
    fig = go.Figure()
    drawn = [v for band in bands.values() for t in (band.mean, band.low, band.high) for v in t.tolist()]
    y_axis = log_axis(drawn) if log_y else {}
    floor = 10 ** y_axis["range"][0] if log_y else None
    colours = dict(zip(bands, _size_colours(len(bands)), strict=True))
    for name, band in bands.items():  # every band first: no band covers a mean line
        low = band.low.tolist()
        if log_y:  # a band reaching 0 leaves a log axis at its bottom edge
            low = [v if v > 0 else floor for v in low]
        fig.add_trace(band_trace(x, low, band.high.tolist(), colours[name], name))
    for name, band in bands.items():
        fig.add_trace(
            go.Scatter(
                x=list(x),
                y=band.mean.tolist(),
                mode="lines+markers",
                marker={"size": 4},
                line={"color": colours[name]},
                name=name,
                legendgroup=name,
            )
        )
    fig.update_layout(xaxis_title=x_title, yaxis={"title": y_title, **y_axis}, legend_title_text="hidden size")
    fig.update_xaxes(tick0=0, dtick=whole_step(max(x) - min(x)))  # ks and ranks are whole: no 0.5 ticks
    return finish(fig, title, subtitle=subtitle)


def similarity_heatmap(sizes: Sequence[int], matrix: torch.Tensor, title: str, subtitle: str = "") -> go.Figure:
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
            textfont={"size": TICK_SIZE},
            colorbar={"title": {"text": "mean |cos|", "font": {"size": TEXT_SIZE}}},
        )
    )
    fig.update_layout(
        xaxis_title="hidden size",
        yaxis_title="hidden size",
        yaxis={"autorange": "reversed", "type": "category", "scaleanchor": "x"},
        xaxis={"type": "category", "constrain": "domain"},
    )
    side = 60 * len(sizes) + 260
    return finish(fig, title, (side + 120, side), subtitle=subtitle)


def accuracy_bars(
    classes: Sequence[str], per_model: Mapping[str, Sequence[float]], title: str, subtitle: str = ""
) -> go.Figure:
    """Grouped bars: per-class validation accuracy of each model."""
    fig = go.Figure()
    for name, accuracy in per_model.items():
        fig.add_trace(go.Bar(x=list(classes), y=[a * 100 for a in accuracy], name=name))
    fig.update_layout(
        barmode="group",
        xaxis_title="class",
        yaxis_title="validation accuracy (%)",
        yaxis_range=[0, 100],  # a bar's length is its value: from zero
        legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"},
    )
    return finish(fig, title, (max(PLOT_SIZE[0], 80 * len(classes) + 120), PLOT_SIZE[1]), subtitle=subtitle)


def accuracy_figures(comparison: AccuracyComparison, subtitle: str) -> dict[str, go.Figure]:
    """One accuracy_bars per dataset (accuracy_<dataset>), every model's per-class accuracy side by side."""
    return {
        f"accuracy_{dataset}": accuracy_bars(
            comparison.classes[dataset],
            {name: accuracy.per_class for name, accuracy in models.items()},
            f"{DATASETS[dataset].title}: per-class validation accuracy",
            subtitle,
        )
        for dataset, models in comparison.accuracies.items()
    }


def truncation_figures(grid: TruncationGrid) -> dict[str, go.Figure]:
    """Test error (log y) and accuracy drop vs k, one line per hidden size, bands over seeds."""
    x_title = "k (components per class, largest |λ| first)"
    named = lambda bands: {f"d={size}": band for size, band in bands.items()}  # noqa: E731
    error, drop = grid.error(), grid.drop()

    def subtitle(bands: Mapping[int, Band]) -> str:
        return next(iter(bands.values())).describe(f"{len(grid.seeds)} seeds")

    return {
        "truncation_error": band_lines(
            grid.ks,
            named(error),
            "Test error with the top-k eigenvectors per class",
            x_title,
            "test error (fraction of test images)",
            log_y=True,
            subtitle=subtitle(error) + " (a band reaching 0 leaves the log axis at its bottom)",
        ),
        "truncation_drop": band_lines(
            grid.ks,
            named(drop),
            "Accuracy drop from truncation (full − top-k)",
            x_title,
            "accuracy drop (fraction of test images)",
            subtitle=subtitle(drop),
        ),
    }


def similarity_figures(grid: SimilarityGrid) -> dict[str, go.Figure]:
    """Similarity to the reference size vs rank, and the rank-0 heatmap between sizes."""
    label = ORDER_LABELS[grid.order]
    bands = grid.bands()
    return {
        "similarity_vs_rank": band_lines(
            list(range(1, grid.ranks + 1)),  # #1-based, as every figure and the explorer count
            {f"d={size}": band for size, band in bands.items()},
            f"Eigenvector similarity to the d={grid.reference_size} models",
            f"eigenvector rank (#1 = {label})",
            "|cosine similarity|",
            subtitle="same class and rank, distinct seeds; "
            + next(iter(bands.values())).describe("(seed pair, class)"),
        ),
        "similarity_rank0_heatmap": similarity_heatmap(
            grid.sizes,
            grid.rank0,
            "Similarity of the #1 eigenvectors between sizes",
            f"mean |cos| of the #1 ({label}) eigenvector<br>same class, distinct seeds",
        ),
    }

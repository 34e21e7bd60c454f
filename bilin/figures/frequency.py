"""Figures of spatial frequency: a model's feature spectra, and frequency measures against noise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.feature_spectra import SPECTRUM_RANKS, FeatureSpectra
from bilin.analysis.stats import Band
from bilin.figures.style import PLOT_SIZE, finish

CLASS_COLOURS = plotly.colors.qualitative.D3  # ten distinct colours, one per class
SPECTRUM_NOTE = "spectrum: FFT power in rings of radius f cycles/image; centroid: Σ f E(f) / Σ E(f)"


def feature_spectra_figure(spectra: FeatureSpectra, classes: Sequence[str], title: str) -> go.Figure:
    """Left: each class's M_c energy per ring; right: each component's spectral centroid by rank of
    |eigenvalue| (filled: positive eigenvalue, open: negative)."""
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=["energy of M_c per frequency", f"spectral centroid, top {SPECTRUM_RANKS} by |λ|"],
        horizontal_spacing=0.1,
    )
    frequencies = spectra.whole.frequencies.tolist()
    fractions, centroid = spectra.whole.fractions(), spectra.components.centroid()
    for c, name in enumerate(classes):
        colour = CLASS_COLOURS[c % len(CLASS_COLOURS)]
        fig.add_trace(
            go.Scatter(
                x=frequencies,
                y=fractions[c].tolist(),
                mode="lines",
                line={"color": colour},
                name=name,
                legendgroup=name,
            ),
            row=1,
            col=1,
        )
        order = spectra.by_magnitude[c, :SPECTRUM_RANKS]
        values = spectra.values[c, order]
        fig.add_trace(
            go.Scatter(
                x=list(range(len(order))),
                y=centroid[c, order].tolist(),
                mode="lines+markers",
                line={"color": colour, "width": 1},
                marker={
                    "color": [colour if v > 0 else "white" for v in values.tolist()],
                    "line": {"color": colour, "width": 1.5},
                    "size": 7,
                },
                name=name,
                legendgroup=name,
                showlegend=False,
            ),
            row=1,
            col=2,
        )
    fig.update_xaxes(title_text="spatial frequency (cycles/image)", row=1, col=1)
    fig.update_yaxes(title_text="fraction of energy", row=1, col=1)
    fig.update_xaxes(title_text="rank by |eigenvalue| (0 = largest)", row=1, col=2)
    fig.update_yaxes(title_text="centroid (cycles/image)", row=1, col=2)
    fig.update_layout(legend_title_text="class")
    subtitle = (
        SPECTRUM_NOTE + "<br>M_c: its components' spectra weighted by |λ|; right: filled = positive λ, open = negative"
    )
    return finish(fig, title, size=(1100, 600), subtitle=subtitle)


def measures_vs_noise_figure(
    noises: Sequence[float], panels: Mapping[str, Mapping[str, Band]], title: str, y_title: str, subtitle: str
) -> go.Figure:
    """One subplot per panel (e.g. dataset), one line with its band per measure, against the noise std."""
    names = list(panels)
    fig = make_subplots(rows=1, cols=len(names), subplot_titles=names, horizontal_spacing=0.08)
    measures = list(dict.fromkeys(m for bands in panels.values() for m in bands))
    colours = {m: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, m in enumerate(measures)}
    x = [float(n) for n in noises]
    for col, name in enumerate(names, start=1):
        for measure, band in panels[name].items():
            colour = colours[measure]
            fig.add_trace(
                go.Scatter(
                    x=x + x[::-1],
                    y=band.high.tolist() + band.low.tolist()[::-1],
                    fill="toself",
                    fillcolor=colour,
                    opacity=0.2,
                    mode="lines",
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=measure,
                ),
                row=1,
                col=col,
            )
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=band.mean.tolist(),
                    mode="lines+markers",
                    line={"color": colour},
                    name=measure,
                    legendgroup=measure,
                    showlegend=col == 1,
                ),
                row=1,
                col=col,
            )
        fig.update_xaxes(title_text="training noise std σ", row=1, col=col)
    fig.update_yaxes(title_text=y_title, row=1, col=1)
    width = max(PLOT_SIZE[0], 480 * len(names) + 200)
    return finish(fig, title, size=(width, PLOT_SIZE[1]), subtitle=subtitle)

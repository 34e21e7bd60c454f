"""Figures of spatial frequency: a model's feature spectra, and frequency measures against noise."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import plotly.colors
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.feature_spectra import SPECTRUM_RANKS, FeatureSpectra
from bilin.analysis.stats import Band
from bilin.figures.style import PLOT_SIZE, band_trace, finish, plural

if TYPE_CHECKING:
    from bilin.csf.frequency_study import FrequencyStudy

CLASS_COLOURS = plotly.colors.qualitative.D3  # ten distinct colours, one per class
SPECTRUM_NOTE = "spectrum: FFT power in rings of radius f cycles/image; centroid: Σ f E(f) / Σ E(f)"


def feature_spectra_figure(spectra: FeatureSpectra, classes: Sequence[str], title: str) -> go.Figure:
    """Left: each class's M_c energy per ring; right: each component's spectral centroid by rank of
    |eigenvalue| (filled: positive eigenvalue, open: negative)."""
    ranks = min(SPECTRUM_RANKS, spectra.by_magnitude.shape[1])  # a small model has fewer components
    fig = make_subplots(
        rows=1,
        cols=2,
        subplot_titles=[
            "energy of M_c per frequency",
            f"spectral centroid, top {plural(ranks, 'component')} by |λ|",
        ],
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
                x=list(range(1, len(order) + 1)),
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
    fig.update_xaxes(title_text="rank by |eigenvalue| (#1 = largest)", range=[0.5, ranks + 0.5], row=1, col=2)
    fig.update_yaxes(title_text="centroid (cycles/image)", row=1, col=2)
    fig.update_layout(legend_title_text="class")
    subtitle = (
        SPECTRUM_NOTE + "<br>M_c: its components' spectra weighted by |λ|; right: filled = positive λ, open = negative"
    )
    return finish(fig, title, size=(1100, 600), subtitle=subtitle)


def measures_vs_noise_figure(
    noises: Sequence[float], rows: Mapping[str, Mapping[str, Mapping[str, Band]]], title: str, subtitle: str
) -> go.Figure:
    """rows: {y-axis title: {column title (e.g. dataset): {measure: band}}}: a grid of subplots, one
    line with its band per measure, against the training noise std; the panels of a row (one
    quantity) share their y range."""
    columns = list(dict.fromkeys(c for row in rows.values() for c in row))
    fig = make_subplots(
        rows=len(rows),
        cols=len(columns),
        subplot_titles=[c if r == 0 else "" for r in range(len(rows)) for c in columns],
        horizontal_spacing=0.08,
        vertical_spacing=0.12 if len(rows) > 1 else 0.02,
        shared_yaxes=True,  # a row is one quantity: its panels share one y range
    )
    measures = list(dict.fromkeys(m for row in rows.values() for panel in row.values() for m in panel))
    colours = {m: CLASS_COLOURS[i % len(CLASS_COLOURS)] for i, m in enumerate(measures)}
    x = [float(n) for n in noises]
    shown = set()
    for r, (y_title, row) in enumerate(rows.items(), start=1):
        for c, column in enumerate(columns, start=1):
            panel = row.get(column, {})
            for measure, band in panel.items():  # every band first: no band covers a mean line
                trace = band_trace(x, band.low.tolist(), band.high.tolist(), colours[measure], measure)
                fig.add_trace(trace, row=r, col=c)
            for measure, band in panel.items():
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=band.mean.tolist(),
                        mode="lines+markers",
                        line={"color": colours[measure]},
                        name=measure,
                        legendgroup=measure,
                        showlegend=measure not in shown,
                    ),
                    row=r,
                    col=c,
                )
                shown.add(measure)
            fig.update_xaxes(title_text="training noise std σ" if r == len(rows) else "", row=r, col=c)
        fig.update_yaxes(title_text=y_title, row=r, col=1)
    width = max(PLOT_SIZE[0], 480 * len(columns) + 260)
    return finish(fig, title, size=(width, 380 * len(rows) + 140), subtitle=subtitle)


def frequency_study_figure(study: FrequencyStudy) -> go.Figure:
    """`bilin frequency`'s figure: a row per quantity (peak, bandwidth, centroid), a column per dataset,
    a band per source (weights, probe, eigenvectors, featvis) against the training noise."""
    from bilin.analysis.feature_spectra import TOP_FEATURES
    from bilin.csf.frequency_study import MEASURES
    from bilin.data import DATASETS

    bands, settings = study.bands.bands, study.settings
    grid: dict[str, dict[str, dict[str, Band]]] = {}
    for column, source, row, _ in MEASURES:
        for dataset in study.datasets:
            grid.setdefault(row, {}).setdefault(DATASETS[dataset].title, {})[source] = bands[(dataset, column)]
    return measures_vs_noise_figure(
        study.noises,
        grid,
        "Spatial frequency from the weights, the probe and the features vs training noise",
        f"mean and 90% Student-t band over {study.seeds_note}; "
        f"{settings.protocol} gratings at {len(settings.frequencies)} frequencies"
        f"<br>weights: threshold where the logits move by {settings.criterion:g} nat (RMS over 13 orientations)"
        f"<br>probe: layer {settings.layer}, Weibull-fitted thresholds; centroids: top {TOP_FEATURES} eigenvectors "
        f"per class, {settings.featvis_method} featvis images",
    )

"""The decompose command's figures: figure 2, figure 3 per class, the spatial frequencies, and the
optional input-space figure 2, two-dataset panel and explanation."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import plotly.graph_objects as go

from bilin.analysis.decomposition import PANEL_DATASETS, Decomposition
from bilin.data import DATASETS
from bilin.figures.eigen import explanation_figure, panel_figure, spectrum_figure, top_eigenvector_figure
from bilin.figures.frequency import feature_spectra_figure


def decomposition_figures(result: Decomposition) -> dict[str, go.Figure]:
    """A model with biases: each image is its eigenvector's image part, its constant coordinate (the
    weight of the input 1 in [x; 1]) written beside its λ as "1: value"."""
    return {name: build() for name, build in decomposition_figure_builders(result).items()}


def decomposition_figure_builders(result: Decomposition) -> dict[str, Callable[[], go.Figure]]:
    """decomposition_figures, each figure built when called: a run's writer builds one while the
    browser draws the one before (bilin.running.folder.RunDir.write_figures)."""
    eigen, classes, title = result.eigen, result.classes, DATASETS[result.dataset].title
    shape = (result.side, result.side)
    figures = {
        "fig2_top_eigenvectors": partial(
            top_eigenvector_figure,
            eigen.images,
            eigen.values,
            classes,
            shape,
            f"{title}: top positive eigenvector per class",
            eigen.constants,
        )
    }
    for c, name in enumerate(classes):
        figures[f"fig3_spectrum_class{c}"] = partial(
            spectrum_figure, eigen.images, eigen.values, c, name, shape, constants=eigen.constants
        )
    figures["frequency"] = partial(
        feature_spectra_figure, result.spectra, classes, f"{title}: spatial frequencies of the eigenvectors"
    )
    if result.input_space is not None:
        figures["fig2_top_eigenvectors_input_space"] = partial(
            top_eigenvector_figure,
            result.input_space.images,
            result.input_space.values,
            classes,
            shape,
            f"{title}: top eigenvector of M_c = E^T Q_c E per class",
            result.input_space.constants,
        )
    if result.panel is not None:
        rows = [
            (DATASETS[d].title, result.panel[d].images, result.panel[d].values, DATASETS[d].classes)
            for d in PANEL_DATASETS
        ]
        figures["fig2_panel"] = partial(panel_figure, rows, shape, "Top positive eigenvector per class")
    if result.explanation is not None:
        explanation = result.explanation
        label = classes[explanation.label] if explanation.label is not None else "unknown"
        figures["explain"] = partial(explanation_figure, explanation, label, classes, eigen, shape)
    return figures

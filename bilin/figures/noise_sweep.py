"""The noise sweep's figures: figure 4 (the top eigenvector vs the training noise) and the same as a
number, the spectral centroid of the top eigenvectors with its band over seeds."""

from __future__ import annotations

import plotly.graph_objects as go

from bilin.analysis.feature_spectra import TOP_FEATURES
from bilin.analysis.noise_sweep import CENTROID_MEASURES, NoiseSweep
from bilin.data import DATASETS
from bilin.figures.eigen import SIGN_NOTE, image_grid
from bilin.figures.frequency import SPECTRUM_NOTE, measures_vs_noise_figure

MEASURE_LABELS = {
    "centroid_top_eigenvectors": f"top {TOP_FEATURES} eigenvectors of every class",
    "centroid_top_eigenvector": "top eigenvector of the target class",
}


def noise_sweep_figures(sweep: NoiseSweep, d_hidden: int, epochs: int) -> dict[str, go.Figure]:
    """fig4_noise_sweep and frequency_vs_noise; d_hidden and epochs: how the models were trained."""
    return {
        "fig4_noise_sweep": top_eigenvector_grid(sweep, d_hidden, epochs),
        "frequency_vs_noise": frequency_vs_noise(sweep, d_hidden, epochs),
    }


def _target(dataset: str, sweep: NoiseSweep) -> str:
    return DATASETS[dataset].classes[sweep.target_class]


def top_eigenvector_grid(sweep: NoiseSweep, d_hidden: int, epochs: int) -> go.Figure:
    """Figure 4: one row per dataset, one column per noise, the first seed's model in each cell."""
    first = sweep.first_seed
    return image_grid(
        [p.top.image for p in first],
        [f"σ={p.noise:g}: {p.val_acc * 100:.1f}%" for p in first],
        cols=len(sweep.noises),
        row_labels=[f"{DATASETS[dataset].title}: {_target(dataset, sweep)}" for dataset in sweep.datasets],
        title="Top eigenvector vs training input noise",
        subtitle=f"above each image: noise std σ and val accuracy (d={d_hidden}, {epochs} epochs, "
        f"seed {sweep.seeds[0]})<br>{SIGN_NOTE}",
    )


def frequency_vs_noise(sweep: NoiseSweep, d_hidden: int, epochs: int) -> go.Figure:
    """Figure 4 as a number: the spectral centroid of the top eigenvectors against the noise, with a
    90% Student-t band over the seeds."""
    bands = sweep.bands()
    panels = {
        f"{DATASETS[dataset].title} (target: {_target(dataset, sweep)})": {
            MEASURE_LABELS[measure]: bands.bands[(dataset, measure)] for measure in CENTROID_MEASURES
        }
        for dataset in sweep.datasets
    }
    seeds = len(sweep.seeds)
    over = f"{seeds} seed{'s' if seeds > 1 else ''}" + (" (one seed: no band)" if seeds == 1 else "")
    return measures_vs_noise_figure(
        sweep.noises,
        {"spectral centroid (cycles/image)": panels},
        "Spatial frequency of the top eigenvectors vs training noise",
        f"mean and 90% Student-t band over {over}; d={d_hidden}, {epochs} epochs<br>{SPECTRUM_NOTE}",
    )

"""The augmentation grid's figures: the top eigenvector of one class in every cell with its accuracy
(the paper's appendix), and the cells' numbers (accuracy, effective rank, spectral centroid) against
the column augmentation, one line per row strength with its band over seeds."""

from __future__ import annotations

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from bilin.analysis.augment_grid import AugmentGrid
from bilin.figures.eigen import SIGN_NOTE, image_grid
from bilin.figures.frequency import CLASS_COLOURS
from bilin.figures.style import band_trace, finish

AXIS_LABELS = {  # an augmentation's strength, as an axis or a cell says it
    "noise": "noise std σ",
    "blur": "blur σ (px)",
    "rotate": "rotation (±degrees)",
    "translate": "translation (±fraction of side)",
    "salt_pepper": "salt-and-pepper rate",
}
PANELS = {  # measures shown against the axes, and their y-axis titles
    "val_acc": "val accuracy (%)",
    "effective_rank": "effective rank of the spectrum",
    "centroid_top_eigenvector": "centroid of the top eigenvector (cycles/image)",
}


def augment_grid_figures(grid: AugmentGrid, target: str, d_hidden: int, epochs: int) -> dict[str, go.Figure]:
    """augment_grid (the eigenvector images) and augment_measures; target: the target class as the titles say it."""
    return {
        "augment_grid": eigenvector_grid(grid, target, d_hidden, epochs),
        "augment_measures": measures_figure(grid, target, d_hidden, epochs),
    }


def _short(name: str, value: float) -> str:
    return f"{name}={value:g}"


def eigenvector_grid(grid: AugmentGrid, target: str, d_hidden: int, epochs: int) -> go.Figure:
    """One row per row strength, one column per column strength, the first seed's model in each cell."""
    first = grid.first_seed
    return image_grid(
        [c.top.image for c in first],
        [f"{_short(grid.cols, c.col)}: {c.val_acc * 100:.1f}%" for c in first],
        cols=len(grid.col_values),
        row_labels=[_short(grid.rows, r) for r in grid.row_values],
        title=f"Top eigenvector of {target} vs {AXIS_LABELS[grid.rows]} and {AXIS_LABELS[grid.cols]}",
        subtitle=f"above each image: {AXIS_LABELS[grid.cols]} and val accuracy (d={d_hidden}, {epochs} epochs, "
        f"seed {grid.seeds[0]})<br>{SIGN_NOTE}",
    )


def measures_figure(grid: AugmentGrid, target: str, d_hidden: int, epochs: int) -> go.Figure:
    """A panel per measure against the column strength, a line (and 90% t band) per row strength."""
    bands, n_cols = grid.bands(), len(grid.col_values)
    fig = make_subplots(rows=1, cols=len(PANELS), subplot_titles=list(PANELS.values()), horizontal_spacing=0.08)
    x = [float(v) for v in grid.col_values]
    for p, measure in enumerate(PANELS, start=1):
        scale = 100 if measure == "val_acc" else 1
        band = bands[measure]
        for r, value in enumerate(grid.row_values):
            colour, name = CLASS_COLOURS[r % len(CLASS_COLOURS)], _short(grid.rows, value)
            part = slice(r * n_cols, (r + 1) * n_cols)
            low, high = (band.low[part] * scale).tolist(), (band.high[part] * scale).tolist()
            fig.add_trace(band_trace(x, low, high, colour, name), row=1, col=p)
        for r, value in enumerate(grid.row_values):
            colour, name = CLASS_COLOURS[r % len(CLASS_COLOURS)], _short(grid.rows, value)
            mean = (band.mean[r * n_cols : (r + 1) * n_cols] * scale).tolist()
            line = go.Scatter(
                x=x, y=mean, mode="lines+markers", line={"color": colour}, name=name, legendgroup=name,
                showlegend=p == 1,
            )  # fmt: skip
            fig.add_trace(line, row=1, col=p)
        fig.update_xaxes(title_text=AXIS_LABELS[grid.cols], row=1, col=p)
    seeds = len(grid.seeds)
    over = f"{seeds} seed{'s' if seeds > 1 else ''}" + (" (one seed: no band)" if seeds == 1 else "")
    return finish(
        fig,
        f"Accuracy, effective rank and spatial frequency of {target} vs the augmentations",
        size=(1400, 520),
        subtitle=f"mean and 90% Student-t band over {over}; d={d_hidden}, {epochs} epochs; effective rank: "
        "exp(entropy of |λ|/Σ|λ|) over the class's eigenvalues",
    )

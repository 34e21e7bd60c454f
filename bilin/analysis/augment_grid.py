"""The augmentation grid in numbers: models trained at every pair of strengths of two augmentations
(and several seeds), and per cell the target class's top eigenvector, the accuracy, the effective rank
of the class's spectrum and the spectral centroid of its top eigenvectors, each with its mean and 90%
Student-t band over the seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bilin.analysis.decompose import eigendecompose, orient_to_class
from bilin.analysis.effective_rank import effective_rank
from bilin.analysis.noise_sweep import TopEigenvector, top_eigenvector_of
from bilin.analysis.stats import Band, t_band

MEASURES = {  # the per-model numbers of augment_grid.csv, each banded over seeds
    "val_acc": "accuracy on the clean test set",
    "effective_rank": "effective rank of the target class's spectrum: exp(entropy of |λ| / Σ|λ|)",
    "centroid_top_eigenvector": "spectral centroid (cycles/image) of the target class's top eigenvector",
    "centroid_top_eigenvectors": "mean spectral centroid of the top 5 eigenvectors of every class",
    "top_eigenvalue": "the target class's largest eigenvalue",
}


@dataclass
class GridCell:
    """One model: its strengths on the two axes, its seed and its measures."""

    row: float
    col: float
    seed: int
    val_acc: float
    top: TopEigenvector
    effective_rank: float

    def measures(self) -> dict[str, float]:
        return {
            "val_acc": self.val_acc,
            "effective_rank": self.effective_rank,
            "centroid_top_eigenvector": self.top.centroid,
            "centroid_top_eigenvectors": self.top.centroid_top,
            "top_eigenvalue": self.top.eigenvalue,
        }


def grid_cell(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, target_class: int, val_acc: float, at: tuple
) -> GridCell:
    """A model's cell `at` (row strength, col strength, seed); the test images x (N, side * side) in
    [0, 1] and labels y sign its eigenvectors (orient_to_class)."""
    eigen = orient_to_class(eigendecompose(model), x, y)
    top = top_eigenvector_of(eigen, round(x.shape[1] ** 0.5), target_class)
    return GridCell(*at, val_acc, top, float(effective_rank(eigen.values[target_class])))


@dataclass
class AugmentGrid:
    """The cells in grid order (row strengths, then column strengths, then seeds)."""

    rows: str  # the augmentation along the rows
    row_values: Sequence[float]
    cols: str
    col_values: Sequence[float]
    seeds: Sequence[int]
    target_class: int
    cells: list[GridCell] = field(default_factory=list)

    @property
    def first_seed(self) -> list[GridCell]:
        """The first seed's cells, one per (row, col): the figure's images."""
        return [c for c in self.cells if c.seed == self.seeds[0]]

    def points(self) -> list[tuple[float, float]]:
        """The (row, col) strengths of the grid, row-major."""
        return [(r, c) for r in self.row_values for c in self.col_values]

    def rows_table(self) -> list[dict]:
        return [{self.rows: c.row, self.cols: c.col, "seed": c.seed, **c.measures()} for c in self.cells]

    def bands(self) -> dict[str, Band]:
        """Each measure's band over the seeds, one point per (row, col) in points() order."""
        by_cell = {(c.row, c.col, c.seed): c.measures() for c in self.cells}
        return {
            name: t_band(
                torch.tensor([[by_cell[(*p, s)][name] for p in self.points()] for s in self.seeds], dtype=torch.float64)
            )
            for name in MEASURES
        }

    def band_rows(self) -> list[dict]:
        return [
            {
                self.rows: r,
                self.cols: c,
                "measure": name,
                "mean": float(band.mean[i]),
                "low": float(band.low[i]),
                "high": float(band.high[i]),
                "samples": band.samples,
                "confidence": band.confidence,
            }
            for name, band in self.bands().items()
            for i, (r, c) in enumerate(self.points())
        ]

    def tables(self) -> dict[str, list[dict]]:
        return {"augment_grid.csv": self.rows_table(), "augment_grid_bands.csv": self.band_rows()}

    def images(self) -> torch.Tensor:
        """(rows, cols, side, side): the first seed's top eigenvectors."""
        first = self.first_seed
        return torch.stack([c.top.image for c in first]).view(
            len(self.row_values), len(self.col_values), *first[0].top.image.shape
        )

    def headline(self) -> dict[str, float]:
        """The mean accuracy over seeds of each cell."""
        mean = self.bands()["val_acc"].mean.tolist()
        return {f"val_acc.{self.rows}{r:g}.{self.cols}{c:g}": m for (r, c), m in zip(self.points(), mean, strict=True)}

"""Figure 4 in numbers: one class's top eigenvector in models trained at several input-noise stds (and
seeds), its eigenvalue and spatial frequency, and their 90% Student-t bands over the seeds."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bilin.analysis.decompose import Eigen, eigendecompose, orient_to_class
from bilin.analysis.effective_rank import effective_rank, effective_rank_bands
from bilin.analysis.feature_spectra import feature_spectra
from bilin.analysis.stats import SweepBands, sweep_bands

# the columns of noise_sweep.csv that the frequency figure bands over seeds
CENTROID_MEASURES = ("centroid_top_eigenvectors", "centroid_top_eigenvector")


@dataclass
class TopEigenvector:
    """One model's top eigenvector of the target class, signed by orient_to_class, and its spatial frequency."""

    image: torch.Tensor  # (side, side)
    eigenvalue: float
    centroid: float  # its spectral centroid (cycles/image)
    centroid_top: float  # the mean centroid of every class's top eigenvectors (FeatureSpectra.top_centroid)


def top_eigenvector(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, target_class: int) -> TopEigenvector:
    """The model's eigenvectors signed by its test images x (N, side * side) in [0, 1] and labels y
    (orient_to_class), then the target class's top one (largest eigenvalue)."""
    return read_model(model, x, y, target_class)[0]


def read_model(
    model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, target_class: int
) -> tuple[TopEigenvector, torch.Tensor]:
    """top_eigenvector, and the effective rank of every class's spectrum (classes,), from one eigendecomposition."""
    eigen = eigendecompose(model)
    top = top_eigenvector_of(orient_to_class(eigen, x, y), round(x.shape[1] ** 0.5), target_class)
    return top, effective_rank(eigen.values).cpu()


def top_eigenvector_of(eigen: Eigen, side: int, target_class: int) -> TopEigenvector:
    """The target class's top eigenvector of a signed decomposition of side x side images."""
    values, vectors = eigen.top()
    spectra = feature_spectra(eigen, side)
    top = int(spectra.values[target_class].argmax())
    return TopEigenvector(
        eigen.image_part(vectors[target_class]).reshape(side, side),
        float(values[target_class]),
        float(spectra.components.centroid()[target_class, top]),
        float(spectra.top_centroid().mean()),
    )


@dataclass
class SweepPoint:
    dataset: str
    noise: float
    seed: int
    val_acc: float
    top: TopEigenvector
    effective_ranks: torch.Tensor | None = None  # (classes,) of each class's spectrum


@dataclass
class NoiseSweep:
    """The points in sweep order (datasets, then noises, then seeds); the figure shows the first seed's."""

    datasets: Sequence[str]
    noises: Sequence[float]
    seeds: Sequence[int]
    target_class: int
    points: list[SweepPoint] = field(default_factory=list)

    @property
    def first_seed(self) -> list[SweepPoint]:
        """The first seed's points, one per (dataset, noise): figure 4's images."""
        return [p for p in self.points if p.seed == self.seeds[0]]

    def rows(self) -> list[dict]:
        return [
            {
                "dataset": p.dataset,
                "noise": p.noise,
                "seed": p.seed,
                "val_acc": p.val_acc,
                "top_eigenvalue": p.top.eigenvalue,
                "centroid_top_eigenvector": p.top.centroid,
                "centroid_top_eigenvectors": p.top.centroid_top,
            }
            for p in self.points
        ]

    def bands(self) -> SweepBands:
        """The centroids' bands over seeds, per dataset, along the noise."""
        # samples read at float32: the precision noise_frequency_bands.csv has always had
        return sweep_bands(self.rows(), self.datasets, CENTROID_MEASURES, "noise", self.noises, dtype=torch.float32)

    def tables(self) -> dict[str, list[dict]]:
        tables = {"noise_sweep.csv": self.rows(), "noise_frequency_bands.csv": self.bands().rows()}
        if self.points and all(p.effective_ranks is not None for p in self.points):
            tables.update(self.effective_rank_tables())
        return tables

    def effective_rank_tables(self) -> dict[str, list[dict]]:
        """noise_effective_rank.csv (every model and class) and noise_effective_rank_bands.csv (per
        dataset, noise and class, and for the classes' mean: the mean and 90% t band over seeds)."""
        rows = [
            {"dataset": p.dataset, "noise": p.noise, "seed": p.seed, "class": c, "effective_rank": float(rank)}
            for p in self.points
            for c, rank in enumerate(p.effective_ranks)
        ]
        bands = []
        for dataset in self.datasets:
            for noise in self.noises:
                ranks = torch.stack(
                    [p.effective_ranks for p in self.points if (p.dataset, p.noise) == (dataset, noise)]
                )
                bands += effective_rank_bands(ranks, dataset=dataset, noise=noise)
        return {"noise_effective_rank.csv": rows, "noise_effective_rank_bands.csv": bands}

    def images(self) -> torch.Tensor:
        """(points of the first seed, side, side): figure 4's top eigenvectors."""
        return torch.stack([p.top.image for p in self.first_seed])

    def headline(self) -> dict[str, float]:
        return {f"val_acc.{p.dataset}.noise{p.noise:g}": p.val_acc for p in self.first_seed}

"""Truncation (docs/science.md section 5): keep per class the k components of largest |lambda|.

A model with biases has d + 1 components per class, in [x; 1] (bilin.analysis.decompose): all of
them give its logits exactly."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from einops import einsum
from torch import nn

from bilin.analysis.decompose import Eigen, eigendecompose
from bilin.analysis.effective_rank import effective_rank, effective_rank_bands
from bilin.analysis.stats import Band, t_band
from bilin.errors import UserError


def components_by_magnitude(eigen: Eigen) -> Eigen:
    """The same components, reordered per class by descending |lambda| (signs kept)."""
    order = eigen.values.abs().argsort(dim=1, descending=True, stable=True)
    values = eigen.values.gather(1, order)
    vectors = eigen.vectors.gather(1, order[..., None].expand(-1, -1, eigen.vectors.shape[2]))
    return eigen.with_components(values, vectors)


def truncated_logits(eigen: Eigen, x: torch.Tensor, k: int) -> torch.Tensor:
    """(batch, inputs) -> (batch, classes) using the top-k |lambda| components of each class."""
    d = eigen.values.shape[1]
    if not 0 <= k <= d:
        raise UserError(f"k={k} is outside 0..{d} (the model has {d} components per class)")
    ranked = components_by_magnitude(eigen)
    projections = einsum(ranked.vectors[:, :k], ranked.inputs(x), "c k i, b i -> b c k")
    return einsum(projections.square(), ranked.values[:, :k], "b c k, c k -> b c")


def truncation_accuracy(
    eigen: Eigen, x: torch.Tensor, y: torch.Tensor, ks: list[int], chunk: int = 2500
) -> torch.Tensor:
    """(len(ks),) accuracy with the top-k components for each k, in one pass over the data.

    Projections are computed once for the largest k; each smaller k is a cumulative sum.
    """
    d = eigen.values.shape[1]
    bad = [k for k in ks if not 0 <= k <= d]
    if bad:
        raise UserError(f"k={bad[0]} is outside 0..{d} (the model has {d} components per class)")
    k_max = max(ks)
    ranked = components_by_magnitude(eigen)
    correct = torch.zeros(len(ks), device=x.device)
    index = torch.tensor(ks, device=x.device)
    for start in range(0, len(x), chunk):
        xs = ranked.inputs(x[start : start + chunk])
        terms = einsum(ranked.vectors[:, :k_max], xs, "c k i, b i -> b c k").square() * ranked.values[:, :k_max]
        # cumulative[b, c, j] = logit with the top j components; j = 0 is all zeros (chance: ties -> class 0)
        cumulative = torch.cat([torch.zeros_like(terms[..., :1]), terms.cumsum(-1)], dim=-1)
        predicted = cumulative[..., index].argmax(dim=1)  # (b, len(ks))
        correct += (predicted == y[start : start + chunk, None]).sum(0).float()
    return correct / len(x)


@dataclass
class TruncationGrid:
    """Every model of a sizes x seeds grid, truncated to its top-k components for each k."""

    sizes: list[int]
    seeds: list[int]
    ks: list[int]
    accuracy: torch.Tensor  # (sizes, seeds, ks) with the top-k components
    full: torch.Tensor  # (sizes, seeds) the model's own accuracy
    confidence: float = 0.9  # of the Student-t bands over seeds
    effective_ranks: torch.Tensor | None = None  # (sizes, seeds, classes) of each class's spectrum

    def error(self) -> dict[int, Band]:
        """Test error with the top-k components, per size: mean and band over seeds, in [0, 1]."""
        return {size: t_band(1 - self.accuracy[i], self.confidence).clipped(0, 1) for i, size in enumerate(self.sizes)}

    def drop(self) -> dict[int, Band]:
        """Full accuracy minus truncated accuracy, per size: mean and band over seeds, cut to
        [0, 1] (a truncated model beating the full one on average still shows its negative mean)."""
        return {
            size: t_band(self.full[i, :, None] - self.accuracy[i], self.confidence).clipped(0, 1)
            for i, size in enumerate(self.sizes)
        }

    def tables(self) -> dict[str, list[dict]]:
        rows = [
            {
                "size": size,
                "seed": seed,
                "k": k,
                "accuracy": float(self.accuracy[i, j, n]),
                "full_accuracy": float(self.full[i, j]),
            }
            for i, size in enumerate(self.sizes)
            for j, seed in enumerate(self.seeds)
            for n, k in enumerate(self.ks)
        ]
        bands = [
            row
            for name, curves in (("error", self.error()), ("drop", self.drop()))
            for size, band in curves.items()
            for row in band.rows("k", self.ks, curve=name, size=size)
        ]
        tables = {"truncation.csv": rows, "truncation_bands.csv": bands}
        if self.effective_ranks is not None:
            tables.update(self.effective_rank_tables())
        return tables

    def effective_rank_tables(self) -> dict[str, list[dict]]:
        """effective_rank.csv (every model and class) and effective_rank_bands.csv (per size and class,
        and for the classes' mean: the mean and band over seeds)."""
        ranks = self.effective_ranks
        rows = [
            {"size": size, "seed": seed, "class": c, "effective_rank": float(ranks[i, j, c])}
            for i, size in enumerate(self.sizes)
            for j, seed in enumerate(self.seeds)
            for c in range(ranks.shape[2])
        ]
        bands = [
            row
            for i, size in enumerate(self.sizes)
            for row in effective_rank_bands(ranks[i], self.confidence, size=size)
        ]
        return {"effective_rank.csv": rows, "effective_rank_bands.csv": bands}


def truncation_grid(
    models: Mapping[tuple[int, int], nn.Module],
    sizes: list[int],
    seeds: list[int],
    x: torch.Tensor,
    y: torch.Tensor,
    ks: list[int],
) -> TruncationGrid:
    """models[(size, seed)] on the test set (x, y): full accuracy and accuracy for each k."""
    accuracy = torch.zeros(len(sizes), len(seeds), len(ks))
    full = torch.zeros(len(sizes), len(seeds))
    ranks = torch.zeros(len(sizes), len(seeds), 0, dtype=torch.float64)
    for i, size in enumerate(sizes):
        for j, seed in enumerate(seeds):
            model = models[(size, seed)]
            with torch.no_grad():
                full[i, j] = (model(x).argmax(-1) == y).float().mean().item()
            eigen = eigendecompose(model)
            accuracy[i, j] = truncation_accuracy(eigen, x, y, ks).cpu()
            if ranks.shape[2] == 0:
                ranks = torch.zeros(len(sizes), len(seeds), eigen.values.shape[0], dtype=torch.float64)
            ranks[i, j] = effective_rank(eigen.values).cpu()
    return TruncationGrid(list(sizes), list(seeds), list(ks), accuracy, full, effective_ranks=ranks)

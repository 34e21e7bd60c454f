"""Eigenvector similarity across models (docs/science.md section 6).

Two mistakes of the original notebooks are fixed here: "top" means the largest positive
eigenvalues (eigh returns them last, not first), and pairs are always of distinct models.
Models with biases are compared in the augmented input [x; 1], the space their eigenvectors live in
(bilin.analysis.decompose): the constant coordinate counts like a pixel.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bilin.analysis.decompose import Eigen
from bilin.analysis.stats import Band, t_band
from bilin.errors import UserError

ORDERS = ("top", "bottom", "abs")


def ranked_vectors(eigen: Eigen, order: str = "top", n: int = 20) -> torch.Tensor:
    """(classes, n, inputs): rank 0 = largest positive (top), most negative (bottom) or largest |lambda|."""
    if order not in ORDERS:
        raise UserError(f"order={order!r} is not one of {ORDERS}")
    n = min(n, eigen.values.shape[1])
    if order == "top":
        index = eigen.values.argsort(dim=1, descending=True, stable=True)
    elif order == "bottom":
        index = eigen.values.argsort(dim=1, stable=True)
    else:
        index = eigen.values.abs().argsort(dim=1, descending=True, stable=True)
    index = index[:, :n]
    return eigen.vectors.gather(1, index[..., None].expand(-1, -1, eigen.vectors.shape[2]))


def abs_cosine(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """|cos| between matching rows: (..., inputs) x (..., inputs) -> (...); sign-invariant."""
    return F.cosine_similarity(a, b, dim=-1).abs()


def distinct_pairs(seeds_a: list[int], seeds_b: list[int], same_models: bool) -> list[tuple[int, int]]:
    """Index pairs (i, j) of models with different seeds. When both lists are the same models
    (same size), each unordered pair appears once; a model is never paired with itself."""
    pairs = (
        itertools.combinations(range(len(seeds_a)), 2)
        if same_models
        else itertools.product(range(len(seeds_a)), range(len(seeds_b)))
    )
    return [(i, j) for i, j in pairs if seeds_a[i] != seeds_b[j]]


def pair_similarities(
    group_a: list[torch.Tensor], group_b: list[torch.Tensor], seeds_a: list[int], seeds_b: list[int], same_models: bool
) -> torch.Tensor:
    """(pairs, classes, ranks) |cos| of same-class, same-rank eigenvectors over distinct-seed pairs."""
    pairs = distinct_pairs(seeds_a, seeds_b, same_models)
    if not pairs:
        raise UserError("no pair of models with different seeds to compare: the grid needs at least two seeds")
    return torch.stack([abs_cosine(group_a[i], group_b[j]) for i, j in pairs])


ORDER_LABELS = {"top": "largest positive", "bottom": "most negative", "abs": "largest |λ|"}


@dataclass
class SimilarityGrid:
    """Same-class, same-rank |cos| across a sizes x seeds grid, over pairs of distinct seeds."""

    sizes: list[int]
    reference_size: int
    order: str
    to_reference: dict[int, torch.Tensor]  # size -> (seed pairs, classes, ranks) |cos| to the reference size
    rank0: torch.Tensor  # (sizes, sizes) mean rank-0 |cos| between two sizes
    confidence: float = 0.9

    @property
    def ranks(self) -> int:
        return next(iter(self.to_reference.values())).shape[-1]

    def bands(self) -> dict[int, Band]:
        """Per size: mean and band over (seed pair, class) samples, for each rank, within [0, 1]."""
        return {
            size: t_band(sims.flatten(0, 1), self.confidence).clipped(0, 1) for size, sims in self.to_reference.items()
        }

    def tables(self) -> dict[str, list[dict]]:
        rows = [
            {"size": size, "reference_size": self.reference_size, "rank": r, "mean_abs_cos": float(v)}
            for size, sims in self.to_reference.items()
            for r, v in enumerate(sims.mean((0, 1)))
        ]
        heat = [
            {"size_a": a, "size_b": b, "mean_abs_cos": float(self.rank0[i, j])}
            for i, a in enumerate(self.sizes)
            for j, b in enumerate(self.sizes)
        ]
        bands = [
            row
            for size, band in self.bands().items()
            for row in band.rows("rank", list(range(self.ranks)), size=size, reference_size=self.reference_size)
        ]
        return {"similarity.csv": rows, "similarity_rank0.csv": heat, "similarity_bands.csv": bands}


def similarity_grid(
    eigens: Mapping[tuple[int, int], Eigen],
    sizes: list[int],
    seeds: list[int],
    reference_size: int,
    order: str = "top",
    ranks: int = 20,
) -> SimilarityGrid:
    """eigens[(size, seed)] of every model: similarity of each size to the reference size, and the
    rank-0 similarity between every two sizes."""
    ranked = {k: ranked_vectors(e, order, ranks) for k, e in eigens.items()}
    n = min(v.shape[1] for v in ranked.values())

    def compare(size_a: int, size_b: int) -> torch.Tensor:  # (pairs, classes, ranks)
        return pair_similarities(
            [ranked[(size_a, s)][:, :n] for s in seeds],
            [ranked[(size_b, s)][:, :n] for s in seeds],
            seeds,
            seeds,
            same_models=size_a == size_b,
        )

    to_reference = {size: compare(size, reference_size).cpu() for size in sizes}
    rank0 = torch.tensor([[compare(a, b)[..., 0].mean().item() for b in sizes] for a in sizes])
    return SimilarityGrid(list(sizes), reference_size, order, to_reference, rank0)

"""Eigenvector similarity across models (SPEC section 6).

Two mistakes of the original notebooks are fixed here: "top" means the largest positive
eigenvalues (eigh returns them last, not first), and pairs are always of distinct models.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F

from bilin.analysis.decompose import Eigen
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
    pairs = itertools.combinations(range(len(seeds_a)), 2) if same_models else \
        itertools.product(range(len(seeds_a)), range(len(seeds_b)))
    return [(i, j) for i, j in pairs if seeds_a[i] != seeds_b[j]]


def pair_similarities(group_a: list[torch.Tensor], group_b: list[torch.Tensor], seeds_a: list[int],
                      seeds_b: list[int], same_models: bool) -> torch.Tensor:
    """(pairs, classes, ranks) |cos| of same-class, same-rank eigenvectors over distinct-seed pairs."""
    pairs = distinct_pairs(seeds_a, seeds_b, same_models)
    if not pairs:
        raise UserError("no pair of models with different seeds to compare: the grid needs at least two seeds")
    return torch.stack([abs_cosine(group_a[i], group_b[j]) for i, j in pairs])

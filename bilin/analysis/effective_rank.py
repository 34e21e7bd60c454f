"""The effective rank of a spectrum (Roy and Vetterli 2007): exp of the Shannon entropy of the
eigenvalues' magnitudes as a distribution, p_k = |λ_k| / Σ|λ|. It is 1 when one eigenvalue holds
everything and n when n eigenvalues are equal in magnitude (docs/science.md)."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from bilin.analysis.stats import t_band


def effective_rank(values: torch.Tensor) -> torch.Tensor:
    """(..., k) eigenvalues -> (...,) effective ranks in [1, k] (float64); 0 for an all-zero spectrum."""
    magnitude = values.double().abs()
    total = magnitude.sum(-1, keepdim=True)
    p = magnitude / total.clamp_min(torch.finfo(torch.float64).tiny)
    entropy = -torch.special.xlogy(p, p).sum(-1)
    return torch.where(total[..., 0] > 0, entropy.exp(), torch.zeros_like(entropy))


def effective_rank_rows(values: torch.Tensor, classes: Sequence[str]) -> list[dict]:
    """One row per class of a (classes, k) spectrum: its effective rank and how many eigenvalues it has."""
    ranks = effective_rank(values)
    return [
        {"class": name, "effective_rank": float(ranks[c]), "components": values.shape[1]}
        for c, name in enumerate(classes)
    ]


def effective_rank_bands(ranks: torch.Tensor, confidence: float = 0.9, **labels: object) -> list[dict]:
    """Band rows over seeds of (seeds, classes) effective ranks: one per class and one for their mean
    over the classes (class "mean"), each with the mean and the Student-t band (bilin.analysis.stats)."""
    samples = torch.cat([ranks.double(), ranks.double().mean(-1, keepdim=True)], dim=-1)
    points = [*range(ranks.shape[-1]), "mean"]
    return t_band(samples, confidence).rows("class", points, **labels)

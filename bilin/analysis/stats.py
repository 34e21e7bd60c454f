"""Means with Student-t confidence bands (scipy), for curves averaged over seeds."""

from __future__ import annotations

import torch
from scipy.special import stdtrit  # Student t inverse CDF; scipy.stats would add ~2 s of import


def mean_t_band(samples: torch.Tensor, dim: int = 0, confidence: float = 0.9) -> tuple[torch.Tensor, ...]:
    """Mean and the two-sided `confidence` t interval of the mean along `dim`: (mean, low, high).

    With a single sample the band collapses to the mean (no spread to estimate).
    """
    samples = samples.double()
    n = samples.shape[dim]
    mean = samples.mean(dim)
    if n < 2:
        return mean, mean, mean
    sem = samples.std(dim, correction=1) / n ** 0.5
    half = float(stdtrit(n - 1, 0.5 + confidence / 2)) * sem
    return mean, mean - half, mean + half

"""Means with Student-t confidence bands (scipy), for curves averaged over seeds."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from scipy.special import stdtrit  # Student t inverse CDF; scipy.stats would add ~2 s of import


@dataclass
class Band:
    """A mean curve and its two-sided confidence band, each (points,), float64."""

    mean: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    samples: int
    confidence: float
    clip: tuple[float, float] | None = None  # the range the band was cut to, if it was

    def clipped(self, lower: float, upper: float) -> Band:
        """The band cut to the quantity's range [lower, upper] (a t band over few samples can leave
        it: an error below 0). Never cut past the mean, so the band always holds its mean curve."""
        low = self.low.clamp(lower, upper).minimum(self.mean)
        high = self.high.clamp(lower, upper).maximum(self.mean)
        return Band(self.mean, low, high, self.samples, self.confidence, (lower, upper))

    def describe(self, over: str) -> str:
        """How the band was made, for a figure's subtitle; over: what the samples were."""
        text = f"mean and {self.confidence:.0%} Student-t band over {over}"
        if self.clip is not None:
            text += f", clipped to [{self.clip[0]:g}, {self.clip[1]:g}]"
        return text

    def rows(self, x_name: str, x: list, **labels: object) -> list[dict[str, object]]:
        """One CSV row per point: the labels, x, mean, low, high, and how many samples made it."""
        return [
            {
                **labels,
                x_name: xi,
                "mean": float(m),
                "low": float(lo),
                "high": float(hi),
                "samples": self.samples,
                "confidence": self.confidence,
                "clipped_to": "" if self.clip is None else f"[{self.clip[0]:g}, {self.clip[1]:g}]",
            }
            for xi, m, lo, hi in zip(x, self.mean, self.low, self.high, strict=True)
        ]


def mean_t_band(samples: torch.Tensor, dim: int = 0, confidence: float = 0.9) -> tuple[torch.Tensor, ...]:
    """Mean and the two-sided `confidence` t interval of the mean along `dim`: (mean, low, high).

    With a single sample the band collapses to the mean (no spread to estimate).
    """
    samples = samples.double()
    n = samples.shape[dim]
    mean = samples.mean(dim)
    if n < 2:
        return mean, mean, mean
    sem = samples.std(dim, correction=1) / n**0.5
    half = float(stdtrit(n - 1, 0.5 + confidence / 2)) * sem
    return mean, mean - half, mean + half


def t_band(samples: torch.Tensor, confidence: float = 0.9) -> Band:
    """The band of a (samples, points) tensor over its first axis."""
    return Band(*mean_t_band(samples, 0, confidence), samples=samples.shape[0], confidence=confidence)

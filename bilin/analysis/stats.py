"""Means with Student-t confidence bands (scipy), for curves averaged over seeds."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
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


@dataclass
class SweepBands:
    """Bands over seeds of several measures per dataset, each a curve over one swept value."""

    x_name: str
    x: list
    bands: dict[tuple[str, str], Band]  # (dataset, measure) -> its band over x, datasets outermost

    def rows(self, notes: Mapping[str, str] | None = None) -> list[dict[str, object]]:
        """One CSV row per band point, labelled dataset and measure (and a note column when notes
        are given: notes[measure], "" for a measure without one)."""
        table = []
        for (dataset, measure), band in self.bands.items():
            labels: dict[str, object] = {"dataset": dataset, "measure": measure}
            if notes is not None:
                labels["note"] = notes.get(measure, "")
            table += band.rows(self.x_name, self.x, **labels)
        return table


def sweep_bands(
    rows: Sequence[Mapping[str, object]],
    datasets: Sequence[str],
    measures: Sequence[str],
    x_name: str,
    x: Sequence,
    clips: Mapping[str, tuple[float, float]] | None = None,
    confidence: float = 0.9,
    dtype: torch.dtype = torch.float64,
) -> SweepBands:
    """The t band over seeds of each measure (a column of rows) for each dataset, along x_name's
    values x; rows hold one sample per (dataset, x value, seed). clips: a measure's range, to
    cut its band to (Band.clipped); dtype: the precision the samples are read at (the band itself
    is always computed in float64)."""
    clips = clips or {}
    bands = {}
    for dataset in datasets:
        for measure in measures:
            samples = torch.tensor(
                [[r[measure] for r in rows if (r["dataset"], r[x_name]) == (dataset, xi)] for xi in x],
                dtype=dtype,
            ).T  # (seeds, points)
            band = t_band(samples, confidence)
            bands[(dataset, measure)] = band.clipped(*clips[measure]) if measure in clips else band
    return SweepBands(x_name, list(x), bands)

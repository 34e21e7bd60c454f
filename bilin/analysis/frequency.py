"""Spatial-frequency content of images and of a bilinear model's features, in cycles per image.

The spectrum of an image is its 2-D FFT's power |F|^2 (orthonormal, so it sums to ||image||^2),
gathered in rings: ring f holds every frequency (fx, fy) whose radius sqrt(fx^2 + fy^2) rounds to f
(fx, fy the FFT's integer frequencies, -H/2 .. H/2 - 1). Rings run to the corner, round(H/sqrt(2)),
so no energy is dropped; ring 0 is the mean (DC). `energy` is the ring's sum (fractions of the
image's energy), `mean_power` its average over the ring's frequencies (the radially averaged
power spectrum).

Summaries of an energy distribution over rings: the spectral centroid sum f E(f) / sum E(f), and
the half-energy frequency, where the cumulative energy reaches one half (ring f spread evenly over
the radii [f - 1/2, f + 1/2), so a pure grating of f cycles/image has both summaries equal to f).
Both leave ring 0 out: the mean is no spatial frequency, and an image in [0, 1] (a feature
visualisation) would otherwise be summarised by its mean grey rather than by its pattern.

A class's quadratic form M_c = sum_k lambda_k u_k u_k^T (u_k = E^T v_k) as a whole: the rings of
its components' spectra weighted by |lambda_k|, sum_k |lambda_k| E_{u_k}(f), normalised to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class RadialSpectrum:
    """energy: (..., rings); frequencies, ring_sizes (how many FFT frequencies each ring holds):
    (rings,), frequencies in cycles/image (0, 1, 2, ...)."""

    energy: torch.Tensor
    frequencies: torch.Tensor
    ring_sizes: torch.Tensor

    @property
    def mean_power(self) -> torch.Tensor:
        """(..., rings) the radially averaged power spectrum."""
        return self.energy / self.ring_sizes

    def fractions(self) -> torch.Tensor:
        """energy / total: (..., rings), each row summing to 1 (0 for an all-zero image)."""
        return _normalised(self.energy)

    def centroid(self) -> torch.Tensor:
        """(...,) sum f E(f) / sum E(f) over the rings f >= 1, cycles/image (0 for a constant image)."""
        return (self._patterned() * self.frequencies[1:]).sum(-1)

    def _patterned(self) -> torch.Tensor:
        """Fractions of the energy of rings f >= 1; zero where that is rounding noise of the mean."""
        return _normalised(self.energy[..., 1:], 1e-12 * self.energy.sum(-1, keepdim=True))

    def half_energy_frequency(self) -> torch.Tensor:
        """(...,) the frequency below which half of the energy of the rings f >= 1 lies, cycles/image:
        ring f stands for the radii [f - 1/2, f + 1/2) and its energy is spread evenly over them."""
        fractions = self._patterned()
        cumulative = fractions.cumsum(-1)
        ring = (cumulative < 0.5).sum(-1, keepdim=True).clamp_max(cumulative.shape[-1] - 1)  # first >= 1/2
        before = cumulative.gather(-1, ring) - fractions.gather(-1, ring)
        within = (0.5 - before) / fractions.gather(-1, ring).clamp_min(1e-300)
        frequency = torch.where(cumulative[..., -1:] > 0, ring + 0.5 + within, 0.0)  # index 0 is ring 1
        return frequency.squeeze(-1).to(self.energy.dtype)


def _normalised(energy: torch.Tensor, floor: torch.Tensor | float = 0.0) -> torch.Tensor:
    """energy / its sum; all zeros where the sum is <= floor (rounding noise is no pattern)."""
    total = energy.sum(-1, keepdim=True)
    return torch.where(total > floor, energy / torch.where(total > 0, total, 1.0), 0.0)


def ring_index(height: int, width: int) -> torch.Tensor:
    """(height, width) the ring of each FFT frequency: round(sqrt(fx^2 + fy^2)) in cycles/image."""
    fy = torch.fft.fftfreq(height, d=1 / height, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(width, d=1 / width, dtype=torch.float64)[None, :]
    return torch.sqrt(fx**2 + fy**2).round().long()


def radial_spectrum(images: torch.Tensor) -> RadialSpectrum:
    """images (..., H, W) -> the energy and mean power of each ring, float64."""
    height, width = images.shape[-2:]
    power = torch.fft.fft2(images.double(), norm="ortho").abs() ** 2  # (..., H, W)
    ring = ring_index(height, width).flatten()
    rings = int(ring.max()) + 1
    flat = power.flatten(-2)
    energy = torch.zeros(*flat.shape[:-1], rings, dtype=torch.float64).index_add_(-1, ring, flat)
    sizes = torch.bincount(ring, minlength=rings).double()
    return RadialSpectrum(energy, torch.arange(rings, dtype=torch.float64), sizes)


def quadratic_form_spectrum(values: torch.Tensor, components: RadialSpectrum) -> RadialSpectrum:
    """M = sum_k lambda_k u_k u_k^T as a whole: values (..., k) and the components' spectra
    (..., k, rings) -> the |lambda|-weighted sum of their ring energies, (..., rings), summing to 1."""
    energy = (values.abs().double()[..., None] * components.energy).sum(-2)
    energy = energy / energy.sum(-1, keepdim=True).clamp_min(1e-300)
    return RadialSpectrum(energy, components.frequencies, components.ring_sizes)


@dataclass
class BandPass:
    """The shape of a sensitivity curve S(f): peak frequency, the half-maximum cutoffs and the
    bandwidth log2(high / low) in octaves; each (...,). A cutoff outside the sampled frequencies is
    the range's end (`open_low` / `open_high` say so)."""

    peak: torch.Tensor
    low: torch.Tensor
    high: torch.Tensor
    open_low: torch.Tensor
    open_high: torch.Tensor

    @property
    def octaves(self) -> torch.Tensor:
        return torch.log2(self.high / self.low)


MIN_BAND_FREQUENCIES = 3  # a peak is the vertex through a sample and its two neighbours


def band_pass_note(sfs: list[float]) -> str:
    """Why a band-pass shape cannot be estimated from these frequencies ("" when it can)."""
    distinct = len(set(sfs))
    if distinct >= MIN_BAND_FREQUENCIES:
        return ""
    return (
        f"not estimable: a peak and a bandwidth need at least {MIN_BAND_FREQUENCIES} distinct frequencies, "
        f"{distinct} {'was' if distinct == 1 else 'were'} tested"
    )


def band_pass(sfs: torch.Tensor, sensitivity: torch.Tensor) -> BandPass:
    """sfs (n,) in any order, sensitivity (..., n) > 0 -> BandPass. The peak is the vertex of the
    parabola in (log f, log S) through the largest sample and its two neighbours (exact for a
    log-parabola CSF; the sample itself at the range's ends); the cutoffs are where log S, linear in
    log f between samples, falls to half of the largest sample. Fewer than MIN_BAND_FREQUENCIES
    distinct frequencies give NaN everywhere (band_pass_note says why): the sample itself would be
    reported as a peak, with an interval of zero width."""
    if band_pass_note(sfs.tolist()):
        nan = torch.full(sensitivity.shape[:-1], math.nan, dtype=torch.float64)
        closed = torch.zeros(sensitivity.shape[:-1], dtype=torch.bool)
        return BandPass(nan, nan.clone(), nan.clone(), closed, closed.clone())
    order = sfs.argsort()  # neighbours in frequency, whatever order they were tested in
    x = sfs[order].double().log()
    y = sensitivity[..., order].double().clamp_min(1e-300).log()
    batch = y.shape[:-1]
    y = y.reshape(-1, len(x))
    top = y.argmax(-1)
    peak = x[top].clone()
    inner = (top > 0) & (top < len(x) - 1)
    if inner.any():
        i = top[inner]
        x0, x1, x2 = x[i - 1], x[i], x[i + 1]
        rows = y[inner]
        y0, y1, y2 = (rows.gather(1, j[:, None])[:, 0] for j in (i - 1, i, i + 1))
        # vertex of the parabola through three points (Lagrange form)
        numerator = (x1 - x0) ** 2 * (y1 - y2) - (x1 - x2) ** 2 * (y1 - y0)
        denominator = (x1 - x0) * (y1 - y2) - (x1 - x2) * (y1 - y0)
        vertex = x1 - 0.5 * numerator / torch.where(denominator == 0, 1e-300, denominator)
        peak[inner] = torch.where(denominator == 0, x1, vertex.clamp(x0, x2))
    half = y.max(-1).values - math.log(2)
    low, open_low = _crossing(x, y, top, half, -1)
    high, open_high = _crossing(x, y, top, half, +1)
    shape = batch if batch else ()
    return BandPass(
        peak.exp().reshape(shape),
        low.exp().reshape(shape),
        high.exp().reshape(shape),
        open_low.reshape(shape),
        open_high.reshape(shape),
    )


def _crossing(
    x: torch.Tensor, y: torch.Tensor, top: torch.Tensor, level: torch.Tensor, direction: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Where each row of y first falls below `level` walking from `top` in `direction`, in log f."""
    out = torch.empty(len(y), dtype=torch.float64)
    open_ = torch.zeros(len(y), dtype=torch.bool)
    for r in range(len(y)):
        i = int(top[r])
        while 0 <= i + direction < len(x) and y[r, i + direction] > level[r]:
            i += direction
        j = i + direction
        if not 0 <= j < len(x):
            out[r], open_[r] = x[i], True
            continue
        t = (y[r, i] - level[r]) / (y[r, i] - y[r, j])
        out[r] = x[i] + t * (x[j] - x[i])
    return out, open_

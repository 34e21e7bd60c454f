"""MACO's fixed magnitude spectrum: estimated from a model's training images, or 1/f when they are
not at hand.

Both return (channels, H, W // 2 + 1): |rfft2| with norm="ortho" (so sum over the spectrum of
weight * magnitude^2 is the image's squared norm), in the colour basis when one is given. The DC
bin [:, 0, 0] is signed: it is the mean image's DC coefficient, so a basis channel whose mean is
negative keeps its sign (MACO's images then have the data's mean colour).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from bilin.featvis.colour import ColourBasis

SPECTRUM_IMAGES = 10_000  # training images behind a data spectrum: its mean |rfft2| is stable by then


def magnitude_spectrum(
    images: torch.Tensor, size: tuple[int, int], colour: ColourBasis | None = None, chunk: int = 1024
) -> torch.Tensor:
    """images (n, c, h, w), floats in the model's input range -> mean |rfft2| (c, H, W // 2 + 1) at
    `size` = (H, W); images of another size are resized first (bilinear, antialiased)."""
    total = None
    for start in range(0, len(images), chunk):
        batch = images[start : start + chunk].float()
        if tuple(batch.shape[-2:]) != tuple(size):
            batch = F.interpolate(batch, size=size, mode="bilinear", align_corners=False, antialias=True)
        if colour is not None:
            batch = colour.to_basis(batch)
        spectrum = torch.fft.rfft2(batch, norm="ortho")
        part = spectrum.abs().sum(0)
        part[:, 0, 0] = spectrum[:, :, 0, 0].real.sum(0)
        total = part if total is None else total + part
    return total / len(images)


def half_spectrum_weight(h: int, w: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(h, w // 2 + 1): how many bins of the full spectrum each rfft2 bin stands for, itself and its
    conjugate (2), or only itself (1: column 0, and column W/2 when W is even)."""
    weight = torch.full((h, w // 2 + 1), 2.0, dtype=dtype)
    weight[:, 0] = 1.0
    if w % 2 == 0:
        weight[:, -1] = 1.0
    return weight


def natural_magnitude(
    channels: int,
    size: tuple[int, int],
    mean: tuple[float, ...],
    std: tuple[float, ...],
    colour: ColourBasis | None = None,
) -> torch.Tensor:
    """A 1/f amplitude spectrum (natural images' average, Field 1987), 1 / max(f, 1 / size), scaled so
    a random-phase image has per-channel `mean` and `std` -> (c, H, W // 2 + 1). With a colour basis
    (whose factor is a square root of the colour covariance) the spectrum is the basis's: every
    basis channel gets the same std, the one that gives the channels' total variance."""
    h, w = size
    fy = torch.fft.fftfreq(h)[:, None]
    fx = torch.fft.rfftfreq(w)[None, :]
    amplitude = 1.0 / torch.clamp(torch.sqrt(fx**2 + fy**2), min=1.0 / max(h, w))
    amplitude[0, 0] = 0.0
    energy = (half_spectrum_weight(h, w) * amplitude**2).sum()
    mean_t = torch.tensor(mean, dtype=torch.float32)
    std_t = torch.tensor(std, dtype=torch.float32)
    if colour is not None:
        mean_t = colour.inverse.cpu() @ mean_t
        std_t = torch.full((channels,), float(std_t.square().sum() / colour.factor.cpu().square().sum()) ** 0.5)
    magnitude = amplitude * (std_t.view(-1, 1, 1) * (h * w / energy) ** 0.5)
    magnitude[:, 0, 0] = mean_t * (h * w) ** 0.5
    return magnitude.expand(channels, -1, -1).contiguous()


def spectral_error(images: torch.Tensor, magnitude: torch.Tensor) -> torch.Tensor:
    """images (..., c, h, w) as the model sees them -> (...) the relative error of each image's
    magnitude spectrum against `magnitude` (c, h, w // 2 + 1):
    || |rfft2(x)| - |magnitude| || / || magnitude ||, both norms over the full spectrum (each half-spectrum
    bin also stands for its conjugate), the DC bin (the mean) included. 0: the data's spectrum exactly."""
    h, w = images.shape[-2:]
    weight = half_spectrum_weight(h, w, torch.float64)
    target = magnitude.abs().double().cpu()
    got = torch.fft.rfft2(images.double().cpu(), norm="ortho").abs()
    error = (weight * (got - target).square()).sum((-3, -2, -1))
    return (error / (weight * target.square()).sum()).sqrt().float()


def at_bounds(images: torch.Tensor, value_range: tuple[float, float] = (0.0, 1.0)) -> torch.Tensor:
    """images (..., c, h, w) -> (...) the share of each image's pixels at either end of the range."""
    lo, hi = value_range
    return ((images <= lo) | (images >= hi)).flatten(-3).double().mean(-1).float()


def seen_image_measures(
    images: torch.Tensor,
    magnitude: torch.Tensor,
    colour: ColourBasis | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> dict[str, torch.Tensor]:
    """MACO's images as the model sees them (..., c, h, w), after squashing into the range: the
    share of pixels at the range's ends and the spectral error against the fixed `magnitude` (in the
    colour basis when one is given) -> {"at_bounds": (...), "spectral_error": (...)}."""
    flat = images.reshape(-1, *images.shape[-3:])
    in_basis = colour.to(flat.device).to_basis(flat) if colour is not None else flat
    return {
        "at_bounds": at_bounds(images, value_range),
        "spectral_error": spectral_error(in_basis, magnitude).reshape(images.shape[:-3]),
    }

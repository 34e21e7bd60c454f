"""Image parameterisations: what the optimiser moves, and how it becomes an image.

Every parameterisation holds a batch (images x channels x H x W) and returns the image in the
model's input space from `image()`. Shapes are whatever the model takes: 1x28x28 as well as
3x224x224, no upsampling.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bilin.featvis.colour import ColourBasis


class PixelParam(nn.Module):
    """The pixels themselves (optionally in a decorrelated colour basis, squashed to [0, 1])."""

    def __init__(
        self,
        shape: tuple[int, ...],
        init: str,
        generator: torch.Generator,
        colour: ColourBasis | None = None,
        squash: bool = False,
        device=None,
    ):
        super().__init__()
        self.colour, self.squash = colour, squash
        start = _initial(shape, init, generator, device, squash)
        self.raw = nn.Parameter(colour.to_basis(start) if colour is not None else start)

    def image(self) -> torch.Tensor:
        x = self.colour.from_basis(self.raw) if self.colour is not None else self.raw
        return torch.sigmoid(x) if self.squash else x

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Occasional blur: smooth the parameters in place (a Gaussian in pixel space)."""
        import kornia

        size = 2 * math.ceil(2 * sigma) + 1
        self.raw.copy_(kornia.filters.gaussian_blur2d(self.raw, (size, size), (sigma, sigma), border_type="reflect"))


class FourierParam(nn.Module):
    """The image's spectrum (rfft2, orthonormal so the transform is unitary), scaled by
    1 / max(f, 1 / size): a step moves low frequencies as much as high ones, which removes the
    high-frequency noise plain pixel optimisation produces."""

    def __init__(
        self,
        shape: tuple[int, ...],
        init: str,
        generator: torch.Generator,
        colour: ColourBasis | None = None,
        squash: bool = True,
        device=None,
        decay: float = 1.0,
    ):
        super().__init__()
        n, c, h, w = shape
        self.size, self.colour, self.squash = (h, w), colour, squash
        fy = torch.fft.fftfreq(h, device=device)[:, None]
        fx = torch.fft.rfftfreq(w, device=device)[None, :]
        freq = torch.sqrt(fx**2 + fy**2)
        self.register_buffer("scale", 1.0 / torch.clamp(freq, min=1.0 / max(h, w)) ** decay)
        start = _initial(shape, init, generator, device, squash)
        if colour is not None:
            start = colour.to_basis(start)
        spectrum = torch.fft.rfft2(start, norm="ortho") / self.scale
        self.spectrum = nn.Parameter(torch.view_as_real(spectrum).contiguous())

    def image(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        x = torch.fft.irfft2(spectrum, s=self.size, norm="ortho")
        if self.colour is not None:
            x = self.colour.from_basis(x)
        return torch.sigmoid(x) if self.squash else x

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """A Gaussian blur is a product in frequency space: exp(-2 pi^2 sigma^2 f^2)."""
        h, w = self.size
        fy = torch.fft.fftfreq(h, device=self.spectrum.device)[:, None]
        fx = torch.fft.rfftfreq(w, device=self.spectrum.device)[None, :]
        self.spectrum.mul_(torch.exp(-2 * math.pi**2 * sigma**2 * (fx**2 + fy**2))[..., None])


class SphereParam(nn.Module):
    """x = r p / ||p|| per image: the optimiser moves p, x stays on the sphere of radius r.
    (Stepping x and projecting back does not converge with Adam; see SPEC section 7.)"""

    def __init__(self, shape: tuple[int, ...], radius: float, generator: torch.Generator, device=None):
        super().__init__()
        self.radius = radius
        self.raw = nn.Parameter(torch.randn(shape, generator=generator, device=device))

    def image(self) -> torch.Tensor:
        flat = self.raw.flatten(1)
        return (self.radius * flat / flat.norm(dim=1, keepdim=True)).view_as(self.raw)


def _initial(shape: tuple[int, ...], init: str, generator: torch.Generator, device, squash: bool) -> torch.Tensor:
    """The start, before the sigmoid when squashed. noise: N(0, 0.1) (SPEC's baseline start; through
    the sigmoid that is mid-grey with small noise); grey: an image of 0.5 +- 0.005."""
    if init == "noise":
        return 0.1 * torch.randn(shape, generator=generator, device=device)
    if init == "grey":
        grey = 0.5 + 0.005 * (2 * torch.rand(shape, generator=generator, device=device) - 1)
        return torch.logit(grey) if squash else grey
    raise ValueError(f"unknown init {init!r}")

"""Image parameterisations: what the optimiser moves, and how it becomes an image.

Every parameterisation holds a batch (images x channels x H x W) and returns the image in the
model's input space from `image()`. Shapes are whatever the model takes: 1x28x28 as well as
3x224x224, no upsampling.

`squash` maps the parameterised image into the data's range [lo, hi] (`value_range`):
  sigmoid: lo + (hi - lo) sigmoid(x)   clip: x clamped to [lo, hi]   none: x as it is (free)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from bilin.featvis.colour import ColourBasis


class _RangedImage(nn.Module):
    """A parameterisation whose raw image lives in the colour basis (when one is given) and is mapped
    into the data's range: `seen(raw)` is the image the model takes."""

    def __init__(self, colour: ColourBasis | None, squash: str, value_range: tuple[float, float]):
        super().__init__()
        self.colour, self.squash, self.value_range = colour, squash, value_range

    def seen(self, raw: torch.Tensor) -> torch.Tensor:
        x = self.colour.from_basis(raw) if self.colour is not None else raw
        return to_range(x, self.squash, self.value_range)


class PixelParam(_RangedImage):
    """The pixels themselves (optionally in a decorrelated colour basis, squashed to [0, 1])."""

    def __init__(
        self,
        shape: tuple[int, ...],
        init: str,
        generator: torch.Generator,
        colour: ColourBasis | None = None,
        squash: str = "none",
        device=None,
        value_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(colour, squash, value_range)
        start = _initial(shape, init, generator, device, squash, value_range)
        self.raw = nn.Parameter(colour.to_basis(start) if colour is not None else start)

    def image(self) -> torch.Tensor:
        return self.seen(self.raw)

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """Occasional blur: smooth the parameters in place (a Gaussian in pixel space)."""
        import kornia

        size = 2 * math.ceil(2 * sigma) + 1
        self.raw.copy_(kornia.filters.gaussian_blur2d(self.raw, (size, size), (sigma, sigma), border_type="reflect"))


class FourierParam(_RangedImage):
    """The image's spectrum (rfft2, orthonormal so the transform is unitary), scaled by
    1 / max(f, 1 / size): a step moves low frequencies as much as high ones, which removes the
    high-frequency noise plain pixel optimisation produces."""

    def __init__(
        self,
        shape: tuple[int, ...],
        init: str,
        generator: torch.Generator,
        colour: ColourBasis | None = None,
        squash: str = "sigmoid",
        device=None,
        value_range: tuple[float, float] = (0.0, 1.0),
        decay: float = 1.0,
    ):
        super().__init__(colour, squash, value_range)
        n, c, h, w = shape
        self.size = (h, w)
        fy = torch.fft.fftfreq(h, device=device)[:, None]
        fx = torch.fft.rfftfreq(w, device=device)[None, :]
        freq = torch.sqrt(fx**2 + fy**2)
        self.register_buffer("scale", 1.0 / torch.clamp(freq, min=1.0 / max(h, w)) ** decay)
        start = _initial(shape, init, generator, device, squash, value_range)
        if colour is not None:
            start = colour.to_basis(start)
        spectrum = torch.fft.rfft2(start, norm="ortho") / self.scale
        self.spectrum = nn.Parameter(torch.view_as_real(spectrum).contiguous())

    def image(self) -> torch.Tensor:
        spectrum = torch.view_as_complex(self.spectrum) * self.scale
        return self.seen(torch.fft.irfft2(spectrum, s=self.size, norm="ortho"))

    @torch.no_grad()
    def blur_(self, sigma: float) -> None:
        """A Gaussian blur is a product in frequency space: exp(-2 pi^2 sigma^2 f^2)."""
        h, w = self.size
        fy = torch.fft.fftfreq(h, device=self.spectrum.device)[:, None]
        fx = torch.fft.rfftfreq(w, device=self.spectrum.device)[None, :]
        self.spectrum.mul_(torch.exp(-2 * math.pi**2 * sigma**2 * (fx**2 + fy**2))[..., None])


class MacoParam(_RangedImage):
    """MACO (Fel et al., NeurIPS 2023): only the phase of the image's spectrum is optimised; its
    magnitude is fixed to `magnitude`, the mean |rfft2| of the model's training images.

        raw = irfft2(magnitude * exp(i phase))       (orthonormal; exactly |rfft2(raw)| = magnitude)
        image = to_range(colour(raw))                (clip to the data's range by default)

    magnitude: (channels, H, W // 2 + 1), in the colour basis when one is given, its DC bin signed
    (bilin.featvis.spectrum: the mean image's DC coefficient). The bins that are
    their own conjugates' partners (columns 0 and W/2) get an antisymmetric phase, so the spectrum
    is that of a real image and irfft2 keeps the magnitude exactly; the DC bin is then real and
    of the data's sign, so the image's mean is the data's. By Parseval the image's norm is fixed too: the
    optimiser only arranges a given amount of energy per frequency.

    `init` is ignored: MACO starts from a uniformly random phase. Blur is a no-op (`blur_`): the
    fixed magnitude already sets how much high frequency the image has.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        magnitude: torch.Tensor,
        generator: torch.Generator,
        colour: ColourBasis | None = None,
        squash: str = "clip",
        device=None,
        value_range: tuple[float, float] = (0.0, 1.0),
    ):
        super().__init__(colour, squash, value_range)
        n, c, h, w = shape
        if tuple(magnitude.shape) != (c, h, w // 2 + 1):
            raise ValueError(
                f"a MACO magnitude for {c}x{h}x{w} images is {c}x{h}x{w // 2 + 1}, not {tuple(magnitude.shape)}"
            )
        self.size = (h, w)
        magnitude = magnitude.to(device=device, dtype=torch.float32)
        self.register_buffer("magnitude", magnitude.abs())
        offset = torch.zeros_like(magnitude)
        offset[:, 0, 0] = torch.where(magnitude[:, 0, 0] < 0, math.pi, 0.0)  # a negative mean: phase pi at DC
        self.register_buffer("offset", offset)
        self_conjugate = torch.zeros(h, w // 2 + 1, dtype=torch.bool, device=device)
        self_conjugate[:, 0] = True
        if w % 2 == 0:
            self_conjugate[:, w // 2] = True
        self.register_buffer("self_conjugate", self_conjugate)
        self.register_buffer("mirror", (-torch.arange(h, device=device)) % h)  # row of frequency -f_y
        phase = math.pi * (2 * torch.rand((n, c, h, w // 2 + 1), generator=generator, device=device) - 1)
        self.phase = nn.Parameter(phase)

    def spectrum(self) -> torch.Tensor:
        """(n, c, H, W // 2 + 1) complex: the fixed magnitude with a Hermitian-consistent phase."""
        antisymmetric = (self.phase - self.phase[..., self.mirror, :]) / 2
        phase = torch.where(self.self_conjugate, antisymmetric, self.phase) + self.offset
        return torch.polar(self.magnitude.expand_as(phase), phase)

    def raw_image(self) -> torch.Tensor:
        """(n, c, H, W): the image before the colour basis and the range mapping."""
        return torch.fft.irfft2(self.spectrum(), s=self.size, norm="ortho")

    def image(self) -> torch.Tensor:
        return self.seen(self.raw_image())

    def blur_(self, sigma: float) -> None:
        """No-op: blurring would change the magnitude MACO keeps fixed."""


class SphereParam(nn.Module):
    """x = r p / ||p|| per image: the optimiser moves p, x stays on the sphere of radius r.
    (Stepping x and projecting back does not converge with Adam; see docs/science.md section 7.)"""

    def __init__(self, shape: tuple[int, ...], radius: float, generator: torch.Generator, device=None):
        super().__init__()
        self.radius = radius
        self.raw = nn.Parameter(torch.randn(shape, generator=generator, device=device))

    def image(self) -> torch.Tensor:
        flat = self.raw.flatten(1)
        return (self.radius * flat / flat.norm(dim=1, keepdim=True)).view_as(self.raw)


def to_range(x: torch.Tensor, squash: str, value_range: tuple[float, float]) -> torch.Tensor:
    """x (any shape) -> the image the model sees: squashed into [lo, hi], clipped, or left free."""
    lo, hi = value_range
    if squash == "sigmoid":
        return torch.sigmoid(x) if (lo, hi) == (0.0, 1.0) else lo + (hi - lo) * torch.sigmoid(x)
    if squash == "clip":
        return x.clamp(lo, hi)
    if squash == "none":
        return x
    raise ValueError(f"unknown squash {squash!r}")


def _initial(
    shape: tuple[int, ...], init: str, generator: torch.Generator, device, squash: str, value_range: tuple[float, float]
) -> torch.Tensor:
    """The start, before the sigmoid when squashed. noise: N(0, 0.1) (docs/science.md's baseline start; through
    the sigmoid that is mid-range with small noise); grey: an image of mid-range +- 0.005."""
    lo, hi = value_range
    if init == "noise":
        noise = 0.1 * torch.randn(shape, generator=generator, device=device)
        return lo + (hi - lo) * (0.5 + noise) if squash == "clip" else noise  # clip: mid-range, all pixels alive
    if init == "grey":
        grey = 0.5 + 0.005 * (2 * torch.rand(shape, generator=generator, device=device) - 1)
        return torch.logit(grey) if squash == "sigmoid" else lo + (hi - lo) * grey
    raise ValueError(f"unknown init {init!r}")

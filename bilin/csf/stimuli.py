"""Stimuli, generated in batches on the device (no per-item drawing loops).

Training pairs: one random filled shape (circle, ellipse or rectangle) in a random colour (a grey
level for one-channel models) on grey 128/255, shown at two contrasts c ~ U(0.04, 1):
img = (1 - c) / 2 + c * img01. Test stimuli: sinusoidal gratings of `sf` cycles per image,
amplitude = contrast, under a Gaussian envelope (sigma = size / 6), mapped to [0, 1] by (g + 1) / 2
along a colour direction (bilin/csf/colour.py).

Two protocols:
- tutorial (the default): the stimuli of Akbarinia's linear-probe tutorial, whose grating code is
  DeepCSF's. Pixel (row i, column j) sits at (x, y) = (j - size // 2, i - size // 2), so the
  envelope's peak is exactly 1 on the centre pixel; phase 0 (a low-frequency cosine then carries
  a mean-luminance offset, as the tutorial's did). Shapes as the tutorial draws them with OpenCV,
  in integer pixels: centre (x, y) ~ randint(size // 4, 3 * (size // 4)); circle radius
  randint(10, size // 4); ellipse half-axes randint(10, 20) and randint(30, size // 4) at an
  angle randint(0, 360) degrees; rectangle axis-aligned between the centre and a second corner
  ~ randint(0, size) anywhere in the image; colour randint(0, 256) / 255 per channel. The
  constants 10, 20, 30 are for 224 px; other sizes scale them by size / 224 (rounded, at least 1).
- jittered (bilin's earlier stimuli, kept as they were): centre (size - 1) / 2, uniformly random
  phase, shapes centred within +-size / 4 and rectangles rotated, continuous sizes and colours.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bilin.csf.colour import coloured
from bilin.csf.settings import DEFAULT_PROTOCOL, Protocol

GREY = 128 / 255


@dataclass(frozen=True)
class Stimuli:
    """How one run's stimuli are drawn: image size, channels (1 or 3) and protocol."""

    size: int
    channels: int = 3
    protocol: Protocol = DEFAULT_PROTOCOL

    @property
    def centre(self) -> float:
        """The pixel index of the grating's and envelope's centre, in both axes."""
        return self.size // 2 if self.protocol == "tutorial" else (self.size - 1) / 2

    def shapes(self, n: int, generator: torch.Generator, device=None) -> tuple[torch.Tensor, torch.Tensor]:
        """(n, channels, size, size) images in [0, 1] and each one's shape kind (0 circle, 1 ellipse,
        2 rectangle)."""
        draw = _tutorial_shapes if self.protocol == "tutorial" else _jittered_shapes
        return draw(n, self.size, self.channels, generator, device)

    def phases(self, n: int, generator: torch.Generator, device) -> torch.Tensor:
        if self.protocol == "tutorial":
            return torch.zeros(n, device=device)
        return 2 * math.pi * torch.rand(n, generator=generator, device=device)

    def gratings(
        self, sf: float, orientations: torch.Tensor, phases: torch.Tensor, contrast: torch.Tensor, colour: str = "lum"
    ) -> torch.Tensor:
        """(n, channels, size, size) gratings; orientations, phases, contrast: (n,)."""
        return gratings(sf, orientations, phases, contrast, self.size, self.centre, self.channels, colour)


def _coordinates(size: int, centre: float, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel coordinates relative to `centre` (a pixel index): x (columns), y (rows), (1, size, size) each."""
    axis = torch.arange(size, device=device, dtype=torch.float32) - centre
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return x[None], y[None]


def _jittered_shapes(n: int, size: int, channels: int, generator: torch.Generator, device):
    def uniform(low, high):
        return low + (high - low) * torch.rand(n, 1, 1, generator=generator, device=device)

    x, y = _coordinates(size, (size - 1) / 2, device)
    kind = torch.randint(0, 3, (n,), generator=generator, device=device)
    quarter, f = size / 4, size / 224
    cx, cy = uniform(-size / 4, size / 4), uniform(-size / 4, size / 4)
    angle = uniform(0, math.pi)
    dx, dy = x - cx, y - cy
    u, v = _rotate(dx, dy, angle)
    radius = uniform(10 * f, quarter)
    circle = dx**2 + dy**2 <= radius**2
    a, b = uniform(10 * f, 20 * f), uniform(30 * f, max(quarter, 30 * f))
    ellipse = (u / a) ** 2 + (v / b) ** 2 <= 1
    half_w, half_h = uniform(5 * f, quarter), uniform(5 * f, quarter)
    rectangle = (u.abs() <= half_w) & (v.abs() <= half_h)
    colour = torch.rand(n, channels, 1, 1, generator=generator, device=device)
    return _paint(kind, circle, ellipse, rectangle, colour), kind


def _tutorial_shapes(n: int, size: int, channels: int, generator: torch.Generator, device):
    def randint(low: int, high: int, *shape: int) -> torch.Tensor:  # numpy's randint: [low, high)
        return torch.randint(low, max(high, low + 1), (n, *shape), generator=generator, device=device).float()

    def scaled(length: int) -> int:
        return max(1, round(length * size / 224))

    quarter = size // 4
    x, y = _coordinates(size, 0, device)  # pixel indices
    colour = randint(0, 256, channels, 1, 1) / 255
    cx, cy = (v.view(n, 1, 1) for v in randint(quarter, 3 * quarter, 2).unbind(1))
    kind = randint(0, 3).long()
    dx, dy = x - cx, y - cy
    circle = dx**2 + dy**2 <= randint(scaled(10), quarter, 1, 1) ** 2
    a, b = randint(scaled(10), scaled(20), 1, 1), randint(scaled(30), quarter, 1, 1)
    u, v = _rotate(dx, dy, randint(0, 360, 1, 1) * math.pi / 180)
    ellipse = (u / a) ** 2 + (v / b) ** 2 <= 1
    px, py = (v.view(n, 1, 1) for v in randint(0, size, 2).unbind(1))  # the rectangle's second corner
    rectangle = (x >= torch.minimum(cx, px)) & (x <= torch.maximum(cx, px))
    rectangle &= (y >= torch.minimum(cy, py)) & (y <= torch.maximum(cy, py))
    return _paint(kind, circle, ellipse, rectangle, colour), kind


def _rotate(dx: torch.Tensor, dy: torch.Tensor, angle: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Coordinates in the frame of a shape turned by `angle` (as OpenCV turns an ellipse)."""
    return dx * torch.cos(angle) + dy * torch.sin(angle), -dx * torch.sin(angle) + dy * torch.cos(angle)


def _paint(kind, circle, ellipse, rectangle, colour) -> torch.Tensor:
    k = kind.view(-1, 1, 1)
    mask = torch.where(k == 0, circle, torch.where(k == 1, ellipse, rectangle))
    return torch.where(mask[:, None], colour, torch.full_like(colour, GREY))


def with_contrast(images01: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """(1 - c) / 2 + c * img, c per image (n,)."""
    c = contrast.view(-1, *[1] * (images01.ndim - 1))
    return (1 - c) / 2 + c * images01


def gratings(
    sf: float,
    orientations: torch.Tensor,
    phases: torch.Tensor,
    contrast: torch.Tensor,
    size: int,
    centre: float,
    channels: int = 3,
    colour: str = "lum",
) -> torch.Tensor:
    """(n, channels, size, size): cos(2 pi sf (x cos t + y sin t) / size + phase) * contrast * envelope,
    x, y relative to the pixel index `centre`, coloured along `colour`; orientations, phases,
    contrast: (n,). Wavelength = size / sf pixels, i.e. (size / 2) / (pi sf) in the tutorial's
    radians-per-pixel form. Envelope exp(-r^2 / (2 (size / 6)^2)): 1 where r = 0."""
    device = orientations.device
    x, y = _coordinates(size, centre, device)
    t, phase, c = (v.view(-1, 1, 1).float() for v in (orientations, phases, contrast))
    carrier = torch.cos(2 * math.pi * sf * (x * torch.cos(t) + y * torch.sin(t)) / size + phase)
    sigma = size / 6
    envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
    return coloured(c * carrier * envelope, colour, channels)


def default_frequencies(size: int) -> list[int]:
    """The divisors of the size up to size / 2 (1, 2, 4, 7, 8, 14, 16, 28, 32, 56, 112 at 224, as
    the tutorial and DeepCSF test); where they are fewer than 8 (small images: 1, 2, 4, 7, 14 at
    28 px), every integer from 1 to size / 2, so the curve has points enough to show its shape."""
    divisors = [f for f in range(1, size // 2 + 1) if size % f == 0]
    return divisors if len(divisors) >= 8 else list(range(1, size // 2 + 1))

"""Stimuli, generated in batches on the device (no per-item drawing loops).

Training pairs: one random filled shape (circle, ellipse at any angle, or rectangle at any angle)
in a random colour on grey, shown at two contrasts c ~ U(0.04, 1): img = (1 - c) / 2 + c * img01.
Test stimuli: sinusoidal gratings of `sf` cycles per image, amplitude = contrast, under a Gaussian
envelope (sigma = size / 6, peak 1), mapped to [0, 1] by (g + 1) / 2; grey in three channels.
"""

from __future__ import annotations

import math

import torch

GREY = 128 / 255


def _coordinates(size: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Pixel-centre coordinates relative to the image centre: (1, size, size) each."""
    axis = torch.arange(size, device=device, dtype=torch.float32) - (size - 1) / 2
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    return x[None], y[None]


def random_shapes(n: int, size: int, generator: torch.Generator, device=None) -> tuple[torch.Tensor, torch.Tensor]:
    """(n, 3, size, size) images in [0, 1] (grey background, one filled shape each) and the
    shape kind of each (0 circle, 1 ellipse, 2 rectangle)."""

    def uniform(low, high):
        return low + (high - low) * torch.rand(n, 1, 1, generator=generator, device=device)

    x, y = _coordinates(size, device)
    kind = torch.randint(0, 3, (n,), generator=generator, device=device)
    quarter, f = size / 4, size / 224  # SPEC's sizes are for 224 px; other sizes scale them
    cx, cy = uniform(-size / 4, size / 4), uniform(-size / 4, size / 4)
    angle = uniform(0, math.pi)
    # rotate the coordinates into the shape's frame
    dx, dy = x - cx, y - cy
    u = dx * torch.cos(angle) + dy * torch.sin(angle)
    v = -dx * torch.sin(angle) + dy * torch.cos(angle)
    radius = uniform(10 * f, quarter)
    circle = dx**2 + dy**2 <= radius**2
    a, b = uniform(10 * f, 20 * f), uniform(30 * f, max(quarter, 30 * f))
    ellipse = (u / a) ** 2 + (v / b) ** 2 <= 1
    half_w, half_h = uniform(5 * f, quarter), uniform(5 * f, quarter)
    rectangle = (u.abs() <= half_w) & (v.abs() <= half_h)
    k = kind.view(n, 1, 1)
    mask = torch.where(k == 0, circle, torch.where(k == 1, ellipse, rectangle))
    colour = torch.rand(n, 3, 1, 1, generator=generator, device=device)
    images = torch.where(mask[:, None], colour, torch.full_like(colour, GREY))
    return images, kind


def with_contrast(images01: torch.Tensor, contrast: torch.Tensor) -> torch.Tensor:
    """(1 - c) / 2 + c * img, c per image (n,)."""
    c = contrast.view(-1, *[1] * (images01.ndim - 1))
    return (1 - c) / 2 + c * images01


def gratings(
    sf: float, orientations: torch.Tensor, phases: torch.Tensor, contrast: torch.Tensor, size: int
) -> torch.Tensor:
    """(n, 3, size, size): cos(2 pi sf (x cos t + y sin t) / size + phase) * contrast * envelope,
    mapped to [0, 1]; orientations, phases, contrast: (n,). Wavelength = size / sf pixels, i.e.
    (size / 2) / (pi sf) in the tutorial's radians-per-pixel form."""
    device = orientations.device
    x, y = _coordinates(size, device)
    t, phase, c = (v.view(-1, 1, 1).float() for v in (orientations, phases, contrast))
    carrier = torch.cos(2 * math.pi * sf * (x * torch.cos(t) + y * torch.sin(t)) / size + phase)
    sigma = size / 6
    envelope = torch.exp(-(x**2 + y**2) / (2 * sigma**2))
    grating = c * carrier * envelope
    return ((grating + 1) / 2)[:, None].expand(-1, 3, -1, -1)


def default_frequencies(size: int) -> list[int]:
    """The divisors of the size up to size / 2: 1, 2, 4, 7, 8, 14, 16, 28, 32, 56, 112 at 224."""
    return [f for f in range(1, size // 2 + 1) if size % f == 0]

"""Transformation robustness: random small geometric changes inside the differentiable forward.

An image that only works at one exact pixel alignment is adversarial noise; one that survives
jitter, rotation and scaling shows the feature. docs/science.md's recipe: pad 3 px, translate +-3 px,
rotate +-5 degrees, scale 0.95-1.05, crop back. Here that is one affine warp per image (kornia),
fed by a seeded generator, on any image shape.
"""

from __future__ import annotations

from dataclasses import dataclass

import kornia
import torch
import torch.nn.functional as F


@dataclass(frozen=True)
class Robustness:
    pad: int = 3
    translate: float = 3.0  # pixels
    degrees: float = 5.0
    scale: tuple[float, float] = (0.95, 1.05)

    def __call__(self, images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """(n, c, h, w) -> (n, c, h, w): each image padded, warped by its own random affine, cropped back."""
        n, _, h, w = images.shape
        padded = F.pad(images, (self.pad,) * 4, mode="replicate")  # no assumption about the background
        device = images.device

        def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
            return low + (high - low) * torch.rand((n, *shape), generator=generator, device=device)

        centre = torch.tensor([(w + 2 * self.pad - 1) / 2, (h + 2 * self.pad - 1) / 2], device=device).expand(n, 2)
        angle = uniform(-self.degrees, self.degrees)
        scale = uniform(*self.scale, 1).expand(n, 2)
        matrix = kornia.geometry.transform.get_rotation_matrix2d(centre, angle, scale)
        matrix[:, :, 2] += uniform(-self.translate, self.translate, 2)
        warped = kornia.geometry.transform.warp_affine(
            padded, matrix, padded.shape[-2:], padding_mode="border", align_corners=True
        )
        return warped[..., self.pad : self.pad + h, self.pad : self.pad + w]

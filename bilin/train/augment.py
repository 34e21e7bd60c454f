"""The augmentations of a training batch, with kornia: rotation and translation (one affine warp),
Gaussian blur, then salt-and-pepper, at the strengths of a model's Augmentation record; the Gaussian
input noise (bilin.train.noise) is added after them. Each model trained together draws its random
angles, shifts and pixels from a seeded generator of its own, so a run is a function of its seeds.

The transforms keep the image's size: pixels warped in from outside the image are 0 (the grey
datasets' background), the blur reflects at the border.
"""

from __future__ import annotations

import math

import torch
from kornia.filters import gaussian_blur2d
from kornia.geometry.transform import get_rotation_matrix2d, warp_affine

from bilin.train.records import Augmentation

STREAM_OFFSET = 7_000_003  # the generator's seed is the model's plus this: apart from its order and noise streams


def affine(images: torch.Tensor, degrees: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """(B, C, H, W) rotated counter-clockwise (as drawn with row 0 at the top) by degrees (B,) about
    the image centre, then shifted by shift (B, 2) pixels (x: right, y: down); bilinear, zeros outside."""
    batch, _, height, width = images.shape
    centre = torch.tensor([(width - 1) / 2, (height - 1) / 2], dtype=images.dtype, device=images.device)
    scale = torch.ones(batch, 2, dtype=images.dtype, device=images.device)
    matrix = get_rotation_matrix2d(centre.expand(batch, 2), degrees.to(images.dtype), scale)
    matrix = torch.cat([matrix[:, :, :2], matrix[:, :, 2:] + shift.to(images.dtype)[:, :, None]], dim=2)
    return warp_affine(images, matrix, (height, width), padding_mode="zeros", align_corners=True)


def blur(images: torch.Tensor, sigma: float) -> torch.Tensor:
    """Gaussian blur of (B, C, H, W) with standard deviation sigma pixels (0: the images themselves).
    The kernel spans ±3 sigma, cut to the image's side."""
    if sigma == 0:
        return images
    side = min(images.shape[-2:])
    size = min(2 * math.ceil(3 * sigma) + 1, side if side % 2 else side - 1)
    return gaussian_blur2d(images, (size, size), (sigma, sigma), border_type="reflect")


def salt_and_pepper(images: torch.Tensor, rate: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, C, H, W) with each pixel (all its channels) set to 1 with probability rate/2 and to 0 with rate/2."""
    if rate == 0:
        return images
    batch, _, height, width = images.shape
    draw = torch.rand(batch, 1, height, width, generator=generator, device=images.device, dtype=images.dtype)
    salted = torch.where(draw < rate / 2, torch.ones_like(images), images)
    return torch.where((draw >= rate / 2) & (draw < rate), torch.zeros_like(images), salted)


def augment(images: torch.Tensor, strengths: Augmentation, generator: torch.Generator | None = None) -> torch.Tensor:
    """(B, C, H, W) images in [0, 1] augmented at `strengths`, their randomness from `generator`."""
    batch, _, height, width = images.shape
    if strengths.rotate or strengths.translate:
        uniform = torch.rand(batch, 3, generator=generator, device=images.device, dtype=images.dtype) * 2 - 1
        degrees = uniform[:, 0] * strengths.rotate
        sides = torch.tensor([width, height], dtype=images.dtype, device=images.device)
        images = affine(images, degrees, uniform[:, 1:] * strengths.translate * sides)
    images = blur(images, strengths.blur)
    return salt_and_pepper(images, strengths.salt_pepper, generator)


class BatchAugmenter:
    """One model's augmentations of its flattened training batches, in place, from its own stream."""

    def __init__(self, strengths: Augmentation, seed: int, image_shape: tuple[int, ...], device: torch.device):
        self.strengths = strengths
        self.shape = image_shape if len(image_shape) == 3 else (1, *image_shape)
        self.generator = torch.Generator(device=device).manual_seed(seed + STREAM_OFFSET)

    def apply_(self, x: torch.Tensor) -> None:
        """x: (batch, inputs), overwritten with its augmented images."""
        if self.strengths.active:
            x.copy_(augment(x.view(-1, *self.shape), self.strengths, self.generator).flatten(1))

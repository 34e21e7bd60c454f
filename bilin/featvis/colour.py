"""Colour decorrelation: optimise in a basis where the colour channels are uncorrelated.

The basis is the Cholesky factor C of the colour covariance of the data the model was trained
on: image channels = C p. A step on p then moves colours along the data's own directions
instead of pushing the three channels independently (which gives the saturated, noisy colours of
plain optimisation). The factor is fitted on any images the user has (`fit_colour_basis`);
ImageNet's is built in for torchvision models.
"""

from __future__ import annotations

import torch
from einops import einsum, rearrange

# Lucid's colour_correlation_svd_sqrt for ImageNet (an SVD square root of the colour covariance)
IMAGENET_COLOUR_SQRT = torch.tensor([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]])


class ColourBasis:
    """image channels = factor @ p per pixel, normalised so the largest column has norm 1."""

    def __init__(self, factor: torch.Tensor):
        if factor.ndim != 2 or factor.shape[0] != factor.shape[1]:
            raise ValueError(f"a colour factor is channels x channels, not {tuple(factor.shape)}")
        self.factor = factor / factor.norm(dim=0).max()
        self.inverse = torch.linalg.inv(self.factor)

    def to(self, device) -> ColourBasis:
        moved = ColourBasis.__new__(ColourBasis)
        moved.factor, moved.inverse = self.factor.to(device), self.inverse.to(device)
        return moved

    def from_basis(self, p: torch.Tensor) -> torch.Tensor:
        """(n, c, h, w) decorrelated -> image channels."""
        return einsum(self.factor, p, "c k, n k h w -> n c h w")

    def to_basis(self, x: torch.Tensor) -> torch.Tensor:
        return einsum(self.inverse, x, "k c, n c h w -> n k h w")


def fit_colour_basis(images: torch.Tensor) -> ColourBasis:
    """From images (n, c, h, w), any range: the Cholesky factor of the channel covariance."""
    pixels = rearrange(images.float(), "n c h w -> (n h w) c")
    if pixels.shape[1] < 2:
        raise ValueError("colour decorrelation needs colour images (more than one channel)")
    covariance = torch.cov(pixels.T.double())
    return ColourBasis(torch.linalg.cholesky(covariance).float())


def imagenet_colour_basis() -> ColourBasis:
    return ColourBasis(IMAGENET_COLOUR_SQRT.clone())

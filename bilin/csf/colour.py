"""Colour directions of the test gratings, in DeepCSF's DKL space (Akbarinia, Morgenstern &
Gegenfurtner 2023; github.com/ArashAkbarinia/DeepCSF, utils/colour_spaces.py).

DeepCSF maps DKL (luminance, red-green, yellow-blue) to RGB in [0, 1] with one 3 x 3 matrix (row
vectors: rgb = dkl @ DKL_TO_RGB) and clips to [0, 1]. A chromatic grating holds the luminance at the
background's and puts the signed modulation on one chromatic axis. Here the background is mid grey
0.5 exactly (the comparison image of every trial), so a grating is 0.5 + m * direction, direction a
row of the matrix: its luminance, by the matrix's inverse, is 0 for rg and yb. Above 0.5 contrast
an rg or yb grating leaves [0, 1] and is clipped, as in DeepCSF (then no longer isoluminant).
"""

from __future__ import annotations

import torch

COLOURS = ("lum", "rg", "yb")

# DeepCSF's rgb_from_dkl (rows: the RGB of a unit step along luminance, red-green, yellow-blue)
DKL_TO_RGB = torch.tensor(
    [
        [0.49995000, 0.50001495, 0.49999914],
        [0.99998394, -0.29898596, 0.01714922],
        [-0.17577361, 0.15319546, -0.99994349],
    ],
    dtype=torch.float64,
)


def rgb_to_dkl(rgb: torch.Tensor) -> torch.Tensor:
    """(n, 3, h, w) RGB -> (n, 3, h, w) DKL (luminance, rg, yb), by the exact inverse of DKL_TO_RGB."""
    inverse = torch.linalg.inv(DKL_TO_RGB).to(rgb.dtype).to(rgb.device)
    return torch.einsum("nchw,cd->ndhw", rgb, inverse)


def coloured(modulation: torch.Tensor, colour: str, channels: int) -> torch.Tensor:
    """(n, h, w) signed modulation in [-1, 1] -> (n, channels, h, w) in [0, 1] around grey 0.5.
    lum: grey (m + 1) / 2 in every channel; rg / yb: 0.5 + m * that DKL axis's RGB, clipped."""
    if colour == "lum":
        return ((modulation + 1) / 2)[:, None].expand(-1, channels, -1, -1)
    direction = DKL_TO_RGB[COLOURS.index(colour)].to(modulation.dtype).to(modulation.device)
    return (0.5 + modulation[:, None] * direction.view(1, 3, 1, 1)).clamp(0, 1)

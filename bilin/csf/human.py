"""A human contrast-sensitivity reference to draw beside a network's CSF.

Schematic only: a band-pass luminance CSF with its peak at 4.5 cycles/degree,
S(f) = f^0.8 exp(-f / 5.625), max-normalised. For its shape, not for numbers.
"""

from __future__ import annotations

import math

import torch

PEAK_CPD = 4.5


def schematic_human_csf(cpd: torch.Tensor) -> torch.Tensor:
    """Max-normalised sensitivity at each frequency (cycles/degree)."""
    s = cpd**0.8 * torch.exp(-cpd / (PEAK_CPD / 0.8))
    return s / s.max()


def human_curve(sfs: list[float], degrees: float, points: int = 100) -> tuple[torch.Tensor, torch.Tensor]:
    """(cycles/image, sensitivity) over the span of `sfs`, for an image `degrees` wide."""
    cpd = torch.logspace(math.log10(min(sfs) / degrees), math.log10(max(sfs) / degrees), points)
    return cpd * degrees, schematic_human_csf(cpd)

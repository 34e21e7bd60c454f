"""Published human contrast-sensitivity functions to draw beside a network's CSF.

Sensitivity S(f) at f cycles/degree, photopic, from Johnson & Fairchild (2003), "A top down
description of S-CIELAB and CIEDE2000", Color Research & Application 28(6): 425-435, the CSFs
that S-CIELAB / iCAM filter with:
- luminance: S(f) = 75 f^0.8 exp(-0.2 f), the band-pass form of Movshon & Kiorpes (1988); peak at
  f = 0.8 / 0.2 = 4 cycles/degree, near the human peak of 4-5.
- red-green and yellow-blue (isoluminant): S(f) = a1 exp(-b1 f^c1) + a2 exp(-b2 f^c2), low-pass,
  fitted to Mullen's (1985) chromatic CSFs:
    rg: a1 = 109.1413, b1 = 0.00038, c1 = 3.42436, a2 = 93.59711, b2 = 0.00367, c2 = 2.16771
    yb: a1 = 7.0328,   b1 = 0,       c1 = 4.2582,  a2 = 40.6910,  b2 = 0.1039,  c2 = 1.6487
The chromatic curves are drawn only up to 10 cycles/degree: beyond it the yb fit as printed
(b1 = 0, so its first term is a constant) levels off at 7.03, 15% of its peak, which chromatic
sensitivity does not; the fits describe Mullen's low-pass data, not the range above.
Only the shapes are compared (curves max-normalised over the plotted span): the human curves are
for the conditions of their experiments, the network's for images of `size / 112` degrees.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class HumanCSF:
    source: str  # for the legend
    sensitivity: Callable[[torch.Tensor], torch.Tensor]  # cycles/degree -> sensitivity
    max_cpd: float = math.inf  # drawn up to here


def _two_exponentials(a1: float, b1: float, c1: float, a2: float, b2: float, c2: float):
    return lambda f: a1 * torch.exp(-b1 * f**c1) + a2 * torch.exp(-b2 * f**c2)


HUMAN_CSFS = {
    "lum": HumanCSF("75 f^0.8 e^(-0.2 f), Johnson & Fairchild 2003", lambda f: 75 * f**0.8 * torch.exp(-0.2 * f)),
    "rg": HumanCSF(
        "Mullen 1985 fit, Johnson & Fairchild 2003",
        _two_exponentials(109.1413, 0.00038, 3.42436, 93.59711, 0.00367, 2.16771),
        max_cpd=10,
    ),
    "yb": HumanCSF(
        "Mullen 1985 fit, Johnson & Fairchild 2003",
        _two_exponentials(7.0328, 0.0, 4.2582, 40.6910, 0.1039, 1.6487),
        max_cpd=10,
    ),
}


def human_csf(cpd: torch.Tensor, colour: str = "lum") -> torch.Tensor:
    """Sensitivity (1 / threshold contrast) at each frequency (cycles/degree), not normalised."""
    return HUMAN_CSFS[colour].sensitivity(cpd)


def human_curve(
    sfs: list[float], degrees: float, colour: str = "lum", points: int = 100
) -> tuple[torch.Tensor, torch.Tensor]:
    """(cycles/image, max-normalised sensitivity), each (points,), over the span of `sfs` (up to the
    model's max_cpd), for an image `degrees` wide."""
    low, high = min(sfs) / degrees, min(max(sfs) / degrees, HUMAN_CSFS[colour].max_cpd)
    cpd = torch.logspace(math.log10(low), math.log10(max(high, low)), points, dtype=torch.float64)
    s = human_csf(cpd, colour)
    return cpd * degrees, s / s.max()

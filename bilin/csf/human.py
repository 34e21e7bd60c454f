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

Each curve is drawn only over the frequencies its source describes (HumanCSF.cpd_range):
- luminance, 0.5-35.9 cycles/degree: at the top, where the fit falls to S = 1 (a threshold of 100%
  contrast, the acuity it implies); beyond it no contrast is visible and the formula describes no
  data. Below 0.5 a luminance CSF depends on the field size and the number of cycles shown (the
  low-frequency cut), which one template does not describe.
- chromatic, 0.1-10 cycles/degree: Mullen measured down to 0.1 and below (fields up to 23°) and found
  chromatic acuity at 11-12; above 10 the yb fit as printed (b1 = 0, so its first term is a constant)
  levels off at 7.03, 15% of its peak, which chromatic sensitivity does not.
Only the shapes are compared (curves max-normalised over the drawn span): the human curves are for
the conditions of their experiments, the network's for images `degrees` wide (probe-csf's key).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class HumanCSF:
    source: str  # for the figure's subtitle and the CSV
    sensitivity: Callable[[torch.Tensor], torch.Tensor]  # cycles/degree -> sensitivity
    cpd_range: tuple[float, float]  # cycles/degree the source describes: drawn only here


def _two_exponentials(a1: float, b1: float, c1: float, a2: float, b2: float, c2: float):
    return lambda f: a1 * torch.exp(-b1 * f**c1) + a2 * torch.exp(-b2 * f**c2)


LUMINANCE_ACUITY = 35.9  # cycles/degree where 75 f^0.8 exp(-0.2 f) falls to 1
CHROMATIC_SOURCE = "Mullen 1985 fit, Johnson & Fairchild 2003"
HUMAN_CSFS = {
    "lum": HumanCSF(
        "75 f^0.8 e^(−0.2 f), Johnson & Fairchild 2003",
        lambda f: 75 * f**0.8 * torch.exp(-0.2 * f),
        (0.5, LUMINANCE_ACUITY),
    ),
    "rg": HumanCSF(
        CHROMATIC_SOURCE, _two_exponentials(109.1413, 0.00038, 3.42436, 93.59711, 0.00367, 2.16771), (0.1, 10.0)
    ),
    "yb": HumanCSF(CHROMATIC_SOURCE, _two_exponentials(7.0328, 0.0, 4.2582, 40.6910, 0.1039, 1.6487), (0.1, 10.0)),
}


def human_csf(cpd: torch.Tensor, colour: str = "lum") -> torch.Tensor:
    """Sensitivity (1 / threshold contrast) at each frequency (cycles/degree), not normalised."""
    return HUMAN_CSFS[colour].sensitivity(cpd)


def human_span(sfs: list[float], degrees: float, colour: str = "lum") -> tuple[float, float] | None:
    """The cycles/image where the human curve is drawn beside `sfs`: their span, within the source's
    range for an image `degrees` wide; None when the two do not overlap."""
    low_cpd, high_cpd = HUMAN_CSFS[colour].cpd_range
    low, high = max(min(sfs), low_cpd * degrees), min(max(sfs), high_cpd * degrees)
    return (low, high) if low < high else None


def human_curve(
    sfs: list[float], degrees: float, colour: str = "lum", points: int = 100
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(cycles/image, sensitivity max-normalised over the drawn span), each (points,), over
    human_span; None where the source says nothing about these frequencies."""
    span = human_span(sfs, degrees, colour)
    if span is None:
        return None
    x = torch.logspace(math.log10(span[0]), math.log10(span[1]), points, dtype=torch.float64)
    s = human_csf(x / degrees, colour)
    return x, s / s.max()

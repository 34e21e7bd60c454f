"""The contrast sensitivity of a bilinear MLP from its weights: `probe-csf`'s gratings on its grey
background, each frequency's threshold solved in closed form (bilin.analysis.weight_csf)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from bilin.analysis.frequency import BandPass, band_pass
from bilin.analysis.weight_csf import contrast_responses, threshold_contrast
from bilin.csf.psychophysics import ORIENTATIONS
from bilin.csf.stimuli import Stimuli

JITTER_PHASES = 8  # the jittered protocol's random phase, as evenly spaced phases in closed form


@dataclass
class WeightCSF:
    sfs: list[float]  # cycles/image
    threshold: torch.Tensor  # (sfs,) contrast, inf where the criterion is never reached
    criterion: float
    shape: BandPass

    @property
    def sensitivity(self) -> torch.Tensor:
        return 1 / self.threshold

    def rows(self) -> list[dict]:
        return [
            {
                "sf_cycles_per_image": sf,
                "threshold": float(t),
                "sensitivity": float(1 / t),
                "criterion_nats": self.criterion,
            }
            for sf, t in zip(self.sfs, self.threshold, strict=True)
        ]


def grating_patterns(sfs: list[float], stimuli: Stimuli) -> tuple[torch.Tensor, torch.Tensor]:
    """The pattern s of every stimulus, x = grey + (c / 2) s, for each frequency x the 13
    orientations x the protocol's phases (the tutorial's 0; jittered: JITTER_PHASES even steps in
    place of a random phase): (n, size * size) float64 and the frequency index of each row."""
    jittered = stimuli.protocol == "jittered"
    phases = torch.arange(JITTER_PHASES) * 2 * math.pi / JITTER_PHASES if jittered else torch.zeros(1)
    orientation = (torch.arange(ORIENTATIONS) * math.pi / 12).repeat_interleave(len(phases))
    phase = phases.repeat(ORIENTATIONS)
    unit = torch.ones(len(phase))
    patterns = torch.cat([2 * stimuli.gratings(sf, orientation, phase, unit)[:, 0] - 1 for sf in sfs])
    groups = torch.arange(len(sfs)).repeat_interleave(len(phase))
    return patterns.flatten(1).double(), groups


def weight_csf(model: torch.nn.Module, sfs: list[float], stimuli: Stimuli, criterion: float) -> WeightCSF:
    """Every frequency's threshold in closed form, on the probe's grey background (0.5) with a
    one-channel model's gratings; `criterion` in nats (analysis.weight_csf)."""
    patterns, groups = grating_patterns(sfs, stimuli)
    background = torch.full((patterns.shape[1],), 0.5, dtype=torch.float64)
    response = contrast_responses(model, background, patterns).logits
    threshold = threshold_contrast(response, groups, criterion)
    sensitivity = torch.where(threshold.isfinite(), 1 / threshold, 1e-12)
    return WeightCSF(list(sfs), threshold, criterion, band_pass(torch.tensor(sfs, dtype=torch.float64), sensitivity))

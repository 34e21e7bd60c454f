"""Contrast sensitivity of a bilinear MLP read from its weights, with no sampling at all: `probe-csf`'s
gratings on its grey background, each frequency's threshold solved in closed form (weight_csf).

A stimulus is x = x0 + (c / 2) s: a background x0 (the probe's uniform grey) plus a pattern s (a
grating under its envelope) at contrast c, exactly as `probe-csf` draws it. With a = L E x0,
b = R E x0, p = L E s, q = R E s the hidden layer g = (L E x) * (R E x) changes by

    dg(c) = (c / 2) (a * q + p * b) + (c^2 / 4) p * q                       (elementwise, exact)

and the logits z = U g by dz(c) = U dg(c) = c x0^T M s + (c^2 / 4) s^T M s, M = E^T Q E (symmetric).

Threshold: the contrast at which the change of the logits, root-mean-square over the frequency's
stimuli (orientations, phases), reaches `criterion` in Euclidean norm:

    mean_s ||dz_s(c)||^2 = A c^2 + B c^3 + C c^4 = criterion^2,

A = mean ||lin||^2, B = 2 mean lin . quad, C = mean ||quad||^2 with dz = c lin + c^2 quad, solved
for its smallest positive root. The logits, not the hidden layer, because only they have a unit:
softmax reads them in nats (a change of 1 multiplies a class's odds by e), while the hidden layer's
scale is arbitrary (L -> a L, U -> U / a changes no output but every norm of g). The default
criterion, 1, is a change of the logits' vector by one nat.

A model with biases (model.bias=true) stays exact: a = L E x0 + b_L and b = R E x0 + b_R (the
background's own response), and the head's bias b_U, the same at every contrast, leaves dz unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from bilin.analysis.frequency import BandPass, band_pass
from bilin.csf.psychophysics import ORIENTATIONS
from bilin.csf.stimuli import Stimuli
from bilin.errors import UserError

JITTER_PHASES = 8  # the jittered protocol's random phase, as evenly spaced phases in closed form


@dataclass
class ContrastResponse:
    """The exact change of a layer at contrast c: d(c) = c * linear + c^2 * quadratic, each
    (patterns, units)."""

    linear: torch.Tensor
    quadratic: torch.Tensor

    def at(self, contrast: float | torch.Tensor) -> torch.Tensor:
        c = torch.as_tensor(contrast, dtype=self.linear.dtype)
        return c * self.linear + c**2 * self.quadratic


@dataclass
class WeightResponses:
    hidden: ContrastResponse  # g = (L h) * (R h), (patterns, d)
    logits: ContrastResponse  # z = U g, (patterns, classes)


def _bilinear_weights(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """E (d, inputs), L, R (d, d), U (classes, d) in float64; only an ungated bilinear MLP is a
    quadratic form."""
    bilinear = getattr(model, "bilinear", None)
    if bilinear is None or getattr(model, "gate", None):
        raise UserError("the weight-based CSF needs an ungated bilinear MLP (model=bilinear, gate=null)")
    left, right = bilinear.weight.detach().double().chunk(2, dim=0)
    embed = model.embed.weight.detach().double()
    return embed, left, right, model.head.weight.detach().double()


def _background_biases(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor] | None:
    """b_L, b_R (d,) in float64 of a model with biases; None without."""
    bias = model.bilinear.bias
    return None if bias is None else bias.detach().double().chunk(2)


def contrast_responses(model: torch.nn.Module, background: torch.Tensor, patterns: torch.Tensor) -> WeightResponses:
    """background (inputs,), patterns (n, inputs): the exact change of the hidden layer and the
    logits for x = background + (c / 2) pattern, as polynomials in c."""
    embed, left, right, head = _bilinear_weights(model)
    x0 = background.double().reshape(-1)
    s = patterns.double().reshape(len(patterns), -1)
    if x0.shape[0] != embed.shape[1] or s.shape[1] != embed.shape[1]:
        raise UserError(f"stimuli of {s.shape[1]} inputs do not fit a model of {embed.shape[1]} inputs")
    h0, hs = embed @ x0, s @ embed.T  # (d,), (n, d)
    a, b = left @ h0, right @ h0
    biases = _background_biases(model)
    if biases is not None:
        a, b = a + biases[0], b + biases[1]
    p, q = hs @ left.T, hs @ right.T
    hidden = ContrastResponse((a * q + p * b) / 2, p * q / 4)
    logits = ContrastResponse(hidden.linear @ head.T, hidden.quadratic @ head.T)
    return WeightResponses(hidden, logits)


def threshold_contrast(response: ContrastResponse, groups: torch.Tensor, criterion: float) -> torch.Tensor:
    """The smallest contrast c > 0 at which the RMS over each group's patterns of ||d(c)|| reaches
    `criterion`; groups (patterns,) the group index (0 .. G-1) of each pattern -> (G,) float64,
    inf where it never does."""
    if criterion <= 0:
        raise UserError(f"criterion={criterion} must be > 0")
    count = int(groups.max()) + 1
    members = torch.bincount(groups, minlength=count).double()

    def group_mean(v: torch.Tensor) -> torch.Tensor:
        return torch.zeros(count, dtype=torch.float64).index_add_(0, groups, v) / members

    lin, quad = response.linear, response.quadratic
    a = group_mean((lin * lin).sum(1))
    b = group_mean(2 * (lin * quad).sum(1))
    c = group_mean((quad * quad).sum(1))
    thresholds = []
    for ai, bi, ci in zip(a.tolist(), b.tolist(), c.tolist(), strict=True):
        roots = np.roots([ci, bi, ai, 0.0, -(criterion**2)])  # c4 x^4 + c3 x^3 + c2 x^2 - k^2
        real = roots[np.abs(roots.imag) <= 1e-9 * np.maximum(1.0, np.abs(roots))].real
        positive = real[real > 0]
        thresholds.append(float(positive.min()) if len(positive) else float("inf"))
    return torch.tensor(thresholds, dtype=torch.float64)


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
    one-channel model's gratings; `criterion` in nats (see the module's docstring)."""
    patterns, groups = grating_patterns(sfs, stimuli)
    background = torch.full((patterns.shape[1],), 0.5, dtype=torch.float64)
    response = contrast_responses(model, background, patterns).logits
    threshold = threshold_contrast(response, groups, criterion)
    sensitivity = torch.where(threshold.isfinite(), 1 / threshold, 1e-12)
    return WeightCSF(list(sfs), threshold, criterion, band_pass(torch.tensor(sfs, dtype=torch.float64), sensitivity))

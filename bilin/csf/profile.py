"""The threshold's profile-likelihood interval, its cut-off calibrated by a parametric bootstrap.

The interval holds the thresholds whose profile (slope and lapse refitted) is within a cut-off of the
best fit. chi-square(1) gives 1.92 nats, but the bisection's data are few and piled at one contrast
(the point it converged to), and there the likelihood ratio at the true threshold is inflated: its
mean was 0.6-0.85 nats where chi-square(1) / 2 has 0.5, and the 1.92-nat interval held the truth in
171-182 of 200 simulated experiments. So the cut-off is Bartlett-corrected: 1.92 x mean / 0.5 of the
ratio in bootstrap experiments, each the whole procedure replayed on a fitted observer (its ratio
taken at that observer's threshold, which is the truth there).
"""

from __future__ import annotations

import math

import torch

from bilin.csf.weibull_ml import THRESHOLD_RANGE, ml_weibull

PROFILE_NATS = 1.92  # chi-square(1) 95% / 2: the uncorrected cut-off, and the least one used
CHI2_MEAN = 0.5  # the mean of chi-square(1) / 2, which the bootstrap's mean is scaled to
UPPER_Z = 1.645  # the one-sided 95% normal quantile: the bootstrap mean's upper bound
PROFILE_STARTS = [(math.log(b), share) for b in (0.5, 1.5, 4.0, 12.0) for share in (0.0, 1.0)]  # log slope, lapse share
# the profile's search: log10 contrast either side of the ML threshold (denser near it), bisections of an end
PROFILE_OFFSETS, PROFILE_REFINE = (0.02, 0.05, 0.1, 0.2, 0.35, 0.6, 1.0, 1.5), 10


def replicate_ratios(
    c: torch.Tensor, n: torch.Tensor, k: torch.Tensor, worlds: torch.Tensor, max_lapse: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Bootstrap experiments (c, n, k: (replicates, levels)) drawn from observers `worlds` (replicates,
    3): their ML fits (replicates, 3) and likelihood ratios (replicates,) at the world's threshold, in
    nats. Starts: the world itself and fixed slopes at its threshold; the held fit also from the free one."""
    fixed = torch.tensor([[math.log(0.5), 0.0], [math.log(4.0), 0.0], [math.log(12.0), max_lapse / 2]])
    around = torch.cat([worlds[:, :1].expand(len(fixed), -1, -1), fixed[:, None].expand(-1, len(worlds), -1)], -1)
    params, nll = ml_weibull(c, n, k, torch.cat([worlds[None], around.double()]), max_lapse)
    free = params.clone()
    free[:, 0] = worlds[:, 0]
    _, held = ml_weibull(c, n, k, torch.stack([worlds, free]), max_lapse, worlds[:, 0])
    return params, (held - nll).clamp_min(0)


def bartlett_nats(ratios: torch.Tensor, pooled: torch.Tensor) -> torch.Tensor:
    """ratios (replicates, fits) -> each fit's cut-off (fits,): PROFILE_NATS scaled by the mean ratio
    over CHI2_MEAN. The mean is the upper 95% bound of the fit's own (200 replicates leave it +-10%,
    and a cut-off too low costs more coverage than one too high gives) or, where larger, the mean of
    the fits in `pooled` (bool, fits) together: one procedure measured them all, though the inflation
    differs between observers (0.6-0.85 nats) irregularly."""
    own = ratios.mean(0) + UPPER_Z * ratios.std(0).nan_to_num() / math.sqrt(len(ratios))
    if pooled.any():
        own = torch.maximum(own, ratios[:, pooled].mean())
    return (PROFILE_NATS * own / CHI2_MEAN).clamp_min(PROFILE_NATS)


def _profile_starts(held: torch.Tensor, max_lapse: float) -> torch.Tensor:
    """(starts, fits, 3): held itself and each PROFILE_STARTS slope and lapse, its threshold kept."""
    starts = held.expand(len(PROFILE_STARTS), -1, -1).clone()
    starts[:, :, 1:] = torch.tensor(PROFILE_STARTS, dtype=torch.float64)[:, None] * torch.tensor([1.0, max_lapse])
    return torch.cat([held[None], starts])


def profile_interval(
    c: torch.Tensor,
    n: torch.Tensor,
    k: torch.Tensor,
    params: torch.Tensor,
    nll: torch.Tensor,
    nats: torch.Tensor,
    max_lapse: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per fit, the thresholds where the profile likelihood (slope and lapse refitted) rises `nats`
    (fits,) above the best: found between the PROFILE_OFFSETS points either side of the ML threshold, then
    bisected PROFILE_REFINE times (the profile is convex near its best, so a straight line between
    points would move the ends inwards); an end that does not fall within the points is the last one (a
    lower bound on the width)."""
    side_offsets = torch.tensor(PROFILE_OFFSETS, dtype=torch.float64)
    offsets = torch.cat([-side_offsets.flip(0), torch.zeros(1, dtype=torch.float64), side_offsets])
    limits = math.log(THRESHOLD_RANGE[0]), math.log(THRESHOLD_RANGE[1])
    grid = (params[:, :1] + offsets * math.log(10)).clamp(*limits)  # (fits, points), natural log
    points = grid.shape[1]
    data = [t.repeat_interleave(points, 0) for t in (c, n, k)]
    held = params.repeat_interleave(points, 0)
    held[:, 0] = grid.reshape(-1)
    _, profile = ml_weibull(*data, _profile_starts(held, max_lapse), max_lapse, grid.reshape(-1))
    rise = (profile.view(-1, points) - nll[:, None]).clamp_min(0) - nats[:, None]  # < 0 inside the interval
    centre = len(PROFILE_OFFSETS)
    ends = []
    for side in (range(centre, -1, -1), range(centre, points)):
        r, g = rise[:, list(side)], grid[:, list(side)]
        outside = r > 0
        crossed = outside.any(1)
        first = torch.where(crossed, outside.double().argmax(1), len(side) - 1)  # the first point outside
        inner, outer = g.gather(1, (first - 1).clamp_min(0)[:, None])[:, 0], g.gather(1, first[:, None])[:, 0]
        for _ in range(PROFILE_REFINE):  # bisect between the last point inside and the first outside
            middle = (inner + outer) / 2
            held = params.clone()
            held[:, 0] = middle
            _, value = ml_weibull(c, n, k, _profile_starts(held, max_lapse), max_lapse, middle)
            inside = value - nll <= nats
            inner, outer = torch.where(inside, middle, inner), torch.where(inside, outer, middle)
        ends.append(torch.where(crossed, (inner + outer) / 2, g[:, -1]).exp())
    return ends[0], ends[1]

"""From a trained probe to thresholds: two-interval trials, the tutorial's bisection, and a
maximum-likelihood Weibull fit with a bootstrap CI; all spatial frequencies at once.

Trial: a grating of contrast c and a uniform grey image (contrast 0), in random order; correct
when the probe picks the grating as the higher-contrast image. Orientations cycle through 13
values 0..pi (step pi/12) and the phase is jittered, so a level is never 13 identical trials.

Weibull with guess rate 0.5 and lapse l: P(c) = 0.5 + (0.5 - l) (1 - exp(-(c / a)^b)).
Threshold at 75%: c75 = a (-ln(1 - 0.25 / (0.5 - l)))^(1 / b). Maximum likelihood (weibull_ml:
scipy's L-BFGS-B, several starts), all frequencies and bootstrap replicates as one batch; the CI is
a parametric bootstrap (new trials drawn from the fitted function at the tested contrasts). Where
a step fits as well as any Weibull, the threshold is only bracketed and is reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bilin.csf.options import BOOTSTRAP, MAX_STEPS
from bilin.csf.weibull_ml import STEP_NATS, THRESHOLD_RANGE, grid_starts, ml_weibull, step_fit, to_weibull, weibull

__all__ = ["Fit", "Staircase", "bisection", "fit_psychometric", "threshold75", "weibull"]

ORIENTATIONS = 13
TARGET = 0.749
PROFILE_NATS = 1.92  # chi-square(1) 95% / 2: the profile-likelihood interval's drop
PROFILE_STARTS = [(math.log(b), share) for b in (0.5, 1.5, 4.0, 12.0) for share in (0.0, 1.0)]  # log slope, lapse share
# the profile's search: log10 contrast either side of the ML threshold, points per side, bisections of an end
PROFILE_SPAN, PROFILE_STEPS, PROFILE_REFINE = 1.5, 30, 8


@dataclass
class Staircase:
    """Per frequency (rows): contrasts tested, trials and correct answers at each (padded with n = 0)."""

    contrast: torch.Tensor  # (sfs, steps)
    trials: torch.Tensor  # (sfs, steps)
    correct: torch.Tensor  # (sfs, steps)
    threshold: torch.Tensor  # (sfs,) the bisection's last contrast
    steps: torch.Tensor  # (sfs,) steps it ran (20 means it never met the tolerance)


def bisection(
    accuracy: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    n_sfs: int,
    trials: int,
    target: float = TARGET,
    tolerance: float = 1e-4,
    max_steps: int = MAX_STEPS,
) -> Staircase:
    """The tutorial's staircase for every frequency at once. accuracy(contrasts (sfs,), active (sfs,)
    bool) -> correct counts (sfs,); start at 0.5, halve the interval towards the target."""
    low, high = torch.zeros(n_sfs, dtype=torch.float64), torch.ones(n_sfs, dtype=torch.float64)
    c = torch.full((n_sfs,), 0.5, dtype=torch.float64)
    active = torch.ones(n_sfs, dtype=torch.bool)
    steps = torch.zeros(n_sfs, dtype=torch.long)
    contrasts, counts, corrects = [], [], []
    for _ in range(max_steps):
        correct = accuracy(c.float(), active).double().cpu()
        contrasts.append(c.clone())
        counts.append(torch.where(active, float(trials), 0.0))
        corrects.append(torch.where(active, correct, 0.0))
        steps += active.long()
        acc = correct / trials
        done = (acc - target).abs() < tolerance
        above = acc > target
        high = torch.where(active & above, c, high)
        low = torch.where(active & ~above, c, low)
        active = active & ~done
        if not active.any():
            break
        c = torch.where(active, (low + high) / 2, c)
    return Staircase(torch.stack(contrasts, 1), torch.stack(counts, 1), torch.stack(corrects, 1), c, steps)


def threshold75(alpha: torch.Tensor, beta: torch.Tensor, lapse: torch.Tensor) -> torch.Tensor:
    return alpha * (-torch.log(1 - 0.25 / (0.5 - lapse))) ** (1 / beta)


@dataclass
class Fit:
    """Per frequency (sfs,). Where step_like, the data fit a step (chance, then all right) as well as
    any Weibull: threshold and CI are NaN and the threshold lies in [bracket_low, bracket_high]
    (the last contrast at chance, the first above it; 0 or inf where every level is on one side)."""

    alpha: torch.Tensor
    beta: torch.Tensor
    lapse: torch.Tensor
    threshold: torch.Tensor  # the 75% point of the ML fit
    ci_low: torch.Tensor  # the profile-likelihood 95% interval
    ci_high: torch.Tensor
    boot_thresholds: torch.Tensor  # (boot, sfs); step-like: log-uniform over the bracket (open: its finite end)
    step_like: torch.Tensor  # bool
    bracket_low: torch.Tensor  # NaN unless step_like
    bracket_high: torch.Tensor

    @property
    def estimate(self) -> torch.Tensor:
        """The threshold; where step-like, the bracket's geometric centre, or its finite end when it is
        open (every level at chance: the threshold is at least the highest contrast; all right: at most
        the lowest), so a CSF's shape can still be read."""
        low, high = self.bracket_low, self.bracket_high
        bracketed = torch.where(high.isinf(), low, torch.where(low > 0, (low * high).sqrt(), high))
        return torch.where(self.step_like, bracketed, self.threshold)

    @property
    def interval(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 95% CI, or the bracket where step-like."""
        return (
            torch.where(self.step_like, self.bracket_low, self.ci_low),
            torch.where(self.step_like, self.bracket_high, self.ci_high),
        )


def fit_psychometric(stair: Staircase, boot: int = BOOTSTRAP, seed: int = 0, max_lapse: float = 0.06) -> Fit:
    """ML Weibull fit per frequency. The threshold's 95% CI is its profile-likelihood interval (where
    the best fit with the threshold held is within PROFILE_NATS of the best); the bootstrap (`boot`
    experiments drawn from the fitted function at the tested contrasts and trial counts, refitted)
    gives replicates for intervals of what is computed from all thresholds (the CSF's peak).
    Frequencies whose best step is within STEP_NATS of the fit are step-like."""
    generator = torch.Generator().manual_seed(seed)
    n, k, c = stair.trials.double(), stair.correct.double(), stair.contrast.double()
    params, nll = ml_weibull(c, n, k, _starts(c, n, k, max_lapse), max_lapse)
    step_nll, low, high = step_fit(c, n, k, max_lapse)
    step_like = step_nll - nll < STEP_NATS

    p = weibull(c, *(t[:, None] for t in to_weibull(params)))
    drawn = torch.binomial(
        n.expand(boot, -1, -1).contiguous(), p.expand(boot, -1, -1).contiguous(), generator=generator
    )
    flat = [t.expand(boot, -1, -1).reshape(boot * len(c), -1) for t in (c, n, drawn)]
    boot_params, _ = ml_weibull(*flat, params.repeat(boot, 1)[None], max_lapse)
    ci_low, ci_high = _profile_interval(c, n, k, params, nll, max_lapse)
    boot_thresholds = boot_params[:, 0].exp().view(boot, -1)
    uniform = torch.rand(boot_thresholds.shape, generator=generator, dtype=torch.float64)
    in_bracket = (low.log() + uniform * (high.log() - low.log())).exp()
    in_bracket = torch.where(high.isinf(), low, torch.where(low > 0, in_bracket, high))  # open: its finite end

    nan = torch.full_like(low, math.nan)
    return Fit(
        *to_weibull(params),
        torch.where(step_like, nan, params[:, 0].exp()),
        torch.where(step_like, nan, ci_low),
        torch.where(step_like, nan, ci_high),
        torch.where(step_like, in_bracket, boot_thresholds),
        step_like,
        torch.where(step_like, low, nan),
        torch.where(step_like, high, nan),
    )


def _starts(c: torch.Tensor, n: torch.Tensor, k: torch.Tensor, max_lapse: float) -> torch.Tensor:
    fixed = torch.tensor([[math.log(0.05), math.log(1.0), 0.0], [math.log(0.2), math.log(4.0), max_lapse / 2]])
    return torch.cat([grid_starts(c, n, k, max_lapse), fixed[:, None].expand(-1, len(c), -1).double()])


def _profile_starts(held: torch.Tensor, max_lapse: float) -> torch.Tensor:
    """(starts, fits, 3): held itself and each PROFILE_STARTS slope and lapse, its threshold kept."""
    starts = held.expand(len(PROFILE_STARTS), -1, -1).clone()
    starts[:, :, 1:] = torch.tensor(PROFILE_STARTS, dtype=torch.float64)[:, None] * torch.tensor([1.0, max_lapse])
    return torch.cat([held[None], starts])


def _profile_interval(
    c: torch.Tensor,
    n: torch.Tensor,
    k: torch.Tensor,
    params: torch.Tensor,
    nll: torch.Tensor,
    max_lapse: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per frequency, the thresholds where the profile likelihood (slope and lapse refitted) falls
    PROFILE_NATS below the best: found between PROFILE_STEPS points either side of the ML threshold,
    then bisected PROFILE_REFINE times (the profile is convex near its best, so a straight line between
    points would move the ends inwards); an end that does not fall within the points is the last one (a
    lower bound on the width)."""
    offsets = torch.linspace(-PROFILE_SPAN, PROFILE_SPAN, 2 * PROFILE_STEPS + 1, dtype=torch.float64)
    limits = math.log(THRESHOLD_RANGE[0]), math.log(THRESHOLD_RANGE[1])
    grid = (params[:, :1] + offsets * math.log(10)).clamp(*limits)  # (sfs, points), natural log
    points = grid.shape[1]
    data = [t.repeat_interleave(points, 0) for t in (c, n, k)]
    held = params.repeat_interleave(points, 0)
    held[:, 0] = grid.reshape(-1)
    _, profile = ml_weibull(*data, _profile_starts(held, max_lapse), max_lapse, grid.reshape(-1))
    rise = (profile.view(-1, points) - nll[:, None]).clamp_min(0) - PROFILE_NATS  # < 0 inside the interval
    centre = PROFILE_STEPS
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
            inside = value - nll <= PROFILE_NATS
            inner, outer = torch.where(inside, middle, inner), torch.where(inside, outer, middle)
        ends.append(torch.where(crossed, (inner + outer) / 2, g[:, -1]).exp())
    return ends[0], ends[1]

"""From a trained probe to thresholds: two-interval trials, the tutorial's bisection, and a
maximum-likelihood Weibull fit with a bootstrap CI; all spatial frequencies at once.

Trial: a grating of contrast c and a uniform grey image (contrast 0), in random order; correct
when the probe picks the grating as the higher-contrast image. Orientations cycle through 13
values 0..pi (step pi/12) and the phase is jittered, so a level is never 13 identical trials.

Weibull with guess rate 0.5 and lapse l: P(c) = 0.5 + (0.5 - l) (1 - exp(-(c / a)^b)).
Threshold at 75%: c75 = a (-ln(1 - 0.25 / (0.5 - l)))^(1 / b). Maximum likelihood (weibull_ml:
damped Newton, several starts), all frequencies and bootstrap replicates as one batch. The 95% CI is
the profile-likelihood interval with its cut-off calibrated by a parametric bootstrap (profile.py).
Where a step fits as well as any Weibull, the threshold is only bracketed and is reported as such.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bilin.csf.profile import bartlett_nats, profile_interval, replicate_ratios
from bilin.csf.settings import BOOTSTRAP, MAX_STEPS
from bilin.csf.weibull_ml import STEP_NATS, grid_starts, ml_weibull, step_fit, to_weibull, weibull

__all__ = ["BisectionDesign", "Fit", "Staircase", "bisection", "fit_psychometric", "threshold75", "weibull"]

ORIENTATIONS = 13
MAX_CONTRAST = 1.0  # a grating's highest: a 75% point beyond it (and every tested contrast) is not reached
TARGET = 0.749


@dataclass(frozen=True)
class BisectionDesign:
    """The bisection's settings, so that a fit can replay the whole procedure on simulated observers."""

    trials: int
    target: float
    tolerance: float
    max_steps: int


@dataclass
class Staircase:
    """Per frequency (rows): contrasts tested, trials and correct answers at each (padded with n = 0)."""

    contrast: torch.Tensor  # (sfs, steps)
    trials: torch.Tensor  # (sfs, steps)
    correct: torch.Tensor  # (sfs, steps)
    threshold: torch.Tensor  # (sfs,) the bisection's last contrast
    steps: torch.Tensor  # (sfs,) steps it ran (20 means it never met the tolerance)
    design: BisectionDesign | None = None  # how the contrasts were chosen; None: not replayable (QUEST+)


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
    design = BisectionDesign(trials, target, tolerance, max_steps)
    return Staircase(torch.stack(contrasts, 1), torch.stack(counts, 1), torch.stack(corrects, 1), c, steps, design)


def threshold75(alpha: torch.Tensor, beta: torch.Tensor, lapse: torch.Tensor) -> torch.Tensor:
    return alpha * (-torch.log(1 - 0.25 / (0.5 - lapse))) ** (1 / beta)


@dataclass
class Fit:
    """Per frequency (sfs,). Where step_like, the data fit a step (chance, then all right) as well as
    any Weibull: threshold and CI are NaN and the threshold lies in [bracket_low, bracket_high]
    (the last contrast at chance, the first above it; 0 or inf where every level is on one side).
    Where unreached, the fitted 75% point lies above every tested contrast and above contrast 1, the
    most a grating can have (an extrapolation, often to the fit's bound): threshold and CI are NaN and
    the bracket is [the highest tested contrast, inf)."""

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
    profile_nats: torch.Tensor | None = None  # the interval's calibrated cut-off (profile.bartlett_nats)
    unreached: torch.Tensor | None = None  # bool; None: none

    def __post_init__(self) -> None:
        if self.unreached is None:
            self.unreached = torch.zeros_like(self.step_like)

    @property
    def bracketed(self) -> torch.Tensor:
        """Where the threshold is only bracketed (step-like or unreached), not fitted."""
        return self.step_like | self.unreached

    @property
    def estimate(self) -> torch.Tensor:
        """The threshold; where only bracketed, the bracket's geometric centre, or its finite end when it is
        open (every level at chance: the threshold is at least the highest contrast; all right: at most
        the lowest), so a CSF's shape can still be read."""
        low, high = self.bracket_low, self.bracket_high
        bracketed = torch.where(high.isinf(), low, torch.where(low > 0, (low * high).sqrt(), high))
        return torch.where(self.bracketed, bracketed, self.threshold)

    @property
    def interval(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The 95% CI, or the bracket where only bracketed."""
        return (
            torch.where(self.bracketed, self.bracket_low, self.ci_low),
            torch.where(self.bracketed, self.bracket_high, self.ci_high),
        )


def fit_psychometric(stair: Staircase, boot: int = BOOTSTRAP, seed: int = 0, max_lapse: float = 0.06) -> Fit:
    """ML Weibull fit per frequency and its threshold's 95% profile-likelihood interval, the cut-off
    calibrated by `boot` bootstrap experiments per frequency (profile.py): the procedure replayed on the
    fitted observer (stair.design; without one, trials drawn at the tested contrasts), its lapse spread
    over [0, max_lapse]. Their refitted thresholds are also the replicates for what is computed from all
    thresholds (the CSF's peak).
    Frequencies whose best step is within STEP_NATS of the fit are step-like."""
    generator = torch.Generator().manual_seed(seed)
    n, k, c = stair.trials.double(), stair.correct.double(), stair.contrast.double()
    params, nll = ml_weibull(c, n, k, _starts(c, n, k, max_lapse), max_lapse)
    step_nll, low, high = step_fit(c, n, k, max_lapse)
    step_like = step_nll - nll < STEP_NATS

    worlds = params.repeat(boot, 1)  # replicate b of frequency f: row b * sfs + f
    # the lapse spread over its range, not the estimate: at its bound 0 (a third of the fits) the
    # ratio is least inflated, and the data barely tell lapses apart
    worlds[:, 2] = max_lapse * (torch.arange(boot, dtype=torch.float64) + 0.5).repeat_interleave(len(c)) / boot
    boot_params, ratios = replicate_ratios(*_replay(stair, worlds, generator), worlds, max_lapse)
    nats = bartlett_nats(ratios.view(boot, -1), ~step_like)
    ci_low, ci_high = profile_interval(c, n, k, params, nll, nats, max_lapse)
    boot_thresholds = boot_params[:, 0].exp().view(boot, -1)
    uniform = torch.rand(boot_thresholds.shape, generator=generator, dtype=torch.float64)
    in_bracket = (low.log() + uniform * (high.log() - low.log())).exp()
    in_bracket = torch.where(high.isinf(), low, torch.where(low > 0, in_bracket, high))  # open: its finite end

    highest = torch.where(n > 0, c, torch.zeros_like(c)).amax(1)  # the highest contrast tested
    unreached = ~step_like & (params[:, 0].exp() > highest.clamp_min(MAX_CONTRAST))
    low, high = torch.where(unreached, highest, low), torch.where(unreached, math.inf, high)
    bracketed = step_like | unreached
    nan = torch.full_like(low, math.nan)
    return Fit(
        *to_weibull(params),
        torch.where(bracketed, nan, params[:, 0].exp()),
        torch.where(bracketed, nan, ci_low),
        torch.where(bracketed, nan, ci_high),
        torch.where(step_like, in_bracket, torch.where(unreached, highest, boot_thresholds)),
        step_like,
        torch.where(bracketed, low, nan),
        torch.where(bracketed, high, nan),
        nats,
        unreached,
    )


def _replay(stair: Staircase, worlds: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, ...]:
    """(c, n, k) of one bootstrap experiment per row of worlds (rows, 3), row b * sfs + f from
    frequency f: the bisection replayed on that Weibull observer, or without a design new trials at
    frequency f's tested contrasts."""
    alpha, beta, lapse = to_weibull(worlds)
    if stair.design is None:
        reps = len(worlds) // len(stair.contrast)
        c, n = stair.contrast.double().repeat(reps, 1), stair.trials.double().repeat(reps, 1)
        return c, n, torch.binomial(n, weibull(c, alpha[:, None], beta[:, None], lapse[:, None]), generator=generator)
    d = stair.design

    def observer(contrast: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        p = weibull(contrast.double(), alpha, beta, lapse)
        return torch.binomial(torch.full_like(p, float(d.trials)), p, generator=generator) * active

    replayed = bisection(observer, len(worlds), d.trials, d.target, d.tolerance, d.max_steps)
    return replayed.contrast, replayed.trials, replayed.correct


def _starts(c: torch.Tensor, n: torch.Tensor, k: torch.Tensor, max_lapse: float) -> torch.Tensor:
    fixed = torch.tensor([[math.log(0.05), math.log(1.0), 0.0], [math.log(0.2), math.log(4.0), max_lapse / 2]])
    return torch.cat([grid_starts(c, n, k, max_lapse), fixed[:, None].expand(-1, len(c), -1).double()])

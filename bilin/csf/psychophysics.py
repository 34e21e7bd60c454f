"""From a trained probe to thresholds: two-interval trials, the tutorial's bisection, and a
maximum-likelihood Weibull fit with a bootstrap CI; all spatial frequencies at once.

Trial: a grating of contrast c and a uniform grey image (contrast 0), in random order; correct
when the probe picks the grating as the higher-contrast image. Orientations cycle through 13
values 0..pi (step pi/12) and the phase is jittered, so a level is never 13 identical trials.

Weibull with guess rate 0.5 and lapse l: P(c) = 0.5 + (0.5 - l) (1 - exp(-(c / a)^b)).
Threshold at 75%: c75 = a (-ln(1 - 0.25 / (0.5 - l)))^(1 / b). Fitted in torch, all frequencies
and all bootstrap replicates as one batch (thousands of small fits in well under a second).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from bilin.csf.options import BOOTSTRAP, MAX_STEPS

ORIENTATIONS = 13
TARGET = 0.749
ALPHA_RANGE = (1e-4, 10.0)  # the Weibull's scale, contrast
BETA_RANGE = (0.2, 30.0)  # its slope


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


def weibull(c: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, lapse: torch.Tensor) -> torch.Tensor:
    return 0.5 + (0.5 - lapse) * (1 - torch.exp(-((c.clamp_min(1e-9) / alpha) ** beta)))


def threshold75(alpha: torch.Tensor, beta: torch.Tensor, lapse: torch.Tensor) -> torch.Tensor:
    return alpha * (-torch.log(1 - 0.25 / (0.5 - lapse))) ** (1 / beta)


@dataclass
class Fit:
    alpha: torch.Tensor
    beta: torch.Tensor
    lapse: torch.Tensor
    threshold: torch.Tensor  # (sfs,) the 75% point of the ML fit
    ci_low: torch.Tensor  # (sfs,) 2.5th percentile over the bootstrap
    ci_high: torch.Tensor
    boot_thresholds: torch.Tensor  # (boot, sfs)


def fit_psychometric(stair: Staircase, boot: int = BOOTSTRAP, seed: int = 0, max_lapse: float = 0.06) -> Fit:
    """ML Weibull fit per frequency; CI from a nonparametric bootstrap (each level's trials resampled)."""
    generator = torch.Generator().manual_seed(seed)
    n, k, c = stair.trials.double(), stair.correct.double(), stair.contrast.double()
    p_hat = torch.where(n > 0, k / n.clamp_min(1), 0.0)
    resampled = torch.binomial(
        n.expand(boot, -1, -1).contiguous(), p_hat.expand(boot, -1, -1).contiguous(), generator=generator
    )
    counts = torch.cat([k[None], resampled])  # (1 + boot, sfs, steps)
    alpha, beta, lapse = _ml_weibull(c, n, counts, max_lapse)
    thresholds = threshold75(alpha, beta, lapse).clamp(1e-4, 10.0)
    low, high = torch.quantile(thresholds[1:], torch.tensor([0.025, 0.975], dtype=thresholds.dtype), dim=0)
    return Fit(alpha[0], beta[0], lapse[0], thresholds[0], low, high, thresholds[1:])


def _ml_weibull(c: torch.Tensor, n: torch.Tensor, k: torch.Tensor, max_lapse: float, iterations: int = 600):
    """Adam on (log a, log b, logit lapse) for every (replicate, frequency) at once, a and b kept in
    ALPHA_RANGE and BETA_RANGE (finite thresholds where the data only bound them)."""
    shape = k.shape[:2]
    tested = torch.where(n > 0, c, torch.nan)
    start = torch.nanmedian(tested, dim=1).values.clamp(1e-3, 1.0)
    log_alpha = start.log().expand(shape).clone().requires_grad_(True)
    log_beta = torch.full(shape, math.log(2.0), dtype=torch.float64, requires_grad=True)
    raw_lapse = torch.full(shape, -2.0, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.Adam([log_alpha, log_beta, raw_lapse], lr=0.05)
    for _ in range(iterations):
        alpha, beta = log_alpha.exp()[..., None], log_beta.exp()[..., None]
        lapse = max_lapse * torch.sigmoid(raw_lapse)[..., None]
        p = weibull(c, alpha, beta, lapse).clamp(1e-9, 1 - 1e-9)
        nll = -(k * p.log() + (n - k) * (1 - p).log()).sum()
        optimiser.zero_grad()
        nll.backward()
        optimiser.step()
        with torch.no_grad():  # a level where every trial is right (or wrong) drives a and b off to 0 or inf
            log_alpha.clamp_(math.log(ALPHA_RANGE[0]), math.log(ALPHA_RANGE[1]))
            log_beta.clamp_(math.log(BETA_RANGE[0]), math.log(BETA_RANGE[1]))
    with torch.no_grad():
        return log_alpha.exp(), log_beta.exp(), max_lapse * torch.sigmoid(raw_lapse)

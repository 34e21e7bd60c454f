"""How often the threshold's 95% interval holds the truth: simulated Weibull observers measured by
the tutorial's bisection (26 trials a contrast, 20 steps, lapse 0.02), 200 experiments per slope.

python benchmarks/bench_psychometric_coverage.py

A measurement, not a test: the profile-likelihood interval is not yet nominal at shallow slopes
(issue 21 keeps it open; 171-182 of 200 were measured when it was written).
"""

from __future__ import annotations

import torch

from bilin.csf.psychophysics import bisection, fit_psychometric, threshold75, weibull

LAPSE = torch.tensor(0.02, dtype=torch.float64)
EXPERIMENTS = 200


def coverage(beta: float, seed: int) -> int:
    alpha = torch.full((EXPERIMENTS,), 0.05, dtype=torch.float64)
    slope = torch.full((EXPERIMENTS,), beta, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)

    def observer(contrast: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        p = weibull(contrast.double(), alpha, slope, LAPSE)
        return torch.binomial(torch.full_like(p, 26.0), p, generator=generator) * active

    fit = fit_psychometric(bisection(observer, EXPERIMENTS, 26, max_steps=20), boot=1)
    low, high = fit.interval
    truth = threshold75(alpha[0], slope[0], LAPSE)
    return int(((low <= truth) & (truth <= high)).sum())


def main() -> None:
    for beta, seed in ((1.0, 0), (1.5, 1), (3.0, 0)):
        held = coverage(beta, seed)
        print(f"slope {beta:g}: the 95% interval held the true threshold in {held} of {EXPERIMENTS} ({held / 2:.0f}%)")


if __name__ == "__main__":
    main()

"""Maximum-likelihood fits of the 2AFC Weibull, many at once, and the step that bounds them.

Parameters: the log 75% threshold, log beta and the lapse, each in a box (THRESHOLD_RANGE,
BETA_RANGE, [0, max_lapse]). Thousands of independent 3-parameter fits run as one batch of damped
Newton steps on exact Hessians (in closed form), from several starts each (the best point of a coarse grid
per slope, and fixed ones); the best end wins. (scipy's L-BFGS-B reached the same optima, one fit at
a time at ~40 ms each, or on all fits summed in 100 s for 60: too slow for a bootstrap.)

A step (beta -> infinity: chance below an edge, 1 - lapse above) is the Weibull's limit. When the
best step is within STEP_NATS of the best Weibull, the data cannot tell them apart and only bracket
the threshold between two tested contrasts (step_fit).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import TypeVar

import torch

F = TypeVar("F", bound=Callable)

THRESHOLD_RANGE = (1e-4, 10.0)  # the 75% threshold's, contrast
BETA_RANGE = (0.2, 30.0)  # its slope
STEP_NATS = 1.92  # chi-square(1) 95% / 2: a step not rejected at the 5% level
GRID = (
    torch.linspace(math.log(THRESHOLD_RANGE[0]), math.log(THRESHOLD_RANGE[1]), 24, dtype=torch.float64),
    torch.linspace(math.log(BETA_RANGE[0]), math.log(BETA_RANGE[1]), 8, dtype=torch.float64),
    torch.tensor([0.0, 1.0], dtype=torch.float64),  # lapse, as a share of max_lapse
)


def weibull(c: torch.Tensor, alpha: torch.Tensor, beta: torch.Tensor, lapse: torch.Tensor) -> torch.Tensor:
    """P(correct) = 0.5 + (0.5 - lapse) (1 - exp(-(c / alpha)^beta))."""
    return 0.5 + (0.5 - lapse) * (1 - torch.exp(-((c.clamp_min(1e-9) / alpha) ** beta)))


def to_weibull(params: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(..., 3) = (log threshold75, log beta, lapse) -> alpha, beta, lapse (...)."""
    beta, lapse = params[..., 1].exp(), params[..., 2]
    log_alpha = params[..., 0] - torch.log(-torch.log(1 - 0.25 / (0.5 - lapse))) / beta
    return log_alpha.exp(), beta, lapse


def negative_log_likelihood(params: torch.Tensor, c: torch.Tensor, n: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
    """params (..., 3) = (log threshold75, log beta, lapse); c, n, k (..., levels) -> (...,) nats,
    without the binomial coefficients (constant in the parameters)."""
    alpha, beta, lapse = (t[..., None] for t in to_weibull(params))
    p = weibull(c, alpha, beta, lapse).clamp(1e-12, 1 - 1e-12)
    return -(k * p.log() + (n - k) * (1 - p).log()).sum(-1)


def grid_starts(c: torch.Tensor, n: torch.Tensor, k: torch.Tensor, max_lapse: float, chunk: int = 256) -> torch.Tensor:
    """(slopes, fits, 3): for each slope of GRID, the best (alpha, lapse) of the grid, per fit (c, n,
    k: (fits, levels)). The likelihood can have a shallow and a steep mode; a start per slope finds both."""
    a, b, share = torch.meshgrid(*GRID, indexing="ij")
    grid = (
        torch.stack([a, b, share * max_lapse], -1).transpose(0, 1).reshape(len(GRID[1]), -1, 3)
    )  # (slopes, points, 3)
    best = []
    for i in range(0, len(c), chunk):
        data = (t[None, i : i + chunk, None] for t in (c, n, k))
        nll = negative_log_likelihood(grid[:, None], *data)  # (slopes, fits, points)
        best.append(
            torch.gather(
                grid[:, None].expand(-1, nll.shape[1], -1, -1), 2, nll.argmin(-1)[..., None, None].expand(-1, -1, 1, 3)
            )[:, :, 0]
        )
    return torch.cat(best, 1)


def _score(x: torch.Tensor, c: torch.Tensor, n: torch.Tensor, k: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """(nll, gradient, Hessian) of fits x (fits, 3) in closed form (autograd's double backward took 85% of
    a fit). With u = log threshold, beta = e^v, h = 0.5 - lapse and q = -ln(1 - 0.25 / h):
    z = (c / alpha)^beta = q exp(s), s = beta (ln c - u), and p = 0.5 + h (1 - e^-z)."""
    u, v, lapse = (x[:, i, None] for i in range(3))
    beta, h = v.exp(), 0.5 - lapse
    q = -torch.log(1 - 0.25 / h)
    dq = 0.25 / (h * h - 0.25 * h)  # dq / d lapse
    ddq = 0.25 * (2 * h - 0.25) / (h * h - 0.25 * h) ** 2
    s = beta * (c.clamp_min(1e-9).log() - u)
    z = q * s.exp()
    e = torch.exp(-z)
    p = 0.5 + h * (1 - e)
    inside = ((p > 1e-12) & (p < 1 - 1e-12)).double()  # where p is clamped, it does not move
    p = p.clamp(1e-12, 1 - 1e-12)
    nll = -(k * p.log() + (n - k) * (1 - p).log()).sum(-1)
    dnll_dp = ((n - k) / (1 - p) - k / p) * inside
    d2nll_dp2 = (k / p**2 + (n - k) / (1 - p) ** 2) * inside
    ratio = dq / q
    dz = [-beta * z, z * s, z * ratio]  # dz / d(u, v, lapse)
    dh = [0.0, 0.0, -1.0]
    ddz = {
        (0, 0): beta * beta * z,
        (0, 1): -beta * z * (1 + s),
        (0, 2): -beta * z * ratio,
        (1, 1): z * s * (s + 1),
        (1, 2): z * s * ratio,
        (2, 2): z * ddq / q,
    }
    dp = [h * e * dz[i] + dh[i] * (1 - e) for i in range(3)]
    gradient = torch.stack([(dnll_dp * dp[i]).sum(-1) for i in range(3)], -1)
    hessian = torch.empty(len(x), 3, 3, dtype=x.dtype)
    for i in range(3):
        for j in range(i, 3):
            d2p = h * e * (ddz[i, j] - dz[i] * dz[j]) + e * (dh[i] * dz[j] + dh[j] * dz[i])
            hessian[:, i, j] = hessian[:, j, i] = (d2nll_dp2 * dp[i] * dp[j] + dnll_dp * d2p).sum(-1)
    return nll, gradient, hessian


def one_thread(function: F) -> F:
    """Run `function` on one CPU thread: its tensors are small (thousands of 3-parameter fits), and
    threads only wait on each other there (fit_psychometric took 130 s on 2 threads of a busy
    2-core machine, 20 s on one)."""

    @functools.wraps(function)
    def wrapped(*args, **kwargs):
        previous = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return function(*args, **kwargs)
        finally:
            torch.set_num_threads(previous)

    return wrapped  # type: ignore[return-value]


@one_thread
def ml_weibull(
    c: torch.Tensor,
    n: torch.Tensor,
    k: torch.Tensor,
    starts: torch.Tensor,
    max_lapse: float,
    log_threshold: torch.Tensor | None = None,
    iterations: int = 400,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Fits (fits, levels) from starts (starts, fits, 3): the best end of a projected Levenberg-Marquardt
        from each start (Newton's step on the exact Hessian, damped per fit until it lowers that fit's negative
        log-likelihood, parameters held at a bound they push against). log_threshold (fits,): hold the
    threshold there (a profile likelihood). Returns (params (fits, 3), nll (fits,))."""
    s, fits = starts.shape[:2]
    low = torch.tensor([math.log(THRESHOLD_RANGE[0]), math.log(BETA_RANGE[0]), 0.0], dtype=torch.float64)
    high = torch.tensor([math.log(THRESHOLD_RANGE[1]), math.log(BETA_RANGE[1]), max_lapse], dtype=torch.float64)
    low, high = low.expand(s * fits, 3).clone(), high.expand(s * fits, 3).clone()
    if log_threshold is not None:
        low[:, 0] = high[:, 0] = log_threshold.double().repeat(s)
    c, n, k = (t.double().expand(s, -1, -1).reshape(s * fits, -1) for t in (c, n, k))
    x = torch.maximum(torch.minimum(starts.double().reshape(s * fits, 3), high), low)
    damping = torch.full((len(x),), 1e-2, dtype=torch.float64)
    eye = torch.eye(3, dtype=torch.float64)
    value, gradient, hessian = _score(x, c, n, k)
    active = torch.arange(len(x))  # fits still moving: the last accepted step gained >= 1e-10 nats
    for _ in range(iterations):
        xa, g, h, lam = x[active], gradient[active], hessian[active], damping[active]
        lo, hi = low[active], high[active]
        held = ((xa <= lo) & (g > 0)) | ((xa >= hi) & (g < 0))
        free = (~held).double()
        reduced = h * free[:, :, None] * free[:, None, :] + torch.diag_embed(1 - free)
        scale = reduced.diagonal(dim1=-2, dim2=-1).abs().clamp_min(1e-9)
        system = reduced + lam[:, None, None] * torch.diag_embed(scale) + 1e-12 * eye
        step = -torch.linalg.solve(system, (g * free).unsqueeze(-1))[..., 0]
        trial = torch.maximum(torch.minimum(xa + step, hi), lo)
        trial_value, trial_gradient, trial_hessian = _score(trial, c[active], n[active], k[active])
        better = trial_value < value[active]
        gain = value[active] - trial_value
        keep = better.nonzero()[:, 0]
        x[active[keep]], value[active[keep]] = trial[keep], trial_value[keep]
        gradient[active[keep]], hessian[active[keep]] = trial_gradient[keep], trial_hessian[keep]
        lam = torch.where(better, lam / 4, lam * 4).clamp(1e-10, 1e12)
        damping[active] = lam
        active = active[~((better & (gain < 1e-10)) | (lam >= 1e12))]
        if len(active) == 0:
            break
    nll = value.view(s, fits)
    best = nll.argmin(0)
    pick = torch.arange(fits)
    return x.view(s, fits, 3)[best, pick], nll[best, pick]


def step_fit(c: torch.Tensor, n: torch.Tensor, k: torch.Tensor, max_lapse: float) -> tuple[torch.Tensor, ...]:
    """The best step per fit (c, n, k: (fits, levels)): P = 0.5 at and below the bracket's low end,
    1 - lapse (ML, at most max_lapse) from its high end up. Returns (nll (fits,), bracket low, high):
    the last contrast at chance and the first above the edge (0 or inf where every tested level is on
    one side)."""
    tested = n > 0
    order = torch.where(tested, c, math.inf).argsort(-1)
    c, n, k, tested = (t.gather(-1, order) for t in (c.double(), n.double(), k.double(), tested))
    zero = torch.zeros_like(n[..., :1])
    n_below, k_below = torch.cat([zero, n.cumsum(-1)], -1), torch.cat([zero, k.cumsum(-1)], -1)  # edge after j levels
    n_above, errors_above = n_below[..., -1:] - n_below, (n_below - k_below)[..., -1:] - (n_below - k_below)
    lapse = (errors_above / n_above.clamp_min(1)).clamp(max=max_lapse)
    above = -(torch.xlogy(n_above - errors_above, 1 - lapse) + torch.xlogy(errors_above, lapse))
    nll = n_below * math.log(2) + above
    # an edge after j levels: between two distinct tested contrasts, or beyond every tested one
    m = tested.sum(-1, keepdim=True)
    j = torch.arange(n_below.shape[-1])
    padded = torch.cat([torch.zeros_like(c[..., :1]), c, torch.full_like(c[..., :1], math.inf)], -1)
    low_c, high_c = padded[..., :-1], padded[..., 1:]  # the contrasts either side of each edge
    high_c = torch.where(j == m, math.inf, high_c)
    valid = (j == 0) | (j == m) | ((j < m) & (low_c < high_c))
    best = torch.where(valid, nll, math.inf).argmin(-1, keepdim=True)
    nll, low, high = (t.gather(-1, best)[..., 0] for t in (nll, low_c, high_c))
    return nll, low, high

"""The best image inside the data box for a quadratic logit: max x^T M_c x over x in [lo, hi]^inputs.

Every featvis method but `sphere` makes images inside the data range, so the sphere's optimum
r^2 lambda_max (bilin.analysis.featvis_scores) says how well an image points, not how high a logit
an optimiser inside the range can reach. This is that second reference. The box problem is NP-hard
in general (an indefinite quadratic form), so it is searched, not solved: projected gradient ascent

    x <- clamp(x + step * 2 M_c x, lo, hi),   step = 1 / (2 ||M_c||_2)

from RESTARTS random points of the box (uniform, seeded) and from any images the caller adds as
`starts` (the methods' own images: the reference is then at least as high as each of them), each
run for STEPS steps; the best end point per class is kept. With that step the logit never falls
from one step to the next (the gradient is 2 ||M_c||-Lipschitz), so a start's end point is at
least as good as the start; the caller's starts are also kept as candidates unmoved, so float32
rounding in the steps cannot put the reference below them. Pure: tensors in, a typed result out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RESTARTS = 64  # random starts per class
STEPS = 300  # projected-gradient steps per start


@dataclass
class BoxOptimum:
    """Per class: the best image found (classes, inputs), its logit x^T M_c x (classes,), float64,
    and which start it came from (classes,): 0..restarts-1 random, restarts + k the caller's k-th."""

    images: torch.Tensor
    logits: torch.Tensor
    start: torch.Tensor
    restarts: int
    steps: int


def quadratic_logits(matrices: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """matrices (classes, n, n), images (classes, ..., n) -> (classes, ...) x^T M_c x, float64."""
    m = matrices.double()
    x = images.reshape(m.shape[0], -1, m.shape[-1]).double()
    return torch.einsum("cki,cij,ckj->ck", x, m, x).reshape(images.shape[:-1])


@torch.no_grad()
def box_optimum(
    matrices: torch.Tensor,
    starts: torch.Tensor | None = None,
    restarts: int = RESTARTS,
    steps: int = STEPS,
    seed: int = 0,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> BoxOptimum:
    """matrices (classes, n, n) symmetric; starts (classes, k, n) extra start points (clamped into the
    box first) or None. The steps run in float32; the candidates' logits are compared in float64."""
    lo, hi = value_range
    m = matrices.double()
    m = (m + m.mT) / 2
    classes, n = m.shape[0], m.shape[-1]
    generator = torch.Generator().manual_seed(seed)
    x = lo + (hi - lo) * torch.rand(classes, restarts, n, generator=generator, dtype=torch.float64)
    given = starts.reshape(classes, -1, n).double().clamp(lo, hi) if starts is not None else x[:, :0]
    x = torch.cat([x, given], 1).to(m.device)
    norm = torch.linalg.matrix_norm(m, ord=2).clamp_min(torch.finfo(m.dtype).tiny)  # (classes,)
    step = (1.0 / (2 * norm))[:, None, None].float()
    m32, x = m.float(), x.float()
    for _ in range(steps):
        x = (x + step * 2 * torch.einsum("cij,ckj->cki", m32, x)).clamp_(lo, hi)
    candidates = torch.cat([x.double(), given.to(m.device)], 1)  # end points, then the given starts unmoved
    logits = quadratic_logits(m, candidates)
    best = logits.argmax(1)
    pick = torch.arange(classes)
    moved = x.shape[1]
    start = torch.where(best < moved, best, best - given.shape[1])  # a given start unmoved: its own index
    return BoxOptimum(candidates[pick, best].cpu(), logits[pick, best].cpu(), start.cpu(), restarts, steps)


def box_share(optimum: BoxOptimum, matrices: torch.Tensor, images: torch.Tensor) -> torch.Tensor:
    """images (classes, ..., n), as the model sees them (unscaled, inside the box) -> (classes, ...)
    their logit as a share of the box optimum's logit."""
    return (quadratic_logits(matrices, images) / _expand(optimum.logits, images.dim() - 1)).float()


def _expand(t: torch.Tensor, dims: int) -> torch.Tensor:
    return t.reshape(t.shape[0], *([1] * (dims - 1)))

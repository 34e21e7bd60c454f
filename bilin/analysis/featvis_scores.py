"""Feature visualisations scored against the exact sphere optimum of a bilinear MLP (docs/science.md section 7).

For an ungated bilinear MLP the logit of class c is the quadratic form x^T M_c x, M_c = E^T Q_c E
(inputs x inputs). Over the sphere ||x|| = r its maximum is r^2 lambda_max(M_c), reached at the top
eigenvector u_max. An image x, rescaled to norm r (a quadratic form: the scores below do not depend
on r), gets:
    cos       |x . u_max| / ||x||                       how close it is to the optimum's direction
    fraction  x^T M_c x / (||x||^2 lambda_max)          its logit as a share of the best at its norm
    top5      sum over the 5 largest eigenvalues of (u_k . x)^2 / ||x||^2
                                                        its energy inside M_c's top-5 eigenspace
and, from the scores along the optimisation, the first step at which a score reaches 95% of its final
value. These are direction scores: scale-free, they say how well an image points, not how high a
logit it reaches inside the data range (bilin.analysis.box_optimum). Pure: tensors in, tensors out.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bilin.analysis.decompose import Eigen
from bilin.errors import UserError

TOP_SPACE = 5


@dataclass
class Optimum:
    """Per class: the eigenvalues of M_c (classes, k) in descending order and their unit
    eigenvectors (classes, k, inputs); k may be fewer than the inputs (M_c has rank <= d)."""

    values: torch.Tensor
    vectors: torch.Tensor

    @classmethod
    def from_eigen(cls, eigen: Eigen) -> Optimum:
        """From bilin.analysis.decompose.input_space_eigendecompose (ascending, orthonormal rows)."""
        if eigen.constant:  # x'^T M x' in [x; 1] is no homogeneous form of x: no sphere optimum from eigenvectors
            raise UserError(
                "the sphere-optimum scores need a bilinear model without biases (model.bias=false): with biases the "
                "logit is not a quadratic form of the image alone"
            )
        return cls(eigen.values.flip(1), eigen.vectors.flip(1))

    def matrices(self) -> torch.Tensor:
        """(classes, inputs, inputs) M_c = sum_k lambda_k u_k u_k^T, float64 (exact up to the
        dropped near-zero eigenvalues)."""
        vectors = self.vectors.double()
        return torch.einsum("cki,ck,ckj->cij", vectors, self.values.double(), vectors)

    @property
    def best(self) -> torch.Tensor:
        """(classes,) lambda_max: the largest logit per unit squared norm."""
        return self.values[:, 0]


@dataclass
class Scores:
    """Each (classes, ...) tensor scores image [c, ...] against class c's optimum."""

    cos: torch.Tensor
    fraction: torch.Tensor
    top5: torch.Tensor


def score_images(optimum: Optimum, images: torch.Tensor) -> Scores:
    """images: (classes, ..., inputs) or (classes, ..., c, h, w), one or more per class."""
    classes, shape = optimum.values.shape[0], images.shape[: images.dim() - _trailing(images, optimum)]
    x = images.reshape(classes, -1, optimum.vectors.shape[-1]).double()
    unit = x / x.norm(dim=-1, keepdim=True).clamp_min(torch.finfo(x.dtype).tiny)
    projections = torch.einsum("cki,cni->cnk", optimum.vectors.double(), unit)  # (classes, n, k)
    quadratic = (projections.square() * optimum.values.double()[:, None, :]).sum(-1)

    def back(t: torch.Tensor) -> torch.Tensor:
        return t.reshape(shape).float()

    return Scores(
        cos=back(projections[..., 0].abs()),
        fraction=back(quadratic / optimum.best.double()[:, None]),
        top5=back(projections[..., :TOP_SPACE].square().sum(-1)),
    )


def steps_to_reach(curve: torch.Tensor, share: float = 0.95) -> torch.Tensor:
    """curve: (steps, ...) a score at each step -> (...) the first step (1-based) from which the score
    stays at or above `share` of its final value (a score that ends at or below 0 gives steps)."""
    steps, final = curve.shape[0], curve[-1]
    reached = curve >= share * final
    from_end = (~reached).flip(0).int().argmax(0)  # steps after the last one below the threshold, minus 1
    first = torch.where(reached.all(0), torch.ones_like(from_end), steps - from_end + 1)
    return torch.where(final > 0, first, torch.full_like(first, steps))


def _trailing(images: torch.Tensor, optimum: Optimum) -> int:
    """How many trailing dimensions of `images` make up one input (a channel axis of 1 included)."""
    inputs, size, found = optimum.vectors.shape[-1], 1, 0
    for n, dim in enumerate(reversed(images.shape), start=1):
        size *= dim
        if size == inputs:
            found = n
        elif size > inputs:
            break
    if not found:
        raise ValueError(f"images {tuple(images.shape)} do not end in {inputs} inputs")
    return found

"""Per-class eigendecomposition of a bilinear MLP (docs/science.md section 4).

For class c the logit is a quadratic form of the hidden vector h = E x:
    logit_c = sum_o U[c,o] (L h)_o (R h)_o = h^T B_c h,   B_c = L^T diag(U_c) R
Only the symmetric part Q_c = (B_c + B_c^T) / 2 matters; eigh(Q_c) gives eigenvalues lambda
(ascending) and orthonormal hidden-space eigenvectors v; u = E^T v lives in input space, so
    logit_c(x) = sum_k lambda_{c,k} (u_{c,k} . x)^2         (exact, no biases)
The input-space variant diagonalises M_c = E^T Q_c E (inputs x inputs, rank <= d) instead: its
eigenvectors are orthonormal in pixel space and the top one maximises the logit on a sphere.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import torch
from einops import einsum

from bilin.errors import UserError
from bilin.models.networks import BilinearMLP

SIGN_RULE = "each eigenvector signed so that the mean of u . x over its class's test images is > 0"


@dataclass
class Eigen:
    """values: (classes, k) ascending; vectors: (classes, k, inputs), row k pairs with values[:, k]."""

    values: torch.Tensor
    vectors: torch.Tensor

    def spectrum_rows(self, classes: Sequence[str]) -> list[dict]:
        return [
            {"class": classes[c], "index": k, "eigenvalue": float(v)}
            for c in range(len(classes))
            for k, v in enumerate(self.values[c])
        ]

    def top(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The largest eigenvalue of each class and its eigenvector: (classes,), (classes, inputs)."""
        index = self.values.argmax(dim=1)
        return self.values.gather(1, index[:, None])[:, 0], self.vectors[torch.arange(len(index)), index]


@dataclass
class Explanation:
    """One input's logits and, for its top classes, every component's contribution lambda_k (u_k . x)^2."""

    x: torch.Tensor  # (inputs,)
    logits: torch.Tensor  # (classes,)
    top_classes: list[int]
    contributions: list[torch.Tensor]  # per top class, (k,) in eigenvalue order
    label: int | None = None  # the input's true class, when known

    def rows(self, classes: Sequence[str], eigen: Eigen) -> list[dict]:
        return [
            {
                "class": classes[c],
                "logit": float(self.logits[c]),
                "index": k,
                "eigenvalue": float(eigen.values[c, k]),
                "contribution": float(v),
            }
            for c, parts in zip(self.top_classes, self.contributions, strict=True)
            for k, v in enumerate(parts)
        ]


def bilinear_weights(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """E (d x in), L (d x d), R (d x d), U (classes x d) of an ungated bilinear MLP, on its device."""
    if not isinstance(model, BilinearMLP):
        raise UserError(
            f"the eigendecomposition needs a bilinear model; this is a {type(model).__name__} "
            "(relu MLPs have no quadratic form)"
        )
    if model.gate is not None:
        raise UserError(
            f"the eigendecomposition is only exact for the ungated bilinear layer; this model has "
            f"gate={model.gate} (train it with model=bilinear)"
        )
    weights = [w.detach().float() for w in (model.embed.weight, model.left, model.right, model.head.weight)]
    return tuple(weights)


def interaction_matrices(left: torch.Tensor, right: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Q: (classes, d, d), Q_c = sym(L^T diag(U_c) R)."""
    B = einsum(head, left, right, "c o, o i, o j -> c i j")
    return (B + B.mT) / 2


def batched_eigh(Q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """eigh over the leading axis, the matrices spread over the CPU cores.

    LAPACK's eigh of one 512 x 512 matrix barely uses a second core; splitting the classes
    over threads does (torch releases the GIL).
    """
    workers = min(torch.get_num_threads(), len(Q))
    if Q.device.type != "cpu" or workers < 2:
        return torch.linalg.eigh(Q)
    chunks = Q.chunk(workers)
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with ThreadPoolExecutor(workers) as pool:
            parts = list(pool.map(torch.linalg.eigh, chunks))
    finally:
        torch.set_num_threads(previous)
    return torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])


def eigendecompose(model: torch.nn.Module) -> Eigen:
    """Hidden-space eigendecomposition projected to input space (u = E^T v, not unit norm)."""
    embed, left, right, head = bilinear_weights(model)
    values, hidden = batched_eigh(interaction_matrices(left, right, head))  # hidden: (c, d, k) columns
    vectors = einsum(hidden, embed, "c d k, d i -> c k i")
    return Eigen(values, vectors)


def input_space_eigendecompose(model: torch.nn.Module) -> Eigen:
    """Eigenvectors of M_c = E^T Q_c E (orthonormal in input space), top d kept, ascending."""
    embed, left, right, head = bilinear_weights(model)
    Q = interaction_matrices(left, right, head)
    M = einsum(embed, Q, embed, "d i, c d e, e j -> c i j")
    values, vectors = batched_eigh((M + M.mT) / 2)
    d = embed.shape[0]
    # M_c has rank <= d: keep the d eigenpairs of largest |lambda| (the rest are ~0), in ascending order
    keep = values.abs().topk(min(d, values.shape[1]), dim=1).indices.sort(dim=1).values
    values = values.gather(1, keep)
    vectors = vectors.mT.gather(1, keep[..., None].expand(-1, -1, vectors.shape[1]))
    return Eigen(values, vectors)


def orient_to_class(eigen: Eigen, x: torch.Tensor, y: torch.Tensor) -> Eigen:
    """The same eigenvectors, each signed so that its own class's images project positively on
    average: mean over {x : y = c} of u_{c,k} . x > 0 (ties at 0 keep the sign they had).

    eigen: vectors (classes, k, inputs), input space like every Eigen here (u = E^T v, or M_c's);
    x: (n, inputs) or (n, ...) images as the model sees them (floats in [0, 1]); y: (n,) labels.
    An eigenvector's sign is arbitrary (lambda (u . x)^2 does not see it); this rule makes it mean
    "the class is on the positive side". For u = E^T v, u . x = v . (E x), so hidden-space v would
    be signed the same by the hidden vectors h = E x. A class without images keeps its signs.
    """
    x = x.flatten(1).to(eigen.vectors)
    y = y.long().to(x.device)
    classes = eigen.vectors.shape[0]
    sums = torch.zeros(classes, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, y, x)
    counts = torch.bincount(y, minlength=classes)[:classes].clamp_min(1)
    means = sums / counts[:, None].to(x.dtype)  # (classes, inputs); mean of u . x is u . mean x
    projection = einsum(eigen.vectors, means, "c k i, c i -> c k")
    signs = torch.where(projection < 0, -1.0, 1.0).to(eigen.vectors.dtype)
    return Eigen(eigen.values, eigen.vectors * signs[..., None])


def eigen_logits(eigen: Eigen, x: torch.Tensor) -> torch.Tensor:
    """(batch, inputs) -> (batch, classes): sum_k lambda (u . x)^2."""
    projections = einsum(eigen.vectors, x.flatten(1).float(), "c k i, b i -> b c k")
    return einsum(projections.square(), eigen.values, "b c k, c k -> b c")


def contributions(eigen: Eigen, x: torch.Tensor, cls: int) -> torch.Tensor:
    """(k,) lambda_k (u_k . x)^2 for one input (inputs,) and one class."""
    return eigen.values[cls] * (eigen.vectors[cls] @ x.flatten().float()).square()


def explain(
    model: torch.nn.Module, eigen: Eigen, x: torch.Tensor, top: int = 3, label: int | None = None
) -> Explanation:
    """Why the model gives input x (inputs,) its logits: the top classes and their contributions."""
    with torch.no_grad():
        logits = model(x[None])[0]
    classes = logits.argsort(descending=True)[:top].tolist()
    return Explanation(x, logits, classes, [contributions(eigen, x, c) for c in classes], label)

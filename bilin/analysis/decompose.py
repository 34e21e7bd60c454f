"""Per-class eigendecomposition of a bilinear MLP (docs/science.md section 4).

For class c the logit is a quadratic form of the hidden vector h = E x:
    logit_c = sum_o U[c,o] (L h)_o (R h)_o = h^T B_c h,   B_c = L^T diag(U_c) R
Only the symmetric part Q_c = (B_c + B_c^T) / 2 matters; eigh(Q_c) gives eigenvalues lambda
(ascending) and orthonormal hidden-space eigenvectors v; u = E^T v lives in input space, so
    logit_c(x) = sum_k lambda_{c,k} (u_{c,k} . x)^2         (exact; biases: see below)
The input-space variant diagonalises M_c = E^T Q_c E (inputs x inputs, rank <= d) instead: its
eigenvectors are orthonormal in pixel space and the top one maximises the logit on a sphere.

Biases (model.bias=true: g = (L h + b_L) * (R h + b_R), logit_c = U_c . g + b_U[c]) fold in exactly
in the augmented input x' = [x; 1]: h' = E' x' = [h; 1] with E' = [[E, 0], [0, 1]], L' = [L | b_L],
R' = [R | b_R], and b_U[c] added to the constant-constant entry Q_c[d, d], so
    logit_c(x) = h'^T Q_c h' = sum_k lambda_{c,k} (u_{c,k} . [x; 1])^2,   u = E'^T v,
with d + 1 components per class (M_c = E'^T Q_c E' has rank <= d + 1). Every vector then has one
coordinate more than the image, the last: u_k . [x; 1] = u_img . x + u_const, so u_const is the
component's offset, its value on the black image x = 0 (`Eigen.constant` marks such an Eigen;
`images` is the image part, `constants` the last coordinate, `inputs(x)` appends the 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace

import torch
from einops import einsum

from bilin.errors import UserError
from bilin.models.networks import BilinearMLP

SIGN_RULE = "each eigenvector signed so that the mean of u . x over its class's test images is > 0"


@dataclass
class Eigen:
    """values: (classes, k) ascending; vectors: (classes, k, inputs), row k pairs with values[:, k].
    constant: a model with biases, whose vectors have inputs + 1 coordinates (the last is the constant
    input's, see the module's note)."""

    values: torch.Tensor
    vectors: torch.Tensor
    constant: bool = False

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """x (batch, ...) as the vectors read it: flattened, in their dtype, with a 1 appended when constant."""
        flat = x.flatten(1).to(self.vectors.dtype)
        return torch.cat([flat, flat.new_ones(len(flat), 1)], dim=1) if self.constant else flat

    def image_part(self, vectors: torch.Tensor) -> torch.Tensor:
        """(..., coordinates) vectors of this Eigen -> their image coordinates (the constant's dropped)."""
        return vectors[..., :-1] if self.constant else vectors

    @property
    def images(self) -> torch.Tensor:
        """(classes, k, image inputs): what figures draw."""
        return self.image_part(self.vectors)

    @property
    def constants(self) -> torch.Tensor | None:
        """(classes, k) each vector's constant coordinate; None without biases."""
        return self.vectors[..., -1] if self.constant else None

    def with_components(self, values: torch.Tensor, vectors: torch.Tensor) -> Eigen:
        """Other components (a selection, a reordering) of the same kind of Eigen."""
        return replace(self, values=values, vectors=vectors)

    def spectrum_rows(self, classes: Sequence[str]) -> list[dict]:
        """One row per eigenvalue; with biases, also its vector's constant coordinate."""
        constants = self.constants
        return [
            {"class": classes[c], "index": k, "eigenvalue": float(v)}
            | ({"constant": float(constants[c, k])} if constants is not None else {})
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
    """E (d x in), L (d x d), R (d x d), U (classes x d) of an ungated bilinear MLP, on its device, in
    float32 (float64 for a float64 model). Its biases, if any: bilinear_biases."""
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
    weights = [_analysed(w) for w in (model.embed.weight, model.left, model.right, model.head.weight)]
    return tuple(weights)


def bilinear_biases(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None:
    """b_L (d,), b_R (d,), b_U (classes,) of a bilinear MLP built with biases; None without."""
    if model.bilinear.bias is None:
        return None
    left, right = model.bilinear.bias.chunk(2)
    return _analysed(left), _analysed(right), _analysed(model.head.bias)


def _analysed(weight: torch.Tensor) -> torch.Tensor:
    return weight.detach().to(torch.promote_types(weight.dtype, torch.float32))


def interaction_matrices(left: torch.Tensor, right: torch.Tensor, head: torch.Tensor) -> torch.Tensor:
    """Q: (classes, d, d), Q_c = sym(L^T diag(U_c) R)."""
    B = einsum(head, left, right, "c o, o i, o j -> c i j")
    return (B + B.mT) / 2


def quadratic_form(model: torch.nn.Module) -> tuple[torch.Tensor, torch.Tensor, bool]:
    """(E, Q, constant) with logit_c(x) = (E x)^T Q_c (E x) exactly; for a model with biases
    (constant) the folded E' ((d + 1) x (inputs + 1)) and Q ((classes, d + 1, d + 1)) of the module's
    note, x then being [x; 1]."""
    embed, left, right, head = bilinear_weights(model)
    biases = bilinear_biases(model)
    if biases is None:
        return embed, interaction_matrices(left, right, head), False
    left_bias, right_bias, head_bias = biases
    embed = torch.block_diag(embed, embed.new_ones(1, 1))
    left, right = torch.cat([left, left_bias[:, None]], dim=1), torch.cat([right, right_bias[:, None]], dim=1)
    Q = interaction_matrices(left, right, head)
    Q[:, -1, -1] += head_bias
    return embed, Q, True


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
    embed, Q, constant = quadratic_form(model)
    values, hidden = batched_eigh(Q)  # hidden: (c, d, k) columns
    vectors = einsum(hidden, embed, "c d k, d i -> c k i")
    return Eigen(values, vectors, constant)


def input_space_eigendecompose(model: torch.nn.Module) -> Eigen:
    """Eigenvectors of M_c = E^T Q_c E (orthonormal in input space), top d kept (d + 1 with biases,
    in [x; 1]), ascending."""
    return input_space_eigen(*quadratic_form(model))


def input_space_eigen(embed: torch.Tensor, Q: torch.Tensor, constant: bool) -> Eigen:
    """input_space_eigendecompose of a quadratic form (E, Q) as quadratic_form returns it, for forms
    that are no model's class (a difference of two logits)."""
    M = einsum(embed, Q, embed, "d i, c d e, e j -> c i j")
    values, vectors = batched_eigh((M + M.mT) / 2)
    d = embed.shape[0]
    # M_c has rank <= d: keep the d eigenpairs of largest |lambda| (the rest are ~0), in ascending order
    keep = values.abs().topk(min(d, values.shape[1]), dim=1).indices.sort(dim=1).values
    values = values.gather(1, keep)
    vectors = vectors.mT.gather(1, keep[..., None].expand(-1, -1, vectors.shape[1]))
    return Eigen(values, vectors, constant)


def orient_to_class(eigen: Eigen, x: torch.Tensor, y: torch.Tensor) -> Eigen:
    """The same eigenvectors, each signed so that its own class's images project positively on
    average: mean over {x : y = c} of u_{c,k} . x > 0 (ties at 0 keep the sign they had).

    eigen: vectors (classes, k, inputs), input space like every Eigen here (u = E^T v, or M_c's);
    x: (n, inputs) or (n, ...) images as the model sees them (floats in [0, 1]); y: (n,) labels.
    An eigenvector's sign is arbitrary (lambda (u . x)^2 does not see it); this rule makes it mean
    "the class is on the positive side". For u = E^T v, u . x = v . (E x), so hidden-space v would
    be signed the same by the hidden vectors h = E x. A class without images keeps its signs. With
    biases the projection is u . [x; 1], the component's own input (the mean of [x; 1] is [mean x; 1]).
    """
    x = x.flatten(1).to(eigen.vectors)
    y = y.long().to(x.device)
    classes = eigen.vectors.shape[0]
    if len(y) and (int(y.max()) >= classes or int(y.min()) < 0):
        raise UserError(
            f"the labels name class {int(y.max())} but the model has {classes} outputs: these are not the "
            "images and labels it was trained on"
        )
    sums = torch.zeros(classes, x.shape[1], dtype=x.dtype, device=x.device).index_add_(0, y, x)
    counts = torch.bincount(y, minlength=classes)[:classes].clamp_min(1)
    means = sums / counts[:, None].to(x.dtype)  # (classes, inputs); mean of u . x is u . mean x
    projection = einsum(eigen.vectors, eigen.inputs(means), "c k i, c i -> c k")
    signs = torch.where(projection < 0, -1.0, 1.0).to(eigen.vectors.dtype)
    return eigen.with_components(eigen.values, eigen.vectors * signs[..., None])


def eigen_logits(eigen: Eigen, x: torch.Tensor) -> torch.Tensor:
    """(batch, inputs) -> (batch, classes): sum_k lambda (u . x)^2 (x: [x; 1] with biases)."""
    projections = einsum(eigen.vectors, eigen.inputs(x), "c k i, b i -> b c k")
    return einsum(projections.square(), eigen.values, "b c k, c k -> b c")


def contributions(eigen: Eigen, x: torch.Tensor, cls: int) -> torch.Tensor:
    """(k,) lambda_k (u_k . x)^2 for one input (inputs,) and one class."""
    return eigen.values[cls] * (eigen.vectors[cls] @ eigen.inputs(x.reshape(1, -1))[0]).square()


def explain(
    model: torch.nn.Module, eigen: Eigen, x: torch.Tensor, top: int = 3, label: int | None = None
) -> Explanation:
    """Why the model gives input x (inputs,) its logits: the top classes and their contributions."""
    with torch.no_grad():
        logits = model(x[None])[0]
    classes = logits.argsort(descending=True)[:top].tolist()
    return Explanation(x, logits, classes, [contributions(eigen, x, c) for c in classes], label)

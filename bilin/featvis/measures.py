"""How good a feature visualisation is, measured on the images: their norm, and for a bilinear
MLP's logit (a quadratic form x^T M_c x) how close it is to the best any image of that norm gets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from bilin.featvis.objectives import Target


def image_norms(images: torch.Tensor) -> torch.Tensor:
    """(..., c, h, w) -> (...): each image's L2 norm in the model's input space."""
    return images.flatten(-3).norm(dim=-1)


def fraction_of_best(logits: torch.Tensor, norms: torch.Tensor, top_eigenvalues: torch.Tensor) -> torch.Tensor:
    """logit / (||x||^2 lambda_max(M_c)): 1 for M_c's top eigenvector, lower for any other image of
    that norm (over the sphere ||x|| = r, x^T M_c x <= r^2 lambda_max).

    logits, norms: (targets, images), the class logit x^T M_c x of each image and its norm;
    top_eigenvalues: (targets,), lambda_max of each target's M_c. NaN where lambda_max <= 0 (no
    image raises that logit above 0, so there is no best to compare with) or the image is 0.
    """
    best = norms.square() * top_eigenvalues[:, None]
    return torch.where(best > 0, logits / best.clamp_min(torch.finfo(best.dtype).tiny), torch.nan)


def top_eigenvalues(model: torch.nn.Module, targets: list[Target]) -> torch.Tensor | None:
    """(targets,) lambda_max of M_c = E^T Q_c E for each class target of an ungated bilinear MLP
    (NaN for unit and channel targets), on the CPU; None for any other model, and for one with biases:
    its logit x'^T M_c x' in x' = [x; 1] is no homogeneous form of x, so r^2 lambda_max is not its best on
    a sphere (the fraction would be wrong, so there is none)."""
    from bilin.analysis.decompose import input_space_eigendecompose
    from bilin.models.networks import BilinearMLP

    if not isinstance(model, BilinearMLP) or model.gate is not None or model.bilinear.bias is not None:
        return None
    top = input_space_eigendecompose(model).values.max(1).values.cpu()
    return torch.tensor([float(top[t.index]) if t.kind == "class" else float("nan") for t in targets])

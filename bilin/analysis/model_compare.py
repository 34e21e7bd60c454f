"""Every pair of a grid's models compared four ways (docs/studies.md, "Comparing models exactly").

- exact: E[f_A f_B] / sqrt(E[f_A^2] E[f_B^2]) of the logits' quadratic forms, and the centred version (a
  correlation), under a Gaussian input law (bilin.analysis.quadratic_moments): the standard one or the
  training images' mean and covariance. Each model's FormStats come from its factors (FormStats.of_model), then all
  pairs at once: per class, Tr(A Sigma B Sigma) of every pair is one matrix product of the models' flattened
  M Sigma with their transposes, the sum that module's `covariance(a, b)` takes pair by pair.
- eigen: |cos| of the two models' top input-space eigenvectors (largest positive lambda), per class.
- cka: linear CKA (Kornblith et al. 2019) of the hidden products g = (L h) * (R h) over test images.
- weight cosine: the cosine of the flattened parameter vectors; NaN for models of different shapes, whose
  parameters have no common coordinates.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from bilin.analysis.decompose import input_space_eigendecompose
from bilin.analysis.quadratic_moments import FormStats
from bilin.analysis.similarity import ranked_vectors

TINY = torch.finfo(torch.float64).tiny


@dataclass(frozen=True)
class SimilarityMatrix:
    """The functional similarity (bilin.analysis.quadratic_moments.similarity) of every pair of models
    under one law: [a, b] is the pair's, per class and over all classes, uncentred and centred."""

    per_class: torch.Tensor  # (models, models, classes)
    per_class_centred: torch.Tensor  # (models, models, classes)
    overall: torch.Tensor  # (models, models)
    overall_centred: torch.Tensor  # (models, models)


def pair_covariances(stats: Sequence[FormStats]) -> tuple[torch.Tensor, torch.Tensor]:
    """(models, models, classes) Cov(f_a,c, f_b,c) of every pair and (models, classes) E[f_a,c]; all the
    FormStats of one law and coordinates."""
    classes = stats[0].means.shape[0]
    covariances = []
    for c in range(classes):
        forms_cov = torch.stack([s.forms_cov[c].reshape(-1) for s in stats])  # (models, n^2) A Sigma
        transposed = torch.stack([s.forms_cov[c].mT.reshape(-1) for s in stats])  # (B Sigma)^T
        trace = forms_cov @ transposed.T  # [a, b] = sum_ij (A Sigma)_ij (B Sigma)_ji = Tr(A Sigma B Sigma)
        forms_mean = torch.stack([s.forms_mean[c] for s in stats])
        cov_forms_mean = torch.stack([s.cov_forms_mean[c] for s in stats])
        covariance = 2 * trace + 4 * forms_mean @ cov_forms_mean.T
        covariances.append((covariance + covariance.T) / 2)  # equal in exact arithmetic: symmetric to the last bit
    return torch.stack(covariances, dim=-1), torch.stack([s.means for s in stats])


def similarity_matrix(stats: Sequence[FormStats]) -> SimilarityMatrix:
    """`similarity(a, b)` of every pair of models (FormStats of one law and coordinates, one per model)."""
    covariance, means = pair_covariances(stats)
    moment = covariance + means[:, None, :] * means[None, :, :]

    def normalised(product: torch.Tensor) -> torch.Tensor:
        own = torch.diagonal(product, dim1=0, dim2=1).T if product.dim() == 3 else product.diagonal()
        return product / (own[:, None] * own[None, :]).sqrt().clamp_min(TINY)

    return SimilarityMatrix(
        per_class=normalised(moment),
        per_class_centred=normalised(covariance),
        overall=normalised(moment.sum(-1)),
        overall_centred=normalised(covariance.sum(-1)),
    )


def top_eigenvectors(model: torch.nn.Module) -> torch.Tensor:
    """(classes, inputs) each class's input-space eigenvector of the largest positive eigenvalue."""
    return ranked_vectors(input_space_eigendecompose(model), "top", 1)[:, 0].double().cpu()


def eigen_matrix(tops: Sequence[torch.Tensor]) -> torch.Tensor:
    """(models, models, classes) |cos| between two models' top eigenvectors of each class."""
    stacked = torch.stack(list(tops))  # (models, classes, inputs)
    return F.cosine_similarity(stacked[:, None], stacked[None, :], dim=-1).abs().clamp(max=1)  # no 1 + 1e-16


@torch.no_grad()
def hidden_products(model: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """(images, d) the bilinear layer's output g (the model's `product` point) for images x, float64."""
    captured: list[torch.Tensor] = []
    handle = model.product.register_forward_hook(lambda _module, _inputs, output: captured.append(output))
    try:
        model(x.to(next(model.parameters())))
    finally:
        handle.remove()
    return captured[0].double().cpu()


def linear_cka_matrix(activations: Sequence[torch.Tensor]) -> torch.Tensor:
    """(models, models) linear CKA ||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F) of column-centred activations
    (images, d_model) of the same images: invariant to an orthogonal map or a scaling of either space."""
    centred = [a.double() - a.double().mean(0) for a in activations]
    norms = [_gram_norm(x) for x in centred]
    cka = torch.empty(len(centred), len(centred), dtype=torch.float64)
    for i, j in itertools.combinations_with_replacement(range(len(centred)), 2):
        cross = (centred[i].T @ centred[j]).square().sum()
        cka[i, j] = cka[j, i] = (cross / (norms[i] * norms[j]).clamp_min(TINY)).clamp(max=1)
    return cka


def _gram_norm(x: torch.Tensor) -> torch.Tensor:
    """||X^T X||_F = ||X X^T||_F, by the smaller of the two."""
    return (x.T @ x if x.shape[1] <= x.shape[0] else x @ x.T).norm()


def weight_cosine_matrix(models: Sequence[torch.nn.Module]) -> torch.Tensor:
    """(models, models) cosine of the flattened parameters; NaN where the parameter shapes differ."""
    shapes = [[tuple(p.shape) for p in m.parameters()] for m in models]
    vectors = [torch.cat([p.detach().double().flatten().cpu() for p in m.parameters()]) for m in models]
    cosine = torch.full((len(models), len(models)), float("nan"), dtype=torch.float64)
    for i, j in itertools.combinations_with_replacement(range(len(models)), 2):
        if shapes[i] == shapes[j]:
            cosine[i, j] = cosine[j, i] = F.cosine_similarity(vectors[i], vectors[j], dim=0).clamp(-1, 1)
    return cosine

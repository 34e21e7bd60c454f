"""The classes x inputs x inputs tensor of a bilinear MLP, T_c = M_c (logit_c(x) = x^T M_c x), held
exactly in the row space of the embedding (docs/science.md, "Decompositions shared across classes").

Every M_c = E^T Q_c E (bilin.analysis.decompose.quadratic_form; E' and [x; 1] with biases) lives in
the row space of E. With the thin SVD E = U S V^T (V: inputs x m orthonormal, m = min(rows, inputs)),
    T_c = V K_c V^T,   K_c = S U^T Q_c U S   (m x m),
so inner products, norms and every decomposition with input factors in that space are those of K:
HOSVD and CP work on m x m matrices (m = d, or d + 1 with biases) instead of inputs x inputs ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum

from bilin.analysis.decompose import quadratic_form


@dataclass(frozen=True)
class ClassTensor:
    """T_c = basis K_c basis^T exactly; float64. constant: coordinates are [x; 1] (a model with biases)."""

    forms: torch.Tensor  # (classes, m, m) K, symmetric
    basis: torch.Tensor  # (inputs, m) orthonormal columns
    constant: bool = False

    @classmethod
    def of_model(cls, model: torch.nn.Module) -> ClassTensor:
        embed, Q, constant = quadratic_form(model)
        embed, Q = embed.double().cpu(), Q.double().cpu()
        left, singular, right = torch.linalg.svd(embed, full_matrices=False)  # E = U S V^T
        scaled = left * singular  # U S
        forms = einsum(scaled, Q, scaled, "d i, c d e, e j -> c i j")
        return cls((forms + forms.mT) / 2, right.mT.contiguous(), constant)

    @classmethod
    def of_forms(cls, forms: torch.Tensor, constant: bool = False) -> ClassTensor:
        """Input-space forms (classes, n, n) as they are (basis: the identity)."""
        forms = forms.double()
        eye = torch.eye(forms.shape[-1], dtype=torch.float64)
        return cls((forms + forms.mT) / 2, eye, constant)

    @property
    def classes(self) -> int:
        return self.forms.shape[0]

    @property
    def inputs(self) -> int:
        return self.basis.shape[0]

    def squared_norm(self) -> float:
        """||T||^2 = sum_c ||K_c||_F^2 (the basis is orthonormal)."""
        return float(self.forms.square().sum())

    def to_inputs(self, vectors: torch.Tensor) -> torch.Tensor:
        """(..., m) coordinates in the basis -> (..., inputs) input-space vectors."""
        return vectors @ self.basis.mT

    def full(self) -> torch.Tensor:
        """(classes, inputs, inputs) T itself (for checks; inputs^2 per class)."""
        return einsum(self.basis, self.forms, self.basis, "i a, c a b, j b -> c i j")

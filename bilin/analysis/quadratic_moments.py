"""Exact moments of a bilinear MLP's logits under a Gaussian input law, from the weights alone.

Every logit is a quadratic form f(x) = x^T M x (with biases, in [x; 1]: bilin/analysis/decompose.py).
For x ~ N(mu, Sigma) and symmetric A, B:
    E[f_A]          = Tr(A Sigma) + mu^T A mu
    Cov(f_A, f_B)   = 2 Tr(A Sigma B Sigma) + 4 mu^T A Sigma B mu
    E[f_A f_B]      = Cov(f_A, f_B) + E[f_A] E[f_B]
(Isserlis' theorem; for mu = 0, Sigma = I: E[f_A f_B] = Tr A Tr B + 2 Tr(AB).) A form in [x; 1] is
the same formula for the augmented law [x; 1] ~ N([mu; 1], [[Sigma, 0], [0, 0]]).

`FormStats` holds, per model and law, the products each pair needs (M Sigma, M mu, Sigma M mu), so
that a pair of models costs O(classes n^2), not O(classes n^3): Tr(XY) = sum(X * Y^T).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from einops import einsum

from bilin.analysis.decompose import quadratic_form


@dataclass(frozen=True)
class InputLaw:
    """x ~ N(mean, cov) over the image's inputs: mean (n,), cov (n, n), float64."""

    name: str  # "gaussian" (standard) | "data" (the training images' mean and covariance)
    mean: torch.Tensor
    cov: torch.Tensor

    @classmethod
    def standard(cls, inputs: int) -> InputLaw:
        return cls("gaussian", torch.zeros(inputs, dtype=torch.float64), torch.eye(inputs, dtype=torch.float64))

    @classmethod
    def of_data(cls, x: torch.Tensor) -> InputLaw:
        """The mean and (maximum-likelihood) covariance of images x (N, inputs) in [0, 1]."""
        x = x.flatten(1).double()
        mean = x.mean(0)
        centred = x - mean
        return cls("data", mean, centred.T @ centred / len(x))

    def augmented(self) -> InputLaw:
        """The law of [x; 1]: the constant has mean 1 and no variance."""
        n = len(self.mean)
        cov = torch.zeros(n + 1, n + 1, dtype=torch.float64)
        cov[:n, :n] = self.cov
        return InputLaw(self.name, torch.cat([self.mean, self.mean.new_ones(1)]), cov)


def input_forms(model: torch.nn.Module) -> tuple[torch.Tensor, bool]:
    """M (classes, n, n) float64 with logit_c(x) = x^T M_c x exactly (n = inputs + 1 with biases, in [x; 1])
    and whether the forms are in [x; 1]."""
    embed, Q, constant = quadratic_form(model)
    embed, Q = embed.double(), Q.double()
    M = einsum(embed, Q, embed, "d i, c d e, e j -> c i j")
    return (M + M.mT) / 2, constant


@dataclass(frozen=True)
class FormStats:
    """The per-model products of the module's note, for forms M (classes, n, n) under one law."""

    forms_cov: torch.Tensor  # (classes, n, n) M_c Sigma
    forms_mean: torch.Tensor  # (classes, n) M_c mu
    cov_forms_mean: torch.Tensor  # (classes, n) Sigma M_c mu
    means: torch.Tensor  # (classes,) E[f_c]

    @classmethod
    def of(cls, forms: torch.Tensor, law: InputLaw) -> FormStats:
        forms = forms.double()
        forms_cov = forms @ law.cov
        forms_mean = forms @ law.mean
        means = einsum(forms_cov, "c i i -> c") + forms_mean @ law.mean
        return cls(forms_cov, forms_mean, forms_mean @ law.cov, means)

    @classmethod
    def of_model(cls, model: torch.nn.Module, law: InputLaw) -> FormStats:
        """A model's forms under `law` (the law of x; augmented here when the model has biases), through the
        factors M_c = E^T Q_c E: M_c Sigma = E^T (Q_c (E Sigma)) costs O(classes (d^2 n + d n^2)) and never
        forms M_c itself, whose product with Sigma (`of`) costs O(classes n^3)."""
        embed, Q, constant = quadratic_form(model)
        embed, Q = embed.double(), Q.double()
        law = law.augmented() if constant else law
        mean, cov = law.mean.to(embed.device), law.cov.to(embed.device)
        forms_cov = embed.T @ (Q @ (embed @ cov))  # (classes, n, n)
        forms_mean = (embed.T @ (Q @ (embed @ mean)[:, None]))[..., 0]  # (classes, n)
        means = torch.diagonal(forms_cov, dim1=1, dim2=2).sum(-1) + forms_mean @ mean
        return cls(forms_cov, forms_mean, forms_mean @ cov, means)


def covariance(a: FormStats, b: FormStats) -> torch.Tensor:
    """(classes,) Cov(f_A,c, f_B,c): 2 Tr(A Sigma B Sigma) + 4 mu^T A Sigma B mu. Both must be of the same law
    and coordinates (a model with biases against one without: put both in [x; 1] first, see align)."""
    trace = einsum(a.forms_cov, b.forms_cov, "c i j, c j i -> c")
    return 2 * trace + 4 * einsum(a.forms_mean, b.cov_forms_mean, "c i, c i -> c")


def second_moment(a: FormStats, b: FormStats) -> torch.Tensor:
    """(classes,) E[f_A,c f_B,c]."""
    return covariance(a, b) + a.means * b.means


def align(forms: torch.Tensor, constant: bool, inputs: int) -> torch.Tensor:
    """Forms in [x; 1] coordinates (n = inputs + 1): a form without biases gets a zero row and column."""
    if constant:
        return forms
    padded = forms.new_zeros(forms.shape[0], inputs + 1, inputs + 1)
    padded[:, :inputs, :inputs] = forms
    return padded


@dataclass(frozen=True)
class Similarity:
    """Functional similarity of two models under one law: per class and over all classes, uncentred
    (E[f_A f_B] / sqrt(E[f_A^2] E[f_B^2])) and centred (a correlation: Cov / sqrt(Var Var))."""

    per_class: torch.Tensor  # (classes,)
    per_class_centred: torch.Tensor  # (classes,)
    overall: float
    overall_centred: float


def similarity(a: FormStats, b: FormStats) -> Similarity:
    """The functional similarity of A and B (FormStats of the same law and coordinates)."""
    cov_ab, var_a, var_b = covariance(a, b), covariance(a, a), covariance(b, b)
    m_ab, m_aa, m_bb = cov_ab + a.means * b.means, var_a + a.means**2, var_b + b.means**2
    tiny = torch.finfo(torch.float64).tiny
    return Similarity(
        per_class=m_ab / (m_aa * m_bb).sqrt().clamp_min(tiny),
        per_class_centred=cov_ab / (var_a * var_b).sqrt().clamp_min(tiny),
        overall=float(m_ab.sum() / (m_aa.sum() * m_bb.sum()).sqrt().clamp_min(tiny)),
        overall_centred=float(cov_ab.sum() / (var_a.sum() * var_b.sum()).sqrt().clamp_min(tiny)),
    )


def model_similarity(model_a: torch.nn.Module, model_b: torch.nn.Module, law: InputLaw) -> Similarity:
    """The functional similarity of two models (any sizes; with or without biases) under the law of x."""
    forms_a, constant_a = input_forms(model_a)
    forms_b, constant_b = input_forms(model_b)
    if constant_a == constant_b:
        used = law.augmented() if constant_a else law
        return similarity(FormStats.of(forms_a, used), FormStats.of(forms_b, used))
    inputs = len(law.mean)
    augmented = law.augmented()
    return similarity(
        FormStats.of(align(forms_a, constant_a, inputs), augmented),
        FormStats.of(align(forms_b, constant_b, inputs), augmented),
    )

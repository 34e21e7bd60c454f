"""Exact identities of the eigendecomposition (docs/science.md section 4 and 7)."""

import pytest
import torch

from bilin.analysis.decompose import (
    bilinear_weights,
    contributions,
    eigen_logits,
    eigendecompose,
    input_space_eigendecompose,
    interaction_matrices,
)
from bilin.errors import UserError
from bilin.models.networks import ModelSpec, build_model


def tiny_bilinear(seed=0, d=12, inputs=20, classes=4):
    torch.manual_seed(seed)
    return build_model(ModelSpec("bilinear", inputs, d, classes))


def test_logits_equal_sum_of_eigen_components():
    model = tiny_bilinear()
    x = torch.randn(16, 20)
    with torch.no_grad():
        expected = model(x)
    torch.testing.assert_close(eigen_logits(eigendecompose(model), x), expected, rtol=1e-4, atol=1e-5)


def test_contributions_sum_to_the_logit():
    model = tiny_bilinear()
    eigen = eigendecompose(model)
    x = torch.randn(20)
    with torch.no_grad():
        logits = model(x[None])[0]
    for c in range(4):
        assert contributions(eigen, x, c).sum().item() == pytest.approx(logits[c].item(), rel=1e-4, abs=1e-5)


def test_interaction_matrices_follow_the_spec_entry_by_entry():
    """B_c[i, j] = sum_o U[c, o] L[o, i] R[o, j] (docs/science.md section 4), Q_c its symmetric part, and h^T Q_c h is
    the logit of the hidden vector h = E x."""
    model = tiny_bilinear(d=5, inputs=7, classes=3)
    E, L, R, U = bilinear_weights(model)
    Q = interaction_matrices(L, R, U)
    for c in range(3):
        B = torch.zeros(5, 5)
        for i in range(5):
            for j in range(5):
                B[i, j] = sum(U[c, o] * L[o, i] * R[o, j] for o in range(5))
        torch.testing.assert_close(Q[c], (B + B.T) / 2)
    x = torch.randn(9, 7)
    h = x @ E.T
    with torch.no_grad():
        torch.testing.assert_close(torch.einsum("bi,cij,bj->bc", h, Q, h), model(x), rtol=1e-4, atol=1e-5)


def test_vectors_are_E_transpose_v():
    model = tiny_bilinear()
    E, L, R, U = bilinear_weights(model)
    values, hidden = torch.linalg.eigh(interaction_matrices(L, R, U))
    eigen = eigendecompose(model)
    torch.testing.assert_close(eigen.values, values)
    # eigenvectors are defined up to sign
    expected = hidden.mT @ E
    sign = torch.sign((expected * eigen.vectors).sum(-1, keepdim=True))
    torch.testing.assert_close(eigen.vectors * sign, expected, rtol=1e-4, atol=1e-5)


def test_input_space_variant_is_the_quadratic_form():
    model = tiny_bilinear()
    eigen = input_space_eigendecompose(model)
    assert eigen.vectors.shape == (4, 12, 20)
    gram = eigen.vectors @ eigen.vectors.mT
    torch.testing.assert_close(gram, torch.eye(12).expand(4, 12, 12), atol=1e-4, rtol=0)
    x = torch.randn(8, 20)
    with torch.no_grad():
        torch.testing.assert_close(eigen_logits(eigen, x), model(x), rtol=1e-3, atol=1e-4)
    # the top eigenvector maximises x^T M_c x on the unit sphere
    top = eigen.vectors[0, eigen.values[0].argmax()]
    with torch.no_grad():
        best = model(top[None])[0, 0].item()
        random = model(torch.nn.functional.normalize(torch.randn(200, 20), dim=1))[:, 0]
    assert best == pytest.approx(eigen.values[0].max().item(), rel=1e-3)
    assert (random <= best + 1e-5).all()


@pytest.mark.parametrize("spec", [ModelSpec("bilinear", 20, 8, 4, gate="relu"), ModelSpec("relu", 20, 8, 4)])
def test_other_architectures_are_refused(spec):
    with pytest.raises(UserError, match="bilinear"):
        eigendecompose(build_model(spec))

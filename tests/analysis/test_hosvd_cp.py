"""The class tensor's exact reduction, its HOSVD (reconstructs T, energies sum to 1) and the shared
symmetric CP (a planted low-rank tensor recovered; cosine non-decreasing in r; logits as written)."""

from __future__ import annotations

import pytest
import torch

from bilin.analysis.class_tensor import ClassTensor
from bilin.analysis.cp import fit_cp
from bilin.analysis.cp_settings import SharedSettings
from bilin.analysis.hosvd import hosvd
from bilin.analysis.quadratic_moments import input_forms
from bilin.models.networks import ModelSpec, build_model

INPUTS, CLASSES = 16, 4


def model(d: int, bias: bool = False, seed: int = 0) -> torch.nn.Module:
    spec = ModelSpec("bilinear", INPUTS, d, CLASSES, input_shape=(1, 4, 4), bias=bias)
    net = build_model(spec, torch.Generator().manual_seed(seed)).double()
    if bias:
        with torch.no_grad():
            net.bilinear.bias.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed + 1))
            net.head.bias.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed + 2))
    return net.eval()


def planted(
    inputs: int, rank: int, classes: int = 10, seed: int = 123
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(T, a, w): T_c = sum_r w_cr a_r a_r^T with unit, non-orthogonal a_r."""
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(rank, inputs, generator=g, dtype=torch.float64)
    a = a / a.norm(dim=1, keepdim=True)
    w = torch.randn(classes, rank, generator=g, dtype=torch.float64)
    return torch.einsum("cr,ri,rj->cij", w, a, a), a, w


@pytest.mark.parametrize("d, bias", [(6, False), (6, True), (24, False)])  # d > inputs: the basis is all of R^n
def test_the_reduced_tensor_is_the_models_input_forms(d, bias):
    forms, constant = input_forms(model(d, bias))
    tensor = ClassTensor.of_model(model(d, bias))
    assert tensor.constant == constant and tensor.forms.shape[-1] == min(d + bias, INPUTS + bias)
    assert torch.allclose(tensor.basis.mT @ tensor.basis, torch.eye(tensor.forms.shape[-1], dtype=torch.float64))
    assert torch.allclose(tensor.full(), forms, atol=1e-12)
    assert tensor.squared_norm() == pytest.approx(float(forms.square().sum()), rel=1e-12)


@pytest.mark.parametrize("d, bias", [(6, False), (6, True), (24, False)])
def test_hosvd_reconstructs_the_tensor_and_its_energies_sum_to_one(d, bias):
    forms, _ = input_forms(model(d, bias))
    result = hosvd(ClassTensor.of_model(model(d, bias)))
    assert torch.allclose(result.reconstruct(), forms, atol=1e-12 * forms.abs().max())
    for factors in (result.output, result.inputs):  # orthonormal columns
        assert torch.allclose(factors.mT @ factors, torch.eye(factors.shape[1], dtype=torch.float64), atol=1e-12)
    assert float(result.output_energy.sum()) == pytest.approx(1, abs=1e-12)
    assert float(result.input_energy.sum()) == pytest.approx(1, abs=1e-12)
    assert (result.output_energy.diff() <= 1e-15).all() and (result.input_energy.diff() <= 1e-15).all()
    core = result.core_energy()  # its margins are the two modes' energies
    assert torch.allclose(core.sum(1), result.output_energy) and torch.allclose(core.sum(0), result.input_energy)


def test_hosvd_energies_are_the_unfoldings_singular_values_squared():
    forms, _ = input_forms(model(6))
    result = hosvd(ClassTensor.of_model(model(6)))
    total = forms.square().sum()
    out = torch.linalg.svdvals(forms.reshape(CLASSES, -1)).square() / total
    inp = torch.linalg.svdvals(forms.permute(1, 0, 2).reshape(INPUTS, -1)).square() / total
    assert torch.allclose(result.output_energy, out, atol=1e-12)
    assert torch.allclose(result.input_energy, inp[: len(result.input_energy)], atol=1e-12)
    assert float(inp[len(result.input_energy) :].sum()) < 1e-12  # the input factors left out hold nothing


@pytest.mark.parametrize("inputs, rank", [(12, 4), (20, 8)])
def test_cp_recovers_a_planted_low_rank_tensor_at_its_rank(inputs, rank):
    T, a, _ = planted(inputs, rank)
    fit = fit_cp(ClassTensor.of_forms(T), SharedSettings(rank=rank, cp_steps=300, cp_seed=0))
    assert float(fit.cosine[-1]) > 0.999
    assert (fit.components @ a.mT).abs().max(1).values.min() > 0.999  # each component is a planted one
    assert torch.allclose(fit.reconstruct(), T, atol=1e-3 * T.abs().max())
    assert torch.allclose(fit.components.norm(dim=1), torch.ones(rank, dtype=torch.float64))


def test_cp_cosine_with_the_top_r_never_falls_and_matches_its_reconstruction():
    forms, _ = input_forms(model(6))
    fit = fit_cp(ClassTensor.of_model(model(6)), SharedSettings(rank=5, cp_steps=100, cp_seed=0))
    assert (fit.cosine.diff() >= -1e-12).all()
    assert (fit.share.diff() <= 1e-15).all() and float(fit.share.sum()) == pytest.approx(1)
    for r in (1, 3, 5):
        approx = fit.reconstruct(r)
        cosine = (approx * forms).sum() / (approx.norm() * forms.norm())
        assert float(cosine) == pytest.approx(float(fit.cosine[r - 1]), abs=1e-9)


def test_cp_is_deterministic_for_a_seed():
    tensor = ClassTensor.of_model(model(6))
    settings = SharedSettings(rank=3, cp_steps=50, cp_seed=4)
    one, two = fit_cp(tensor, settings), fit_cp(tensor, settings)
    assert torch.equal(one.components, two.components) and torch.equal(one.weights, two.weights)


def test_cp_logits_are_the_weighted_squared_projections_and_exact_at_full_recovery():
    T, _, _ = planted(INPUTS + 1, 3, classes=CLASSES, seed=5)  # a form in [x; 1]
    fit = fit_cp(ClassTensor.of_forms(T, constant=True), SharedSettings(rank=3, cp_steps=300, cp_seed=0))
    x = torch.cat([torch.rand(50, INPUTS, dtype=torch.float64), torch.ones(50, 1, dtype=torch.float64)], 1)
    exact = torch.einsum("bi,cij,bj->bc", x, T, x)
    assert torch.allclose(fit.logits(x, 3), exact, atol=1e-3 * exact.abs().max())
    by_hand = sum(fit.prefix_weights[1][:, r] * (x @ fit.components[r])[:, None] ** 2 for r in range(2))
    assert torch.allclose(fit.logits(x, 2), by_hand)
    labels = exact.argmax(1)
    assert float(fit.accuracy(x, labels)[-1]) == 1.0

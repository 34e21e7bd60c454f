"""Exact Gaussian moments of the logits (bilin.analysis.quadratic_moments) against Monte Carlo estimates
from the models' own forward passes, and the functional similarity's invariances."""

from __future__ import annotations

import pytest
import torch

from bilin.analysis.quadratic_moments import FormStats, InputLaw, input_forms, model_similarity, second_moment
from bilin.models.networks import ModelSpec, build_model

INPUTS, CLASSES, SAMPLES = 16, 3, 400_000


def model(seed: int, d: int = 6, bias: bool = False) -> torch.nn.Module:
    spec = ModelSpec("bilinear", INPUTS, d, CLASSES, input_shape=(1, 4, 4), bias=bias)
    net = build_model(spec, torch.Generator().manual_seed(seed)).double()
    if bias:
        with torch.no_grad():
            net.bilinear.bias.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed + 100))
            net.head.bias.normal_(0, 0.5, generator=torch.Generator().manual_seed(seed + 200))
    return net.eval()


def data_law() -> InputLaw:
    """A mean and a rank-deficient covariance, as images give (some pixels never vary)."""
    g = torch.Generator().manual_seed(7)
    x = torch.rand(64, INPUTS, generator=g, dtype=torch.float64)
    x[:, :3] = 0.0  # constant pixels
    return InputLaw.of_data(x)


def samples(law: InputLaw) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(law.cov)
    root = vectors * values.clamp_min(0).sqrt()
    z = torch.randn(SAMPLES, len(law.mean), generator=torch.Generator().manual_seed(3), dtype=torch.float64)
    return law.mean + z @ root.T


@pytest.mark.parametrize("law", [InputLaw.standard(INPUTS), data_law()], ids=["gaussian", "data"])
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_the_closed_form_equals_monte_carlo_within_its_standard_error(law, bias):
    a, b = model(0, bias=bias), model(1, d=9, bias=bias)
    x = samples(law)
    with torch.no_grad():
        fa, fb = a(x), b(x)
    used = law.augmented() if bias else law
    stats_a, stats_b = FormStats.of_model(a, law), FormStats.of_model(b, law)
    products = fa * fb  # (samples, classes)
    error = products.std(0) / SAMPLES**0.5
    assert ((second_moment(stats_a, stats_b) - products.mean(0)).abs() < 4 * error).all()
    assert ((stats_a.means - fa.mean(0)).abs() < 4 * fa.std(0) / SAMPLES**0.5).all()
    assert used.mean.shape == (INPUTS + int(bias),)


def test_the_gaussian_closed_form_is_the_textbook_one():
    a, b = (input_forms(model(s))[0] for s in (0, 1))
    law = InputLaw.standard(INPUTS)
    expected = torch.stack([a[c].trace() * b[c].trace() + 2 * (a[c] @ b[c]).trace() for c in range(CLASSES)])
    torch.testing.assert_close(second_moment(FormStats.of(a, law), FormStats.of(b, law)), expected)


def reparameterised(net: torch.nn.Module, seed: int) -> torch.nn.Module:
    """The same function with other weights: hidden units permuted (embedding and bilinear outputs) and
    the left half scaled by s, the right by 1/s."""
    copy = build_model(
        ModelSpec(
            "bilinear",
            INPUTS,
            net.embed.weight.shape[0],
            CLASSES,
            input_shape=(1, 4, 4),
            bias=net.head.bias is not None,
        )
    ).double()
    g = torch.Generator().manual_seed(seed)
    d = net.embed.weight.shape[0]
    p_embed, p_out = torch.randperm(d, generator=g), torch.randperm(d, generator=g)
    scale = torch.rand(d, generator=g, dtype=torch.float64) + 0.5
    with torch.no_grad():
        copy.embed.weight.copy_(net.embed.weight[p_embed])
        left, right = net.left[:, p_embed][p_out], net.right[:, p_embed][p_out]
        copy.bilinear.weight.copy_(torch.cat([left * scale[:, None], right / scale[:, None]]))
        copy.head.weight.copy_(net.head.weight[:, p_out])
        if net.head.bias is not None:
            lb, rb = net.bilinear.bias.chunk(2)
            copy.bilinear.bias.copy_(torch.cat([lb[p_out] * scale, rb[p_out] / scale]))
            copy.head.bias.copy_(net.head.bias)
    return copy.eval()


@pytest.mark.parametrize("bias", [False, True])
def test_a_model_is_fully_similar_to_itself_and_to_a_reparameterised_copy(bias):
    net = model(2, bias=bias)
    copy = reparameterised(net, 5)
    x = torch.rand(8, INPUTS, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(copy(x), net(x))  # the same function ...
    assert not torch.allclose(copy.bilinear.weight, net.bilinear.weight)  # ... from other weights
    for law in (InputLaw.standard(INPUTS), data_law()):
        for other in (net, copy):
            s = model_similarity(net, other, law)
            torch.testing.assert_close(s.per_class, torch.ones(CLASSES, dtype=torch.float64))
            assert s.overall == pytest.approx(1, abs=1e-12) and s.overall_centred == pytest.approx(1, abs=1e-12)
    other = model_similarity(net, model(3, bias=bias), InputLaw.standard(INPUTS))
    assert other.overall < 0.99 and (other.per_class.abs() <= 1 + 1e-12).all()


def test_a_model_with_biases_compares_with_one_without():
    law = InputLaw.standard(INPUTS)
    plain = model(0)
    biased = model(0, bias=True)
    with torch.no_grad():  # the same weights, biases zero: the same function
        for name in ("embed.weight", "bilinear.weight", "head.weight"):
            biased.get_parameter(name).copy_(plain.get_parameter(name))
        biased.bilinear.bias.zero_()
        biased.head.bias.zero_()
    assert model_similarity(plain, biased, law).overall == pytest.approx(1, abs=1e-12)

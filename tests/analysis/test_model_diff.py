"""Model diffs (bilin.analysis.model_diff): the exact distance against Monte Carlo from the two models' forward
passes, zero for the same function, the explained share, and a planted rank-1 change read back."""

from __future__ import annotations

import pytest
import torch

from bilin.analysis.model_diff import FormPair, Spectrum, model_diff, tail_second_moments
from bilin.analysis.quadratic_moments import InputLaw
from bilin.models.networks import ModelSpec, build_model
from tests.analysis.test_quadratic_moments import CLASSES, INPUTS, SAMPLES, data_law, model, reparameterised, samples

LAWS = [InputLaw.standard(INPUTS), data_law()]
COMPONENTS = 4


@pytest.mark.parametrize("law", LAWS, ids=["gaussian", "data"])
@pytest.mark.parametrize("biases", [(False, False), (True, True), (False, True)], ids=["plain", "bias", "mixed"])
def test_the_distance_equals_monte_carlo_of_the_logit_differences(law, biases):
    a, b = model(0, d=6, bias=biases[0]), model(1, d=9, bias=biases[1])  # sizes differ
    diff = model_diff(a, b, [law], [str(c) for c in range(CLASSES)], COMPONENTS)
    with torch.no_grad():
        x = samples(law)
        differences = a(x) - b(x)  # (samples, classes)
        reference = a(x) ** 2
    squares = differences**2
    result = diff.laws[0]
    error = squares.std(0) / SAMPLES**0.5
    assert ((result.distance - squares.mean(0)).abs() < 4 * error).all()
    assert ((result.mean - differences.mean(0)).abs() < 4 * differences.std(0) / SAMPLES**0.5).all()
    assert ((result.reference - reference.mean(0)).abs() < 4 * reference.std(0) / SAMPLES**0.5).all()


@pytest.mark.parametrize("law", LAWS, ids=["gaussian", "data"])
@pytest.mark.parametrize("bias", [False, True])
def test_the_explained_share_is_exact_at_every_k(law, bias):
    """The eigenbasis formula against the residual form's own second moment, k by k, and 1 at k = all."""
    pair = FormPair.of(model(0, bias=bias), model(1, d=5, bias=bias), INPUTS)
    spectrum = Spectrum.of(pair.a - pair.b)
    used = pair.law(law)
    n = pair.a.shape[-1]
    tails = tail_second_moments(spectrum, used, n)
    for k in (0, 1, 3, n):
        kept = spectrum.vectors[:, k:]
        residual = torch.einsum("ck,cki,ckj->cij", spectrum.values[:, k:], kept, kept)
        expected = model_diff_moment(residual, used)
        torch.testing.assert_close(tails[:, k], expected, rtol=1e-9, atol=1e-12)
    diff = model_diff(model(0, bias=bias), model(1, d=5, bias=bias), [law], ["0", "1", "2"], n)
    shares = diff.laws[0].shares()
    torch.testing.assert_close(shares[:, -1], torch.ones(CLASSES, dtype=torch.float64))
    assert diff.laws[0].overall()[2][-1] == pytest.approx(1)
    torch.testing.assert_close(tails[:, 0], diff.laws[0].distance, rtol=1e-9, atol=0)


def model_diff_moment(form: torch.Tensor, law: InputLaw) -> torch.Tensor:
    """E[f^2] by quadratic_moments' general formula."""
    from bilin.analysis.quadratic_moments import FormStats, second_moment

    stats = FormStats.of(form, law)
    return second_moment(stats, stats)


@pytest.mark.parametrize("bias", [False, True])
def test_a_model_is_at_distance_zero_from_itself_and_from_a_reparameterised_copy(bias):
    net = model(2, bias=bias)
    copy = reparameterised(net, 5)
    assert not torch.allclose(copy.bilinear.weight, net.bilinear.weight)
    for other in (net, copy):
        diff = model_diff(net, other, LAWS, ["0", "1", "2"], COMPONENTS)
        for result in diff.laws:
            assert (result.distance.abs() <= 1e-20 * result.reference).all()
            assert result.overall()[1] <= 1e-20
    same = model_diff(net, net, LAWS, ["0", "1", "2"], COMPONENTS)
    assert (same.laws[0].distance == 0).all() and same.laws[0].shares().isnan().all()  # nothing to explain


def planted(net: torch.nn.Module, u: torch.Tensor, scale: float, target: int) -> torch.nn.Module:
    """net with one hidden unit more that adds scale (u . x)^2 to class `target`'s logit: built through
    the weights, of another size than net."""
    d, bias = net.embed.weight.shape[0], net.head.bias is not None
    spec = ModelSpec("bilinear", INPUTS, d + 1, CLASSES, input_shape=(1, 4, 4), bias=bias)
    grown = build_model(spec).double()
    with torch.no_grad():
        grown.embed.weight.copy_(torch.cat([net.embed.weight, u[None]]))
        for half, weight in zip(grown.bilinear.weight.chunk(2), (net.left, net.right), strict=True):
            half.zero_()
            half[:d, :d] = weight
            half[d, d] = 1.0
        grown.head.weight.zero_()
        grown.head.weight[:, :d] = net.head.weight
        grown.head.weight[target, d] = scale
        if bias:
            grown.bilinear.bias.zero_()
            for new, old in zip(grown.bilinear.bias.chunk(2), net.bilinear.bias.chunk(2), strict=True):
                new[:d] = old
            grown.head.bias.copy_(net.head.bias)
    return grown.eval()


@pytest.mark.parametrize("bias", [False, True])
def test_a_planted_rank_one_change_is_the_top_direction_and_explains_everything(bias):
    net = model(4, bias=bias)
    u = torch.randn(INPUTS, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    u = u / u.norm()
    target, scale = 1, 3.0
    other = planted(net, u, scale, target)
    x = torch.rand(5, INPUTS, dtype=torch.float64)
    with torch.no_grad():  # built right: only the target's logit moves, by scale (u . x)^2
        expected = net(x)
        expected[:, target] += scale * (x @ u) ** 2
        torch.testing.assert_close(other(x), expected)
    diff = model_diff(net, other, LAWS, ["0", "1", "2"], COMPONENTS)
    top = diff.images()[target, 0]
    assert abs(float(top @ u)) == pytest.approx(1, abs=1e-9)
    assert float(diff.top_values[target, 0]) == pytest.approx(-scale, rel=1e-9)  # D = M_A - M_B = -scale u u^T
    for result in diff.laws:
        assert float(result.shares()[target, 0]) == pytest.approx(1, abs=1e-9)
        others = [c for c in range(CLASSES) if c != target]
        assert (result.distance[others] <= 1e-20 * result.reference[others]).all()


def test_the_directions_are_signed_by_their_class_mean_image():
    a, b = model(0), model(1, d=4)
    means = torch.rand(CLASSES, INPUTS, dtype=torch.float64)
    diff = model_diff(a, b, LAWS[:1], ["0", "1", "2"], COMPONENTS, sign_images=means)
    assert (torch.einsum("cki,ci->ck", diff.images(), means) >= 0).all()
    unsigned = model_diff(a, b, LAWS[:1], ["0", "1", "2"], COMPONENTS)
    torch.testing.assert_close(diff.laws[0].tails, unsigned.laws[0].tails)


def test_the_tables_hold_every_class_and_law_and_the_spectrum_up_to_the_rank_bound():
    diff = model_diff(model(0, d=3), model(1, d=4), LAWS, ["a", "b", "c"], COMPONENTS)
    tables = diff.tables()
    rows = tables["diff.csv"]
    assert [(r["class"], r["law"]) for r in rows] == [
        (c, law) for law in ("gaussian", "data") for c in ("a", "b", "c", "all")
    ]
    assert all(f"share_k{k}" in rows[0] for k in range(1, COMPONENTS + 1))
    total = rows[3]
    assert total["distance"] == pytest.approx(sum(r["distance"] for r in rows[:3]))
    assert len(tables["diff_spectrum.csv"]) == 3 * (3 + 4)  # rank(D_c) <= d_A + d_B

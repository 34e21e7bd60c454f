"""Every pair of a grid's models (bilin.analysis.model_compare and compare_grid): the all-pairs exact
similarity is `similarity(a, b)` of each pair, and each baseline has the invariances it claims."""

from __future__ import annotations

import math

import pytest
import torch

from bilin.analysis.compare_grid import METHODS, GridModel, compare_models, rank_agreement
from bilin.analysis.model_compare import (
    eigen_matrix,
    hidden_products,
    linear_cka_matrix,
    similarity_matrix,
    top_eigenvectors,
    weight_cosine_matrix,
)
from bilin.analysis.quadratic_moments import FormStats, InputLaw, input_forms, similarity
from tests.analysis.test_quadratic_moments import CLASSES, INPUTS, data_law, model, reparameterised


def images(n: int = 200, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, INPUTS, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


@pytest.mark.parametrize("law", [InputLaw.standard(INPUTS), data_law()], ids=["gaussian", "data"])
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_all_pairs_at_once_are_each_pairs_similarity(law, bias):
    nets = [model(0, bias=bias), model(1, d=9, bias=bias), model(2, d=3, bias=bias)]
    stats = [FormStats.of_model(net, law) for net in nets]
    matrix = similarity_matrix(stats)
    for a in range(3):
        for b in range(3):
            pair = similarity(stats[a], stats[b])
            torch.testing.assert_close(matrix.per_class[a, b], pair.per_class)
            torch.testing.assert_close(matrix.per_class_centred[a, b], pair.per_class_centred)
            assert matrix.overall[a, b].item() == pytest.approx(pair.overall, abs=1e-12)
            assert matrix.overall_centred[a, b].item() == pytest.approx(pair.overall_centred, abs=1e-12)
    for values in (matrix.overall, matrix.overall_centred, matrix.per_class, matrix.per_class_centred):
        assert torch.equal(values, values.transpose(0, 1))  # symmetric to the last bit
        torch.testing.assert_close(torch.diagonal(values, dim1=0, dim2=1), torch.ones_like(values[0]))


@pytest.mark.parametrize("law", [InputLaw.standard(INPUTS), data_law()], ids=["gaussian", "data"])
@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_form_stats_from_the_factors_are_the_dense_ones(law, bias):
    net = model(5, d=7, bias=bias)
    forms, constant = input_forms(net)
    fast, dense = FormStats.of_model(net, law), FormStats.of(forms, law.augmented() if constant else law)
    for name, value in vars(dense).items():
        torch.testing.assert_close(getattr(fast, name), value, rtol=1e-12, atol=1e-14, msg=name)


@pytest.mark.parametrize("bias", [False, True], ids=["no-bias", "bias"])
def test_a_reparameterised_copy_is_the_same_model_to_every_measure_but_the_weights(bias):
    net = model(3, d=8, bias=bias)
    copy = reparameterised(net, 4)
    law = data_law()
    exact = similarity_matrix([FormStats.of_model(m, law) for m in (net, copy)])
    assert exact.overall_centred[0, 1].item() == pytest.approx(1, abs=1e-12)
    assert eigen_matrix([top_eigenvectors(net), top_eigenvectors(copy)])[0, 1].min().item() == pytest.approx(1)
    cka = linear_cka_matrix([hidden_products(m, images()) for m in (net, copy)])
    assert cka[0, 1].item() == pytest.approx(1, abs=1e-9)  # g is permuted: CKA does not see it
    assert weight_cosine_matrix([net, copy])[0, 1] < 0.9  # the naive baseline does


def test_cka_is_one_with_itself_and_blind_to_orthogonal_maps_permutations_and_scale():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(300, 12, generator=g, dtype=torch.float64)
    rotation, _ = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))
    other = torch.randn(300, 20, generator=g, dtype=torch.float64)
    cka = linear_cka_matrix([x, x @ rotation, 3 * x[:, torch.randperm(12, generator=g)], other])
    torch.testing.assert_close(cka[:3, :3], torch.ones(3, 3, dtype=torch.float64))
    assert cka[0, 3] < 0.3 and torch.equal(cka, cka.T)
    wide = torch.randn(10, 40, generator=g, dtype=torch.float64)  # fewer images than units: the n x n route
    assert linear_cka_matrix([wide, wide @ torch.linalg.qr(torch.randn(40, 40, generator=g).double())[0]])[
        0, 1
    ].item() == pytest.approx(1)


def test_cka_is_what_its_formula_says():
    g = torch.Generator().manual_seed(1)
    x, y = torch.randn(50, 6, generator=g, dtype=torch.float64), torch.randn(50, 4, generator=g, dtype=torch.float64)
    h = torch.eye(50, dtype=torch.float64) - 1 / 50  # Kornblith et al.'s centring of the Gram matrices
    kx, ky = h @ x @ x.T @ h, h @ y @ y.T @ h
    expected = (kx * ky).sum() / ((kx * kx).sum() * (ky * ky).sum()).sqrt()
    assert linear_cka_matrix([x, y])[0, 1].item() == pytest.approx(expected.item(), abs=1e-12)


def test_hidden_products_are_the_bilinear_layers_output():
    net = model(4, d=5)
    x = images(7)
    h = x @ net.embed.weight.T
    torch.testing.assert_close(hidden_products(net, x), (h @ net.left.T) * (h @ net.right.T))


def test_weight_cosine_is_blank_across_sizes_and_the_plain_cosine_within_one():
    a, b, small = model(0, d=6), model(1, d=6), model(2, d=4)
    cosine = weight_cosine_matrix([a, b, small])
    flat = [torch.cat([p.detach().flatten() for p in m.parameters()]) for m in (a, b)]
    assert cosine[0, 1].item() == pytest.approx(torch.nn.functional.cosine_similarity(*flat, dim=0).item())
    assert cosine[0, 2].isnan() and cosine[2, 1].isnan()
    torch.testing.assert_close(cosine.diagonal(), torch.ones(3, dtype=torch.float64))


def test_rank_agreement_of_the_same_ranking_is_one_and_of_the_reverse_minus_one():
    scores = {"a": [0.1, 0.5, 0.3, 0.9], "b": [1.0, 5.0, 3.0, 9.0], "c": [0.9, 0.5, 0.7, 0.1]}
    rows = {(r["method_a"], r["method_b"]): r for r in rank_agreement(scores)}
    assert rows[("a", "b")]["spearman"] == pytest.approx(1) and rows[("a", "b")]["kendall"] == pytest.approx(1)
    assert rows[("a", "c")]["spearman"] == pytest.approx(-1) and rows[("a", "c")]["kendall"] == pytest.approx(-1)
    assert len(rows) == 3 and all(r["pairs"] == 4 for r in rows.values())


def test_rank_agreement_skips_pairs_without_a_score_and_is_blank_with_too_few():
    nan = float("nan")
    rows = rank_agreement({"a": [0.1, 0.2, 0.3, 0.4], "b": [0.2, nan, 0.4, 0.5], "c": [nan, nan, 0.4, 0.5]})
    by = {(r["method_a"], r["method_b"]): r for r in rows}
    assert by[("a", "b")]["pairs"] == 3 and by[("a", "b")]["spearman"] == pytest.approx(1)
    assert by[("a", "c")]["pairs"] == 2 and by[("a", "c")]["spearman"] is None and by[("a", "c")]["kendall"] is None
    constant = rank_agreement({"a": [0.1, 0.2, 0.3], "b": [1.0, 1.0, 1.0]})[0]
    assert constant["spearman"] is None  # a constant score ranks nothing


def grid_comparison():
    nets = {
        GridModel(0.5, 6, 0): model(0, d=6),
        GridModel(0.0, 6, 1): model(1, d=6),
        GridModel(0.0, 4, 0): model(2, d=4),
        GridModel(0.0, 6, 0): model(3, d=6),
    }
    x = images(300)
    return compare_models(nets, x, x[:100], [str(c) for c in range(CLASSES)])


def test_a_grid_comparison_orders_models_by_noise_size_seed_and_writes_every_pair_once():
    comparison = grid_comparison()
    assert [(m.noise, m.size, m.seed) for m in comparison.models] == [
        (0.0, 4, 0),
        (0.0, 6, 0),
        (0.0, 6, 1),
        (0.5, 6, 0),
    ]
    tables = comparison.tables()
    pairs = tables["compare_pairs.csv"]
    assert len(pairs) == 4 * 5 // 2 and len(tables["compare_per_class.csv"]) == len(pairs) * CLASSES
    for row in pairs:
        same = (row["noise_a"], row["size_a"], row["seed_a"]) == (row["noise_b"], row["size_b"], row["seed_b"])
        assert (row["differs"] == "same") == same
        if same:
            assert all(row[m] == pytest.approx(1) for m in METHODS)
        assert (row["weight_cosine"] is None) == (row["size_a"] != row["size_b"])
        assert all(row[m] is not None for m in METHODS if m != "weight_cosine")
    agreement = tables["rank_agreement.csv"]
    assert len(agreement) == len(METHODS) * (len(METHODS) - 1) // 2
    assert {r["pairs"] for r in agreement if "weight_cosine" in (r["method_a"], r["method_b"])} == {3}
    summary = {(r["differs"], r["method"]): r for r in tables["compare_summary.csv"]}
    assert summary[("size", "eigen")]["pairs"] == 1 and ("size", "weight_cosine") not in summary


def test_the_per_class_table_averages_to_the_eigen_score():
    comparison = grid_comparison()
    tables = comparison.tables()
    for row in tables["compare_pairs.csv"]:
        ids = {k: row[k] for k in ("noise_a", "size_a", "seed_a", "noise_b", "size_b", "seed_b")}
        per_class = [r["eigen"] for r in tables["compare_per_class.csv"] if all(r[k] == v for k, v in ids.items())]
        assert math.fsum(per_class) / CLASSES == pytest.approx(row["eigen"])

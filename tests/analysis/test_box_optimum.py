"""The box-constrained reference of featvis-bench against box optima known exactly."""

from __future__ import annotations

import itertools

import pytest
import torch

from bilin.analysis.box_optimum import box_optimum, box_share, quadratic_logits


def vertices(n: int) -> torch.Tensor:
    """Every corner of [0, 1]^n, (2^n, n)."""
    return torch.tensor(list(itertools.product([0.0, 1.0], repeat=n)), dtype=torch.float64)


def test_a_rank_one_form_of_a_non_negative_vector_is_best_at_all_ones():
    generator = torch.Generator().manual_seed(0)
    u = torch.rand(3, 50, generator=generator, dtype=torch.float64) + 0.1
    m = u[:, :, None] * u[:, None, :]
    found = box_optimum(m, restarts=8, steps=200)
    assert torch.allclose(found.images, torch.ones(3, 50, dtype=torch.float64))
    assert torch.allclose(found.logits, u.sum(1).square())


@pytest.mark.parametrize("seed", range(4))
def test_indefinite_forms_reach_the_best_vertex(seed):
    """With a non-negative diagonal the form is convex along every coordinate, so its box maximum is
    at a vertex: enumerating the 2^10 vertices gives the exact answer to compare with."""
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(4, 10, 10, generator=generator, dtype=torch.float64)
    m = (a + a.mT) / 2
    m.diagonal(dim1=1, dim2=2).abs_()
    assert (torch.linalg.eigvalsh(m)[:, 0] < 0).all()  # indefinite: no single direction wins
    corners = vertices(10)
    exact = torch.einsum("ki,cij,kj->ck", corners, m, corners).max(1).values
    found = box_optimum(m)
    assert torch.allclose(found.logits, exact, rtol=1e-6)
    assert torch.allclose(quadratic_logits(m, found.images), found.logits)
    assert found.images.min() >= 0 and found.images.max() <= 1


def test_the_reference_is_at_least_every_given_start_and_shares_are_at_most_one():
    generator = torch.Generator().manual_seed(1)
    a = torch.randn(2, 30, 30, generator=generator)
    m = (a + a.mT) / 2
    images = torch.rand(2, 5, 30, generator=generator)  # five "methods" per class
    found = box_optimum(m, starts=images, restarts=2, steps=5)
    shares = box_share(found, m, images)
    assert shares.shape == (2, 5) and (shares <= 1 + 1e-6).all()
    assert (quadratic_logits(m, images) <= found.logits[:, None] + 1e-9).all()
    assert ((found.start >= 0) & (found.start < 2 + 5)).all()


def test_deterministic_for_a_seed():
    a = torch.randn(2, 12, 12, generator=torch.Generator().manual_seed(2))
    m = (a + a.mT) / 2
    one, two = box_optimum(m, seed=3, steps=20), box_optimum(m, seed=3, steps=20)
    assert torch.equal(one.images, two.images) and torch.equal(one.start, two.start)

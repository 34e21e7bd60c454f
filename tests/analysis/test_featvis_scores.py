"""featvis-bench's scores against optima that are known exactly."""

from __future__ import annotations

import pytest
import torch

from bilin.analysis.decompose import Eigen, input_space_eigendecompose
from bilin.analysis.featvis_scores import Optimum, score_images, steps_to_reach
from bilin.models.networks import BilinearMLP


def constructed(classes: int = 3, inputs: int = 16, seed: int = 0) -> Optimum:
    """M_c = sum_k lambda_k u_k u_k^T with an orthonormal basis and chosen eigenvalues."""
    generator = torch.Generator().manual_seed(seed)
    bases = torch.linalg.qr(torch.randn(classes, inputs, inputs, generator=generator, dtype=torch.float64))[0]
    values = torch.linspace(4.0, -2.0, inputs, dtype=torch.float64).expand(classes, inputs)
    return Optimum(values.clone(), bases.mT.contiguous())  # rows are eigenvectors, descending values


def test_a_known_image_gets_its_known_cosine_fraction_and_energy():
    optimum = constructed()
    u = optimum.vectors
    a, b = 3.0, 4.0  # x = 3 u_1 + 4 u_7: cos 3/5, fraction (9*l1 + 16*l7) / (25 * l1)
    images = torch.stack([a * u[c, 0] + b * u[c, 6] for c in range(3)])
    scores = score_images(optimum, images)
    l1, l7 = optimum.values[0, 0], optimum.values[0, 6]
    assert torch.allclose(scores.cos, torch.full((3,), 0.6), atol=1e-6)
    assert torch.allclose(scores.fraction, ((a**2 * l1 + b**2 * l7) / (25 * l1)).float().expand(3), atol=1e-6)
    assert torch.allclose(scores.top5, torch.full((3,), 9 / 25), atol=1e-6)  # u_7 is outside the top 5


def test_the_optimum_scores_one_and_scores_do_not_depend_on_the_norm():
    optimum = constructed()
    top = optimum.vectors[:, 0]
    for scale in (1e-3, 1.0, -7.0):
        scores = score_images(optimum, scale * top)
        for t in (scores.cos, scores.fraction, scores.top5):
            assert torch.allclose(t, torch.ones(3), atol=1e-6)


def test_fraction_is_the_models_logit_over_the_best_at_that_norm():
    torch.manual_seed(0)
    model = BilinearMLP(784, 12, 10).double()
    optimum = Optimum.from_eigen(input_space_eigendecompose(model))
    x = torch.rand(10, 1, 28, 28, dtype=torch.float64)
    with torch.no_grad():
        logits = model(x)[torch.arange(10), torch.arange(10)]
    expected = logits / (x.flatten(1).square().sum(1) * optimum.best)
    assert torch.allclose(score_images(optimum, x).fraction.double(), expected, atol=1e-5)


def test_several_images_per_class_and_a_channel_axis():
    optimum = constructed(classes=2, inputs=784)
    images = torch.randn(2, 5, 1, 28, 28)  # (classes, steps, c, h, w)
    scores = score_images(optimum, images)
    assert scores.fraction.shape == (2, 5)
    single = score_images(optimum, images[:, 3])
    assert torch.allclose(scores.fraction[:, 3], single.fraction)


def test_images_of_the_wrong_size_are_refused():
    with pytest.raises(ValueError, match="do not end in 16 inputs"):
        score_images(constructed(), torch.zeros(3, 15))


def test_steps_to_reach_is_the_first_step_it_stays_above():
    curve = torch.tensor([[0.0, 1.0, -1.0], [0.5, 1.0, -1.0], [0.96, 1.0, -1.0], [0.9, 1.0, -1.0], [1.0, 1.0, -1.0]])
    assert steps_to_reach(curve).tolist() == [5, 1, 5]  # a dip below 95% counts; a final value <= 0 never counts


def test_from_eigen_takes_input_space_eigen_in_descending_order():
    values = torch.tensor([[-1.0, 0.5, 2.0]])
    vectors = torch.eye(3)[None]
    optimum = Optimum.from_eigen(Eigen(values, vectors))
    assert optimum.best.tolist() == [2.0]
    assert optimum.vectors[0, 0].tolist() == [0.0, 0.0, 1.0]


def test_matrices_give_the_models_logits():
    torch.manual_seed(0)
    model = BilinearMLP(784, 12, 10).double()
    optimum = Optimum.from_eigen(input_space_eigendecompose(model))
    x = torch.rand(10, 784, dtype=torch.float64)
    with torch.no_grad():
        logits = model(x)
    quadratic = torch.einsum("ni,cij,nj->nc", x, optimum.matrices(), x)
    assert torch.allclose(quadratic, logits, rtol=1e-4, atol=1e-6)

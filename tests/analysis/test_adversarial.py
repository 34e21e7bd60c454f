"""Adversarial masks from the weights (paper section 4.4): the formula, its effect, the equal norms."""

import math

import numpy as np
import pytest
import torch

from bilin.analysis.adversarial import (
    ALL,
    MASKS,
    METHODS,
    AdversarialStudy,
    Attack,
    attack_model,
    check_alphas,
    eigen_mask,
    gradient_attack,
    mask_directions,
    quadratic_logits,
)
from bilin.analysis.decompose import eigendecompose, orient_to_class
from tests.analysis.test_decompose import tiny_bilinear
from tests.analysis.test_noise_sweep import labelled_images


def frozen_model():
    model = tiny_bilinear(inputs=16)
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def numpy_mask(model, x, y, cls: int, k: int, negative: bool) -> np.ndarray:
    """The docs/science.md section 9 formula written out in numpy from the raw weights."""
    E, W, U = (t.detach().double().numpy() for t in (model.embed.weight, model.bilinear.weight, model.head.weight))
    L, R = np.split(W, 2)
    B = np.einsum("o,oi,oj->ij", U[cls], L, R)
    values, hidden = np.linalg.eigh((B + B.T) / 2)
    u = hidden.T @ E  # (d, inputs)
    u *= np.where(u @ x[y == cls].mean(0).numpy() < 0, -1, 1)[:, None]  # orient_to_class's sign rule
    chosen = np.argsort(values)[:k] if negative else np.argsort(values)[::-1][:k]
    mask = np.linalg.pinv(u[chosen]) @ np.abs(values[chosen])
    return mask / np.linalg.norm(mask)


@pytest.mark.parametrize("negative", [False, True])
def test_the_eigen_mask_is_the_formula_from_the_weights_alone(negative):
    model = frozen_model()
    x, y = labelled_images(inputs=16)
    with torch.no_grad():  # no forward pass, no gradient: the weights only
        eigen = orient_to_class(eigendecompose(model), x, y)
        mask = eigen_mask(eigen, 1, 3, negative=negative)
    assert mask.grad_fn is None and not mask.requires_grad
    np.testing.assert_allclose(mask.double().numpy(), numpy_mask(model, x, y, 1, 3, negative), atol=1e-5)
    # what the pseudo-inverse promises: the chosen eigenvectors' projections are proportional to |lambda|
    chosen = eigen.values[1].argsort(descending=not negative)[:3]
    projections = eigen.vectors[1, chosen] @ mask
    expected = eigen.values[1, chosen].abs()
    torch.testing.assert_close(projections / projections.norm(), expected / expected.norm())


def test_the_masks_effect_on_the_logits_is_the_forward_pass():
    model = frozen_model()
    x, y = labelled_images(inputs=16)
    eigen = eigendecompose(model)
    mask = eigen_mask(eigen, 2, 3)
    for alpha in (0.0, 0.5, 3.0):
        forward = model(x + alpha * mask)
        torch.testing.assert_close(quadratic_logits(eigen, x, mask, alpha), forward, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("target", [None, 2])
def test_every_method_changes_each_image_by_the_same_l2_norm(target):
    model = frozen_model()
    x, y = labelled_images(inputs=16)
    eigen = orient_to_class(eigendecompose(model), x, y)
    directions = mask_directions(eigen, x, y, target, 2, torch.Generator().manual_seed(0))
    assert set(directions) == set(MASKS)
    for rows in directions.values():
        torch.testing.assert_close(rows.norm(dim=1), torch.ones(4))
    for steps in (0, 4):
        delta = gradient_attack(model, x, y, target, 1.5, steps, clamp=False)
        torch.testing.assert_close(delta.norm(dim=1), torch.full((len(x),), 1.5))
    alphas = [0.0, 0.7, 2.0]
    rows, _ = attack_model(model, eigen, x, y, x, y, Attack(alphas, target, 2, False, 3), seed=0)
    assert {r["method"] for r in rows} == set(METHODS)
    for r in rows:
        assert r["norm"] == pytest.approx(r["alpha"], rel=1e-5, abs=1e-6), r


def test_a_clamped_attack_stays_in_the_unit_box_and_the_target_is_left_out():
    model = frozen_model()
    x, y = labelled_images(inputs=16)
    eigen = orient_to_class(eigendecompose(model), x, y)
    rows, _ = attack_model(model, eigen, x, y, x, y, Attack([5.0], 2, 2, True, 2), seed=0)
    every = [r for r in rows if r["source"] == ALL]
    assert all(r["images"] == int((y != 2).sum()) and r["norm"] <= 5.0 + 1e-5 for r in every)
    assert {r["source"] for r in rows} == {ALL, 0, 1, 3}


@pytest.mark.parametrize("alphas", [[-1.0], [math.nan], [math.inf], []])
def test_alphas_must_be_finite_and_not_negative(alphas):
    with pytest.raises(ValueError, match="must be finite numbers >= 0"):
        check_alphas(alphas)


def test_the_bands_are_over_seeds_per_method_source_and_measure():
    model = frozen_model()
    x, y = labelled_images(inputs=16)
    eigen = orient_to_class(eigendecompose(model), x, y)
    attack = Attack([0.0, 1.0], None, 2, False, 2)
    study = AdversarialStudy(["mnist"], [0, 1], attack)
    for seed in (0, 1):
        study.add("mnist", seed, *attack_model(model, eigen, x, y, x, y, attack, seed))
    band = study.bands()[("mnist", "random", ALL, "accuracy")]
    seeds = [r["accuracy"] for r in study.rows if (r["method"], r["source"], r["alpha"]) == ("random", ALL, 1.0)]
    assert len(seeds) == 2 and float(band.mean[1]) == pytest.approx(sum(seeds) / 2)
    assert study.mask_tensors()["mnist.eigen"].shape == (2, 4, 16)
    tables = study.tables()
    assert {r["measure"] for r in tables["adversarial_bands.csv"]} == {"accuracy", "success"}
    assert set(study.headline()) == {f"{m}.mnist.{k}.alpha1" for m in ("accuracy", "success") for k in METHODS}

"""The planted rule (section 4.3): its labels, and its recovery from a model whose rule logit is known
exactly, biases included. A binary target t is orthogonal to its complement 1 - t, so a rule logit
3 (t^ . x)^2 + 2 (c^ . x)^2 + 0.1 has eigenvectors t^ and c^ exactly (t^, c^ the unit vectors)."""

from __future__ import annotations

import math

import pytest
import torch

from bilin.analysis.decompose import eigen_logits
from bilin.analysis.planted_rule import ChallengeStudy, recover, rule_eigen, span_share
from bilin.data.datasets import ImageDataset
from bilin.data.planted_rule import CLASSES, PlantedRule
from bilin.errors import UserError
from bilin.models.networks import ModelSpec, build_model
from bilin.train.recipe import Recipe
from tests.analysis.test_biases import biased_model, inputs

SIDE = 7
STROKE = [(r, 3) for r in range(1, 6)] + [(1, 2), (5, 2), (5, 4)]  # a "1" with a flag and a foot: 8 pixels


def binary_target() -> torch.Tensor:
    t = torch.zeros(SIDE, SIDE, dtype=torch.float64)
    for r, c in STROKE:
        t[r, c] = 1
    return t.flatten()


def planted_model(a: float = 3.0, b: float = 2.0, constant: float = 0.1) -> torch.nn.Module:
    """logit_1 - logit_0 = a (t^ . x)^2 + b (c^ . x)^2 + constant, through biases that cancel in it."""
    t = binary_target()
    c = 1 - t
    generator = torch.Generator().manual_seed(0)
    extra = torch.randn(2, SIDE * SIDE, generator=generator, dtype=torch.float64)
    model = build_model(ModelSpec("bilinear", SIDE * SIDE, 4, 2, input_shape=(1, SIDE, SIDE), bias=True)).double()
    with torch.no_grad():
        model.embed.weight.copy_(torch.stack([t / t.norm(), c / c.norm(), *extra]))
        model.bilinear.weight.copy_(torch.cat([torch.eye(4), torch.eye(4)]).double())
        model.bilinear.bias.copy_(torch.tensor([0.0, 0.0, 1.0, -0.5, 0.0, 0.0, 0.5, 2.0]))  # b_L, b_R
        model.head.weight.copy_(torch.tensor([[0.0, 0.0, 1.5, -0.7], [a, b, 1.5, -0.7]]))  # units 2, 3 cancel
        model.head.bias.copy_(torch.tensor([0.4, 0.4 + constant], dtype=torch.float64))
    return model.eval()


def test_the_rule_logit_is_the_difference_of_the_forward_pass_logits():
    model = biased_model(torch.float64)
    with torch.no_grad():
        model.head.weight.data = model.head.weight[:2].clone()
        model.head.bias.data = model.head.bias[:2].clone()
        x = inputs()
        logits = model(x)
    eigen = rule_eigen(model)
    assert eigen.constant and eigen.values.shape == (1, model.embed.weight.shape[0] + 1)
    torch.testing.assert_close(eigen_logits(eigen, x)[:, 0], logits[:, 1] - logits[:, 0], rtol=1e-10, atol=1e-10)


def test_a_model_that_is_not_binary_has_no_rule_logit():
    with pytest.raises(UserError, match="two outputs; this one has 3"):
        rule_eigen(biased_model(torch.float64))


def test_the_planted_rule_is_recovered_exactly():
    t = binary_target()
    eigen = rule_eigen(planted_model())
    x = torch.rand(16, SIDE * SIDE, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    expected = 3 * (x @ (t / t.norm())) ** 2 + 2 * (x @ ((1 - t) / (1 - t).norm())) ** 2 + 0.1
    torch.testing.assert_close(eigen_logits(eigen, x)[:, 0], expected, rtol=1e-12, atol=1e-12)
    two = recover(eigen, t, 2, 1.0, "rule", 0)
    for name in ("span_target", "span_complement", "cos_target", "cos_complement"):
        assert two.scores[name] == pytest.approx(1.0, abs=1e-12), name
    torch.testing.assert_close(two.top_values, torch.tensor([3.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(two.top_cosines, torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64))
    torch.testing.assert_close(two.top_images[0], t / t.norm())  # signed: its larger cosine is positive
    p = torch.tensor([3.0, 2.0, 0.1], dtype=torch.float64) / 5.1
    assert two.scores["effective_rank"] == pytest.approx(math.exp(-(p * p.log()).sum()), rel=1e-9)
    one = recover(eigen, t, 1, 1.0, "rule", 0)  # t^ alone holds nothing of the orthogonal c^
    assert one.scores["span_target"] == pytest.approx(1.0) and one.scores["span_complement"] == pytest.approx(
        0, abs=1e-12
    )


def test_span_share_is_the_cosine_with_the_projection():
    basis = torch.tensor([[1.0, 1.0, 0.0], [0.0, 0.0, 2.0]], dtype=torch.float64)  # not orthonormal
    assert span_share(basis, torch.tensor([3.0, -3.0, 0.0], dtype=torch.float64)) == pytest.approx(0, abs=1e-12)
    assert span_share(basis, torch.tensor([1.0, 0.0, 1.0], dtype=torch.float64)) == pytest.approx(math.sqrt(3 / 4))


def dataset_of(train: list[torch.Tensor], test: list[torch.Tensor]) -> ImageDataset:
    def images(xs: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack([(x * 255).round().to(torch.uint8).view(1, SIDE, SIDE) for x in xs])

    labels = torch.zeros(len(train), dtype=torch.long), torch.zeros(len(test), dtype=torch.long)
    return ImageDataset("mnist", tuple("0123456789"), images(train), labels[0], images(test), labels[1])


def pixels(*at: int) -> torch.Tensor:
    x = torch.zeros(SIDE * SIDE, dtype=torch.float64)
    x[list(at)] = 1
    return x


def test_the_rule_labels_by_either_clause_and_the_control_shuffles_them():
    t = binary_target()
    on, off = t.nonzero().flatten().tolist(), (1 - t).nonzero().flatten().tolist()
    train = [t, 1 - t, pixels(on[0]), pixels(*on[:2]), pixels(off[0]), t * 0.5 + pixels(off[0])]
    # cos(x, t): 1, 0, 1/sqrt(8) = 0.35, 2/(sqrt(2) sqrt(8)) = 0.5, 0, 0.93; cos(x, 1 - t): 0, 1, 0, 0, 0.14, 0.33
    data = dataset_of(train, train[:4])
    rule = PlantedRule(0, 0.4)
    relabelled = rule.relabel(data)
    assert relabelled.classes == CLASSES
    assert relabelled.train_y.tolist() == [1, 1, 0, 1, 0, 1] and relabelled.test_y.tolist() == [1, 1, 0, 1]
    assert relabelled.fingerprint != data.fingerprint  # the cache key sees the labels
    control = PlantedRule(0, 0.4, shuffle_seed=5).relabel(data)
    assert sorted(control.train_y.tolist()) == sorted(relabelled.train_y.tolist())
    assert torch.equal(control.train_y, PlantedRule(0, 0.4, shuffle_seed=5).relabel(data).train_y)
    assert torch.equal(control.train_x, data.train_x)
    with pytest.raises(UserError, match="target_index=6 is not a training image: mnist has 6"):
        PlantedRule(6, 0.4).relabel(data)


def test_the_test_split_alone_has_the_same_labels_and_no_training_images():
    """What reading a model needs (the report's explorers): the same test labels, the shuffled
    control's too (its generator draws the training permutation first either way)."""
    t = binary_target()
    on = t.nonzero().flatten().tolist()
    train = [t, 1 - t, pixels(on[0]), pixels(*on[:2]), t * 0.5 + pixels(on[1])]
    data = dataset_of(train, [train[i] for i in (4, 3, 1, 0, 2, 1)])
    for rule in (PlantedRule(0, 0.4), PlantedRule(0, 0.4, shuffle_seed=5), PlantedRule(0, 0.4, shuffle_seed=9)):
        whole, alone = rule.relabel(data), rule.relabel(data, with_train=False)
        assert torch.equal(alone.test_y, whole.test_y) and torch.equal(alone.test_x, data.test_x)
        assert alone.classes == CLASSES and len(alone.train_x) == len(alone.train_y) == 0
    shuffled = PlantedRule(0, 0.4, shuffle_seed=9).relabel(data, with_train=False).test_y
    assert shuffled.tolist() != PlantedRule(0, 0.4).relabel(data).test_y.tolist()  # seed 9 moves the lone 0


def test_a_rule_recipe_has_two_outputs_its_own_key_and_a_readable_record():
    base = Recipe("bilinear", None, "mnist", 8, 1, 1e-3, 1.0, 64, "fp32", 0.1, 0, bias=True)
    ruled = Recipe(**{**base.__dict__, "rule": PlantedRule(3, 0.4)})
    control = Recipe(**{**base.__dict__, "rule": PlantedRule(3, 0.4, shuffle_seed=0)})
    assert "rule" not in base.record() and len({base.key(), ruled.key(), control.key()}) == 3
    assert ruled.spec().d_output == 2 and ruled.spec().classes == CLASSES and base.spec().d_output == 10
    assert Recipe.from_record(ruled.record()) == ruled
    assert ruled.group() != control.group()  # another labelling is other data: never trained in one batch
    assert "-rule3-0.4-" in ruled.folder_name("k") and "-shuffled0-" in control.folder_name("k")


def test_the_study_bands_cut_to_each_measure_range():
    t = binary_target()
    eigen = rule_eigen(planted_model())
    study = ChallengeStudy([0, 1], t)
    for condition in ("rule", "shuffled"):
        for seed, acc in ((0, 0.2), (1, 0.99)):
            study.recoveries.append(recover(eigen, t, 2, acc, condition, seed))
    bands = study.bands()
    assert float(bands[("rule", "val_acc")].high[0]) <= 1 and float(bands[("rule", "val_acc")].low[0]) >= 0
    tables = study.tables()
    assert {r["rank"] for r in tables["challenge_eigenvectors.csv"]} == {0, 1}
    assert len(tables["challenge_spectrum.csv"]) == 4 * 5 + 2 * 5  # every eigenvalue, then the bands


def test_labels_beyond_the_models_classes_are_refused_in_one_line():
    from bilin.analysis.decompose import eigendecompose, orient_to_class

    eigen = eigendecompose(planted_model())
    x = torch.rand(4, SIDE * SIDE, dtype=torch.float64)
    with pytest.raises(UserError, match="the labels name class 7 but the model has 2 outputs"):
        orient_to_class(eigen, x, torch.tensor([0, 1, 7, 1]))

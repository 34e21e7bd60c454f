"""Training-batch augmentations: each does what it claims, each model's stream is its own and seeded,
models trained together with different augmentations equal each trained alone, and recipes without
augmentations keep their cache keys."""

from dataclasses import replace

import pytest
import torch

from bilin.errors import UserError
from bilin.models.networks import ModelSpec
from bilin.train.augment import BatchAugmenter, affine, augment, blur, salt_and_pepper
from bilin.train.recipe import Recipe
from bilin.train.records import Augmentation, HParams, Member, StopRequest, check_strengths
from tests.train.test_batched import CPU, data_of, together_and_alone


def known_image(side: int = 9) -> torch.Tensor:
    """(1, 1, side, side): an asymmetric pattern away from the border."""
    image = torch.zeros(1, 1, side, side)
    image[0, 0, 2, 3:6] = 1.0
    image[0, 0, 3:6, 5] = 0.5
    return image


def test_rotation_by_90_degrees_is_a_quarter_turn_counter_clockwise():
    image = known_image()
    turned = affine(image, torch.tensor([90.0]), torch.zeros(1, 2))
    torch.testing.assert_close(turned, torch.rot90(image, 1, dims=(2, 3)), atol=1e-5, rtol=0)
    half = affine(image, torch.tensor([180.0]), torch.zeros(1, 2))
    torch.testing.assert_close(half, torch.rot90(image, 2, dims=(2, 3)), atol=1e-5, rtol=0)


def test_translation_by_whole_pixels_shifts_the_image_and_fills_zeros():
    image = known_image()
    moved = affine(image, torch.zeros(1), torch.tensor([[2.0, 1.0]]))  # 2 right, 1 down
    expected = torch.zeros_like(image)
    expected[..., 1:, 2:] = image[..., :-1, :-2]
    torch.testing.assert_close(moved, expected, atol=1e-5, rtol=0)


def test_blur_sigma_0_is_the_identity_and_a_point_spreads_with_variance_sigma_squared():
    images = torch.rand(3, 1, 8, 8)
    assert blur(images, 0.0) is images
    point = torch.zeros(1, 1, 31, 31)
    point[..., 15, 15] = 1.0
    spread = blur(point, 2.0)[0, 0]
    offsets = (torch.arange(31) - 15.0) ** 2
    assert float(spread.sum()) == pytest.approx(1.0, abs=1e-5)
    assert float((spread.sum(0) * offsets).sum()) == pytest.approx(4.0, rel=0.03)  # the kernel is cut at 3 sigma


def test_salt_and_pepper_replaces_the_stated_fraction_half_white_half_black():
    images = torch.full((64, 1, 28, 28), 0.5)
    rate = 0.2
    noisy = salt_and_pepper(images, rate, torch.Generator().manual_seed(0))
    pixels = noisy.numel()
    tolerance = 4 * (rate / 2 * (1 - rate / 2) / pixels) ** 0.5  # 4 standard errors of a proportion
    assert float((noisy == 1).float().mean()) == pytest.approx(rate / 2, abs=tolerance)
    assert float((noisy == 0).float().mean()) == pytest.approx(rate / 2, abs=tolerance)
    assert set(noisy.unique().tolist()) == {0.0, 0.5, 1.0}
    assert salt_and_pepper(images, 0.0) is images


def test_no_augmentation_leaves_the_batch_as_it_is():
    images = torch.rand(4, 1, 8, 8)
    assert torch.equal(augment(images, Augmentation(), torch.Generator().manual_seed(0)), images)
    assert not Augmentation().active and Augmentation(blur=0.5).active


def test_each_model_draws_its_own_seeded_stream():
    strengths = Augmentation(rotate=30, translate=0.1, salt_pepper=0.1)
    batch = torch.rand(16, 64)

    def augmented(seed: int) -> torch.Tensor:
        x = batch.clone()
        BatchAugmenter(strengths, seed, (8, 8), CPU).apply_(x)
        return x

    assert torch.equal(augmented(3), augmented(3))
    assert not torch.equal(augmented(3), augmented(4))
    assert not torch.equal(augmented(3), batch)


def test_models_trained_together_with_their_own_augmentations_equal_each_trained_alone(tiny_root):
    data, _ = data_of("mnist", tiny_root, torch.float64)
    hp = HParams(epochs=1, batch_size=128, lr=1e-2, noise=0.0, cuda_graph=False)
    members = [Member(0, 0.3, Augmentation(rotate=20, blur=1.0)), Member(1, 0.0, Augmentation(translate=0.1))]
    together, alone = together_and_alone(ModelSpec("bilinear", 784, 8, 10), data, hp, members, alone_members=True)
    for i, trainer in enumerate(alone):
        for name, value in trainer.state_dicts()[0].items():
            torch.testing.assert_close(together.state_dicts()[i][name], value, atol=1e-9, rtol=1e-7)


def test_an_augmented_single_model_resumes_its_stream(tiny_root):
    from bilin.models.networks import build_model
    from bilin.train.loop import Trainer

    data, _ = data_of("mnist", tiny_root)
    hp = HParams(epochs=2, batch_size=64, lr=1e-2, noise=0.0, cuda_graph=False)
    member = [Member(5, 0.0, Augmentation(rotate=15))]
    spec = ModelSpec("bilinear", 784, 8, 10)
    straight = Trainer(build_model(spec, torch.Generator().manual_seed(5)), data, hp, CPU, member)
    straight.fit()
    first = Trainer(build_model(spec, torch.Generator().manual_seed(5)), data, hp, CPU, member)
    stop = StopRequest()
    stopped = first.fit(stop, on_epoch=lambda *_: setattr(stop, "reason", "SIGTERM"))  # after epoch 1
    assert stopped.status == "interrupted" and "augment_generator" in stopped.checkpoint
    resumed = Trainer(build_model(spec), data, hp, CPU, member)
    resumed.load_state(stopped.checkpoint)
    resumed.fit()
    for name, value in straight.state_dicts()[0].items():
        assert torch.equal(resumed.state_dicts()[0][name], value), name


def recipe(**changes) -> Recipe:
    base = Recipe("bilinear", None, "mnist", 512, 100, 1e-3, 1.0, 2048, "fp32", 0.5, 420)
    return replace(base, **changes)


def test_recipes_without_augmentations_keep_their_keys_and_records():
    assert recipe().key() == "06569e72ccf2b51f" and recipe().key("abc") == "32f4bdc02347e083"  # as before
    assert "augment" not in recipe().record()
    blurred = recipe(augment=Augmentation(blur=1.0))
    assert blurred.key() == "d4e0d0b9c3b32654" and blurred.record()["augment"]["blur"] == 1.0
    assert recipe(augment=Augmentation(blur=1)).key() == blurred.key()  # 1 and 1.0 are one strength
    assert blurred.group() == recipe().group() == recipe(noise=0.1, seed=3).group()
    assert Recipe.from_record(blurred.record()) == blurred and Recipe.from_record(recipe().record()) == recipe()
    assert "-blur1-s420-" in blurred.folder_name(blurred.key()) and "blur" not in recipe().folder_name("k")


@pytest.mark.parametrize(
    "name,values,fragment",
    [
        ("sharpen", [1.0], "unknown augmentation 'sharpen'; one of noise, rotate, translate, blur, salt_pepper"),
        ("blur", [float("nan")], "blur=nan is not a finite number"),
        ("rotate", [-5.0], "rotate=-5 is outside its range [0, 180]"),
        ("salt_pepper", [0.1, 1.5], "salt_pepper=1.5 is outside its range [0, 1]"),
        ("noise", [float("inf")], "noise=inf is not a finite number"),
        ("translate", [0.6], "translate=0.6 is outside its range [0, 0.5]"),
    ],
)
def test_a_bad_augmentation_or_strength_is_one_line(name, values, fragment):
    with pytest.raises(UserError, match=None) as caught:
        check_strengths(name, values)
    assert str(caught.value) == fragment and "\n" not in str(caught.value)
    check_strengths("noise", [0.0, 3.0])  # noise has no upper bound

"""MACO (phase optimised, magnitude fixed), images kept in the data's range under every trick, and
the measures featvis reports (norm, fraction of the best logit at that norm)."""

from dataclasses import fields, replace

import pytest
import torch
from torch import nn

from bilin.analysis.decompose import input_space_eigendecompose
from bilin.commands.featvis import COMMAND, FeatvisConfig
from bilin.featvis.colour import fit_colour_basis
from bilin.featvis.measures import fraction_of_best, image_norms, top_eigenvalues
from bilin.featvis.objectives import parse_targets
from bilin.featvis.param import MacoParam
from bilin.featvis.render import render
from bilin.featvis.settings import PARAMS, SQUASH, Settings, Tricks
from bilin.featvis.spectrum import magnitude_spectrum, natural_magnitude
from bilin.models.networks import ModelSpec, build_model
from tests.featvis.test_render import PLAIN


def tiny_conv(channels: int) -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(channels, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)
    ).eval()


def colour_of(channels: int):
    if channels == 1:
        return None
    grey = torch.rand(6, 1, 8, 8)
    return fit_colour_basis(grey * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1) + 0.1 * torch.rand(6, 3, 8, 8))


@pytest.mark.parametrize("shape", [(2, 1, 28, 28), (2, 3, 32, 32), (1, 3, 224, 224), (2, 1, 9, 7)])
def test_maco_keeps_the_magnitude_exactly_while_the_phase_moves(shape):
    n, c, h, w = shape
    colour = colour_of(c)
    data = torch.rand(16, c, h, w)
    magnitude = magnitude_spectrum(data, (h, w), colour)
    param = MacoParam(shape, magnitude, torch.Generator().manual_seed(0), colour)
    model = tiny_conv(c)
    optimiser = torch.optim.Adam(param.parameters(), lr=0.1)
    start = param.raw_image().detach().clone()
    for _ in range(5):
        loss = -model(param.image())[:, 0].sum()
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    raw = param.raw_image().detach()
    assert (raw - start).abs().max() > 1e-3  # the optimiser did move the image
    got = torch.fft.rfft2(raw, norm="ortho").abs()
    assert torch.allclose(got, magnitude.abs().expand_as(got), rtol=1e-4, atol=1e-5 * magnitude.abs().max())
    # the DC bin is the data's own (signed): the image's mean, in the basis, is the data's
    basis = colour.to_basis(data) if colour is not None else data
    assert torch.allclose(raw.mean((2, 3)), basis.mean((0, 2, 3)).expand(n, c), atol=1e-5)
    image = param.image()
    assert image.shape == shape and image.min() >= 0 and image.max() <= 1
    param.blur_(1.0)  # documented no-op: blurring would change the fixed magnitude
    assert torch.equal(param.raw_image().detach(), raw)


def test_natural_spectrum_gives_the_asked_mean_and_std():
    generator = torch.Generator().manual_seed(0)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    param = MacoParam((4, 3, 32, 32), natural_magnitude(3, (32, 32), mean, std), generator, squash="none")
    image = param.image().detach()
    assert torch.allclose(image.mean((2, 3)), torch.tensor(mean).expand(4, 3), atol=1e-5)
    assert torch.allclose(image.std((2, 3), correction=0), torch.tensor(std).expand(4, 3), atol=1e-4)
    basis = colour_of(3)  # in a colour basis: the basis's mean, recorrelated back, is the asked mean
    param = MacoParam((2, 3, 16, 16), natural_magnitude(3, (16, 16), mean, std, basis), generator, basis, "none")
    assert torch.allclose(param.image().detach().mean((0, 2, 3)), torch.tensor(mean), atol=1e-5)


TRICKS = {
    "baseline": PLAIN,
    "robustness": replace(PLAIN, robustness=True),
    "decorrelate": replace(PLAIN, decorrelate=True),
    "l2": replace(PLAIN, l2=0.1),
    "blur": replace(PLAIN, blur_every=2),
    "diversity": replace(PLAIN, diversity=1.0),
    "all": Tricks(robustness=True, decorrelate=True, diversity=1.0, l2=0.01, blur_every=4, redirect_relu_steps=5),
}


@pytest.mark.parametrize("param", ["pixel", "fourier", "maco"])
@pytest.mark.parametrize("trick", list(TRICKS))
def test_images_stay_in_the_data_range_under_every_trick(param, trick):
    """A random bilinear MLP (its logits grow without bound off the box) and a CNN on another range."""
    tricks = replace(TRICKS[trick], param=param)
    settings = Settings(steps=12, lr=0.2, images_per_target=2, seed=3)
    torch.manual_seed(0)
    bilinear = build_model(ModelSpec("bilinear", 784, 16, 10)).eval()
    grey = render(bilinear, (1, 28, 28), parse_targets(["class:0", "class:1"], 10), settings, tricks)
    assert grey.images.min() >= 0 and grey.images.max() <= 1, (grey.images.min(), grey.images.max())
    lo, hi = -0.5, 2.0
    colour = render(
        tiny_conv(3), (3, 12, 12), parse_targets(["class:2"], 3), settings, tricks, colour_of(3), value_range=(lo, hi)
    )
    assert colour.images.min() >= lo and colour.images.max() <= hi
    assert colour.images.max() - colour.images.min() > 0.05  # not stuck at one value


def test_free_mode_is_kept_by_name():
    torch.manual_seed(0)
    bilinear = build_model(ModelSpec("bilinear", 784, 16, 10)).eval()
    result = render(
        bilinear, (1, 28, 28), parse_targets(["class:0"], 10), Settings(steps=30, lr=0.5), replace(PLAIN, squash="none")
    )
    assert result.images.max() > 1 or result.images.min() < 0  # a quadratic form runs off the box when let


def test_tricks_param_is_the_one_parameterisation_switch():
    assert "fourier" not in {f.name for f in fields(Tricks)}
    assert PARAMS == ("pixel", "fourier", "maco") and SQUASH == ("auto", "sigmoid", "clip", "none")
    assert PLAIN.range_mapping == "sigmoid" and replace(PLAIN, param="maco").range_mapping == "clip"
    with pytest.raises(ValueError, match="param='fourir' is not one of pixel, fourier, maco"):
        render(
            tiny_conv(1), (1, 8, 8), parse_targets(["class:0"], 3), Settings(steps=1), replace(PLAIN, param="fourir")
        )


def test_the_command_has_one_parameterisation_switch():
    """param= alone chooses what is optimised; the older fourier= key is gone (refused with a hint)."""
    keys = {f.name for f in fields(FeatvisConfig)}
    assert "param" in keys and "fourier" not in keys
    assert FeatvisConfig(run="x").param == "fourier"
    assert "fourier" in dict(COMMAND.removed_keys) and "param=" in dict(COMMAND.removed_keys)["fourier"]


def test_fraction_of_best_is_one_for_the_top_eigenvector_only():
    torch.manual_seed(0)
    model = build_model(ModelSpec("bilinear", 784, 16, 10)).eval()
    eigen = input_space_eigendecompose(model)
    targets = parse_targets(["class:all"], 10)
    top = top_eigenvalues(model, targets)
    assert torch.equal(top, eigen.values.max(1).values)
    best = eigen.vectors[torch.arange(10), eigen.values.argmax(1)] * 3.0  # norm 3 each
    other = torch.rand(10, 784)
    images = torch.stack([best, other], 1).view(10, 2, 1, 28, 28)
    with torch.no_grad():
        logits = model(images.flatten(0, 1)).view(10, 2, 10)[torch.arange(10), :, torch.arange(10)]
    norms = image_norms(images)
    assert torch.allclose(norms[:, 0], torch.full((10,), 3.0))
    fraction = fraction_of_best(logits, norms, top)
    assert torch.allclose(fraction[:, 0], torch.ones(10), atol=1e-4)
    assert (fraction[:, 1] < 1).all()
    assert fraction_of_best(torch.ones(1, 1), torch.ones(1, 1), torch.tensor([-1.0])).isnan().all()
    assert top_eigenvalues(tiny_conv(1), targets) is None
    gated = build_model(ModelSpec("bilinear", 784, 16, 10, gate="relu"))
    assert top_eigenvalues(gated, targets) is None
    mixed = top_eigenvalues(model, parse_targets(["class:2", "unit:embed:3"], 10))
    assert mixed[0] == top[2] and mixed[1].isnan()

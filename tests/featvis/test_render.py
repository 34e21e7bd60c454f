"""featvis: the eigenvector oracle, each trick with gradients flowing, targets and their errors."""

from dataclasses import replace

import pytest
import torch
from torch import nn

from bilin.analysis.decompose import input_space_eigendecompose
from bilin.data import load_dataset
from bilin.errors import UserError
from bilin.featvis.colour import ColourBasis, fit_colour_basis
from bilin.featvis.objectives import Activations, diversity_penalty, parse_targets, redirected_relus
from bilin.featvis.param import FourierParam, PixelParam
from bilin.featvis.render import Settings, Tricks, render
from bilin.featvis.transform import Robustness
from bilin.models.networks import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.loop import Trainer
from bilin.train.records import HParams

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def trained_bilinear(tiny_root):
    ds = load_dataset("mnist", tiny_root, download=False)
    torch.manual_seed(0)
    model = build_model(ModelSpec("bilinear", 784, 16, 10))
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU)
    result = Trainer(model, data, HParams(epochs=3, batch_size=64, lr=3e-3), CPU).fit()
    assert result.metrics[-1].val_acc > 0.5  # it learned the bars: a real, trained model
    return model.eval()


def test_sphere_mode_recovers_the_top_eigenvector(trained_bilinear):
    """docs/science.md section 7: over ||x|| = r, x^T M_c x peaks at M_c's top eigenvector, value r^2 lambda_max."""
    eigen = input_space_eigendecompose(trained_bilinear)
    targets = parse_targets(["class:all"], 10)
    radius = 5.0
    result = render(trained_bilinear, (1, 28, 28), targets, Settings(steps=400, mode="sphere", radius=radius))
    x = result.images[:, 0].flatten(1)
    top = eigen.vectors[torch.arange(10), eigen.values.argmax(1)]
    cosine = torch.nn.functional.cosine_similarity(x, top, dim=1).abs()
    best = radius**2 * eigen.values.max(1).values
    assert cosine.min() >= 0.99
    assert torch.allclose(result.activations[:, 0], best, rtol=0.01)


def tiny_cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 5),
    ).eval()


# every trick off, named: the records' defaults are `bilin featvis`'s, which switch most of them on
PLAIN = Tricks(robustness=False, param="pixel", decorrelate=False, redirect_relu_steps=0)
TRICKS = {
    "baseline": PLAIN,
    "robustness": replace(PLAIN, robustness=True),
    "fourier": replace(PLAIN, param="fourier"),
    "decorrelate": replace(PLAIN, decorrelate=True),
    "l2": replace(PLAIN, l2=0.1),
    "blur": replace(PLAIN, blur_every=2),
    "diversity": replace(PLAIN, diversity=1.0),
    "redirect": replace(PLAIN, redirect_relu_steps=5),
    "all": Tricks(
        robustness=True, param="fourier", decorrelate=True, diversity=1.0, l2=0.01, blur_every=4, redirect_relu_steps=5
    ),
}


@pytest.mark.parametrize("name", list(TRICKS))
def test_each_trick_raises_the_target_on_a_tiny_cnn(name):
    model = tiny_cnn()
    targets = parse_targets(["channel:2:3", "unit:0:5", "class:1"], 5)
    grey = torch.rand(8, 1, 16, 16)  # correlated channels: mostly one brightness, a little colour
    colour = fit_colour_basis(grey * torch.tensor([1.0, 0.8, 0.6]).view(1, 3, 1, 1) + 0.1 * torch.rand(8, 3, 16, 16))
    settings = Settings(steps=40, lr=0.05, images_per_target=2, seed=1)
    result = render(model, (3, 16, 16), targets, settings, TRICKS[name], colour)
    start, end = result.curve[0].mean(-1), result.curve[-5:].mean((0, 2))
    if name in ("diversity", "all"):
        # the penalties (l2, diversity, blur) pull against single targets; the sum still rises (in the
        # [0, 1] box the random CNN's class-1 logit can gain only ~0.005, less than diversity's pull)
        assert end.sum() > start.sum() + 0.1, (start, end)
    else:
        assert (end > start).all(), (name, start, end)
    assert all(p.requires_grad for p in model.parameters())  # the model is given back unfrozen
    if name in ("diversity", "all"):
        assert result.diversity_layer == "3"  # last top-level child with a spatial output (not the 1x1 pool)


def test_same_seed_same_images():
    model = tiny_cnn()
    targets = parse_targets(["class:0", "class:3"], 5)
    settings = Settings(steps=10, images_per_target=2, seed=7)
    tricks = replace(PLAIN, robustness=True, param="fourier")
    first = render(model, (3, 16, 16), targets, settings, tricks)
    again = render(model, (3, 16, 16), targets, settings, tricks)
    assert torch.equal(first.images, again.images)
    assert first.images.shape == (2, 2, 3, 16, 16)


def test_gradients_flow_through_the_transforms_and_parameterisations():
    generator = torch.Generator().manual_seed(0)
    colour = ColourBasis(torch.tensor([[1.0, 0.0, 0.0], [0.5, 1.0, 0.0], [0.2, 0.3, 1.0]]))
    for param in (
        PixelParam((2, 3, 12, 12), "noise", generator, colour, squash="sigmoid"),
        FourierParam((2, 3, 12, 12), "grey", generator, colour),
    ):
        out = Robustness()(param.image(), generator)
        out.square().sum().backward()
        grad = next(iter(param.parameters())).grad
        assert grad is not None and grad.abs().sum() > 0


def test_fourier_parameterisation_is_unitary_and_blur_smooths():
    generator = torch.Generator().manual_seed(0)
    param = FourierParam((1, 1, 16, 16), "noise", generator, squash="none")
    image = param.image().detach()
    spectrum = torch.view_as_complex(param.spectrum.detach()) * param.scale
    # orthonormal rfft2: energy is preserved (half-spectrum columns other than 0 and N/2 count twice)
    weights = torch.ones(16, 9)
    weights[:, 1:8] = 2
    assert torch.allclose((weights * spectrum.abs() ** 2).sum(), image.square().sum(), rtol=1e-4)
    before = image.diff(dim=-1).abs().mean()
    param.blur_(1.0)
    assert param.image().detach().diff(dim=-1).abs().mean() < before


def test_colour_basis_decorrelates_its_data():
    torch.manual_seed(0)
    mixing = torch.tensor([[1.0, 0.0, 0.0], [0.9, 0.3, 0.0], [0.8, 0.2, 0.1]])
    images = torch.einsum("ck,nkhw->nchw", mixing, torch.randn(50, 3, 8, 8))
    basis = fit_colour_basis(images)
    decorrelated = basis.to_basis(images).permute(1, 0, 2, 3).flatten(1)
    covariance = torch.cov(decorrelated)
    off_diagonal = covariance - torch.diag(covariance.diag())
    assert off_diagonal.abs().max() < 1e-3 * covariance.diag().max()
    assert torch.allclose(basis.from_basis(basis.to_basis(images)), images, atol=1e-4)


def test_diversity_penalty_is_one_for_copies_and_lower_for_different_images():
    same = torch.randn(1, 4, 5, 5).expand(3, -1, -1, -1)
    assert diversity_penalty(same, per_target=3).tolist() == pytest.approx([1.0], abs=1e-5)
    different = torch.randn(3, 4, 5, 5)
    assert diversity_penalty(different, per_target=3) < 1.0
    vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])  # no positions: cos(a a^T, b b^T) = cos(a, b)^2 = 0
    assert diversity_penalty(vectors, per_target=2).tolist() == pytest.approx([0.0], abs=1e-6)


def test_redirected_relu_gives_dead_units_a_direction():
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(3, 4))
        model[0].bias.fill_(-10.0)  # every unit dead for inputs near 0
    x = torch.zeros(1, 4, requires_grad=True)
    (-model(x)[0, 1]).backward()
    assert x.grad.abs().sum() == 0  # plain relu: no gradient at all
    x.grad = None
    with redirected_relus(model):
        (-model(x)[0, 1]).backward()
    assert x.grad[0, 1] < 0  # a descent step raises input 1, towards activating unit 1
    assert type(model[1]).forward is nn.ReLU.forward and "forward" not in vars(model[1])  # restored


def test_target_parsing_and_errors():
    assert [t.index for t in parse_targets(["class:all"], 3)] == [0, 1, 2]
    assert parse_targets(["unit:embed:4"], 10)[0].layer == "embed"
    with pytest.raises(UserError, match="is not class"):
        parse_targets(["neuron:3"], 10)
    model = tiny_cnn()
    with pytest.raises(UserError, match="unknown layer 'layer9'.*0, 1, 2"):
        Activations(model, {"layer9"})
    with pytest.raises(UserError, match="out of range.*5 classes"):
        render(model, (3, 8, 8), parse_targets(["class:7"], 5), Settings(steps=1))
    with pytest.raises(UserError, match="out of range.*16 channels"):
        render(model, (3, 8, 8), parse_targets(["channel:2:16"], 5), Settings(steps=1))

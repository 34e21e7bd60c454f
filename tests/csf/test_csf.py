"""probe-csf: stimuli are what they claim, the staircase and fit recover a known observer, the
probe learns on a tiny CNN with its BatchNorm untouched."""

import math

import pytest
import torch
from torch import nn

from bilin.csf.probe import FeatureExtractor, ProbeSettings, contrast_pairs, train_probe
from bilin.csf.psychophysics import bisection, csf_peak, fit_psychometric, threshold75, weibull
from bilin.csf.stimuli import GREY, default_frequencies, gratings, random_shapes, with_contrast
from bilin.errors import UserError


def test_shapes_kinds_sizes_and_background():
    generator = torch.Generator().manual_seed(0)
    images, kind = random_shapes(60, 224, generator)
    assert images.shape == (60, 3, 224, 224) and set(kind.tolist()) == {0, 1, 2}
    assert torch.allclose(images[:, :, 0, 0], torch.full((60, 3), GREY))  # the corner is background
    filled = (images != GREY).any(1).float().mean((1, 2))  # fraction of the image covered by the shape
    circles = filled[kind == 0]
    radius_area = [math.pi * 10**2 / 224**2, math.pi * 56**2 / 224**2]  # radius 10 .. S/4
    assert ((circles > radius_area[0] * 0.8) & (circles < radius_area[1] * 1.05)).all()
    one_colour = images.flatten(2)[:, :, images.flatten(2).ne(GREY).any(1).float().argmax(1)[0]]
    assert one_colour.shape == (60, 3)


def test_contrast_scaling_is_exact():
    img = torch.rand(4, 3, 8, 8)
    c = torch.tensor([0.0, 0.25, 0.5, 1.0])
    out = with_contrast(img, c)
    assert torch.allclose(out[0], torch.full_like(img[0], 0.5))
    assert torch.allclose(out[3], img[3])
    assert torch.allclose(out[1], 0.375 + 0.25 * img[1])
    first, second, label = contrast_pairs(16, 32, torch.Generator().manual_seed(0), "cpu")
    spread = lambda x: x.flatten(1).std(1)  # noqa: E731 - contrast shows up as spread around grey
    assert ((spread(second) > spread(first)).long() == label).all()


@pytest.mark.parametrize("sf,theta", [(4, 0.0), (7, math.pi / 2), (14, math.pi / 4)])
def test_grating_frequency_orientation_and_envelope(sf, theta):
    size = 224
    g = gratings(sf, torch.tensor([theta]), torch.tensor([0.0]), torch.tensor([1.0]), size)[0, 0] * 2 - 1
    assert g.shape == (224, 224) and g.max() <= 1 + 1e-6 and g.min() >= -1 - 1e-6
    spectrum = torch.fft.fftshift(torch.fft.fft2(g).abs())
    peak = divmod(int(spectrum.argmax()), size)
    fy, fx = peak[0] - size // 2, peak[1] - size // 2
    assert math.hypot(fx, fy) == pytest.approx(sf, abs=1.0)
    angle = math.atan2(fy, fx) % math.pi
    assert min(abs(angle - theta), math.pi - abs(angle - theta)) < 0.15
    # envelope: at contrast 1, phase 0, theta 0, |g| along the column through the centre follows exp(-r^2 / 2 sigma^2)
    column = gratings(sf, torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([1.0]), size)[0, 0, :, 0] * 2 - 1
    y = torch.arange(size) - (size - 1) / 2
    x0 = -(size - 1) / 2
    carrier = math.cos(2 * math.pi * sf * x0 / size)
    expected = carrier * torch.exp(-(x0**2 + y**2) / (2 * (size / 6) ** 2))
    assert torch.allclose(column, expected.float(), atol=1e-5)


def test_default_frequencies():
    assert default_frequencies(224) == [1, 2, 4, 7, 8, 14, 16, 28, 32, 56, 112]


def test_staircase_and_fit_recover_a_synthetic_observer():
    true_alpha = torch.tensor([0.02, 0.08, 0.3], dtype=torch.float64)
    beta, lapse = torch.tensor(3.0, dtype=torch.float64), torch.tensor(0.02, dtype=torch.float64)
    generator = torch.Generator().manual_seed(1)

    def observer(contrast, active):
        p = weibull(contrast.double(), true_alpha, beta, lapse)
        return torch.binomial(torch.full_like(p, 100.0), p, generator=generator)

    stair = bisection(observer, 3, trials=100)
    fit = fit_psychometric(stair, boot=100)
    truth = threshold75(true_alpha, beta, lapse)
    assert ((fit.ci_low <= truth) & (truth <= fit.ci_high)).all(), (fit.ci_low, truth, fit.ci_high)
    assert torch.allclose(fit.threshold, truth, rtol=0.1)
    assert torch.allclose(stair.threshold, truth, rtol=0.25)  # bisection: the last level tried


def test_bisection_stops_at_the_tolerance():
    stair = bisection(lambda c, active: torch.where(c > 0.3, 100.0, 74.9).float(), 1, trials=100)
    assert stair.steps.item() < 20 and stair.threshold.item() <= 0.3


def test_csf_peak_of_a_log_parabola():
    sfs = torch.tensor([1.0, 2, 4, 8, 16, 32])
    sensitivity = torch.exp(-((sfs.log() - math.log(5.0)) ** 2))
    assert csf_peak(sfs, sensitivity[None]).item() == pytest.approx(5.0, rel=1e-6)


def tiny_cnn() -> nn.Module:
    """Random weights; contrast shows up as the size of the relu responses around grey."""
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(8 * 16 * 16, 10),
    )


def test_probe_learns_and_batchnorm_does_not_move():
    model = tiny_cnn()
    bn = model[1]
    bn.running_mean.fill_(0.1)  # as if pretrained
    before = {k: v.clone() for k, v in model.state_dict().items()}
    extractor = FeatureExtractor(model, "2", normalise=lambda x: x - 0.5)
    model.train()  # even if someone flips the model to training mode, the extractor keeps it frozen
    probe, history = train_probe(
        extractor, 32, ProbeSettings(pairs_per_epoch=320, epochs=6, batch_size=32), torch.device("cpu")
    )
    # chance is 0.5, and its spread over 320 pairs is 0.03: 0.6 is far above it
    assert history.accuracy[-1] > 0.6 and history.normalised_loss[-1] < history.normalised_loss[0]
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), key
    assert not model[1].training


def test_unknown_layer_lists_the_layers():
    with pytest.raises(UserError, match="unknown layer 'layer9'.*0, 1, 2"):
        FeatureExtractor(tiny_cnn(), "layer9")


def test_extractors_of_several_layers_share_a_model():
    model = tiny_cnn()
    early, late = FeatureExtractor(model, "2"), FeatureExtractor(model, "5")
    x = torch.rand(2, 3, 32, 32)
    assert early(x).shape == (2, 8 * 32 * 32) and late(x).shape == (2, 8 * 16 * 16)
    assert early(x).shape == (2, 8 * 32 * 32)  # no hook left behind by the other

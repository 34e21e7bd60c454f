"""probe-csf: stimuli are what they claim, the staircase and fit recover a known observer, the
probe learns on a tiny CNN with its BatchNorm untouched."""

import math

import pytest
import torch
from torch import nn

from bilin.csf.colour import rgb_to_dkl
from bilin.csf.human import human_csf, human_curve, human_span
from bilin.csf.probe import FeatureExtractor, contrast_pairs, train_probe
from bilin.csf.psychophysics import bisection, fit_psychometric, threshold75, weibull
from bilin.csf.settings import ProbeSettings
from bilin.csf.stimuli import GREY, Stimuli, default_frequencies, with_contrast
from bilin.errors import UserError

JITTERED = Stimuli(224, protocol="jittered")
# computed by bilin's stimulus code before the tutorial protocol (commit 6e22fb2)
JITTERED_KINDS = [1, 2, 1, 0, 1, 0, 0, 2, 1, 1]
JITTERED_SUM = 76930.375
JITTERED_PIXELS = [0.4984844, 0.4984844, 0.4984844, 0.4987292, 0.4987292, 0.4987292]


def test_shapes_kinds_sizes_and_background():
    generator = torch.Generator().manual_seed(0)
    images, kind = JITTERED.shapes(60, generator)
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
    first, second, label = contrast_pairs(16, Stimuli(32), torch.Generator().manual_seed(0), "cpu")
    spread = lambda x: x.flatten(1).std(1)  # noqa: E731 - contrast shows up as spread around grey
    assert ((spread(second) > spread(first)).long() == label).all()


@pytest.mark.parametrize("sf,theta", [(4, 0.0), (7, math.pi / 2), (14, math.pi / 4)])
def test_grating_frequency_orientation_and_envelope(sf, theta):
    size = 224
    g = JITTERED.gratings(sf, torch.tensor([theta]), torch.tensor([0.0]), torch.tensor([1.0]))[0, 0] * 2 - 1
    assert g.shape == (224, 224) and g.max() <= 1 + 1e-6 and g.min() >= -1 - 1e-6
    spectrum = torch.fft.fftshift(torch.fft.fft2(g).abs())
    peak = divmod(int(spectrum.argmax()), size)
    fy, fx = peak[0] - size // 2, peak[1] - size // 2
    assert math.hypot(fx, fy) == pytest.approx(sf, abs=1.0)
    angle = math.atan2(fy, fx) % math.pi
    assert min(abs(angle - theta), math.pi - abs(angle - theta)) < 0.15
    # envelope: at contrast 1, phase 0, theta 0, |g| along the column through the centre follows exp(-r^2 / 2 sigma^2)
    column = JITTERED.gratings(sf, torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([1.0]))[0, 0, :, 0] * 2 - 1
    y = torch.arange(size) - (size - 1) / 2
    x0 = -(size - 1) / 2
    carrier = math.cos(2 * math.pi * sf * x0 / size)
    expected = carrier * torch.exp(-(x0**2 + y**2) / (2 * (size / 6) ** 2))
    assert torch.allclose(column, expected.float(), atol=1e-5)


def test_default_frequencies():
    assert default_frequencies(224) == [1, 2, 4, 7, 8, 14, 16, 28, 32, 56, 112]
    assert default_frequencies(28) == list(range(1, 15))  # the divisors 1, 2, 4, 7, 14 are too few


@pytest.mark.parametrize("size", [32, 28, 224, 31])
def test_tutorial_grating_peaks_at_the_centre_pixel_and_keeps_its_mean_offset(size):
    one = torch.ones(1)
    g = Stimuli(size).gratings(1, torch.zeros(1), torch.zeros(1), one)[0, 0] * 2 - 1
    assert g[size // 2, size // 2] == 1.0  # the envelope's peak is exactly 1 on pixel size // 2, phase 0
    envelope = Stimuli(size).gratings(0, torch.zeros(1), torch.zeros(1), one)[0, 0] * 2 - 1  # sf 0: the envelope
    assert envelope.max() == 1.0 and JITTERED.gratings(0, torch.zeros(1), torch.zeros(1), one).max() < 1
    # phase 0 at 1 cycle/image: the envelope covers the cosine's bright middle more than its dark ends
    assert g.mean() > 0.05
    jittered = Stimuli(size, protocol="jittered")
    phases = torch.linspace(0, 2 * math.pi, 65)[:-1]
    mean = jittered.gratings(1, torch.zeros(64), phases, torch.ones(64)).mean() * 2 - 1
    assert abs(mean) < 1e-4  # averaged over phase the offset is gone


def test_tutorial_shapes_are_the_tutorials():
    images, kind = Stimuli(224).shapes(300, torch.Generator().manual_seed(0))
    assert set(kind.tolist()) == {0, 1, 2}
    colours = images.flatten(2)[torch.arange(300), :, images.ne(GREY).any(1).flatten(1).float().argmax(1)]
    assert torch.allclose(colours * 255, (colours * 255).round(), atol=1e-4)  # randint(0, 256) / 255
    for image in images[kind == 2]:  # rectangles: axis-aligned, so the filled pixels are their bounding box
        filled = image.ne(GREY).any(0)
        rows, cols = filled.any(1).nonzero(), filled.any(0).nonzero()
        box = filled[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1]
        assert box.all() and filled.sum() == box.numel()
    for image in images[kind == 0]:  # circles: centred in [56, 168), radius in [10, 56)
        filled = image.ne(GREY).any(0).nonzero().float()
        centre, radius = filled.mean(0), (filled.max(0).values - filled.min(0).values) / 2
        assert ((centre >= 55.5) & (centre <= 167.5)).all() and ((radius >= 10) & (radius < 56)).all()


def test_jittered_protocol_reproduces_the_earlier_stimuli():
    """Checksums of bilin's stimuli before the tutorial protocol became the default."""
    images, kind = Stimuli(32, protocol="jittered").shapes(50, torch.Generator().manual_seed(3))
    assert kind[:10].tolist() == JITTERED_KINDS
    assert images.sum().item() == pytest.approx(JITTERED_SUM, rel=1e-6)
    g = Stimuli(32, protocol="jittered").gratings(
        4, torch.tensor([0.3, 1.0]), torch.tensor([0.5, 2.0]), torch.tensor([0.5, 1.0])
    )
    assert g[:, :, 3, 5].flatten().tolist() == pytest.approx(JITTERED_PIXELS, abs=1e-6)


@pytest.mark.parametrize("colour", ["rg", "yb"])
def test_chromatic_gratings_are_isoluminant_and_lum_is_grey(colour):
    stimuli = Stimuli(64)
    args = (8, torch.tensor([0.0, 0.7]), torch.zeros(2), torch.tensor([0.5, 0.3]))
    grey = rgb_to_dkl(torch.full((1, 3, 1, 1), 0.5, dtype=torch.float64))
    change = rgb_to_dkl(stimuli.gratings(*args, colour).double()) - grey  # from the background, in DKL
    axis = {"rg": 1, "yb": 2}[colour]
    assert change[:, 0].abs().max() < 1e-6  # isoluminant, to float32 precision (no clipping below 0.5)
    assert change[:, 3 - axis].abs().max() < 1e-6 and change[:, axis].abs().max() > 0.25  # only its own axis moves
    grey = stimuli.gratings(*args, "lum")
    assert torch.equal(grey[:, 0], grey[:, 1]) and torch.equal(grey[:, 1], grey[:, 2])
    assert Stimuli(28, channels=1).gratings(*args).shape == (2, 1, 28, 28)


def test_human_csfs_are_the_published_shapes():
    f = torch.tensor([0.5, 1.0, 2.0, 4.0, 8.0, 16.0], dtype=torch.float64)
    lum, rg, yb = (human_csf(f, c) for c in ("lum", "rg", "yb"))
    assert f[lum.argmax()] == 4.0 and human_csf(torch.tensor([4.0]), "lum").item() == pytest.approx(
        75 * 4**0.8 * math.exp(-0.8)
    )  # band-pass, peak at 0.8 / 0.2 = 4 cycles/degree
    assert (rg.diff() < 0).all() and (yb.diff() < 0).all()  # low-pass
    assert rg[0].item() == pytest.approx(109.1413 + 93.59711, rel=1e-3)
    x, y = human_curve([1, 112], 2.0, "yb")
    assert x.max() == pytest.approx(20.0) and y.max() == 1.0  # chromatic: drawn to 10 cycles/degree


@pytest.mark.parametrize(
    ("sfs", "degrees", "colour", "span"),
    [
        ([1, 16], 32 / 112, "lum", (1, 35.9 * 32 / 112)),  # 3.5-56 cycles/degree: cut where the fit's S falls to 1
        ([1, 16], 8.0, "lum", (4, 16)),  # 0.125-2: from 0.5 cycles/degree up
        ([1, 16], 2.0, "rg", (1, 16)),  # inside 0.1-10: the measured span
        ([1, 16], 0.5, "yb", (1, 5)),  # 2-32: up to 10
        ([1, 16], 200.0, "lum", None),  # 0.005-0.08: nothing in common with 0.5-35.9
        ([1, 16], 0.01, "rg", None),  # 100-1600: beyond 10
    ],
)
def test_human_curves_span_only_their_sources_range(sfs, degrees, colour, span):
    assert human_csf(torch.tensor([35.9], dtype=torch.float64)).item() == pytest.approx(1.0, abs=0.01)
    assert human_span(sfs, degrees, colour) == (None if span is None else pytest.approx(span))
    drawn = human_curve(sfs, degrees, colour)
    if span is None:
        assert drawn is None
    else:
        assert (drawn[0].min().item(), drawn[0].max().item()) == pytest.approx(span) and drawn[1].max() == 1.0


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
        extractor, Stimuli(32), ProbeSettings(pairs=320, epochs=6, batch_size=32), torch.device("cpu")
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

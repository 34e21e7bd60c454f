"""The weight-based CSF: exact against the model's forward pass on probe-csf's own gratings, and a
model built to see one frequency is found there by the weights and by the probe."""

import math

import pytest
import torch

from bilin.csf.measure import measure_layer
from bilin.csf.probe import FeatureExtractor
from bilin.csf.psychophysics import ORIENTATIONS
from bilin.csf.settings import ProbeSettings, StaircaseSettings
from bilin.csf.stimuli import Stimuli
from bilin.csf.weight_csf import grating_patterns, weight_csf
from bilin.models.networks import BilinearMLP

SFS = [float(f) for f in range(1, 15)]


@pytest.mark.parametrize("protocol", ["tutorial", "jittered"])
@pytest.mark.parametrize("seed", [0, 1])
def test_threshold_is_where_the_forward_pass_meets_the_criterion(protocol, seed):
    torch.manual_seed(seed)
    model = BilinearMLP(784, 24, 10).double()
    stimuli = Stimuli(28, channels=1, protocol=protocol)
    csf = weight_csf(model, SFS, stimuli, criterion=0.5)
    patterns, groups = grating_patterns(SFS, stimuli)
    phases = len(patterns) // (len(SFS) * ORIENTATIONS)
    assert phases == (1 if protocol == "tutorial" else 8)
    with torch.no_grad():
        grey = model(torch.full((1, 784), 0.5, dtype=torch.float64))
        for i, sf in enumerate(SFS):
            c = float(csf.threshold[i])
            # the stimuli exactly as the probe draws them, at the threshold contrast
            orientation = (torch.arange(ORIENTATIONS) * math.pi / 12).repeat_interleave(phases)
            phase = torch.arange(phases).repeat(ORIENTATIONS) * 2 * math.pi / 8
            images = stimuli.gratings(sf, orientation, phase, torch.full((len(phase),), c))
            change = model(images.flatten(1).double()) - grey
            rms = change.square().sum(1).mean().sqrt().item()
            assert rms == pytest.approx(0.5, rel=2e-5), sf  # the images are float32


def one_frequency_model(f0: int, size: int = 28) -> BilinearMLP:
    """E's rows: full-image cosine and sine waves of f0 cycles/image at 13 orientations; L = R = I,
    so the hidden layer is (E x)^2 and every logit their sum: it sees f0 and nothing else."""
    axis = torch.arange(size, dtype=torch.float64)
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    rows = []
    for k in range(ORIENTATIONS):
        t = k * math.pi / 12
        fx, fy = round(f0 * math.cos(t)), round(f0 * math.sin(t))  # integer: no mean, exactly periodic
        for shift in (0.0, math.pi / 2):
            rows.append(torch.cos(2 * math.pi * (fx * x + fy * y) / size + shift).flatten() / size)
    embed = torch.stack(rows)
    d = len(embed)
    model = BilinearMLP(size * size, d, 10)
    with torch.no_grad():
        model.embed.weight.copy_(embed)
        model.bilinear.weight.copy_(torch.cat([torch.eye(d), torch.eye(d)]))
        model.head.weight.copy_(torch.ones(10, d))
    return model


def test_a_model_that_sees_one_frequency_peaks_there_in_weights_and_probe():
    f0 = 5
    model = one_frequency_model(f0)
    stimuli = Stimuli(28, channels=1)
    weights = weight_csf(model, SFS, stimuli, criterion=1.0)
    assert int(weights.sensitivity.argmax()) == SFS.index(f0)
    assert float(weights.shape.peak) == pytest.approx(f0, abs=0.25)
    settings = ProbeSettings(pairs=512, epochs=3, seed=0)
    staircase = StaircaseSettings(trials=26, max_steps=14, bootstrap=200, eval_batch=512)
    (probe,) = measure_layer(FeatureExtractor(model, "head"), SFS, stimuli, settings, staircase, torch.device("cpu"))
    low, high = probe.peak_ci
    assert low <= float(weights.shape.peak) <= high, (probe.peak, probe.peak_ci)
    assert int(probe.sensitivity.argmax()) == SFS.index(f0)

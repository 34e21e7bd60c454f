"""The training-time estimate printed before long training: a measured, simple cost model."""

from __future__ import annotations

import pytest
import torch

from bilin.models import ModelSpec
from bilin.train import cost

CPU = torch.device("cpu")


def bilinear(d: int) -> ModelSpec:
    return ModelSpec("bilinear", 784, d, 10)


def test_the_measured_d512_epoch_on_two_cpu_threads(monkeypatch):
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    seconds = cost.epoch_seconds(bilinear(512), 60_000, 10_000, CPU, "fp32")
    assert seconds == pytest.approx(2.1, rel=0.2)  # README: about 2.1 s per epoch, fp32
    assert cost.epoch_seconds(bilinear(512), 60_000, 10_000, CPU, "bf16") < 0.6 * seconds
    small = cost.epoch_seconds(bilinear(30), 60_000, 10_000, CPU, "fp32")
    assert 0.1 * seconds < small < 0.4 * seconds  # measured: d=30 takes about a fifth of d=512


def test_bigger_models_and_more_data_cost_more():
    sizes = [cost.epoch_seconds(bilinear(d), 60_000, 10_000, CPU, "fp32") for d in (30, 100, 300, 1000)]
    assert sizes == sorted(sizes)
    assert cost.epoch_seconds(bilinear(64), 2048, 1000, CPU, "fp32") < cost.epoch_seconds(
        bilinear(64), 60_000, 10_000, CPU, "fp32"
    )
    cnn = ModelSpec("cnn", 3072, 64, 10, input_shape=(3, 32, 32))
    assert cost.epoch_seconds(cnn, 50_000, 10_000, CPU, "fp32") is None  # not modelled: no estimate


def test_the_plan_line_says_models_epochs_and_time():
    line = cost.plan_line(30, 3000, 5400.0, CPU)
    assert line == "training 30 models, 3000 model-epochs on cpu, about 1.5 h (estimate)"
    assert cost.plan_line(1, 2, None, CPU) == "training 1 model, 2 model-epochs on cpu"
    words = [cost.duration(s) for s in (0.2, 45, 600, 7200)]
    assert words == ["about 1 s", "about 45 s", "about 10 min", "about 2.0 h"]


def test_the_paper_grid_on_two_cpu_threads_as_measured(monkeypatch):
    """README: sizes 30-300 x 5 seeds in about 30 min, sizes 500 and 1000 in about 1.3 h more."""
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)

    def grid(sizes):
        return 5 * 100 * sum(cost.epoch_seconds(bilinear(d), 60_000, 10_000, CPU, "fp32") for d in sizes)

    assert grid([30, 50, 100, 300]) == pytest.approx(30 * 60, rel=0.2)
    assert grid([500, 1000]) == pytest.approx(1.3 * 3600, rel=0.2)

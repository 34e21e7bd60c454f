"""The training-time estimate printed before long training: a measured, simple cost model."""

from __future__ import annotations

import pytest
import torch

from bilin.models.networks import ModelSpec
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
    assert line == "training 30 models, 3000 model-epochs on cpu, about 1.5 h (a first guess from stored timings)"
    measured = cost.plan_line(4, 40, 120.0, CPU, cost.measured_basis(3))
    assert measured == "training 4 models, 40 model-epochs on cpu, about 2 min (measured on the first 3 steps)"
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


def test_the_measured_estimate_is_steps_and_validation_times_the_step():
    # 2048 // 256 = 8 steps per epoch; validating 1536 images costs as much as 1536 / (3 x 256) = 2 steps
    assert cost.measured_seconds(0.5, 2048, 1536, 256, epochs=10) == pytest.approx(0.5 * (8 + 2) * 10)
    assert cost.measured_seconds(0.5, 2100, 0, 256, epochs=1) == pytest.approx(0.5 * 8)  # partial batch dropped


class FakeClock:
    """time.perf_counter's stand-in: each step of the loop below advances it by the step's seconds."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_steps(timer: cost.StepTimer, clock: FakeClock, step_seconds: list[float], steps_in_epoch: int) -> None:
    for i, seconds in enumerate(step_seconds):
        clock.now += seconds
        timer.tick(i % steps_in_epoch, steps_in_epoch)


def test_the_step_timer_skips_the_warm_up_and_times_the_next_steps_once():
    clock, seen, synced = FakeClock(), [], []
    timer = cost.StepTimer(lambda s, n: seen.append((s, n)), sync=lambda: synced.append(clock.now), clock=clock)
    run_steps(timer, clock, [9.0, 1.0, 2.0, 3.0, 50.0, 50.0], steps_in_epoch=100)  # the slow first step is left out
    assert seen == [(pytest.approx(2.0), 3)]
    assert synced == [9.0, 15.0]  # the device waited for at both ends of the timed steps


def test_a_short_epoch_is_timed_to_its_end_and_one_step_epochs_are_never_timed():
    clock, seen = FakeClock(), []
    timer = cost.StepTimer(lambda s, n: seen.append((s, n)), clock=clock)
    run_steps(timer, clock, [9.0, 4.0, 9.0, 1.0, 1.0], steps_in_epoch=2)  # the validation between epochs: not timed
    assert seen == [(pytest.approx(4.0), 1)]
    clock, seen = FakeClock(), []
    timer = cost.StepTimer(lambda s, n: seen.append((s, n)), clock=clock)
    run_steps(timer, clock, [9.0, 9.0, 9.0], steps_in_epoch=1)
    assert seen == []  # the first guess stands


def test_epoch_lines_say_the_time_left_at_the_last_epochs_pace():
    assert cost.epoch_line(3, 20, 10.0) == "epoch 3/20, about 3 min left"  # 17 epochs x 10 s
    assert cost.epoch_line(20, 20, 6.0) == "epoch 20/20"


def test_the_trainer_times_its_first_steps(tiny_root):
    from bilin.data import load_dataset
    from bilin.models.networks import build_model
    from bilin.train.buffers import DeviceData
    from bilin.train.loop import Trainer
    from bilin.train.records import HParams

    ds = load_dataset("mnist", tiny_root, download=False)
    clock, seen = FakeClock(), []

    def tick_clock() -> float:  # one second per reading: the timed steps take 1 s each
        clock.now += 1.0
        return clock.now

    timer = cost.StepTimer(lambda s, n: seen.append((s, n)), clock=tick_clock)
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, CPU)
    trainer = Trainer(build_model(bilinear(16)), data, HParams(epochs=1, batch_size=64), CPU, step_timer=timer)
    assert trainer.fit().status == "complete"
    assert seen == [(pytest.approx(1 / 3), 3)]  # two clock readings, 1 s apart, around the 3 steps after the first

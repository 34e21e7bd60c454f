"""How long training will take, said before it starts: a simple cost model, measured.

Seconds per model and epoch = images x (a fixed cost per image + matmul FLOPs per image / the
device's rate). The fixed cost is the noise, batch gathering and the optimiser's per-step work.
A training image costs 2 FLOPs per multiply-add forward and 4 backward, except the first layer's
backward, which needs no input gradient (2); a validation image costs the forward only. For the
d=512 bilinear MNIST model that is the 301 GFLOP per epoch the README states. The constants were
measured with benchmarks/bench_train.py on this project's machines:

- CPU (2 cores, fp32): the matmuls run at about 154 GFLOP/s. The fixed cost, 8 us per image and
  model, is fitted to three measured cases: one d=512 model, 2.1 s per epoch (the model says
  2.45 s); the paper's grid at 100 epochs, 20 models of sizes 30-300 in about 30 min (says
  26 min) and the 10 of sizes 500 and 1000 in about 1.3 h (says 1.3 h). bf16 (where the CPU
  multiplies it natively) halves the matmul time. Other CPUs are scaled by their thread count,
  which is rough.
- CUDA (an H100, CUDA graph): about 0.012 s per model and epoch at these sizes (89 model-epochs
  per second over the paper's grid), dominated by the fixed cost.

It is a first guess for planning ("about 40 min"), said before anything runs; the CNN is not
modelled. The machine at hand may be slower or busier than these, so once training starts, the
first steps are timed (StepTimer) and the estimate said again from that measurement
(measured_seconds).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from bilin.models.networks import ModelSpec

CPU_FLOPS_PER_THREAD = 77e9  # 154 GFLOP/s on 2 threads (fp32 sgemm)
CPU_SECONDS_PER_IMAGE = 8e-6
CUDA_FLOPS = 40e12
CUDA_SECONDS_PER_IMAGE = 0.2e-6
BF16_SPEEDUP = 2.0  # CPU matmuls in bf16 (AVX512-BF16 / AMX), as measured: 0.83-1.1 s vs 2.0 s per epoch


def layer_macs(spec: ModelSpec) -> tuple[int, int] | None:
    """Multiply-adds per image of an MLP's first layer and of the rest (None for the CNN)."""
    d = spec.d_hidden
    hidden = {"bilinear": 2 * d * d, "relu": d * d}.get(spec.kind)
    if hidden is None:
        return None
    return spec.d_input * d, hidden + d * spec.d_output


def epoch_seconds(spec: ModelSpec, n_train: int, n_test: int, device: torch.device, precision: str) -> float | None:
    """Estimated seconds of one epoch (training + validation) of one model, or None if not modelled."""
    macs = layer_macs(spec)
    if macs is None:
        return None
    first, rest = macs
    flops = n_train * (4 * first + 6 * rest) + n_test * 2 * (first + rest)
    if device.type == "cuda":
        return (n_train + n_test) * CUDA_SECONDS_PER_IMAGE + flops / CUDA_FLOPS
    rate = CPU_FLOPS_PER_THREAD * torch.get_num_threads() * (BF16_SPEEDUP if precision == "bf16" else 1.0)
    return n_train * CPU_SECONDS_PER_IMAGE + flops / rate


def duration(seconds: float) -> str:
    """A rough duration in words: 'about 40 s', 'about 12 min', 'about 2.5 h'."""
    if seconds < 90:
        return f"about {max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"about {seconds / 60:.0f} min"
    return f"about {seconds / 3600:.1f} h"


FIRST_GUESS = "a first guess from stored timings"
WARMUP_STEPS = 1  # first-call costs: allocation, kernel selection, CUDA graph capture
TIMED_STEPS = 3


def plan_line(
    n_models: int, model_epochs: int, seconds: float | None, device: torch.device, basis: str = FIRST_GUESS
) -> str:
    """What training is about to do, in one line: models, epochs, the estimated time and what it rests on."""
    models = f"{n_models} model{'s' if n_models != 1 else ''}"
    estimate = f", {duration(seconds)} ({basis})" if seconds is not None else ""
    return f"training {models}, {model_epochs} model-epochs on {device.type}{estimate}"


def epoch_line(epoch: int, epochs: int, epoch_seconds: float) -> str:
    """'epoch 3/20, about 1 min left': the epochs left at the last epoch's measured time."""
    left = f", {duration(epoch_seconds * (epochs - epoch))} left" if epoch < epochs else ""
    return f"epoch {epoch}/{epochs}{left}"


def measured_basis(steps: int) -> str:
    return f"measured on the first {steps} step{'s' if steps != 1 else ''}"


def measured_seconds(step_seconds: float, n_train: int, n_test: int, batch_size: int, epochs: int) -> float:
    """Seconds of `epochs` epochs from the measured seconds of one training step (all the models
    trained together take one step together). An epoch is n_train // batch_size steps (the last
    partial batch is dropped) and a validation pass: a forward pass over the test images, taken as a
    third of a training step's cost per image (forward 2, backward 4 FLOPs per multiply-add)."""
    validation_steps = n_test / (3 * batch_size)
    return step_seconds * (n_train // batch_size + validation_steps) * epochs


class StepTimer:
    """Seconds per training step, measured on the run's own first steps: the clock starts after
    `warmup` steps and stops `steps` steps later (or at the end of a shorter epoch), and
    `on_measured(seconds per step, steps timed)` is called once. `sync` waits for the device at
    both ends (a GPU runs the queued steps asynchronously)."""

    def __init__(
        self,
        on_measured: Callable[[float, int], None],
        steps: int = TIMED_STEPS,
        warmup: int = WARMUP_STEPS,
        sync: Callable[[], None] = lambda: None,
        clock: Callable[[], float] = time.perf_counter,
    ):
        self.on_measured, self.steps, self.warmup, self.sync, self.clock = on_measured, steps, warmup, sync, clock
        self.started: float | None = None
        self.done = False

    @classmethod
    def on(cls, device: torch.device, on_measured: Callable[[float, int], None]) -> StepTimer:
        sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)
        return cls(on_measured, sync=sync)

    def tick(self, step: int, steps_in_epoch: int) -> None:
        """After step `step` (0-based) of an epoch of `steps_in_epoch` steps."""
        if self.done:
            return
        if step + 1 == self.warmup:  # (again, if the last epoch ended before any step was timed)
            self.sync()
            self.started = self.clock()
            return
        if self.started is None or step < self.warmup:
            return
        timed = step + 1 - self.warmup
        if timed == self.steps or step + 1 == steps_in_epoch:
            self.sync()
            self.done = True
            self.on_measured((self.clock() - self.started) / timed, timed)

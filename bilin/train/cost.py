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

It is an estimate for planning ("about 40 min"), not a promise; the CNN is not modelled.
"""

from __future__ import annotations

import torch

from bilin.models import ModelSpec

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


def plan_line(n_models: int, model_epochs: int, seconds: float | None, device: torch.device) -> str:
    """What training is about to do, in one line: models, epochs and the estimated time."""
    models = f"{n_models} model{'s' if n_models != 1 else ''}"
    estimate = f", {duration(seconds)} (estimate)" if seconds is not None else ""
    return f"training {models}, {model_epochs} model-epochs on {device.type}{estimate}"

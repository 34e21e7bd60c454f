"""Seconds for a rank-30 CP (and the HOSVD) of a d=512 bilinear MLP's class tensor on this machine.

    python benchmarks/bench_cp.py [run_dir] [--steps N]

Without a run folder a freshly initialised model is used (the cost per L-BFGS iteration does not depend
on training; how many iterations run before convergence can). It also times one objective evaluation
on the reduced tensor K (d x d per class) and on the input-space tensor (inputs x inputs per class).
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

import bilin
from bilin.analysis.class_tensor import ClassTensor
from bilin.analysis.cp import fit_cp, least_squares
from bilin.analysis.cp_settings import SharedSettings
from bilin.analysis.hosvd import hosvd
from bilin.analysis.quadratic_moments import input_forms
from bilin.models.networks import ModelSpec, build_model


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
    except OSError:
        lines = []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown CPU"


def objective_seconds(forms: torch.Tensor, rank: int, repeats: int = 5) -> float:
    """Median seconds of one objective evaluation and its gradient."""
    raw = torch.randn(rank, forms.shape[-1], dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    raw.requires_grad_()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        least_squares(forms, raw / raw.norm(dim=1, keepdim=True), 0.01)[1].backward()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run", nargs="?")
    parser.add_argument("--steps", type=int, default=SharedSettings.cp_steps)
    args = parser.parse_args()
    if args.run:
        model = bilin.load_model(args.run)
    else:
        torch.manual_seed(0)
        model = build_model(ModelSpec("bilinear", 784, 512, 10))
    settings = SharedSettings(method="cp", cp_steps=args.steps)
    start = time.perf_counter()
    tensor = ClassTensor.of_model(model)
    reduce = time.perf_counter() - start
    start = time.perf_counter()
    hosvd(tensor)
    hosvd_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fit = fit_cp(tensor, settings)
    cp_seconds = time.perf_counter() - start
    reduced = objective_seconds(tensor.forms, settings.rank)
    full = objective_seconds(input_forms(model)[0], settings.rank)
    d = model.embed.weight.shape[0]
    print(
        f"cp d={d} rank={settings.rank}: {cp_seconds:.1f} s for {fit.steps} L-BFGS iterations "
        f"(cosine {float(fit.cosine[-1]):.4f}); reduction {reduce:.2f} s, HOSVD {hosvd_seconds:.2f} s; "
        f"one objective + gradient {1000 * reduced:.1f} ms on K ({tensor.forms.shape[-1]}^2 per class) vs "
        f"{1000 * full:.1f} ms on the input-space tensor; {torch.get_num_threads()} threads, {cpu_name()}"
    )


if __name__ == "__main__":
    main()

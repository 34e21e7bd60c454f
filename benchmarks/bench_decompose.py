"""Seconds to eigendecompose a d=512 bilinear MLP (10 classes) on this machine.

    python benchmarks/bench_decompose.py [run_dir]

Without a run folder a freshly initialised model is used (the cost does not depend on training).
"""

from __future__ import annotations

import statistics
import sys
import time

import torch

import bilin
from bilin.analysis.decompose import eigendecompose
from bilin.models.networks import ModelSpec, build_model


def main() -> None:
    if len(sys.argv) > 1:
        model = bilin.load_model(sys.argv[1])
    else:
        torch.manual_seed(0)
        model = build_model(ModelSpec("bilinear", 784, 512, 10))
    eigendecompose(model)  # warm-up: the first LAPACK call loads its kernels
    times = []
    for _ in range(10):
        start = time.perf_counter()
        eigendecompose(model)
        times.append(time.perf_counter() - start)
    print(
        f"decompose d={model.embed.weight.shape[0]}: {statistics.median(times):.3f} s median, "
        f"{min(times):.3f} s best of 10 ({torch.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()

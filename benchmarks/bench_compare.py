"""Seconds for the exact functional similarity of every pair of a 30-model grid (`bilin compare`).

    python benchmarks/bench_compare.py [--device cuda]

The grid of the paper: sizes 30, 50, 100, 300, 500, 1000 x 5 seeds, random-initialised bilinear MLPs on
28 x 28 inputs (the cost does not depend on training), 465 pairs with the diagonal. Timed apart: building
each model's FormStats (M Sigma, M mu, Sigma M mu: FormStats.of_model, from the weights' factors) and all
pairs from them
(bilin.analysis.model_compare.similarity_matrix), for the standard Gaussian and for a dense covariance like
the data law's (random images: the same cost). For contrast: the dense FormStats.of of the forms M_c, and pair by pair
`similarity(a, b)` on a few pairs.
"""

from __future__ import annotations

import argparse
import itertools
import time

import torch

from bilin.analysis.model_compare import similarity_matrix
from bilin.analysis.quadratic_moments import FormStats, InputLaw, input_forms, similarity
from bilin.models.networks import BilinearMLP

SIZES = (30, 50, 100, 300, 500, 1000)
SEEDS = range(5)
PAIRS_TIMED = 10


def synchronise(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    device = torch.device(parser.parse_args().device)
    models = []
    for size, seed in itertools.product(SIZES, SEEDS):
        torch.manual_seed(seed)
        models.append(BilinearMLP(784, size, 10).to(device))
    images = torch.rand(2000, 784, generator=torch.Generator().manual_seed(0))
    laws = (InputLaw.standard(784), InputLaw.of_data(images))
    pairs = len(models) * (len(models) + 1) // 2
    where = (
        f"{device.type}, {torch.get_num_threads()} threads" if device.type == "cpu" else torch.cuda.get_device_name()
    )
    print(f"exact similarity of {len(models)} models ({pairs} pairs with the diagonal) on {where}:")
    laws = [InputLaw(law.name, law.mean.to(device), law.cov.to(device)) for law in laws]
    FormStats.of_model(models[0], laws[0])  # warm-up: the first BLAS call loads its kernels
    for law in laws:
        start = time.perf_counter()
        stats = [FormStats.of_model(m, law) for m in models]
        synchronise(device)
        built = time.perf_counter() - start
        start = time.perf_counter()
        for m in models:
            forms, constant = input_forms(m)
            FormStats.of(forms, law.augmented() if constant else law)
        synchronise(device)
        dense = time.perf_counter() - start
        start = time.perf_counter()
        similarity_matrix(stats)
        synchronise(device)
        paired = time.perf_counter() - start
        start = time.perf_counter()
        for a, b in itertools.islice(itertools.combinations(stats, 2), PAIRS_TIMED):
            similarity(a, b)
        synchronise(device)
        one_by_one = (time.perf_counter() - start) / PAIRS_TIMED
        print(
            f"  {law.name} law: FormStats of every model {built:.2f} s (dense, FormStats.of M_c: {dense:.2f} s), "
            f"all pairs {paired:.2f} s (pair by pair: {one_by_one * 1000:.0f} ms a pair, {one_by_one * pairs:.0f} s)"
        )
        del stats


if __name__ == "__main__":
    main()

"""Model-epochs per second: N models trained batched (BatchedTrainer) vs one by one (Trainer).

    python benchmarks/bench_batched.py [--size 50] [--models 5] [--epochs 2]

On a GPU the batched path removes per-model launch overhead; on a 2-core CPU the arithmetic
is the same, and the gain comes from fewer, larger kernels.
"""

from __future__ import annotations

import argparse
import os
import time

import torch

from bilin.data import load_dataset
from bilin.models import ModelSpec, build_model
from bilin.train.batched import BatchedTrainer, Member
from bilin.train.loop import DeviceData, HParams, Trainer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size", type=int, default=50)
    parser.add_argument("--models", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ds = load_dataset("mnist", os.environ.get("BILIN_DATA", "data"), download=False)
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, device)
    spec = ModelSpec("bilinear", 784, args.size, 10)
    hp = HParams(epochs=args.epochs, noise=0.4)
    members = [Member(seed, 0.4) for seed in range(args.models)]

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    BatchedTrainer(spec, members, data, hp, device).fit()
    sync()
    batched = time.perf_counter() - start
    start = time.perf_counter()
    for member in members:
        torch.manual_seed(member.seed)
        Trainer(build_model(spec).to(device), data, HParams(**{**hp.__dict__, "seed": member.seed}), device).fit()
    sync()
    separate = time.perf_counter() - start
    work = args.models * args.epochs
    print(f"{device.type}: {args.models} models x d={args.size} x {args.epochs} epochs: batched {batched:.1f} s "
          f"({work / batched:.2f} model-epochs/s), one by one {separate:.1f} s ({work / separate:.2f} model-epochs/s)")


if __name__ == "__main__":
    main()

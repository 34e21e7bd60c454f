"""Model-epochs per second: N models trained together by one Trainer vs one by one.

    python benchmarks/bench_batched.py [--sizes 50] [--models 5] [--epochs 2]
    python benchmarks/bench_batched.py --sizes 30 50 100 300 500 1000 --epochs 10   # the paper's grid

On a GPU the batched path removes per-model launch overhead; on a 2-core CPU the arithmetic
is the same, and the gain comes from fewer, larger kernels.
"""

from __future__ import annotations

import argparse
import time

import torch

from bilin.data import load_dataset
from bilin.models.networks import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.loop import Trainer
from bilin.train.records import HParams, Member


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[50])
    parser.add_argument("--models", type=int, default=5, help="seeds per size")
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    ds = load_dataset("mnist", download=False)  # BILIN_DATA, else bilin/data/roots.py's search
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, device)
    hp = HParams(epochs=args.epochs, noise=0.4)
    members = [Member(seed, 0.4) for seed in range(args.models)]
    totals = [0.0, 0.0]
    for size in args.sizes:
        spec = ModelSpec("bilinear", 784, size, 10)
        batched = timed(device, lambda spec=spec: train_together(spec, members, data, hp, device))
        separate = timed(device, lambda spec=spec: [train_alone(spec, member, data, hp, device) for member in members])
        report(device, f"d={size}", args.models, args.epochs, batched, separate)
        totals = [totals[0] + batched, totals[1] + separate]
    if len(args.sizes) > 1:
        report(device, "all sizes", args.models * len(args.sizes), args.epochs, *totals)


def train_together(spec: ModelSpec, members: list[Member], data: DeviceData, hp: HParams, device) -> None:
    models = [build_model(spec, torch.Generator().manual_seed(m.seed)) for m in members]
    Trainer(models, data, hp, device, members).fit()


def train_alone(spec: ModelSpec, member: Member, data: DeviceData, hp: HParams, device: torch.device) -> None:
    model = build_model(spec, torch.Generator().manual_seed(member.seed)).to(device)
    Trainer(model, data, HParams(**{**hp.__dict__, "seed": member.seed, "noise": member.noise}), device).fit()


def timed(device: torch.device, work) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def report(device: torch.device, label: str, models: int, epochs: int, batched: float, separate: float) -> None:
    work = models * epochs
    print(
        f"{device.type}: {label}: {models} models x {epochs} epochs: batched {batched:.1f} s "
        f"({work / batched:.1f} model-epochs/s), one by one {separate:.1f} s "
        f"({work / separate:.1f} model-epochs/s)",
        flush=True,
    )


if __name__ == "__main__":
    main()

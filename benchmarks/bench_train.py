"""Training speed (seconds per epoch, d=512, MNIST) and, with --full, the accuracy table.

    python benchmarks/bench_train.py            # CPU: fp32 and bf16; CUDA (if present): 100-epoch wall
    python benchmarks/bench_train.py --full     # 100-epoch runs of the three models on both datasets

Timings are of `Trainer.fit`, i.e. training plus the per-epoch validation pass, after one
warm-up epoch; data loading and figure export are excluded.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from bilin.data import load_dataset
from bilin.models.networks import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.loop import Trainer
from bilin.train.records import HParams, StopRequest

DATA_ROOT = None  # BILIN_DATA, else bilin/data/roots.py's search


def make_trainer(device: torch.device, dataset: str = "mnist", kind: str = "bilinear", gate=None, **hp) -> Trainer:
    ds = load_dataset(dataset, DATA_ROOT, download=False)
    torch.manual_seed(420)
    model = build_model(ModelSpec(kind, 784, 512, 10, gate=gate)).to(device)
    data = DeviceData.from_uint8(ds.train_x, ds.train_y, ds.test_x, ds.test_y, device)
    return Trainer(model, data, HParams(**{"seed": 420, **hp}), device)


def seconds_per_epoch(device: torch.device, precision: str, epochs: int) -> tuple[float, float]:
    trainer = make_trainer(device, precision=precision, epochs=epochs + 1)
    trainer._train_epoch(StopRequest())  # warm-up
    times = []
    for _ in range(epochs):
        start = time.perf_counter()
        trainer._train_epoch(StopRequest())
        trainer.evaluate()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def cuda_wall(precision: str, compile_mode: str, cuda_graph: bool, epochs: int = 100) -> tuple[float, float]:
    device = torch.device("cuda")
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    options = dict(precision=precision, compile=compile_mode, cuda_graph=cuda_graph)
    make_trainer(device, epochs=2, **options).fit()  # compile / autotune / cuBLAS set-up outside the timed region
    trainer = make_trainer(device, epochs=epochs, **options)
    torch.cuda.synchronize()
    start = time.perf_counter()
    result = trainer.fit()
    torch.cuda.synchronize()
    torch.backends.cuda.matmul.allow_tf32 = False
    return time.perf_counter() - start, result.metrics[-1].val_acc


def graph_matches_eager(epochs: int = 3) -> tuple[float, float, float]:
    """Max |weight difference| and both val accs after a few epochs, graphed vs eager."""
    device = torch.device("cuda")
    runs = [make_trainer(device, epochs=epochs, cuda_graph=graphed) for graphed in (False, True)]
    accs = [trainer.fit().metrics[-1].val_acc for trainer in runs]
    diff = max(
        (a - b).abs().max().item() for a, b in zip(runs[0].model.parameters(), runs[1].model.parameters(), strict=True)
    )
    return diff, accs[0], accs[1]


def speed(epochs: int) -> None:
    cpu = torch.device("cpu")
    print(f"CPU ({torch.get_num_threads()} threads), d=512, MNIST, batch 2048, noise 0.5")
    for precision in ("fp32", "bf16"):
        median, best = seconds_per_epoch(cpu, precision, epochs)
        print(f"  {precision}: {median:.2f} s/epoch median, {best:.2f} best of {epochs} (train + validation)")
    if torch.cuda.is_available():
        cuda_speed()


def cuda_speed() -> None:
    diff, eager_acc, graph_acc = graph_matches_eager()
    print(
        f"CUDA graph vs eager after 3 epochs: max |weight diff| {diff:.2e}, "
        f"val acc {eager_acc * 100:.2f}% vs {graph_acc * 100:.2f}%"
    )
    print(f"CUDA: {torch.cuda.get_device_name()}: 100 epochs, wall seconds (training + validation)")
    variants = [(p, "none", graphed) for p in ("fp32", "tf32", "bf16") for graphed in (False, True)]
    variants += [("fp32", "default", False), ("fp32", "reduce-overhead", False)]
    for precision, compile_mode, graphed in variants:
        wall, acc = cuda_wall(precision, compile_mode, graphed)
        how = "CUDA graph" if graphed else ("eager" if compile_mode == "none" else f"compile={compile_mode}")
        print(f"  {precision:5s} {how:24s} {wall:6.2f} s   val acc {acc * 100:.2f}%", flush=True)


def full_accuracy_table() -> None:
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    print("100 epochs, d=512, noise 0.5, seed 420: final val acc")
    print(f"{'model':22s} {'MNIST':>8s} {'F-MNIST':>8s}")
    for label, kind, gate in (
        ("bilinear", "bilinear", None),
        ("bilinear, relu gate", "bilinear", "relu"),
        ("relu MLP", "relu", None),
    ):
        row = []
        for dataset in ("mnist", "fmnist"):
            result = make_trainer(device, dataset, kind, gate, epochs=100).fit()
            row.append(result.metrics[-1].val_acc * 100)
        print(f"{label:22s} {row[0]:7.2f}% {row[1]:7.2f}%", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true", help="the 100-epoch accuracy table (slow on CPU)")
    parser.add_argument("--epochs", type=int, default=5, help="timed CPU epochs")
    parser.add_argument("--cuda-only", action="store_true", help="skip the CPU timings")
    args = parser.parse_args()
    if args.full:
        full_accuracy_table()
    elif args.cuda_only:
        cuda_speed()
    else:
        speed(args.epochs)

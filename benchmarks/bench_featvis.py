"""featvis speed: all targets in one batch vs one target at a time.

    python benchmarks/bench_featvis.py            # CPU: d=512 bilinear MNIST, 10 classes x 4, 512 steps, all tricks
    python benchmarks/bench_featvis.py --resnet   # ResNet18 (random weights) 224 px, 10 classes x 1, 512 steps,
                                                  # robustness + Fourier + decorrelation (CUDA when present)

Times `render` only (model set-up excluded), after a short warm-up.
"""

from __future__ import annotations

import argparse
import time

import torch

from bilin.featvis.colour import imagenet_colour_basis
from bilin.featvis.objectives import parse_targets
from bilin.featvis.render import Settings, Tricks, render
from bilin.models.networks import ModelSpec, build_model


def timed(model, shape, targets, settings, tricks, colour, device) -> float:
    render(
        model, shape, targets, Settings(steps=3, images_per_target=settings.images_per_target), tricks, colour, device
    )  # warm-up (cuDNN autotune, lazy inits)
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    render(model, shape, targets, settings, tricks, colour, device)
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def compare(label, model, shape, targets, settings, tricks, colour, device) -> None:
    batched = timed(model, shape, targets, settings, tricks, colour, device)
    print(f"{label}: all {len(targets)} targets in one batch {batched:.2f} s", flush=True)
    alone = sum(timed(model, shape, [t], settings, tricks, colour, device) for t in targets)
    print(f"{label}: one target at a time {alone:.2f} s ({alone / batched:.1f}x slower)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resnet", action="store_true")
    parser.add_argument("--steps", type=int, default=512)
    args = parser.parse_args()
    if args.resnet:
        from bilin.featvis.sources import from_torchvision

        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
        torch.manual_seed(0)
        model = from_torchvision("resnet18", "none", 224, device).model
        tricks = Tricks(robustness=True, fourier=True, decorrelate=True)
        compare(
            f"{device.type} resnet18 224px, {args.steps} steps",
            model,
            (3, 224, 224),
            parse_targets([f"class:{c}" for c in range(10)], 1000),
            Settings(steps=args.steps),
            tricks,
            imagenet_colour_basis(),
            device,
        )
        return
    device = torch.device("cpu")
    torch.manual_seed(0)
    model = build_model(ModelSpec("bilinear", 784, 512, 10)).eval()
    tricks = Tricks(
        robustness=True, fourier=True, decorrelate=True, diversity=1.0, l2=0.01, blur_every=16, redirect_relu_steps=16
    )
    settings = Settings(steps=args.steps, images_per_target=4)
    compare(
        f"cpu bilinear d=512, 10 classes x 4 images, {args.steps} steps, all tricks",
        model,
        (1, 28, 28),
        parse_targets(["class:all"], 10),
        settings,
        tricks,
        None,
        device,
    )


if __name__ == "__main__":
    main()

"""probe-csf end to end (probe training + staircases + fits), timed inside one process.

python benchmarks/bench_csf.py            # tiny: random ResNet18 layer1, 32 px, 2 epochs, 5 frequencies (CPU)
python benchmarks/bench_csf.py --full     # docs/science.md section 8 default: ResNet50 layer2, 224 px,
                                          # 1000 pairs x 10 epochs, 11 frequencies, fit + bootstrap CI
                                          # (random weights; CUDA if present)
"""

from __future__ import annotations

import argparse
import time

import torch

from bilin.csf.probe import FeatureExtractor, grating_observer, pair_features, train_probe
from bilin.csf.psychophysics import bisection, fit_psychometric
from bilin.csf.settings import ProbeSettings
from bilin.csf.stimuli import Stimuli, default_frequencies
from bilin.featvis.sources import from_torchvision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--full", action="store_true")
    args = parser.parse_args()
    device = torch.device("cuda" if args.full and torch.cuda.is_available() else "cpu")
    name, layer, size = ("resnet50", "layer2", 224) if args.full else ("resnet18", "layer1", 32)
    settings = ProbeSettings() if args.full else ProbeSettings(pairs=160, epochs=2)
    sfs = default_frequencies(size) if args.full else [1, 2, 4, 8, 16]
    torch.manual_seed(0)
    extractor = FeatureExtractor(from_torchvision(name, "none", size, device).model, layer)
    pair_features(extractor, *[torch.rand(2, 3, size, size, device=device)] * 2)  # warm-up
    trials = 26
    stimuli = Stimuli(size)  # the tutorial's protocol, 3 channels

    def sync() -> None:
        if device.type == "cuda":
            torch.cuda.synchronize()

    sync()
    start = time.perf_counter()
    probe, history = train_probe(extractor, stimuli, settings, device)
    sync()
    trained = time.perf_counter()
    stair = bisection(grating_observer(extractor, probe, sfs, stimuli, trials, 0, device), len(sfs), trials)
    sync()
    staircased = time.perf_counter()
    fit = fit_psychometric(stair, boot=200)
    done = time.perf_counter()
    print(
        f"{device.type} {name} {layer} {size}px, {settings.pairs} pairs x {settings.epochs} epochs, "
        f"{len(sfs)} frequencies: train {trained - start:.2f} s (probe acc {history.accuracy[-1]:.3f}), "
        f"staircases {staircased - trained:.2f} s ({int((stair.steps == 20).sum())} of {len(sfs)} ran all 20 "
        f"steps), fit + 200-replicate bootstrap {done - staircased:.2f} s; total {done - start:.2f} s"
    )
    print("  thresholds:", [round(float(t), 4) for t in fit.threshold])


if __name__ == "__main__":
    main()

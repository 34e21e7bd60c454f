"""The frequency study's parts on one d=512 bilinear MLP, timed inside one process.

python benchmarks/bench_frequency.py      # weight-based CSF (closed form, 14 frequencies), then the whole
                                          # per-model measurement of `bilin frequency` (weights, probe, featvis)

The model is a random-init d=512 bilinear MLP (the timing does not depend on its training).
"""

from __future__ import annotations

import time

import torch

from bilin.csf.frequency_study import measure_model
from bilin.csf.settings import FrequencyStudySettings
from bilin.csf.stimuli import Stimuli
from bilin.csf.weight_csf import weight_csf
from bilin.models.networks import BilinearMLP

SFS = [float(f) for f in range(1, 15)]


def main() -> None:
    torch.manual_seed(0)
    model = BilinearMLP(784, 512, 10)
    stimuli = Stimuli(28, channels=1)
    weight_csf(model, SFS, stimuli, 1.0)  # warm-up
    times = []
    for _ in range(5):
        start = time.perf_counter()
        weight_csf(model, SFS, stimuli, 1.0)
        times.append(time.perf_counter() - start)
    print(f"weight-based CSF, d=512, 14 frequencies x 13 orientations: best {min(times):.3f} s of 5")
    settings = FrequencyStudySettings(sfs=SFS)  # the `frequency` command's defaults
    start = time.perf_counter()
    measure_model(model, settings, torch.device("cpu"))
    print(f"one model of `bilin frequency` (weights + probe 1000 pairs x 10 epochs + fit + featvis): "
          f"{time.perf_counter() - start:.1f} s")  # fmt: skip


if __name__ == "__main__":
    main()

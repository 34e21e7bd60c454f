"""The keys of a probe measurement that `probe-csf` and `frequency` share: one place for their
defaults (plain values, no torch: command schemas import this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bilin.schema import key

PROBE_PAIRS, PROBE_EPOCHS = 1000, 10  # the tutorial's probe training: pairs per epoch, epochs


@dataclass
class StaircaseKeys:
    protocol: Literal["tutorial", "jittered"] = key(
        "tutorial",
        "tutorial: its stimuli (phase 0, centre pixel size//2, axis-aligned rectangles); "
        "jittered: random phase, centre (size-1)/2, rotated rectangles",
    )
    trials: int = key(26, "trials per tested contrast (13 orientations cycled)", ge=1)
    max_steps: int = key(20, "bisection steps at most", ge=1)
    bootstrap: int = key(200, "bootstrap replicates for the threshold CIs", ge=1)

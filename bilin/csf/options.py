"""The keys of a probe measurement that `probe-csf` and `frequency` share: one place for their
defaults (plain values, no torch: command schemas import this)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bilin.schema import key

PROBE_PAIRS, PROBE_EPOCHS = 1000, 10  # the tutorial's probe training: pairs per epoch, epochs
TRIALS, MAX_STEPS, BOOTSTRAP = 26, 20, 200  # trials per tested contrast, bisection steps, bootstrap replicates
EVAL_BATCH = 256  # test images per forward pass
QUEST_CI_WIDTH, QUEST_MAX_STEPS = 0.1, 40  # QUEST+ stops at this 95% interval width (log10) or block count


@dataclass
class StaircaseKeys:
    protocol: Literal["tutorial", "jittered"] = key(
        "tutorial",
        "tutorial: its stimuli (phase 0, centre pixel size//2, axis-aligned rectangles); "
        "jittered: random phase, centre (size-1)/2, rotated rectangles",
    )
    trials: int = key(TRIALS, "trials per tested contrast (13 orientations cycled)", ge=1)
    max_steps: int = key(MAX_STEPS, "bisection steps at most", ge=1)
    bootstrap: int = key(
        BOOTSTRAP,
        "parametric-bootstrap replicates (the bisection replayed on each fitted observer): they calibrate each "
        "threshold's 95% interval and give the peak and bandwidth CIs",
        ge=1,
    )

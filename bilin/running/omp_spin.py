"""How long idle OpenMP threads spin before they sleep, set for a bilin process before torch loads.

torch's CPU ops run on GNU OpenMP (libgomp), whose idle threads spin GOMP_SPINCOUNT times (300,000
by default) waiting for the next parallel region before they sleep; with the PAUSE instruction of
recent Intel CPUs that is milliseconds. A training step's input noise is drawn right after the
step's last parallel op, half of it on a second thread (bilin.train.noise), and on 2 cores the
spinning OpenMP worker takes a core from it: on a 2-core Xeon a fill cost 5.4 ms after a matmul
against 2.3 ms alone, and 2.9 ms with 10,000 spins. A 5-epoch d=512 MNIST training went from 6.5 to
6.0 s (median of 6 alternating runs), its weights bit for bit the same (the spin count decides
only when a thread sleeps, not how work is split). Back-to-back ops, microseconds apart, still
find the threads spinning.

libgomp reads its settings once, when it is loaded, so `limit_spinning` runs first thing in the
`bilin` script. A GOMP_SPINCOUNT or OMP_WAIT_POLICY already in the environment is kept.
"""

from __future__ import annotations

import os

SPIN_COUNT = "10000"


def limit_spinning() -> None:
    """GOMP_SPINCOUNT=SPIN_COUNT for this process and its children, unless the user chose a policy."""
    if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
        os.environ["GOMP_SPINCOUNT"] = SPIN_COUNT

"""`slurm`: a real single-node Slurm on localhost (tests/slurm/cluster.py) for this test process.

One cluster per test process, on ports free at its start, in a temporary folder of its own:
under pytest-xdist every worker is its own session and starts its own (about a second), so no
worker waits on, or stops, another's cluster, and two test runs on one machine do not meet.
The tests' subprocesses find it through SLURM_CONF. Skipped only where Slurm is not installed and
cannot be (not root, or no apt-get); where it can be, `make slurm` installs it (`make test` does).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.slurm.cluster import PACKAGES, LocalSlurm, missing_commands, why_not_installable


@pytest.fixture(scope="session")
def slurm() -> Iterator[LocalSlurm]:
    missing = missing_commands()
    if missing:
        reason = why_not_installable()
        if reason is not None:
            pytest.skip(
                f"Slurm is not installed ({', '.join(missing)} missing) and cannot be here ({reason}): {PACKAGES}"
            )
        pytest.fail(f"Slurm is not installed ({', '.join(missing)} missing): run `make slurm` (apt-get {PACKAGES})")
    if os.geteuid() != 0:
        pytest.skip("a local Slurm needs root: slurmd starts jobs as their user, munged runs as the user munge")
    # not under pytest's own temporary folder: that one is private to root, and munged runs as munge
    cluster = LocalSlurm(Path(tempfile.mkdtemp(prefix="bilin-slurm-")))
    cluster.start()  # about a second; `pytest --durations=0` shows it as the first test's setup
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("SLURM_CONF", str(cluster.conf))  # the tests' subprocesses, bilin's jobs too
            yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(cluster.folder, ignore_errors=True)

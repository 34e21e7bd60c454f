"""A run's shown status: running only while a process holds its lock."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from filelock import FileLock

from bilin.running.liveness import DIED, RUN_LOCK, is_held, shown_status


def test_a_lock_is_held_while_a_process_holds_it_and_free_once_that_process_is_killed(tmp_path: Path) -> None:
    lock = tmp_path / RUN_LOCK
    assert not is_held(lock) and not lock.exists()  # no lock file: nobody holds it, and none is made
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from filelock import FileLock; held = FileLock({str(lock)!r}); held.acquire(); import time; "
            "print('held', flush=True); time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert is_held(lock)
        assert shown_status(tmp_path, "running") == "running"
        os.kill(holder.pid, signal.SIGKILL)  # no ending is written: only the lock can tell
        holder.wait(10)
        deadline = time.monotonic() + 5
        while is_held(lock) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_held(lock)
        assert shown_status(tmp_path, "running") == DIED
        assert shown_status(tmp_path, "complete") == "complete"
    finally:
        holder.kill()


def test_a_lock_held_in_this_process_counts_as_held(tmp_path: Path) -> None:
    with FileLock(tmp_path / RUN_LOCK):
        assert is_held(tmp_path / RUN_LOCK)
    assert not is_held(tmp_path / RUN_LOCK)

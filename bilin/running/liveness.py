"""Whether a process still holds a run's (or a cache entry's) lock, and what a run's status truly is.

bilin writes `running` into run.json when a run starts and its ending when it ends; a process that
is killed (SIGKILL, the OOM killer, a lost node) never writes its ending. The run's lock tells the
truth: the kernel drops a process's flock when the process dies, however it died.
"""

from __future__ import annotations

import fcntl
import os
from datetime import datetime, timezone
from pathlib import Path

RUN_LOCK = ".lock"  # in a run folder, held while a process writes the run (a run, or its resume)
DIED = "died"  # shown for a run whose run.json says running while no process holds its lock


def is_held(lock: Path) -> bool:
    """True while some process holds the flock on `lock`. Never creates the file: a lock file that
    does not exist is held by nobody. A lock that cannot be opened is taken as held (unknown)."""
    try:
        fd = os.open(lock, os.O_RDONLY)
    except FileNotFoundError:
        return False
    except OSError:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def last_write(folder: Path) -> str:
    """UTC time (ISO, seconds) of the newest file directly in `folder` or its figures/, '' if none."""
    times = []
    for path in [*folder.glob("*"), *folder.glob("figures/*")]:
        try:
            if path.is_file():
                times.append(path.stat().st_mtime)
        except OSError:
            continue
    if not times:
        return ""
    return datetime.fromtimestamp(max(times), tz=timezone.utc).isoformat(timespec="seconds")


def shown_status(folder: Path, recorded: str) -> str:
    """The status to show for a run folder: `recorded` (run.json's), except that a run recorded as
    running while no process holds its lock is shown as died."""
    if recorded == "running" and not is_held(folder / RUN_LOCK):
        return DIED
    return recorded

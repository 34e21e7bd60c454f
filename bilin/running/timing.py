"""Where a run's wall time goes, from the process's start to the run's end, by phase.

The phases are contiguous: each begins where the one before ended, so they add up to the run's wall
time (`total`) and nothing goes unaccounted. The CLI marks the first two (`startup`: the interpreter
and bilin's CLI imports; `config`: composing and checking the config, making the run folder), the
lifecycle and the commands the rest (`setup`, `imports`, `data`, `model`, `training`, `evaluation`,
`writes`, `figures`). Time a command spends outside any named phase is `other`.
run.json records it as `timing`; `make bench` prints it.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

STARTUP = "startup"
OTHER = "other"


def _process_age() -> float:
    """Seconds since this process started (Linux: /proc, 10 ms resolution); 0 where unknown."""
    try:
        with open("/proc/self/stat", "rb") as stat, open("/proc/uptime", "rb") as uptime:
            started_ticks = int(stat.read().rsplit(b")", 1)[1].split()[19])
            return max(0.0, float(uptime.read().split()[0]) - started_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return 0.0


class Clock:
    """The phases of one run: `switch(name)` ends the current phase and starts `name`."""

    def __init__(self, origin: float, first: str) -> None:
        self.phases: dict[str, float] = {}
        self._current, self._since = first, origin
        self._origin = origin

    def switch(self, name: str) -> str:
        """Start phase `name` now; returns the phase it ends (to switch back to)."""
        now = time.perf_counter()
        ended = self._current
        self.phases[ended] = self.phases.get(ended, 0.0) + now - self._since
        self._current, self._since = name, now
        return ended

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Inside: phase `name`; after: the phase that was running before."""
        before = self.switch(name)
        try:
            yield
        finally:
            self.switch(before)

    def breakdown(self) -> dict[str, float]:
        """Seconds per phase so far (the current one included) and their sum, `total`."""
        self.switch(self._current)
        phases = {name: round(seconds, 3) for name, seconds in self.phases.items() if seconds > 0.0005}
        return {**phases, "total": round(time.perf_counter() - self._origin, 3)}


_process_clock: Clock | None = Clock(time.perf_counter() - _process_age(), STARTUP)


def run_clock(first: str) -> Clock:
    """The clock of the run starting now in phase `first`: the process's own clock for the first run of a
    process (so `startup` and `config` are counted), a new one for any later run (a sequential sweep)."""
    global _process_clock
    clock, _process_clock = _process_clock, None
    if clock is None:
        return Clock(time.perf_counter(), first)
    clock.switch(first)
    return clock


def mark(name: str) -> None:
    """The process's phase is `name` from now, before its first run starts (the CLI's config phase)."""
    if _process_clock is not None:
        _process_clock.switch(name)

"""Progress of long work, three ways:

- on a terminal, a rich bar (epochs, steps) or spinner (the model cache's training) on stderr;
- not on a terminal (a log file, a batch job, a pipe), plain lines on stderr instead: one per
  epoch, one per tenth of a step loop, one per cache training update, so a long job is never
  silent (rich draws nothing there until the end);
- quiet=true: train prints one plain line per epoch on stdout (as it always has); steps and the
  cache's updates print nothing.

Epoch lines and cache updates also go to the run's log.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bilin.train.records import EpochMetrics

log = logging.getLogger("bilin.train")
PLAIN_STEP_LINES = 10  # lines per step loop when stderr is not a terminal


def interactive() -> bool:
    """Whether stderr is a terminal, where live bars are drawn (rich's own test: TERM, FORCE_COLOR...)."""
    return Console(stderr=True).is_terminal


def plain(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def describe(m: EpochMetrics, total: int | None = None) -> str:
    return (
        f"epoch {m.epoch}{f'/{total}' if total else ''}: train loss {m.train_loss:.4f} acc {m.train_acc * 100:.2f}% | "
        f"val loss {m.val_loss:.4f} acc {m.val_acc * 100:.2f}% | {m.seconds:.2f}s"
    )


@contextmanager
def epoch_progress(label: str, total: int, done: int, quiet: bool) -> Iterator[Callable[[EpochMetrics], None]]:
    if quiet:

        def report(m: EpochMetrics) -> None:
            log.info(describe(m))
            print(describe(m), flush=True)

        yield report
        return
    if not interactive():

        def report(m: EpochMetrics) -> None:
            log.info(describe(m))
            plain(f"{label}, {describe(m, total)}")

        yield report
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[metrics]}"),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        task = progress.add_task(label, total=total, completed=done, metrics="")

        def report(m: EpochMetrics) -> None:
            log.info(describe(m))
            progress.update(task, completed=m.epoch, metrics=(f"loss {m.train_loss:.3f} | val {m.val_acc * 100:.2f}%"))

        yield report


class StepProgress:
    """A loop of `total` steps in named phases: a rich bar, plain lines, or nothing (quiet)."""

    def __init__(self, total: int, bar: Progress | None, lines: bool):
        self.total, self.done, self.name = total, 0, ""
        self._bar, self._lines = bar, lines
        self._task = bar.add_task("", total=total) if bar is not None else None
        self._every = max(total // PLAIN_STEP_LINES, 1)

    def phase(self, name: str) -> None:
        self.name = name
        if self._bar is not None:
            self._bar.update(self._task, description=name)
        elif self._lines:
            plain(f"{name}: step {self.done}/{self.total}")

    def advance(self) -> None:
        self.done += 1
        if self._bar is not None:
            self._bar.advance(self._task)
        elif self._lines and (self.done % self._every == 0 or self.done == self.total):
            plain(f"{self.name}: step {self.done}/{self.total}")


@contextmanager
def step_progress(total: int, quiet: bool) -> Iterator[StepProgress]:
    """Progress over `total` steps on stderr: a bar on a terminal, else a line per tenth; quiet: silent."""
    if quiet or not interactive():
        yield StepProgress(total, None, lines=not quiet)
        return
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    ) as bar:
        yield StepProgress(total, bar, lines=False)


@contextmanager
def status_updates(console: Console, label: str) -> Iterator[Callable[[str], None]]:
    """Updates of a long wait (the model cache's training): a spinner on a terminal, else one line
    per new update, through `console` (quiet when the run is). Each new update is also logged."""
    last = [""]

    def logged(text: str) -> bool:
        if text == last[0]:
            return False
        last[0] = text
        log.info(text)
        return True

    if not console.is_terminal:

        def line(text: str) -> None:
            if logged(text):
                console.print(text, highlight=False, markup=False, soft_wrap=True)

        yield line
        return
    with console.status(label) as status:

        def spin(text: str) -> None:
            logged(text)
            status.update(text)

        yield spin

"""Epoch progress: a rich bar with live metrics, or one plain line per epoch (quiet mode, logs)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from bilin.train.records import EpochMetrics

log = logging.getLogger("bilin.train")


def describe(m: EpochMetrics) -> str:
    return (
        f"epoch {m.epoch}: train loss {m.train_loss:.4f} acc {m.train_acc * 100:.2f}% | "
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


@contextmanager
def step_progress(total: int, quiet: bool) -> Iterator[tuple[Progress, TaskID]]:
    """A rich bar over `total` steps on stderr (silent when quiet); set its description per phase."""
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=quiet,
    ) as progress:
        yield progress, progress.add_task("", total=total)

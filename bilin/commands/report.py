"""`bilin report [folders...]`: one offline static site of every run, sweep and bilinear model."""

from __future__ import annotations

import math
import time
from pathlib import Path

import typer

from bilin.errors import UserError, exit_with
from bilin.running.command import Command
from bilin.settings.options import OUTPUTS_ROOT

MIN_WATCH_SECONDS = 0.5  # below this --watch would rewrite the report in a busy loop


def watch_seconds(text: str) -> float:
    """--watch's value: 0 (write once) or a finite number of seconds, at least MIN_WATCH_SECONDS."""
    try:
        seconds = float(text)
    except ValueError:
        raise UserError(f"--watch {text}: not a number of seconds") from None
    if seconds == 0:
        return 0.0
    if not math.isfinite(seconds) or seconds < MIN_WATCH_SECONDS:
        raise UserError(
            f"--watch {text}: give the seconds between rewrites, a finite number of at least "
            f"{MIN_WATCH_SECONDS:g} (or 0: write the report once)"
        )
    return seconds


def report(
    folders: list[Path] = typer.Argument(
        None, help=f"folders holding runs (searched recursively); default {OUTPUTS_ROOT}"
    ),
    out: Path = typer.Option(None, "--out", help="the report's folder (default: <first folder>/report)"),
    data_root: str = typer.Option(
        None, "--data-root", help="test images for the explorers (default: found as data.root finds it)"
    ),
    explorers: bool = typer.Option(
        True, "--explorers/--no-explorers", help="an eigenvector explorer per bilinear model"
    ),
    watch: str = typer.Option(
        "0",
        "--watch",
        metavar="SECONDS",
        help=f"rewrite the report every this many seconds (>= {MIN_WATCH_SECONDS:g}) while a run is running (0: once)",
    ),
) -> None:
    """Write one static site (works offline from file://): a sortable table of every run, a page per
    run and per sweep, runs.csv, and an eigenvector explorer per ungated bilinear model."""
    from bilin.report.runs import REPORT_DIR  # light: the heavy imports wait for the checks below

    folders = folders or [Path(OUTPUTS_ROOT)]
    target = out or folders[0] / REPORT_DIR
    missing = [f for f in folders if not f.is_dir()]
    try:
        seconds = watch_seconds(watch)
        if missing:
            raise UserError(f"{missing[0]} is not a folder; give folders holding bilin runs (default {OUTPUTS_ROOT})")
        from bilin.report.site import write_report  # after the checks: it imports torch and plotly

        while True:
            summary = write_report(folders, target, Path(data_root) if data_root else None, explorers, print, seconds)
            explorer_pages = sum(e.page is not None for e in summary.explorers)
            pages = 1 + summary.runs + summary.sweeps + explorer_pages
            print(
                f"report: {summary.runs} runs, {summary.sweeps} sweeps, "
                f"{explorer_pages} explorers "
                f"({summary.explorers_rebuilt} rebuilt), "
                f"{pages} pages in {summary.seconds:.1f} s: {summary.index}"
            )
            if not seconds:
                break
            if not summary.running:
                print("report: no run is running (a run whose process died is shown as died); stopped watching")
                break
            print(f"report: {summary.running} runs running; rewriting in {seconds:g} s (Ctrl-C stops)")
            time.sleep(seconds)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:
        exit_with(UserError(f"cannot write the report in {target}: {exc.strerror or exc}"))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


COMMAND = Command(
    name="report",
    summary="One offline site of every run, sweep and bilinear model (index, pages, explorers, runs.csv).",
    main=report,
    panel="Run folders",
)

"""`bilin report [folders...]`: one offline static site of every run, sweep and bilinear model."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from bilin.command import Command
from bilin.errors import UserError, exit_with


def report(
    folders: list[Path] = typer.Argument(None, help="folders holding runs (searched recursively); default outputs"),
    out: Path = typer.Option(None, "--out", help="the report's folder (default: <first folder>/report)"),
    data_root: str = typer.Option(
        None, "--data-root", help="test images for the explorers (default: found as data.root finds it)"
    ),
    explorers: bool = typer.Option(
        True, "--explorers/--no-explorers", help="an eigenvector explorer per bilinear model"
    ),
    watch: float = typer.Option(
        0.0, "--watch", help="rewrite the report every this many seconds while runs are running (0: once)", min=0
    ),
) -> None:
    """Write one static site (works offline from file://): a sortable table of every run, a page per
    run and per sweep, runs.csv, and an eigenvector explorer per ungated bilinear model."""
    from bilin.report.site import write_report

    folders = folders or [Path("outputs")]
    target = out or folders[0] / "report"
    missing = [f for f in folders if not f.is_dir()]
    try:
        if missing:
            raise UserError(f"{missing[0]} is not a folder; give folders holding bilin runs (default outputs)")
        while True:
            summary = write_report(folders, target, Path(data_root) if data_root else None, explorers, print, watch)
            pages = sum(1 for p in summary.folder.rglob("*.html"))
            print(
                f"report: {summary.runs} runs, {summary.sweeps} sweeps, "
                f"{sum(e.page is not None for e in summary.explorers)} explorers "
                f"({summary.explorers_rebuilt} rebuilt), "
                f"{pages} pages in {summary.seconds:.1f} s: {summary.index}"
            )
            if not watch or not summary.running:
                break
            print(f"report: {summary.running} runs running; rewriting in {watch:g} s (Ctrl-C stops)")
            time.sleep(watch)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:
        exit_with(UserError(f"cannot write the report in {target}: {exc.strerror or exc}"))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None


COMMAND = Command(
    name="report",
    summary="One offline site of every run, sweep and bilinear model (index, pages, explorers, runs.csv).",
    run=report,
    panel="Run folders",
)

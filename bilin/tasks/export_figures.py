"""`bilin export-figures <run_dir>`: render a run's figures to PNG and SVG after the fact."""

from __future__ import annotations

from pathlib import Path

import typer

from bilin.command import Command
from bilin.errors import UserError, exit_with


def export_figures(run_dir: Path = typer.Argument(..., help="a run folder with figures/*.json")) -> None:
    """Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido)."""
    from bilin.rundir import export_static

    folder = run_dir / "figures"
    names = sorted(p.stem for p in folder.glob("*.json"))
    if not names:
        exit_with(UserError(f"no figures/*.json in {run_dir}"))
    note = export_static(folder, names)
    if note:
        exit_with(UserError(note))
    print(f"wrote {len(names)} figures as PNG and SVG to {folder}")


COMMAND = Command(
    name="export-figures",
    summary="Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido).",
    run=export_figures,
    panel="Run folders",
)

"""`bilin export-figures <run_dir>`: render a run's figures to PNG and SVG after the fact."""

from __future__ import annotations

from pathlib import Path

import typer

from bilin.command import Command
from bilin.errors import UserError, exit_with


def export_figures(run_dir: Path = typer.Argument(..., help="a run folder with figures/*.json")) -> None:
    """Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido)."""
    from bilin.rundir import export_static, static_formats

    folder = run_dir / "figures"
    try:
        formats = static_formats()
        names = sorted(p.stem for p in folder.glob("*.json"))
        if not formats:
            raise UserError("BILIN_FIGURE_FORMATS is empty: nothing to export")
        if not names:
            raise UserError(f"no figures/*.json in {run_dir}")
        note = export_static(folder, names)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:
        exit_with(UserError(f"cannot write the figures in {folder}: {exc.strerror or exc}"))
    if note:
        exit_with(UserError(note))
    print(f"wrote {len(names)} figures as {' and '.join(f.upper() for f in formats)} to {folder}")


COMMAND = Command(
    name="export-figures",
    summary="Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido).",
    run=export_figures,
    panel="Run folders",
)

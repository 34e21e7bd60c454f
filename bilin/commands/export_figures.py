"""`bilin export-figures <run_dir>`: render a run's figures to PNG and SVG after the fact."""

from __future__ import annotations

from pathlib import Path

import typer

from bilin.errors import UserError, exit_with
from bilin.running.command import Command
from bilin.running.liveness import RUN_LOCK


def export_figures(run_dir: Path = typer.Argument(..., help="a run folder with figures/*.json")) -> None:
    """Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido)."""
    from bilin.running.folder import PLOTLY_JS, RunDir, export_static, static_formats

    folder = run_dir / "figures"
    try:
        formats = static_formats()
        if not formats:  # refused before anything is read or written: the run stays as it was
            raise UserError(
                "BILIN_FIGURE_FORMATS is empty: no static format to export; set it (e.g. BILIN_FIGURE_FORMATS=png,svg) "
                "or unset it for PNG and SVG"
            )
        names = sorted(p.stem for p in folder.glob("*.json"))
        if not names:
            raise UserError(f"no figures/*.json in {run_dir}")
        if RunDir(run_dir).repair_plotly_js():
            print(f"wrote {folder / PLOTLY_JS}: the interactive figures had no plotly.js (the run was moved)")
        note = export_static(folder, names)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:
        exit_with(UserError(f"cannot write the figures in {folder}: {exc.strerror or exc}"))
    if note:
        exit_with(UserError(note))
    _clear_figures_note(run_dir)
    print(f"wrote {len(names)} figures as {' and '.join(f.upper() for f in formats)} to {folder}")


def _clear_figures_note(run_dir: Path) -> None:
    """run.json said the static figures were missing; now they are there."""
    from filelock import FileLock, Timeout

    from bilin.running.folder import RunDir

    if not (run_dir / "run.json").is_file():
        return
    try:
        with FileLock(run_dir / RUN_LOCK, timeout=0):
            run = RunDir(run_dir)
            record = run.read_json("run.json")
            if record.pop("figures_note", None) is not None:
                run.write_json("run.json", record)
    except Timeout:
        print(f"note: {run_dir} is being written by another process; its run.json keeps its figures note")
    except UserError as exc:
        exit_with(exc)


COMMAND = Command(
    name="export-figures",
    summary="Render a run's figures to PNG and SVG (needs Chrome/Chromium for kaleido).",
    main=export_figures,
    panel="Run folders",
)

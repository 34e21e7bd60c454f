"""`bilin cache list | verify | remove`: look after the model cache the grid commands fill."""

from __future__ import annotations

from pathlib import Path

import typer

from bilin.command import Command
from bilin.errors import UserError, exit_with

ACTIONS = ("list", "verify", "remove", "add")


def cache(
    action: str = typer.Argument(..., help="list | verify | remove | add"),
    entries: list[str] = typer.Argument(None, help="remove: entry folders to delete; add: train run folders"),
    root: Path = typer.Option(Path("outputs/cache"), "--root", help="the model cache (a command's cache_root)"),
    data_root: str = typer.Option(
        None, "--data-root", help="add: the data the runs trained on (default: found as data.root finds it)"
    ),
    remove_damaged: bool = typer.Option(False, "--remove", help="verify: also delete damaged and incomplete entries"),
) -> None:
    """List the cache's entries, verify every weight file against its recorded SHA-256, or remove entries."""
    from rich.console import Console
    from rich.table import Table

    from bilin.cache_entries import inspect_entries, remove_entry

    try:
        if action not in ACTIONS:
            raise UserError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        if action == "add":
            _add(root, entries or [], data_root)
            return
        if not root.is_dir():
            raise UserError(f"--root {root}: no model cache there (its folder does not exist)")
        if action == "remove":
            if not entries:
                raise UserError("remove: name the entries to delete (bilin cache list shows them)")
            folders = [Path(e) if Path(e).is_dir() else root / e for e in entries]
            missing = [str(f) for f in folders if not f.is_dir()]
            if missing:
                raise UserError(f"no such cache entry: {', '.join(missing)}")
            for folder in folders:
                remove_entry(folder)
                print(f"removed {folder}")
            return
        found = inspect_entries(root, verify=action == "verify")
    except UserError as exc:
        exit_with(exc)
    table = Table("entry", "status", "data", "d", "seed", "noise", "epochs", "val acc", "detail")
    for e in found:
        r = e.recipe
        acc = f"{r['final_val_acc'] * 100:.2f}%" if "final_val_acc" in r else ""
        table.add_row(
            e.path.name,
            e.status,
            r.get("data", ""),
            *(str(r.get(k, "")) for k in ("d_hidden", "seed", "noise", "epochs")),
            acc,
            e.detail,
        )
    Console(width=200).print(table)
    bad = [e for e in found if e.status in ("damaged", "incomplete")]
    print(f"{len(found)} entries in {root}: {len(found) - len(bad)} usable, {len(bad)} damaged or incomplete")
    if action == "verify" and bad:
        if not remove_damaged:
            exit_with(
                UserError(
                    f"{len(bad)} damaged or incomplete entries; delete them with: bilin cache verify "
                    f"--root {root} --remove (the next run retrains them)"
                )
            )
        for e in bad:
            remove_entry(e.path)
            print(f"removed {e.path}")


def _add(root: Path, runs: list[str], data_root: str | None) -> None:
    """Adopt `bilin train` runs (e.g. a cluster sweep's) into the cache, each verified first."""
    from bilin.cache import ModelCache
    from bilin.cache_entries import adopt_run

    if not runs:
        raise UserError("add: name the train run folders to adopt (e.g. outputs/multirun/train/DATE/TIME/*)")
    cache = ModelCache(root, data_root, download=False)
    for run in runs:
        entry, new = adopt_run(cache, Path(run))
        print(f"{'added' if new else 'already cached'}: {run} -> {entry}")


COMMAND = Command(
    name="cache",
    summary="List, verify (SHA-256 of every weight file), remove entries of the model cache, or add train runs.",
    run=cache,
    panel="Run folders",
)

"""`bilin cache list | verify | remove | add`: look after the model cache the grid commands fill.

The destructive actions (remove, verify --remove) touch only what they can prove is the cache's: a
real folder directly under the resolved --root, marked as an entry (bilin/cache/entries.py). Anything
else named or found is refused in one line before anything is deleted.
"""

from __future__ import annotations

from pathlib import Path

import typer

from bilin.errors import UserError, exit_with
from bilin.running.command import Command
from bilin.settings.options import DEFAULT_CACHE_ROOT

ACTIONS = ("list", "verify", "remove", "add")


def cache(
    action: str = typer.Argument(..., help="list | verify | remove | add"),
    entries: list[str] = typer.Argument(None, help="remove: entries (names or folders) to delete; add: train runs"),
    root: Path = typer.Option(Path(DEFAULT_CACHE_ROOT), "--root", help="the model cache (a command's cache_root)"),
    data_root: str = typer.Option(
        None, "--data-root", help="add: the data the runs trained on (default: found as data.root finds it)"
    ),
    remove_damaged: bool = typer.Option(
        False, "--remove", help="verify: also delete damaged entries and those whose training died"
    ),
) -> None:
    """List the cache's entries, verify every weight file against its recorded SHA-256, or remove entries."""
    try:
        if action not in ACTIONS:
            raise UserError(f"unknown action {action!r}; use one of {', '.join(ACTIONS)}")
        if action == "add":
            _add(root, entries or [], data_root)
            return
        if entries and action != "remove":
            raise UserError(f"{action} takes no entries (only remove and add do): {' '.join(entries)}")
        if remove_damaged and action != "verify":
            raise UserError("--remove is an option of verify (bilin cache verify --remove)")
        _look_after(action, root, entries or [], remove_damaged)
    except UserError as exc:
        exit_with(exc)
    except OSError as exc:  # a folder or file of the cache that cannot be read or changed
        exit_with(UserError(f"{exc.filename or root}: {exc.strerror or exc}"))


def _look_after(action: str, given_root: Path, names: list[str], remove_damaged: bool) -> None:
    from bilin.cache.entries import BAD, FOREIGN, cache_root, inspect_entries, named_entry, remove_entry

    root = cache_root(given_root)
    if action == "remove":
        if not names:
            raise UserError("remove: name the entries to delete (bilin cache list shows them)")
        folders = list(dict.fromkeys(named_entry(root, name) for name in names))  # all proved before any goes
        for folder in folders:
            remove_entry(root, folder)
            print(f"removed {folder}")
        return
    found = inspect_entries(root, verify=action == "verify")
    _show(found, root)
    bad = [e for e in found if e.status in BAD]
    foreign = [e for e in found if e.status == FOREIGN]
    if action == "list" or not (bad or foreign):
        return
    if foreign:
        names = ", ".join(e.path.name for e in foreign[:3]) + (
            f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        )
        done = "nothing removed; " if remove_damaged else ""
        raise UserError(
            f"{len(foreign)} item(s) in {root} are not entries of the cache (no marker, or a link): {names}; "
            f"{done}bilin never deletes what it cannot prove is the cache's: move them out of the cache"
        )
    if not remove_damaged:
        raise UserError(
            f"{len(bad)} damaged or incomplete entries; delete them with: bilin cache verify "
            f"--root {given_root} --remove (the next run retrains them)"
        )
    for e in bad:
        removed = remove_entry(root, e.path, keep_if_ok=True)
        print(f"removed {e.path}" if removed else f"kept {e.path}: another process took it up meanwhile")


def _show(found: list, root: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from bilin.cache.entries import BAD, FOREIGN

    table = Table("entry", "status", "data", "d", "seed", "noise", "epochs", "val acc", "detail")
    for e in found:
        r = e.recipe
        acc = f"{r['final_val_acc'] * 100:.2f}%" if isinstance(r.get("final_val_acc"), (int, float)) else ""
        fields = (str(r.get(k, "")) for k in ("data", "d_hidden", "seed", "noise", "epochs"))
        table.add_row(e.path.name, e.status, *fields, acc, e.detail)
    Console(width=200).print(table)
    entries = [e for e in found if e.status != FOREIGN]
    bad = [e for e in entries if e.status in BAD]
    others = len(found) - len(entries)
    print(
        f"{len(entries)} entries in {root}: {len(entries) - len(bad)} usable, {len(bad)} damaged or incomplete"
        + (f"; {others} other item(s) that are not entries" if others else "")
    )


def _add(root: Path, runs: list[str], data_root: str | None) -> None:
    """Adopt `bilin train` runs (e.g. a cluster sweep's) into the cache, each verified first."""
    from bilin.cache.entries import adopt_run
    from bilin.cache.store import ModelCache

    if not runs:
        raise UserError("add: name the train run folders to adopt (e.g. outputs/multirun/train/DATE/TIME/*)")
    cache = ModelCache(root, data_root, download=False)
    for run in runs:
        entry, new = adopt_run(cache, Path(run))
        print(f"{'added' if new else 'already cached'}: {run} -> {entry}")


COMMAND = Command(
    name="cache",
    summary="List, verify (SHA-256 of every weight file), remove entries of the model cache, or add train runs.",
    main=cache,
    panel="Run folders",
)

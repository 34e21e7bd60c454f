"""Looking after a model cache: list its entries, verify their weights, remove them (`bilin cache`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock, Timeout

from bilin.errors import UserError
from bilin.rundir import read_json, verified_bytes


@dataclass(frozen=True)
class Entry:
    path: Path
    status: str  # ok | damaged | incomplete | training
    detail: str
    recipe: dict


def inspect_entries(root: str | Path, verify: bool) -> list[Entry]:
    """Every folder of a model cache with its state; `verify` checks each weight file's SHA-256."""
    entries = []
    for folder in sorted(p for p in Path(root).glob("*") if p.is_dir()):
        lock = FileLock(folder.with_name(folder.name + ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            entries.append(Entry(folder, "training", "another process holds its lock", {}))
            continue
        try:
            entries.append(_inspect(folder, verify))
        finally:
            lock.release()
    return entries


def _inspect(folder: Path, verify: bool) -> Entry:
    if not (folder / "recipe.json").is_file():
        return Entry(folder, "incomplete", "no recipe.json: training never finished", {})
    try:
        recipe = read_json(folder / "recipe.json")
        if verify:
            verified_bytes(folder / "model.safetensors")
    except UserError as exc:
        return Entry(folder, "damaged", str(exc), {})
    return Entry(folder, "ok", "verified" if verify else "", recipe)


def remove_entry(folder: Path) -> None:
    """Delete one cache entry, under its lock (never one another process is training)."""
    lock = FileLock(folder.with_name(folder.name + ".lock"))
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise UserError(f"{folder} is being trained by another process; not removed") from None
    try:
        shutil.rmtree(folder)
    finally:
        lock.release()

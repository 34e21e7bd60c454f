"""Looking after a model cache: list its entries, verify their weights, remove them (`bilin cache`)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def adopt_run(cache: Any, run_dir: Path) -> tuple[Path, bool]:
    """Copy a complete `bilin train` run into the cache as the entry of its recipe (read from its
    saved config), after checking its weights, its model against the recipe and that it trained
    every epoch. Returns the entry and whether it was new (False: the entry was already there).
    The entry's key uses the cache's data: the run must have been trained on that data."""
    import shutil

    from omegaconf import OmegaConf

    from bilin.checkpoint import load_model, load_spec
    from bilin.config import source_run_status
    from bilin.train.recipe import recipe_from_config

    status = source_run_status(str(run_dir))
    if status != "complete":
        raise UserError(f"{run_dir} is {status}, not a complete run; only complete runs are adopted")
    saved = run_dir / ".hydra" / "config.yaml"
    if not saved.is_file():
        raise UserError(f"{run_dir} is not a bilin train run: {saved} not found")
    try:
        recipe = recipe_from_config(OmegaConf.load(saved))
    except Exception as exc:  # a damaged or foreign config: yaml, OmegaConf or missing keys
        raise UserError(f"{saved} is not a bilin train config ({type(exc).__name__})") from exc
    load_model(run_dir)  # verifies the weights' SHA-256 and that they fit model.json
    expected, found = recipe.spec(cache.dataset(recipe)), load_spec(run_dir)
    if (found.kind, found.d_hidden, found.gate, found.d_input) != (
        expected.kind,
        expected.d_hidden,
        expected.gate,
        expected.d_input,
    ):
        raise UserError(f"{run_dir}: its model.json does not match the recipe in its config; not adopted")
    epochs = len([line for line in (run_dir / "metrics.csv").read_text().splitlines()[1:] if line.strip()])
    if epochs != recipe.epochs:
        raise UserError(f"{run_dir} trained {epochs} of its {recipe.epochs} epochs; not adopted")
    entry = cache.path(recipe)
    lock = FileLock(entry.with_name(entry.name + ".lock"))
    with lock:
        if cache.has(recipe):
            return entry, False
        entry.mkdir(parents=True, exist_ok=True)
        for name in ("model.safetensors", "model.json", "metrics.csv", "checksums.json"):
            shutil.copy2(run_dir / name, entry / name)
        cache.store_recipe(recipe, read_json(run_dir / "run.json").get("final", {}).get("val_acc"), source=run_dir)
    return entry, True

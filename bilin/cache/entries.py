"""The model cache's folders: which ones it owns, their state, removing them (`bilin cache`).

Ownership is proved, never assumed. The cache root carries ROOT_MARKER (ModelCache writes it when it
creates or writes the root) and every entry carries ENTRY_MARKER naming its key, written when its
folder is made, before training: an entry whose training died is still provably the cache's. An
entry of an older bilin (no marker) is the cache's when its recipe.json's key is the one in its
folder name; an older root (no marker) is a cache when it holds such an entry. Nothing is marked
after the fact. A destructive command refuses, before deleting anything, every path that is not a
real folder directly under the resolved root with that proof.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import stat
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from bilin.errors import UserError
from bilin.models.checkpoint import WEIGHTS
from bilin.running.folder import CHECKSUMS, RunDir, read_json, verified_bytes
from bilin.running.liveness import is_held, last_write
from bilin.settings.options import DEFAULT_CACHE_ROOT
from bilin.train.recipe import RECIPE_FORMAT, Recipe

ROOT_MARKER = ".bilin-cache"
ENTRY_MARKER = ".bilin-cache-entry"
RECIPE = "recipe.json"  # written last: its presence, with the entry's key, makes the entry complete
OK, DAMAGED, DIED, TRAINING, FOREIGN = "ok", "damaged", "died", "training", "not an entry"
BAD = (DAMAGED, DIED)  # what verify --remove deletes (the next run retrains them)
_KEY = re.compile(r"[0-9a-f]{16}")
_ENTRY_NAME = re.compile(r".+-[0-9a-f]{16}")


@dataclass(frozen=True)
class Entry:
    path: Path
    status: str  # OK | DAMAGED | DIED | TRAINING | FOREIGN
    detail: str
    recipe: dict


def mark_root(root: Path) -> None:
    """Make the cache's folder (if new) and mark it as a model cache: never a folder that holds
    other things than entries (e.g. cache_root=outputs, where the runs are)."""
    if not is_regular(root / ROOT_MARKER):
        other = next((p.name for p in (root.iterdir() if root.is_dir() else ()) if not _entry_like(p)), None)
        if other is not None:
            raise UserError(
                f"{root} is not a model cache and holds other things ({other}); give the cache a folder "
                f"of its own (cache_root=, by default {DEFAULT_CACHE_ROOT})"
            )
        note = "a bilin model cache: one folder per trained recipe (bilin cache list shows them)"
        RunDir(root).write_json(ROOT_MARKER, {"format": 1, "what": note})


def mark_entry(folder: Path, key: str) -> None:
    """Make an entry's folder and mark it as the cache's, before anything is trained into it."""
    RunDir(folder).write_json(ENTRY_MARKER, {"key": key})


def is_regular(path: Path) -> bool:
    """A regular file, not a link to one (nothing here reads through a link)."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _entry_like(path: Path) -> bool:
    """What an unmarked cache of an older bilin holds: entries (with a died one's folder), locks
    (and hidden files, such as a filesystem's own)."""
    if path.is_symlink():
        return False
    if path.is_dir():
        return owned_key(path) is not None or _ENTRY_NAME.fullmatch(path.name) is not None
    return path.name.endswith(".lock") or path.name.startswith(".")


def lock_path(folder: Path) -> Path:
    return folder.with_name(folder.name + ".lock")


def entry_lock(folder: Path) -> FileLock:
    """The lock every writer of the entry holds; a lock path that is not a plain file is refused."""
    lock = lock_path(folder)
    if (lock.exists() or lock.is_symlink()) and not is_regular(lock):
        raise UserError(f"{lock} is not a plain lock file (a link or a folder?); the cache entry {folder.name} is left")
    return FileLock(lock)


def owned_key(folder: Path) -> str | None:
    """The key of the cache entry `folder` provably is (its marker, or an older entry's recipe.json
    naming the key in its folder name); None for anything else, a symlink included."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    marker = folder / ENTRY_MARKER
    source = marker if is_regular(marker) else folder / RECIPE
    if not is_regular(source) or source.stat().st_size > 1_000_000:
        return None
    try:
        key = json.loads(source.read_text()).get("key")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        return None
    return key if isinstance(key, str) and _KEY.fullmatch(key) and folder.name.endswith(f"-{key}") else None


def cache_root(root: Path) -> Path:
    """The resolved root of a model cache, or one line saying why `root` is not one."""
    if not root.is_dir():
        raise UserError(
            f"--root {root}: no model cache there ({'not a folder' if root.exists() else 'no such folder'})"
        )
    resolved = root.resolve()
    if is_regular(resolved / ROOT_MARKER) or any(owned_key(p) for p in resolved.iterdir() if p.name[:1] != "."):
        return resolved
    raise UserError(
        f"--root {root} is not a model cache (no {ROOT_MARKER} marker and no cache entry in it); "
        f"give a command's cache_root (by default {DEFAULT_CACHE_ROOT})"
    )


def named_entry(root: Path, name: str) -> Path:
    """The entry a `bilin cache remove` argument names: a folder name in the cache, or a path to one.
    Anything that is not a provable entry directly under the root is refused, naming it."""
    given = Path(name)
    path = root / name if len(given.parts) == 1 and name not in (".", "..") else given
    refuse = f"{name} is not an entry of the model cache {root}"
    if path.name in ("", ".", "..") or path.parent.resolve() != root:
        raise UserError(f"{refuse} (only folders directly in the cache are entries); nothing removed")
    path = root / path.name
    if path.is_symlink():
        raise UserError(f"{refuse}: it is a symbolic link (never followed); nothing removed")
    if not path.exists():
        raise UserError(f"{refuse}: no such folder (bilin cache list --root {root} shows the entries); nothing removed")
    if not path.is_dir():
        raise UserError(f"{refuse}: it is not a folder; nothing removed")
    if owned_key(path) is None:
        raise UserError(f"{refuse}: it carries no {ENTRY_MARKER} marker and no recipe.json naming it; nothing removed")
    return path


def check_entry(folder: Path, key: str, verify: bool) -> dict:
    """An entry's recipe.json, after checking that it is this entry's, that its settings give its key,
    and that checksums.json records the weights recipe.json records; `verify` also hashes the weights.
    Raises UserError saying what is wrong."""
    record_path = folder / RECIPE
    if not is_regular(record_path):
        raise UserError(f"{record_path} is not a plain file")
    record = read_json(record_path)
    if record.get("key") != key:
        raise UserError(f"{record_path} is another entry's (key {record.get('key')!r}, not {key})")
    if record.get("format") == RECIPE_FORMAT:
        try:
            settings = Recipe.from_record(record)
            derived = settings.key(record["data_sha256"])
        except (KeyError, TypeError):
            derived = None
        if derived != key:
            raise UserError(f"{record_path}: its settings do not give its key {key}; it was edited")
    weights = record.get("weights_sha256")
    if not isinstance(weights, str):
        raise UserError(f"{record_path} records no SHA-256 of the weights (an entry of an older bilin)")
    sums = folder / CHECKSUMS
    if not is_regular(sums) or read_json(sums).get(WEIGHTS) != weights:
        raise UserError(f"{folder / WEIGHTS} is not the weights its recipe.json records (taken from another entry?)")
    if verify:
        if not is_regular(folder / WEIGHTS):
            raise UserError(f"{folder / WEIGHTS} is not a plain file")
        if hashlib.sha256(verified_bytes(folder / WEIGHTS)).hexdigest() != weights:
            raise UserError(f"{folder / WEIGHTS} does not match the SHA-256 its recipe.json records")
    return record


def inspect_entries(root: Path, verify: bool) -> list[Entry]:
    """Every folder and link in a model cache with its state; files (locks, the marker) are not
    entries. `verify` hashes each entry's weights."""
    found = []
    for path in sorted(root.iterdir()):
        if path.is_symlink():
            found.append(Entry(path, FOREIGN, "a symbolic link: never followed, never deleted", {}))
        elif path.is_dir():
            found.append(_inspect(path, verify))
    return found


def _inspect(folder: Path, verify: bool) -> Entry:
    key = owned_key(folder)
    if key is None:
        return Entry(folder, FOREIGN, f"no {ENTRY_MARKER} marker and no recipe.json naming it: not the cache's", {})
    lock = lock_path(folder)
    if (lock.exists() or lock.is_symlink()) and not is_regular(lock):
        return Entry(folder, DAMAGED, f"its lock {lock.name} is not a plain file", {})
    if is_held(lock):
        return Entry(folder, TRAINING, "a process holds its lock", {})
    if not (folder / RECIPE).exists():
        written = last_write(folder) or "never"
        return Entry(folder, DIED, f"no recipe.json and no process holds its lock; last write {written}", {})
    try:
        recipe = check_entry(folder, key, verify)
    except UserError as exc:  # the table names the entry: its files by their names alone
        return Entry(folder, DAMAGED, str(exc).replace(f"{folder}/", ""), {})
    return Entry(folder, OK, "verified" if verify else "", recipe)


def remove_entry(root: Path, folder: Path, keep_if_ok: bool = False) -> bool:
    """Delete one entry of the cache at `root` under its lock (never one another process is
    training), proving again under the lock that it is the cache's. `keep_if_ok` (verify --remove)
    keeps an entry that another process took up meanwhile. True if it was deleted."""
    lock = entry_lock(folder)
    try:
        lock.acquire(timeout=0)
    except Timeout:
        if keep_if_ok:
            return False
        raise UserError(f"{folder} is being trained by another process; not removed") from None
    try:
        key = owned_key(folder)
        if folder.parent != root or key is None:
            raise UserError(f"{folder} is not an entry of the model cache {root}; not removed")
        if keep_if_ok and _complete(folder, key):
            return False
        try:
            shutil.rmtree(folder)
        except OSError as exc:
            raise UserError(f"{folder} could not be removed ({exc.strerror or exc})") from exc
    finally:
        lock.release()
    return True


def _complete(folder: Path, key: str) -> bool:
    try:
        check_entry(folder, key, verify=True)
    except UserError:
        return False
    return True


ADOPTED = ("model.safetensors", "model.json", "metrics.csv", "checksums.json")


def adopt_run(cache: Any, run_dir: Path) -> tuple[Path, bool]:
    """Copy a complete `bilin train` run into the cache as the entry of its recipe (read from its
    saved config), once the cache can vouch for it: its weights' SHA-256, its model.json against the
    recipe, every epoch trained, the data's SHA-256 its run.json records against the cache's data,
    and every key of the recipe its run.json records against its config's. Returns the entry and
    whether it is new (False: the entry was already there)."""
    from omegaconf import OmegaConf

    from bilin.models.checkpoint import load_model, load_spec
    from bilin.settings.options import source_run_status
    from bilin.train.recipe import recipe_from_config

    status = source_run_status(str(run_dir))
    if status != "complete":
        raise UserError(f"{run_dir} is {status}, not a complete run; only complete runs are adopted")
    saved = run_dir / ".hydra" / "config.yaml"
    if not is_regular(saved) or not is_regular(run_dir / "run.json"):
        raise UserError(f"{run_dir} is not a bilin train run: {saved} or its run.json not found")
    try:
        config = OmegaConf.load(saved)
        recipe = recipe_from_config(config)
    except Exception as exc:  # a damaged or foreign config: yaml, OmegaConf or missing keys
        raise UserError(f"{saved} is not a bilin train config ({type(exc).__name__})") from exc
    fine_tuned = [k for k in ("init", "train_classes") if OmegaConf.select(config, k) is not None]
    if fine_tuned:
        raise UserError(
            f"{run_dir} was trained with {' and '.join(f'{k}=' for k in fine_tuned)}: its weights are not its "
            "recipe's (a fine-tune); not adopted"
        )
    record = read_json(run_dir / "run.json")
    _check_data(cache, run_dir, record, recipe)
    _check_recipe(run_dir, record, recipe)
    odd = [name for name in ADOPTED if not is_regular(run_dir / name)]
    if odd:
        raise UserError(f"{run_dir}: {', '.join(odd)} missing or not plain files; not adopted")
    load_model(run_dir)  # verifies the weights' SHA-256 and that they fit model.json
    expected, found = recipe.spec(cache.dataset(recipe)), load_spec(run_dir)
    if found != expected:
        differ = [f.name for f in fields(expected) if getattr(found, f.name) != getattr(expected, f.name)]
        raise UserError(f"{run_dir}: its model.json differs from the recipe in its config ({', '.join(differ)})")
    epochs = len([line for line in (run_dir / "metrics.csv").read_text().splitlines()[1:] if line.strip()])
    if epochs != recipe.epochs or record.get("epochs_completed", epochs) != recipe.epochs:
        raise UserError(f"{run_dir} trained {epochs} of its {recipe.epochs} epochs; not adopted")
    entry = cache.path(recipe)
    mark_root(cache.root)
    with entry_lock(entry):
        if cache.has(recipe):
            return entry, False
        mark_entry(entry, cache.key(recipe))
        for name in ADOPTED:
            shutil.copy2(run_dir / name, entry / name)
        cache.store_recipe(recipe, record.get("final", {}).get("val_acc"), source=run_dir)
    return entry, True


def _check_data(cache: Any, run_dir: Path, record: dict, recipe: Recipe) -> None:
    """The run trained on the data the cache keys its entries by (same SHA-256), or it is refused."""
    data = record.get("data")
    theirs = data.get(recipe.data) if isinstance(data, dict) else None
    sha = theirs.get("sha256") if isinstance(theirs, dict) else None
    if not isinstance(sha, str):
        raise UserError(
            f"{run_dir}: its run.json records no SHA-256 of the {recipe.data} data it trained on, "
            "so the cache cannot vouch for it; not adopted"
        )
    ours = cache.dataset(recipe)
    if sha != ours.fingerprint:
        raise UserError(
            f"{run_dir} was trained on other {recipe.data} data (SHA-256 {sha[:12]}, read from "
            f"{theirs.get('root') or 'unknown'}) than the cache's (SHA-256 {ours.fingerprint[:12]}, read from "
            f"{ours.root}); not adopted (--data-root <the folder it trained on> keys it by that data)"
        )


def _check_recipe(run_dir: Path, record: dict, recipe: Recipe) -> None:
    """Every key of the recipe run.json recorded when the run trained equals its config's. (Runs of
    an older bilin recorded none: their model.json, epochs and data are still checked.)"""
    recorded = record.get("recipe")
    if recorded is None:
        return
    if not isinstance(recorded, dict):
        raise UserError(f"{run_dir}: the recipe its run.json records is not a JSON object; not adopted")
    wanted = recipe.record()
    differ = [k for k in sorted(wanted.keys() | recorded.keys()) if recorded.get(k, ...) != wanted.get(k, ...)]
    if differ:
        shown = ", ".join(f"{k}: {recorded.get(k)!r} recorded, {wanted.get(k)!r} in config" for k in differ[:4])
        raise UserError(f"{run_dir}: the recipe its run.json records differs from its .hydra/config.yaml ({shown})")

"""Every run under some folders, read into records: what `bilin report` and `bilin.runs()` show.

A run folder is any folder holding a run.json (bilin writes one for every configured command);
Hydra's .hydra/ beside it gives the composed config, the overrides typed and the command name.
A multirun job sits in a sweep folder holding multirun.yaml. A model folder (a train run or a
cache entry) holds model.json and model.safetensors. Damaged files never stop the reading: the
run is listed with what could be read and a note saying what could not. A run whose run.json says
running while no process holds its lock is shown as died, with the time of its last write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from bilin.errors import UserError
from bilin.running.liveness import DIED, last_write, shown_status
from bilin.settings.options import OUTPUTS_ROOT

if TYPE_CHECKING:
    import pandas as pd

REPORT_DIR = "report"  # the report's default folder, <scanned folder>/report
SKIP_DIRS = {".hydra", "figures", REPORT_DIR, "__pycache__"}  # never hold a run of their own


@dataclass
class Run:
    """One run folder as the report shows it."""

    path: Path
    command: str
    status: str
    started: str = ""
    wall_seconds: float | None = None
    last_write: str = ""  # UTC, of a run that died: when it last wrote a file
    headline: dict[str, float] = field(default_factory=dict)
    overrides: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)  # flattened: "data.name" -> value
    record: dict[str, Any] = field(default_factory=dict)  # run.json as written
    sweep: Path | None = None  # the multirun folder this run is a job of
    problems: list[str] = field(default_factory=list)

    @property
    def figures(self) -> list[str]:
        return sorted(p.stem for p in (self.path / "figures").glob("*.json"))

    @property
    def tables(self) -> list[str]:
        return sorted(p.name for p in self.path.glob("*.csv"))

    @property
    def models(self) -> dict[str, str]:
        """Models the run used or made, {name: folder}: cache entries, or its own model."""
        used = self.record.get("models")
        found = dict(used) if isinstance(used, Mapping) else {}
        if is_model_folder(self.path):
            found[self.path.name] = str(self.path)
        return found

    def row(self) -> dict[str, Any]:
        """One flat row: path, command, status, timing, headline metrics, then the config."""
        return {
            "path": str(self.path),
            "command": self.command,
            "status": self.status,
            "started": self.started,
            "wall_seconds": self.wall_seconds,
            "last_write": self.last_write,
            "sweep": str(self.sweep) if self.sweep else "",
            "overrides": " ".join(self.overrides),
            **{f"metric.{k}": v for k, v in self.headline.items()},
            **{f"config.{k}": v for k, v in self.config.items()},
        }


def find_runs(folders: Sequence[str | Path], skip: Iterable[Path] = ()) -> list[Run]:
    """Every run folder under `folders` (each may itself be a run), oldest first."""
    skipped = {Path(p).resolve() for p in skip}
    found = {p.resolve(): p for folder in folders for p in _walk(Path(folder), skipped) if (p / "run.json").is_file()}
    runs = [read_run(p) for p in found.values()]
    return sorted(runs, key=lambda r: (r.started, str(r.path)))


def find_model_folders(folders: Sequence[str | Path], skip: Iterable[Path] = ()) -> list[Path]:
    """Every folder under `folders` holding a model (train runs and cache entries), by path."""
    skipped = {Path(p).resolve() for p in skip}
    found = {p.resolve(): p for folder in folders for p in _walk(Path(folder), skipped) if is_model_folder(p)}
    return sorted(found.values())


def is_model_folder(path: Path) -> bool:
    return (path / "model.json").is_file() and (path / "model.safetensors").is_file()


def read_run(path: Path) -> Run:
    problems: list[str] = []
    record = _read(path / "run.json", json.loads, problems)
    record = record if isinstance(record, dict) else {}
    hydra = _read(path / ".hydra" / "hydra.yaml", yaml.safe_load, problems) or {}
    config = _read(path / ".hydra" / "config.yaml", yaml.safe_load, problems) or {}
    overrides = _read(path / ".hydra" / "overrides.yaml", yaml.safe_load, problems) or []
    command = _get(hydra, "hydra", "job", "name") or _command_from_argv(record.get("command", ""))
    headline = record.get("headline")
    wall = record.get("wall_seconds")
    status = shown_status(path, str(record.get("status", "unreadable")))
    return Run(
        path=path,
        command=str(command or "?"),
        status=status,
        started=str(record.get("started", "")),
        wall_seconds=float(wall) if isinstance(wall, (int, float)) and not isinstance(wall, bool) else None,
        last_write=last_write(path) if status == DIED else "",
        headline=dict(headline) if isinstance(headline, Mapping) else {},
        overrides=[str(o) for o in overrides] if isinstance(overrides, list) else [],
        config=flatten(config) if isinstance(config, Mapping) else {},
        record=record,
        sweep=path.parent if (path.parent / "multirun.yaml").is_file() else None,
        problems=problems,
    )


def runs(*folders: str | Path) -> pd.DataFrame:
    """One row per run under `folders` (default "outputs"): path, command, status, started,
    wall_seconds, last_write, sweep, overrides, then `metric.<name>` and `config.<key>` columns.
    A folder that does not exist is refused (UserError naming it), never read as "no runs"."""
    import pandas as pd

    folders = folders or (OUTPUTS_ROOT,)
    for folder in map(Path, folders):
        if not folder.is_dir():
            raise UserError(
                f"{folder} {'is not a folder' if folder.exists() else 'does not exist'}; "
                "give folders holding bilin runs (default outputs)"
            )
    found = find_runs(folders)
    return pd.DataFrame([r.row() for r in found])


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"data": {"name": "mnist"}} -> {"data.name": "mnist"}; lists become JSON text."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(flatten(value, f"{name}."))
        elif isinstance(value, list):
            flat[name] = json.dumps(value)
        else:
            flat[name] = value
    return flat


def varying_keys(runs: Sequence[Run]) -> list[str]:
    """The config keys whose values differ between the runs (a sweep's swept keys), in config order."""
    keys = list(dict.fromkeys(k for r in runs for k in r.config))
    return [k for k in keys if len({json.dumps(r.config.get(k), default=str) for r in runs}) > 1]


def _walk(root: Path, skipped: set[Path]) -> Iterator[Path]:
    if not root.is_dir() or root.resolve() in skipped:
        return
    yield root
    try:
        children = sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink())
    except OSError:
        return
    for child in children:
        if child.name not in SKIP_DIRS and not child.name.startswith("."):
            yield from _walk(child, skipped)


def _read(path: Path, parse, problems: list[str]) -> Any:
    if not path.is_file():
        return None
    try:
        return parse(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, yaml.YAMLError) as exc:
        problems.append(f"{path.name} cannot be read ({type(exc).__name__})")
        return None


def _get(tree: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(tree, Mapping):
            return None
        tree = tree.get(key)
    return tree


def _command_from_argv(argv: str) -> str | None:
    words = argv.split()
    return words[1] if len(words) > 1 else None

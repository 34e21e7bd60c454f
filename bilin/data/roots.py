"""Where the datasets are: the one rule every command, the Makefile and the benchmarks use.

A root is a folder holding `MNIST/raw/`, `FashionMNIST/raw/` or `cifar-10-batches-py/`. In order:

1. `data.root=<folder>` when given, else the environment variable BILIN_DATA when set: that
   folder and no other (missing files are downloaded into it when allowed);
2. otherwise the first of these folders that holds the dataset's files:
   `./data` (torchvision's usual place, where downloads go), `../shared/data` (the offline copies
   kept beside a checkout on this project's machines), then the same two beside bilin's own source
   checkout (so `bilin` typed in any folder finds the data `make` uses);
3. when none holds it and downloads are allowed, it is downloaded into `./data`.

The Makefile sets nothing: `make run` and a `bilin` typed by hand in the checkout find the same
folder by this rule. A run records the folder it read (run.json `data`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "BILIN_DATA"
SEARCH = ("data", "../shared/data")  # relative to the working folder, then to bilin's source checkout
RULE = (
    f"data.root, else ${ENV_VAR}, else the first of ./data and ../shared/data (beside the working folder, "
    "then beside bilin's source checkout) that holds the dataset; downloads go to ./data"
)


@dataclass(frozen=True)
class RootChoice:
    """The folder a dataset is read from (or downloaded into), and why that one."""

    path: Path
    reason: str  # "data.root", "BILIN_DATA" or "found"/"download target" by the search
    searched: tuple[Path, ...] = ()  # the folders the search looked in, in order


def source_checkout() -> Path | None:
    """The project folder bilin runs from when it is a source checkout (an editable install)."""
    project = Path(__file__).resolve().parents[2]
    return project if (project / "pyproject.toml").is_file() else None


def search_folders(cwd: Path | None = None) -> tuple[Path, ...]:
    """The folders the search looks in, absolute, in order, without repeats."""
    bases = [Path(cwd or Path.cwd()).absolute()]
    checkout = source_checkout()
    if checkout is not None:
        bases.append(checkout)
    folders = [Path(os.path.normpath(base / relative)) for base in bases for relative in SEARCH]
    return tuple(dict.fromkeys(folders))


def choose_root(configured: str | Path | None, holds: Callable[[Path], bool], cwd: Path | None = None) -> RootChoice:
    """The root to read a dataset from: `configured`, BILIN_DATA, or the first folder of the
    search that `holds` it; when none does, the search's first folder (where a download goes)."""
    if configured not in (None, ""):
        return RootChoice(Path(configured).expanduser(), "data.root")
    env = os.environ.get(ENV_VAR, "")
    if env:
        return RootChoice(Path(env).expanduser(), ENV_VAR)
    searched = search_folders(cwd)
    for folder in searched:
        if holds(folder):
            return RootChoice(folder, "found", searched)
    return RootChoice(searched[0], "download target", searched)


def describe_search(choice: RootChoice) -> str:
    """Where a dataset was looked for, for an error line."""
    if choice.reason == "data.root":
        return f"data.root={choice.path}"
    if choice.reason == ENV_VAR:
        return f"{ENV_VAR}={choice.path}"
    return f"{ENV_VAR} (unset), " + ", ".join(str(p) for p in choice.searched)

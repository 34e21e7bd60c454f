"""File names of the report's pages: one per run, sweep and model folder, and never one for two.

A folder's page name is its path below a root, each part escaped, joined with `__`. The escape
keeps letters, digits and `.-=,+_` and writes every other byte as `%XX`; an underscore is escaped
too where it touches another or a part's edge. So an escaped part never holds `__` nor starts or
ends with `_`, every `__` in a name is a separator, and two different paths give two different
names (`x__y/r1` gives `x%5F%5Fy__r1`, `x/y__r1` gives `x__y%5F%5Fr1`). A name longer than a
file system allows keeps its start and ends in `~` and a hash of the whole name (`~` is always
escaped in a part, so such a name cannot equal an ordinary one).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Sequence
from pathlib import Path

SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-=,+_")
SEPARATOR = "__"
MAX_NAME_BYTES = 200  # file systems allow 255; room for a suffix
_EDGE_UNDERSCORES = re.compile(r"^_|_$|_(?=_)|(?<=_)_")


def escape_part(part: str) -> str:
    """One path part as a word without `__` and without `_` at either end (injective)."""
    out = "".join(c if c in SAFE else "".join(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape")) for c in part)
    return _EDGE_UNDERSCORES.sub("%5F", out)


def path_name(parts: Sequence[str], suffix: str) -> str:
    """The parts as one file name ending in `suffix`; different parts give different names."""
    name = SEPARATOR.join(escape_part(p) for p in parts) or "%2E"
    if len(name.encode()) + len(suffix) > MAX_NAME_BYTES:
        name = f"{name[:120]}~{hashlib.sha256(name.encode()).hexdigest()[:32]}"
    return name + suffix


def folder_page(folder: Path, root: Path) -> str:
    """A run's or sweep's page name: its path below `root` (else its whole path)."""
    resolved = folder.resolve()
    try:
        rel = resolved.relative_to(root)
    except ValueError:
        rel = Path(*resolved.parts[1:])
    return path_name(rel.parts, ".html")


def model_page(folder: Path) -> str:
    """A model's explorer name: its path from the working folder (stable between reports run there)."""
    return path_name(Path(os.path.relpath(folder.resolve(), Path.cwd())).parts, "")

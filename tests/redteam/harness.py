"""The red team's table: each case is a command a careless or hostile user runs through the real
CLI, with what must come of it: one line naming the mistake and exit 2, or the correct outcome.
Every case also asserts that nothing outside the command's own folders changed: the world the case
builds is hashed before and after, leaving out only the paths the case says the command owns.
"""

from __future__ import annotations

import hashlib
import os
import stat
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import run_bilin


@dataclass(frozen=True)
class Case:
    id: str
    fault: int  # the class of fault in issue 20 this case belongs to (1..10)
    args: tuple[str, ...]  # `bilin` arguments; "{w}" is replaced by the world's folder
    error: str | None = None  # a fragment of the one-line error (exit 2); None: the command must succeed
    own: tuple[str, ...] = ()  # paths under the world the command may create, change or delete
    setup: Callable[[Path], None] | None = None  # builds what the case needs inside the world
    check: Callable[[Path, subprocess.CompletedProcess], None] | None = None  # the correct outcome
    env: dict[str, str] = field(default_factory=dict)  # "{w}" is replaced here too
    timeout: float = 300


def snapshot(world: Path, own: tuple[str, ...]) -> dict[str, tuple]:
    """Every path under `world` (links not followed) with its kind, mode and content hash, leaving
    out `own` and everything below it."""
    owned = [world / o for o in own]
    found: dict[str, tuple] = {}
    for folder, dirs, files in os.walk(world, followlinks=False):
        here = Path(folder)
        for name in sorted([*dirs, *files]):
            path = here / name
            if any(path == o or o in path.parents for o in owned):
                continue
            info = path.lstat()
            if stat.S_ISLNK(info.st_mode):
                found[str(path.relative_to(world))] = ("link", os.readlink(path))
            elif stat.S_ISDIR(info.st_mode):
                found[str(path.relative_to(world))] = ("dir", stat.S_IMODE(info.st_mode))
            else:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
                found[str(path.relative_to(world))] = ("file", stat.S_IMODE(info.st_mode), digest)
    return found


def assert_one_line_error(result: subprocess.CompletedProcess, fragment: str) -> None:
    assert result.returncode == 2, (result.returncode, result.stdout[-2000:], result.stderr[-2000:])
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("bilin: error:") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.stdout + result.stderr


def run_case(case: Case, world: Path, data_root: Path) -> subprocess.CompletedProcess:
    """Build the case's world, run it, and assert its outcome and that nothing it does not own changed."""
    if case.setup:
        case.setup(world)
    before = snapshot(world, case.own)
    args = [a.replace("{w}", str(world)) for a in case.args]
    env = {"BILIN_DATA": str(data_root), **{k: v.replace("{w}", str(world)) for k, v in case.env.items()}}
    result = run_bilin(args, world / "cwd" if (world / "cwd").is_dir() else world, env, case.timeout)
    if case.error is None:
        assert result.returncode == 0, (result.stdout[-2000:], result.stderr[-3000:])
    else:
        assert_one_line_error(result, case.error)
    after = snapshot(world, case.own)
    changed = sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))
    assert not changed, f"changed outside the command's own folders: {changed[:20]}"
    if case.check:
        case.check(world, result)
    return result

"""The report's own folder: what it may write, replace and delete there, and nothing else.

Every file the report writes is listed, with its SHA-256, in the folder's manifest. A later report
replaces only files a manifest lists, and deletes only listed files it no longer writes (pages of
runs that are gone) whose content is still what it wrote. Any other file in the folder is the
user's: it is never deleted, and a report that would overwrite it is refused before writing anything.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path, PurePosixPath

from bilin.errors import UserError
from bilin.report.runs import REPORT_DIR
from bilin.running.folder import RunDir

MANIFEST = "bilin-report.json"
MANIFEST_FORMAT = "bilin-report/1"


def check_out(out: Path, folders: Sequence[Path]) -> None:
    """Refuse a report folder that overlaps a scanned folder: inside one (its pages would sit among
    runs) or holding one (the runs would sit among its pages). The one exception is a folder named
    `report` inside a scanned folder (the default, <folder>/report), which the scan never enters."""
    target = out.resolve()
    for folder in folders:
        scanned = folder.resolve()
        if target == scanned or scanned.is_relative_to(target):
            raise UserError(f"--out {out} holds the scanned folder {folder}; write the report outside the runs")
        if target.is_relative_to(scanned) and REPORT_DIR not in target.relative_to(scanned).parts:
            raise UserError(
                f"--out {out} is inside the scanned folder {folder}; write the report outside it "
                f"(or in {folder / REPORT_DIR}, the default)"
            )


class ReportFolder:
    """Writes the report's files into `path` and keeps its manifest."""

    def __init__(self, path: Path):
        self.path = path
        listed = read_manifest(path)  # what an earlier report wrote here; None: no manifest of ours
        self.listed = {**(listed or {}), **({MANIFEST: ""} if listed is not None else {})}
        self.written: dict[str, str] = {}

    def claim(self, names: Iterable[str]) -> None:
        """Refuse, before anything is written, to replace a file this report did not write."""
        for name in names:
            target = self._target(name)
            if (target.exists() or target.is_symlink()) and name not in self.listed:
                raise UserError(
                    f"{target} exists and was not written by bilin report (its {MANIFEST} does not list it); "
                    "move it away or choose another --out"
                )

    def write_text(self, name: str, text: str) -> Path:
        """Write a file (left as is when it already holds `text`: --watch rewrites every page)."""
        self.claim([name])
        digest = hashlib.sha256(text.encode()).hexdigest()
        if not (self.listed.get(name) == digest and self.keep(name)):
            RunDir(self.path).write_text(name, text)
        self.written[name] = digest
        return self.path / name

    def read_json(self, name: str) -> dict:
        """A JSON object this report wrote earlier (its explorer stamps); {} when there is none of ours."""
        if name not in self.listed:
            return {}
        try:
            record = json.loads(self._target(name).read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            return {}
        return record if isinstance(record, dict) else {}

    def keep(self, name: str) -> bool:
        """Keep a file an earlier report wrote here, unchanged since (a reused explorer page)."""
        target = self._target(name)
        if name not in self.listed or not target.is_file() or target.is_symlink() or _sha(target) != self.listed[name]:
            return False
        self.written[name] = self.listed[name]
        return True

    def finish(self) -> list[str]:
        """Write the manifest, then delete the listed files no longer written; returns their names."""
        self.claim([MANIFEST])
        RunDir(self.path).write_text(
            MANIFEST, json.dumps({"format": MANIFEST_FORMAT, "files": dict(sorted(self.written.items()))}, indent=1)
        )
        removed = []
        for name, digest in self.listed.items():
            if name == MANIFEST:
                continue
            target = self._target(name)
            if name in self.written or not target.is_file() or target.is_symlink() or _sha(target) != digest:
                continue  # still ours, already gone, or changed by someone since: not ours to delete
            target.unlink()
            removed.append(name)
        return removed

    def _target(self, name: str) -> Path:
        """`name` in the folder; a name leading out of it (`..`, a link to elsewhere) is refused."""
        target = self.path / name
        if not _plain_name(name) or not target.parent.resolve().is_relative_to(self.path.resolve()):
            raise UserError(f"{target} is outside the report folder {self.path}; not written")
        return target


def read_manifest(path: Path) -> dict[str, str] | None:
    """{name: SHA-256} of the files an earlier report wrote in `path`; None when it holds no manifest
    of ours. Names that would lead out of the folder are dropped."""
    try:
        record = json.loads((path / MANIFEST).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    files = record.get("files") if isinstance(record, dict) and record.get("format") == MANIFEST_FORMAT else None
    if not isinstance(files, dict):
        return None
    return {str(k): str(v) for k, v in files.items() if isinstance(k, str) and _plain_name(k) and k != MANIFEST}


def _plain_name(name: str) -> bool:
    parts = PurePosixPath(name).parts
    return bool(parts) and not name.startswith("/") and "\\" not in name and all(p not in ("..", ".") for p in parts)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()

"""RunDir: the only place bilin writes files. Every write is atomic (temp file + rename).

A run folder holds its config (Hydra's .hydra/), run.json (provenance and status), CSVs,
safetensors weights, a resumable checkpoint and figures (HTML always; PNG and SVG through
kaleido when a Chrome/Chromium is present, all figures of a call in one kaleido session).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import io
import json
import math
import os
import shlex
import struct
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
import plotly.io as pio

from bilin.errors import UserError
from bilin.running.figure_page import PLOTLY_JS, figure_page, page_finds_plotly, plotly_candidates, shared_plotly_dir
from bilin.running.static_export import StaticExport

if TYPE_CHECKING:
    import torch

Figure = go.Figure | Callable[[], go.Figure]  # a figure, or its builder (called when it is written)
CHECKSUMS = "checksums.json"  # SHA-256 of every binary file a run or cache entry holds
KALEIDO_FORMATS = ("png", "svg", "pdf", "jpeg", "jpg", "webp")
FLOAT32_MAX = 3.4028234663852886e38
_CLAIM_PREFIX = "BILIN_FOLDER_"
_UMASK = os.umask(0)
os.umask(_UMASK)


def static_formats() -> tuple[str, ...]:
    """PNG and SVG by default; BILIN_FIGURE_FORMATS="" keeps runs to HTML + JSON (fast, no browser)."""
    raw = os.environ.get("BILIN_FIGURE_FORMATS", "png,svg")
    formats = tuple(f.strip().lower() for f in raw.split(",") if f.strip())
    unknown = [f for f in formats if f not in KALEIDO_FORMATS]
    if unknown:
        raise UserError(
            f"BILIN_FIGURE_FORMATS={raw}: kaleido cannot write {', '.join(unknown)}; "
            f"use any of {', '.join(KALEIDO_FORMATS)} (comma-separated), or empty for HTML only"
        )
    return formats


class RunDir:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserError(f"cannot create output directory {self.path}: {exc.strerror or exc}") from exc

    def file(self, name: str) -> Path:
        return self.path / name

    # -- atomic primitives ------------------------------------------------------------------
    def _atomic(self, name: str, write) -> Path:
        target = self.file(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        os.close(fd)
        try:
            write(Path(tmp))
            os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files; give them normal permissions
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return target

    def write_text(self, name: str, text: str) -> Path:
        return self._atomic(name, lambda p: p.write_text(text))

    def write_bytes(self, name: str, data: bytes) -> Path:
        return self._atomic(name, lambda p: p.write_bytes(data))

    def write_json(self, name: str, record: Mapping[str, Any]) -> Path:
        """Strict JSON: a non-finite float (a NaN loss, say) is written as null, never as bare NaN."""
        return self.write_text(name, _json_text(record))

    def write_checked_json(self, name: str, record: Mapping[str, Any]) -> Path:
        """JSON a reader must be able to trust (model.json): as write_json, its SHA-256 in checksums.json."""
        return self._write_checked(name, _json_text(record).encode())

    def remove(self, name: str) -> None:
        """Delete a file of this folder (a page of a run that is gone, say); no error if absent."""
        self.file(name).unlink(missing_ok=True)

    def read_json(self, name: str) -> dict:
        return read_json(self.file(name))

    def write_csv(self, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        """A table; float32 values are written without float32 noise (csv_number)."""
        rows = list(rows)
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: csv_number(v) for k, v in row.items()} for row in rows)
        return self.write_text(name, buffer.getvalue())

    def save_tensors(
        self, name: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
    ) -> Path:
        from safetensors.torch import save  # torch is imported by the methods that need it: claim_folder
        # runs on the torch-free path of option checks

        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        return self._write_checked(name, save(tensors, metadata=dict(metadata or {})))

    def save_torch(self, name: str, obj: Any) -> Path:
        import torch

        buffer = io.BytesIO()
        torch.save(obj, buffer)
        return self._write_checked(name, buffer.getvalue())

    def load_torch(self, name: str) -> Any:
        import torch

        data = verified_bytes(self.file(name))
        try:
            return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
        except Exception as exc:  # torch raises several types for a damaged or foreign file
            raise UserError(f"{self.file(name)} cannot be read as a checkpoint ({_short(exc)})") from exc

    def _write_checked(self, name: str, data: bytes) -> Path:
        """Write a binary file and record its SHA-256 in checksums.json (after it, so a crash in
        between leaves a mismatch that loading reports, never a silently different file)."""
        target = self.write_bytes(name, data)
        sums = read_json(self.file(CHECKSUMS)) if self.file(CHECKSUMS).is_file() else {}
        sums[name] = hashlib.sha256(data).hexdigest()
        self.write_json(CHECKSUMS, dict(sorted(sums.items())))
        return target

    # -- figures ----------------------------------------------------------------------------
    def write_plotly_js(self, folder: str | Path = "") -> Path:
        """plotly.js in `folder` (relative to this one, or absolute), once: pages load it offline (file://)."""
        script = self.file(str(folder)) / PLOTLY_JS if folder else self.file(PLOTLY_JS)
        if not script.is_file() or script.stat().st_size != len(_plotly_js()):
            RunDir(script.parent).write_text(PLOTLY_JS, _plotly_js())  # a third-party file, atomic like ours
        return script

    def repair_plotly_js(self, folder: str = "figures") -> bool:
        """A copy of plotly.js beside the figure pages when one of them cannot find it (its run folder
        was moved away from its outputs root); True when one was written."""
        if all(page_finds_plotly(p) for p in self.file(folder).glob("*.html")):
            return False
        self.write_plotly_js(folder)
        return True

    def write_figures(self, figures: Mapping[str, Figure], folder: str = "figures") -> str | None:
        """Write each figure as an HTML page and JSON, and its PNG+SVG (bilin.running.static_export: the
        browser draws a figure while the next one is built, when it is given as its builder, and its
        page written). The pages share one plotly.js per outputs root (bilin.running.figure_page says
        where they look for it).

        Returns None when every figure was written, else a one-line note: which were not built (a
        fault in a figure's builder), or how to get the static images.
        """
        pages = self.file(folder)
        pages.mkdir(parents=True, exist_ok=True)
        shared = self.write_plotly_js(shared_plotly_dir(self.path, pages)).parent
        candidates = plotly_candidates(pages, shared)
        formats = static_formats()
        images = RunDir(pages)
        export = StaticExport(pages, formats, images.write_bytes, images.remove) if formats else None
        unbuilt: dict[str, Exception] = {}
        for name, given in figures.items():
            try:
                fig = given() if callable(given) else given
            except Exception as exc:  # a fault in a figure's builder: the results are complete all the same
                unbuilt[name] = exc
                continue
            text = fig.to_json()
            self.write_text(f"{folder}/{name}.html", figure_page(fig, name, candidates))
            self.write_text(f"{folder}/{name}.json", text)
            if export is not None:  # the browser draws it while the next figure's page is written
                export.add(name, json.loads(text))
        try:
            note = export.finish() if export is not None else None
        except Exception as exc:  # the results are complete: an export fault is a note, never a failure
            note = _export_fault(exc, self.path)
        if unbuilt:
            first, exc = next(iter(unbuilt.items()))
            built = (
                f"figures not built ({', '.join(unbuilt)}; {first}: {type(exc).__name__}: {_short(exc)}), a fault "
                "in bilin; the results and the other figures are complete"
            )
            note = f"{built}; {note}" if note else built
        return note


def _export_fault(exc: BaseException, run: Path) -> str:
    return (
        f"static figures not written ({_short(exc)}); the HTML and JSON figures are complete; "
        f"retry with: bilin export-figures {shlex.quote(str(run))}"
    )


def claim_folder(base: str) -> Path:
    """A new folder of this run's own: `base`, or `base_2`, `base_3`, ... when another run took
    `base` (folder names stop at the second). mkdir is atomic, so two runs never share one. Asked
    again for the same base, this process and the jobs it launches (Hydra's launchers resolve the
    sweep folder again in each worker; they inherit the environment) get the folder it claimed."""
    claimed = _claim_variable(base)
    if claimed in os.environ:
        return Path(os.environ[claimed])
    path = Path(base)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate, n = path, 1
        while True:
            try:
                candidate.mkdir()
                break
            except FileExistsError:
                n += 1
                candidate = path.with_name(f"{path.name}_{n}")
    except OSError as exc:
        raise UserError(f"cannot create output directory {path}: {exc.strerror or exc}") from exc
    if n > 1:
        print(
            f"bilin: {path} is taken by another run started in the same second; this run is in {candidate}",
            file=sys.stderr,
        )
    os.environ[claimed] = str(candidate)
    return candidate


def claimed_folders() -> list[Path]:
    """The folders claim_folder gave this process (and the process that started it)."""
    return [Path(v) for k, v in os.environ.items() if k.startswith(_CLAIM_PREFIX)]


def _claim_variable(base: str) -> str:
    return f"{_CLAIM_PREFIX}{hashlib.sha1(base.encode()).hexdigest()[:12]}"


def read_json(path: Path) -> dict:
    """A JSON object from a file, or one line saying why it is not one."""
    try:
        record = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UserError(f"{path} cannot be read as JSON ({_short(exc)}); it is damaged or not bilin's") from exc
    if not isinstance(record, dict):
        raise UserError(f"{path} is not a JSON object; it is damaged or not bilin's")
    return record


def verified_bytes(path: Path) -> bytes:
    """A binary file's bytes, checked against the SHA-256 recorded when bilin wrote it."""
    if not path.is_file():
        raise UserError(f"{path} not found")
    data = path.read_bytes()
    sums_file = path.parent / CHECKSUMS
    expected = read_json(sums_file).get(path.name) if sums_file.is_file() else None
    if expected is None:
        raise UserError(
            f"{path} has no recorded checksum in {sums_file.name}, so it cannot be verified; "
            "re-create it with this bilin version (or remove the cache entry: bilin cache remove)"
        )
    if hashlib.sha256(data).hexdigest() != expected:
        raise UserError(
            f"{path} does not match the SHA-256 recorded when it was written: the file is damaged; "
            "re-run the command that wrote it (a cache entry: bilin cache verify --remove, then re-run)"
        )
    return data


def csv_number(value: Any) -> Any:
    """A float as a CSV cell: the shortest decimal that reads back as the same float32 when the
    value is exactly a float32 (what float32 tensors give through .item() / .tolist():
    0.8899999856948853 is written 0.89), else Python's own repr (float64 values stay exact).

    A float64 value that happens to be exactly a float32 with more than 9 significant digits
    (say 3 * 2**-20) is rare in bilin's tables; it would be written to float32 precision."""
    if type(value) is not float or not math.isfinite(value) or abs(value) > FLOAT32_MAX:
        return value
    as_float32 = struct.unpack("f", struct.pack("f", value))[0]
    if as_float32 != value:
        return value
    for digits in range(1, 10):  # 9 significant digits always round-trip a float32
        text = f"{value:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == value:
            return text if float(text) != value else value  # 1.0 and 0.5 stay as Python writes them
    return value


def _json_text(record: Mapping[str, Any]) -> str:
    return json.dumps(_finite(record), indent=2, default=str, allow_nan=False) + "\n"


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def _short(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


@functools.cache
def _plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()


def export_static(folder: Path, names: list[str]) -> str | None:
    """Render the figures `<folder>/<name>.json` to the static formats (bilin.running.static_export):
    None when every image was written, else one line saying which were not and the command that
    makes them."""
    formats = static_formats()
    if not names or not formats:
        return None
    run = RunDir(folder)
    export = StaticExport(folder, formats, run.write_bytes, run.remove)
    for name in names:
        try:
            fig = pio.read_json(folder / f"{name}.json")  # a file from disk: checked to be a plotly figure
        except (OSError, ValueError) as exc:  # JSONDecodeError is a ValueError, as is plotly's validation
            raise UserError(f"{folder / name}.json is not a plotly figure ({_short(exc)}); re-run the command") from exc
        export.add(name, fig.to_plotly_json())
    return export.finish()

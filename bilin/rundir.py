"""RunDir: the only place bilin writes files. Every write is atomic (temp file + rename).

A run folder holds its config (Hydra's .hydra/), run.json (provenance and status), CSVs,
safetensors weights, a resumable checkpoint and figures (HTML always; PNG and SVG through
kaleido when a Chrome/Chromium is present, all figures of a call in one kaleido session).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio
import torch
from safetensors.torch import save_file

from bilin.errors import UserError

_UMASK = os.umask(0)
os.umask(_UMASK)


def static_formats() -> tuple[str, ...]:
    """PNG and SVG by default; BILIN_FIGURE_FORMATS="" keeps runs to HTML + JSON (fast, no browser)."""
    raw = os.environ.get("BILIN_FIGURE_FORMATS", "png,svg")
    return tuple(f.strip() for f in raw.split(",") if f.strip())


NO_BROWSER_HINT = (
    "PNG/SVG need Chrome or Chromium for kaleido: `apt-get install -y chromium` (or `plotly_get_chrome`), "
    "then `bilin export-figures <run_dir>`"
)


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

    def write_json(self, name: str, record: Mapping[str, Any]) -> Path:
        return self.write_text(name, json.dumps(record, indent=2, default=str) + "\n")

    def read_json(self, name: str) -> dict:
        return json.loads(self.file(name).read_text())

    def write_csv(self, name: str, rows: Iterable[Mapping[str, Any]]) -> Path:
        rows = list(rows)
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
        return self.write_text(name, buffer.getvalue())

    def save_tensors(
        self, name: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None = None
    ) -> Path:
        tensors = {k: v.detach().contiguous().cpu() for k, v in tensors.items()}
        return self._atomic(name, lambda p: save_file(tensors, str(p), metadata=dict(metadata or {})))

    def save_torch(self, name: str, obj: Any) -> Path:
        return self._atomic(name, lambda p: torch.save(obj, p))

    def load_torch(self, name: str) -> Any:
        return torch.load(self.file(name), map_location="cpu", weights_only=True)

    # -- figures ----------------------------------------------------------------------------
    def write_figures(self, figures: Mapping[str, go.Figure], folder: str = "figures") -> str | None:
        """Write each figure as HTML (plotly.js once beside them, works offline) and JSON, then
        PNG+SVG in one kaleido session.

        Returns None when the static export worked, else a one-line note saying how to get it.
        """
        for name, fig in figures.items():
            self._atomic(f"{folder}/{name}.html", lambda p, f=fig: f.write_html(p, include_plotlyjs="directory"))
            self.write_text(f"{folder}/{name}.json", fig.to_json())
        return export_static(self.file(folder), list(figures))


def export_static(folder: Path, names: list[str]) -> str | None:
    """Render `<folder>/<name>.json` figures to PNG and SVG through one kaleido session."""
    formats = static_formats()
    if not names or not formats:
        return None
    figures, targets, temps = [], [], []
    for name in names:
        fig = pio.read_json(folder / f"{name}.json")
        for fmt in formats:
            fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=f".{fmt}")
            os.close(fd)
            figures.append(fig)
            temps.append(Path(tmp))
            targets.append(folder / f"{name}.{fmt}")
    try:
        # kaleido's batch export ignores layout.width/height unless they are passed explicitly
        pio.write_images(
            figures,
            temps,
            scale=[2 if t.suffix == ".png" else 1 for t in temps],
            width=[f.layout.width or 900 for f in figures],
            height=[f.layout.height or 500 for f in figures],
        )
    except Exception as exc:  # kaleido raises its own types when no browser is found
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        if "chrome" in str(exc).lower() or "browser" in str(exc).lower():
            return NO_BROWSER_HINT
        raise
    for tmp, target in zip(temps, targets, strict=True):
        os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, target)
    return None

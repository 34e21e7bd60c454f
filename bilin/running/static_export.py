"""A run's static images (PNG, SVG, ...): each figure's drawing starts as soon as the figure is added,
in the warm browser when one is open (bilin.running.static_images), so the browser draws one figure
while the run writes the next one's page. `finish` waits for them all and writes whole images only;
an image that failed is drawn once more in a fresh session, and one that fails again leaves no file
(not even an older one) and is named in the one-line note `finish` returns.

The files are written through the callables the caller gives (RunDir's), so this module writes
nothing itself.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from bilin.running.static_images import BrowserMissing, ImageRequest, PendingImages, render_images, start_images

NO_BROWSER_HINT = (
    "PNG/SVG need Chrome or Chromium for kaleido: `apt-get install -y chromium-headless-shell` (or chromium, "
    "or `plotly_get_chrome`), then `bilin export-figures <run_dir>`"
)
PNG_SCALE = 2  # PNGs at twice the figure's size (bilin.report.pages reads them so)
DEFAULT_SIZE = (900, 500)  # kaleido ignores a figure's layout size unless it is given; plotly's default


class StaticExport:
    """The static images of the figures in `folder`, in `formats`; `write(file name, bytes)` writes one
    atomically, `remove(file name)` deletes one."""

    def __init__(
        self,
        folder: Path,
        formats: Sequence[str],
        write: Callable[[str, bytes], object],
        remove: Callable[[str], None],
    ) -> None:
        self.folder, self.formats = folder, tuple(formats)
        self._write, self._remove = write, remove
        self.requests: dict[str, ImageRequest] = {}  # file name -> what to draw
        self._drawing: list[tuple[list[str], PendingImages]] = []  # started in the warm browser
        self._waiting: list[str] = []  # files to draw together when finishing (no warm browser suited)
        self._fault: Exception | None = None  # one in `add`, raised by `finish`: the figures' pages go on

    def add(self, name: str, figure: dict[str, Any]) -> None:
        """Start drawing figure `name` (a plotly figure as a dict) in each format. A fault here is
        raised by `finish`, so that the caller writes its other figures' pages first."""
        try:
            self._start(name, figure)
        except Exception as exc:
            self._fault = self._fault or exc

    def _start(self, name: str, figure: dict[str, Any]) -> None:
        layout = figure.get("layout") or {}
        size = (layout.get("width") or DEFAULT_SIZE[0], layout.get("height") or DEFAULT_SIZE[1])
        files = {
            f"{name}.{fmt}": ImageRequest(figure, fmt, *size, PNG_SCALE if fmt == "png" else 1) for fmt in self.formats
        }
        self.requests.update(files)
        pending = start_images(list(files.values()))
        if pending is None:
            self._waiting.extend(files)
        else:
            self._drawing.append((list(files), pending))

    def finish(self) -> str | None:
        """Wait for every image and write the whole ones; None when all were written, else one line
        saying which were not and the command that makes them."""
        if self._fault is not None:
            raise self._fault
        try:
            drawn: dict[str, bytes | str] = {}
            for files, pending in self._drawing:
                drawn.update(zip(files, pending.result(), strict=True))
            waiting = [self.requests[f] for f in self._waiting]  # one session for all of them
            drawn.update(zip(self._waiting, render_images(waiting), strict=True))
            failed = self._write_whole(drawn)
            if failed:  # once more, in a fresh session
                failed = self._write_whole(
                    dict(zip(failed, render_images([self.requests[f] for f in failed], fresh=True), strict=True))
                )
        except BrowserMissing:
            return NO_BROWSER_HINT
        if not failed:
            return None
        for file in failed:
            self._remove(file)  # never an older image beside newer HTML
        first, reason = next(iter(failed.items()))
        return (
            f"{len(failed)} of {len(self.requests)} static figures could not be rendered ({', '.join(failed)}; "
            f"{first}: {reason}); the HTML and JSON figures are complete; retry with: "
            f"bilin export-figures {shlex.quote(str(self.folder.parent))}"
        )

    def _write_whole(self, drawn: dict[str, bytes | str]) -> dict[str, str]:
        """Write each image that was drawn whole; {file: why} of those that were not."""
        failed = {}
        for file, image in drawn.items():
            if isinstance(image, bytes):
                self._write(file, image)
            else:
                failed[file] = image
        return failed

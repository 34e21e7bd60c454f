"""Plotly figures rendered to PNG/SVG/... bytes through one kaleido (headless Chromium) session.

kaleido reports a figure it could not render by returning the error, not raising it, and deletes
the file it was given; plotly's write_images ignores those errors. So bilin asks kaleido for each
image's bytes, keeps each one's own error, and checks every image's bytes before they are written:
an empty or truncated image is a failure like any other, never a file.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass
from typing import Any

NO_BROWSER = "no Chrome/Chromium found"
for _library in ("kaleido", "choreographer", "logistro"):  # their warnings reach a run's log, never the terminal
    logging.getLogger(_library).addHandler(logging.NullHandler())


@dataclass(frozen=True)
class ImageRequest:
    figure: dict[str, Any]  # a plotly figure as a dict
    format: str  # png | svg | pdf | jpeg | jpg | webp
    width: int
    height: int
    scale: float


class BrowserMissing(Exception):
    """kaleido found no Chrome/Chromium to render with."""


def render_images(requests: list[ImageRequest]) -> list[bytes | str]:
    """Each request's checked bytes, or a one-line reason it failed; one browser for all of them.
    Raises BrowserMissing when there is no browser at all."""
    if not requests:
        return []
    try:
        results = _run(_render_all(requests))
    except BrowserMissing:
        raise
    except Exception as exc:  # the session itself failed (the browser crashed on start, say)
        return [f"kaleido failed: {_short(exc)}"] * len(requests)
    checked: list[bytes | str] = []
    for request, result in zip(requests, results, strict=True):
        if isinstance(result, BaseException):
            checked.append(f"kaleido failed: {_short(result)}")
        else:
            problem = image_problem(result, request.format)
            checked.append(result if problem is None else problem)
    return checked


def image_problem(data: bytes, fmt: str) -> str | None:
    """None when `data` is a whole image of format `fmt`, else what is wrong with it."""
    if not data:
        return "kaleido returned an empty image"
    if fmt == "png":
        whole = (
            len(data) >= 33  # signature, IHDR, IEND
            and data[:8] == b"\x89PNG\r\n\x1a\n"
            and data[12:16] == b"IHDR"
            and min(struct.unpack(">II", data[16:24])) > 0
            and data[-8:-4] == b"IEND"
        )
        return None if whole else "not a whole PNG"
    if fmt == "svg":
        try:
            root = ElementTree.fromstring(data)
        except ElementTree.ParseError as exc:
            return f"not a whole SVG ({exc})"
        return None if root.tag.endswith("svg") else "not an SVG"
    if fmt == "pdf":
        return None if data[:5] == b"%PDF-" and b"%%EOF" in data[-1024:] else "not a whole PDF"
    if fmt in ("jpeg", "jpg"):
        return None if data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9" else "not a whole JPEG"
    if fmt == "webp":
        return None if data[:4] == b"RIFF" and data[8:12] == b"WEBP" else "not a whole WebP"
    return f"unknown format {fmt}"


async def _render_all(requests: list[ImageRequest]) -> list[bytes | BaseException]:
    import kaleido
    import plotly.io as pio
    from kaleido.errors import ChromeNotFoundError

    kopts = {k: v for k in ("plotlyjs", "mathjax", "headers") if (v := getattr(pio.defaults, k, None))}
    try:
        async with kaleido.Kaleido(**kopts) as session:
            return await asyncio.gather(
                *(
                    session.calc_fig(
                        r.figure,
                        opts={"format": r.format, "width": r.width, "height": r.height, "scale": r.scale},
                        topojson=getattr(pio.defaults, "topojson", None),
                    )
                    for r in requests
                ),
                return_exceptions=True,
            )
    except ChromeNotFoundError as exc:
        raise BrowserMissing(NO_BROWSER) from exc


def _run(coroutine: Any) -> Any:
    """Run a coroutine to its end here, or in a thread of its own when this thread runs a loop already."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _short(exc: BaseException) -> str:
    """The first sentence kaleido or its browser gave (some pass several as a tuple of lines)."""
    first = exc.args[0] if exc.args and isinstance(exc.args[0], str) else str(exc)
    return " ".join(first.split())[:200] or type(exc).__name__

"""Plotly figures rendered to PNG/SVG/... bytes through one kaleido (headless Chromium) session.

kaleido reports a figure it could not render by returning the error, not raising it, and deletes
the file it was given; plotly's write_images ignores those errors. So bilin asks kaleido for each
image's bytes, keeps each one's own error, and checks every image's bytes before they are written:
an empty or truncated image is a failure like any other, never a file.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import struct
import threading
import xml.etree.ElementTree as ElementTree
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager, suppress
from dataclasses import dataclass
from typing import Any

from bilin.running.kaleido_session import new_session

NO_BROWSER = "no Chrome/Chromium found"
CLOSE_SECONDS = 10.0  # for a warm browser to end
BROWSER_LIBRARIES = ("kaleido", "choreographer", "logistro")
for _library in BROWSER_LIBRARIES:  # their warnings reach a run's log, never the terminal
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


class WarmBrowser:
    """A kaleido session opened ahead of the figures, in a thread of its own: Chromium's cold start
    (about 2 s) overlaps the run's work instead of adding to it. It stays open for the process's
    later runs (a sequential sweep's: each would otherwise wait for a cold start, its training being
    shorter), until the process exits or its session fails; `close` ends it and its browser."""

    def __init__(self, formats: Iterable[str]) -> None:
        import plotly.io as pio

        self.formats = frozenset(formats)  # the session suits these (bilin.running.kaleido_session)
        self.topojson = getattr(pio.defaults, "topojson", None)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="kaleido", daemon=True)
        self._thread.start()
        self._session = asyncio.run_coroutine_threadsafe(_opened(new_session(self.formats)), self._loop)

    def submit(self, requests: list[ImageRequest]) -> Future:
        """Start drawing `requests` now; the future's result is each one's bytes or kaleido's error."""
        return asyncio.run_coroutine_threadsafe(self._draw(requests), self._loop)

    async def _draw(self, requests: list[ImageRequest]) -> list[bytes | BaseException]:
        session = await asyncio.wrap_future(self._session)
        return await _calc_all(session, requests, self.topojson)

    def close(self) -> None:
        with _browser_libraries_silent():
            with suppress(Exception):  # a session that never opened has nothing to close
                session = self._session.result()
                asyncio.run_coroutine_threadsafe(session.__aexit__(None, None, None), self._loop).result(CLOSE_SECONDS)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(CLOSE_SECONDS)


@contextmanager
def _browser_libraries_silent() -> Iterator[None]:
    """Nothing kaleido, choreographer or logistro log while bilin closes a browser reaches a log. At
    that point every image is drawn and checked, and their close races with the browser's last
    message: choreographer then logs an ERROR with a traceback for a message it ignores (its own
    "{bye}" marker read as JSON), which would land in a finished run's log (the warm browser closes
    when the process exits)."""
    loggers = [logging.getLogger(name) for name in BROWSER_LIBRARIES]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


@asynccontextmanager
async def _own_session(formats: Iterable[str]) -> AsyncIterator[Any]:
    """A kaleido session for one batch of images, closed as quietly as the warm browser."""
    session = new_session(formats)
    await session.__aenter__()
    try:
        yield session
    finally:
        with _browser_libraries_silent():
            await session.__aexit__(None, None, None)


async def _opened(session: Any) -> Any:
    """The session, its page already holding plotly.js: one tiny image drawn (its result unused)."""
    await session.__aenter__()
    with suppress(Exception):
        await session.calc_fig({"data": [], "layout": {}}, opts={"format": "png", "width": 8, "height": 8})
    return session


_warm: WarmBrowser | None = None


def warm_browser(formats: Iterable[str]) -> None:
    """Open the browser the run's static images (of `formats`) will use now, in the background (see
    WarmBrowser); nothing when one is open already. It is closed when the process exits."""
    global _warm
    if _warm is None:
        with suppress(Exception):  # never a reason to fail a run: the figures then open their own session
            _warm = WarmBrowser(formats)


def close_browser() -> None:
    """End the warm browser, if one is open."""
    global _warm
    browser, _warm = _warm, None
    if browser is not None:
        browser.close()


atexit.register(close_browser)  # a warm browser ends with the process (the bilin script's exit runs this)


class PendingImages:
    """Images the warm browser is drawing (start_images): `result()` waits for them; as render_images's."""

    def __init__(self, requests: list[ImageRequest], drawing: Future) -> None:
        self.requests, self._drawing = requests, drawing

    def result(self) -> list[bytes | str]:
        return _checked(self.requests, self._drawing.result)


def start_images(requests: list[ImageRequest]) -> PendingImages | None:
    """Start drawing `requests` in the warm browser now, so that the caller goes on while it draws;
    None when no warm browser suits them (render_images then draws them in a session of their own)."""
    warm = _warm_for(requests)
    if warm is None:
        return None
    try:
        return PendingImages(requests, warm.submit(requests))
    except Exception:  # its loop already stopped, say: drawn with the others instead
        return None


def render_images(requests: list[ImageRequest], fresh: bool = False) -> list[bytes | str]:
    """Each request's checked bytes, or a one-line reason it failed; one browser for all of them: the
    warm one when one is open (unless `fresh`: it is closed first), else a session of their own.
    Raises BrowserMissing when there is no browser."""
    if not requests:
        return []
    if fresh:
        close_browser()
    warm = _warm_for(requests)
    return _checked(requests, (lambda: warm.submit(requests).result()) if warm else lambda: _run(_render_all(requests)))


def _warm_for(requests: list[ImageRequest]) -> WarmBrowser | None:
    """The warm browser when one is open and its session suits the requests' formats."""
    if not requests or _warm is None or not {r.format for r in requests} <= _warm.formats:
        return None
    return _warm


def _checked(requests: list[ImageRequest], draw: Callable[[], list[bytes | BaseException]]) -> list[bytes | str]:
    """What `draw()` gave for each request, checked to be a whole image, else why not. A session that
    failed as a whole is closed (never used again); BrowserMissing when there is no browser."""
    from kaleido.errors import ChromeNotFoundError

    try:
        results = draw()
    except (BrowserMissing, ChromeNotFoundError) as exc:
        close_browser()
        raise BrowserMissing(NO_BROWSER) from exc
    except Exception as exc:  # the session itself failed (the browser crashed on start, say)
        close_browser()
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
    import plotly.io as pio
    from kaleido.errors import ChromeNotFoundError

    try:
        async with _own_session({r.format for r in requests}) as session:
            return await _calc_all(session, requests, getattr(pio.defaults, "topojson", None))
    except ChromeNotFoundError as exc:
        raise BrowserMissing(NO_BROWSER) from exc


async def _calc_all(session: Any, requests: list[ImageRequest], topojson: Any) -> list[bytes | BaseException]:
    return await asyncio.gather(
        *(
            session.calc_fig(
                r.figure,
                opts={"format": r.format, "width": r.width, "height": r.height, "scale": r.scale},
                topojson=topojson,
            )
            for r in requests
        ),
        return_exceptions=True,
    )


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

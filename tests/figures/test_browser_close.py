"""Nothing kaleido's libraries log while bilin closes a browser reaches a log: every image is drawn and
checked by then, and the warm browser closes when the process exits, after its run is complete.
choreographer's close can race with the browser's last message and log an ERROR with a traceback for
a message it then ignores; that landed in a finished run's train.log. What they log while drawing
still reaches the run's log."""

from __future__ import annotations

import logging

import pytest

from bilin.running import static_images
from bilin.running.static_images import BROWSER_LIBRARIES, ImageRequest, WarmBrowser, render_images

PNG = b"\x89PNG\r\n\x1a\n" + b"\0\0\0\x0dIHDR" + (4).to_bytes(4, "big") * 2 + b"\x08\x06\0\0\0" + b"\0" * 4
PNG += b"\0\0\0\0IEND\xaeB`\x82"
WHILE_DRAWING = "a warning while drawing"
WHILE_CLOSING = "JSONError decoding message. Ignoring"  # choreographer's words, for its own "{bye}"


class ChattySession:
    """A kaleido session whose libraries log as the real ones can, drawing and closing."""

    def __init__(self, formats):
        self.closed = False

    async def __aenter__(self):
        return self

    async def calc_fig(self, figure, opts, topojson=None):
        logging.getLogger("kaleido.kaleido").warning(WHILE_DRAWING)
        return PNG

    async def __aexit__(self, *exc):
        logging.getLogger("choreographer.channels.pipe").error(WHILE_CLOSING)
        logging.getLogger("logistro").critical(WHILE_CLOSING)
        self.closed = True


@pytest.fixture
def chatty(monkeypatch, caplog):
    monkeypatch.setattr(static_images, "new_session", ChattySession)
    caplog.set_level(logging.INFO)
    return [logging.getLogger(name).level for name in BROWSER_LIBRARIES]


def request() -> ImageRequest:
    return ImageRequest(figure={"data": [], "layout": {}}, format="png", width=4, height=4, scale=1)


def test_a_session_of_its_own_closes_without_a_word_in_the_log(chatty, caplog):
    assert render_images([request(), request()]) == [PNG, PNG]
    assert [r.getMessage() for r in caplog.records] == [WHILE_DRAWING, WHILE_DRAWING]
    assert [logging.getLogger(name).level for name in BROWSER_LIBRARIES] == chatty  # as they were


def test_the_warm_browser_closes_without_a_word_in_the_log(chatty, caplog):
    warm = WarmBrowser(["png"])
    assert warm.submit([request()]).result(10) == [PNG]
    warm.close()
    assert WHILE_CLOSING not in caplog.text
    assert caplog.text.count(WHILE_DRAWING) == 2  # the tiny image it opens with, and the one asked for
    assert [logging.getLogger(name).level for name in BROWSER_LIBRARIES] == chatty

"""bilin's kaleido session (bilin.running.kaleido_session): a tab's page reloaded every RELOAD_EVERY
images instead of after each, for the formats Plotly.toImage draws alone; the images the same."""

from __future__ import annotations

import asyncio
import shutil
from types import SimpleNamespace

import kaleido
import plotly.graph_objects as go
import pytest

from bilin.running import kaleido_session
from bilin.running.kaleido_session import RELOAD_EVERY, new_session, page_reusing_kaleido
from bilin.running.static_images import image_problem


class FakeTab:
    def __init__(self):
        self.tab = SimpleNamespace(target_id="fake-tab")  # kaleido logs its first characters
        self.reloads = 0

    async def reload(self):
        self.reloads += 1


def test_a_tab_is_reloaded_every_reload_every_images_and_always_returned():
    async def draw(images: int) -> FakeTab:
        session = object.__new__(page_reusing_kaleido())  # no browser: only the tab bookkeeping is tried
        session.tabs_ready, tab = asyncio.Queue(), FakeTab()
        for _ in range(images):
            await session._return_kaleido_tab(tab)
            assert await session.tabs_ready.get() is tab
        return tab

    assert asyncio.run(draw(RELOAD_EVERY - 1)).reloads == 0
    assert asyncio.run(draw(RELOAD_EVERY + 2)).reloads == 1  # kaleido's own return: reload, then queue


def test_the_page_is_reused_only_for_formats_that_leave_it_as_it_was(monkeypatch):
    made = []
    monkeypatch.setattr(kaleido.Kaleido, "__init__", lambda self, **options: made.append(options))
    assert type(new_session(["png", "svg"])) is page_reusing_kaleido()
    assert type(new_session(["png", "pdf"])) is kaleido.Kaleido  # a PDF styles the page itself
    assert made[0] == made[1] == kaleido_session.kaleido_options()


@pytest.mark.skipif(
    shutil.which("chromium") is None and shutil.which("google-chrome") is None,
    reason="drawing needs Chrome/Chromium (.ci/run installs Debian's chromium)",
)
def test_images_drawn_on_a_reused_page_are_kaleido_s_own():
    figures = [
        go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]), layout={"title": {"text": "heatmap"}}),
        go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="line"), layout={"showlegend": True}),
        go.Figure(go.Bar(x=["a", "b"], y=[2, 5]), layout={"title": {"text": "λ = −0.09"}}),
    ]

    async def draw(session) -> list[bytes]:
        async with session:
            options = {"width": 300, "height": 200}
            return [
                await session.calc_fig(f, opts={"format": fmt, **options}) for f in figures for fmt in ("png", "svg")
            ]

    reused = asyncio.run(draw(new_session(["png", "svg"])))
    own = asyncio.run(draw(kaleido.Kaleido(**kaleido_session.kaleido_options())))
    assert reused[0::2] == own[0::2]  # every PNG byte for byte
    assert all(image_problem(svg, "svg") is None for svg in reused[1::2])

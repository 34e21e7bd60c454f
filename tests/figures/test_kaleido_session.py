"""bilin's kaleido session (bilin.running.kaleido_session): a tab's page reloaded every RELOAD_EVERY
images instead of after each, for the formats Plotly.toImage draws alone; the images the same; and
Chromium's headless shell preferred, drawing what chromium draws."""

from __future__ import annotations

import asyncio
import re
import shutil
from types import SimpleNamespace
from xml.etree import ElementTree

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


def fake_browser(folder, name: str) -> str:
    folder.mkdir(exist_ok=True)
    path = folder / name
    path.write_text("#!/bin/sh\n")
    path.chmod(0o755)
    return str(path)


def test_chromiums_headless_shell_is_preferred_unless_browser_path_names_one(tmp_path, monkeypatch):
    monkeypatch.delenv("BROWSER_PATH", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    fake_browser(tmp_path / "bin", "chromium")
    assert kaleido_session.headless_shell() is None  # kaleido finds chromium itself
    assert "path" not in kaleido_session.kaleido_options()
    shell = fake_browser(tmp_path / "bin", "chromium-headless-shell")
    assert kaleido_session.headless_shell() == shell
    assert kaleido_session.kaleido_options()["path"] == shell
    monkeypatch.setenv("BROWSER_PATH", "/opt/my-chrome")  # choreographer reads it: the user's choice wins
    assert kaleido_session.headless_shell() is None and "path" not in kaleido_session.kaleido_options()


def test_the_page_is_reused_only_for_formats_that_leave_it_as_it_was(monkeypatch):
    made = []
    monkeypatch.setattr(kaleido.Kaleido, "__init__", lambda self, **options: made.append(options))
    assert type(new_session(["png", "svg"])) is page_reusing_kaleido()
    assert type(new_session(["png", "pdf"])) is kaleido.Kaleido  # a PDF styles the page itself
    assert made[0] == made[1] == kaleido_session.kaleido_options()


FIGURES = [
    go.Figure(go.Heatmap(z=[[1, 2], [3, 4]]), layout={"title": {"text": "heatmap"}}),
    go.Figure(go.Scatter(x=[1, 2, 3], y=[3, 1, 2], name="line"), layout={"showlegend": True}),
    go.Figure(go.Bar(x=["a", "b"], y=[2, 5]), layout={"title": {"text": "λ = −0.09"}}),
]


async def draw(session) -> list[bytes]:
    """PNG and SVG of each of FIGURES, in turn."""
    async with session:
        options = {"width": 300, "height": 200}
        return [await session.calc_fig(f, opts={"format": fmt, **options}) for f in FIGURES for fmt in ("png", "svg")]


@pytest.mark.skipif(
    not (kaleido_session.headless_shell() or shutil.which("chromium") or shutil.which("google-chrome")),
    reason="drawing needs Chrome/Chromium (.ci/run installs Debian's chromium and chromium-headless-shell)",
)
def test_images_drawn_on_a_reused_page_are_kaleido_s_own():
    reused = asyncio.run(draw(new_session(["png", "svg"])))
    own = asyncio.run(draw(kaleido.Kaleido(**kaleido_session.kaleido_options())))
    assert reused[0::2] == own[0::2]  # every PNG byte for byte
    assert all(image_problem(svg, "svg") is None for svg in reused[1::2])


@pytest.mark.skipif(
    not (kaleido_session.headless_shell() and shutil.which("chromium")),
    reason="compares two browsers (.ci/run installs Debian's chromium and chromium-headless-shell)",
)
def test_the_headless_shell_draws_the_same_images_as_chromium(monkeypatch):
    shell = asyncio.run(draw(new_session(["png", "svg"])))
    monkeypatch.setenv("BROWSER_PATH", shutil.which("chromium"))
    full = asyncio.run(draw(new_session(["png", "svg"])))
    assert shell[0::2] == full[0::2]  # every PNG byte for byte
    assert [without_ids(svg) for svg in shell[1::2]] == [without_ids(svg) for svg in full[1::2]]


def without_ids(svg: bytes) -> tuple:
    """The SVG's elements as nested (tag, sorted attributes, text, children), plotly's random ids (6 hex
    digits after `defs-`, `trace` and `-cb`) made equal: the same drawing gives the same tuple, whatever
    order the browser wrote an element's attributes in."""
    text = svg.decode()
    for uid in set(re.findall(r"(?:defs-|trace|-cb)([0-9a-f]{6})", text)):
        text = text.replace(uid, "id")

    def tree(element: ElementTree.Element) -> tuple:
        return element.tag, sorted(element.attrib.items()), element.text, [tree(child) for child in element]

    return tree(ElementTree.fromstring(text))

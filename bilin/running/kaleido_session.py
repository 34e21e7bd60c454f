"""The kaleido session bilin draws its static images with: kaleido's own, with the page options below
and one change to how it keeps a tab between images.

kaleido reloads a tab's page after every image, which parses plotly.js again: about 0.13 s of each
image's 0.17-0.28 s (2-core Xeon). A PNG, SVG, JPEG or WebP is drawn by Plotly.toImage on an element
of its own that it removes again, so nothing of one figure is on the page for the next; bilin's
session reloads the page every RELOAD_EVERY images instead, which bounds whatever a page gathers.
Measured on the 24 images of `bilin decompose`: 2.1 s instead of 5.8 s, every PNG byte-identical,
every SVG the same drawing (two attributes of the legend's box in another order; an SVG's element
ids are random in any case). A PDF is drawn through the page's own style and image element, so a
session for PDFs reloads after each image, as kaleido does.
"""

from __future__ import annotations

import functools
import os
import shutil
from collections.abc import Iterable
from typing import Any

RELOAD_EVERY = 50  # images a tab draws between two page loads
PAGE_FREE_FORMATS = frozenset({"png", "svg", "jpeg", "jpg", "webp"})  # drawn by Plotly.toImage alone
HEADLESS_SHELLS = ("chromium-headless-shell", "chrome-headless-shell")  # Debian's; Chrome for Testing's


def headless_shell() -> str | None:
    """Chromium's headless shell when one is on the PATH and $BROWSER_PATH names no browser, else None
    (kaleido then finds Chrome or Chromium itself). The shell is Chromium's old headless mode, built
    alone: starting it and drawing four images took about 1.2 s less of a 2-core Xeon's CPU than
    Debian's chromium (whose --headless is the full browser), CPU otherwise taken from the run it
    overlaps, and it draws the same images (docs/performance.md)."""
    if os.environ.get("BROWSER_PATH"):
        return None
    return next((path for name in HEADLESS_SHELLS if (path := shutil.which(name))), None)


def kaleido_options() -> dict[str, Any]:
    """A kaleido session's page: plotly.io's defaults (plotly.js, headers), and no MathJax unless
    `plotly.io.defaults.mathjax` names one. kaleido's page otherwise loads MathJax from a CDN each time
    a tab loads; offline, that request fails, now and then only after a 5 s DNS timeout that holds the
    page's load event (2 of 12 batches of four images, measured). bilin's figures use no LaTeX."""
    import plotly.io as pio

    options = {k: v for k in ("plotlyjs", "headers") if (v := getattr(pio.defaults, k, None))}
    browser = {"path": path} if (path := headless_shell()) else {}
    return {**options, **browser, "mathjax": getattr(pio.defaults, "mathjax", None) or False}


def new_session(formats: Iterable[str]) -> Any:
    """A kaleido session, not yet opened, for images of `formats`."""
    import kaleido

    reuses_pages = set(formats) <= PAGE_FREE_FORMATS
    return (page_reusing_kaleido() if reuses_pages else kaleido.Kaleido)(**kaleido_options())


@functools.cache
def page_reusing_kaleido() -> type:
    """kaleido.Kaleido, its tabs reloaded every RELOAD_EVERY images rather than after each one."""
    import kaleido

    class PageReusingKaleido(kaleido.Kaleido):
        drawn = 0

        async def _return_kaleido_tab(self, tab: Any) -> None:
            self.drawn += 1
            if self.drawn % RELOAD_EVERY == 0:
                await super()._return_kaleido_tab(tab)  # kaleido's own: reload, then back in the queue
            else:
                await self.tabs_ready.put(tab)

    return PageReusingKaleido

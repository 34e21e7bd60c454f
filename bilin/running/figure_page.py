"""A figure's standalone HTML page, and where it finds plotly.js: one copy per outputs root.

plotly.min.js (4.8 MB) is written once, at the outputs root of the run (`outputs_root` in the run's
.hydra/config.yaml), and each page loads it by its relative path from there; a run outside its
outputs root (a folder named with hydra.run.dir, a RunDir used directly) keeps a copy in its own
figures/ folder. Every page looks for plotly.js first at that shared place, then beside itself
(figures/plotly.min.js): a run folder moved on its own gets a copy there from `bilin export-figures`,
and until then its pages show the figure's PNG and say so. Only these two places are tried, never
folders above the outputs root.
"""

from __future__ import annotations

import html
import json
import os
import re
from pathlib import Path

import plotly.graph_objects as go
import yaml

PLOTLY_JS = "plotly.min.js"
_TAGS = re.compile(r"<[^>]*>")
_SCRIPT_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def shared_plotly_dir(run: Path, figures: Path) -> Path:
    """The folder holding the plotly.js that `run`'s figure pages load: its outputs root when the run
    lies inside it, else the figures folder itself."""
    try:
        config = yaml.safe_load((run / ".hydra" / "config.yaml").read_text())
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return figures
    root = config.get("outputs_root") if isinstance(config, dict) else None
    if not isinstance(root, str) or not root:
        return figures
    root_path = Path(root).resolve()  # relative to the working folder, as Hydra used it for this run
    return root_path if run.resolve().is_relative_to(root_path) else figures


def plotly_candidates(figures: Path, shared: Path) -> list[str]:
    """Where a page in `figures` looks for plotly.js, in order: the shared copy, then its own folder."""
    first = Path(os.path.relpath(shared.resolve() / PLOTLY_JS, figures.resolve())).as_posix()
    return list(dict.fromkeys([first, PLOTLY_JS]))


def figure_page(fig: go.Figure, name: str, candidates: list[str]) -> str:
    """The page: a title (the figure's own, else its name), plotly.js from the first candidate that
    loads, the figure; without plotly.js, its PNG and a line saying how to get the interactive one."""
    title = _TAGS.sub("", fig.layout.title.text or "").strip()
    page_title = f"{title} ({name})" if title else name
    loader = f'<script src="{html.escape(candidates[0])}"></script>\n'
    for src in candidates[1:]:  # each tried only while plotly.js is still missing
        tag = _js(f'<script src="{html.escape(src)}"></script>')  # escaped for the HTML parser too
        loader += f"<script>window.Plotly || document.write({tag});</script>\n"
    missing = (
        f"plotly.js was not found (looked for {' and '.join(candidates)}): this run folder was probably moved "
        "away from its outputs folder. Below is the static image, if there is one; `bilin export-figures "
        "<this run folder>` puts a copy of plotly.js in its figures/ folder and makes this page interactive again."
    )
    fallback = (
        "if (!window.Plotly) {"
        f" const note = document.createElement('p'); note.id = 'no-plotly'; note.textContent = {_js(missing)};"
        f" const img = document.createElement('img'); img.src = {_js(name + '.png')}; img.alt = {_js(name)};"
        " img.style.maxWidth = '100%'; img.onerror = () => img.remove();"
        " document.body.prepend(note, img); }"
    )
    body = fig.to_html(full_html=False, include_plotlyjs=False, div_id="figure", default_height="100vh")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(page_title)}</title>\n'
        "<style>body { margin: 0; font-family: system-ui, sans-serif; } "
        "#no-plotly { margin: 12px 16px; color: #a40000; }</style>\n</head>\n<body>\n"
        f"{loader}{body}\n<script>{fallback}</script>\n</body>\n</html>\n"
    )


def page_finds_plotly(page: Path) -> bool:
    """Whether a figure page written by bilin finds plotly.js where it looks (pages of other makers: True)."""
    try:
        text = page.read_text()
    except (OSError, UnicodeDecodeError):
        return True
    found = re.findall(
        r'<script src="([^"]*plotly\.min\.js)"|document\.write\("\\u003cscript src=\\"([^"\\]*)\\"', text
    )
    sources = [html.unescape(a or b) for a, b in found]
    return not sources or any((page.parent / src).is_file() for src in sources)


def _js(text: str) -> str:
    return json.dumps(text).translate(_SCRIPT_ESCAPES)

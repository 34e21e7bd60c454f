"""The report's HTML pages as text: the index, a page per run, a page per sweep. No file writing.

Every link is relative (to the run folders beside the report and to the report's own files), so
the site works offline from file:// as long as the report stays beside the runs it shows. Every
value read from a run folder is escaped (bilin.report.safe); pages run only the report's own
script files, under a Content-Security-Policy.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bilin.report.runs import Run
from bilin.report.safe import csp_meta, escape, script_json
from bilin.running.liveness import DIED
from bilin.running.static_export import PNG_SCALE

FLOAT_CELL = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][+-]?\d+)|[+-]?(nan|inf|infinity)", re.IGNORECASE)
HIDDEN_OVERRIDES = ("outputs_root=", "cache_root=", "quiet=")  # where and how loudly, not what was run
INLINE_TABLE_ROWS = 60  # CSVs up to this many rows are shown on the run page; longer ones are linked


@dataclass
class Link:
    text: str
    href: str


@dataclass
class Explorer:
    """An explorer page written for a model folder, or why there is none."""

    model: Path
    page: Path | None
    size_bytes: int = 0
    why_not: str = ""
    rebuilt: bool = False
    made_by: str = ""  # the run that trained it ("train 2026-12-04 17:51:35") or "cache entry"
    about: str = ""  # the model ("bilinear d=32, mnist")


def href(target: Path, page_dir: Path) -> str:
    return quote(os.path.relpath(target, page_dir).replace(os.sep, "/"))


def shown_overrides(run: Run) -> str:
    return " ".join(o for o in run.overrides if not o.lstrip("+~").startswith(HIDDEN_OVERRIDES))


def headline_text(metrics: Mapping[str, float]) -> str:
    return ", ".join(f"{k}={_number(v)}" for k, v in metrics.items())


def page(title: str, body: str, depth: int, scripts: Sequence[str] = (), refresh: float = 0) -> str:
    """A page of the site; `depth` folders below the report root (for the shared CSS and JS);
    `refresh` > 0: the browser reloads it that often (the report is being rewritten: --watch)."""
    up = "../" * depth
    tags = "".join(f'<script src="{up}{s}"></script>' for s in scripts)
    if refresh:
        tags += f'<meta http-equiv="refresh" content="{refresh:g}">'
    nav = f'<nav><a href="{up}index.html">all runs</a></nav>\n' if depth else ""  # the index links not to itself
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">{csp_meta()}<title>{_e(title)}</title>'
        f'<link rel="stylesheet" href="{up}report.css">{tags}</head>\n<body>\n'
        f"{nav}<h1>{_e(title)}</h1>\n{body}\n</body></html>\n"
    )


def runs_table(
    runs: Sequence[Run], page_dir: Path, run_pages: Mapping[Path, Path], sweep_pages: Mapping[Path, Path]
) -> str:
    """The sortable, filterable table of runs (sorting and filtering: table.js)."""
    commands = sorted({r.command for r in runs})
    statuses = sorted({r.status for r in runs})
    head = "".join(
        f'<th data-type="{t}">{_e(n)}</th>'
        for n, t in (
            ("command", "text"),
            ("started", "text"),
            ("status", "text"),
            ("keys set", "text"),
            ("headline metrics", "text"),
            ("wall s", "number"),
            ("sweep", "text"),
            ("run", "text"),
        )
    )
    rows = []
    for run in runs:
        sweep = sweep_pages.get(run.sweep) if run.sweep else None
        sweep_cell = f'<a href="{href(sweep, page_dir)}">{_e(run.sweep.name)}</a>' if sweep else ""
        rows.append(
            f'<tr data-command="{_e(run.command)}" data-status="{_e(run.status)}">'
            f'<td class="name">{_e(run.command)}</td><td class="name">{_e(run.started.replace("T", " ")[:19])}</td>'
            f'<td class="status {_e(run.status)}">{status_text(run)}</td>'
            f"<td><code>{_e(shown_overrides(run))}</code></td>"
            f"<td>{_e(headline_text(run.headline))}</td>"
            f'<td class="num" data-value="{run.wall_seconds if run.wall_seconds is not None else ""}">'
            f"{_number(run.wall_seconds) if run.wall_seconds is not None else ''}</td>"
            f'<td class="name">{sweep_cell}</td>'
            f'<td class="name"><a href="{href(run_pages[run.path], page_dir)}">{_e(run.path.name)}</a></td></tr>'
        )
    options = lambda values: "".join(f'<option value="{_e(v)}">{_e(v)}</option>' for v in values)  # noqa: E731
    controls = (
        '<div class="filters"><input id="filter" type="search" placeholder="filter: any text in a row">'
        f'<select id="filter-command"><option value="">every command</option>{options(commands)}</select>'
        f'<select id="filter-status"><option value="">every status</option>{options(statuses)}</select>'
        '<span id="shown"></span></div>'
    )
    return (
        f'{controls}<table id="runs" class="runs"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    )


def explorers_list(explorers: Sequence[Explorer], page_dir: Path) -> str:
    """A table of the explorers: which run made the model (the link), the model, its folder, the page's size."""
    if not explorers:
        return "<p>No model folders found.</p>"
    rows = []
    for ex in explorers:
        made_by = _e(ex.made_by or ex.model.name)
        if ex.page is not None:
            link, size = f'<a href="{href(ex.page, page_dir)}">{made_by}</a>', f"{ex.size_bytes / 1e6:.1f} MB"
        else:
            link, size = f'{made_by} <span class="dim">no explorer: {_e(ex.why_not)}</span>', ""
        rows.append(
            f'<tr><td class="name">{link}</td><td class="name">{_e(ex.about)}</td>'
            f'<td class="dim">{_e(ex.model.name)}</td><td class="num">{size}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("explorer (made by)", "model", "folder", "size"))
    return f'<table class="explorers"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def run_body(run: Run, page_dir: Path, explorers: Sequence[Explorer], tables: Mapping[str, list[list[str]]]) -> str:
    """A run's page: record, figures (PNG linking to the interactive HTML), tables, config."""
    parts = [
        f'<p><span class="status {_e(run.status)}">{status_text(run)}</span> · started {_e(run.started)} · '
        f"wall {_number(run.wall_seconds) if run.wall_seconds is not None else '?'} s · "
        f'folder <a href="{href(run.path, page_dir)}">{_e(str(run.path))}</a></p>',
        f"<p>command: <code>{_e(str(run.record.get('command', '')))}</code></p>",
    ]
    if run.record.get("error"):
        parts.append(f'<p class="error">{_e(str(run.record["error"]))}</p>')
    for note in run.problems:
        parts.append(f'<p class="error">{_e(note)}</p>')
    if run.headline:
        parts.append(
            "<h2>Headline metrics</h2>"
            + _table([["metric", "value"]] + [[k, _number(v)] for k, v in run.headline.items()])
        )
    if explorers:
        parts.append("<h2>Eigenvector explorers</h2>" + explorers_list(explorers, page_dir))
    if run.figures:
        parts.append("<h2>Figures</h2><p class='dim'>Click a figure for its full-size image, its title for the")
        parts.append("interactive one.</p>")
        for name in run.figures:
            parts.append(_figure(run.path / "figures", name, page_dir))
    for name, rows in tables.items():
        link = f'<a href="{href(run.path / name, page_dir)}">{_e(name)}</a>'
        if len(rows) - 1 <= INLINE_TABLE_ROWS:
            parts.append(f"<h2>{link}</h2>{_table(rows, numbers=True)}")
        else:
            parts.append(f"<h2>{link}</h2><p class='dim'>{len(rows) - 1} rows; open the CSV.</p>")
    config = run.path / ".hydra" / "config.yaml"
    if config.is_file():
        parts.append(f"<h2>Config</h2><pre>{_e(config.read_text())}</pre>")
    parts.append(f"<h2>Run record (run.json)</h2><pre>{_e(json.dumps(run.record, indent=2))}</pre>")
    return "\n".join(parts)


def sweep_body(
    sweep: Path,
    jobs: Sequence[Run],
    keys: Sequence[str],
    figures: Mapping[str, str],
    page_dir: Path,
    csv: Path,
    run_pages: Mapping[Path, Path],
) -> str:
    """A sweep's page: its jobs in one table and each metric against each swept key."""
    header = ["job", "status", *keys, *sorted({m for j in jobs for m in j.headline}), "wall s"]
    rows = [header]
    metrics = header[2 + len(keys) : -1]
    for job in jobs:
        rows.append(
            [job.path.name, job.status, *(_cell(job.config.get(k)) for k in keys)]
            + [_number(job.headline[m]) if m in job.headline else "" for m in metrics]
            + [_number(job.wall_seconds) if job.wall_seconds is not None else ""]
        )
    links = {job.path.name: href(run_pages[job.path], page_dir) for job in jobs}
    parts = [
        f'<p>{len(jobs)} jobs in <a href="{href(sweep, page_dir)}">{_e(str(sweep))}</a>; swept keys: '
        f"<code>{_e(', '.join(keys) or 'none')}</code>; the same table as "
        f'<a href="{href(csv, page_dir)}">CSV</a>.</p>',
        _table(rows, first_column_links=links),
    ]
    if figures:
        parts.append("<h2>Each metric against each swept key</h2>")
    for div_id, spec in figures.items():  # drawn by sweep.js; the figure is data, never script
        parts.append(
            f'<div id="{_e(div_id)}" class="plot"></div>'
            f'<script type="application/json" class="figure" data-target="{_e(div_id)}">{script_json(spec)}</script>'
        )
    return "\n".join(parts)


def status_text(run: Run) -> str:
    """A run's status as HTML; a run that died says when it last wrote."""
    if run.status == DIED and run.last_write:
        return f'{_e(run.status)} <span class="dim">(last write {_e(run.last_write.replace("T", " ")[:19])} UTC)</span>'
    return _e(run.status)


def _figure(folder: Path, name: str, page_dir: Path) -> str:
    """A figure's title (linking to its interactive HTML) and its PNG at the figure's own size (at most
    the page's width), which opens full size on a click."""
    png, interactive = folder / f"{name}.png", href(folder / f"{name}.html", page_dir)
    title = f'<h3><a href="{interactive}">{_e(name)}</a> <span class="dim">(interactive)</span></h3>'
    if png.is_file():
        width = png_width(png)
        size = f' width="{width // PNG_SCALE}"' if width else ""
        src = href(png, page_dir)
        return f'{title}<a href="{src}"><img class="figure" src="{src}"{size} alt="{_e(name)}"></a>'
    return f'{title}<p class="dim">no PNG of this figure; open the interactive one (the run\'s own file).</p>'


def png_width(path: Path) -> int | None:
    """A PNG's width in pixels, from its header; None when it is not a readable PNG."""
    try:
        with path.open("rb") as f:
            header = f.read(24)
    except OSError:
        return None
    if header[:8] != b"\x89PNG\r\n\x1a\n" or header[12:16] != b"IHDR":
        return None
    return int.from_bytes(header[16:20], "big") or None


def shown_number(cell: str) -> str | None:
    """A CSV cell holding a fractional number, as shown in a page (4 significant digits; whole
    numbers of 5 digits or more in full); None for anything else (text, integers: shown as written)."""
    text = cell.strip()
    if not FLOAT_CELL.fullmatch(text):
        return None
    value = float(text)
    if math.isfinite(value) and 1e4 <= abs(value) < 1e15:
        return f"{value:.0f}"
    return f"{value:.4g}"


def _table(
    rows: Sequence[Sequence[str]], first_column_links: Mapping[str, str] | None = None, numbers: bool = False
) -> str:
    """An HTML table; `numbers`: fractional numbers shown to 4 significant digits (the exact value on hover)."""
    head, *body = rows
    out = ["<table class='data'><thead><tr>", *(f"<th>{_e(str(c))}</th>" for c in head), "</tr></thead><tbody>"]
    for row in body:
        cells = []
        for i, cell in enumerate(row):
            text = _e(str(cell))
            if i == 0 and first_column_links and str(cell) in first_column_links:
                text = f'<a href="{first_column_links[str(cell)]}">{text}</a>'
            shown = shown_number(str(cell)) if numbers else None
            if shown is not None:
                cells.append(f'<td class="num" title="{_e(str(cell).strip())}">{_e(shown)}</td>')
                continue
            cells.append(f"<td>{text}</td>")
        out.append(f"<tr>{''.join(cells)}</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _cell(value: object) -> str:
    return _number(value) if isinstance(value, float) else str(value)


def _number(value: object) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.4g}"


def _e(text: object) -> str:
    return escape(text)

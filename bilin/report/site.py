"""`write_report`: the static site of every run under some folders (index, run and sweep pages,
runs.csv) and an eigenvector explorer per ungated bilinear model.

Layout of the report folder:
    index.html  runs.csv  report.css  table.js  sweep.js  plotly.min.js  bilin-report.json (manifest)
    runs/<run path>.html      sweeps/<sweep path>.html + .csv      explorer/<model path>.html
Page names: bilin.report.names (one name per folder, never one for two). An explorer is rebuilt
only when what it is built from changed (model.json, the weights, the test images, by SHA-256; the
page's code; bilin's version).
"""

from __future__ import annotations

import csv
import functools
import hashlib
import importlib.metadata
import io
import json
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.figures.sweep import metric_against_key
from bilin.models.checkpoint import SPEC, WEIGHTS, load_spec, model_dataset
from bilin.report.explorer import explorable, explorer_data, explorer_html, page_version
from bilin.report.folder import ReportFolder, check_out
from bilin.report.names import folder_page, model_page
from bilin.report.pages import Explorer, explorers_list, page, run_body, runs_table, sweep_body
from bilin.report.runs import Run, find_model_folders, find_runs, varying_keys
from bilin.report.safe import escape
from bilin.running.folder import PLOTLY_JS

if TYPE_CHECKING:
    import torch

VERSION = importlib.metadata.version("bilin")
STAMPS = "explorer/stamps.json"  # {explorer page: what it was built from}
ASSETS = ("report.css", "table.js", "sweep.js")  # the report's own files, from bilin/report/assets


@dataclass
class ReportSummary:
    folder: Path
    runs: int
    sweeps: int
    running: int
    explorers: list[Explorer] = field(default_factory=list)
    explorers_rebuilt: int = 0
    seconds: float = 0.0

    @property
    def index(self) -> Path:
        return self.folder / "index.html"


def write_report(
    folders: Sequence[Path],
    out: Path,
    data_root: Path | None,
    explorers: bool = True,
    say: Callable[[str], None] = print,
    refresh: float = 0,
) -> ReportSummary:
    """The site in `out`; `refresh` > 0 makes its pages reload that often while a run is running.
    Refused, before anything is written: an `out` overlapping a scanned folder, or one holding a
    file the report would replace but did not write (see bilin.report.folder)."""
    started = time.perf_counter()
    check_out(out, folders)
    out = out.resolve()
    runs = find_runs(folders, skip=[out])
    models = find_model_folders(folders, skip=[out]) if explorers else []
    if not runs and not models:
        raise UserError(f"no bilin runs (run.json) or models under {', '.join(map(str, folders))}")
    running = sum(r.status == "running" for r in runs)
    refresh = refresh if running else 0
    sweeps: dict[Path, list[Run]] = {}
    for r in runs:
        if r.sweep is not None:
            sweeps.setdefault(r.sweep, []).append(r)
    root = _common_root([r.path for r in runs] + list(sweeps))
    run_pages = {r.path: out / "runs" / folder_page(r.path, root) for r in runs}
    sweep_pages = {s: out / "sweeps" / folder_page(s, root) for s in sweeps}
    explorer_pages = {m: f"explorer/{model_page(m)}.html" for m in models}

    site = ReportFolder(out)
    site.claim(
        [*ASSETS, PLOTLY_JS, STAMPS, "runs.csv", "index.html", *explorer_pages.values()]
        + [_rel(p, out) for p in [*run_pages.values(), *sweep_pages.values()]]
        + [_rel(p.with_suffix(".csv"), out) for p in sweep_pages.values()]
    )
    site.write_text(PLOTLY_JS, plotly_js())
    assets = files("bilin.report") / "assets"
    for name in ASSETS:
        site.write_text(name, (assets / name).read_text())

    built = _explorers(site, explorer_pages, data_root, say, {r.path.resolve(): r for r in runs})
    by_path = {ex.model.resolve(): ex for ex in built}
    names = Counter(ex.model.name for ex in built)
    by_name = {ex.model.name: ex for ex in built if _is_cache_entry(ex.model) and names[ex.model.name] == 1}
    for r in runs:
        used = [  # run.json's paths are cwd-relative: an entry is found by its (unique) name too
            by_path.get(Path(path).resolve()) or by_name[name]
            for name, path in r.models.items()
            if Path(path).resolve() in by_path or name in by_name
        ]
        body = run_body(r, run_pages[r.path].parent, used, _csv_tables(r))
        site.write_text(_rel(run_pages[r.path], out), page(f"{r.command}: {r.path.name}", body, 1, refresh=refresh))
    for s, jobs in sweeps.items():
        _sweep_page(site, s, jobs, sweep_pages[s], run_pages, out, refresh)

    site.write_text("runs.csv", _runs_csv(runs))
    body = (
        f"<p>{len(runs)} runs, {len(sweeps)} sweeps, from {_e_paths(folders)}; "
        f'the same table as <a href="runs.csv">runs.csv</a> (every config key), or in Python '
        f"<code>bilin.runs(...)</code>. Made by bilin {VERSION}.</p>"
        + runs_table(runs, out, run_pages, sweep_pages)
        + "<h2>Eigenvector explorers</h2>"
        + explorers_list(built, out)
    )
    site.write_text("index.html", page("bilin runs", body, depth=0, scripts=["table.js"], refresh=refresh))
    site.finish()  # the manifest; pages of runs, sweeps and models no longer found are removed
    rebuilt = sum(ex.rebuilt for ex in built)
    return ReportSummary(out, len(runs), len(sweeps), running, built, rebuilt, time.perf_counter() - started)


def _explorers(
    site: ReportFolder,
    pages: Mapping[Path, str],
    data_root: Path | None,
    say: Callable[[str], None],
    runs: Mapping[Path, Run],
) -> list[Explorer]:
    """An explorer page per explorable model, rebuilt when anything it is built from changed:
    model.json, the weights, the test images (their SHA-256), the page's code or bilin's version."""
    stamps = site.read_json(STAMPS)
    datasets: dict = {}  # data_of_run's memo
    splits: dict[int, TestSplit] = {}  # each loaded dataset's test split, by the dataset's id
    built, kept_stamps = [], {}
    for folder, name in pages.items():
        target = site.path / name
        label = dict(zip(("made_by", "about"), describe_model(folder, runs.get(folder.resolve())), strict=True))
        try:
            why = explorable(folder)
            if why:
                built.append(Explorer(folder, None, why_not=why, **label))
                continue
            test = _test_split(folder, data_root, datasets, splits)
            stamp = f"{_sha(folder / SPEC)}|{_sha(folder / WEIGHTS)}|{test.sha256}|{VERSION}|{page_version()}"
            stamp += f"|{label['made_by']}"
            if stamps.get(name) == stamp and site.keep(name):
                kept_stamps[name] = stamp
                built.append(Explorer(folder, target, target.stat().st_size, **label))
                continue
            data = explorer_data(folder, test.x, test.y)
        except UserError as exc:  # a damaged model or missing data: the report goes on without this page
            built.append(Explorer(folder, None, why_not=str(exc), **label))
            continue
        data.name = f"{label['made_by']} ({folder.name})" if label["made_by"] else folder.name
        site.write_text(name, explorer_html(data, f"../{PLOTLY_JS}"))
        kept_stamps[name] = stamp
        ex = Explorer(folder, target, target.stat().st_size, rebuilt=True, **label)
        built.append(ex)
        say(f"explorer: {name.removeprefix('explorer/')} ({ex.size_bytes / 1e6:.1f} MB)")
    site.write_text(STAMPS, json.dumps(kept_stamps, indent=1))
    return built


def describe_model(folder: Path, run: Run | None) -> tuple[str, str]:
    """(made by, model) for a model folder: the run that trained it ("train 2026-12-04 17:51:35",
    "train 2026-12-04 17:52:39, sweep job 1") or "cache entry", and "bilinear d=32, mnist, seed 0"."""
    if run is not None:
        made_by = f"{run.command} {run.started.replace('T', ' ')[:19]}".strip()
        if run.sweep is not None:
            made_by = f"{run.command} {run.sweep.parent.name} {run.sweep.name}, sweep job {folder.name}"
    else:
        made_by = "cache entry" if _is_cache_entry(folder) else ""
    try:
        spec = load_spec(folder)
    except UserError:
        return made_by, ""
    about = [
        f"{spec.kind} d={spec.d_hidden}"
        + (f" gate {spec.gate}" if spec.gate else "")
        + (" with biases" if spec.bias else "")
    ]
    about.append(model_dataset(folder) or "")
    seed = run.config.get("seed") if run is not None else _recipe_seed(folder)
    about.append(f"seed {seed}" if seed is not None else "")
    return made_by, ", ".join(a for a in about if a)


def _recipe_seed(folder: Path) -> object:
    try:
        recipe = json.loads((folder / "recipe.json").read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    return recipe.get("seed") if isinstance(recipe, dict) else None


def _is_cache_entry(folder: Path) -> bool:
    return (folder / "recipe.json").is_file()


@dataclass
class TestSplit:
    x: torch.Tensor
    y: torch.Tensor
    sha256: str


def _test_split(folder: Path, data_root: Path | None, loaded: dict, splits: dict[int, TestSplit]) -> TestSplit:
    """The test images and labels of the data the model was trained on (a planted rule's labels for a
    `bilin challenge` model) with their SHA-256, memoised across models (loaded: the datasets)."""
    from bilin.train.recipe import data_of_run

    ds = data_of_run(folder, data_root, loaded=loaded, test_only=True)
    if id(ds) not in splits:  # loaded keeps every dataset alive, so an id is never reused
        digest = hashlib.sha256(ds.test_x.contiguous().numpy().tobytes())
        digest.update(ds.test_y.contiguous().numpy().tobytes())
        splits[id(ds)] = TestSplit(ds.test_x, ds.test_y, digest.hexdigest())
    return splits[id(ds)]


def _sha(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise UserError(f"{path} cannot be read: {exc.strerror or exc}") from exc


def _sweep_page(
    site: ReportFolder, sweep: Path, jobs: list[Run], target: Path, run_pages: dict, out: Path, refresh: float
) -> None:
    keys = varying_keys(jobs)
    metrics = sorted({m for j in jobs for m in j.headline})
    csv_name = _rel(target.with_suffix(".csv"), out)
    site.write_text(csv_name, _runs_csv(jobs))
    figures = {}
    for key in keys:
        for metric in metrics:
            points = [(j.config.get(key), j.headline[metric]) for j in jobs if metric in j.headline]
            if points:
                fig = metric_against_key([p[0] for p in points], [p[1] for p in points], key, metric)
                figures[f"plot-{len(figures)}"] = fig.to_json()
    body = sweep_body(sweep, jobs, keys, figures, target.parent, out / csv_name, run_pages)
    title = f"sweep {jobs[0].command}: {sweep.parent.name} {sweep.name}"
    site.write_text(_rel(target, out), page(title, body, depth=1, scripts=[PLOTLY_JS, "sweep.js"], refresh=refresh))


def _csv_tables(run: Run) -> dict[str, list[list[str]]]:
    tables = {}
    for name in run.tables:
        try:
            tables[name] = list(csv.reader(io.StringIO((run.path / name).read_text())))
        except (OSError, UnicodeDecodeError, csv.Error):
            run.problems.append(f"{name} cannot be read")
    return {k: v for k, v in tables.items() if v}


def _runs_csv(runs: Sequence[Run]) -> str:
    import pandas as pd

    return pd.DataFrame([r.row() for r in runs]).to_csv(index=False)


def _common_root(folders: list[Path]) -> Path:
    """The deepest folder holding every one of `folders` (their parents, so each keeps a name)."""
    parts = [p.resolve().parent.parts for p in folders]
    common = []
    for level in zip(*parts, strict=False):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    return Path(*common) if common else Path("/")


def _rel(path: Path, out: Path) -> str:
    return path.relative_to(out).as_posix()


def _e_paths(folders: Sequence[Path]) -> str:
    return ", ".join(f"<code>{escape(f)}</code>" for f in folders)


@functools.cache
def plotly_js() -> str:
    from plotly.offline import get_plotlyjs

    return get_plotlyjs()

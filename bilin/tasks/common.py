"""What every analysis task does around its own work: device, cache, data, run record."""

from __future__ import annotations

import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from bilin.cache import ModelCache, Recipe
from bilin.errors import UserError
from bilin.provenance import provenance, utc_now
from bilin.rundir import RunDir
from bilin.train.task import resolve_device


class AnalysisRun:
    """The run folder of one analysis command and its run.json record."""

    def __init__(self, cfg, out_dir: Path, command: str):
        self.cfg, self.command = cfg, command
        self.run = RunDir(out_dir)
        self.device = resolve_device(cfg.device)
        self.record: dict = {"command": command, "status": "running", "started": utc_now(), **provenance(self.device)}
        self.run.write_json("run.json", self.record)
        self._cache: ModelCache | None = None
        self.console = Console(stderr=True, quiet=cfg.quiet)
        self._start = time.perf_counter()

    @property
    def cache(self) -> ModelCache:
        if self._cache is None:  # commands without a model cache (featvis) never build one
            self._cache = ModelCache(self.cfg.cache_root, self.cfg.data.root, self.cfg.data.download)
        return self._cache

    def models(self, recipes: list[Recipe]) -> dict[Recipe, Path]:
        """Folders of the trained models, training (batched) only what the cache lacks."""
        hits = sum(self.cache.has(r) for r in set(recipes))
        self.console.print(f"[bold]{self.command}[/bold]: {len(set(recipes))} models, {hits} cached, "
                           f"{len(set(recipes)) - hits} to train on {self.device}")
        started = time.perf_counter()
        with self.console.status("training") as status:
            folders = self.cache.ensure(recipes, self.device, on_epoch=lambda text: status.update(text))
        self.record.setdefault("models", {}).update({r.folder_name(): str(folders[r]) for r in dict.fromkeys(recipes)})
        self.record["cache_hits"] = self.record.get("cache_hits", 0) + hits
        self.record["training_seconds"] = self.record.get("training_seconds", 0.0) + time.perf_counter() - started
        return folders

    def finish(self, figures: dict, **extra) -> dict:
        note = self.run.write_figures(figures)
        if note:
            self.record["figures_note"] = note
            print(note)
        self.record.update(extra, status="complete", finished=utc_now(),
                           wall_seconds=time.perf_counter() - self._start)
        self.run.write_json("run.json", self.record)
        print(f"{self.command} complete: {self.run.path}")
        return self.record

    def fail(self, error: UserError) -> None:
        self.run.write_json("run.json", {**self.record, "status": "failed", "error": str(error), "finished": utc_now()})


@contextmanager
def analysis_run(cfg, out_dir: Path, command: str) -> Iterator[AnalysisRun]:
    run = AnalysisRun(cfg, out_dir, command)
    try:
        yield run
    except UserError as exc:
        run.fail(exc)
        raise


def clean_test_set(cache: ModelCache, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
    """Clean test images as (N, inputs) floats in [0, 1] and labels."""
    ds = cache.dataset(recipe)
    return ds.test_x.flatten(1).float() / 255, ds.test_y


def require_bilinear(cfg) -> None:
    if cfg.model.name != "bilinear" or cfg.model.gate is not None:
        gate = f" with gate={cfg.model.gate}" if cfg.model.gate else ""
        raise UserError(f"the eigendecomposition is only exact for the ungated bilinear model, not "
                        f"{cfg.model.name}{gate}; use model=bilinear")


@contextmanager
def step_progress(total: int, quiet: bool) -> Iterator[tuple[Progress, TaskID]]:
    """A rich bar over `total` steps on stderr (silent when quiet); set its description per phase."""
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  console=Console(stderr=True), disable=quiet) as progress:
        yield progress, progress.add_task("", total=total)

"""Model cache: a trained model stored under a key derived from its full training config.

`ensure` returns a folder per requested config, training only what is missing, with models of
the same architecture, size and recipe (any seeds and noise levels) trained together by
one Trainer. Each entry is an ordinary model folder (model.safetensors, model.json,
metrics.csv, recipe.json), loadable with bilin.load_model.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict
from itertools import groupby
from pathlib import Path
from typing import Any, Protocol

import torch
from filelock import FileLock, Timeout
from rich.console import Console

from bilin.cache_jobs import train_in_jobs
from bilin.checkpoint import save_model
from bilin.data import ImageDataset, load_dataset
from bilin.errors import UserError
from bilin.models import ModelSpec, build_model
from bilin.rundir import RunDir, read_json
from bilin.train.budget import check_training_fits
from bilin.train.cost import epoch_seconds, plan_line
from bilin.train.progress import status_updates
from bilin.train.recipe import RECIPE_FORMAT, Recipe, train_together
from bilin.train.records import StopRequest

log = logging.getLogger("bilin.cache")


class RunRequest(Protocol):
    """What `provide` needs of the running command (a `bilin.lifecycle.RunContext`)."""

    command: Any  # has .name
    cfg: Any  # the command's config: its executor and device name reach the jobs
    device: torch.device
    console: Console
    record: dict
    stop: StopRequest


class ModelCache:
    def __init__(self, root: str | Path, data_root: str | Path | None = None, download: bool = True):
        self.root = Path(root)
        self.data_root, self.download = data_root, download  # None: bilin/data/roots.py's search
        self._datasets: dict[tuple, ImageDataset] = {}

    def key(self, recipe: Recipe) -> str:
        """The recipe and the content of the data it trains on: another dataset is never a hit."""
        return recipe.key(self.fingerprint(recipe))

    def fingerprint(self, recipe: Recipe) -> str:
        """SHA-256 of the images and labels the recipe trains and validates on (once per dataset)."""
        return self.dataset(recipe).fingerprint

    def path(self, recipe: Recipe) -> Path:
        return self.root / recipe.folder_name(self.key(recipe))

    def has(self, recipe: Recipe) -> bool:
        record = self.path(recipe) / "recipe.json"
        return record.is_file() and read_json(record).get("key") == self.key(recipe)

    def dataset(self, recipe: Recipe) -> ImageDataset:
        key = (recipe.data, recipe.train_limit, recipe.test_limit)
        if key not in self._datasets:
            self._datasets[key] = load_dataset(
                recipe.data, self.data_root, self.download, recipe.train_limit, recipe.test_limit
            )
        return self._datasets[key]

    def training_seconds(self, recipes: list[Recipe], device: torch.device) -> float | None:
        """Estimated seconds to train `recipes` one after another here (None if not modelled)."""
        total = 0.0
        for recipe in recipes:
            ds = self.dataset(recipe)
            per_epoch = epoch_seconds(self._spec(recipe), len(ds.train_x), len(ds.test_x), device, recipe.precision)
            if per_epoch is None:
                return None
            total += per_epoch * recipe.epochs
        return total

    def test_set(self, recipe: Recipe) -> tuple[torch.Tensor, torch.Tensor]:
        """Clean test images of a recipe's dataset as (N, inputs) floats in [0, 1], and their labels."""
        ds = self.dataset(recipe)
        return ds.test_x.flatten(1).float() / 255, ds.test_y

    def provide(self, recipes: list[Recipe], run: RunRequest) -> dict[Recipe, Path]:
        """`ensure` for a running command: say first how many models it trains, stop at the epoch
        after a signal, and add to its run record which models were used, how many were cache hits
        and how long training took."""
        unique = list(dict.fromkeys(recipes))
        missing = [r for r in unique if not self.has(r)]
        hits = len(unique) - len(missing)
        executor = getattr(run.cfg, "executor", None)
        plan = f"{run.command.name}: {len(unique)} models, {hits} cached"
        if missing:
            here = executor is None or executor.name != "slurm"  # a cluster's speed is not known here
            seconds = self.training_seconds(missing, run.device) if here else None
            plan += "; " + plan_line(len(missing), sum(r.epochs for r in missing), seconds, run.device)
        log.info(plan)
        run.console.print(plan, highlight=False, soft_wrap=True)
        started = time.perf_counter()

        def on_epoch(text: str) -> None:
            run.stop.raise_if_set()
            update(text)

        with status_updates(run.console, "training") as update:
            folders = self.ensure(
                recipes, run.device, on_epoch=on_epoch, executor=executor, stop=run.stop, job_device=run.cfg.device
            )
        record = run.record
        record.setdefault("data", {}).update({r.data: self.dataset(r).provenance() for r in unique})
        record.setdefault("models", {}).update({folders[r].name: str(folders[r]) for r in unique})
        record["cache_hits"] = record.get("cache_hits", 0) + hits
        record["training_seconds"] = record.get("training_seconds", 0.0) + time.perf_counter() - started
        return folders

    def ensure(
        self,
        recipes: list[Recipe],
        device: torch.device,
        on_epoch: Callable[[str], None] | None = None,
        executor: Any = None,
        stop: StopRequest | None = None,
        job_device: str = "auto",
    ) -> dict[Recipe, Path]:
        """Folder of each recipe's trained model; trains the missing ones, in groups of one size
        here (executor None or inline) or as submitit jobs (local or slurm)."""
        in_jobs = executor is not None and executor.name != "inline"
        max_batch = executor.models_per_job if executor is not None else 16
        if not recipes:
            raise UserError("nothing to do: the grid of models is empty")
        missing = sorted({r for r in recipes if not self.has(r)}, key=lambda r: (r.group(), r.noise, r.seed))
        batches = []
        for _group, members in groupby(missing, key=Recipe.group):
            members = list(members)
            batches += [members[start : start + max_batch] for start in range(0, len(members), max_batch)]
        for batch in batches:  # every batch is checked before the first one trains
            ds = self.dataset(batch[0])
            if len(ds.train_x) < batch[0].batch_size:
                raise UserError(
                    f"batch_size={batch[0].batch_size} is larger than the {len(ds.train_x)} training images"
                )
            if not in_jobs:  # a job's memory is its node's, not this one's
                check_training_fits(self._spec(batch[0]), len(batch), batch[0].batch_size, len(ds.train_x), device)
        if in_jobs and batches:
            train_in_jobs(self, batches, executor, job_device, on_epoch or log.info, stop or StopRequest())
        for batch in [] if in_jobs else batches:
            self.train_group(batch, device, on_epoch)
        return {r: self.path(r) for r in recipes}

    def _spec(self, recipe: Recipe) -> ModelSpec:
        return recipe.spec(self.dataset(recipe))

    def train_group(self, recipes: list[Recipe], device: torch.device, on_epoch=None) -> None:
        """Train the entries no other process is training, under their locks; then wait for the
        others and reuse what they stored (or train what they left, if they died)."""
        self.root.mkdir(parents=True, exist_ok=True)
        locks = {r: FileLock(self.path(r).with_name(self.path(r).name + ".lock")) for r in recipes}
        with ExitStack() as held:
            mine, theirs = [], []
            for recipe in recipes:
                try:
                    locks[recipe].acquire(timeout=0)
                except Timeout:
                    theirs.append(recipe)
                    continue
                held.callback(locks[recipe].release)
                if not self.has(recipe):  # another process may have finished it meanwhile
                    mine.append(recipe)
            if mine:
                self._train(mine, device, on_epoch)
        for recipe in theirs:
            log.info("waiting for %s: another process is training it", self.path(recipe).name)
            if on_epoch:
                on_epoch(f"waiting for {self.path(recipe).name}: another process is training it")
            with locks[recipe]:
                if self.has(recipe):
                    log.info("reusing %s, trained by another process", self.path(recipe).name)
                else:
                    self._train([recipe], device, on_epoch)

    def _train(self, recipes: list[Recipe], device: torch.device, on_epoch) -> None:
        """Ask the trainer for the models, then store each one (recipe.json last: it makes the hit)."""
        dataset = self.dataset(recipes[0])
        spec = recipes[0].spec(dataset)
        trained = train_together(recipes, dataset, device, on_epoch)
        for recipe, (state, history) in zip(recipes, trained, strict=True):
            run = RunDir(self.path(recipe))
            model = _model_with(spec, state)
            save_model(run, model, spec, {"epoch": recipe.epochs, "dataset": recipe.data})
            run.write_csv("metrics.csv", [m.__dict__ for m in history])
            self.store_recipe(recipe, history[-1].val_acc)
            log.info("cached %s (val acc %.4f)", run.path.name, history[-1].val_acc)

    def store_recipe(self, recipe: Recipe, final_val_acc: float | None, source: Path | None = None) -> None:
        """Written last: its presence (with the right key) is what makes the entry a hit."""
        record = {
            "key": self.key(recipe),
            "format": RECIPE_FORMAT,
            "data_sha256": self.fingerprint(recipe),
            **asdict(recipe),
            "final_val_acc": final_val_acc,
        }
        RunDir(self.path(recipe)).write_json(
            "recipe.json", {**record, **({"adopted_from": str(source)} if source else {})}
        )


def _model_with(spec: ModelSpec, state: dict) -> torch.nn.Module:
    model = build_model(spec)
    model.load_state_dict(state)
    return model


def cached_accuracy(folder: Path) -> float:
    return read_json(folder / "recipe.json")["final_val_acc"]

"""Model cache: a trained model stored under a key derived from its full training config.

`ensure` returns a folder per requested config, training only what is missing, with models of
the same architecture, size and recipe (any seeds and noise levels) trained together by
one Trainer. Each entry is an ordinary model folder (model.safetensors, model.json,
metrics.csv, recipe.json), loadable with bilin.load_model, marked as the cache's before training
(bilin/cache/entries.py says how ownership is proved). An entry is a hit only when its recipe.json
names its key and records the SHA-256 of its weights, the one checksums.json records.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from itertools import groupby
from pathlib import Path
from typing import Any

import torch
from filelock import Timeout
from rich.console import Console

from bilin.cache.entries import RECIPE, check_entry, entry_lock, is_regular, mark_entry, mark_root
from bilin.cache.jobs import train_in_jobs
from bilin.data import ImageDataset, load_dataset
from bilin.errors import UserError
from bilin.models.checkpoint import WEIGHTS, save_model
from bilin.models.networks import ModelSpec, build_model
from bilin.running.folder import RunDir, read_json, verified_bytes
from bilin.train.budget import check_training_fits
from bilin.train.cost import epoch_seconds, plan_line
from bilin.train.progress import status_updates
from bilin.train.recipe import RECIPE_FORMAT, Recipe, train_together
from bilin.train.records import StopRequest

log = logging.getLogger("bilin.cache.store")


@dataclass
class Executor:
    """Where and how `provide` trains the models the cache lacks, and where it says so."""

    device: torch.device  # where models train in this process (executor inline)
    config: Any = None  # an ExecutorConfig: inline | local | slurm (None: inline)
    job_device: str = "auto"  # the device name a job resolves on its own node
    stop: StopRequest = field(default_factory=StopRequest)  # polled at every epoch
    console: Console = field(default_factory=lambda: Console(stderr=True, quiet=True))  # the plan and progress
    label: str = "bilin"  # who asks (the command's name), for the plan line


@dataclass
class Provided:
    """What `provide` returns: each recipe's folder, where each came from, and the data it trained on."""

    folders: dict[Recipe, Path]
    supply: Supply
    data: dict[str, dict]  # dataset name -> its provenance


@dataclass
class Supply:
    """Where the models of one `ensure` came from, for the command's run.json: trained here (or by
    this command's jobs), or trained by another process that this one waited for (the rest were
    already in the cache), and the seconds spent training and waiting."""

    trained: list[str] = field(default_factory=list)
    waited_for: list[str] = field(default_factory=list)
    training_seconds: float = 0.0
    waiting_seconds: float = 0.0


class ModelCache:
    def __init__(self, root: str | Path, data_root: str | Path | None = None, download: bool = True):
        self.root = Path(root)
        self.data_root, self.download = data_root, download  # None: bilin/data/roots.py's search
        self._datasets: dict[tuple, ImageDataset] = {}

    @classmethod
    def of(cls, cfg: Any) -> ModelCache:
        """The cache a command's config names (a CachedRecipe: cache_root, and the data it trains on)."""
        return cls(cfg.cache_root, cfg.data.root, cfg.data.download)

    def key(self, recipe: Recipe) -> str:
        """The recipe and the content of the data it trains on: another dataset is never a hit."""
        return recipe.key(self.fingerprint(recipe))

    def fingerprint(self, recipe: Recipe) -> str:
        """SHA-256 of the images and labels the recipe trains and validates on (once per dataset)."""
        return self.dataset(recipe).fingerprint

    def path(self, recipe: Recipe) -> Path:
        return self.root / recipe.folder_name(self.key(recipe))

    def has(self, recipe: Recipe) -> bool:
        """The entry is complete and vouched for. An entry of an older bilin (no SHA-256 of its
        weights in recipe.json) is not a hit: it is retrained in place. A damaged one is refused."""
        folder, key = self.path(recipe), self.key(recipe)
        if folder.is_symlink():
            raise UserError(f"{folder} is a symbolic link, not a cache entry; remove the link (it is never followed)")
        path = folder / RECIPE
        if not (path.exists() or path.is_symlink()):
            return False
        record = read_json(path) if is_regular(path) else {}  # a link: check_entry refuses it
        if is_regular(path) and (record.get("key") != key or "weights_sha256" not in record):
            return False
        try:
            check_entry(folder, key, verify=False)
        except UserError as exc:
            raise UserError(
                f"{exc}; delete it with bilin cache verify --root {self.root} --remove (the next run retrains it)"
            ) from None
        return True

    def dataset(self, recipe: Recipe) -> ImageDataset:
        """The data a recipe trains on: loaded once per split limits, relabelled by its planted rule if any."""
        key = (recipe.data, recipe.train_limit, recipe.test_limit)
        if key not in self._datasets:
            self._datasets[key] = load_dataset(
                recipe.data, self.data_root, self.download, recipe.train_limit, recipe.test_limit
            )
        if recipe.rule is None:
            return self._datasets[key]
        if (*key, recipe.rule) not in self._datasets:
            self._datasets[(*key, recipe.rule)] = recipe.rule.relabel(self._datasets[key])
        return self._datasets[(*key, recipe.rule)]

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

    def provide(self, recipes: list[Recipe], executor: Executor) -> Provided:
        """`ensure` for a command: say first how many models it trains, stop at the epoch after a
        signal, and return where each model came from (for its run record: record_supply)."""
        unique = list(dict.fromkeys(recipes))
        missing = [r for r in unique if not self.has(r)]
        hits = len(unique) - len(missing)
        jobs = executor.config
        plan = f"{executor.label}: {len(unique)} models, {hits} cached"
        if missing:
            here = jobs is None or jobs.name != "slurm"  # a cluster's speed is not known here
            seconds = self.training_seconds(missing, executor.device) if here else None
            plan += "; " + plan_line(len(missing), sum(r.epochs for r in missing), seconds, executor.device)
        log.info(plan)
        executor.console.print(plan, highlight=False, soft_wrap=True)
        supply = Supply()

        def on_epoch(text: str) -> None:
            executor.stop.raise_if_set()
            update(text)

        with status_updates(executor.console, "training") as update:
            folders = self.ensure(
                recipes,
                executor.device,
                on_epoch=on_epoch,
                supply=supply,
                executor=jobs,
                stop=executor.stop,
                job_device=executor.job_device,
            )
        # the data as read (a planted rule's relabelling is in each entry's key, not in the file's SHA-256)
        return Provided(folders, supply, {r.data: self.dataset(replace(r, rule=None)).provenance() for r in unique})

    def ensure(
        self,
        recipes: list[Recipe],
        device: torch.device,
        on_epoch: Callable[[str], None] | None = None,
        executor: Any = None,
        stop: StopRequest | None = None,
        job_device: str = "auto",
        supply: Supply | None = None,
    ) -> dict[Recipe, Path]:
        """Folder of each recipe's trained model; trains the missing ones, in groups of one size
        here (executor None or inline) or as submitit jobs (local or slurm); `supply` is told
        which were trained (by this process or its jobs) and which were waited for."""
        supply = supply if supply is not None else Supply()
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
            started = time.perf_counter()
            train_in_jobs(self, batches, executor, job_device, on_epoch or log.info, stop or StopRequest())
            supply.training_seconds += time.perf_counter() - started
            supply.trained += [self.path(r).name for r in missing]  # by this command's jobs
            lost = [self.path(r).name for r in missing if not self.has(r)]
            if lost:  # a job keys entries by the data it reads: other data there gives other keys
                raise UserError(
                    f"the training jobs stored no entry {lost[0]} in {self.root} ({len(lost)} missing): "
                    "did a job read other data than this command?"
                )
        for batch in [] if in_jobs else batches:
            self.train_group(batch, device, on_epoch, supply)
        return {r: self.path(r) for r in recipes}

    def _spec(self, recipe: Recipe) -> ModelSpec:
        return recipe.spec(self.dataset(recipe))

    def train_group(
        self, recipes: list[Recipe], device: torch.device, on_epoch=None, supply: Supply | None = None
    ) -> None:
        """Train the entries no other process is training, under their locks; then wait for the
        others and reuse what they stored (or train what they left, if they died)."""
        supply = supply if supply is not None else Supply()
        mark_root(self.root)
        locks = {r: entry_lock(self.path(r)) for r in recipes}
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
                self._train(mine, device, on_epoch, supply)
        for recipe in theirs:
            name = self.path(recipe).name
            log.info("waiting for %s: another process is training it", name)
            if on_epoch:
                on_epoch(f"waiting for {name}: another process is training it")
            started = time.perf_counter()
            with locks[recipe]:
                supply.waiting_seconds += time.perf_counter() - started
                if self.has(recipe):
                    log.info("reusing %s, trained by another process", name)
                    supply.waited_for.append(name)
                else:
                    self._train([recipe], device, on_epoch, supply)

    def _train(self, recipes: list[Recipe], device: torch.device, on_epoch, supply: Supply) -> None:
        """Ask the trainer for the models, then store each one (recipe.json last: it makes the hit).
        Each entry's folder is marked as the cache's first, so that one whose training dies is
        still provably the cache's (bilin cache verify --remove deletes it)."""
        dataset = self.dataset(recipes[0])
        spec = recipes[0].spec(dataset)
        for recipe in recipes:
            mark_entry(self.path(recipe), self.key(recipe))
        started = time.perf_counter()
        try:
            trained = train_together(recipes, dataset, device, on_epoch)
        except BaseException:  # diverged or interrupted: nothing half-made is left (a killed process leaves
            for recipe in recipes:  # its entries marked, shown as died by bilin cache list)
                if not (self.path(recipe) / RECIPE).exists():
                    shutil.rmtree(self.path(recipe), ignore_errors=True)
            raise
        supply.training_seconds += time.perf_counter() - started
        for recipe, (state, history) in zip(recipes, trained, strict=True):
            run = RunDir(self.path(recipe))
            model = _model_with(spec, state)
            save_model(run, model, spec, {"epoch": recipe.epochs, "dataset": recipe.data})
            run.write_csv("metrics.csv", [m.__dict__ for m in history])
            self.store_recipe(recipe, history[-1].val_acc)
            supply.trained.append(run.path.name)
            log.info("cached %s (val acc %.4f)", run.path.name, history[-1].val_acc)

    def store_recipe(self, recipe: Recipe, final_val_acc: float | None, source: Path | None = None) -> None:
        """Written last: its presence (with the right key) is what makes the entry a hit. It records
        the SHA-256 of the weights (checked against checksums.json), so weights and checksums
        taken from another entry are found."""
        weights = hashlib.sha256(verified_bytes(self.path(recipe) / WEIGHTS)).hexdigest()
        record = {
            "key": self.key(recipe),
            "format": RECIPE_FORMAT,
            "data_sha256": self.fingerprint(recipe),
            **recipe.record(),
            "final_val_acc": final_val_acc,
            "weights_sha256": weights,
        }
        RunDir(self.path(recipe)).write_json(
            "recipe.json", {**record, **({"adopted_from": str(source)} if source else {})}
        )


def record_supply(record: dict, folders: list[Path], supply: Supply) -> None:
    """Add to a command's run record the models it used and where each came from: `trained` by this
    command (here or in its jobs), `waited_for` (another process trained it while this one waited)
    or `reused` (in the cache already). cache_hits counts the models this command did not train."""
    record.setdefault("models", {}).update({folder.name: str(folder) for folder in folders})
    sources = record.setdefault("model_sources", {})
    for name in (folder.name for folder in folders):  # the first use says where a model came from
        source = "trained" if name in supply.trained else "waited_for" if name in supply.waited_for else "reused"
        sources.setdefault(name, source)
    record["cache_hits"] = sum(source != "trained" for source in sources.values())
    record["training_seconds"] = record.get("training_seconds", 0.0) + supply.training_seconds
    record["waiting_seconds"] = record.get("waiting_seconds", 0.0) + supply.waiting_seconds


def _model_with(spec: ModelSpec, state: dict) -> torch.nn.Module:
    model = build_model(spec)
    model.load_state_dict(state)
    return model


def cached_accuracy(folder: Path) -> float:
    return read_json(folder / "recipe.json")["final_val_acc"]

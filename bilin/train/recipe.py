"""The recipe: everything that determines a trained model's weights. The model spec, the optimiser
settings and each model's seed, noise and augmentations are derived from it, and `train_together` trains
any number of recipes that share a group (they differ only in those) as one computation."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

import torch

from bilin.data import DATASETS, ImageDataset
from bilin.data.planted_rule import CLASSES as RULE_CLASSES
from bilin.data.planted_rule import PlantedRule
from bilin.errors import UserError
from bilin.models.networks import ModelSpec, build_model
from bilin.train.buffers import DeviceData
from bilin.train.cost import StepTimer, epoch_line, measured_basis, measured_seconds, plan_line
from bilin.train.loop import Trainer
from bilin.train.records import Augmentation, EpochMetrics, HParams, Member, TrainingSettings

RECIPE_FORMAT = 3  # 2: cache keys include the data's content; 3: decorrelate is part of the recipe
# Fields added since format 3, at the value that means "as before": left out of the key and of recipe.json
# while they have it, so that every existing cache key and entry stays valid.
UNKEYED_DEFAULTS = {"bias": False, "augment": Augmentation(), "rule": None}


@dataclass(frozen=True)
class Recipe:
    model: str  # bilinear | relu | cnn
    gate: str | None
    data: str
    d_hidden: int
    epochs: int
    lr: float
    wd: float
    batch_size: int
    precision: str
    noise: float
    seed: int
    train_limit: int | None = None
    test_limit: int | None = None
    decorrelate: bool = False
    bias: bool = False  # see UNKEYED_DEFAULTS
    augment: Augmentation = Augmentation()  # see UNKEYED_DEFAULTS
    rule: PlantedRule | None = (
        None  # the data relabelled by a planted rule (bilin.data.planted_rule); see UNKEYED_DEFAULTS
    )

    def record(self) -> dict[str, Any]:
        """The recipe as JSON, the fields that make the key (and recipe.json): UNKEYED_DEFAULTS left out
        while they mean "as before", so that the key of every recipe without them is what it was."""
        record = asdict(self)
        for name, default in UNKEYED_DEFAULTS.items():
            if getattr(self, name) == default:
                del record[name]
        return record

    @classmethod
    def from_record(cls, record: dict[str, Any], lenient: bool = False) -> Recipe:
        """The recipe a record (recipe.json) holds. A field it lacks is a KeyError, but UNKEYED_DEFAULTS
        (left out while at their value) and, when lenient, any field (a record of an older bilin): their defaults."""
        optional = {f.name for f in fields(cls)} if lenient else set(UNKEYED_DEFAULTS)
        values = {f.name: record[f.name] for f in fields(cls) if f.name in record or f.name not in optional}
        if isinstance(values.get("augment"), dict):
            values["augment"] = Augmentation(**values["augment"])
        if isinstance(values.get("rule"), dict):
            values["rule"] = PlantedRule(**values["rule"])
        return cls(**values)

    def key(self, data_fingerprint: str = "") -> str:
        text = json.dumps({"format": RECIPE_FORMAT, "data_sha256": data_fingerprint, **self.record()}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def folder_name(self, key: str) -> str:
        gate = f"-{self.gate}" if self.gate else ""
        bias = "-bias" if self.bias else ""
        augment = f"-{self.augment.label()}" if self.augment.active else ""
        rule = f"-{self.rule.label()}" if self.rule else ""
        return (
            f"{self.model}{gate}{bias}-{self.data}{rule}-d{self.d_hidden}-n{self.noise:g}{augment}-s{self.seed}-{key}"
        )

    def group(self) -> str:
        """Recipes with the same group train together (they differ only in seed, noise and augmentations;
        a planted rule is part of the data, so recipes with another rule or shuffle train apart)."""
        return replace(self, noise=0.0, seed=0, augment=Augmentation()).key()

    def spec(self, dataset: ImageDataset | None = None) -> ModelSpec:
        """The model's spec. Its input shape and classes are the loaded dataset's, or without it (a
        checkpoint checked before any data is read) those bilin.data declares: the same, loading checks them."""
        info = DATASETS[self.data]
        shape = tuple(dataset.train_x.shape[1:]) if dataset is not None else info.image_shape
        declared = RULE_CLASSES if self.rule else info.classes
        classes = dataset.classes if dataset is not None else declared
        return ModelSpec(
            self.model,
            math.prod(shape),
            self.d_hidden,
            len(declared),
            self.gate,
            shape,
            classes,
            self.decorrelate,
            self.bias,
        )

    def hparams(self) -> HParams:
        """The Trainer's settings: the recipe's own by name, the rest (how steps run) at their defaults."""
        return HParams(**{f.name: getattr(self, f.name) for f in fields(HParams) if hasattr(self, f.name)})

    def member(self) -> Member:
        return Member(self.seed, self.noise, self.augment)

    def initial_model(self, dataset: ImageDataset) -> torch.nn.Module:
        """The model before training: init from the recipe's seed (and the colour whitening fitted)."""
        model = build_model(self.spec(dataset), torch.Generator().manual_seed(self.seed))
        if self.decorrelate:
            model.fit_whitening(dataset.train_x.float() / 255)
        return model


def recipe_from_config(cfg: TrainingSettings, **changes: Any) -> Recipe:
    """The recipe of a config's model: a command's config (bilin.settings.options.RecipeOptions: these settings
    and the model= and data= groups) or a run's saved one. Each recipe field by its name, from the
    config or its groups, whose `name` is the recipe's model and data; grids pass d_hidden and seed
    as changes."""
    groups = {"model": cfg.model, "data": cfg.data}
    values = {name: group.name for name, group in groups.items()} | changes
    for name in (f.name for f in fields(Recipe) if f.name not in values):
        source = next((s for s in (cfg, *groups.values()) if hasattr(s, name)), None)
        if source is not None:  # absent: the recipe's default (a run saved before the key existed)
            values[name] = getattr(source, name)
    return Recipe(**values)


def recipe_of_run(folder: str | Path) -> Recipe | None:
    """The recipe a train run (its saved .hydra/config.yaml) or a cache entry (its recipe.json) was trained
    with; None when the folder records neither."""
    from omegaconf import OmegaConf

    from bilin.running.folder import read_json

    saved, entry = Path(folder) / ".hydra" / "config.yaml", Path(folder) / "recipe.json"
    try:
        config = OmegaConf.load(saved) if saved.is_file() else None
        if config is not None and "model" in config:  # a training config (an imported model's records none)
            return recipe_from_config(config)
        if entry.is_file():
            return Recipe.from_record(read_json(entry), lenient=True)
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UserError(f"the settings of {folder} cannot be read ({type(exc).__name__}: {exc})") from exc
    return None


def data_of_run(
    folder: str | Path,
    data_root: str | Path | None,
    download: bool = False,
    loaded: dict | None = None,
    test_only: bool = False,
) -> ImageDataset:
    """The data a saved model (a train run or a cache entry) was trained on: the dataset its model.json
    names, relabelled by its recipe's planted rule when it has one (a `bilin challenge` model), so that its
    test labels are the model's classes; test_only: a rule model's test split alone (no training images'
    labels to compute). `loaded` memoises datasets across calls (by name and rule)."""
    from bilin.data import load_dataset
    from bilin.models.checkpoint import model_dataset

    name = model_dataset(folder)
    if name not in DATASETS:
        raise UserError(f"{folder}/model.json does not say which dataset the model was trained on")
    recipe = recipe_of_run(folder)
    rule = recipe.rule if recipe is not None else None
    memo = {} if loaded is None else loaded
    if name not in memo:
        memo[name] = load_dataset(name, data_root, download)
    if rule is not None and (name, rule, test_only) not in memo:
        memo[(name, rule, test_only)] = rule.relabel(memo[name], with_train=not test_only)
    return memo[(name, rule, test_only)] if rule is not None else memo[name]


def train_together(
    recipes: list[Recipe],
    dataset: ImageDataset,
    device: torch.device,
    on_epoch: Callable[[str], None] | None = None,
) -> list[tuple[dict[str, torch.Tensor], list[EpochMetrics]]]:
    """Train recipes of one group as one computation: (state dict, metrics) of each, in order."""
    first = recipes[0]
    if any(r.group() != first.group() for r in recipes):
        raise ValueError("recipes trained together must differ only in seed, noise and augmentations")
    data = DeviceData.from_uint8(dataset.train_x, dataset.train_y, dataset.test_x, dataset.test_y, device)
    models = [r.initial_model(dataset).to(device) for r in recipes]
    label = f"{first.model} {first.data} d={first.d_hidden} x{len(recipes)}"
    say = on_epoch or (lambda _: None)

    def measured(step_seconds: float, steps: int) -> None:
        seconds = measured_seconds(step_seconds, len(data.train_x), len(data.test_x), first.batch_size, first.epochs)
        n = len(recipes)
        say(f"{label}: " + plan_line(n, n * first.epochs, seconds, device, measured_basis(steps)))

    trainer = Trainer(
        models, data, first.hparams(), device, [r.member() for r in recipes], step_timer=StepTimer.on(device, measured)
    )
    result = trainer.fit(on_epoch=lambda m, _: say(f"{label}: {epoch_line(m.epoch, first.epochs, m.seconds)}"))
    if result.status != "complete":  # nothing diverged is kept
        raise UserError(f"training {label}: {result.message}")
    return list(zip(trainer.state_dicts(), trainer.histories, strict=True))

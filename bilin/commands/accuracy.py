"""`bilin accuracy`: bilinear vs relu-gated vs relu MLP, overall and per class (docs/science.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import CachedRecipe, GreyDataset, MlpModel, d_hidden_key, datasets_key
from bilin.settings.schema import key
from bilin.train.records import model_seed_key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class AccuracyConfig(CachedRecipe):
    models: list[MlpModel] = key(["bilinear", "bilinear_relu", "relu"], "model= options compared")
    datasets: list[GreyDataset] = datasets_key("datasets, one table column and figure each")
    d_hidden: int = d_hidden_key()
    seed: int = model_seed_key()

    def check(self) -> None:
        super().check()
        if not self.models or not self.datasets:
            raise UserError("models and datasets must each name at least one value")


def main(cfg: AccuracyConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.accuracy import AccuracyComparison, model_accuracy
    from bilin.cache.store import ModelCache
    from bilin.data import DATASETS
    from bilin.figures.grid import accuracy_figures
    from bilin.models.checkpoint import load_model
    from bilin.settings.options import MLP_MODELS
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    recipes = {
        (m, d): recipe_from_config(
            cfg,
            model=MLP_MODELS[m].name,
            gate=MLP_MODELS[m].gate,
            data=d,
            bias=MLP_MODELS[m].bias or (cfg.model.bias and m != "relu"),
        )
        for m in cfg.models
        for d in cfg.datasets
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    comparison = AccuracyComparison()
    for dataset in cfg.datasets:
        classes = DATASETS[dataset].classes
        x, y = cache.test_set(recipes[(cfg.models[0], dataset)])
        for name in cfg.models:
            model = load_model(folders[recipes[(name, dataset)]])
            comparison.add(dataset, classes, name, model_accuracy(model, x, y, len(classes)))
    print(comparison.text({d: DATASETS[d].title for d in cfg.datasets}))
    setting = f"d={cfg.d_hidden}, training noise {cfg.noise:g}, {cfg.epochs} epochs, seed {cfg.seed}"
    return CommandResult(figures=accuracy_figures(comparison, setting), headline=comparison.headline()).add_tables(
        comparison
    )


COMMAND = Command(
    name="accuracy",
    summary="Bilinear vs relu-gated vs relu MLP: overall and per-class accuracy.",
    schema=AccuracyConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin accuracy                                       (the paper's: d=512, noise 0.5, 100 epochs)",
        "bilin accuracy models=[bilinear,bilinear_relu,relu] datasets=[mnist,fmnist]",
        "bilin accuracy experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

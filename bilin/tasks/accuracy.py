"""`bilin accuracy`: bilinear vs relu-gated vs relu MLP, overall and per class (docs/science.md section 3)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import CachedRecipe, GreyDataset, MlpModel, d_hidden_key, datasets_key, model_seed_key
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.lifecycle import RunContext


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


def run(cfg: AccuracyConfig, ctx: RunContext) -> None:
    import torch

    from bilin.cache import ModelCache
    from bilin.checkpoint import load_model
    from bilin.config import MLP_MODELS
    from bilin.data import DATASETS
    from bilin.figures.grid import accuracy_bars
    from bilin.train.loop import per_class_accuracy
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    recipes = {
        (m, d): recipe_from_config(cfg, model=MLP_MODELS[m].name, gate=MLP_MODELS[m].gate, data=d)
        for m in cfg.models
        for d in cfg.datasets
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    table, per_class_rows, figures = [], [], {}
    for dataset in cfg.datasets:
        classes = DATASETS[dataset].classes
        x, y = cache.test_set(recipes[(cfg.models[0], dataset)])
        per_model = {}
        for name in cfg.models:
            model = load_model(folders[recipes[(name, dataset)]])
            with torch.no_grad():
                predicted = model(x).argmax(-1)
            per_model[name] = per_class_accuracy(predicted, y, len(classes)).tolist()
            table.append({"model": name, "dataset": dataset, "val_acc": (predicted == y).float().mean().item()})
            per_class_rows += [
                {"model": name, "dataset": dataset, "class": c, "val_acc": a}
                for c, a in zip(classes, per_model[name], strict=True)
            ]
        figures[f"accuracy_{dataset}"] = accuracy_bars(
            classes,
            per_model,
            f"{DATASETS[dataset].title}: per-class validation accuracy",
            f"d={cfg.d_hidden}, training noise {cfg.noise:g}, {cfg.epochs} epochs, seed {cfg.seed}",
        )
    ctx.headline(**{f"val_acc.{r['model']}.{r['dataset']}": r["val_acc"] for r in table})
    ctx.run.write_csv("accuracy.csv", table)
    ctx.run.write_csv("per_class.csv", per_class_rows)
    ctx.add_figures(figures)
    print("model".ljust(16) + "".join(DATASETS[d].title.rjust(15) for d in cfg.datasets))
    for name in cfg.models:
        accs = {r["dataset"]: r["val_acc"] for r in table if r["model"] == name}
        print(name.ljust(16) + "".join(f"{accs[d] * 100:14.2f}%" for d in cfg.datasets))


COMMAND = Command(
    name="accuracy",
    summary="Bilinear vs relu-gated vs relu MLP: overall and per-class accuracy.",
    schema=AccuracyConfig,
    run=run,
    panel="Read the weights",
    examples=(
        "bilin accuracy                                       (the paper's: d=512, noise 0.5, 100 epochs)",
        "bilin accuracy models=[bilinear,bilinear_relu,relu] datasets=[mnist,fmnist]",
        "bilin accuracy experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

"""`bilin compare`: every pair of a grid's models (sizes x seeds x noises) by exact functional similarity,
against the eigenvector, CKA and weight-cosine baselines, and how the measures rank the same pairs."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, get_args

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import GreyDataset, GridOptions
from bilin.settings.schema import key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext

GRID_NOISE = next(f.default for f in fields(GridOptions) if f.name == "noise")  # the paper grid's noise


@dataclass
class CompareConfig(GridOptions):
    noise: float | None = key(None, "not a key of compare: its models' training noises are noises=[...]", ge=0)
    noises: list[float] = key([0.0, GRID_NOISE], "training noise stds: one model per size, seed and noise", ge=0)
    samples: int = key(2000, "test images whose hidden activations CKA compares (all, if fewer)", ge=2)

    def check(self) -> None:
        super().check()
        if self.noise is not None:
            raise UserError(
                f"noise={self.noise:g}: compare trains one model per size, seed and noise; give noises=[{self.noise:g}]"
            )
        if self.data.name not in get_args(GreyDataset):
            raise UserError(
                f"data={self.data.name}: compare holds each model's forms (classes x n x n, float64) for every "
                "pair; at n = 3072 inputs that is 0.75 GB a model and law: use data=mnist or data=fmnist"
            )
        if not self.noises:
            raise UserError("noises is empty: give at least one training noise, e.g. noises=[0,0.4]")
        models = len(self.sizes) * len(self.seeds) * len(self.noises)
        if models < 2:
            raise UserError(
                "the grid is one model: compare needs at least two (more sizes, seeds or noises) to compare"
            )


def main(cfg: CompareConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.compare_grid import GridModel, compare_models
    from bilin.cache.store import ModelCache
    from bilin.figures.compare import compare_figures
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    recipes = {
        GridModel(float(n), d, s): recipe_from_config(cfg, d_hidden=d, seed=s, noise=float(n))
        for n in cfg.noises
        for d in cfg.sizes
        for s in cfg.seeds
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    first = next(iter(recipes.values()))
    dataset = cache.dataset(first)
    train_x = dataset.train_x.flatten(1).float() / 255
    test_x, _ = cache.test_set(first)
    ctx.stage(f"comparing {len(recipes)} models, {len(recipes) * (len(recipes) + 1) // 2} pairs")
    models = {grid_model: load_model(folders[r], ctx.device) for grid_model, r in recipes.items()}
    comparison = compare_models(models, train_x, test_x[: cfg.samples], dataset.classes)
    setting = f"{first.data}, {cfg.epochs} epochs"
    return CommandResult(
        figures=compare_figures(comparison, setting),
        headline=comparison.headline(),
        record={"cka_samples": comparison.cka_samples},
    ).add_tables(comparison)


COMMAND = Command(
    name="compare",
    summary="Every pair of a grid's models by exact functional similarity, beside eigenvector, CKA, weight baselines.",
    schema=CompareConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin compare                                        (sizes x 5 seeds x noises 0 and 0.4, 100 epochs)",
        "bilin compare sizes=[512] seeds=[0,1,2] noises=[0,0.5] epochs=20 data=fmnist",
        "bilin compare experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing. Exact similarity is "
    "computed from the weights alone, under the standard Gaussian and the training images' mean and covariance.",
)

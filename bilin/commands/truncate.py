"""`bilin truncate`: accuracy with the top-k eigenvectors per class over a grid of sizes x seeds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.running.command import Command, CommandResult
from bilin.settings.options import GridOptions
from bilin.settings.schema import key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class TruncateConfig(GridOptions):
    k_max: int = key(30, "k = 0..k_max components per class (largest |λ| first)", ge=0)

    def check(self) -> None:
        super().check()
        self.require_per_model(self.k_max, "k_max", "components")


def main(cfg: TruncateConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.truncate import truncation_grid
    from bilin.cache.store import ModelCache
    from bilin.figures.grid import truncation_figures
    from bilin.models.checkpoint import load_model

    cache = ModelCache.of(cfg)
    recipes = cfg.grid_recipes()
    folders = ctx.cached_models(cache, list(recipes.values()))
    # the analysis runs where the models trained: eigh of 10 x 1000^2 is much faster on a GPU
    models = {grid_key: load_model(folders[r], ctx.device) for grid_key, r in recipes.items()}
    x, y = (t.to(ctx.device) for t in cache.test_set(next(iter(recipes.values()))))
    grid = truncation_grid(models, cfg.sizes, cfg.seeds, x, y, list(range(cfg.k_max + 1)))
    k = min(10, cfg.k_max)  # the paper's point: ~10 components per class keep most of the accuracy
    headline = {f"full_acc.d{d}": float(grid.full[i].mean()) for i, d in enumerate(cfg.sizes)}
    headline.update(
        {f"acc_top{k}.d{d}": float(grid.accuracy[i, :, grid.ks.index(k)].mean()) for i, d in enumerate(cfg.sizes)}
    )
    return CommandResult(figures=truncation_figures(grid), headline=headline).add_tables(grid)


COMMAND = Command(
    name="truncate",
    summary="Accuracy with the top-k eigenvectors per class over a grid of sizes x seeds.",
    schema=TruncateConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin truncate                                       (the paper's grid: 30 models, 100 epochs)",
        "bilin truncate sizes=[30,100,300] seeds=[0,1,2] epochs=20 k_max=30",
        "bilin truncate experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

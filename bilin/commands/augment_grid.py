"""`bilin augment-grid`: the paper's appendix grids, models trained at every pair of strengths of two
augmentations, and in each cell the top eigenvector of one class with its accuracy, effective rank and
spectral centroid (mean and 90% t band over seeds)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, get_args

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import CachedRecipe, GreyDataset, d_hidden_key
from bilin.settings.schema import key, rekey, seed_key
from bilin.train.records import AugmentationName, TrainingSettings, check_strengths

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext

NAMES = (
    "noise (Gaussian std), rotate (±degrees), translate (±fraction of the side), blur (sigma px), salt_pepper (rate)"
)


@dataclass
class AugmentGridConfig(CachedRecipe):
    epochs: int = key(20, "epochs (AdamW, cosine-annealed to 0)", ge=1)
    noise: float = rekey(TrainingSettings, "noise", 0.0, help="std of the Gaussian input noise when noise is no axis")
    d_hidden: int = d_hidden_key()
    rows: AugmentationName = key("noise", f"the augmentation along the grid's rows: {NAMES}")
    row_values: list[float] = key([0.0, 0.3, 0.6], "its strengths, one row each")
    cols: AugmentationName = key("blur", "the augmentation along the grid's columns (another one than rows)")
    col_values: list[float] = key([0.0, 0.5, 1.0, 2.0], "its strengths, one column each")
    seeds: list[int] = seed_key([0, 1, 2], "one model per seed and cell; the images show the first seed's")
    target_class: int = key(0, "the class whose top eigenvector and spectrum are read", ge=0, le=9)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if self.data.name not in get_args(GreyDataset):
            raise UserError(f"augment-grid reads 28 x 28 grey images: data=mnist or data=fmnist, not {self.data.name}")
        if self.rows == self.cols:
            raise UserError(f"rows and cols are both {self.rows}: the grid's axes must be two different augmentations")
        for name, values in ((self.rows, self.row_values), (self.cols, self.col_values)):
            if not values:
                raise UserError(f"the {name} axis has no values: give at least one strength")
            check_strengths(name, list(values))  # (the schema refuses a repeated value)
        if not self.seeds:
            raise UserError("seeds must name at least one seed")

    def strengths(self, row: float, col: float) -> dict[str, object]:
        """The recipe changes of one cell: its noise and its augmentations (the rest off)."""
        from bilin.train.records import Augmentation

        strengths = {"noise": self.noise, self.rows: float(row), self.cols: float(col)}
        noise = strengths.pop("noise")
        return {"noise": noise, "augment": Augmentation(**strengths)}


def main(cfg: AugmentGridConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.augment_grid import AugmentGrid, grid_cell
    from bilin.cache.store import ModelCache, cached_accuracy
    from bilin.data import DATASETS
    from bilin.figures.augment_grid import augment_grid_figures
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    recipes = {
        (r, c, s): recipe_from_config(cfg, seed=s, **cfg.strengths(r, c))
        for r in cfg.row_values
        for c in cfg.col_values
        for s in cfg.seeds
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    x, y = cache.test_set(next(iter(recipes.values())))
    grid = AugmentGrid(cfg.rows, cfg.row_values, cfg.cols, cfg.col_values, cfg.seeds, cfg.target_class)
    for at, recipe in recipes.items():
        folder = folders[recipe]
        grid.cells.append(grid_cell(load_model(folder), x, y, cfg.target_class, cached_accuracy(folder), at))
    images = TensorFile(
        {"images": grid.images()},
        {
            "layout": f"(rows, cols, 28, 28): the top eigenvector of class {cfg.target_class} per cell of seed "
            f"{cfg.seeds[0]}, rows {cfg.rows}={list(cfg.row_values)}, cols {cfg.cols}={list(cfg.col_values)}; "
            "signed so that the mean of u . x over the test images of target_class is > 0"
        },
    )
    target = f"class {DATASETS[cfg.data.name].classes[cfg.target_class]}"
    return CommandResult(
        tensors={"augment_grid.safetensors": images},
        figures=augment_grid_figures(grid, target, cfg.d_hidden, cfg.epochs),
        headline=grid.headline(),
    ).add_tables(grid)


COMMAND = Command(
    name="augment-grid",
    summary="The appendix grids: one class's top eigenvector vs two training augmentations (noise, blur, ...).",
    schema=AugmentGridConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin augment-grid                                   (noise x blur, 3 seeds)",
        "bilin augment-grid rows=rotate row_values=[0,15,30] cols=translate col_values=[0,0.1,0.2]",
        "bilin augment-grid cols=salt_pepper col_values=[0,0.05,0.1] target_class=3 experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing; augmentations are "
    "applied in the order rotate/translate, blur, salt-and-pepper, then the Gaussian noise, and only in training.",
)

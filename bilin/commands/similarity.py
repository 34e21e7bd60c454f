"""`bilin similarity`: eigenvector similarity across seeds and sizes of a grid of models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import GridOptions
from bilin.settings.schema import key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class SimilarityConfig(GridOptions):
    ranks: int = key(20, "eigenvectors per class compared", ge=1)
    order: Literal["top", "bottom", "abs"] = key("top", "rank 0 is the largest positive, most negative or largest |λ|")
    reference_size: int = key(300, "figure A compares every size with this one")

    def check(self) -> None:
        super().check()
        if self.reference_size not in self.sizes:
            raise UserError(f"reference_size={self.reference_size} is not among sizes={self.sizes}")
        if len(self.seeds) < 2:
            raise UserError(
                f"seeds={self.seeds}: similarity compares models of distinct seeds; give at least two seeds"
            )
        self.require_per_model(self.ranks, "ranks", "eigenvectors")


def main(cfg: SimilarityConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.decompose import eigendecompose
    from bilin.analysis.similarity import similarity_grid
    from bilin.cache.store import ModelCache
    from bilin.figures.grid import similarity_figures
    from bilin.models.checkpoint import load_model

    cache = ModelCache.of(cfg)
    recipes = cfg.grid_recipes()
    folders = ctx.cached_models(cache, list(recipes.values()))
    eigens = {grid_key: eigendecompose(load_model(folders[r], ctx.device)) for grid_key, r in recipes.items()}
    grid = similarity_grid(eigens, cfg.sizes, cfg.seeds, cfg.reference_size, cfg.order, cfg.ranks)
    return CommandResult(
        figures=similarity_figures(grid),
        headline={f"rank0_abs_cos.d{d}": float(sims[..., 0].mean()) for d, sims in grid.to_reference.items()},
        record={"order": cfg.order},
    ).add_tables(grid)


COMMAND = Command(
    name="similarity",
    summary="Eigenvector similarity across seeds and sizes (figure A vs rank, figure B heatmap).",
    schema=SimilarityConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin similarity                                     (the paper's grid: 30 models, 100 epochs)",
        "bilin similarity order=bottom ranks=20 reference_size=300",
        "bilin similarity experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

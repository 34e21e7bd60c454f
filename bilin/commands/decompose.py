"""`bilin decompose`: eigenvectors per class, figures 2 and 3, single-input explanations; or (method=hosvd|cp)
a decomposition of the class tensor shared across classes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.analysis.cp_settings import SharedSettings
from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import CachedRecipe, allow_incomplete_key, check_source_run, d_hidden_key
from bilin.settings.schema import key
from bilin.train.records import model_seed_key

if TYPE_CHECKING:
    import torch

    from bilin.analysis.decompose import Eigen
    from bilin.analysis.decomposition import Decomposition
    from bilin.running.lifecycle import RunContext
    from bilin.train.recipe import Recipe


@dataclass
class DecomposeConfig(SharedSettings, CachedRecipe):
    run: str | None = key(None, "a train run folder; else the model comes from the cache (trained if missing)")
    allow_incomplete: bool = allow_incomplete_key()
    d_hidden: int = d_hidden_key()
    seed: int = model_seed_key()
    input_space: bool = key(False, "also the eigenvectors of M_c = E^T Q_c E (orthonormal in pixel space)")
    explain: int | None = key(None, "test-set index: explain that prediction (top-3 classes, contributions)", ge=0)
    panel: bool = key(False, "also figure 2 for MNIST and Fashion-MNIST side by side")

    def check(self) -> None:
        super().check()
        if self.run is None or self.panel:  # cached models are trained from this config
            self.require_bilinear()
        check_source_run(self.run, self.allow_incomplete)
        eigen_only = [k for k, on in (("input_space", self.input_space), ("explain", self.explain is not None),
                                      ("panel", self.panel)) if on]  # fmt: skip
        if self.method != "eigen" and eigen_only:
            raise UserError(f"{', '.join(eigen_only)} belong to method=eigen, not method={self.method}")


def main(cfg: DecomposeConfig, ctx: RunContext) -> CommandResult:
    import time

    from bilin.analysis.decompose import eigendecompose, input_space_eigendecompose, orient_to_class
    from bilin.analysis.decomposition import Decomposition, explain_test_image
    from bilin.data import load_dataset
    from bilin.figures.decompose import decomposition_figure_builders
    from bilin.train.recipe import data_of_run

    model, dataset, source = _model_source(cfg, ctx)
    if cfg.run is not None:  # the data it was trained on (a planted rule's labels for a challenge model)
        data = data_of_run(cfg.run, cfg.data.root, cfg.data.download)
    else:
        data = load_dataset(dataset, cfg.data.root, cfg.data.download)
    x, y = data.test_x.flatten(1).float() / 255, data.test_y  # the test images as the model sees them
    record = {"data": {dataset: data.provenance()}, "source": source, "dataset": dataset}
    if cfg.method != "eigen":
        return _shared(cfg, ctx, model, dataset, source, x, y, record)
    started = time.perf_counter()
    eigen = eigendecompose(model)
    seconds = time.perf_counter() - started
    side = round(model.embed.weight.shape[1] ** 0.5)
    result = Decomposition(dataset, orient_to_class(eigen, x, y), side, class_names=tuple(data.classes))
    if cfg.input_space:
        result.input_space = orient_to_class(input_space_eigendecompose(model), x, y)
    if cfg.panel:
        result.panel = _panel(cfg, ctx, result)
    if cfg.explain is not None:
        result.explanation = explain_test_image(model, result.eigen, x, y, cfg.explain)
    return CommandResult(
        tensors=result.tensors(source),
        figures=decomposition_figure_builders(result),  # built while the browser draws the one before
        headline=result.headline(),
        # the images that signed the vectors; a dataset the cache already recorded keeps its entry
        record=record | {"decompose_seconds": seconds},
    ).add_tables(result)


def _shared(
    cfg: DecomposeConfig,
    ctx: RunContext,
    model: torch.nn.Module,
    dataset: str,
    source: str,
    x: torch.Tensor,
    y: torch.Tensor,
    record: dict,
) -> CommandResult:
    """method=hosvd|cp: the class tensor's decomposition shared across classes."""
    import time

    from bilin.analysis.decompose import bilinear_weights
    from bilin.analysis.shared_decomposition import shared_decomposition
    from bilin.figures.shared_decomposition import shared_figures

    try:
        bilinear_weights(model)  # a model without quadratic forms is refused before anything is said
    except UserError as exc:
        raise UserError(f"method={cfg.method}: {exc}") from exc
    started = time.perf_counter()
    ctx.stage(f"{cfg.method} of the class tensor" + (f", rank {cfg.rank}" if cfg.method == "cp" else ""))
    result = shared_decomposition(model, dataset, x, y, cfg)
    return CommandResult(
        tensors=result.tensors(source),
        figures=shared_figures(result),
        headline=result.headline(),
        record=record
        | {"method": cfg.method, "decompose_seconds": time.perf_counter() - started}
        | ({"cp_steps_run": result.cp.steps} if result.cp is not None else {}),
    ).add_tables(result)


def _model_source(cfg: DecomposeConfig, ctx: RunContext) -> tuple[torch.nn.Module, str, str]:
    """(model, dataset name, where it came from): a train run folder, or the cache."""
    from pathlib import Path

    from bilin.cache.store import ModelCache
    from bilin.data import DATASETS
    from bilin.models.checkpoint import load_model, model_dataset
    from bilin.train.recipe import recipe_from_config

    if cfg.run is not None:
        run_dir = Path(cfg.run)
        if not run_dir.is_dir():
            raise UserError(f"run directory {run_dir} does not exist")
        model = load_model(run_dir)
        dataset = model_dataset(run_dir)
        if dataset not in DATASETS:
            raise UserError(f"{run_dir}/model.json does not say which dataset the model was trained on")
        return model, dataset, str(run_dir)
    recipe = recipe_from_config(cfg)
    cache = ModelCache.of(cfg)
    folder = ctx.cached_models(cache, [recipe])[recipe]
    return load_model(folder), recipe.data, str(folder)


def _panel(cfg: DecomposeConfig, ctx: RunContext, result: Decomposition) -> dict[str, Eigen]:
    """Figure 2's datasets: this model's eigenvectors and the other dataset's model's, from the cache."""
    from dataclasses import replace

    from bilin.analysis.decompose import eigendecompose, orient_to_class
    from bilin.analysis.decomposition import PANEL_DATASETS
    from bilin.cache.store import ModelCache
    from bilin.data import DATASETS
    from bilin.models.checkpoint import load_model

    if result.class_names != DATASETS[result.dataset].classes:
        raise UserError(
            f"panel=true draws the classes of MNIST beside Fashion-MNIST; {cfg.run} was trained on other labels "
            f"({', '.join(result.classes)}); leave out panel=true"
        )
    panel = {result.dataset: result.eigen}
    cache = ModelCache.of(cfg)
    for other in PANEL_DATASETS:
        if other not in panel:
            recipe = replace(_panel_recipe(cfg), data=other)
            folder = ctx.cached_models(cache, [recipe])[recipe]
            panel[other] = orient_to_class(eigendecompose(load_model(folder)), *cache.test_set(recipe))
    return {d: panel[d] for d in PANEL_DATASETS}


COMMAND = Command(
    name="decompose",
    summary="Per-class eigenvectors of a bilinear MLP (figures 2 and 3), or method=hosvd|cp shared across classes.",
    schema=DecomposeConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin decompose run=outputs/train/DATE/TIME explain=0 input_space=true",
        "bilin decompose data=fmnist panel=true   (model from the cache, trained if missing)",
        "bilin decompose run=outputs/train/DATE/TIME method=hosvd",
        "bilin decompose data=mnist method=cp rank=30",
    ),
    notes="Without run=, the model comes from the model cache (<cache_root>), trained when missing.",
)


def _panel_recipe(cfg: DecomposeConfig) -> Recipe:
    """The settings the other dataset's model is trained with: the run's own when run= names one (a
    train run's saved config, or a cache entry's recipe.json), else this command's."""
    from bilin.train.recipe import recipe_from_config, recipe_of_run

    if cfg.run is None:
        return recipe_from_config(cfg)
    try:
        recipe = recipe_of_run(cfg.run)
    except UserError as exc:
        raise UserError(f"panel=true: {exc}") from exc
    if recipe is None:
        raise UserError(
            f"panel=true trains the other dataset's model with the run's own settings, but {cfg.run} records none "
            "(no .hydra/config.yaml, no recipe.json); leave out run= to use this command's settings"
        )
    return recipe

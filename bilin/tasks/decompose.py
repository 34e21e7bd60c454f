"""`bilin decompose`: eigenvectors per class, figures 2 and 3, single-input explanations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import CachedRecipe, allow_incomplete_key, check_source_run, d_hidden_key, model_seed_key
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    import torch

    from bilin.analysis.decompose import Eigen
    from bilin.lifecycle import RunContext
    from bilin.train.recipe import Recipe

SIGN_RULE = "each eigenvector signed so that the mean of u . x over its class's test images is > 0"


@dataclass
class DecomposeConfig(CachedRecipe):
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


def run(cfg: DecomposeConfig, ctx: RunContext) -> None:
    import time

    from bilin.analysis.decompose import eigendecompose, orient_to_class
    from bilin.data import DATASETS
    from bilin.figures.eigen import spectrum_figure, top_eigenvector_figure

    model, dataset, source = _model_source(cfg, ctx)
    classes = DATASETS[dataset].classes
    test = _test_set(cfg, ctx, dataset)
    started = time.perf_counter()
    eigen = eigendecompose(model)
    seconds = time.perf_counter() - started
    eigen = orient_to_class(eigen, *test)
    side = int(round(model.embed.weight.shape[1] ** 0.5))
    shape = (side, side)
    ctx.run.save_tensors(
        "eigen.safetensors",
        {"eigenvalues": eigen.values, "eigenvectors": eigen.vectors},
        metadata={
            "source": source,
            "dataset": dataset,
            "layout": "eigenvalues: classes x d ascending; eigenvectors: classes x d x "
            "inputs, row k = E^T v_k (input space); " + SIGN_RULE,
        },
    )
    ctx.run.write_csv("spectrum.csv", eigen.spectrum_rows(classes))
    title = DATASETS[dataset].title
    figures = {
        "fig2_top_eigenvectors": top_eigenvector_figure(
            eigen.vectors, eigen.values, classes, shape, f"{title}: top positive eigenvector per class"
        )
    }
    for c, name in enumerate(classes):
        figures[f"fig3_spectrum_class{c}"] = spectrum_figure(eigen.vectors, eigen.values, c, name, shape)
    figures["frequency"] = _frequency(ctx, eigen, classes, side, title)
    if cfg.input_space:
        figures.update(_input_space(ctx, model, test, classes, shape, title))
    if cfg.panel:
        figures["fig2_panel"] = _panel(cfg, ctx, dataset, eigen, shape)
    if cfg.explain is not None:
        figures["explain"] = _explain(cfg, ctx, model, eigen, test, classes, shape)
    ctx.add_figures(figures)
    ctx.record.update(source=source, dataset=dataset, decompose_seconds=seconds)
    ctx.headline(top_eigenvalue_mean=float(eigen.values.max(dim=1).values.mean()))


def _model_source(cfg: DecomposeConfig, ctx: RunContext) -> tuple[torch.nn.Module, str, str]:
    """(model, dataset name, where it came from): a train run folder, or the cache."""
    from pathlib import Path

    from bilin.cache import ModelCache
    from bilin.checkpoint import load_model, model_dataset
    from bilin.data import DATASETS
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
    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    folder = ctx.cached_models(cache, [recipe])[recipe]
    return load_model(folder), recipe.data, str(folder)


def _test_set(cfg: DecomposeConfig, ctx: RunContext, dataset: str) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images as the model sees them, (N, inputs) in [0, 1], and their labels."""
    from bilin.data import load_dataset

    ds = load_dataset(dataset, cfg.data.root, cfg.data.download)
    ctx.record.setdefault("data", {}).setdefault(dataset, ds.provenance())  # the images that signed the vectors
    return ds.test_x.flatten(1).float() / 255, ds.test_y


def _frequency(ctx: RunContext, eigen: Eigen, classes, side: int, title: str):
    """Spatial frequencies of every eigenvector and of each M_c: frequency.csv (summaries per class
    and rank), frequency_spectra.csv (the curves) and their figure."""
    from bilin.analysis.feature_spectra import TOP_FEATURES, feature_spectra
    from bilin.figures.frequency import feature_spectra_figure

    spectra = feature_spectra(eigen, side)
    ctx.run.write_csv("frequency.csv", spectra.summary_rows(classes))
    ctx.run.write_csv("frequency_spectra.csv", spectra.spectrum_rows(classes))
    ctx.headline(**{f"top{TOP_FEATURES}_centroid_cycles_per_image": float(spectra.top_centroid().mean())})
    return feature_spectra_figure(spectra, classes, f"{title}: spatial frequencies of the eigenvectors")


def _input_space(ctx: RunContext, model, test, classes, shape, title) -> dict:
    from bilin.analysis.decompose import input_space_eigendecompose, orient_to_class
    from bilin.figures.eigen import top_eigenvector_figure

    eigen = orient_to_class(input_space_eigendecompose(model), *test)
    ctx.run.save_tensors(
        "eigen_input_space.safetensors",
        {"eigenvalues": eigen.values, "eigenvectors": eigen.vectors},
        metadata={"layout": "as eigen.safetensors, eigenvectors of M_c = E^T Q_c E; " + SIGN_RULE},
    )
    ctx.run.write_csv("spectrum_input_space.csv", eigen.spectrum_rows(classes))
    return {
        "fig2_top_eigenvectors_input_space": top_eigenvector_figure(
            eigen.vectors, eigen.values, classes, shape, f"{title}: top eigenvector of M_c = E^T Q_c E per class"
        )
    }


def _panel(cfg: DecomposeConfig, ctx: RunContext, dataset: str, eigen: Eigen, shape):
    """Figure 2 for MNIST and Fashion-MNIST side by side; the other dataset's model from the cache."""
    from dataclasses import replace

    from bilin.analysis.decompose import eigendecompose, orient_to_class
    from bilin.cache import ModelCache
    from bilin.checkpoint import load_model
    from bilin.data import DATASETS
    from bilin.figures.eigen import panel_figure

    panels = {dataset: eigen}
    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    for other in ("mnist", "fmnist"):
        if other not in panels:
            recipe = replace(_panel_recipe(cfg), data=other)
            folder = ctx.cached_models(cache, [recipe])[recipe]
            panels[other] = orient_to_class(eigendecompose(load_model(folder)), *cache.test_set(recipe))
    tops = {d: panels[d].top() for d in ("mnist", "fmnist")}
    ctx.run.save_tensors(
        "panel.safetensors",
        {d: vectors for d, (_, vectors) in tops.items()},
        metadata={"layout": "per dataset: classes x inputs, the top positive eigenvector of each; " + SIGN_RULE},
    )
    ctx.run.write_csv(
        "panel.csv",
        [
            {"dataset": d, "class": name, "eigenvalue": float(values[c])}
            for d, (values, _) in tops.items()
            for c, name in enumerate(DATASETS[d].classes)
        ],
    )
    rows = [(DATASETS[d].title, panels[d].vectors, panels[d].values, DATASETS[d].classes) for d in ("mnist", "fmnist")]
    return panel_figure(rows, shape, "Top positive eigenvector per class")


def _explain(cfg: DecomposeConfig, ctx: RunContext, model, eigen: Eigen, test, classes, shape):
    from bilin.analysis.decompose import explain
    from bilin.figures.eigen import explanation_figure

    x, y = test
    if not cfg.explain < len(x):
        raise UserError(f"explain={cfg.explain} is outside the test set (0..{len(x) - 1})")
    explanation = explain(model, eigen, x[cfg.explain])
    ctx.run.write_csv("explain.csv", explanation.rows(classes, eigen))
    return explanation_figure(explanation, classes[y[cfg.explain]], classes, eigen, shape)


COMMAND = Command(
    name="decompose",
    summary="Per-class eigenvectors of a bilinear MLP: eigen.safetensors, spectrum.csv, figures 2 and 3.",
    schema=DecomposeConfig,
    run=run,
    panel="Read the weights",
    examples=(
        "bilin decompose run=outputs/train/DATE/TIME explain=0 input_space=true",
        "bilin decompose data=fmnist panel=true   (model from the cache, trained if missing)",
    ),
    notes="Without run=, the model comes from the model cache (<cache_root>), trained when missing.",
)


def _panel_recipe(cfg: DecomposeConfig) -> Recipe:
    """The settings the other dataset's model is trained with: the run's own when run= names one (a
    train run's saved config, or a cache entry's recipe.json), else this command's."""
    from dataclasses import fields
    from pathlib import Path

    from omegaconf import OmegaConf

    from bilin.rundir import read_json
    from bilin.train.recipe import Recipe, recipe_from_config

    if cfg.run is None:
        return recipe_from_config(cfg)
    source = Path(cfg.run)
    saved, entry = source / ".hydra" / "config.yaml", source / "recipe.json"
    try:
        if saved.is_file():
            return recipe_from_config(OmegaConf.load(saved))
        if entry.is_file():
            record = read_json(entry)
            return Recipe(**{f.name: record[f.name] for f in fields(Recipe) if f.name in record})
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise UserError(f"panel=true: the settings of {source} cannot be read ({type(exc).__name__}: {exc})") from exc
    raise UserError(
        f"panel=true trains the other dataset's model with the run's own settings, but {source} records none "
        "(no .hydra/config.yaml, no recipe.json); leave out run= to use this command's settings"
    )

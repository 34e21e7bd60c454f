"""`bilin noise-sweep`: figure 4, the top eigenvector of one class vs the training noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import CachedRecipe, GreyDataset, d_hidden_key, datasets_key
from bilin.settings.schema import key, seed_key
from bilin.train.records import MODEL_SEED

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class NoiseSweepConfig(CachedRecipe):
    epochs: int = key(50, "epochs (AdamW, cosine-annealed to 0)", ge=1)
    noises: list[float] = key([0.0, 0.2, 0.4, 0.6, 0.8], "training noise stds, one model each", ge=0)
    datasets: list[GreyDataset] = datasets_key("one row of the figure each")
    d_hidden: int = d_hidden_key()
    seeds: list[int] = seed_key(
        [MODEL_SEED], "one model per seed and noise; figure 4 shows the first seed, the frequency curve a band over all"
    )
    target_class: int = key(0, "the class whose top eigenvector is shown (0: digit 0 / t-shirt)", ge=0, le=9)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if not self.noises or not self.datasets or not self.seeds:
            raise UserError("noises, datasets and seeds must each name at least one value")


def main(cfg: NoiseSweepConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.noise_sweep import NoiseSweep, SweepPoint, read_model
    from bilin.cache.store import ModelCache, cached_accuracy
    from bilin.figures.noise_sweep import noise_sweep_figures
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    recipes = {
        (d, n, s): recipe_from_config(cfg, data=d, noise=float(n), seed=s)
        for d in cfg.datasets
        for n in cfg.noises
        for s in cfg.seeds
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    sweep = NoiseSweep(cfg.datasets, cfg.noises, cfg.seeds, cfg.target_class)
    for dataset in cfg.datasets:
        x, y = cache.test_set(recipes[(dataset, cfg.noises[0], cfg.seeds[0])])
        for noise in cfg.noises:
            for seed in cfg.seeds:
                folder = folders[recipes[(dataset, noise, seed)]]
                top, ranks = read_model(load_model(folder), x, y, cfg.target_class)
                sweep.points.append(SweepPoint(dataset, noise, seed, cached_accuracy(folder), top, ranks))
    images = TensorFile(
        {"images": sweep.images()},
        {
            "layout": f"one 28 x 28 top eigenvector per (dataset, noise) of seed {cfg.seeds[0]}, in noise_sweep.csv's "
            "order; signed so that the mean of u . x over the test images of target_class is > 0"
        },
    )
    return CommandResult(
        tensors={"noise_sweep.safetensors": images},
        figures=noise_sweep_figures(sweep, cfg.d_hidden, cfg.epochs),
        headline=sweep.headline(),
    ).add_tables(sweep)


COMMAND = Command(
    name="noise-sweep",
    summary="Figure 4: top eigenvector of one class vs input-noise std, MNIST and Fashion-MNIST.",
    schema=NoiseSweepConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin noise-sweep                                    (the paper's: d=512, 50 epochs)",
        "bilin noise-sweep noises=[0,0.2,0.4,0.6,0.8] target_class=3",
        "bilin noise-sweep experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

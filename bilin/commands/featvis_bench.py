"""`bilin featvis-bench`: every featvis method scored on bilinear MLPs, by direction against the exact
sphere optimum and by logit against the best image found inside the data box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import CachedRecipe, GreyDataset, datasets_key
from bilin.settings.schema import key, seed_key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class FeatvisBenchConfig(CachedRecipe):
    datasets: list[GreyDataset] = datasets_key("datasets (grey 28x28 images)")
    sizes: list[int] = key([64], "hidden sizes d of the bilinear models (and of the relu MLPs beside them)", ge=1)
    seeds: list[int] = seed_key([0, 1, 2], "model seeds; each also seeds its images")
    epochs: int = key(10, "epochs of the cached models (AdamW, cosine-annealed to 0)", ge=1)
    steps: int = key(256, "optimisation steps of every method", ge=1)
    relu: bool = key(True, "also run the methods on relu MLPs of the same sizes (no ground truth: proxy only)")
    transforms: int = key(32, "random robustness transforms behind the proxy confidence", ge=1)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if self.model.bias:  # the ground truth is the sphere optimum of x^T M_c x: homogeneous only without biases
            raise UserError(
                "featvis-bench scores against the sphere optimum x^T M_c x, which biases break (the logit is not "
                "homogeneous in x); use model.bias=false"
            )
        if not self.datasets or not self.sizes or not self.seeds:
            raise UserError("give at least one dataset, one size and one seed")


def main(cfg: FeatvisBenchConfig, ctx: RunContext) -> CommandResult:
    from functools import partial

    from bilin.analysis.bench_tables import bench_summary
    from bilin.analysis.box_optimum import RESTARTS, STEPS
    from bilin.cache.store import ModelCache
    from bilin.featvis.bench import BASELINE, METHODS, REFERENCE
    from bilin.featvis.bench_models import SCORES, BenchModels, method_runs
    from bilin.featvis.spectrum import SPECTRUM_IMAGES, magnitude_spectrum
    from bilin.figures.featvis_bench import bench_figures
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    kinds = ["bilinear", *(["relu"] if cfg.relu else [])]
    recipes = {
        (kind, data, d, s): recipe_from_config(cfg, model=kind, gate=None, data=data, d_hidden=d, seed=s)
        for kind in kinds
        for data in cfg.datasets
        for d in cfg.sizes
        for s in cfg.seeds
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    train = {
        data: cache.dataset(recipes[("bilinear", data, cfg.sizes[0], cfg.seeds[0])]).train_x for data in cfg.datasets
    }
    # MACO's fixed magnitude, from each dataset's training images as featvis takes it
    spectra = {data: magnitude_spectrum(x[:SPECTRUM_IMAGES].float() / 255, (28, 28)) for data, x in train.items()}
    total = method_runs(len(cfg.datasets) * len(cfg.sizes) * len(cfg.seeds), cfg.relu)
    bench = BenchModels(cfg.steps, cfg.transforms, ctx.device, ctx.stage, total)
    for (kind, data, d, seed), recipe in recipes.items():
        model = load_model(folders[recipe], ctx.device)
        example = (d, seed) == (cfg.sizes[-1], cfg.seeds[0])
        bench.model(model, kind, data, d, seed, spectra[data], partial(cache.test_set, recipe), example)
    ctx.stage(f"summaries: means over models, paired differences against {BASELINE}, rankings")
    summary = bench_summary(bench.rows, SCORES, BASELINE, cfg.datasets, REFERENCE)
    ctx.stage("figures")
    figures, plotted = bench_figures(
        summary.means, bench.examples, list(METHODS), cfg.datasets, cfg.sizes[-1], cfg.seeds[0]
    )
    layout = (
        "<model>/<dataset>/d<size>/seed<seed>/<method>: classes x 1 x 28 x 28, image c for class c; "
        "box/<dataset>/d<size>/seed<seed>: the box optimum per class"
    )
    return CommandResult(
        tables={**summary.tables(), "bench_scores.csv": plotted},
        tensors={"bench_images.safetensors": TensorFile(bench.images, {"layout": layout})},
        figures=figures,
        headline=summary.headline(),
        record={
            "ranking": summary.ranking,
            "box_optimum": {"restarts": RESTARTS, "steps": STEPS, "starts": "random + every in-box method's image"},
        },
    )


COMMAND = Command(
    name="featvis-bench",
    summary="Score every featvis method on bilinear MLPs: direction vs the sphere optimum, logit vs the box's.",
    schema=FeatvisBenchConfig,
    main=main,
    panel="Any model",
    examples=(
        "bilin featvis-bench                                  (d=64, seeds 0-2, 10 epochs, 256 steps: minutes)",
        "bilin featvis-bench experiment=d512                  (the README's table: d=512, 20 epochs, 512 steps)",
        "bilin featvis-bench sizes=[512] epochs=100 steps=512 (the paper's 100 epochs: ~45 min of training on a CPU)",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing. Direction scores "
    "are scale-free (each image rescaled to one norm): |cos| to M_c's top eigenvector, logit / (r² λ_max), "
    "the energy share in M_c's top-5 eigenspace, and the first step from which the fraction stays ≥ 95% "
    "of its final value. box_share is the image's own logit (in [0, 1], unscaled) over the best found in "
    "the box (random projected-gradient restarts plus every method's image; counts in run.json). Methods are "
    "compared with pixel on the same (model, class) pairs (bench_vs_pixel.csv).",
)

"""`bilin featvis-bench`: every featvis method scored on bilinear MLPs, by direction against the exact
sphere optimum and by logit against the best image found inside the data box."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import CachedRecipe, GreyDataset, datasets_key, seed_key
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.lifecycle import RunContext


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
        if not self.datasets or not self.sizes or not self.seeds:
            raise UserError("give at least one dataset, one size and one seed")


SCORES = (
    "cos",
    "fraction",
    "top5_energy",
    "steps_to_95",
    "box_share",
    "proxy_confidence",
    "at_bounds",
    "spectral_error",
)


def run(cfg: FeatvisBenchConfig, ctx: RunContext) -> None:
    from bilin.analysis.bench_tables import method_means, paired_against
    from bilin.analysis.box_optimum import RESTARTS, STEPS
    from bilin.cache import ModelCache
    from bilin.data import DATASETS
    from bilin.featvis.bench import METHODS
    from bilin.featvis.spectrum import SPECTRUM_IMAGES, magnitude_spectrum
    from bilin.figures.featvis_bench import bench_images_figure, bench_scores_figure
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
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
    bench = _Bench(cfg, ctx, cache, spectra)
    for key_, recipe in recipes.items():
        bench.model(*key_, recipe, folders[recipe])
    ctx.stage(f"summaries: means over models, paired differences against {BASELINE}, rankings")
    summary = method_means(bench.rows, SCORES)
    versus = paired_against(bench.rows, BASELINE, SCORES)
    ranking = _ranking(summary, cfg.datasets)
    ctx.run.write_csv("bench.csv", bench.rows)
    ctx.run.save_tensors(
        "bench_images.safetensors",
        bench.images,
        metadata={
            "layout": "<model>/<dataset>/d<size>/seed<seed>/<method>: classes x 1 x 28 x 28, image c for class c; "
            "box/<dataset>/d<size>/seed<seed>: the box optimum per class"
        },
    )
    ctx.run.write_csv("bench_summary.csv", summary)
    ctx.run.write_csv(f"bench_vs_{BASELINE}.csv", versus)
    ctx.run.write_csv("ranking.csv", ranking)
    ctx.stage("figures")
    scores_figure, plotted = bench_scores_figure(summary, list(METHODS), cfg.datasets)
    ctx.run.write_csv("bench_scores.csv", plotted)
    ctx.add_figures(
        {
            "bench_scores": scores_figure,
            **{
                f"bench_images_{data}": bench_images_figure(
                    images, DATASETS[data].classes, DATASETS[data].title, cfg.sizes[-1], cfg.seeds[0]
                )
                for data, images in bench.examples.items()
            },
        }
    )
    ctx.headline(
        **{
            f"{r['score']}.{r['dataset']}.{r['method']}": r["mean"]
            for r in summary
            if r["model"] == "bilinear" and r["score"] in ("fraction", "box_share")
        }
    )
    ctx.record["ranking"] = ranking
    ctx.record["box_optimum"] = {"restarts": RESTARTS, "steps": STEPS, "starts": "random + every in-box method's image"}


BASELINE = "pixel"


class _Bench:
    """Runs every method on one model after another, scoring each image; collects rows and images."""

    def __init__(self, cfg: FeatvisBenchConfig, ctx: RunContext, cache, spectra: dict) -> None:
        self.cfg, self.ctx, self.cache, self.spectra = cfg, ctx, cache, spectra
        self.rows: list[dict] = []
        self.images: dict = {}
        self.examples: dict = {}
        self.done = 0
        from bilin.featvis.bench import METHODS

        models = len(cfg.datasets) * len(cfg.sizes) * len(cfg.seeds)
        self.total = models * (len(METHODS) + (len(METHODS) - 1 if cfg.relu else 0))  # relu: no sphere

    def model(self, kind: str, data: str, d: int, seed: int, recipe, folder) -> None:
        import torch

        from bilin.analysis.box_optimum import RESTARTS, STEPS, box_optimum, box_share
        from bilin.analysis.decompose import input_space_eigendecompose, orient_to_class
        from bilin.analysis.featvis_scores import Optimum, score_images, steps_to_reach
        from bilin.checkpoint import load_model
        from bilin.featvis.bench import METHODS, REFERENCE, proxy_confidence, run_method
        from bilin.featvis.spectrum import seen_image_measures

        cfg, ctx = self.cfg, self.ctx
        model = load_model(folder, ctx.device)
        classes = model.head.weight.shape[0]
        methods = [m for m in METHODS if not (kind == "relu" and m == REFERENCE)]
        name, runs, proxies = f"{kind} {data} d={d} seed={seed}", {}, {}
        for method in methods:
            runs[method] = run_method(
                model, (1, 28, 28), classes, method, cfg.steps, seed, ctx.device, self.spectra[data]
            )
            self.done += 1
            ctx.stage(f"{self.done}/{self.total} {name} {method}: {runs[method].seconds:.1f} s")
            proxies[method] = proxy_confidence(model, runs[method].images.to(ctx.device), cfg.transforms, seed).cpu()
            self.images[f"{kind}/{data}/d{d}/seed{seed}/{method}"] = runs[method].images
        scores: dict[str, dict[str, torch.Tensor]] = {m: {} for m in methods}
        example = (d, seed) == (cfg.sizes[-1], cfg.seeds[0])
        if kind == "bilinear":
            ctx.stage(f"scoring {name}: eigendecomposition of M_c, direction scores along every path")
            x, y = self.cache.test_set(recipe)
            optimum = Optimum.from_eigen(orient_to_class(input_space_eigendecompose(model.cpu()), x, y))
            matrices = optimum.matrices()
            in_box = [m for m in methods if m != REFERENCE]
            ctx.stage(
                f"box optimum for {data} d={d} seed={seed}: {RESTARTS} random restarts + {len(in_box)} method "
                f"images, {STEPS} projected-gradient steps"
            )
            starts = torch.stack([runs[m].images.flatten(1) for m in in_box], 1)
            box = box_optimum(matrices.to(ctx.device), starts.to(ctx.device), seed=seed)
            self.images[f"box/{data}/d{d}/seed{seed}"] = box.images.float().view(classes, 1, 28, 28)
            for method in methods:
                final = score_images(optimum, runs[method].images)
                path = score_images(optimum, runs[method].path.transpose(0, 1)).fraction.T  # (steps, classes)
                scores[method] = {"cos": final.cos, "fraction": final.fraction, "top5_energy": final.top5}
                scores[method]["steps_to_95"] = steps_to_reach(path)
                if method != REFERENCE:  # the sphere's images are outside the box: no box share
                    scores[method]["box_share"] = box_share(box, matrices, runs[method].images.flatten(1))
                if example:
                    self.examples.setdefault(data, {})[method] = runs[method].images[:, 0]
            if example:
                self.examples[data]["box optimum"] = box.images.float().view(classes, 28, 28)
                self.examples[data]["optimum"] = optimum.vectors[:, 0].view(classes, 28, 28)
        for method in methods:
            images = runs[method].images
            # the image as the model sees it: how much of it sits at the range's ends, how far its spectrum is
            # from the data's (MACO's is the data's before the clip); the sphere's images are not in the range
            seen = seen_image_measures(images, self.spectra[data])
            if method == REFERENCE:
                seen = {s: None for s in seen}
            for c in range(classes):
                row = {"model": kind, "dataset": data, "d_hidden": d, "seed": seed, "method": method, "class": c}
                row |= {"norm": float(images[c].norm()), "proxy_confidence": float(proxies[method][c])}
                row |= {s: _cell(scores[method].get(s), c) for s in ("cos", "fraction", "top5_energy", "box_share")}
                row |= {"steps_to_95": _cell(scores[method].get("steps_to_95"), c, int)}
                row |= {s: _cell(v, c) for s, v in seen.items()}
                self.rows.append({**row, "seconds": runs[method].seconds})


def _cell(values, c: int, kind=float):
    """One class's score, or "" where it does not apply (relu models; the sphere's box share)."""
    return "" if values is None else kind(values[c])


def _ranking(summary: list[dict], datasets: list[str]) -> list[dict]:
    """How the in-box methods rank by the proxy against each ground truth (the sphere reference, a
    different problem, is left out), with an exact permutation p and when it cannot be read."""
    from bilin.analysis.bench_tables import permutation_spearman
    from bilin.featvis.bench import REFERENCE

    mean = {(r["model"], r["dataset"], r["method"], r["score"]): r["mean"] for r in summary}
    ranking = []
    for data in datasets:
        for truth in ("fraction", "box_share"):
            for kind in ("bilinear", "relu"):
                methods = [
                    m
                    for (model, ds, m, score) in mean
                    if (model, ds, score) == ("bilinear", data, truth)
                    and m != REFERENCE
                    and (kind, data, m, "proxy_confidence") in mean
                ]
                if kind == "relu" and not methods:
                    continue
                ranking.append(
                    {"dataset": data, "compared": f"{kind} proxy vs bilinear {truth}", "truth": truth,
                     **permutation_spearman([mean[("bilinear", data, m, truth)] for m in methods],
                                            [mean[(kind, data, m, "proxy_confidence")] for m in methods]),
                     "ranked": " ".join(methods)}
                )  # fmt: skip
    return ranking


COMMAND = Command(
    name="featvis-bench",
    summary="Score every featvis method on bilinear MLPs: direction vs the sphere optimum, logit vs the box's.",
    schema=FeatvisBenchConfig,
    run=run,
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

"""`bilin featvis-bench`: every featvis method scored against the exact optimum of bilinear MLPs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import CachedRecipe, GreyDataset, seed_key
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.lifecycle import RunContext


@dataclass
class FeatvisBenchConfig(CachedRecipe):
    datasets: list[GreyDataset] = key(["mnist", "fmnist"], "datasets (grey 28x28 images)")
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


def run(cfg: FeatvisBenchConfig, ctx: RunContext) -> None:
    from bilin.analysis.decompose import input_space_eigendecompose, orient_to_class
    from bilin.analysis.featvis_scores import Optimum, score_images, steps_to_reach
    from bilin.cache import ModelCache
    from bilin.checkpoint import load_model
    from bilin.data import DATASETS
    from bilin.featvis.bench import METHODS, REFERENCE, proxy_confidence, run_method
    from bilin.featvis.spectrum import SPECTRUM_IMAGES, magnitude_spectrum
    from bilin.figures.featvis_bench import bench_images_figure, bench_scores_figure
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    kinds = {"bilinear": None, **({"relu": None} if cfg.relu else {})}
    recipes = {
        (kind, data, d, s): recipe_from_config(cfg, model=kind, gate=None, data=data, d_hidden=d, seed=s)
        for kind in kinds
        for data in cfg.datasets
        for d in cfg.sizes
        for s in cfg.seeds
    }
    folders = cache.provide(list(recipes.values()), ctx)
    train = {
        data: cache.dataset(recipes[("bilinear", data, cfg.sizes[0], cfg.seeds[0])]).train_x for data in cfg.datasets
    }
    # MACO's fixed magnitude, from each dataset's training images as featvis takes it
    spectra = {data: magnitude_spectrum(x[:SPECTRUM_IMAGES].float() / 255, (28, 28)) for data, x in train.items()}
    rows, examples, optima, images = [], {}, {}, {}  # optima: per (dataset, size, seed)
    runs = [(k, m) for k in recipes for m in METHODS if not (k[0] == "relu" and m == REFERENCE)]
    for n, ((kind, data, d, seed), method) in enumerate(runs):
        model = load_model(folders[recipes[(kind, data, d, seed)]], ctx.device)
        classes = model.head.weight.shape[0]
        done = run_method(model, (1, 28, 28), classes, method, cfg.steps, seed, ctx.device, spectra[data])
        ctx.console.log(f"{n + 1}/{len(runs)} {kind} {data} d={d} seed={seed} {method}: {done.seconds:.1f} s")
        proxy = proxy_confidence(model, done.images.to(ctx.device), cfg.transforms, seed).cpu()
        base = {"model": kind, "dataset": data, "d_hidden": d, "seed": seed, "method": method}
        images[f"{kind}/{data}/d{d}/seed{seed}/{method}"] = done.images
        if kind == "bilinear":
            if (data, d, seed) not in optima:
                x, y = cache.test_set(recipes[(kind, data, d, seed)])
                eigen = orient_to_class(input_space_eigendecompose(model.cpu()), x, y)
                optima[(data, d, seed)] = Optimum.from_eigen(eigen)
            optimum = optima[(data, d, seed)]
            final = score_images(optimum, done.images)
            path = score_images(optimum, done.path.transpose(0, 1)).fraction.T  # (steps, classes)
            steps95 = steps_to_reach(path)
            if (d, seed) == (cfg.sizes[-1], cfg.seeds[0]):
                examples.setdefault(data, {})[method] = done.images[:, 0]
                examples[data]["optimum"] = optimum.vectors[:, 0].view(classes, 28, 28)
        for c in range(classes):
            row = {**base, "class": c, "norm": float(done.images[c].norm()), "proxy_confidence": float(proxy[c])}
            if kind == "bilinear":
                row.update(
                    cos=float(final.cos[c]),
                    fraction=float(final.fraction[c]),
                    top5_energy=float(final.top5[c]),
                    steps_to_95=int(steps95[c]),
                )
            rows.append({**row, "seconds": done.seconds})
    summary, ranking = _summaries(rows, cfg)
    ctx.run.write_csv("bench.csv", rows)
    ctx.run.save_tensors(
        "bench_images.safetensors",
        images,
        metadata={
            "layout": "<model>/<dataset>/d<size>/seed<seed>/<method>: classes x 1 x 28 x 28, image c for class c"
        },
    )
    ctx.run.write_csv("bench_summary.csv", summary)
    ctx.run.write_csv("ranking.csv", ranking)
    ctx.add_figures(
        {
            "bench_scores": bench_scores_figure(summary, list(METHODS), cfg.datasets),
            **{
                f"bench_images_{data}": bench_images_figure(
                    images, DATASETS[data].classes, DATASETS[data].title, cfg.sizes[-1], cfg.seeds[0]
                )
                for data, images in examples.items()
            },
        }
    )
    ctx.headline(
        **{
            f"fraction.{r['dataset']}.{r['method']}": r["mean"]
            for r in summary
            if r["model"] == "bilinear" and r["score"] == "fraction"
        }
    )
    ctx.record["ranking"] = ranking


def _summaries(rows: list[dict], cfg: FeatvisBenchConfig) -> tuple[list[dict], list[dict]]:
    """Mean and 90% t interval over seeds x classes (and sizes) per model, dataset, method and score;
    and how the methods rank by ground truth and by the proxy."""
    import torch
    from scipy.stats import spearmanr

    from bilin.analysis.stats import mean_t_band

    scores = ("cos", "fraction", "top5_energy", "steps_to_95", "proxy_confidence")
    summary = []
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["dataset"], row["method"]), []).append(row)
    for (model, data, method), members in groups.items():
        for score in scores:
            values = [m[score] for m in members if score in m]
            if values:
                mean, low, high = mean_t_band(torch.tensor(values, dtype=torch.float64))
                summary.append(
                    {"model": model, "dataset": data, "method": method, "score": score, "mean": float(mean),
                     "low": float(low), "high": float(high), "samples": len(values), "confidence": 0.9}
                )  # fmt: skip
    ranking = []
    mean = {(r["model"], r["dataset"], r["method"], r["score"]): r["mean"] for r in summary}
    for data in cfg.datasets:
        methods = [m for m in dict.fromkeys(r["method"] for r in rows) if ("bilinear", data, m, "fraction") in mean]
        truth = [mean[("bilinear", data, m, "fraction")] for m in methods]
        by_proxy = [mean[("bilinear", data, m, "proxy_confidence")] for m in methods]
        row = {"dataset": data, "compared": "bilinear proxy vs bilinear ground truth"}
        ranking.append({**row, "spearman": float(spearmanr(truth, by_proxy).statistic), "methods": len(methods)})
        relu = [m for m in methods if ("relu", data, m, "proxy_confidence") in mean]
        if len(relu) > 1:
            truth = [mean[("bilinear", data, m, "fraction")] for m in relu]
            proxy = [mean[("relu", data, m, "proxy_confidence")] for m in relu]
            row = {"dataset": data, "compared": "relu proxy vs bilinear ground truth"}
            ranking.append({**row, "spearman": float(spearmanr(truth, proxy).statistic), "methods": len(relu)})
    return summary, ranking


COMMAND = Command(
    name="featvis-bench",
    summary="Score every featvis method against the exact optimum of bilinear MLPs (and by proxy on relu MLPs).",
    schema=FeatvisBenchConfig,
    run=run,
    panel="Any model",
    examples=(
        "bilin featvis-bench                                  (d=64, seeds 0-2, 10 epochs, 256 steps: minutes)",
        "bilin featvis-bench experiment=d512                  (the README's table: d=512, 20 epochs, 512 steps)",
        "bilin featvis-bench sizes=[512] epochs=100 steps=512 (the paper's 100 epochs: ~45 min of training on a CPU)",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing. Scores are "
    "scale-free (each image rescaled to one norm): |cos| to M_c's top eigenvector, logit / (r² λ_max), "
    "the energy share in M_c's top-5 eigenspace, and the first step from which the fraction stays ≥ 95% "
    "of its final value.",
)

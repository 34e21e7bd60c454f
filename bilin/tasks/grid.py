"""`bilin truncate` and `bilin similarity`: a grid of sizes x seeds from the model cache."""

from __future__ import annotations

from pathlib import Path

import torch

from bilin.analysis.decompose import eigendecompose
from bilin.analysis.similarity import pair_similarities, ranked_vectors
from bilin.analysis.truncate import truncation_accuracy
from bilin.cache import recipe_from_config
from bilin.checkpoint import load_model
from bilin.config import check_recipe_config
from bilin.errors import UserError
from bilin.figures.grid import band_lines, similarity_heatmap
from bilin.tasks.common import analysis_run, require_bilinear, clean_test_set


def _grid(cfg, job):
    """{(size, seed): Eigen} for every model of the grid, and the first recipe (for its data)."""
    require_bilinear(cfg)
    sizes, seeds = list(cfg.sizes), list(cfg.seeds)
    if len(set(sizes)) != len(sizes) or len(set(seeds)) != len(seeds):
        raise UserError(f"sizes={sizes} and seeds={seeds} must not repeat values")
    recipes = {(d, s): recipe_from_config(cfg, d_hidden=d, seed=s) for d in sizes for s in seeds}
    folders = job.models(list(recipes.values()))
    # the analysis runs where the models trained: eigh of 10 x 1000^2 is much faster on a GPU
    models = {key: load_model(folders[r], job.device) for key, r in recipes.items()}
    return models, next(iter(recipes.values()))


def run_truncate(cfg, out_dir: Path) -> dict:
    check_recipe_config(cfg)
    small = [d for d in cfg.sizes if d < cfg.k_max]
    if small:
        raise UserError(f"k_max={cfg.k_max} is beyond d={small[0]}: a model of size d has only d components "
                        "per class; lower k_max or drop that size")
    with analysis_run(cfg, out_dir, "truncate") as job:
        models, recipe = _grid(cfg, job)
        x, y = (t.to(job.device) for t in clean_test_set(job.cache, recipe))
        ks = list(range(cfg.k_max + 1))
        rows, curves_error, curves_drop = [], {}, {}
        for size in cfg.sizes:
            accuracies, drops = [], []
            for seed in cfg.seeds:
                model = models[(size, seed)]
                with torch.no_grad():
                    full = (model(x).argmax(-1) == y).float().mean().item()
                accuracy = truncation_accuracy(eigendecompose(model), x, y, ks).cpu()
                rows += [{"size": size, "seed": seed, "k": k, "accuracy": float(a), "full_accuracy": full}
                         for k, a in zip(ks, accuracy)]
                accuracies.append(accuracy)
                drops.append(full - accuracy)
            curves_error[f"d={size}"] = 1 - torch.stack(accuracies)
            curves_drop[f"d={size}"] = torch.stack(drops)
        job.run.write_csv("truncation.csv", rows)
        n = len(cfg.seeds)
        figures = {
            "truncation_error": band_lines(ks, curves_error, "Test error with the top-k eigenvectors per class",
                                           "k (components per class, largest |λ|)", "test error", log_y=True,
                                           subtitle=f"mean and 90% Student-t band over {n} seeds"),
            "truncation_drop": band_lines(ks, curves_drop, "Accuracy drop from truncation (full − top-k)",
                                          "k (components per class, largest |λ|)", "accuracy drop",
                                          subtitle=f"mean and 90% Student-t band over {n} seeds"),
        }
        return job.finish(figures)


def run_similarity(cfg, out_dir: Path) -> dict:
    check_recipe_config(cfg)
    if cfg.reference_size not in cfg.sizes:
        raise UserError(f"reference_size={cfg.reference_size} is not among sizes={list(cfg.sizes)}")
    with analysis_run(cfg, out_dir, "similarity") as job:
        models, _ = _grid(cfg, job)
        seeds = list(cfg.seeds)
        ranked = {key: ranked_vectors(eigendecompose(m), cfg.order, cfg.ranks) for key, m in models.items()}
        ranks = min(v.shape[1] for v in ranked.values())

        def compare(size_a: int, size_b: int) -> torch.Tensor:  # (pairs, classes, ranks)
            return pair_similarities([ranked[(size_a, s)][:, :ranks] for s in seeds],
                                     [ranked[(size_b, s)][:, :ranks] for s in seeds], seeds, seeds,
                                     same_models=size_a == size_b)

        rows, curves = [], {}
        for size in cfg.sizes:
            sims = compare(size, cfg.reference_size)
            curves[f"d={size}"] = sims.flatten(0, 1).cpu()  # samples = (seed pair, class)
            mean = sims.mean((0, 1)).cpu()
            rows += [{"size": size, "reference_size": cfg.reference_size, "rank": r, "mean_abs_cos": float(v)}
                     for r, v in enumerate(mean)]
        heat = torch.tensor([[compare(a, b)[..., 0].mean().item() for b in cfg.sizes] for a in cfg.sizes])
        job.run.write_csv("similarity.csv", rows)
        job.run.write_csv("similarity_rank0.csv", [{"size_a": a, "size_b": b, "mean_abs_cos": float(heat[i, j])}
                                                   for i, a in enumerate(cfg.sizes) for j, b in enumerate(cfg.sizes)])
        label = {"top": "largest positive", "bottom": "most negative", "abs": "largest |λ|"}[cfg.order]
        figures = {
            "similarity_vs_rank": band_lines(list(range(ranks)), curves,
                                             f"Eigenvector similarity to the d={cfg.reference_size} models",
                                             f"eigenvector rank ({label} first)", "|cosine similarity|",
                                             subtitle="same class and rank, distinct seeds; mean and 90% t band "
                                                      "over (seed pair, class)"),
            "similarity_rank0_heatmap": similarity_heatmap(cfg.sizes, heat, f"Rank-0 ({label}) eigenvector "
                                                           "similarity between sizes (distinct seeds)"),
        }
        return job.finish(figures, order=cfg.order)

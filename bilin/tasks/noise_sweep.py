"""`bilin noise-sweep`: figure 4, the top eigenvector of one class vs the training noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import MODEL_SEED, CachedRecipe, GreyDataset, d_hidden_key, datasets_key, seed_key
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.analysis.stats import SweepBands
    from bilin.lifecycle import RunContext


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


def run(cfg: NoiseSweepConfig, ctx: RunContext) -> None:
    import torch

    from bilin.analysis.decompose import eigendecompose, orient_to_class
    from bilin.analysis.feature_spectra import feature_spectra
    from bilin.analysis.stats import sweep_bands
    from bilin.cache import ModelCache, cached_accuracy
    from bilin.checkpoint import load_model
    from bilin.data import DATASETS
    from bilin.figures.eigen import SIGN_NOTE, image_grid
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    recipes = {
        (d, n, s): recipe_from_config(cfg, data=d, noise=float(n), seed=s)
        for d in cfg.datasets
        for n in cfg.noises
        for s in cfg.seeds
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    first_seed = cfg.seeds[0]
    images, titles, labels, rows = [], [], [], []
    for dataset in cfg.datasets:
        classes = DATASETS[dataset].classes
        labels.append(f"{DATASETS[dataset].title}: {classes[cfg.target_class]}")
        test = cache.test_set(recipes[(dataset, cfg.noises[0], first_seed)])
        for noise in cfg.noises:
            for seed in cfg.seeds:
                folder = folders[recipes[(dataset, noise, seed)]]
                eigen = orient_to_class(eigendecompose(load_model(folder)), *test)
                values, vectors = eigen.top()
                spectra = feature_spectra(eigen, 28)
                accuracy = cached_accuracy(folder)
                if seed == first_seed:
                    images.append(vectors[cfg.target_class].view(28, 28))
                    titles.append(f"σ={noise:g}: {accuracy * 100:.1f}%")
                rows.append(
                    {
                        "dataset": dataset,
                        "noise": noise,
                        "seed": seed,
                        "val_acc": accuracy,
                        "top_eigenvalue": float(values[cfg.target_class]),
                        "centroid_top_eigenvector": _top_vector_centroid(spectra, cfg.target_class),
                        "centroid_top_eigenvectors": float(spectra.top_centroid().mean()),
                    }
                )
    first = [r for r in rows if r["seed"] == first_seed]
    ctx.headline(**{f"val_acc.{r['dataset']}.noise{r['noise']:g}": r["val_acc"] for r in first})
    # samples read at float32: the precision noise_frequency_bands.csv has always had
    bands = sweep_bands(rows, cfg.datasets, CENTROID_MEASURES, "noise", cfg.noises, dtype=torch.float32)
    ctx.run.write_csv("noise_sweep.csv", rows)
    ctx.run.write_csv("noise_frequency_bands.csv", bands.rows())
    ctx.run.save_tensors(
        "noise_sweep.safetensors",
        {"images": torch.stack(images)},
        metadata={
            "layout": f"one 28 x 28 top eigenvector per (dataset, noise) of seed {first_seed}, in noise_sweep.csv's "
            "order; signed so that the mean of u . x over the test images of target_class is > 0"
        },
    )
    ctx.add_figures(
        {
            "fig4_noise_sweep": image_grid(
                images,
                titles,
                cols=len(cfg.noises),
                row_labels=labels,
                title="Top eigenvector vs training input noise",
                subtitle=f"above each image: noise std σ and val accuracy (d={cfg.d_hidden}, {cfg.epochs} epochs, "
                f"seed {first_seed})<br>{SIGN_NOTE}",
            ),
            "frequency_vs_noise": _frequency_vs_noise(cfg, bands),
        }
    )


def _top_vector_centroid(spectra, target_class: int) -> float:
    top = int(spectra.values[target_class].argmax())
    return float(spectra.components.centroid()[target_class, top])


# the columns of noise_sweep.csv that the frequency figure bands over seeds
CENTROID_MEASURES = ("centroid_top_eigenvectors", "centroid_top_eigenvector")


def _frequency_vs_noise(cfg: NoiseSweepConfig, bands: SweepBands):
    """Figure 4 as a number: the spectral centroid of the top eigenvectors against the noise, with a
    90% Student-t band over the seeds."""
    from bilin.analysis.feature_spectra import TOP_FEATURES
    from bilin.data import DATASETS
    from bilin.figures.frequency import SPECTRUM_NOTE, measures_vs_noise_figure

    labels = {
        "centroid_top_eigenvectors": f"top {TOP_FEATURES} eigenvectors of every class",
        "centroid_top_eigenvector": "top eigenvector of the target class",
    }
    panels = {
        f"{DATASETS[dataset].title} (target: {DATASETS[dataset].classes[cfg.target_class]})": {
            labels[measure]: bands.bands[(dataset, measure)] for measure in CENTROID_MEASURES
        }
        for dataset in cfg.datasets
    }
    seeds = len(cfg.seeds)
    over = f"{seeds} seed{'s' if seeds > 1 else ''}" + (" (one seed: no band)" if seeds == 1 else "")
    return measures_vs_noise_figure(
        cfg.noises,
        {"spectral centroid (cycles/image)": panels},
        "Spatial frequency of the top eigenvectors vs training noise",
        f"mean and 90% Student-t band over {over}; d={cfg.d_hidden}, {cfg.epochs} epochs<br>{SPECTRUM_NOTE}",
    )


COMMAND = Command(
    name="noise-sweep",
    summary="Figure 4: top eigenvector of one class vs input-noise std, MNIST and Fashion-MNIST.",
    schema=NoiseSweepConfig,
    run=run,
    panel="Read the weights",
    examples=(
        "bilin noise-sweep                                    (the paper's: d=512, 50 epochs)",
        "bilin noise-sweep noises=[0,0.2,0.4,0.6,0.8] target_class=3",
        "bilin noise-sweep experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

"""`bilin noise-sweep`: figure 4, the top eigenvector of one class vs the training noise."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import CachedRecipe, GreyDataset
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.lifecycle import RunContext


@dataclass
class NoiseSweepConfig(CachedRecipe):
    epochs: int = key(50, "epochs (AdamW, cosine-annealed to 0)", ge=1)
    noises: list[float] = key([0.0, 0.2, 0.4, 0.6, 0.8], "training noise stds, one model each", ge=0)
    datasets: list[GreyDataset] = key(["mnist", "fmnist"], "one row of the figure each")
    d_hidden: int = key(512, "hidden size d", ge=1)
    seed: int = key(420, "fixes init, data order and noise")
    target_class: int = key(0, "the class whose top eigenvector is shown (0: digit 0 / t-shirt)", ge=0, le=9)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if not self.noises or not self.datasets:
            raise UserError("noises and datasets must each name at least one value")


def run(cfg: NoiseSweepConfig, ctx: RunContext) -> None:
    import torch

    from bilin.analysis.decompose import eigendecompose, orient_to_class
    from bilin.cache import ModelCache, cached_accuracy
    from bilin.checkpoint import load_model
    from bilin.data import DATASETS
    from bilin.figures.eigen import SIGN_NOTE, image_grid
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    recipes = {(d, n): recipe_from_config(cfg, data=d, noise=float(n)) for d in cfg.datasets for n in cfg.noises}
    folders = cache.provide(list(recipes.values()), ctx)
    images, titles, labels, rows = [], [], [], []
    for dataset in cfg.datasets:
        classes = DATASETS[dataset].classes
        labels.append(f"{DATASETS[dataset].title}: {classes[cfg.target_class]}")
        test = cache.test_set(recipes[(dataset, cfg.noises[0])])
        for noise in cfg.noises:
            folder = folders[recipes[(dataset, noise)]]
            values, vectors = orient_to_class(eigendecompose(load_model(folder)), *test).top()
            images.append(vectors[cfg.target_class].view(28, 28))
            accuracy = cached_accuracy(folder)
            titles.append(f"σ={noise:g}: {accuracy * 100:.1f}%")
            rows.append(
                {
                    "dataset": dataset,
                    "noise": noise,
                    "val_acc": accuracy,
                    "top_eigenvalue": float(values[cfg.target_class]),
                }
            )
    ctx.headline(**{f"val_acc.{r['dataset']}.noise{r['noise']:g}": r["val_acc"] for r in rows})
    ctx.run.write_csv("noise_sweep.csv", rows)
    ctx.run.save_tensors(
        "noise_sweep.safetensors",
        {"images": torch.stack(images)},
        metadata={
            "layout": "one 28 x 28 top eigenvector per noise_sweep.csv row, in its order; signed so that "
            "the mean of u . x over the test images of target_class is > 0"
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
                subtitle=f"above each image: noise std σ and val accuracy (d={cfg.d_hidden}, {cfg.epochs} epochs)"
                f"<br>{SIGN_NOTE}",
            )
        }
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

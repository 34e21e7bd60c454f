"""`bilin adversarial`: masks built from the weights alone (the paper's section 4.4) against controls.

The mask of class c is m_c = pinv(U) |lambda| over c's top `components` input-space eigenvectors
(U, k x inputs; untargeted: the most negative ones of the image's own class), scaled to unit L2
norm; an image x becomes x + alpha * m_c. Controls of the same norm alpha: a random direction, a
random eigenvector of the class, the class mean-image difference, FGSM and PGD in L2. See
bilin/analysis/adversarial.py and docs/science.md section 9.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import CachedRecipe, GreyDataset, d_hidden_key, datasets_key
from bilin.settings.schema import key, seed_key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class AdversarialConfig(CachedRecipe):
    d_hidden: int = d_hidden_key()
    datasets: list[GreyDataset] = datasets_key("one row of the figures each")
    seeds: list[int] = seed_key([0, 1, 2], "one model per seed and dataset; the bands are over seeds")
    alphas: list[float] = key([0.0, 1.0, 2.0, 3.0, 4.0, 6.0], "mask strengths: the L2 norm of every change", ge=0)
    target: int | None = key(2, "the class the masks push towards; null: untargeted (away from each image's own)")
    components: int = key(3, "eigenvectors in the eigen mask (largest eigenvalues; untargeted: most negative)", ge=1)
    clamp: bool = key(False, "keep adversarial images inside [0, 1] (norms are equal before the clamp)")
    pgd_steps: int = key(20, "PGD steps on the L2 sphere of radius alpha", ge=1)
    samples: int | None = key(2000, "attack the first N test images; null: all", ge=1)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if self.model.bias:  # the mask solves u_j . m = |lambda_j| for image directions u_j, with no constant term
            raise UserError(
                "adversarial builds its mask from eigenvectors of x^T M_c x, which biases turn into a form in "
                "[x; 1] (docs/science.md section 9); use model.bias=false"
            )
        if not self.alphas or not self.datasets or not self.seeds:
            raise UserError("alphas, datasets and seeds must each name at least one value")
        if self.target is not None and not 0 <= self.target <= 9:
            raise UserError(f"target={self.target} is not a class: use 0..9 (mnist, fmnist) or null for untargeted")
        if self.components > self.d_hidden:
            raise UserError(f"components={self.components} is beyond d_hidden={self.d_hidden} eigenvectors per class")


def main(cfg: AdversarialConfig, ctx: RunContext) -> CommandResult:
    from bilin.analysis.adversarial import AdversarialStudy, Attack, attack_model
    from bilin.analysis.decompose import eigendecompose, orient_to_class
    from bilin.cache.store import ModelCache
    from bilin.figures.adversarial import adversarial_figures
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    recipes = {(d, s): recipe_from_config(cfg, data=d, seed=s) for d in cfg.datasets for s in cfg.seeds}
    folders = ctx.cached_models(cache, list(recipes.values()))
    attack = Attack(cfg.alphas, cfg.target, cfg.components, cfg.clamp, cfg.pgd_steps)
    study = AdversarialStudy(cfg.datasets, cfg.seeds, attack)
    for (dataset, seed), recipe in recipes.items():
        ctx.stage(f"attacking {dataset} seed {seed}")
        x, y = (t[: cfg.samples].to(ctx.device) for t in cache.test_set(recipe))
        data = cache.dataset(recipe)
        train_x, train_y = (data.train_x.flatten(1).float() / 255).to(ctx.device), data.train_y.to(ctx.device)
        model = load_model(folders[recipe], ctx.device)
        for p in model.parameters():
            p.requires_grad_(False)  # the masks read the weights; only FGSM and PGD differentiate (by the input)
        eigen = orient_to_class(eigendecompose(model), train_x, train_y)
        study.add(dataset, seed, *attack_model(model, eigen, x, y, train_x, train_y, attack, seed))
    metadata = {
        "layout": "'<dataset>.<method>': (seeds, classes, 784) unit-norm directions, row c the one added to "
        "class c's images (targeted: the same for every class but the mean difference)",
        "target": "none" if cfg.target is None else str(cfg.target),
        "seeds": ",".join(map(str, cfg.seeds)),
    }
    return CommandResult(
        tensors={"masks.safetensors": TensorFile(study.mask_tensors(), metadata)},
        figures=adversarial_figures(study, cfg.d_hidden, cfg.epochs, cfg.noise),
        headline=study.headline(),
    ).add_tables(study)


COMMAND = Command(
    name="adversarial",
    summary="Adversarial masks from the weights (paper section 4.4) against random, mean-image and PGD controls.",
    schema=AdversarialConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin adversarial                                    (target class 2, d=512, 3 seeds)",
        "bilin adversarial target=null alphas=[0,2,4,8] clamp=true",
        "bilin adversarial experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

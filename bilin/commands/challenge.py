"""`bilin challenge`: a planted rule recovered from the weights (the paper's section 4.3).

The images are relabelled 1 when cos(x, t) or cos(x, 1 - t) exceeds `threshold`, t the training image
`target_index` (bilin/data/planted_rule.py); a bilinear MLP with biases and two outputs learns these
labels, and the eigendecomposition of its rule logit (logit_1 - logit_0, biases folded) should give t
and 1 - t back. The control: the same model on the same labels shuffled. See
bilin/analysis/planted_rule.py and docs/science.md section 10.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, get_args

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import CachedRecipe, GreyDataset, ModelConfig, d_hidden_key
from bilin.settings.schema import group, key, rekey, seed_key
from bilin.train.records import TrainingSettings

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class ChallengeConfig(CachedRecipe):
    model: ModelConfig = group("bilinear_bias", "architecture (the rule's models have biases)", ModelConfig)
    noise: float = rekey(TrainingSettings, "noise", 0.1)
    d_hidden: int = d_hidden_key(64)
    target_index: int = key(3, "the target t: this training image (after data.train_limit)", ge=0)
    threshold: float = key(0.4, "label 1 when cos(x, t) or cos(x, 1 - t) exceeds it", gt=0, le=1)
    seeds: list[int] = seed_key([0, 1, 2], "one rule model and one control per seed; the bands are over seeds")
    components: int = key(2, "top eigenvectors (largest eigenvalues) compared with t and 1 - t", ge=1)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if self.data.name not in get_args(GreyDataset):
            raise UserError(f"challenge draws 28 x 28 grey images: data=mnist or data=fmnist, not {self.data.name}")
        if not self.seeds:
            raise UserError("seeds must name at least one seed")
        coordinates = self.d_hidden + int(self.model.bias)
        if self.components > coordinates:
            raise UserError(
                f"components={self.components} is beyond the {coordinates} eigenvectors of a rule logit "
                f"(d_hidden{' + 1' if self.model.bias else ''})"
            )


def main(cfg: ChallengeConfig, ctx: RunContext) -> CommandResult:
    import torch

    from bilin.analysis.planted_rule import ChallengeStudy, label_balance, recover, rule_eigen
    from bilin.cache.store import ModelCache, cached_accuracy
    from bilin.data.planted_rule import PlantedRule
    from bilin.figures.challenge import challenge_figures
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    rule = PlantedRule(cfg.target_index, cfg.threshold)
    data = cache.dataset(recipe_from_config(cfg, seed=cfg.seeds[0]))  # the data as read (no rule)
    target = rule.target(data)
    study = ChallengeStudy(cfg.seeds, target)
    for split, images in (("train", data.train_x), ("test", data.test_x)):
        study.labels.append(label_balance(split, *rule.similarities(images, target), cfg.threshold))
    share = study.labels[0]["rule_share"]
    if not 0 < share < 1:
        raise UserError(
            f"threshold={cfg.threshold:g} labels {'every' if share else 'no'} training image 'rule' for "
            f"target_index={cfg.target_index}: there is nothing to learn; choose another threshold or target"
        )
    recipes = {
        (condition, s): recipe_from_config(cfg, seed=s, rule=replace(rule, shuffle_seed=shuffle))
        for s in cfg.seeds
        for condition, shuffle in (("rule", None), ("shuffled", s))
    }
    folders = ctx.cached_models(cache, list(recipes.values()))
    ctx.stage("reading the rule logits")
    for (condition, seed), recipe in recipes.items():
        eigen = rule_eigen(load_model(folders[recipe]))
        accuracy = cached_accuracy(folders[recipe])
        study.recoveries.append(recover(eigen, target, cfg.components, accuracy, condition, seed))
    rule_text = (
        f"target: training image {cfg.target_index}, threshold {cfg.threshold:g}, {cfg.components} top eigenvectors"
    )
    biases = "biases" if cfg.model.bias else "no biases"
    trained = f"d={cfg.d_hidden}, {biases}, {cfg.epochs} epochs, noise {cfg.noise:g}, wd {cfg.wd:g}"
    tensors = {
        "target": target.float(),
        **{c: torch.stack([r.top_images for r in study.of(c)]).float() for c in ("rule", "shuffled")},
    }
    layout = (
        "target: (784,) the target image t in [0, 1]; rule, shuffled: (seeds, components, 784) the image part of "
        "each model's top eigenvectors of logit_1 - logit_0 (largest eigenvalue first), each signed so that the "
        "larger of its cosines with t and 1 - t is positive"
    )
    return CommandResult(
        tensors={
            "challenge.safetensors": TensorFile(tensors, {"layout": layout, "seeds": ",".join(map(str, cfg.seeds))})
        },
        figures=challenge_figures(study, rule_text, trained),
        headline=study.headline(),
    ).add_tables(study)


COMMAND = Command(
    name="challenge",
    summary="A planted rule (similar to a target image or its complement) read back from the weights (section 4.3).",
    schema=ChallengeConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin challenge                                      (d=64, biases, noise 0.1, 3 seeds + shuffled controls)",
        "bilin challenge target_index=2 threshold=0.35 components=3",
        "bilin challenge experiment=quick",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing: a rule model and a "
    "shuffled-label control per seed.",
)

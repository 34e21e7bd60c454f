"""`bilin frequency`: the spatial frequencies a model uses, from its weights, its behaviour and its
features, over training noise levels and seeds (bilin.csf.frequency_study)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.csf.settings import FrequencyStudySettings
from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import CachedRecipe, GreyDataset, d_hidden_key, datasets_key
from bilin.settings.schema import key, seed_key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class FrequencyConfig(CachedRecipe, FrequencyStudySettings):
    datasets: list[GreyDataset] = datasets_key("grey 28x28 datasets, one column of the figure each")
    noises: list[float] = key([0.0, 0.2, 0.4, 0.6, 0.8], "training noise stds", ge=0)
    seeds: list[int] = seed_key([0, 1, 2], "one model per seed; the bands are over seeds")
    d_hidden: int = d_hidden_key(128, "hidden size d of the bilinear models")
    epochs: int = key(20, "epochs of the cached models (AdamW, cosine-annealed to 0)", ge=1)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if not self.datasets or not self.noises or not self.seeds:
            raise UserError("give at least one dataset, one noise level and one seed")
        from bilin.featvis.bench import METHODS

        if self.featvis_method not in METHODS:
            raise UserError(f"featvis_method={self.featvis_method!r}: use one of {', '.join(METHODS)}")


def main(cfg: FrequencyConfig, ctx: RunContext) -> CommandResult:
    from bilin.cache.store import ModelCache, cached_accuracy
    from bilin.csf.frequency_study import FrequencyStudy, measure_model
    from bilin.figures.frequency import frequency_study_figure
    from bilin.models.checkpoint import load_model
    from bilin.train.recipe import recipe_from_config

    cache = ModelCache.of(cfg)
    keys = [(d, n, s) for d in cfg.datasets for n in cfg.noises for s in cfg.seeds]
    recipes = {k: recipe_from_config(cfg, data=k[0], noise=float(k[1]), seed=k[2]) for k in keys}
    folders = ctx.cached_models(cache, list(recipes.values()))
    study = FrequencyStudy(cfg, list(cfg.datasets), list(cfg.noises), list(cfg.seeds), cfg.d_hidden, cfg.epochs)
    say = ctx.stage
    say(f"measuring {len(keys)} models: weight CSF, eigenvectors, probe CSF and featvis of each")
    for i, (dataset, noise, seed) in enumerate(keys):
        ctx.stop.raise_if_set()
        folder = folders[recipes[(dataset, noise, seed)]]
        model_name = f"{i + 1}/{len(keys)} {dataset} σ={noise:g} seed {seed}"
        measured = measure_model(
            load_model(folder),
            cfg,
            ctx.device,
            on_batch=ctx.stop.raise_if_set,  # a signal ends the probe's training at its next batch
            on_stage=lambda stage, name=model_name: say(f"{name}: {stage}"),
        )
        row = study.add(dataset, noise, seed, cached_accuracy(folder), measured)
        say(f"{model_name}: peak {row['weights_peak']:.2f} (weights), {row['probe_peak']:.2f} (probe) cycles/image")
    say("all models measured: bands over seeds, tables, then the frequency_study figure")
    record = {
        "sfs": cfg.frequencies,
        "protocol": cfg.protocol,
        "probe_layer": cfg.layer,
        "criterion_nats": cfg.criterion,
        "featvis_method": cfg.featvis_method,
    }
    if study.band_note:
        record["band_note"] = study.band_note
    return CommandResult(
        tensors=study.tensors(),
        texts={"frequency_table.md": study.markdown()},
        figures={"frequency_study": frequency_study_figure(study)},
        headline=study.headline(),
        record=record,
    ).add_tables(study)


COMMAND = Command(
    name="frequency",
    summary="Which spatial frequencies a bilinear MLP uses: from its weights, a linear probe and its features.",
    schema=FrequencyConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin frequency                                   (d=128, 20 epochs, 3 seeds, 5 noises, 2 datasets: minutes)",
        "bilin frequency experiment=d512                   (the README's table: d=512, 20 epochs)",
        "bilin frequency protocol=jittered criterion=0.5   (random grating phase; a stricter threshold)",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

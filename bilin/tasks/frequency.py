"""`bilin frequency`: the spatial frequencies a model uses, from its weights, its behaviour and its
features, over training noise levels and seeds (csf.study)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import CachedRecipe, GreyDataset, d_hidden_key, datasets_key, seed_key
from bilin.csf.options import PROBE_EPOCHS, PROBE_PAIRS, StaircaseKeys
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.lifecycle import RunContext


# (column of frequency.csv, its source: the figure's legend, the figure's row, the table's header)
MEASURES = (
    ("weights_peak", "weights", "CSF peak (cycles/image)", "weights: CSF peak"),
    ("probe_peak", "probe", "CSF peak (cycles/image)", "probe: CSF peak"),
    ("weights_octaves", "weights", "CSF bandwidth (octaves)", "weights: bandwidth"),
    ("probe_octaves", "probe", "CSF bandwidth (octaves)", "probe: bandwidth"),
    ("eigen_centroid", "eigenvectors", "spectral centroid (cycles/image)", "eigenvectors: centroid"),
    ("featvis_centroid", "featvis", "spectral centroid (cycles/image)", "featvis: centroid"),
)
CENTROIDS = ("eigen_centroid", "featvis_centroid")  # need no band-pass shape: any frequencies will do
DEFAULT_SFS = [float(f) for f in range(1, 15)]  # every integer up to 28 px's Nyquist


@dataclass
class FrequencyConfig(CachedRecipe, StaircaseKeys):
    datasets: list[GreyDataset] = datasets_key("grey 28x28 datasets, one column of the figure each")
    noises: list[float] = key([0.0, 0.2, 0.4, 0.6, 0.8], "training noise stds", ge=0)
    seeds: list[int] = seed_key([0, 1, 2], "one model per seed; the bands are over seeds")
    d_hidden: int = d_hidden_key(128, "hidden size d of the bilinear models")
    epochs: int = key(20, "epochs of the cached models (AdamW, cosine-annealed to 0)", ge=1)
    sfs: list[float] = key([], "cycles/image (at most 14); empty: every integer 1..14", gt=0, le=14)
    criterion: float = key(1.0, "weights: threshold where the RMS change of the logit vector reaches this (nats)", gt=0)
    layer: str = key("product", "the layer the probe reads, z-scored (product: the hidden layer g = (L h) * (R h))")
    probe_pairs: int = key(PROBE_PAIRS, "probe training pairs per epoch", ge=1)
    probe_epochs: int = key(PROBE_EPOCHS, "probe training epochs", ge=1)
    featvis_method: str = key("+robustness", "featvis method (featvis-bench's names); no Fourier 1/f prior by default")
    featvis_steps: int = key(256, "featvis optimisation steps", ge=1)

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if not self.datasets or not self.noises or not self.seeds:
            raise UserError("give at least one dataset, one noise level and one seed")
        from bilin.featvis.bench import METHODS

        if self.featvis_method not in METHODS:
            raise UserError(f"featvis_method={self.featvis_method!r}: use one of {', '.join(METHODS)}")


def run(cfg: FrequencyConfig, ctx: RunContext) -> None:
    from bilin.analysis.frequency import band_pass_note
    from bilin.analysis.stats import sweep_bands
    from bilin.cache import ModelCache, cached_accuracy
    from bilin.checkpoint import load_model
    from bilin.csf.measure import StaircaseSettings
    from bilin.csf.probe import ProbeSettings
    from bilin.csf.study import StudySettings, measure_model
    from bilin.train.recipe import recipe_from_config

    settings = StudySettings(
        sfs=sorted(cfg.sfs) or DEFAULT_SFS,
        protocol=cfg.protocol,
        criterion=cfg.criterion,
        layer=cfg.layer,
        probe=ProbeSettings(cfg.probe_pairs, cfg.probe_epochs, seed=0, standardise=True),
        staircase=StaircaseSettings(cfg.trials, cfg.max_steps, cfg.bootstrap),
        featvis_method=cfg.featvis_method,
        featvis_steps=cfg.featvis_steps,
    )
    cache = ModelCache(cfg.cache_root, cfg.data.root, cfg.data.download)
    keys = [(d, n, s) for d in cfg.datasets for n in cfg.noises for s in cfg.seeds]
    recipes = {k: recipe_from_config(cfg, data=k[0], noise=float(k[1]), seed=k[2]) for k in keys}
    folders = ctx.cached_models(cache, list(recipes.values()))
    rows, weight_rows, probe_rows, images = [], [], [], {}
    say = ctx.stage
    say(f"measuring {len(keys)} models: weight CSF, eigenvectors, probe CSF and featvis of each")
    for i, (dataset, noise, seed) in enumerate(keys):
        ctx.stop.raise_if_set()
        folder = folders[recipes[(dataset, noise, seed)]]
        model_name = f"{i + 1}/{len(keys)} {dataset} σ={noise:g} seed {seed}"
        measured = measure_model(
            load_model(folder),
            settings,
            ctx.device,
            on_batch=ctx.stop.raise_if_set,  # a signal ends the probe's training at its next batch
            on_stage=lambda stage, name=model_name: say(f"{name}: {stage}"),
        )
        base = {"dataset": dataset, "noise": noise, "seed": seed}
        rows.append({**base, "val_acc": cached_accuracy(folder), **measured.row()})
        weight_rows += [{**base, **r} for r in measured.weights.rows()]
        probe_rows += [{**base, **r} for r in measured.probe.threshold_rows()]
        images[f"{dataset}/noise{noise:g}/seed{seed}"] = measured.featvis_images
        say(
            f"{model_name}: peak {rows[-1]['weights_peak']:.2f} (weights), {rows[-1]['probe_peak']:.2f} (probe) "
            "cycles/image"
        )
    say("all models measured: bands over seeds, tables, then the frequency_study figure")
    columns = [column for column, *_ in MEASURES]
    # peaks are cut to the tested frequencies, the rest to >= 0 (a t band over few seeds can leave the range)
    clips = {c: (min(settings.sfs), max(settings.sfs)) if c.endswith("_peak") else (0.0, math.inf) for c in columns}
    bands = sweep_bands(rows, cfg.datasets, columns, "noise", cfg.noises, clips)
    shape_note = band_pass_note(settings.sfs)
    summary = bands.rows(notes={c: shape_note for c in columns if c not in CENTROIDS})
    ctx.run.write_csv("frequency.csv", rows)
    ctx.run.write_csv("frequency_summary.csv", summary)
    ctx.run.write_csv("weight_csf.csv", weight_rows)
    ctx.run.write_csv("probe_thresholds.csv", probe_rows)
    ctx.run.write_text("frequency_table.md", _markdown(cfg, summary))
    ctx.run.save_tensors(
        "featvis_images.safetensors",
        {k: v.contiguous() for k, v in images.items()},
        metadata={"layout": "<dataset>/noise<std>/seed<seed>: classes x 1 x 28 x 28, image c for class c"},
    )
    ctx.add_figures({"frequency_study": _figure(cfg, bands.bands, settings)})
    ctx.record.update(
        sfs=settings.sfs,
        protocol=cfg.protocol,
        probe_layer=cfg.layer,
        criterion_nats=cfg.criterion,
        featvis_method=cfg.featvis_method,
    )
    if shape_note:
        ctx.record["band_note"] = shape_note
    ends = (cfg.noises[0], cfg.noises[-1])  # the report's table: peaks and centroids at the lowest and highest noise
    ctx.headline(
        **{
            f"{r['measure']}.{r['dataset']}.noise{r['noise']:g}": r["mean"]
            for r in summary
            if r["noise"] in ends and not r["measure"].endswith("_octaves") and math.isfinite(r["mean"])
        }
    )


def _markdown(cfg: FrequencyConfig, summary: list[dict]) -> str:
    """The study's table: one row per dataset and noise, mean [90% interval] of every measure."""
    from bilin.analysis.frequency import band_pass_note
    from bilin.data import DATASETS

    cell = {(r["dataset"], r["noise"], r["measure"]): r for r in summary}
    head = "| dataset | noise σ | " + " | ".join(header for *_, header in MEASURES) + " |"
    lines = [head, "|" + "---|" * (len(MEASURES) + 2)]
    for dataset in cfg.datasets:
        for noise in cfg.noises:
            values = [cell[(dataset, noise, m)] for m, *_ in MEASURES]
            text = [
                f"{v['mean']:.2f} [{v['low']:.2f}, {v['high']:.2f}]" if math.isfinite(v["mean"]) else "n/a"
                for v in values
            ]
            lines.append(f"| {DATASETS[dataset].title} | {noise:g} | " + " | ".join(text) + " |")
    seeds = len(cfg.seeds)
    lines.append("")
    lines.append(
        f"Mean [90% Student-t interval] over {seeds} seed{'s' if seeds > 1 else ''}; bilinear d={cfg.d_hidden}, "
        f"{cfg.epochs} epochs; peaks in cycles/image, bandwidths in octaves at half maximum."
    )
    note = band_pass_note(list(cfg.sfs) or DEFAULT_SFS)
    if note:
        lines.append(f"Peaks and bandwidths (n/a): {note}.")
    return "\n".join(lines) + "\n"


def _figure(cfg: FrequencyConfig, bands: dict, settings):
    from bilin.analysis.feature_spectra import TOP_FEATURES
    from bilin.analysis.stats import Band
    from bilin.data import DATASETS
    from bilin.figures.frequency import measures_vs_noise_figure

    grid: dict[str, dict[str, dict[str, Band]]] = {}
    for column, source, row, _ in MEASURES:
        for dataset in cfg.datasets:
            grid.setdefault(row, {}).setdefault(DATASETS[dataset].title, {})[source] = bands[(dataset, column)]
    seeds = len(cfg.seeds)
    return measures_vs_noise_figure(
        cfg.noises,
        grid,
        "Spatial frequency from the weights, the probe and the features vs training noise",
        f"mean and 90% Student-t band over {seeds} seed{'s' if seeds > 1 else ''}; bilinear d={cfg.d_hidden}, "
        f"{cfg.epochs} epochs; {cfg.protocol} gratings at {len(settings.sfs)} frequencies"
        f"<br>weights: threshold where the logits move by {cfg.criterion:g} nat (RMS over 13 orientations)"
        f"<br>probe: layer {cfg.layer}, Weibull-fitted thresholds; centroids: top {TOP_FEATURES} eigenvectors "
        f"per class, {cfg.featvis_method} featvis images",
    )


COMMAND = Command(
    name="frequency",
    summary="Which spatial frequencies a bilinear MLP uses: from its weights, a linear probe and its features.",
    schema=FrequencyConfig,
    run=run,
    panel="Read the weights",
    examples=(
        "bilin frequency                                   (d=128, 20 epochs, 3 seeds, 5 noises, 2 datasets: minutes)",
        "bilin frequency experiment=d512                   (the README's table: d=512, 20 epochs)",
        "bilin frequency protocol=jittered criterion=0.5   (random grating phase; a stricter threshold)",
    ),
    notes="Models come from the model cache (<cache_root>), trained batched when missing.",
)

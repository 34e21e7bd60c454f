"""`bilin probe-csf`: frozen extractor -> a linear probe per layer -> staircases + fits -> CSF figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bilin.csf.settings import ProbeSettings, StaircaseSettings
from bilin.errors import UserError
from bilin.running.command import Command, CommandResult
from bilin.settings.options import RunOptions, allow_incomplete_key, check_source_run
from bilin.settings.schema import key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class CsfConfig(RunOptions, ProbeSettings, StaircaseSettings):
    run: str | None = key(None, "a bilin run: a grey MLP (1 x 28 x 28) or a colour CNN")
    allow_incomplete: bool = allow_incomplete_key()
    net: str | None = key(None, "a torchvision model, tv:<name>; null means tv:resnet50 (unless run= is given)")
    weights: str = key("imagenet", "imagenet (downloads through torchvision) | none (random init) | <state dict file>")
    layer: str | None = key(
        None,
        "the module whose output the probe reads; null: layer2 (torchvision), the hidden layer (bilin runs: "
        "product for bilinear MLPs, activation for relu MLPs, hidden for the CNN)",
    )
    layers: list[str] = key([], "a sweep: one probe and one CSF per layer, in one figure")
    size: int | None = key(None, "image size in px; null: 224 (torchvision), the model's input size (bilin runs)", ge=1)
    degrees: float | None = key(
        None,
        "the field of view the image spans, in degrees of visual angle (cycles/degree = cycles/image / degrees; "
        "where the human CSFs are drawn); null: DeepCSF's convention, size/112 (224 px = 2°, 28 px = 0.25°)",
        gt=0,
    )
    colours: list[Literal["lum", "rg", "yb"]] = key(
        ["lum"], "grating directions in DeepCSF's DKL space; one CSF each (rg, yb: colour models only)"
    )
    pool: int | None = key(None, "adaptive average pooling of the features to pool x pool (null: none)", ge=1)
    sfs: list[float] = key(
        [], "cycles/image; empty: the divisors of size up to size/2, or every integer when they are fewer than 8", gt=0
    )
    human_reference: bool = key(
        True, "draw the published human CSF of each colour, max-normalised, beside the network's"
    )

    def check(self) -> None:
        super().check()
        if self.run is not None and self.net is not None:
            raise UserError("give run=<bilin run> or net=tv:<torchvision model>, not both")
        if self.batch_size > self.pairs:
            raise UserError(
                f"batch_size={self.batch_size} is larger than pairs={self.pairs}: an epoch has pairs training pairs"
            )
        if self.net is not None and not self.net.startswith("tv:"):
            raise UserError(f"net={self.net!r}: use net=tv:<torchvision model name>")
        if self.size is not None:
            _check_sfs(self.sfs, self.size)
        if self.layer is not None and self.layers:
            raise UserError(
                f"layer={self.layer} and layers=[{','.join(self.layers)}]: give one layer= or a sweep layers=[...]"
            )
        if not self.colours:
            raise UserError("colours=[] measures nothing: give at least one of lum, rg, yb")
        check_source_run(self.run, self.allow_incomplete)


def _check_sfs(sfs: list[float], size: int) -> None:
    bad = [f for f in sfs if f > size / 2]
    if bad:
        raise UserError(f"spatial frequency {bad[0]} is outside (0, size/2 = {size / 2:g}] cycles per image")


def main(cfg: CsfConfig, ctx: RunContext) -> CommandResult:
    from bilin.csf.extractor import check_size, frozen_network
    from bilin.csf.measure import image_degrees, measure_layer
    from bilin.csf.probe import FeatureExtractor
    from bilin.csf.settings import record_of
    from bilin.csf.stimuli import Stimuli, default_frequencies
    from bilin.csf.sweep import CsfSweep
    from bilin.device import require_memory
    from bilin.figures.csf import probe_csf_figures
    from bilin.train.progress import step_progress

    source = frozen_network(cfg.run, cfg.net, cfg.weights, cfg.size, cfg.seed, ctx.device)
    name, size = source.name, source.size
    if source.channels == 1 and set(cfg.colours) - {"lum"}:
        raise UserError(
            f"colours={list(cfg.colours)}: rg and yb gratings need a colour model, and {name} takes grey "
            f"1 x {size} x {size} images (use colours=[lum])"
        )
    # a batch of stimulus pairs (or of test images) through the extractor; its activations are
    # taken as a few times the images' size
    images = max(2 * cfg.batch_size, cfg.eval_batch)
    require_memory(
        8 * images * source.channels * size**2 * 4,
        f"{images} images of {size} x {size} px per step",
        ctx.device,
        "lower size, batch_size or eval_batch",
    )
    stimuli = Stimuli(size, source.channels, cfg.protocol)
    layers = list(cfg.layers) if cfg.layers else [cfg.layer or source.layer]
    sfs = sorted(cfg.sfs) if cfg.sfs else default_frequencies(size)  # the curve's neighbours are in frequency
    _check_sfs(sfs, size)
    standardise = source.standardise if cfg.standardise is None else cfg.standardise
    degrees = image_degrees(size) if cfg.degrees is None else cfg.degrees
    probe = record_of(ProbeSettings, cfg, standardise=standardise)
    batches = max(cfg.pairs // cfg.batch_size, 1) * cfg.epochs
    measured = []
    with step_progress(batches * len(layers), cfg.quiet) as progress:

        def advance() -> None:
            ctx.stop.raise_if_set()  # a signal whose raise was lost inside a library call
            progress.advance()

        for layer in layers:
            progress.phase(f"probe {layer}")
            extractor = FeatureExtractor(source.model, layer, cfg.pool)
            check_size(extractor, stimuli, ctx.device)
            measured += measure_layer(
                extractor, sfs, stimuli, probe, cfg, ctx.device, advance, tuple(cfg.colours), degrees
            )
    sweep = CsfSweep(measured, cfg.human_reference)
    record = {
        "extractor": name,
        "random_weights": source.random_weights,
        "layers": layers,
        "size": size,
        "degrees": degrees,  # the image's field of view: cycles/degree = cycles/image / degrees
        "degrees_from": "degrees=" if cfg.degrees is not None else "DeepCSF's convention, size/112 (224 px = 2°)",
        "human_reference": sweep.human_reference(),
        "channels": source.channels,
        "protocol": cfg.protocol,
        "colours": list(cfg.colours),
        "sfs": sfs,
        "seed": cfg.seed,
        **sweep.curve_record(),
        "procedure": cfg.procedure,
        "standardised_features": standardise,
        **sweep.procedure_record(cfg),
    }
    return CommandResult(
        tensors={"probes.safetensors": sweep.probes(name)},
        figures=probe_csf_figures(sweep, source.label),
        headline=sweep.headline(),
        record=record,
    ).add_tables(sweep)


COMMAND = Command(
    name="probe-csf",
    summary="Contrast sensitivity of a frozen network, measured with a linear probe (staircase + Weibull fit).",
    schema=CsfConfig,
    main=main,
    panel="Any model",
    examples=(
        "bilin probe-csf net=tv:resnet50 weights=imagenet layer=layer2",
        "bilin probe-csf layers=[layer1,layer2,layer3,layer4] weights=none   (one CSF per layer)",
        "bilin probe-csf colours=[lum,rg,yb]   (DeepCSF's luminance, red-green and yellow-blue gratings)",
        "bilin probe-csf run=outputs/train/DATE/TIME   (a bilin grey MLP: 28 px, its hidden layer)",
    ),
    notes="With weights=none the curve's shape means nothing; it is for timing and testing.",
)

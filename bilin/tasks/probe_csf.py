"""`bilin probe-csf`: frozen extractor -> a linear probe per layer -> staircases + fits -> CSF figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal, NamedTuple

from bilin.command import Command
from bilin.config import RunOptions, allow_incomplete_key, check_source_run, seed_key
from bilin.csf.options import EVAL_BATCH, PROBE_EPOCHS, PROBE_PAIRS, QUEST_CI_WIDTH, QUEST_MAX_STEPS, StaircaseKeys
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    import torch

    from bilin.csf.probe import FeatureExtractor
    from bilin.csf.stimuli import Stimuli
    from bilin.lifecycle import RunContext


@dataclass
class CsfConfig(RunOptions, StaircaseKeys):
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
    pairs: int = key(PROBE_PAIRS, "training pairs per epoch", ge=1)
    epochs: int = key(PROBE_EPOCHS, "probe training epochs", ge=1)
    batch_size: int = key(32, "probe training batch", ge=1)
    lr: float = key(0.1, "SGD, momentum 0.9, weight decay 1e-4", gt=0)
    sfs: list[float] = key(
        [], "cycles/image; empty: the divisors of size up to size/2, or every integer when they are fewer than 8", gt=0
    )
    procedure: Literal["bisection", "quest", "both"] = key(
        "bisection",
        "bisection (the tutorial's) | quest (QUEST+, questplus) | both: QUEST+ until as precise as the "
        "bisection's fit, trials of each in procedures.csv",
    )
    quest_ci_width: float = key(
        QUEST_CI_WIDTH, "procedure=quest: stop at this 95% interval width (log10 contrast)", gt=0
    )
    quest_max_steps: int = key(QUEST_MAX_STEPS, "QUEST+ blocks of `trials` trials at most", ge=1)
    eval_batch: int = key(EVAL_BATCH, "images per forward pass when testing", ge=1)
    human_reference: bool = key(
        True, "draw the published human CSF of each colour, max-normalised, beside the network's"
    )
    standardise: bool | None = key(
        None,
        "z-score every feature over 512 training pairs before the probe (folded into it after); null: on for "
        "bilin runs (an MLP's layers have no fixed scale: raw, the probe stays at chance), off for torchvision",
    )
    seed: int = seed_key(0, "fixes the probe's init, the stimuli and the bootstrap")

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


class Extractor(NamedTuple):
    """The frozen network and what its run decides: name, input channels, image size, default layer,
    whether its features are z-scored by default, and the name figure titles give it (saying when
    its weights are random)."""

    model: torch.nn.Module
    name: str
    channels: int
    size: int
    layer: str
    standardise: bool
    label: str
    random_weights: bool = False


def _check_sfs(sfs: list[float], size: int) -> None:
    bad = [f for f in sfs if f > size / 2]
    if bad:
        raise UserError(f"spatial frequency {bad[0]} is outside (0, size/2 = {size / 2:g}] cycles per image")


def run(cfg: CsfConfig, ctx: RunContext) -> None:
    import math

    from bilin.analysis.frequency import band_pass_note
    from bilin.csf.measure import StaircaseSettings, image_degrees, measure_layer
    from bilin.csf.probe import FeatureExtractor, ProbeSettings
    from bilin.csf.stimuli import Stimuli, default_frequencies
    from bilin.csf.sweep import CsfSweep
    from bilin.device import require_memory
    from bilin.figures import csf as figs
    from bilin.figures.training import probe_training_curves
    from bilin.train.progress import step_progress

    source = _extractor_model(cfg, ctx.device)
    model, name, size = source.model, source.name, source.size
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
    settings = ProbeSettings(cfg.pairs, cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed, standardise=standardise)
    staircase = StaircaseSettings(
        cfg.trials, cfg.max_steps, cfg.bootstrap, cfg.eval_batch, cfg.procedure, cfg.quest_ci_width, cfg.quest_max_steps
    )
    batches = max(cfg.pairs // cfg.batch_size, 1) * cfg.epochs
    measured = []
    with step_progress(batches * len(layers), cfg.quiet) as progress:

        def advance() -> None:
            ctx.stop.raise_if_set()  # a signal whose raise was lost inside a library call
            progress.advance()

        for layer in layers:
            progress.phase(f"probe {layer}")
            extractor = FeatureExtractor(model, layer, cfg.pool)
            _check_size(extractor, stimuli, ctx.device)
            measured += measure_layer(
                extractor, sfs, stimuli, settings, staircase, ctx.device, advance, tuple(cfg.colours), degrees
            )
    sweep = CsfSweep(measured, cfg.human_reference)
    ctx.write(sweep)
    ctx.run.save_tensors(
        "probes.safetensors",
        {
            f"{m.layer}.{k}": v.detach().cpu().contiguous()
            for m in measured
            if m.colour == cfg.colours[0]
            for k, v in m.probe.state_dict().items()
        },
        metadata={"layers": ",".join(layers), "extractor": name},
    )
    first, label = measured[0], source.label
    ctx.add_figures(
        {
            "training": probe_training_curves(sweep.tables()["training.csv"], layers, f"Probe training ({label})"),
            "psychometric": figs.psychometric_figure(first, f"Psychometric curves, {first.name} ({label})"),
            "csf": figs.csf_figure(sweep, f"Contrast sensitivity by linear probe ({label})"),
        }
    )
    shape_note = band_pass_note(sfs)  # why peaks and bandwidths are NaN, if they are
    ctx.record.update(
        extractor=name,
        random_weights=source.random_weights,
        layers=layers,
        size=size,
        degrees=degrees,  # the image's field of view: cycles/degree = cycles/image / degrees
        degrees_from="degrees=" if cfg.degrees is not None else "DeepCSF's convention, size/112 (224 px = 2°)",
        human_reference=sweep.human_reference(),
        channels=source.channels,
        protocol=cfg.protocol,
        colours=list(cfg.colours),
        sfs=sfs,
        seed=cfg.seed,
        peaks={
            m.name: {
                "cycles_per_image": m.peak,
                "ci": m.peak_ci,
                "cycles_per_degree": m.peak / m.degrees,
                "bandwidth_octaves": float(m.shape.octaves),
                "bandwidth_ci": m.octaves_ci,
                **({"note": shape_note} if shape_note else {}),
            }
            for m in measured
        },
        final_probe_accuracy={m.layer: m.history.accuracy[-1] for m in measured},
        # per curve, the frequencies whose threshold is only bracketed (thresholds.csv): data that fit a
        # step, and 75% points beyond every tested contrast
        **{
            why: {
                m.name: [
                    {"sf_cycles_per_image": sf, "bracket": [float(m.fit.bracket_low[i]), float(m.fit.bracket_high[i])]}
                    for i, sf in enumerate(m.sfs)
                    if getattr(m.fit, why)[i]
                ]
                for m in measured
            }
            for why in ("step_like", "unreached")
        },
        procedure=cfg.procedure,
        standardised_features=standardise,
    )
    if cfg.procedure != "quest":
        ctx.record["bisections_that_ran_all_steps"] = sum(int((m.stair.steps == cfg.max_steps).sum()) for m in measured)
    if cfg.procedure == "both":  # medians over frequencies: trials each needed for the bisection's precision
        ctx.record["procedures"] = {m.name: m.comparison.summary() for m in measured}
    ctx.headline(**{f"peak_cycles_per_image.{m.name}": m.peak for m in measured if math.isfinite(m.peak)})


TORCHVISION_SIZE, TORCHVISION_LAYER = 224, "layer2"
RUN_LAYERS = ("product", "activation", "hidden")  # a bilin model's hidden layer: bilinear, relu MLP, CNN


def _extractor_model(cfg: CsfConfig, device) -> Extractor:
    """The frozen network, taking images in [0, 1] (torchvision models normalise in a pre-hook).
    Defaults: torchvision nets 224 px, layer2, raw features; bilin runs their own input size, their hidden
    layer (RUN_LAYERS) and z-scored features."""
    from bilin.featvis.sources import from_run, from_torchvision

    if cfg.run is not None:
        subject = from_run(cfg.run, device)
        channels, height, width = subject.input_shape
        if height != width or channels not in (1, 3) or cfg.size not in (None, height):
            raise UserError(
                f"the run's model takes {channels} x {height} x {width} images; probe-csf draws square grey or "
                f"colour stimuli of the model's input size (leave size unset)"
            )
        names = dict(subject.model.named_modules())
        layer = next((n for n in RUN_LAYERS if n in names), "head")
        return Extractor(subject.model, subject.name, channels, height, layer, True, subject.name)
    size, net = cfg.size or TORCHVISION_SIZE, (cfg.net or "tv:resnet50")[3:]
    subject = from_torchvision(net, cfg.weights, size, device, cfg.seed)
    random_weights = cfg.weights == "none"
    label = f"{net}, random weights: untrained" if random_weights else subject.name
    return Extractor(subject.model, subject.name, 3, size, TORCHVISION_LAYER, False, label, random_weights)


def _check_size(extractor: FeatureExtractor, stimuli: Stimuli, device) -> None:
    import torch

    size = stimuli.size
    try:
        features = extractor(torch.full((2, stimuli.channels, size, size), 0.5, device=device))
    except RuntimeError as exc:
        raise UserError(f"size={size} is too small for this extractor ({str(exc).splitlines()[0][:140]})") from exc
    if features.shape[1] == 0:
        raise UserError(f"size={size} is too small: layer {extractor.layer!r} gives no features")


COMMAND = Command(
    name="probe-csf",
    summary="Contrast sensitivity of a frozen network, measured with a linear probe (staircase + Weibull fit).",
    schema=CsfConfig,
    run=run,
    panel="Any model",
    examples=(
        "bilin probe-csf net=tv:resnet50 weights=imagenet layer=layer2",
        "bilin probe-csf layers=[layer1,layer2,layer3,layer4] weights=none   (one CSF per layer)",
        "bilin probe-csf colours=[lum,rg,yb]   (DeepCSF's luminance, red-green and yellow-blue gratings)",
        "bilin probe-csf run=outputs/train/DATE/TIME   (a bilin grey MLP: 28 px, its hidden layer)",
    ),
    notes="With weights=none the curve's shape means nothing; it is for timing and testing.",
)

"""`bilin probe-csf`: frozen extractor -> a linear probe per layer -> staircases + fits -> CSF figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.command import Command
from bilin.config import RunOptions, allow_incomplete_key, check_source_run
from bilin.errors import UserError
from bilin.schema import key

if TYPE_CHECKING:
    import torch

    from bilin.csf.probe import FeatureExtractor
    from bilin.lifecycle import RunContext


@dataclass
class CsfConfig(RunOptions):
    run: str | None = key(None, "a bilin run whose model takes 3 x size x size images")
    allow_incomplete: bool = allow_incomplete_key()
    net: str | None = key(None, "a torchvision model, tv:<name>; null means tv:resnet50 (unless run= is given)")
    weights: str = key("imagenet", "imagenet (downloads through torchvision) | none (random init) | <state dict file>")
    layer: str = key("layer2", "the named module whose output the probe reads")
    layers: list[str] = key([], "a sweep: one probe and one CSF per layer, in one figure")
    size: int = key(224, "image size in pixels", ge=1)
    pool: int | None = key(None, "adaptive average pooling of the features to pool x pool (null: none)", ge=1)
    pairs: int = key(1000, "training pairs per epoch", ge=1)
    epochs: int = key(10, "probe training epochs", ge=1)
    batch_size: int = key(32, "probe training batch", ge=1)
    lr: float = key(0.1, "SGD, momentum 0.9, weight decay 1e-4", gt=0)
    sfs: list[float] = key([], "cycles/image; empty: the divisors of size up to size/2", gt=0)
    trials: int = key(26, "trials per tested contrast (13 orientations, jittered phase)", ge=1)
    max_steps: int = key(20, "bisection steps at most", ge=1)
    bootstrap: int = key(200, "bootstrap replicates for the threshold CIs", ge=1)
    eval_batch: int = key(256, "images per forward pass when testing", ge=1)
    human_reference: bool = key(True, "draw a schematic human CSF (max-normalised) beside the network's")
    seed: int = key(0, "fixes the probe's init, the stimuli and the bootstrap")

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
        bad = [f for f in self.sfs if f > self.size / 2]
        if bad:
            raise UserError(f"spatial frequency {bad[0]} is outside (0, size/2 = {self.size / 2:g}] cycles per image")
        check_source_run(self.run, self.allow_incomplete)


def run(cfg: CsfConfig, ctx: RunContext) -> None:
    from bilin.csf.measure import CsfSweep, measure_layer
    from bilin.csf.probe import FeatureExtractor, ProbeSettings
    from bilin.csf.stimuli import default_frequencies
    from bilin.device import require_memory
    from bilin.figures import csf as figs
    from bilin.train.progress import step_progress

    # a batch of stimulus pairs (or of test images) through the extractor; its activations are
    # taken as a few times the images' size
    images = max(2 * cfg.batch_size, cfg.eval_batch)
    require_memory(
        8 * images * 3 * cfg.size**2 * 4,
        f"{images} images of {cfg.size} x {cfg.size} px per step",
        ctx.device,
        "lower size, batch_size or eval_batch",
    )
    model, name = _extractor_model(cfg, ctx.device)
    layers = list(cfg.layers) if cfg.layers else [cfg.layer]
    sfs = list(cfg.sfs) if cfg.sfs else default_frequencies(cfg.size)
    settings = ProbeSettings(cfg.pairs, cfg.epochs, cfg.batch_size, cfg.lr, seed=cfg.seed)
    batches = max(cfg.pairs // cfg.batch_size, 1) * cfg.epochs
    measured = {}
    with step_progress(batches * len(layers), cfg.quiet) as progress:

        def advance() -> None:
            ctx.stop.raise_if_set()  # a signal whose raise was lost inside a library call
            progress.advance()

        for layer in layers:
            progress.phase(f"probe {layer}")
            extractor = FeatureExtractor(model, layer, cfg.pool)
            _check_size(extractor, cfg.size, ctx.device)
            measured[layer] = measure_layer(
                extractor,
                sfs,
                cfg.size,
                settings,
                cfg.trials,
                cfg.max_steps,
                cfg.bootstrap,
                cfg.eval_batch,
                ctx.device,
                advance,
            )
    sweep = CsfSweep(measured, cfg.human_reference)
    ctx.write(sweep)
    ctx.run.save_tensors(
        "probes.safetensors",
        {
            f"{layer}.{k}": v.detach().cpu().contiguous()
            for layer, m in measured.items()
            for k, v in m.probe.state_dict().items()
        },
        metadata={"layers": ",".join(layers), "extractor": name},
    )
    first = measured[layers[0]]
    ctx.add_figures(
        {
            "training": figs.training_figure(sweep.tables()["training.csv"], layers, f"Probe training ({name})"),
            "psychometric": figs.psychometric_figure(first, f"Psychometric curves, {layers[0]} ({name})"),
            "csf": figs.csf_figure(sweep, f"Contrast sensitivity by linear probe ({name})"),
        }
    )
    ctx.record.update(
        extractor=name,
        layers=layers,
        sfs=sfs,
        seed=cfg.seed,
        peaks={
            layer: {"cycles_per_image": m.peak, "ci": m.peak_ci, "cycles_per_degree": m.peak / m.degrees}
            for layer, m in measured.items()
        },
        final_probe_accuracy={layer: m.history.accuracy[-1] for layer, m in measured.items()},
        bisections_that_ran_all_steps=sum(int((m.stair.steps == cfg.max_steps).sum()) for m in measured.values()),
    )
    ctx.headline(**{f"peak_cycles_per_image.{layer}": m.peak for layer, m in measured.items()})


def _extractor_model(cfg: CsfConfig, device) -> tuple[torch.nn.Module, str]:
    """The frozen network, taking images in [0, 1] (torchvision models normalise in a pre-hook)."""
    from bilin.featvis.sources import from_run, from_torchvision

    if cfg.run is not None:
        subject = from_run(cfg.run, device)
        if subject.input_shape[0] != 3 or tuple(subject.input_shape[1:]) != (cfg.size, cfg.size):
            raise UserError(
                f"the run's model takes {subject.input_shape} images; probe-csf draws 3 x size x size "
                f"colour stimuli (size={cfg.size}): use a colour model and size={subject.input_shape[-1]}"
            )
        return subject.model, subject.name
    subject = from_torchvision((cfg.net or "tv:resnet50")[3:], cfg.weights, cfg.size, device, cfg.seed)
    return subject.model, subject.name


def _check_size(extractor: FeatureExtractor, size: int, device) -> None:
    import torch

    try:
        features = extractor(torch.full((2, 3, size, size), 0.5, device=device))
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
    ),
    notes="With weights=none the curve's shape means nothing; it is for timing and testing.",
)

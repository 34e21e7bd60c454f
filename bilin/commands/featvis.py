"""`bilin featvis`: model (bilin run or torchvision) -> render, and the ladder of tricks -> figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.featvis.ladder import LADDER
from bilin.featvis.settings import Settings, Tricks
from bilin.running.command import Command, CommandResult
from bilin.settings.options import RunOptions, allow_incomplete_key, check_source_run
from bilin.settings.schema import key

if TYPE_CHECKING:
    from bilin.running.lifecycle import RunContext


@dataclass
class ModelKeys(RunOptions):
    """The model looked into and its targets (first in --help, before the render's keys)."""

    run: str | None = key(None, "a bilin train run (or model cache) folder")
    allow_incomplete: bool = allow_incomplete_key()
    net: str | None = key(None, "or a torchvision model: tv:resnet18, tv:resnet50, tv:vgg16, ...")
    weights: str = key("imagenet", "torchvision models: imagenet (downloads) | none (random init) | <state dict file>")
    size: int = key(224, "torchvision models: input height = width", ge=8)
    target: list[str] = key(["class:all"], "class:<i> | class:all | unit:<layer>:<i> | channel:<layer>:<i>, any number")


@dataclass
class FeatvisConfig(Tricks, Settings, ModelKeys):
    """The render's keys (steps, lr, ..., robustness, param, ...) are featvis's own Settings and Tricks."""

    spectrum_data: str = key(
        "auto",
        "param=maco's magnitude from: auto (the model's training images; 1/f for torchvision) | natural "
        "(1/f) | <dataset> | <file n x c x h x w>",
    )
    colour_data: str = key(
        "auto", "colour basis from: auto (the model's own) | imagenet | <dataset> | <file n x c x h x w>"
    )
    ladder: bool = key(False, f"also render {', '.join(LADDER)} side by side")
    data_root: str | None = key(None, "where colour_data=<dataset> is read from (null: as data.root finds it)")

    def check(self) -> None:
        super().check()
        if (self.run is None) == (self.net is None):
            raise UserError("give exactly one of run=<train run or cache folder> and net=tv:<torchvision model>")
        if self.net is not None and not self.net.startswith("tv:"):
            raise UserError(
                f"net={self.net!r}: featvis takes torchvision models as net=tv:<name>, bilin models as run=<dir>"
            )
        check_source_run(self.run, self.allow_incomplete)


def main(cfg: FeatvisConfig, ctx: RunContext) -> CommandResult:
    from dataclasses import asdict

    from bilin.featvis.ladder import ladder
    from bilin.featvis.objectives import parse_targets
    from bilin.featvis.outcome import MAIN, eigen_comparison, featvis_outcome
    from bilin.featvis.preflight import check_finite, check_input_shape, require_image_memory, target_label
    from bilin.featvis.render import render_plan
    from bilin.featvis.settings import narrowed
    from bilin.featvis.sources import colour_basis_from, from_run, from_torchvision, maco_spectrum
    from bilin.figures.featvis import featvis_figures
    from bilin.train.progress import step_progress

    if cfg.net is not None:  # before the model is built: a torchvision model takes any size
        require_image_memory(cfg.images_per_target, (3, cfg.size, cfg.size), ctx.device)
    subject = (
        from_run(cfg.run, ctx.device)
        if cfg.run is not None
        else from_torchvision(cfg.net[3:], cfg.weights, cfg.size, ctx.device, cfg.seed)
    )
    targets = parse_targets(list(cfg.target), len(subject.classes))
    labels = [target_label(t, subject.classes) for t in targets]
    require_image_memory(len(targets) * cfg.images_per_target, subject.input_shape, ctx.device)
    check_input_shape(subject, ctx.device)
    colour = colour_basis_from(cfg.colour_data, subject, cfg.data_root) if cfg.decorrelate else None
    plan: list[tuple[str, Settings, Tricks]] = [(MAIN, cfg, cfg)] + (ladder(cfg, cfg) if cfg.ladder else [])
    spectrum, spectrum_source = None, None
    if any(t.param == "maco" for _, _, t in plan):
        spectrum, spectrum_source = maco_spectrum(cfg.spectrum_data, subject, colour, cfg.data_root)
    with step_progress(sum(s.steps for _, s, _ in plan), cfg.quiet) as progress:

        def advance(_step: int) -> None:
            ctx.stop.raise_if_set()  # a signal whose raise was lost inside a library call
            progress.advance()

        def phase(name: str) -> None:
            progress.phase(f"featvis {name}")

        renders = render_plan(plan, subject, targets, colour, ctx.device, spectrum, phase, advance)
    check_finite(renders, cfg.lr)
    outcome = featvis_outcome(plan, renders, subject, targets, labels, spectrum, colour)
    eigen = eigen_comparison(subject, outcome.main, targets, cfg.data_root)
    subtitle = f"{subject.name}: {cfg.steps} steps, seed {cfg.seed}"
    return CommandResult(
        tensors={"inputs.safetensors": outcome.inputs()}
        | ({} if eigen is None else {"eigenvectors.safetensors": eigen.tensor_file()}),
        figures=featvis_figures(outcome, eigen, subtitle),
        headline={"final_activation_mean": outcome.record()["final_activation_mean"]},
        record={
            "model": subject.name,
            "targets": labels,
            "seed": cfg.seed,
            "steps": cfg.steps,
            "tricks": asdict(narrowed(Tricks, cfg)),
            "colour_basis": None if colour is None else colour.factor.tolist(),
            "value_range": list(subject.value_range),
            "maco_spectrum": spectrum_source,
            **outcome.record(),
        },
    ).add_tables(outcome)


COMMAND = Command(
    name="featvis",
    summary="Feature visualisation: optimise inputs to maximise class logits or hidden units of any model.",
    schema=FeatvisConfig,
    main=main,
    panel="Any model",
    examples=(
        "bilin featvis run=outputs/train/DATE/TIME ladder=true images_per_target=4",
        "bilin featvis net=tv:resnet18 weights=none target=[channel:layer3:5,class:8]",
        "bilin featvis run=... mode=sphere robustness=false param=pixel   (the eigenvector oracle)",
    ),
    notes="Takes Hydra overrides and -m for sweeps (e.g. -m seed=0,1,2 or lr=0.01,0.05).",
    removed_keys=(("fourier", "use param=fourier (was fourier=true) or param=pixel (was fourier=false)"),),
)

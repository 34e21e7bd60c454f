"""`bilin featvis`: model (bilin run or torchvision) -> render, and the ladder of tricks -> figures."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bilin.command import Command
from bilin.config import RunOptions, allow_incomplete_key, check_source_run, seed_key
from bilin.errors import UserError
from bilin.featvis.ladder import LADDER
from bilin.schema import key

if TYPE_CHECKING:
    from bilin.featvis.objectives import Target
    from bilin.featvis.render import RenderResult
    from bilin.featvis.sources import Subject
    from bilin.lifecycle import RunContext


@dataclass
class FeatvisConfig(RunOptions):
    run: str | None = key(None, "a bilin train run (or model cache) folder")
    allow_incomplete: bool = allow_incomplete_key()
    net: str | None = key(None, "or a torchvision model: tv:resnet18, tv:resnet50, tv:vgg16, ...")
    weights: str = key("imagenet", "torchvision models: imagenet (downloads) | none (random init) | <state dict file>")
    size: int = key(224, "torchvision models: input height = width", ge=8)
    target: list[str] = key(["class:all"], "class:<i> | class:all | unit:<layer>:<i> | channel:<layer>:<i>, any number")
    steps: int = key(512, "optimisation steps", ge=1)
    lr: float = key(0.05, "learning rate", gt=0)
    optimizer: Literal["adam", "sgd"] = key("adam", "sgd has momentum 0.9")
    init: Literal["noise", "grey"] = key("noise", "noise: N(0, 0.1); grey: 0.5 +- 0.005")
    images_per_target: int = key(1, "images optimised per target", ge=1)
    seed: int = seed_key(0, "fixes the start images and the random transforms")
    mode: Literal["free", "sphere"] = key(
        "free", "sphere: x = radius * p / ||p||, pixels only (the eigenvector oracle)"
    )
    radius: float = key(10.0, "mode=sphere: the norm of the image", gt=0)
    robustness: bool = key(True, "pad 3, jitter +-3 px, rotate +-5 deg, scale 0.95-1.05 inside the forward")
    param: Literal["pixel", "fourier", "maco"] = key(
        "fourier", "what is optimised: pixel | fourier (the 1/f-scaled spectrum) | maco (the phase; magnitude fixed)"
    )
    spectrum_data: str = key(
        "auto",
        "param=maco's magnitude from: auto (the model's training images; 1/f for torchvision) | natural "
        "(1/f) | <dataset> | <file n x c x h x w>",
    )
    decorrelate: bool = key(True, "colour images: optimise in the data's decorrelated colour basis")
    diversity: float = key(
        0.0, "weight of the diversity term, relative to the mean activation (images_per_target > 1)", ge=0
    )
    diversity_layer: str | None = key(None, "layer whose Gram matrices it compares (default: last spatial layer)")
    l2: float = key(0.0, "weight of the squared distance of the image from grey", ge=0)
    blur_every: int = key(0, "blur the parameters every N steps (0: never)", ge=0)
    blur_sigma: float = key(0.5, "blur width in pixels", gt=0)
    redirect_relu_steps: int = key(16, "redirected relu gradients for the first N steps (rescues dead targets)", ge=0)
    squash: Literal["auto", "sigmoid", "clip", "none"] = key(
        "auto", "keep images in the data's range: auto (sigmoid; clip for maco) | sigmoid | clip | none (free)"
    )
    colour_data: str = key(
        "auto", "colour basis from: auto (the model's own) | imagenet | <dataset> | <file n x c x h x w>"
    )
    ladder: bool = key(False, f"also render {', '.join(LADDER)} side by side")
    frames_every: int = key(0, "keep the images every N steps for an animation (0: off)", ge=0)
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


def run(cfg: FeatvisConfig, ctx: RunContext) -> None:
    from dataclasses import asdict

    from bilin.featvis.ladder import ladder
    from bilin.featvis.measures import top_eigenvalues
    from bilin.featvis.objectives import parse_targets
    from bilin.featvis.render import Settings, Tricks, render
    from bilin.featvis.sources import colour_basis_from, from_run, from_torchvision, maco_spectrum
    from bilin.featvis.spectrum import seen_image_measures
    from bilin.train.progress import step_progress

    if cfg.net is not None:  # before the model is built: a torchvision model takes any size
        _require_image_memory(cfg, 1, (3, cfg.size, cfg.size), ctx.device)
    subject = (
        from_run(cfg.run, ctx.device)
        if cfg.run is not None
        else from_torchvision(cfg.net[3:], cfg.weights, cfg.size, ctx.device, cfg.seed)
    )
    targets = parse_targets(list(cfg.target), len(subject.classes))
    labels = [_label(t, subject) for t in targets]
    _require_image_memory(cfg, len(targets), subject.input_shape, ctx.device)
    _check_input_shape(subject, ctx.device)
    colour = colour_basis_from(cfg.colour_data, subject, cfg.data_root) if cfg.decorrelate else None
    settings = Settings(
        steps=cfg.steps,
        lr=cfg.lr,
        optimizer=cfg.optimizer,
        init=cfg.init,
        images_per_target=cfg.images_per_target,
        seed=cfg.seed,
        mode=cfg.mode,
        radius=cfg.radius,
        diversity_layer=cfg.diversity_layer,
        frames_every=cfg.frames_every,
    )
    tricks = Tricks(
        robustness=cfg.robustness,
        param=cfg.param,
        decorrelate=cfg.decorrelate,
        diversity=cfg.diversity,
        l2=cfg.l2,
        blur_every=cfg.blur_every,
        blur_sigma=cfg.blur_sigma,
        redirect_relu_steps=cfg.redirect_relu_steps,
        squash=cfg.squash,
    )
    plan = [("result", settings, tricks)] + (ladder(settings, tricks) if cfg.ladder else [])
    spectrum, spectrum_source = None, None
    if any(t.param == "maco" for _, _, t in plan):
        spectrum, spectrum_source = maco_spectrum(cfg.spectrum_data, subject, colour, cfg.data_root)
    results: dict[str, RenderResult] = {}
    with step_progress(sum(s.steps for _, s, _ in plan), cfg.quiet) as progress:

        def advance(_step: int) -> None:
            ctx.stop.raise_if_set()  # a signal whose raise was lost inside a library call
            progress.advance()

        for name, step_settings, step_tricks in plan:
            progress.phase(f"featvis {name}")
            results[name] = render(
                subject.model,
                subject.input_shape,
                targets,
                step_settings,
                step_tricks,
                colour,
                ctx.device,
                on_step=advance,
                value_range=subject.value_range,
                spectrum=spectrum,
            )
    diverged = next(
        (n for n, r in results.items() if not (r.images.isfinite().all() and r.activations.isfinite().all())), None
    )
    if diverged is not None:  # never a complete run of NaN images
        raise UserError(
            f"featvis {diverged}: the images diverged to NaN or infinity; lower lr={cfg.lr:g} or keep squash"
        )
    main = results["result"]
    seen = {  # MACO's magnitude holds for its hidden image; what the model sees is squashed into the range
        name: seen_image_measures(results[name].images, spectrum, colour, subject.value_range)
        for name, _, step_tricks in plan
        if step_tricks.param == "maco"
    }
    _write_outputs(ctx, main, results, labels, top_eigenvalues(subject.model, targets), seen)
    ctx.add_figures(_figures(cfg, ctx, subject, main, results, labels, targets))
    ctx.record.update(
        model=subject.name,
        targets=labels,
        seed=cfg.seed,
        steps=cfg.steps,
        tricks=asdict(tricks),
        diversity_layer=main.diversity_layer,
        colour_basis=None if colour is None else colour.factor.tolist(),
        value_range=list(subject.value_range),
        maco_spectrum=spectrum_source,
        maco_seen={name: {k: float(v.mean()) for k, v in m.items()} for name, m in seen.items()},
        render_seconds={name: round(r.seconds, 3) for name, r in results.items()},
        final_activation_mean=float(main.activations.mean()),
    )
    ctx.headline(final_activation_mean=float(main.activations.mean()))


def _label(target: Target, subject: Subject) -> str:
    if target.kind == "class" and target.index < len(subject.classes):
        name = subject.classes[target.index]
        return f"class {name}" if name == str(target.index) else f"{target.index}: {name}"  # never "0: 0"
    return target.label


def _check_input_shape(subject: Subject, device) -> None:
    import torch

    try:
        with torch.no_grad():
            subject.model(torch.zeros(1, *subject.input_shape, device=device))
    except RuntimeError as exc:
        raise UserError(
            f"{subject.name} cannot take images of shape {subject.input_shape} "
            f"({str(exc).splitlines()[0][:160]}); choose another size="
        ) from exc


def _write_outputs(
    ctx: RunContext, main: RenderResult, results: dict, labels: list[str], top, seen: dict[str, dict]
) -> None:
    from bilin.featvis.tables import activation_rows, curve_rows, ladder_rows

    tensors = {"images": main.images.contiguous(), "activations": main.activations.contiguous()}
    tensors.update({f"ladder/{name}": r.images.contiguous() for name, r in results.items() if name != "result"})
    ctx.run.save_tensors("inputs.safetensors", tensors, metadata={"targets": "|".join(labels)})
    ctx.run.write_csv("curve.csv", curve_rows(main.curve, labels))
    ctx.run.write_csv(
        "activations.csv", activation_rows(main.images, main.activations, labels, top, seen.get("result"))
    )
    if len(results) > 1:
        ctx.run.write_csv("ladder.csv", ladder_rows({name: results[name] for name in LADDER}, labels, top, seen))


def _figures(
    cfg: FeatvisConfig,
    ctx: RunContext,
    subject: Subject,
    main: RenderResult,
    results: dict,
    labels: list[str],
    targets: list[Target],
) -> dict:
    from bilin.figures import featvis as figs

    title = f"<br><sup>{subject.name}: {cfg.steps} steps, seed {cfg.seed}</sup>"
    figures = {
        "featvis": figs.featvis_grid(main.images, labels, f"Feature visualisation{title}"),
        "objective": figs.objective_curves(main.curve, labels, f"Objective per step{title}"),
    }
    if len(results) > 1:
        steps = [(name, results[name].images) for name in LADDER]
        figures["ladder"] = figs.ladder_figure(steps, labels, f"Tricks added one at a time{title}")
    if main.frames:
        figures["animation"] = figs.animation_figure(main.frames, cfg.images_per_target, labels, f"Optimisation{title}")
    eigen = _eigen_comparison(ctx, subject, main, targets, title, cfg.data_root)
    if eigen is not None:
        figures["featvis_vs_eigenvectors"] = eigen
    return figures


def _eigen_comparison(ctx: RunContext, subject: Subject, main: RenderResult, targets: list[Target], title, root):
    """For an ungated bilinear MLP on grey images: featvis beside the top eigenvectors of each class."""
    from bilin.featvis.sources import top_eigenvectors
    from bilin.figures import featvis as figs
    from bilin.models import BilinearMLP

    model = subject.model
    classes = [t.index for t in targets if t.kind == "class"]
    if not isinstance(model, BilinearMLP) or model.gate is not None or not classes or subject.input_shape[0] != 1:
        return None
    top_hidden, top_pixel, signed = top_eigenvectors(subject, classes, root)
    ctx.run.save_tensors(
        "eigenvectors.safetensors",
        {"hidden_top": top_hidden, "input_space_top": top_pixel},
        metadata={
            "classes": ",".join(map(str, classes)),
            "layout": "per class target: the top eigenvector u = E^T v, and that of M_c",
            "sign": "mean u . x > 0 over the class's test images" if signed else "arbitrary (test set not found)",
        },
    )
    images = main.images[[i for i, t in enumerate(targets) if t.kind == "class"], 0].flatten(1)
    return figs.featvis_vs_eigenvectors(
        images,
        top_hidden,
        top_pixel,
        [subject.classes[c] for c in classes],
        tuple(subject.input_shape[1:]),
        f"Featvis and top eigenvectors{title}",
        oriented=signed,
    )


COMMAND = Command(
    name="featvis",
    summary="Feature visualisation: optimise inputs to maximise class logits or hidden units of any model.",
    schema=FeatvisConfig,
    run=run,
    panel="Any model",
    examples=(
        "bilin featvis run=outputs/train/DATE/TIME ladder=true images_per_target=4",
        "bilin featvis net=tv:resnet18 weights=none target=[channel:layer3:5,class:8]",
        "bilin featvis run=... mode=sphere robustness=false param=pixel   (the eigenvector oracle)",
    ),
    notes="Takes Hydra overrides and -m for sweeps (e.g. -m seed=0,1,2 or lr=0.01,0.05).",
    removed_keys=(("fourier", "use param=fourier (was fourier=true) or param=pixel (was fourier=false)"),),
)


def _require_image_memory(cfg: FeatvisConfig, n_targets: int, shape: tuple[int, ...], device) -> None:
    """The batch of images being optimised through the model; activations and the optimiser's state
    are taken as a few times the images' size."""
    from math import prod

    from bilin.device import require_memory

    images = n_targets * cfg.images_per_target
    require_memory(
        16 * images * prod(shape) * 4,
        f"optimising {images} image{'s' if images > 1 else ''} of {' x '.join(map(str, shape))}",
        device,
        "lower size, images_per_target or the number of targets",
    )

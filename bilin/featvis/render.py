"""The optimisation loop: every target x image in one batch, tricks switched by `Tricks`.

    image = param.image()                       (pixels | Fourier spectrum | MACO phase | sphere; colour
                                                 basis; mapped into the data's range [lo, hi])
    x = robustness(image)                       (random affine per image, differentiable)
    loss = -sum(target activations) + l2 + diversity
    optimiser step on the parameters; every `blur_every` steps blur them a little

The model's own weights are frozen for the run (no gradients are computed for them).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import nn

from bilin.featvis.colour import ColourBasis
from bilin.featvis.objectives import (
    Activations,
    Target,
    check_target_ranges,
    default_diversity_layer,
    diversity_penalty,
    redirected_relus,
    target_activations,
)
from bilin.featvis.param import FourierParam, MacoParam, PixelParam, SphereParam
from bilin.featvis.settings import PARAMS, SQUASH, Settings, Tricks
from bilin.featvis.spectrum import natural_magnitude
from bilin.featvis.transform import Robustness

if TYPE_CHECKING:
    from bilin.featvis.sources import Subject


@dataclass
class RenderResult:
    images: torch.Tensor  # (targets, per_target, c, h, w), the model's input space, on the CPU
    activations: torch.Tensor  # (targets, per_target) final, without transforms
    curve: torch.Tensor  # (steps, targets, per_target) the objective at each step (with transforms)
    seconds: float
    frames: list[tuple[int, torch.Tensor]] = field(default_factory=list)
    diversity_layer: str | None = None


def render(
    model: nn.Module,
    input_shape: tuple[int, ...],
    targets: list[Target],
    settings: Settings,
    tricks: Tricks | None = None,
    colour: ColourBasis | None = None,
    device: torch.device | str = "cpu",
    on_step: Callable[[int], None] | None = None,
    value_range: tuple[float, float] = (0.0, 1.0),
    spectrum: torch.Tensor | None = None,
) -> RenderResult:
    """Optimise len(targets) * images_per_target images of `input_shape` (c, h, w) in one batch.

    value_range: the range of the data the model was trained on, before any normalisation of its
    own ([0, 1] for bilin's models and torchvision's); images stay in it unless squash="none".
    spectrum: param="maco"'s magnitude, (c, h, w // 2 + 1) as bilin.featvis.spectrum makes it
    (in the colour basis when decorrelating); None: a 1/f spectrum of mid-range mean and a quarter
    of the range as std (natural_magnitude). `bilin featvis` passes its config as both settings and tricks;
    tricks None: the command's defaults.
    """
    tricks = Tricks() if tricks is None else tricks
    _check_choices(tricks)
    device = torch.device(device)
    started = time.perf_counter()
    per_target, n = settings.images_per_target, len(targets) * settings.images_per_target
    shape = (n, *input_shape)
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    param = _parameterisation(shape, settings, tricks, colour, generator, device, value_range, spectrum)
    free = settings.mode == "free"  # sphere mode is the plain oracle: no transforms, no blur
    robust = Robustness() if tricks.robustness and free else None
    blur_every = tricks.blur_every if free else 0
    layers = {t.layer for t in targets if t.layer is not None}
    wanted = settings.diversity_layer
    frozen = [p for p in model.parameters() if p.requires_grad]
    for p in frozen:
        p.requires_grad_(False)
    model.eval()
    # the top-level children are hooked too: the default diversity layer is chosen among them
    hooks = Activations(model, layers | {name for name, _ in model.named_children()} | ({wanted} if wanted else set()))
    try:
        with torch.no_grad():
            logits = model(param.image())
        check_target_ranges(targets, logits, hooks.outputs)
        diversity_layer = None
        if tricks.diversity > 0 and per_target > 1:
            diversity_layer = wanted or default_diversity_layer(model, hooks.outputs)
        optimiser = _optimiser(settings, param.parameters())
        curve, frames = [], []
        for step in range(settings.steps):
            image = param.image()
            x = robust(image, generator) if robust is not None else image
            with redirected_relus(model, step < tricks.redirect_relu_steps):
                logits = model(x)
            activation = target_activations(targets, logits, hooks.outputs, per_target)
            loss = -activation.sum()
            if tricks.l2 > 0:
                loss = loss + tricks.l2 * (image - sum(value_range) / 2).square().flatten(1).mean(1).sum()
            if diversity_layer is not None:
                # each target's penalty is weighed against its own mean activation: one weight suits
                # any model and any mix of targets
                scale = activation.detach().abs().view(-1, per_target).mean(1)
                penalty = diversity_penalty(hooks.outputs[diversity_layer], per_target)
                loss = loss + tricks.diversity * per_target * (scale * penalty).sum()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            if blur_every and (step + 1) % blur_every == 0:
                param.blur_(tricks.blur_sigma)
            curve.append(activation.detach())
            if settings.frames_every and step % settings.frames_every == 0:
                frames.append((step, param.image().detach().cpu()))
            if on_step is not None:
                on_step(step)
        with torch.no_grad():
            image = param.image()
            final = target_activations(targets, model(image), hooks.outputs, per_target)
    finally:
        hooks.close()
        for p in frozen:
            p.requires_grad_(True)
    if settings.frames_every:
        frames.append((settings.steps, image.detach().cpu()))
    return RenderResult(
        images=image.detach().cpu().view(len(targets), per_target, *input_shape),
        activations=final.cpu().view(len(targets), per_target),
        curve=torch.stack(curve).cpu().view(settings.steps, len(targets), per_target),
        seconds=time.perf_counter() - started,
        frames=frames,
        diversity_layer=diversity_layer,
    )


def render_plan(
    plan: Sequence[tuple[str, Settings, Tricks]],
    subject: Subject,
    targets: list[Target],
    colour: ColourBasis | None,
    device: torch.device,
    spectrum: torch.Tensor | None,
    on_phase: Callable[[str], None],
    on_step: Callable[[int], None],
) -> dict[str, RenderResult]:
    """Each (name, settings, tricks) of `plan` rendered on the subject's model, in order, by name."""
    renders = {}
    for name, settings, tricks in plan:
        on_phase(name)
        renders[name] = render(
            subject.model,
            subject.input_shape,
            targets,
            settings,
            tricks,
            colour,
            device,
            on_step=on_step,
            value_range=subject.value_range,
            spectrum=spectrum,
        )
    return renders


def _check_choices(tricks: Tricks) -> None:
    """A record built by hand (a command's schema checks its own keys first)."""
    if tricks.param not in PARAMS:
        raise ValueError(f"param={tricks.param!r} is not one of {', '.join(PARAMS)}")
    if tricks.squash not in SQUASH:
        raise ValueError(f"squash={tricks.squash!r} is not one of {', '.join(SQUASH)}")


def _parameterisation(
    shape,
    settings: Settings,
    tricks: Tricks,
    colour: ColourBasis | None,
    generator: torch.Generator,
    device: torch.device,
    value_range: tuple[float, float],
    spectrum: torch.Tensor | None,
) -> nn.Module:
    if settings.mode == "sphere":
        return SphereParam(shape, settings.radius, generator, device)
    use_colour = colour.to(device) if tricks.decorrelate and colour is not None else None
    # every model's images stay in its data's range (a sigmoid; MACO clips, which keeps its spectrum
    # wherever no pixel saturates); squash="none" leaves them free
    squash = tricks.range_mapping
    if tricks.param == "maco":
        if spectrum is None:
            lo, hi = value_range
            channels, size = shape[1], tuple(shape[2:])
            spectrum = natural_magnitude(
                channels, size, ((lo + hi) / 2,) * channels, ((hi - lo) / 4,) * channels, use_colour
            )
        return MacoParam(shape, spectrum, generator, use_colour, squash, device, value_range)
    kind = FourierParam if tricks.param == "fourier" else PixelParam
    return kind(shape, settings.init, generator, use_colour, squash, device, value_range)


def _optimiser(settings: Settings, params) -> torch.optim.Optimizer:
    if settings.optimizer == "adam":
        return torch.optim.Adam(params, lr=settings.lr)
    return torch.optim.SGD(params, lr=settings.lr, momentum=0.9)

"""Checks before and after featvis optimises: room for the images, a model that takes their shape, a
target that names a class, and images that did not diverge."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import prod
from typing import TYPE_CHECKING

import torch

from bilin.errors import UserError

if TYPE_CHECKING:
    from bilin.featvis.objectives import Target
    from bilin.featvis.render import RenderResult
    from bilin.featvis.sources import Subject


def require_image_memory(images: int, shape: tuple[int, ...], device: torch.device) -> None:
    """The batch of images being optimised through the model; activations and the optimiser's state
    are taken as a few times the images' size."""
    from bilin.device import require_memory

    require_memory(
        16 * images * prod(shape) * 4,
        f"optimising {images} image{'s' if images > 1 else ''} of {' x '.join(map(str, shape))}",
        device,
        "lower size, images_per_target or the number of targets",
    )


def check_input_shape(subject: Subject, device: torch.device) -> None:
    """One forward pass of a zero image: a model that cannot take `subject.input_shape` says so here."""
    try:
        with torch.no_grad():
            subject.model(torch.zeros(1, *subject.input_shape, device=device))
    except RuntimeError as exc:
        raise UserError(
            f"{subject.name} cannot take images of shape {subject.input_shape} "
            f"({str(exc).splitlines()[0][:160]}); choose another size="
        ) from exc


def target_label(target: Target, classes: Sequence[str]) -> str:
    """A class target by its class name where the model has one ("3: cat"), else the target's own label."""
    if target.kind == "class" and target.index < len(classes):
        name = classes[target.index]
        return f"class {name}" if name == str(target.index) else f"{target.index}: {name}"  # never "0: 0"
    return target.label


def check_finite(renders: Mapping[str, RenderResult], lr: float) -> None:
    """Never a complete run of NaN images: the first render whose images or activations diverged is named."""
    diverged = next(
        (n for n, r in renders.items() if not (r.images.isfinite().all() and r.activations.isfinite().all())), None
    )
    if diverged is not None:
        raise UserError(f"featvis {diverged}: the images diverged to NaN or infinity; lower lr={lr:g} or keep squash")

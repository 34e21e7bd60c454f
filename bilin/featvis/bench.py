"""The methods `featvis-bench` compares, and the proxy a user without a ground truth can measure.

A method is a named change to the Settings and its Tricks, every switch named. Each runs every class
target of a model in one batch, keeping the image at every step so the scores can be followed along
the optimisation. `sphere` (x = r p / ||p||, no tricks) is the direction reference: on a bilinear MLP
it recovers the sphere optimum, M_c's top eigenvector; its images are not in the data range, so it
has no share of the box optimum (bilin.analysis.box_optimum). `proxy_confidence`: the model's own
softmax confidence in the target class under random robustness transforms.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch
from torch import nn

from bilin.featvis.objectives import Target
from bilin.featvis.render import render
from bilin.featvis.settings import Param, Settings, Tricks
from bilin.featvis.transform import Robustness

DIVERSITY_IMAGES = 4  # diversity's batch per class; the bench scores its first image


def _tricks(robustness: bool, param: Param, **more: float) -> Tricks:
    """A method's tricks with every switch named, so the bench does not move with the command's defaults (which
    also turn on decorrelation and redirected relus: no method uses them; the bench's images are grey)."""
    off = dict(decorrelate=False, diversity=0.0, l2=0.0, blur_every=0, redirect_relu_steps=0, squash="auto")
    return Tricks(robustness=robustness, param=param, **(off | more))


METHODS: dict[str, tuple[dict, Tricks]] = {
    "pixel": ({}, _tricks(False, "pixel")),
    "+robustness": ({}, _tricks(True, "pixel")),
    "+fourier": ({}, _tricks(True, "fourier")),
    "+blur/l2": ({}, _tricks(True, "fourier", blur_every=4, blur_sigma=0.5, l2=1.0)),
    "maco": ({}, _tricks(True, "maco")),
    "diversity": ({"images_per_target": DIVERSITY_IMAGES}, _tricks(True, "fourier", diversity=1.0)),
    "sphere": ({"mode": "sphere"}, _tricks(False, "pixel")),
}
REFERENCE = "sphere"
BASELINE = "pixel"  # every method is compared with it on the same (model, class) pairs


@dataclass
class MethodRun:
    """One method on one model: the final image per class (classes, c, h, w) and the image at every
    step (steps, classes, c, h, w), both as optimised (the first image of each class)."""

    images: torch.Tensor
    path: torch.Tensor
    seconds: float


def run_method(
    model: nn.Module,
    input_shape: tuple[int, ...],
    classes: int,
    method: str,
    steps: int,
    seed: int,
    device: torch.device,
    spectrum: torch.Tensor | None = None,
) -> MethodRun:
    """spectrum: MACO's magnitude (c, h, w // 2 + 1), from the model's training images."""
    changes, tricks = METHODS[method]
    settings = replace(Settings(steps=steps, seed=seed, frames_every=1), **changes)
    targets = [Target("class", c) for c in range(classes)]
    result = render(model, input_shape, targets, settings, tricks, None, device, spectrum=spectrum)
    # a frame after every step, then the final image again: the first `steps` are the path
    path = torch.stack([images for _, images in result.frames[:steps]])  # (steps, classes * per_target, c, h, w)
    per_target = settings.images_per_target
    path = path.view(steps, classes, per_target, *input_shape)[:, :, 0]
    return MethodRun(result.images[:, 0], path, result.seconds)


@torch.no_grad()
def proxy_confidence(model: nn.Module, images: torch.Tensor, transforms: int = 32, seed: int = 0) -> torch.Tensor:
    """images (classes, c, h, w), image c made for class c -> (classes,) the mean softmax probability
    of class c over `transforms` random robustness transforms of image c."""
    generator = torch.Generator(device=images.device).manual_seed(seed)
    robust, classes = Robustness(), images.shape[0]
    total = torch.zeros(classes, device=images.device)
    for _ in range(transforms):
        probabilities = model(robust(images, generator)).softmax(-1)
        total += probabilities[torch.arange(classes), torch.arange(classes)]
    return total / transforms

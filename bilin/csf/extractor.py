"""The frozen network `probe-csf` probes: a bilin run (a grey MLP or a colour CNN) or a torchvision
model, with the defaults each brings (image size, layer, whether its features are z-scored)."""

from __future__ import annotations

from typing import NamedTuple

import torch

from bilin.csf.probe import FeatureExtractor
from bilin.csf.stimuli import Stimuli
from bilin.errors import UserError

TORCHVISION_SIZE, TORCHVISION_LAYER = 224, "layer2"
TORCHVISION_DEFAULT = "tv:resnet50"
RUN_LAYERS = ("product", "activation", "hidden")  # a bilin model's hidden layer: bilinear, relu MLP, CNN


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


def frozen_network(
    run: str | None, net: str | None, weights: str, size: int | None, seed: int, device: torch.device
) -> Extractor:
    """The frozen network, taking images in [0, 1] (torchvision models normalise in a pre-hook): the
    bilin run `run`, else the torchvision model `net` (tv:<name>; None: TORCHVISION_DEFAULT) with
    `weights`. Defaults: torchvision nets 224 px, layer2, raw features; bilin runs their own input
    size, their hidden layer (RUN_LAYERS) and z-scored features."""
    from bilin.featvis.sources import from_run, from_torchvision

    if run is not None:
        subject = from_run(run, device)
        channels, height, width = subject.input_shape
        if height != width or channels not in (1, 3) or size not in (None, height):
            raise UserError(
                f"the run's model takes {channels} x {height} x {width} images; probe-csf draws square grey or "
                f"colour stimuli of the model's input size (leave size unset)"
            )
        names = dict(subject.model.named_modules())
        layer = next((n for n in RUN_LAYERS if n in names), "head")
        return Extractor(subject.model, subject.name, channels, height, layer, True, subject.name)
    size, name = size or TORCHVISION_SIZE, (net or TORCHVISION_DEFAULT)[3:]
    subject = from_torchvision(name, weights, size, device, seed)
    random_weights = weights == "none"
    label = f"{name}, random weights: untrained" if random_weights else subject.name
    return Extractor(subject.model, subject.name, 3, size, TORCHVISION_LAYER, False, label, random_weights)


def check_size(extractor: FeatureExtractor, stimuli: Stimuli, device: torch.device) -> None:
    """The stimuli's size gives the layer features at all (a small image can vanish in a deep net)."""
    size = stimuli.size
    try:
        features = extractor(torch.full((2, stimuli.channels, size, size), 0.5, device=device))
    except RuntimeError as exc:
        raise UserError(f"size={size} is too small for this extractor ({str(exc).splitlines()[0][:140]})") from exc
    if features.shape[1] == 0:
        raise UserError(f"size={size} is too small: layer {extractor.layer!r} gives no features")

"""What to maximise: targets read through forward hooks, the diversity term, dead-relu rescue.

A target is `class:<c>` (a logit), `unit:<layer>:<i>` (one activation; the centre position of
channel i for a conv layer) or `channel:<layer>:<i>` (channel i averaged over space), for any
named module of any nn.Module. All targets of a run are optimised in one batch: image b belongs
to target b // images_per_target, and one forward pass serves them all.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bilin.errors import UserError

KINDS = ("class", "unit", "channel")


@dataclass(frozen=True)
class Target:
    kind: str  # class | unit | channel
    index: int
    layer: str | None = None  # None for class targets: the model's output

    @property
    def label(self) -> str:
        return f"class {self.index}" if self.kind == "class" else f"{self.layer} {self.kind} {self.index}"


def parse_targets(specs: list[str], n_classes: int | None) -> list[Target]:
    """'class:3' | 'class:all' | 'unit:<layer>:<i>' | 'channel:<layer>:<i>' -> targets."""
    targets: list[Target] = []
    for spec in specs:
        parts = str(spec).split(":")
        kind = parts[0]
        if kind == "class" and len(parts) == 2 and parts[1] == "all":
            if n_classes is None:
                raise UserError("target=class:all needs a model whose output size is known")
            targets += [Target("class", c) for c in range(n_classes)]
            continue
        if kind not in KINDS or len(parts) != (2 if kind == "class" else 3) or not _is_int(parts[-1]):
            raise UserError(f"target={spec!r} is not class:<i>, class:all, unit:<layer>:<i> or channel:<layer>:<i>")
        targets.append(Target(kind, int(parts[-1]), None if kind == "class" else parts[1]))
    if not targets:
        raise UserError("no targets given")
    repeated = next((t for i, t in enumerate(targets) if t in targets[:i]), None)
    if repeated is not None:  # e.g. class:all with class:3: two images of one target, shown as two results
        raise UserError(f"target=[{','.join(map(str, specs))}] asks for {repeated.label} twice; give each target once")
    return targets


def _is_int(text: str) -> bool:
    return text.lstrip("-").isdigit()


class Activations:
    """Forward hooks on the named modules the targets (and the diversity term) read."""

    def __init__(self, model: nn.Module, layers: set[str]):
        modules = dict(model.named_modules())
        unknown = sorted(name for name in layers if not name or name not in modules)  # "": the model itself
        if unknown:
            names = ", ".join(n for n in modules if n)
            raise UserError(f"unknown layer {unknown[0]!r}; this model's layers are: {names}")
        self.outputs: dict[str, torch.Tensor] = {}
        self._handles = [modules[name].register_forward_hook(self._keeper(name)) for name in layers]

    def _keeper(self, name: str):
        def keep(_module, _inputs, output):
            self.outputs[name] = output

        return keep

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()


def target_activations(
    targets: list[Target], logits: torch.Tensor, outputs: dict[str, torch.Tensor], per_target: int
) -> torch.Tensor:
    """(targets * per_target,) the activation each image is optimised for."""
    values = []
    for t, target in enumerate(targets):
        rows = slice(t * per_target, (t + 1) * per_target)
        source = logits if target.kind == "class" else outputs[target.layer]
        values.append(_read(source[rows], target))
    return torch.cat(values)


def _read(out: torch.Tensor, target: Target) -> torch.Tensor:
    if target.kind == "class" or out.ndim == 2:
        return out.flatten(1)[:, target.index]
    if out.ndim == 4 and target.kind == "channel":
        return out[:, target.index].mean((1, 2))
    if out.ndim == 4:
        return out[:, target.index, out.shape[2] // 2, out.shape[3] // 2]
    return out.flatten(1)[:, target.index]


def check_target_ranges(targets: list[Target], logits: torch.Tensor, outputs: dict[str, torch.Tensor]) -> None:
    """One-line errors for indices beyond a layer's size (read off a probe forward pass)."""
    for target in targets:
        out = logits if target.kind == "class" else outputs[target.layer]
        if target.kind == "class" or out.ndim == 2:
            size, what = out.flatten(1).shape[1], "classes" if target.kind == "class" else "units"
        else:
            size, what = out.shape[1], "channels" if out.ndim == 4 else "units"
        if target.kind == "unit" and out.ndim not in (2, 4):
            size, what = out.flatten(1).shape[1], "units"
        if not 0 <= target.index < size:
            where = "the model's output" if target.kind == "class" else f"layer {target.layer!r}"
            raise UserError(
                f"target {target.kind}:{target.index} is out of range: {where} has {size} {what} (0..{size - 1})"
            )


def diversity_penalty(features: torch.Tensor, per_target: int) -> torch.Tensor:
    """(targets,) mean pairwise cosine similarity of the normalised Gram matrices of a layer's
    activations between the images of each target (0 when there is one image per target)."""
    if per_target < 2:
        return features.new_zeros(len(features) // per_target)
    pairs = list(itertools.combinations(range(per_target), 2))
    i, j = torch.tensor(pairs, device=features.device).T
    if features.ndim == 2:
        # no positions: the Gram matrix is a a^T, and cos(a a^T, b b^T) = cos(a, b)^2
        unit = F.normalize(features, dim=1).view(-1, per_target, features.shape[1])
        return torch.bmm(unit, unit.mT)[:, i, j].square().mean(1)
    flat = features.flatten(2)  # (n, channels, positions)
    gram = torch.bmm(flat, flat.mT) / flat.shape[-1]
    gram = F.normalize(gram.flatten(1), dim=1).view(-1, per_target, gram.shape[1] * gram.shape[2])
    return torch.bmm(gram, gram.mT)[:, i, j].mean(1)


def default_diversity_layer(model: nn.Module, probe_outputs: dict[str, torch.Tensor]) -> str:
    """The last top-level child with a spatial output (more than 1 x 1), else the last but one child."""
    names = [name for name, _ in model.named_children() if name in probe_outputs]
    spatial = [n for n in names if probe_outputs[n].ndim == 4 and probe_outputs[n].shape[-2:].numel() > 1]
    if spatial:
        return spatial[-1]
    if len(names) < 2:
        raise UserError("cannot choose a layer for the diversity term; name one with diversity_layer=<layer>")
    return names[-2]


class _RedirectedReLU(torch.autograd.Function):
    """relu forward; backward as relu's, except where that gradient is zero for a whole image:
    then let through the part that would raise the pre-activation (Lucid's redirected relu), so a
    target that never activates still gets a direction to move in."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(x)
        return x.clamp_min(0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        (x,) = ctx.saved_tensors
        relu_grad = grad * (x > 0)
        redirected = grad * ~((x < 0) & (grad > 0))  # drop what would push a negative input lower
        dead = relu_grad.flatten(1).norm(dim=1) == 0
        return torch.where(dead.view(-1, *[1] * (x.ndim - 1)), redirected, relu_grad)


@contextmanager
def redirected_relus(model: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Swap every nn.ReLU of `model` and torch.nn.functional.relu for the redirected version."""
    if not enabled:
        yield
        return
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    saved_functional = F.relu
    for module in relus:
        module.forward = _RedirectedReLU.apply  # instance attribute shadows the class method
    F.relu = lambda x, inplace=False: _RedirectedReLU.apply(x)
    try:
        yield
    finally:
        for module in relus:
            del module.forward
        F.relu = saved_functional

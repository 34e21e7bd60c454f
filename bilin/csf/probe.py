"""A linear probe on a frozen feature extractor: which of two images has the higher contrast?

The extractor is any module of any model, read through a forward hook; the forward pass stops
there (an exception after the hook), so nothing past the layer is computed. It stays in eval
mode with its weights frozen: BatchNorm statistics do not move while the probe trains.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bilin.csf.psychophysics import ORIENTATIONS
from bilin.csf.settings import EVAL_BATCH, PROBE_MOMENTUM, PROBE_WEIGHT_DECAY, STANDARDISE_PAIRS, ProbeSettings
from bilin.csf.stimuli import Stimuli, with_contrast
from bilin.errors import UserError
from bilin.models.networks import initialise


class _Reached(Exception):
    pass


class FeatureExtractor(nn.Module):
    """Images (n, c, s, s) in [0, 1] -> flattened features of `layer` (optionally adaptive-avg-pooled):
    (n, F). A bilin MLP flattens its input itself, so (n, 1, 28, 28) goes in as it is."""

    def __init__(
        self,
        model: nn.Module,
        layer: str,
        pool: int | None = None,
        normalise: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ):
        super().__init__()
        modules = dict(model.named_modules())
        if not layer or layer not in modules:  # "" is the whole model in named_modules: no layer
            names = ", ".join(n for n in modules if n)
            raise UserError(f"unknown layer {layer!r}; this model's layers are: {names}")
        self.model, self.layer, self.pool, self.normalise = model.eval(), layer, pool, normalise
        self.module = modules[layer]
        for p in model.parameters():
            p.requires_grad_(False)
        self._out: torch.Tensor | None = None

    def _stop(self, _module, _inputs, output):
        self._out = output
        raise _Reached

    def train(self, mode: bool = True) -> FeatureExtractor:
        return super().train(False)  # frozen means eval, whatever the caller asks (BatchNorm stays put)
        # (the tutorial's model.train() put the frozen network's BatchNorm in training mode)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalise(images) if self.normalise is not None else images
        self.model.eval()  # every call: BatchNorm must use (and keep) its stored statistics
        self._out = None
        handle = self.module.register_forward_hook(self._stop)  # only while we run: several probes may share a model
        try:
            self.model(x)
        except _Reached:
            pass
        finally:
            handle.remove()
        out = self._out
        if out is None:
            raise UserError(f"layer {self.layer!r} is not used by the model's forward pass")
        if self.pool is not None and out.ndim == 4:
            out = F.adaptive_avg_pool2d(out, self.pool)
        return out.flatten(1)


@dataclass
class ProbeHistory:
    accuracy: list[float]
    loss: list[float]  # mean cross-entropy per epoch
    normalised_loss: list[float]  # divided by chance-level loss ln 2


def pair_features(extractor: FeatureExtractor, first: torch.Tensor, second: torch.Tensor) -> torch.Tensor:
    """Features of both images, concatenated: (n, 2 F); one extractor pass for the pair."""
    both = extractor(torch.cat([first, second]))
    return torch.cat(both.chunk(2), dim=1)


def feature_scale(
    extractor: FeatureExtractor, stimuli: Stimuli, settings: ProbeSettings, device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and std (2 F,) of the pair features over STANDARDISE_PAIRS training pairs of their own
    seed. A layer whose features have an arbitrary scale (an MLP's logits or hidden layer: a grey
    image is far from its data) leaves SGD at lr 0.1 at chance; z-scored, it learns."""
    generator = torch.Generator(device=device).manual_seed(settings.seed + 7919)
    first, second, _ = contrast_pairs(STANDARDISE_PAIRS, stimuli, generator, device)
    features = pair_features(extractor, first, second)
    std = features.std(0)
    return features.mean(0), std.clamp_min(1e-6 * float(std.max()) + 1e-12)


def train_probe(
    extractor: FeatureExtractor,
    stimuli: Stimuli,
    settings: ProbeSettings,
    device: torch.device,
    on_batch: Callable[[], None] | None = None,
) -> tuple[nn.Linear, ProbeHistory]:
    """Train a linear layer on (features of image A, image B) -> index of the higher contrast."""
    generator = torch.Generator(device=device).manual_seed(settings.seed)
    grey = torch.full((1, stimuli.channels, stimuli.size, stimuli.size), 0.5, device=device)
    probe_in = pair_features(extractor, grey, grey).shape[1]
    probe = nn.Linear(probe_in, 2)
    initialise(probe, torch.Generator().manual_seed(settings.seed))  # on the CPU, whatever the device
    probe = probe.to(device)
    optimiser = torch.optim.SGD(
        probe.parameters(), lr=settings.lr, momentum=PROBE_MOMENTUM, weight_decay=PROBE_WEIGHT_DECAY
    )
    history = ProbeHistory([], [], [])
    mean, std = feature_scale(extractor, stimuli, settings, device) if settings.standardise else (0.0, 1.0)
    batches = max(settings.pairs // settings.batch_size, 1)
    for _ in range(settings.epochs):
        extractor.train()  # a no-op by design; kept so the frozen-BN test exercises the real call
        correct = torch.zeros((), device=device)
        loss_sum = torch.zeros((), device=device)
        for _ in range(batches):
            first, second, label = contrast_pairs(settings.batch_size, stimuli, generator, device)
            logits = probe((pair_features(extractor, first, second) - mean) / std)
            loss = F.cross_entropy(logits, label)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            loss_sum += loss.detach()
            correct += (logits.argmax(1) == label).sum()
            if on_batch is not None:
                on_batch()
        n = batches * settings.batch_size
        history.accuracy.append(correct.item() / n)
        history.loss.append(loss_sum.item() / batches)
        history.normalised_loss.append(history.loss[-1] / float(torch.log(torch.tensor(2.0))))
    if settings.standardise:  # fold the z-scoring into the layer: the probe reads raw features
        with torch.no_grad():
            probe.weight.div_(std)
            probe.bias.sub_(probe.weight @ mean)
    return probe, history


def contrast_pairs(
    n: int, stimuli: Stimuli, generator: torch.Generator, device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Two copies of the same shapes at independent contrasts, (n, c, s, s) each; label (n,) 1 when
    the second is higher."""
    shapes, _ = stimuli.shapes(n, generator, device)
    contrasts = 0.04 + 0.96 * torch.rand(2, n, generator=generator, device=device)
    label = (contrasts[1] > contrasts[0]).long()
    return with_contrast(shapes, contrasts[0]), with_contrast(shapes, contrasts[1]), label


def grating_observer(
    extractor: FeatureExtractor,
    probe: nn.Linear,
    sfs: list[float],
    stimuli: Stimuli,
    trials: int,
    seed: int,
    device,
    eval_batch: int = EVAL_BATCH,
    colour: str = "lum",
) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """accuracy(contrasts (sfs,), active (sfs,)) -> correct counts (sfs,). Every active frequency's
    trials form one batch: a grating (along `colour`) and a grey image in random order, 13
    orientations cycled, phase 0 (tutorial) or jittered; correct when the probe names the
    grating's interval."""
    generator = torch.Generator(device=device).manual_seed(seed + 1)
    orientation = (torch.arange(trials, device=device) % ORIENTATIONS) * math.pi / 12

    @torch.no_grad()
    def accuracy(contrasts: torch.Tensor, active: torch.Tensor) -> torch.Tensor:
        index = [i for i in range(len(sfs)) if active[i]]
        grating = torch.cat(
            [
                stimuli.gratings(
                    sfs[i],
                    orientation,
                    stimuli.phases(trials, generator, device),
                    contrasts[i].expand(trials).to(device),
                    colour,
                )
                for i in index
            ]
        )
        grey = torch.full_like(grating, 0.5)
        second = torch.rand(len(grating), generator=generator, device=device) < 0.5  # grating shown second
        pick = second.view(-1, 1, 1, 1)
        first_images, second_images = torch.where(pick, grey, grating), torch.where(pick, grating, grey)
        said_second = torch.cat(
            [
                probe(
                    pair_features(extractor, first_images[s : s + eval_batch], second_images[s : s + eval_batch])
                ).argmax(1)
                == 1
                for s in range(0, len(grating), eval_batch)
            ]
        )
        correct = torch.zeros(len(sfs))
        correct[index] = (said_second == second).view(len(index), trials).sum(1).float().cpu()
        return correct

    return accuracy

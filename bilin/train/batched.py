"""Several models of one architecture and size, trained together as one stacked computation.

Model s gets exactly what a lone `Trainer` with its seed would get: the same init (built with
a generator seeded with its seed), its own permutation generator and noise streams seeded the
same way, and its own AdamW state (AdamW is elementwise, so a stacked parameter updates each
slice as if it were alone). The matmuls become batched (bmm), so results agree with separate
training up to float rounding. Different seeds and noise levels can share a batch; everything
else (size, kind, recipe) must match.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from bilin.models import GATE_FUNCTIONS, ElementwiseProduct, ModelSpec, build_model
from bilin.train.cuda_graph import StepGraph, graphs_wanted, optimizer_kwargs
from bilin.train.loop import DeviceData, EpochMetrics, HParams, StaticBatch, autocast_for, epoch_means
from bilin.train.noise import GaussianNoise


@dataclass(frozen=True)
class Member:
    seed: int
    noise: float


class BatchedTrainer:
    def __init__(self, spec: ModelSpec, members: list[Member], data: DeviceData, hp: HParams, device: torch.device):
        self.spec, self.members, self.data, self.hp, self.device = spec, members, data, hp, device
        states = [build_model(spec, torch.Generator().manual_seed(m.seed)).state_dict() for m in members]
        self.names = list(states[0])
        self.params = nn.ParameterList(
            [nn.Parameter(torch.stack([s[name] for s in states]).to(device)) for name in self.names]
        )
        self._graphed = graphs_wanted(hp.cuda_graph, device)
        self.optimizer = torch.optim.AdamW(
            self.params, weight_decay=hp.wd, **optimizer_kwargs(hp.lr, device, self._graphed)
        )
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=hp.epochs)
        self.orders = [torch.Generator(device=device).manual_seed(m.seed) for m in members]
        self.noises = [GaussianNoise(m.seed, device) for m in members]
        self.noise_std = torch.tensor([m.noise for m in members], device=device).view(-1, 1, 1)
        self.metrics: list[list[EpochMetrics]] = [[] for _ in members]
        self._act = GATE_FUNCTIONS[spec.gate] if spec.gate else None
        self._noisy = any(m.noise > 0 for m in members)
        self._batch: StaticBatch | None = None
        self._graph: StepGraph | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (models, batch, inputs) -> logits (models, batch, classes)."""
        embed, middle, head = self.params
        h = torch.bmm(x, embed.mT)
        if self.spec.kind == "relu":
            g = F.relu(torch.bmm(h, middle.mT))
        elif self._act is None:
            g = ElementwiseProduct.apply(torch.bmm(h, middle.mT))
        else:
            left, right = torch.bmm(h, middle.mT).chunk(2, dim=-1)
            g = self._act(left) * right
        return torch.bmm(g, head.mT)

    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """One ordinary state dict per member, loadable into build_model(spec)."""
        return [
            {name: p[i].detach().cpu().clone() for name, p in zip(self.names, self.params, strict=True)}
            for i in range(len(self.members))
        ]

    def fit(self, on_epoch: Callable[[int], None] | None = None) -> list[list[EpochMetrics]]:
        for epoch in range(1, self.hp.epochs + 1):
            started = time.perf_counter()
            train_loss_sum, train_correct = self._train_epoch()
            val_loss_sum, val_correct = self._validate()
            self.scheduler.step()
            train_loss, train_acc, val_loss, val_acc = epoch_means(
                (train_loss_sum, train_correct, val_loss_sum, val_correct),
                len(self.data.train_x),
                self.hp.batch_size,
                len(self.data.test_x),
            )
            seconds = time.perf_counter() - started
            for i, history in enumerate(self.metrics):
                history.append(EpochMetrics(epoch, train_loss[i], train_acc[i], val_loss[i], val_acc[i], seconds))
            if on_epoch is not None:
                on_epoch(epoch)
        return self.metrics

    def _train_epoch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """(models,) running loss sums and correct counts, left on the device."""
        n, batch, models = len(self.data.train_x), self.hp.batch_size, len(self.members)
        steps = n // batch
        if self._batch is None:  # the models' batches stacked: (models * batch) rows
            self._batch = StaticBatch.allocate(models * batch, self.data.train_x.shape[1], self.device, models)
        b = self._batch
        if self._graphed and self._graph is None:
            self._graph = StepGraph(self._step, list(self.params), self.optimizer)
        run_step = self._graph.replay if self._graph is not None else self._step
        perms = torch.stack([torch.randperm(n, generator=g, device=self.device) for g in self.orders])
        b.loss_sum.zero_()
        b.correct.zero_()
        noise = b.noise.view(models, batch, -1)
        for step in range(steps):
            b.idx.view(models, batch).copy_(perms[:, step * batch : (step + 1) * batch])
            if self._noisy:
                for i, source in enumerate(self.noises):
                    source.fill_(noise[i])
            run_step()
        return b.loss_sum, b.correct

    def _step(self) -> None:
        """One step of every model on the batches b.idx names; long-lived tensors only (CUDA graph)."""
        b, models = self._batch, len(self.members)
        torch.index_select(self.data.train_x, 0, b.idx, out=b.x)
        torch.index_select(self.data.train_y, 0, b.idx, out=b.y)
        x, y = b.x.view(models, -1, b.x.shape[-1]), b.y.view(models, -1)
        if self._noisy:
            x.addcmul_(b.noise.view_as(x), self.noise_std)
        with autocast_for(self.hp.precision, self.device):
            logits = self.forward(x)
        per_model = F.cross_entropy(logits.float().flatten(0, 1), b.y, reduction="none").view(models, -1).mean(1)
        self.optimizer.zero_grad(set_to_none=True)
        per_model.sum().backward()  # each model's gradient is that of its own mean loss
        self.optimizer.step()
        b.loss_sum += per_model.detach()
        b.correct += (logits.detach().argmax(-1) == y).sum(1)

    @torch.inference_mode()
    def _validate(self, chunk: int = 5000) -> tuple[torch.Tensor, torch.Tensor]:
        """(models,) loss sums and correct counts on the clean test set, left on the device."""
        models = len(self.members)
        loss_sum = torch.zeros(models, device=self.device)
        correct = torch.zeros(models, device=self.device, dtype=torch.long)
        for start in range(0, len(self.data.test_x), chunk):
            x = self.data.test_x[start : start + chunk]
            y = self.data.test_y[start : start + chunk]
            with autocast_for(self.hp.precision, self.device):
                logits = self.forward(x.expand(models, -1, -1)).float()
            loss_sum += (
                F.cross_entropy(logits.flatten(0, 1), y.repeat(models), reduction="none").view(models, -1).sum(1)
            )
            correct += (logits.argmax(-1) == y).sum(1)
        return loss_sum, correct

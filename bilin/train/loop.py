"""The training loop, written for the hardware rather than for a DataLoader.

The whole dataset lives on the device as one float tensor; each epoch draws a random
permutation, batches are index_select + on-device Gaussian noise, and the running loss and
accuracy stay on the device, read once per epoch (no host sync per step). Seeded generators
drive the permutation and the noise, so a run is a function of its seed, and their states are
part of every checkpoint, which makes resume bit-identical on CPU.
"""

from __future__ import annotations

import copy
import time
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from bilin.train.noise import GaussianNoise


@dataclass(frozen=True)
class HParams:
    epochs: int = 100
    lr: float = 1e-3
    wd: float = 1.0
    batch_size: int = 2048
    noise: float = 0.5
    seed: int = 420
    precision: str = "fp32"  # fp32 | tf32 | bf16 (bf16: autocast for the matmuls)
    compile: str = "none"  # none | a torch.compile mode


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass
class DeviceData:
    """Inputs as float32 in [0, 1], flattened (N x D), and int64 labels, on the training device."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor

    @classmethod
    def from_uint8(cls, train_x, train_y, test_x, test_y, device: torch.device) -> "DeviceData":
        def images(x: torch.Tensor) -> torch.Tensor:
            return x.to(device).flatten(1).float().div_(255.0)

        return cls(images(train_x), train_y.to(device), images(test_x), test_y.to(device))


@dataclass
class StopRequest:
    """Set by a signal handler; the loop polls it between steps (a Python bool, no sync)."""

    reason: str | None = None


@dataclass
class FitResult:
    status: str  # complete | interrupted | diverged
    metrics: list[EpochMetrics]
    checkpoint: dict  # state at the last good completed epoch
    message: str = ""
    stop_reason: str | None = None  # the signal's name when interrupted


@dataclass
class Trainer:
    model: nn.Module
    data: DeviceData
    hp: HParams
    device: torch.device
    optimizer: torch.optim.Optimizer = field(init=False)
    scheduler: torch.optim.lr_scheduler.LRScheduler = field(init=False)
    generator: torch.Generator = field(init=False)
    metrics: list[EpochMetrics] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        params = list(self.model.parameters())
        compiled = self.hp.compile != "none"
        # a compiled optimizer step needs lr as a tensor, or every scheduler step recompiles it;
        # it then fuses the update itself, so the fused kernel is for eager mode only
        lr = torch.tensor(self.hp.lr) if compiled else self.hp.lr
        flags = {} if compiled else _fast_adamw_flags(self.device)
        self.optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=self.hp.wd, **flags)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.hp.epochs)
        self.generator = torch.Generator(device=self.device).manual_seed(self.hp.seed)
        self.noise = GaussianNoise(self.hp.seed, self.device)
        self._forward = self.model
        self._optimizer_step = self.optimizer.step
        if compiled:
            self._forward = torch.compile(self.model, mode=self.hp.compile)
            self._optimizer_step = torch.compile(self.optimizer.step, mode=self.hp.compile)

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict:
        """A detached copy of everything a bit-identical resume needs."""
        return {
            "epoch": len(self.metrics),
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state().clone(),
            "noise_generators": self.noise.get_state(),
            "metrics": [asdict(m) for m in self.metrics],
        }

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.noise.set_state(state["noise_generators"])
        self.metrics = [EpochMetrics(**m) for m in state["metrics"]]

    # -- the loop ------------------------------------------------------------------------------
    def fit(self, stop: StopRequest | None = None,
            on_epoch: Callable[[EpochMetrics, "Trainer"], None] | None = None) -> FitResult:
        stop = stop or StopRequest()
        last_good = self.state()
        while len(self.metrics) < self.hp.epochs:
            if stop.reason:
                break
            epoch = len(self.metrics) + 1
            started = time.perf_counter()
            sums = self._train_epoch(stop)
            if sums is None:  # stopped mid-epoch: fall back to the last completed epoch
                break
            train_loss, train_acc = sums
            val_loss, val_acc, _ = self.evaluate()
            self.scheduler.step()
            metric = EpochMetrics(epoch, train_loss, train_acc, val_loss, val_acc,
                                  time.perf_counter() - started)
            if not all(map(_finite, (train_loss, val_loss))):
                return FitResult("diverged", self.metrics, last_good,
                                 f"loss became NaN/inf in epoch {epoch} (train {train_loss}, val {val_loss}); "
                                 f"kept the checkpoint of epoch {epoch - 1}; try a smaller lr")
            self.metrics.append(metric)
            last_good = self.state()
            if on_epoch is not None:
                on_epoch(metric, self)
        if len(self.metrics) < self.hp.epochs:
            return FitResult("interrupted", self.metrics, last_good,
                             f"stopped by {stop.reason} after epoch {last_good['epoch']}", stop.reason)
        return FitResult("complete", self.metrics, last_good)

    def _train_epoch(self, stop: StopRequest) -> tuple[float, float] | None:
        self.model.train()
        x_all, y_all = self.data.train_x, self.data.train_y
        n, batch = len(x_all), self.hp.batch_size
        steps = n // batch  # the last partial batch is dropped, as in the paper
        perm = torch.randperm(n, generator=self.generator, device=self.device)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), device=self.device, dtype=torch.long)
        # the batch is assembled in place in two reused buffers: no per-step allocations
        x = torch.empty((batch, x_all.shape[1]), device=self.device)
        noise = torch.empty_like(x)
        for step in range(steps):
            if stop.reason:
                return None
            idx = perm[step * batch:(step + 1) * batch]
            torch.index_select(x_all, 0, idx, out=x)
            y = y_all.index_select(0, idx)
            if self.hp.noise > 0:
                x.add_(self.noise.fill_(noise), alpha=self.hp.noise)
            with self._autocast():
                logits = self._forward(x)
            loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self._optimizer_step()
            loss_sum += loss.detach()
            correct += (logits.detach().argmax(-1) == y).sum()
        steps = max(steps, 1)
        return loss_sum.item() / steps, correct.item() / (steps * batch)

    @torch.inference_mode()
    def evaluate(self, chunk: int = 10_000) -> tuple[float, float, torch.Tensor]:
        """Mean loss and accuracy on the clean test set, and the predicted labels."""
        self.model.eval()
        loss_sum = torch.zeros((), device=self.device)
        predictions = []
        for start in range(0, len(self.data.test_x), chunk):
            x = self.data.test_x[start:start + chunk]
            y = self.data.test_y[start:start + chunk]
            with self._autocast():
                logits = self.model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            predictions.append(logits.argmax(-1))
        predicted = torch.cat(predictions)
        n = max(len(predicted), 1)
        accuracy = (predicted == self.data.test_y).sum().item() / n
        return loss_sum.item() / n, accuracy, predicted

    def _autocast(self):
        if self.hp.precision == "bf16":
            return torch.autocast(device_type=self.device.type, dtype=torch.bfloat16)
        return nullcontext()


def _fast_adamw_flags(device: torch.device) -> dict:
    # fused AdamW is one kernel for all parameters on both CPU and CUDA; same maths as foreach
    return {"fused": True} if device.type in ("cpu", "cuda") else {}


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes,) accuracy of each true class; NaN where a class has no examples."""
    hits = torch.zeros(n_classes, device=labels.device).index_add_(0, labels, (predicted == labels).float())
    counts = torch.bincount(labels, minlength=n_classes).float()
    return hits / counts

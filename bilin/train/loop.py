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
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from bilin.errors import Interrupted
from bilin.train.cuda_graph import CudaRecorder, Recorder, StepGraph, graphs_wanted, optimizer_kwargs
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
    cuda_graph: bool = True  # on CUDA (with compile=none): replay each step as a CUDA graph


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
    def from_uint8(cls, train_x, train_y, test_x, test_y, device: torch.device) -> DeviceData:
        def images(x: torch.Tensor) -> torch.Tensor:
            return x.to(device).flatten(1).float().div_(255.0)

        return cls(images(train_x), train_y.to(device), images(test_x), test_y.to(device))


@dataclass
class StaticBatch:
    """Buffers reused by every step (batch x inputs): no per-step allocations, and fixed
    addresses for a captured CUDA graph. idx selects the batch; noise is filled outside the step."""

    idx: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    noise: torch.Tensor
    loss_sum: torch.Tensor
    correct: torch.Tensor

    @classmethod
    def allocate(cls, rows: int, inputs: int, device: torch.device, models: int | None = None) -> StaticBatch:
        """rows = batch size (times models when stacked); running sums are per model if models is given."""

        def zeros(*shape, dtype=torch.float32):
            return torch.zeros(shape, device=device, dtype=dtype)

        sums = (models,) if models is not None else ()
        return cls(
            zeros(rows, dtype=torch.long),
            zeros(rows, inputs),
            zeros(rows, dtype=torch.long),
            zeros(rows, inputs),
            zeros(*sums),
            zeros(*sums, dtype=torch.long),
        )


@dataclass
class StopRequest:
    """Set by a signal handler; the loop polls it between steps (a Python bool, no sync)."""

    reason: str | None = None  # the signal's name
    message: str = ""

    def raise_if_set(self) -> None:
        if self.reason is not None:
            raise Interrupted(self.message or f"stopped by {self.reason}", self.reason)


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
    graph_recorder: Recorder = field(default_factory=CudaRecorder)  # how a graphed step is recorded

    def __post_init__(self) -> None:
        params = list(self.model.parameters())
        compiled = self.hp.compile != "none"
        self._graphed = graphs_wanted(self.hp.cuda_graph, self.device, self.hp.compile)
        if compiled:
            # a compiled optimizer step needs lr as a tensor, or every scheduler step recompiles it;
            # it then fuses the update itself, so the fused kernel is for eager mode only
            kwargs = {"lr": torch.tensor(self.hp.lr)}
        else:
            kwargs = optimizer_kwargs(self.hp.lr, self.device, self._graphed)
        self.optimizer = torch.optim.AdamW(params, weight_decay=self.hp.wd, **kwargs)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=self.hp.epochs)
        self.generator = torch.Generator(device=self.device).manual_seed(self.hp.seed)
        self.noise = GaussianNoise(self.hp.seed, self.device)
        self._forward = self.model
        self._optimizer_step = self.optimizer.step
        if compiled:
            self._forward = torch.compile(self.model, mode=self.hp.compile)
            self._optimizer_step = torch.compile(self.optimizer.step, mode=self.hp.compile)
        self._compiled_graphs = compiled and self.device.type == "cuda"
        self._batch: StaticBatch | None = None
        self._graph: StepGraph | None = None

    # -- checkpoints -------------------------------------------------------------------------
    def state(self) -> dict:
        """A detached copy of everything a bit-identical resume needs."""
        return {**self._tensor_state(), **self._progress()}

    def _tensor_state(self) -> dict:
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.generator.get_state().clone(),
            "noise_generators": self.noise.get_state(),
        }

    def _progress(self) -> dict:
        return {"epoch": len(self.metrics), "metrics": [asdict(m) for m in self.metrics]}

    def load_state(self, state: dict) -> None:
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        if self._graphed:  # the captured update reads lr from one device tensor
            for group in self.optimizer.param_groups:
                group["lr"] = torch.tensor(float(group["lr"]), device=self.device)
        self._graph = None  # new optimizer state tensors: capture again
        self.scheduler.load_state_dict(state["scheduler"])
        self.generator.set_state(state["generator"])
        self.noise.set_state(state["noise_generators"])
        self.metrics = [EpochMetrics(**m) for m in state["metrics"]]

    # -- the loop ------------------------------------------------------------------------------
    def fit(
        self, stop: StopRequest | None = None, on_epoch: Callable[[EpochMetrics, Trainer], None] | None = None
    ) -> FitResult:
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
            val_loss_sum, val_correct, _ = self._validate()
            self.scheduler.step()
            candidate = self._tensor_state()  # copies queue behind the epoch's work: no sync yet
            train_loss, train_acc, val_loss, val_acc = epoch_means(
                (*sums, val_loss_sum, val_correct), len(self.data.train_x), self.hp.batch_size, len(self.data.test_x)
            )
            metric = EpochMetrics(epoch, train_loss, train_acc, val_loss, val_acc, time.perf_counter() - started)
            if not all(map(_finite, (train_loss, val_loss))):
                return FitResult(
                    "diverged",
                    self.metrics,
                    last_good,
                    f"loss became NaN/inf in epoch {epoch} (train {train_loss}, val {val_loss}); "
                    f"kept the checkpoint of epoch {epoch - 1}; try a smaller lr",
                )
            self.metrics.append(metric)
            last_good = {**candidate, **self._progress()}
            if on_epoch is not None:
                on_epoch(metric, self)
        if len(self.metrics) < self.hp.epochs:
            return FitResult(
                "interrupted",
                self.metrics,
                last_good,
                f"stopped by {stop.reason} after epoch {last_good['epoch']}",
                stop.reason,
            )
        return FitResult("complete", self.metrics, last_good)

    def _train_epoch(self, stop: StopRequest) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Running (loss sum, correct count) on the device, or None when stopped mid-epoch."""
        self.model.train()
        n, batch = len(self.data.train_x), self.hp.batch_size
        steps = n // batch  # the last partial batch is dropped, as in the paper
        b = self._static_batch()
        if self._graphed and self._graph is None:
            self._graph = StepGraph(
                self._step, list(self.model.parameters()), self.optimizer, recorder=self.graph_recorder
            )
        run_step = self._graph.replay if self._graph is not None else self._step
        perm = torch.randperm(n, generator=self.generator, device=self.device)
        b.loss_sum.zero_()
        b.correct.zero_()
        for step in range(steps):
            if stop.reason:
                return None
            b.idx.copy_(perm[step * batch : (step + 1) * batch])
            if self.hp.noise > 0:
                self.noise.fill_(b.noise)
            run_step()
        return b.loss_sum, b.correct

    def _static_batch(self) -> StaticBatch:
        if self._batch is None:
            self._batch = StaticBatch.allocate(self.hp.batch_size, self.data.train_x.shape[1], self.device)
        return self._batch

    def _step(self) -> None:
        """One optimisation step on the batch self._batch.idx names; touches only long-lived
        tensors, so it can be captured as a CUDA graph."""
        b = self._batch
        if self._compiled_graphs:  # torch.compile's own CUDA graphs must know where a step starts
            torch.compiler.cudagraph_mark_step_begin()
        torch.index_select(self.data.train_x, 0, b.idx, out=b.x)
        torch.index_select(self.data.train_y, 0, b.idx, out=b.y)
        if self.hp.noise > 0:
            b.x.add_(b.noise, alpha=self.hp.noise)
        with self._autocast():
            logits = self._forward(b.x)
        loss = F.cross_entropy(logits.float(), b.y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self._optimizer_step()
        b.loss_sum += loss.detach()
        b.correct += (logits.detach().argmax(-1) == b.y).sum()

    def evaluate(self) -> tuple[float, float, torch.Tensor]:
        """Mean loss and accuracy on the clean test set, and the predicted labels."""
        loss_sum, correct, predicted = self._validate()
        n = max(len(predicted), 1)
        return loss_sum.item() / n, correct.item() / n, predicted

    @torch.inference_mode()
    def _validate(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(loss sum, correct count, predicted labels) on the clean test set, left on the device."""
        self.model.eval()
        chunk = getattr(self.model, "eval_chunk", 10_000)
        loss_sum = torch.zeros((), device=self.device)
        predictions = []
        for start in range(0, len(self.data.test_x), chunk):
            x = self.data.test_x[start : start + chunk]
            y = self.data.test_y[start : start + chunk]
            with self._autocast():
                logits = self.model(x).float()
            loss_sum += F.cross_entropy(logits, y, reduction="sum")
            predictions.append(logits.argmax(-1))
        predicted = torch.cat(predictions)
        return loss_sum, (predicted == self.data.test_y).sum(), predicted

    def _autocast(self):
        return autocast_for(self.hp.precision, self.device)


def epoch_means(sums: tuple[torch.Tensor, ...], n_train: int, batch: int, n_val: int) -> list:
    """[train loss, train acc, val loss, val acc] from the device-side (train loss sum, train
    correct, val loss sum, val correct), scalars or per-model vectors. This is an epoch's one
    host sync: on a GPU each sync leaves it idle while the CPU catches up."""
    stacked = torch.stack([t.double() for t in sums]).cpu()
    steps, n_val = max(n_train // batch, 1), max(n_val, 1)
    scale = torch.tensor([steps, steps * batch, n_val, n_val], dtype=torch.float64)
    return (stacked / scale.view(4, *[1] * (stacked.dim() - 1))).tolist()


def autocast_for(precision: str, device: torch.device):
    """bf16: autocast the matmuls; fp32 and tf32 (a global CUDA matmul mode) need nothing here."""
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return nullcontext()


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes,) accuracy of each true class; NaN where a class has no examples."""
    hits = torch.zeros(n_classes, device=labels.device).index_add_(0, labels, (predicted == labels).float())
    counts = torch.bincount(labels, minlength=n_classes).float()
    return hits / counts

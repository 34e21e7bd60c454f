"""The training loop for one model or several at once, written for the hardware rather than for a DataLoader.

The whole dataset lives on the device as one float tensor; each epoch draws a random
permutation per model, batches are index_select (+ augmentations: bilin.train.augment) + on-device
Gaussian noise, and the running loss
and accuracy stay on the device, read once per epoch (no host sync per step). Seeded generators
drive the permutations and the noise, so a run is a function of its seeds, and their states are
part of every checkpoint, which makes resume bit-identical on CPU.

N > 1 models of one architecture train as one computation: their parameters are stacked and the
real module runs under `torch.func.vmap(functional_call)`, so any bilin architecture works. Each
model gets exactly its own init, batch order, noise and AdamW state (AdamW is elementwise), so N
models trained together equal each trained alone up to float rounding. One model runs the module
itself, unchanged.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, stack_module_state, vmap

from bilin.train.buffers import DeviceData, StaticBatch
from bilin.train.cost import StepTimer
from bilin.train.cuda_graph import CudaRecorder, Recorder, StepGraph, graphs_wanted, optimizer_kwargs
from bilin.train.noise import GaussianNoise
from bilin.train.records import EpochMetrics, FitResult, HParams, Member, StopRequest

if TYPE_CHECKING:
    from bilin.train.augment import BatchAugmenter


class Trainer:
    """`Trainer(model, data, hp, device)` trains one model with hp.seed and hp.noise;
    `Trainer(models, data, hp, device, members)` trains several, member i with its own seed and noise.
    hp: the HParams record, or a command's config that inherits it (bilin train's) as it is."""

    def __init__(
        self,
        model: nn.Module | list[nn.Module],
        data: DeviceData,
        hp: HParams,
        device: torch.device,
        members: list[Member] | None = None,
        graph_recorder: Recorder | None = None,
        step_timer: StepTimer | None = None,
    ):
        models = list(model) if isinstance(model, (list, tuple)) else [model]
        self.members = members or [Member(hp.seed, hp.noise)]
        if len(self.members) != len(models):
            raise ValueError(f"{len(models)} models but {len(self.members)} members")
        self.data, self.hp, self.device = data, hp, device
        self.n = len(models)
        self.model = models[0]  # the module itself when alone, the template of the stacked models otherwise
        if self.n == 1:
            params = list(self.model.parameters())
        else:
            stacked, buffers = stack_module_state([m.to(device) for m in models])
            self.params = {k: nn.Parameter(v.detach()) for k, v in stacked.items()}
            self.buffers = {k: v.detach() for k, v in buffers.items()}
            params = list(self.params.values())
            if hp.compile != "none":
                raise ValueError("torch.compile is for one model; several are stacked with vmap instead")
        compiled = hp.compile != "none"
        self._augmented = any(m.augment.active for m in self.members)
        if self._augmented and data.image_shape is None:
            raise ValueError("augmentations need the data's image shape (DeviceData.image_shape)")
        self.augmenters: list[BatchAugmenter] = []
        if self._augmented:  # kornia (0.1 s to import) only for the runs that augment
            from bilin.train.augment import BatchAugmenter

            self.augmenters = [BatchAugmenter(m.augment, m.seed, data.image_shape, device) for m in self.members]
        # augmented steps run eagerly: their generators are not part of a captured CUDA graph
        self._graphed = graphs_wanted(hp.cuda_graph, device, hp.compile) and not self._augmented
        # a compiled optimizer step needs lr as a tensor, or every scheduler step recompiles it; it
        # then fuses the update itself, so the fused kernel is for eager mode only
        kwargs = {"lr": torch.tensor(hp.lr)} if compiled else optimizer_kwargs(hp.lr, device, self._graphed)
        self.optimizer = torch.optim.AdamW(params, weight_decay=hp.wd, **kwargs)
        self.scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(self.optimizer, T_max=hp.epochs)
        self.orders = [torch.Generator(device=device).manual_seed(m.seed) for m in self.members]
        self.noises = [GaussianNoise(m.seed, device) for m in self.members]
        self.noise_std = torch.tensor([m.noise for m in self.members], device=device, dtype=data.train_x.dtype)
        self.noise_std = self.noise_std.view(-1, 1, 1)
        self._noisy = any(m.noise > 0 for m in self.members)
        self.histories: list[list[EpochMetrics]] = [[] for _ in self.members]
        self.graph_recorder = graph_recorder or CudaRecorder()
        self.step_timer = step_timer  # times the first steps: the estimate said once training runs
        self._forward: Callable[[torch.Tensor], torch.Tensor] = self.model if self.n == 1 else self._stacked_forward
        self._optimizer_step = self.optimizer.step
        if compiled:
            self._forward = torch.compile(self.model, mode=hp.compile)
            self._optimizer_step = torch.compile(self.optimizer.step, mode=hp.compile)
        self._compiled_graphs = compiled and device.type == "cuda"
        self._batch: StaticBatch | None = None
        self._graph: StepGraph | None = None
        self._validated: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # of the weights as they are

    @property
    def metrics(self) -> list[EpochMetrics]:
        """The (first) model's history: the one model's when training alone."""
        return self.histories[0]

    def _stacked_forward(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """x: (models, batch, inputs), or (batch, inputs) given to every model -> (models, batch, classes)."""

        def one(params: dict, buffers: dict, inputs: torch.Tensor) -> torch.Tensor:
            return functional_call(self.model, (params, buffers), (inputs,))

        return vmap(one, in_dims=(0, 0, None if shared_input else 0))(self.params, self.buffers, x)

    # -- weights and checkpoints ---------------------------------------------------------------
    def state_dicts(self) -> list[dict[str, torch.Tensor]]:
        """One ordinary state dict per model, on the CPU, loadable into build_model(spec)."""
        if self.n == 1:
            return [{k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}]
        tensors = {**self.params, **self.buffers}
        return [{k: tensors[k][i].detach().cpu().clone() for k in self.model.state_dict()} for i in range(self.n)]

    def state(self) -> dict:
        """A detached copy of everything a bit-identical resume needs (one model)."""
        return {**self._tensor_state(), **self._progress()}

    def _tensor_state(self) -> dict:
        if self.n != 1:
            raise ValueError("checkpoints are for one model; stacked models are saved with state_dicts()")
        return {
            "model": {k: v.detach().clone() for k, v in self.model.state_dict().items()},
            "optimizer": copy.deepcopy(self.optimizer.state_dict()),
            "scheduler": self.scheduler.state_dict(),
            "generator": self.orders[0].get_state().clone(),
            "noise_generators": self.noises[0].get_state(),
            **({"augment_generator": self.augmenters[0].generator.get_state().clone()} if self._augmented else {}),
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
        self._validated = None
        self.scheduler.load_state_dict(state["scheduler"])
        self.orders[0].set_state(state["generator"])
        self.noises[0].set_state(state["noise_generators"])
        if "augment_generator" in state:
            self.augmenters[0].generator.set_state(state["augment_generator"])
        self.histories[0] = [EpochMetrics(**m) for m in state["metrics"]]

    # -- the loop ------------------------------------------------------------------------------
    def fit(
        self, stop: StopRequest | None = None, on_epoch: Callable[[EpochMetrics, Trainer], None] | None = None
    ) -> FitResult:
        """Train to hp.epochs. on_epoch gets the first model's metrics after each epoch."""
        stop = stop or StopRequest()
        last_good = self.state() if self.n == 1 else {}
        while len(self.metrics) < self.hp.epochs:
            if stop.reason:
                break
            epoch = len(self.metrics) + 1
            started = time.perf_counter()
            sums = self._train_epoch(stop)
            if sums is None:  # stopped mid-epoch: fall back to the last completed epoch
                break
            val_loss_sum, val_correct, _ = self._validated = self._validate()
            self.scheduler.step()
            candidate = self._tensor_state() if self.n == 1 else {}  # copies queue behind the epoch: no sync yet
            means = epoch_means(
                (*sums, val_loss_sum, val_correct), len(self.data.train_x), self.hp.batch_size, len(self.data.test_x)
            )
            seconds = time.perf_counter() - started
            metrics = [EpochMetrics(epoch, *(m[i] for m in means), seconds) for i in range(self.n)]
            bad = [i for i, m in enumerate(metrics) if not (_finite(m.train_loss) and _finite(m.val_loss))]
            if bad:
                which = "" if self.n == 1 else f" of model {bad[0]} (seed {self.members[bad[0]].seed})"
                m = metrics[bad[0]]
                return FitResult(
                    "diverged",
                    self.metrics,
                    last_good,
                    f"loss{which} became NaN/inf in epoch {epoch} (train {m.train_loss}, val {m.val_loss}); "
                    f"kept the checkpoint of epoch {epoch - 1}; try a smaller lr",
                )
            for history, metric in zip(self.histories, metrics, strict=True):
                history.append(metric)
            if self.n == 1:
                last_good = {**candidate, **self._progress()}
            if on_epoch is not None:
                on_epoch(metrics[0], self)
        if len(self.metrics) < self.hp.epochs:
            return FitResult(
                "interrupted",
                self.metrics,
                last_good,
                f"stopped by {stop.reason} after epoch {len(self.metrics)}",
                stop.reason,
            )
        return FitResult("complete", self.metrics, last_good)

    def _train_epoch(self, stop: StopRequest) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(models,) running loss sums and correct counts on the device, or None when stopped mid-epoch."""
        self._set_mode(train=True)
        self._validated = None  # the weights are about to change
        n, batch, models = len(self.data.train_x), self.hp.batch_size, self.n
        steps = n // batch  # the last partial batch is dropped, as in the paper
        if self._batch is None:  # the models' batches stacked: (models * batch) rows
            self._batch = StaticBatch.allocate(
                models * batch, self.data.train_x.shape[1], self.device, models, self.data.train_x.dtype
            )
        b = self._batch
        if self._graphed and self._graph is None:
            params = list(self.model.parameters()) if self.n == 1 else list(self.params.values())
            self._graph = StepGraph(self._step, params, self.optimizer, recorder=self.graph_recorder)
        run_step = self._graph.replay if self._graph is not None else self._step
        perms = torch.stack([torch.randperm(n, generator=g, device=self.device) for g in self.orders])
        b.loss_sum.zero_()
        b.correct.zero_()
        noise = b.noise.view(models, batch, -1)
        for step in range(steps):
            if stop.reason:
                return None
            b.idx.view(models, batch).copy_(perms[:, step * batch : (step + 1) * batch])
            if self._noisy:
                for i, source in enumerate(self.noises):
                    source.fill_(noise[i])
            run_step()
            if self.step_timer is not None:
                self.step_timer.tick(step, steps)
        return b.loss_sum, b.correct

    def _step(self) -> None:
        """One optimisation step of every model on the batches b.idx names; touches only
        long-lived tensors, so it can be captured as a CUDA graph."""
        b, models = self._batch, self.n
        if self._compiled_graphs:  # torch.compile's own CUDA graphs must know where a step starts
            torch.compiler.cudagraph_mark_step_begin()
        torch.index_select(self.data.train_x, 0, b.idx, out=b.x)
        torch.index_select(self.data.train_y, 0, b.idx, out=b.y)
        if self._augmented:
            for augmenter, x in zip(self.augmenters, b.x.view(models, -1, b.x.shape[-1]), strict=True):
                augmenter.apply_(x)
        if models == 1:
            if self._noisy:
                b.x.add_(b.noise, alpha=self.members[0].noise)
            with self._autocast():
                logits = self._forward(b.x)
            per_model = F.cross_entropy(_loss_precision(logits), b.y).view(1)
            correct = (logits.detach().argmax(-1) == b.y).sum().view(1)
        else:
            x = b.x.view(models, -1, b.x.shape[-1])
            if self._noisy:
                x.addcmul_(b.noise.view_as(x), self.noise_std)
            with self._autocast():
                logits = self._forward(x)
            per_model = F.cross_entropy(_loss_precision(logits).flatten(0, 1), b.y, reduction="none")
            per_model = per_model.view(models, -1).mean(1)
            correct = (logits.detach().argmax(-1) == b.y.view(models, -1)).sum(1)
        self.optimizer.zero_grad(set_to_none=True)
        per_model.sum().backward()  # each model's gradient is that of its own mean loss
        self._optimizer_step()
        b.loss_sum += per_model.detach()
        b.correct += correct

    def evaluate(self) -> tuple[float, float, torch.Tensor]:
        """Mean loss and accuracy on the clean test set, and the predicted labels (the first model):
        the last epoch's validation when the weights have not changed since."""
        loss_sum, correct, predicted = self._validated or self._validate()
        n = max(predicted.shape[-1], 1)
        return loss_sum[0].item() / n, correct[0].item() / n, predicted[0]

    @torch.inference_mode()
    def _validate(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(models,) loss sums and correct counts and (models, n) predicted labels on the clean
        test set, left on the device."""
        self._set_mode(train=False)
        chunk = getattr(self.model, "eval_chunk", 10_000)
        loss_sum = torch.zeros(self.n, device=self.device)
        predictions = []
        for start in range(0, len(self.data.test_x), chunk):
            x = self.data.test_x[start : start + chunk]
            y = self.data.test_y[start : start + chunk]
            with self._autocast():
                logits = (self.model(x).unsqueeze(0) if self.n == 1 else self._stacked_forward(x, True)).float()
            if self.n == 1:
                loss_sum += F.cross_entropy(logits[0], y, reduction="sum")
            else:
                per_sample = F.cross_entropy(logits.flatten(0, 1), y.repeat(self.n), reduction="none")
                loss_sum += per_sample.view(self.n, -1).sum(1)
            predictions.append(logits.argmax(-1))
        predicted = torch.cat(predictions, dim=1)
        return loss_sum, (predicted == self.data.test_y).sum(1), predicted

    def _set_mode(self, train: bool) -> None:
        self.model.train(train)

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


def _loss_precision(logits: torch.Tensor) -> torch.Tensor:
    """Logits for the loss in at least float32 (bf16 autocast's are upcast; float64 stays float64)."""
    return logits if logits.dtype == torch.float64 else logits.float()


def _finite(value: float) -> bool:
    return value == value and abs(value) != float("inf")


def per_class_accuracy(predicted: torch.Tensor, labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """(n_classes,) accuracy of each true class; NaN where a class has no examples."""
    hits = torch.zeros(n_classes, device=labels.device).index_add_(0, labels, (predicted == labels).float())
    counts = torch.bincount(labels, minlength=n_classes).float()
    return hits / counts

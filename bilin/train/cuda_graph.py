"""One training step captured as a CUDA graph, replayed once per batch.

A step of these small MLPs is about 30 kernels whose launch cost on the CPU exceeds the GPU
work; a graph replay launches them all at once. The step may read and write only tensors that
outlive it (the static batch buffers, parameters, gradients, optimizer state, running sums):
per-batch inputs are copied into those buffers before each replay.

Capturing needs warm-up iterations (they create the optimizer state and cuBLAS workspaces).
Their effect on the parameters and the optimizer state is undone afterwards (`Snapshot`), so a
graphed run trains exactly the steps an eager one does. The recording itself is a `Recorder`:
CUDA's in production; `EagerRecorder` runs the same sequence on any device, so the logic around
the graph is tested on CPU.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

import torch


def graphs_wanted(enabled: bool, device: torch.device, compile_mode: str = "none") -> bool:
    """CUDA graphs replace eager launches on CUDA; torch.compile modes bring their own."""
    return enabled and device.type == "cuda" and compile_mode == "none"


def optimizer_kwargs(lr: float, device: torch.device, graphed: bool) -> dict:
    """AdamW arguments: fused on CPU/CUDA; capturable with a device lr tensor when graphed,
    so the scheduler's lr changes (written in place) reach the captured update."""
    if graphed:
        return {"lr": torch.tensor(lr, device=device), "fused": True, "capturable": True}
    return {"lr": lr, **({"fused": True} if device.type in ("cpu", "cuda") else {})}


class Snapshot:
    """The parameters and the optimizer's tensor state now; `restore` writes them back in place
    (state the optimizer created since is zeroed, as a fresh optimizer would have it)."""

    def __init__(self, params: list[torch.Tensor], optimizer: torch.optim.Optimizer):
        self.params, self.optimizer = params, optimizer
        self.values = [p.detach().clone() for p in params]
        self.state = {
            p: {k: v.clone() for k, v in optimizer.state[p].items() if torch.is_tensor(v)}
            for p in params
            if p in optimizer.state
        }

    @torch.no_grad()
    def restore(self) -> None:
        for p, saved in zip(self.params, self.values, strict=True):
            p.copy_(saved)
        for p in self.params:
            before = self.state.get(p, {})
            for name, value in self.optimizer.state[p].items():
                if torch.is_tensor(value):
                    value.copy_(before[name]) if name in before else value.zero_()


class Recorder(Protocol):
    def warm_up(self, step: Callable[[], None], steps: int) -> None: ...
    def record(self, step: Callable[[], None]) -> Callable[[], None]: ...
    def finish(self) -> None: ...


class CudaRecorder:
    """Warm-up on a side stream, then capture the step into a CUDA graph (recorded, not run)."""

    def warm_up(self, step: Callable[[], None], steps: int) -> None:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(steps):
                step()
        torch.cuda.current_stream().wait_stream(side)

    def record(self, step: Callable[[], None]) -> Callable[[], None]:
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            step()
        self.graph = graph  # kept alive with its memory pool
        return graph.replay

    def finish(self) -> None:
        torch.cuda.synchronize()


class EagerRecorder:
    """The same sequence without CUDA: warm-up steps run, "recording" keeps the step to call."""

    def warm_up(self, step: Callable[[], None], steps: int) -> None:
        for _ in range(steps):
            step()

    def record(self, step: Callable[[], None]) -> Callable[[], None]:
        return step

    def finish(self) -> None:
        pass


class StepGraph:
    """`step()` captured once; `replay()` runs it again on the current buffer contents."""

    def __init__(
        self,
        step: Callable[[], None],
        params: list[torch.Tensor],
        optimizer: torch.optim.Optimizer,
        warmup: int = 3,
        recorder: Recorder | None = None,
    ):
        recorder = recorder or CudaRecorder()
        snapshot = Snapshot(params, optimizer)
        recorder.warm_up(step, warmup)
        optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph's pool
        self.replay = recorder.record(step)
        snapshot.restore()  # recording only records; undo what the warm-up steps did
        recorder.finish()

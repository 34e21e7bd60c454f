"""One training step captured as a CUDA graph, replayed once per batch.

A step of these small MLPs is about 30 kernels whose launch cost on the CPU exceeds the GPU
work; a graph replay launches them all at once. The step may read and write only tensors that
outlive it (the static batch buffers, parameters, gradients, optimizer state, running sums):
per-batch inputs are copied into those buffers before each replay.

Capturing needs warm-up iterations (they create the optimizer state and cuBLAS workspaces).
Their effect on the parameters and the optimizer state is undone afterwards, so a graphed run
trains exactly the steps an eager one does.
"""

from __future__ import annotations

from typing import Callable

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


class StepGraph:
    """`step()` captured once; `replay()` runs it again on the current buffer contents."""

    def __init__(self, step: Callable[[], None], params: list[torch.Tensor],
                 optimizer: torch.optim.Optimizer, warmup: int = 3):
        saved_params = [p.detach().clone() for p in params]
        saved_state = {p: {k: v.clone() for k, v in optimizer.state[p].items() if torch.is_tensor(v)}
                       for p in params if p in optimizer.state}
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            for _ in range(warmup):
                step()
        torch.cuda.current_stream().wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        optimizer.zero_grad(set_to_none=True)  # gradients are then allocated inside the graph's pool
        with torch.cuda.graph(self.graph):
            step()
        # capture only records; undo what the warm-up steps did
        with torch.no_grad():
            for p, saved in zip(params, saved_params):
                p.copy_(saved)
            for p in params:
                before = saved_state.get(p, {})
                for name, value in optimizer.state[p].items():
                    if torch.is_tensor(value):
                        value.copy_(before[name]) if name in before else value.zero_()
        torch.cuda.synchronize()

    def replay(self) -> None:
        self.graph.replay()

"""The plain records of training: its settings, a model's own seed and noise, an epoch's metrics,
a stop request and a fit's result."""

from __future__ import annotations

from dataclasses import dataclass

from bilin.errors import Interrupted


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


@dataclass(frozen=True)
class Member:
    """What differs between models trained together: each one's seed (init, batch order, noise
    stream) and its input-noise std."""

    seed: int
    noise: float


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


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

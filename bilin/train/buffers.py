"""Training data and per-step buffers on the training device."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class DeviceData:
    """Inputs as float32 in [0, 1], flattened (N x D), and int64 labels, on the training device;
    image_shape: one image's shape before flattening (what batch augmentations need)."""

    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    image_shape: tuple[int, ...] | None = None

    @classmethod
    def from_uint8(cls, train_x, train_y, test_x, test_y, device: torch.device) -> DeviceData:
        def images(x: torch.Tensor) -> torch.Tensor:
            return x.to(device).flatten(1).float().div_(255.0)

        shape = tuple(train_x.shape[1:])
        return cls(images(train_x), train_y.to(device), images(test_x), test_y.to(device), shape)


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
    def allocate(
        cls, rows: int, inputs: int, device: torch.device, models: int | None = None, dtype: torch.dtype = torch.float32
    ) -> StaticBatch:
        """rows = batch size (times models when stacked); running sums are per model if models is given;
        inputs and noise in `dtype` (the data's: float64 data trains in float64)."""

        def zeros(*shape, dtype=dtype):
            return torch.zeros(shape, device=device, dtype=dtype)

        sums = (models,) if models is not None else ()
        return cls(
            zeros(rows, dtype=torch.long),
            zeros(rows, inputs),
            zeros(rows, dtype=torch.long),
            zeros(rows, inputs),
            zeros(*sums, dtype=torch.float32),
            zeros(*sums, dtype=torch.long),
        )

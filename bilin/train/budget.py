"""Memory a training run will need, estimated before anything is allocated, against what the device has."""

from __future__ import annotations

import torch

from bilin.device import parameter_bytes, require_memory
from bilin.models.networks import ModelSpec, build_model

FLOAT = 4  # bytes


def training_bytes(spec: ModelSpec, n_models: int, batch_size: int, n_images: int) -> int:
    """Weights, gradients and AdamW's two moments per model, a step's activations (a few batch x
    width buffers per layer, forward and backward) and the dataset as floats on the device."""
    state = 4 * parameter_bytes(lambda: build_model(spec)) * n_models
    activations = 8 * batch_size * (spec.d_input + 4 * spec.d_hidden) * FLOAT * n_models
    return state + activations + n_images * spec.d_input * FLOAT


def check_training_fits(spec: ModelSpec, n_models: int, batch_size: int, n_images: int, device: torch.device) -> None:
    require_memory(
        training_bytes(spec, n_models, batch_size, n_images),
        f"training {n_models} {spec.kind} model{'s' if n_models > 1 else ''} of d_hidden={spec.d_hidden}",
        device,
        "lower d_hidden or batch_size, or train on a device with more memory",
    )

"""Where a command computes: the device a name means here, and the precision modes it allows."""

from __future__ import annotations

import torch

from bilin.errors import UserError


def resolve_device(name: str) -> torch.device:
    """auto: cuda when available, else cpu; cuda without CUDA is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("device=cuda but no CUDA device is available here; use device=cpu or device=auto")
    return torch.device(name)


def check_precision(precision: str, device: torch.device) -> None:
    if precision == "tf32" and device.type != "cuda":
        raise UserError("precision=tf32 is a CUDA matmul mode; on CPU use precision=fp32 or bf16")


def apply_precision(precision: str, device: torch.device) -> None:
    """tf32 is a global CUDA matmul switch; fp32 and bf16 (autocast) need nothing global."""
    check_precision(precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"

"""Where a command computes: the device a name means here, and the precision modes it allows."""

from __future__ import annotations

import os

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


def resolve_precision(precision: str, device: torch.device) -> str:
    """auto: bf16 where the device multiplies bf16 natively (a CUDA GPU with bf16, a CPU with
    AVX512-BF16 or AMX), else fp32; any other choice as it is."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported()
    else:
        native = device.type == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    return "bf16" if native else "fp32"


def apply_precision(precision: str, device: torch.device) -> None:
    """tf32 is a global CUDA matmul switch; fp32 and bf16 (autocast) need nothing global."""
    check_precision(precision, device)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
        torch.backends.cudnn.allow_tf32 = precision == "tf32"


def free_bytes(device: torch.device) -> int:
    """Memory a new allocation can use: free GPU memory, or the host's MemAvailable."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def require_memory(needed: int, what: str, device: torch.device, advice: str) -> None:
    """Refuse work whose estimated memory exceeds what the device has free (before allocating it)."""
    available = free_bytes(device)
    if needed > 0.9 * available:
        raise UserError(
            f"{what} needs about {_gib(needed)} of memory but {device.type} has {_gib(available)} free; {advice}"
        )


def parameter_bytes(model_factory) -> int:
    """Bytes of a model's parameters, counted on the meta device (nothing is allocated)."""
    with torch.device("meta"):
        model = model_factory()
    return sum(p.numel() * p.element_size() for p in model.parameters())


def _gib(n: int) -> str:
    return f"{n / 2**30:.1f} GiB" if n >= 2**30 else f"{n / 2**20:.0f} MiB"

"""What produced a run: package versions, git commit, device."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import torch

PACKAGE_ROOT = Path(__file__).resolve().parents[2]


def git_commit() -> str | None:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=PACKAGE_ROOT, capture_output=True, text=True, timeout=5, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=PACKAGE_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine()


def provenance(device: torch.device) -> dict:
    return {
        "bilin": _installed_version("bilin"),
        "python": sys.version.split()[0],
        "torch": torch.__version__,
        "torchvision": _installed_version("torchvision"),
        "cuda": torch.version.cuda,
        "git_commit": git_commit(),
        "device": str(device),
        "device_name": device_name(device),
        "threads": torch.get_num_threads(),
        "host": platform.node(),
        "command": " ".join(sys.argv),
    }


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _installed_version(package: str) -> str | None:
    """From the package metadata: importing torchvision just to read its version costs ~2 s."""
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None

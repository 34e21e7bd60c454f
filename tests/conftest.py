"""Shared fixtures: tiny synthetic IDX datasets written by the tests, and a CLI runner that goes
through the real `bilin` entry point in a subprocess (HTML-only figures unless a test asks)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bilin.data.idx import write_idx

if os.environ.get("PYTEST_XDIST_WORKER"):  # each of -n N workers on its own core: more torch threads only thrash
    import torch

    torch.set_num_threads(1)

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
TINY_ARGS = ["d_hidden=16", "epochs=2", "batch_size=64", "quiet=true", "device=cpu"]


def synthetic_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images whose class (0..9) sets the row of a bright bar: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n).astype(np.uint8)
    images = rng.integers(0, 40, size=(n, 28, 28)).astype(np.uint8)
    for i, label in enumerate(labels):
        row = 2 + 2 * int(label)
        images[i, row : row + 2, 4:24] = 255
    return images, labels


def write_dataset(root: Path, folder: str, n_train: int = 640, n_test: int = 200, gz: bool = True) -> Path:
    raw = root / folder / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    suffix = ".gz" if gz else ""
    for split, n, seed in (("train", n_train, 0), ("t10k", n_test, 1)):
        images, labels = synthetic_images(n, seed)
        write_idx(raw / f"{split}-images-idx3-ubyte{suffix}", images)
        write_idx(raw / f"{split}-labels-idx1-ubyte{suffix}", labels)
    return raw


@pytest.fixture(autouse=True, scope="session")
def _data_cache(tmp_path_factory):
    """The decoded-data cache (bilin.data.decoded_cache) in the session's tmp, not the user's home; the
    CLI's subprocesses inherit it through os.environ."""
    patch = pytest.MonkeyPatch()
    patch.setenv("BILIN_DATA_CACHE", str(tmp_path_factory.mktemp("data-cache")))
    yield
    patch.undo()


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    write_dataset(root, "MNIST")
    write_dataset(root, "FashionMNIST", gz=False)
    return root


def _bilin_command(args: list[str], env: dict | None) -> tuple[list[str], dict]:
    # one thread: tiny models gain nothing from more, and it keeps parallel test runs from thrashing
    full_env = {**os.environ, "BILIN_FIGURE_FORMATS": "", "OMP_NUM_THREADS": "1", **(env or {})}
    script = Path(sys.executable).parent / "bilin"  # the installed console script, as users run it
    command = [str(script)] if script.exists() else [sys.executable, "-m", "bilin"]
    return [*command, *args], full_env


def run_bilin(args: list[str], cwd: Path, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    command, full_env = _bilin_command(args, env)
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout)


def start_bilin(args: list[str], cwd: Path, env: dict | None = None, stdout=subprocess.PIPE) -> subprocess.Popen:
    """`bilin ...` started, not waited for: for tests that signal, kill or race it (text pipes)."""
    command, full_env = _bilin_command(args, env)
    return subprocess.Popen(command, cwd=cwd, env=full_env, stdout=stdout, stderr=subprocess.PIPE, text=True)


@pytest.fixture
def bilin_cli(tmp_path, tiny_root):
    """Run `bilin ...` in tmp_path with the tiny data as BILIN_DATA."""

    def run(*args: str, env: dict | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
        return run_bilin(list(args), tmp_path, {"BILIN_DATA": str(tiny_root), **(env or {})}, timeout)

    return run


def only_run_dir(base: Path) -> Path:
    runs = [p for p in base.glob("*/*") if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def write_cifar(root: Path, per_batch: int = 60, n_test: int = 100) -> Path:
    """A tiny fake CIFAR-10 in torchvision's layout: class c is a square of colour c at a place set by c."""
    import pickle

    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, size=(10, 3))
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        n = n_test if name == "test_batch" else per_batch
        labels = rng.integers(0, 10, size=n)
        images = rng.integers(0, 60, size=(n, 3, 32, 32)).astype(np.uint8)
        for i, label in enumerate(labels):
            top, left = 4 + 2 * (label // 5) * 5, 4 + 4 * (label % 5)
            images[i, :, top : top + 8, left : left + 8] = palette[label][:, None, None]
        with (folder / name).open("wb") as f:
            pickle.dump({b"data": images.reshape(n, -1), b"labels": labels.tolist()}, f)
    return folder


@pytest.fixture(scope="session")
def cifar_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cifar")
    write_cifar(root)
    return root

"""CIFAR-10 in torchvision's layout: `<root>/cifar-10-batches-py/{data_batch_1..5,test_batch}`,
each a pickled dict with b"data" (N x 3072 uint8, channel-major) and b"labels"."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import torch

from bilin.errors import UserError

FOLDER = "cifar-10-batches-py"
TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_FILES = ("test_batch",)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def missing_files(folder: Path) -> list[str]:
    return [name for name in TRAIN_FILES + TEST_FILES if not (folder / name).is_file()]


def read_batches(folder: Path, names: tuple[str, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, 3, 32, 32) uint8 images and (N,) int64 labels from the named batch files."""
    images, labels = [], []
    for name in names:
        path = folder / name
        try:
            with path.open("rb") as f:
                batch = pickle.load(f, encoding="bytes")
            data, batch_labels = np.asarray(batch[b"data"], dtype=np.uint8), batch[b"labels"]
        except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as exc:
            raise UserError(
                f"{path} is not a CIFAR-10 batch file ({type(exc).__name__}: {exc}); replace it with the original"
            ) from exc
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(batch_labels) != len(data):
            raise UserError(f"{path}: data {data.shape} and {len(batch_labels)} labels are not N x 3072 and N")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch_labels, dtype=np.int64))
    return torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels))

"""The datasets: MNIST, Fashion-MNIST and CIFAR-10 read from their own files (IDX or pickled batches),
found by one rule (roots.py), verified, and loaded as uint8 tensors with their provenance."""

from bilin.data.datasets import DATASETS, ImageDataset, load_dataset
from bilin.data.idx import read_idx

__all__ = ["DATASETS", "ImageDataset", "load_dataset", "read_idx"]

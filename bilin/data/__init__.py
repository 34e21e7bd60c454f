from bilin.data.datasets import DATASETS, ImageDataset, load_dataset
from bilin.data.idx import read_idx

__all__ = ["DATASETS", "ImageDataset", "load_dataset", "read_idx"]

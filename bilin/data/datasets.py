"""MNIST and Fashion-MNIST from torchvision's folder layout, `<root>/<Folder>/raw/<file>[.gz]`,
and CIFAR-10 from `<root>/cifar-10-batches-py/` (bilin/data/cifar.py).

Images stay uint8 here; the trainer moves them to the device once and scales them to [0, 1].
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from bilin.data import cifar
from bilin.data.idx import read_idx
from bilin.errors import UserError

SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
FASHION_CLASSES = (
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
)


@dataclass(frozen=True)
class DatasetInfo:
    folder: str
    classes: tuple[str, ...]
    downloader: Callable[..., object]
    image_shape: tuple[int, int, int] = (1, 28, 28)  # channels, height, width
    layout: str = "idx"  # idx: <root>/<folder>/raw/*-ubyte[.gz] | cifar: <root>/cifar-10-batches-py/


def torchvision_downloader(class_name: str) -> Callable[..., object]:
    """torchvision.datasets.<class_name>, imported only when a download is needed
    (importing torchvision costs about 2 s, every command would pay it)."""

    def download(**kwargs) -> object:
        import torchvision.datasets

        return getattr(torchvision.datasets, class_name)(**kwargs)

    return download


DATASETS = {
    "mnist": DatasetInfo("MNIST", tuple(str(i) for i in range(10)), torchvision_downloader("MNIST")),
    "fmnist": DatasetInfo("FashionMNIST", FASHION_CLASSES, torchvision_downloader("FashionMNIST")),
    "cifar10": DatasetInfo(cifar.FOLDER, cifar.CLASSES, torchvision_downloader("CIFAR10"), (3, 32, 32), "cifar"),
}


@dataclass
class ImageDataset:
    """uint8 images (N x 1 x H x W) and int64 labels (N) for both splits."""

    name: str
    classes: tuple[str, ...]
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor


def _find(raw_dir: Path, stem: str) -> Path | None:
    for candidate in (raw_dir / stem, raw_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_files(raw_dir: Path) -> list[str]:
    stems = [stem for pair in SPLIT_FILES.values() for stem in pair]
    return [stem for stem in stems if _find(raw_dir, stem) is None]


def _download(info: DatasetInfo, root: Path, raw_dir: Path, missing: list[str]) -> None:
    try:
        for train in (True, False):  # torchvision verifies the MD5 of each file it fetches
            info.downloader(root=str(root), train=train, download=True)
    except Exception as exc:  # network errors come in many types; all mean "could not fetch"
        reason = " ".join(str(exc).split())[:200]
        raise UserError(
            f"{info.folder} files missing in {raw_dir} ({', '.join(missing)}) and the download failed "
            f"({reason}); copy the dataset files there, or point data.root / BILIN_DATA "
            "at a folder that has them"
        ) from exc


def _read_split(raw_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    image_stem, label_stem = SPLIT_FILES[split]
    images = read_idx(_find(raw_dir, image_stem))
    labels = read_idx(_find(raw_dir, label_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(
            f"{raw_dir}: {split} images {images.shape} and labels {labels.shape} do not match "
            "(expected N x H x W images and N labels)"
        )
    return torch.from_numpy(images.copy()).unsqueeze(1), torch.from_numpy(labels.astype("int64"))


def load_dataset(
    name: str, root: str | Path, download: bool = True, train_limit: int | None = None, test_limit: int | None = None
) -> ImageDataset:
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    info = DATASETS[name]
    root = Path(root).expanduser()
    cifar_layout = info.layout == "cifar"
    raw_dir = root / info.folder if cifar_layout else root / info.folder / "raw"
    find_missing = cifar.missing_files if cifar_layout else _missing_files
    missing = find_missing(raw_dir)
    if missing and download:
        _download(info, root, raw_dir, missing)
        missing = find_missing(raw_dir)
    if missing:
        gz, raw = ("", "") if cifar_layout else (" (optionally .gz)", "/raw")
        raise UserError(
            f"{info.folder} files not found: looked for {', '.join(missing)}{gz} in {raw_dir}; copy them there, "
            f"set data.root= or BILIN_DATA to a folder holding {info.folder}{raw}/, or allow data.download=true "
            "where the internet is reachable"
        )
    if cifar_layout:
        (train_x, train_y), (test_x, test_y) = (
            cifar.read_batches(raw_dir, cifar.TRAIN_FILES),
            cifar.read_batches(raw_dir, cifar.TEST_FILES),
        )
    else:
        train_x, train_y = _read_split(raw_dir, "train")
        test_x, test_y = _read_split(raw_dir, "test")
    n_classes = len(info.classes)
    for split, images, labels in (("train", train_x, train_y), ("test", test_x, test_y)):
        if len(images) == 0:
            raise UserError(f"{raw_dir}: the {split} split has no images; the files are empty or truncated")
        if len(images) != len(labels):
            raise UserError(f"{raw_dir}: {len(images)} {split} images but {len(labels)} labels; a file is damaged")
        shape = tuple(images.shape[1:])
        if shape != info.image_shape:
            raise UserError(
                f"{raw_dir}: {split} images are {' x '.join(map(str, shape))}, but {info.folder} images are "
                f"{' x '.join(map(str, info.image_shape))}; the files are another dataset"
            )
        if len(labels) and (labels.min() < 0 or labels.max() >= n_classes):
            raise UserError(f"{raw_dir}: {split} labels outside 0..{n_classes - 1}; the label file is corrupt")
    return ImageDataset(
        name=name,
        classes=info.classes,
        train_x=train_x[:train_limit],
        train_y=train_y[:train_limit],
        test_x=test_x[:test_limit],
        test_y=test_y[:test_limit],
    )

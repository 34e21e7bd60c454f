"""MNIST and Fashion-MNIST from torchvision's folder layout, `<root>/<Folder>/raw/<file>[.gz]`,
and CIFAR-10 from `<root>/cifar-10-batches-py/` (bilin/data/cifar.py).

Images stay uint8 here; the trainer moves them to the device once and scales them to [0, 1].
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from bilin.data import cifar
from bilin.data.decoded_cache import read_idx_cached
from bilin.data.roots import RootChoice, choose_root, describe_search
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
    title: str = ""  # as figures and tables name it


def torchvision_downloader(class_name: str) -> Callable[..., object]:
    """torchvision.datasets.<class_name>, imported only when a download is needed
    (importing torchvision costs about 2 s, every command would pay it)."""

    def download(**kwargs) -> object:
        import torchvision.datasets

        return getattr(torchvision.datasets, class_name)(**kwargs)

    return download


DATASETS = {
    "mnist": DatasetInfo("MNIST", tuple(str(i) for i in range(10)), torchvision_downloader("MNIST"), title="MNIST"),
    "fmnist": DatasetInfo(
        "FashionMNIST", FASHION_CLASSES, torchvision_downloader("FashionMNIST"), title="Fashion-MNIST"
    ),
    "cifar10": DatasetInfo(
        cifar.FOLDER, cifar.CLASSES, torchvision_downloader("CIFAR10"), (3, 32, 32), "cifar", title="CIFAR-10"
    ),
}


@dataclass
class ImageDataset:
    """uint8 images (N x 1 x H x W) and int64 labels (N) for both splits, and the root they came from."""

    name: str
    classes: tuple[str, ...]
    train_x: torch.Tensor
    train_y: torch.Tensor
    test_x: torch.Tensor
    test_y: torch.Tensor
    root: Path | None = None

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of the images and labels (after the limits): the model cache's key holds it, and
        run.json records it, so two runs on different data can be told apart."""
        digest = hashlib.sha256()
        for tensor in (self.train_x, self.train_y, self.test_x, self.test_y):
            digest.update(tensor.contiguous().numpy())  # the same bytes, without copying them
        return digest.hexdigest()

    def provenance(self) -> dict[str, str]:
        """What run.json records of the data: the folder read and the fingerprint."""
        return {"root": str(self.root.absolute()) if self.root else "", "sha256": self.fingerprint}


def _find(raw_dir: Path, stem: str) -> Path | None:
    for candidate in (raw_dir / stem, raw_dir / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing_files(raw_dir: Path) -> list[str]:
    stems = [stem for pair in SPLIT_FILES.values() for stem in pair]
    return [stem for stem in stems if _find(raw_dir, stem) is None]


def _download(info: DatasetInfo, choice: RootChoice, missing: list[str]) -> None:
    """torchvision's own download (MD5-checked) into the chosen root; on failure, the folders it
    made are removed again (no empty data/MNIST/raw/ left behind) and one line says what to do."""
    created = [p for p in (choice.path, *_data_folders(info, choice.path)) if not p.exists()]
    try:
        for train in (True, False):
            info.downloader(root=str(choice.path), train=train, download=True)
    except Exception as exc:  # network errors come in many types; all mean "could not fetch"
        for folder in reversed(created):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        raise UserError(
            f"{info.folder} not found: {', '.join(missing)} missing in {_files_folder(info, choice.path)} "
            f"(looked in {describe_search(choice)}) and the download failed ({download_error(exc)}); "
            f"{_how_to_fix(info)}"
        ) from exc


def _data_folders(info: DatasetInfo, root: Path) -> tuple[Path, ...]:
    """The folders under a root that hold the dataset's files (torchvision creates them)."""
    return (root / info.folder,) if info.layout == "cifar" else (root / info.folder, root / info.folder / "raw")


def _files_folder(info: DatasetInfo, root: Path) -> Path:
    return _data_folders(info, root)[-1]


def _missing_in(info: DatasetInfo, root: Path) -> list[str]:
    folder = _files_folder(info, root)
    return cifar.missing_files(folder) if info.layout == "cifar" else _missing_files(folder)


def _how_to_fix(info: DatasetInfo) -> str:
    where = info.folder if info.layout == "cifar" else f"{info.folder}/raw/"
    return f"set BILIN_DATA=<folder holding {where}> (or data.root=<folder>), or copy the files into ./data/{where}"


def download_error(exc: BaseException, limit: int = 160) -> str:
    """The cause of a failed download in a few words: torchvision's message is one paragraph per
    mirror tried; its last line is the cause (e.g. "<urlopen error [Errno -2] Name or service not
    known>"). Cut at a word, never mid-word."""
    lines = [line.strip().strip("<>") for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " ..."
    return text


def _read_split(raw_dir: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    image_stem, label_stem = SPLIT_FILES[split]
    images = read_idx_cached(_find(raw_dir, image_stem))
    labels = read_idx_cached(_find(raw_dir, label_stem))
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise UserError(
            f"{raw_dir}: {split} images {images.shape} and labels {labels.shape} do not match "
            "(expected N x H x W images and N labels)"
        )
    # the arrays own their memory (no view of a file or of a bytes object): no copy needed
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype("int64"))


def load_dataset(
    name: str,
    root: str | Path | None = None,
    download: bool = True,
    train_limit: int | None = None,
    test_limit: int | None = None,
) -> ImageDataset:
    """A dataset from `root`, or when it is None from where bilin/data/roots.py's rule finds it."""
    if name not in DATASETS:
        raise UserError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    info = DATASETS[name]
    choice = choose_root(root, lambda folder: not _missing_in(info, folder))
    raw_dir = _files_folder(info, choice.path)
    cifar_layout = info.layout == "cifar"
    missing = _missing_in(info, choice.path)
    if missing and download:
        _download(info, choice, missing)
        missing = _missing_in(info, choice.path)
    if missing:
        gz = "" if cifar_layout else " (optionally .gz)"
        raise UserError(
            f"{info.folder} files not found: looked for {', '.join(missing)}{gz} in {raw_dir} "
            f"(searched {describe_search(choice)}); {_how_to_fix(info)}, or allow data.download=true "
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
        root=choice.path,
    )

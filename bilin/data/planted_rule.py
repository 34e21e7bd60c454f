"""A planted rule (the paper's section 4.3): the images of a dataset relabelled 1 when their cosine
similarity to a fixed training image (the target t) or to its complement 1 - t exceeds a threshold,
else 0. A model trained on these labels sees only the labels; `bilin challenge` then asks whether
its weights give the rule back. With `shuffle_seed`, the same labels are permuted (train and test
each, by a generator of that seed): the control, a model with the same label balance and no rule.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import torch

from bilin.data.datasets import ImageDataset
from bilin.errors import UserError

CLASSES = ("other", "rule")  # label 0 and label 1


@dataclass(frozen=True)
class PlantedRule:
    target_index: int  # the target image: this index of the (limited) training split
    threshold: float  # label 1 when cos(x, t) > threshold or cos(x, 1 - t) > threshold
    shuffle_seed: int | None = None  # None: the rule's labels; a seed: those labels permuted

    def label(self) -> str:
        """How a model folder names the rule."""
        shuffled = "" if self.shuffle_seed is None else f"-shuffled{self.shuffle_seed}"
        return f"rule{self.target_index}-{self.threshold:g}{shuffled}"

    def target(self, dataset: ImageDataset) -> torch.Tensor:
        """The target image t, (inputs,) float64 in [0, 1]."""
        if not 0 <= self.target_index < len(dataset.train_x):
            raise UserError(
                f"target_index={self.target_index} is not a training image: {dataset.name} has "
                f"{len(dataset.train_x)} (0..{len(dataset.train_x) - 1})"
            )
        return dataset.train_x[self.target_index].flatten().double() / 255

    def similarities(self, images: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """cos(x, t) and cos(x, 1 - t) of uint8 images (N, ...): two (N,) float64 tensors."""
        x = images.flatten(1).double() / 255
        cos = torch.nn.functional.cosine_similarity
        return cos(x, target[None], dim=1), cos(x, (1 - target)[None], dim=1)

    def labels(self, images: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The rule's labels (N,) int64 of uint8 images (before any shuffle)."""
        to_target, to_complement = self.similarities(images, target)
        return ((to_target > self.threshold) | (to_complement > self.threshold)).long()

    def relabel(self, dataset: ImageDataset, with_train: bool = True) -> ImageDataset:
        """The dataset with the rule's labels (shuffled when shuffle_seed is set) and classes CLASSES.
        with_train=False: the test split only (the train split left out, empty), the same test labels;
        what reading a trained model needs, without the training images' similarities (0.9 s for
        MNIST's 60,000)."""
        target = self.target(dataset)
        train_y = self.labels(dataset.train_x, target) if with_train else dataset.train_y
        test_y = self.labels(dataset.test_x, target)
        if self.shuffle_seed is not None:
            generator = torch.Generator().manual_seed(self.shuffle_seed)
            train_y = train_y[torch.randperm(len(train_y), generator=generator)]  # drawn either way: test's follows
            test_y = test_y[torch.randperm(len(test_y), generator=generator)]
        if not with_train:
            return replace(dataset, classes=CLASSES, train_x=dataset.train_x[:0], train_y=train_y[:0], test_y=test_y)
        return replace(dataset, classes=CLASSES, train_y=train_y, test_y=test_y)

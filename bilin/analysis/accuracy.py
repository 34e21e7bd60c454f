"""Models compared on each dataset's test set: overall and per-class accuracy (docs/science.md section 3)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from bilin.train.loop import per_class_accuracy


@dataclass
class Accuracy:
    """One model on one test set: the fraction right overall, and per true class (NaN: a class without images)."""

    overall: float
    per_class: list[float]


def model_accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, n_classes: int) -> Accuracy:
    """The model's predictions on test images x (N, inputs) against their labels y (N,)."""
    with torch.no_grad():
        predicted = model(x).argmax(-1)
    return Accuracy((predicted == y).float().mean().item(), per_class_accuracy(predicted, y, n_classes).tolist())


@dataclass
class AccuracyComparison:
    """accuracies[dataset][model], datasets and models in the order they were asked for."""

    classes: dict[str, Sequence[str]] = field(default_factory=dict)  # dataset -> its class names
    accuracies: dict[str, dict[str, Accuracy]] = field(default_factory=dict)

    def add(self, dataset: str, classes: Sequence[str], model: str, accuracy: Accuracy) -> None:
        self.classes[dataset] = classes
        self.accuracies.setdefault(dataset, {})[model] = accuracy

    def tables(self) -> dict[str, list[dict]]:
        """accuracy.csv: one row per (dataset, model); per_class.csv: one per (dataset, model, class)."""
        overall, per_class = [], []
        for dataset, models in self.accuracies.items():
            for name, accuracy in models.items():
                overall.append({"model": name, "dataset": dataset, "val_acc": accuracy.overall})
                per_class += [
                    {"model": name, "dataset": dataset, "class": c, "val_acc": a}
                    for c, a in zip(self.classes[dataset], accuracy.per_class, strict=True)
                ]
        return {"accuracy.csv": overall, "per_class.csv": per_class}

    def headline(self) -> dict[str, float]:
        return {
            f"val_acc.{name}.{dataset}": accuracy.overall
            for dataset, models in self.accuracies.items()
            for name, accuracy in models.items()
        }

    def text(self, titles: dict[str, str]) -> str:
        """A table for the terminal: one line per model, one column (in %) per dataset, titled titles[dataset]."""
        models = list(dict.fromkeys(name for by_model in self.accuracies.values() for name in by_model))
        lines = ["model".ljust(16) + "".join(titles[d].rjust(15) for d in self.accuracies)]
        for name in models:
            lines.append(name.ljust(16) + "".join(f"{m[name].overall * 100:14.2f}%" for m in self.accuracies.values()))
        return "\n".join(lines)

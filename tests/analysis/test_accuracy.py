"""The accuracy comparison: one model's accuracy overall and per class, and the tables of several."""

import math

import torch

from bilin.analysis.accuracy import Accuracy, AccuracyComparison, model_accuracy


class Fixed(torch.nn.Module):
    """Predicts the given classes, whatever the input."""

    def __init__(self, predicted: list[int], classes: int = 3):
        super().__init__()
        self.logits = torch.nn.functional.one_hot(torch.tensor(predicted), classes).float()

    def forward(self, x):
        return self.logits[: len(x)]


def test_accuracy_overall_and_per_true_class():
    y = torch.tensor([0, 0, 1, 1])
    accuracy = model_accuracy(Fixed([0, 1, 1, 1]), torch.zeros(4, 2), y, n_classes=3)
    assert accuracy.overall == 0.75
    assert accuracy.per_class[:2] == [0.5, 1.0] and math.isnan(accuracy.per_class[2])  # class 2 has no images


def test_tables_and_headline_keep_the_order_asked_for():
    comparison = AccuracyComparison()
    for dataset in ("fmnist", "mnist"):
        for model, right in (("relu", 0.5), ("bilinear", 1.0)):
            comparison.add(dataset, ("a", "b"), model, Accuracy(right, [right, right]))
    tables = comparison.tables()
    assert [(r["dataset"], r["model"]) for r in tables["accuracy.csv"]] == [
        ("fmnist", "relu"),
        ("fmnist", "bilinear"),
        ("mnist", "relu"),
        ("mnist", "bilinear"),
    ]
    assert len(tables["per_class.csv"]) == 8 and tables["per_class.csv"][1]["class"] == "b"
    assert list(comparison.headline()) == [
        f"val_acc.{m}.{d}" for d in ("fmnist", "mnist") for m in ("relu", "bilinear")
    ]
    lines = comparison.text({"fmnist": "Fashion", "mnist": "MNIST"}).splitlines()
    assert lines[0].split() == ["model", "Fashion", "MNIST"]
    assert lines[1].split() == ["relu", "50.00%", "50.00%"]

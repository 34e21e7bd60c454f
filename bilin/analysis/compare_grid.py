"""`bilin compare`'s result: every pair of a grid's models (noises x sizes x seeds) by each measure of
bilin.analysis.model_compare, and how the measures rank the same pairs (Spearman and Kendall)."""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from scipy import stats as scipy_stats

from bilin.analysis.model_compare import (
    SimilarityMatrix,
    eigen_matrix,
    hidden_products,
    linear_cka_matrix,
    similarity_matrix,
    top_eigenvectors,
    weight_cosine_matrix,
)
from bilin.analysis.quadratic_moments import FormStats, InputLaw

METHODS: dict[str, str] = {  # column name -> what the figures call it
    "exact_data_centred": "exact, data law, centred",
    "exact_data": "exact, data law",
    "exact_gaussian_centred": "exact, standard Gaussian, centred",
    "exact_gaussian": "exact, standard Gaussian",
    "eigen": "top eigenvectors, mean |cos|",
    "cka": "linear CKA of hidden activations",
    "weight_cosine": "weight cosine",
}
PER_CLASS_METHODS = ("exact_data_centred", "exact_data", "exact_gaussian_centred", "exact_gaussian", "eigen")
REFERENCE = "exact_data_centred"  # the measure the others are plotted against


@dataclass(frozen=True, order=True)
class GridModel:
    """One model of the grid; the order (noise, size, seed) is the figures' and tables' order."""

    noise: float
    size: int
    seed: int

    def label(self) -> str:
        return f"n={self.noise:g} d={self.size} s={self.seed}"

    def fields(self, side: str) -> dict[str, float | int]:
        return {f"noise_{side}": self.noise, f"size_{side}": self.size, f"seed_{side}": self.seed}

    def differs(self, other: GridModel) -> str:
        """What two models differ in, e.g. "size+seed"; "same" for a model with itself."""
        names = [n for n in ("noise", "size", "seed") if getattr(self, n) != getattr(other, n)]
        return "+".join(names) or "same"


@dataclass
class ModelComparison:
    models: list[GridModel]  # in order
    classes: list[str]
    exact: dict[str, SimilarityMatrix]  # law name (data, gaussian) -> every pair
    eigen: torch.Tensor  # (models, models, classes) |cos| of the top eigenvectors
    cka: torch.Tensor  # (models, models)
    weight_cosine: torch.Tensor  # (models, models), NaN across shapes
    cka_samples: int

    def per_class(self) -> dict[str, torch.Tensor]:
        """method -> (models, models, classes), for the methods with a value per class."""
        data, gaussian = self.exact["data"], self.exact["gaussian"]
        return {
            "exact_data_centred": data.per_class_centred,
            "exact_data": data.per_class,
            "exact_gaussian_centred": gaussian.per_class_centred,
            "exact_gaussian": gaussian.per_class,
            "eigen": self.eigen,
        }

    def scores(self) -> dict[str, torch.Tensor]:
        """method -> (models, models), in METHODS' order."""
        data, gaussian = self.exact["data"], self.exact["gaussian"]
        matrices = {
            "exact_data_centred": data.overall_centred,
            "exact_data": data.overall,
            "exact_gaussian_centred": gaussian.overall_centred,
            "exact_gaussian": gaussian.overall,
            "eigen": self.eigen.mean(-1),
            "cka": self.cka,
            "weight_cosine": self.weight_cosine,
        }
        return {name: matrices[name] for name in METHODS}

    def pairs(self, diagonal: bool = True) -> list[tuple[int, int]]:
        """Index pairs (a, b), a <= b (a < b without the diagonal): each unordered pair once."""
        n = len(self.models)
        return list(
            itertools.combinations_with_replacement(range(n), 2) if diagonal else itertools.combinations(range(n), 2)
        )

    def pair_scores(self) -> dict[str, list[float]]:
        """method -> its value for each off-diagonal pair, in pairs(diagonal=False)'s order (NaN: none)."""
        pairs = self.pairs(diagonal=False)
        return {name: [float(m[a, b]) for a, b in pairs] for name, m in self.scores().items()}

    def rank_agreement(self) -> list[dict]:
        return rank_agreement(self.pair_scores())

    def headline(self) -> dict[str, float]:
        agreement = {(r["method_a"], r["method_b"]): r["spearman"] for r in self.rank_agreement()}
        headline = {
            f"spearman.{REFERENCE}.{other}": agreement[(REFERENCE, other)]
            for other in ("eigen", "cka", "weight_cosine")
            if agreement.get((REFERENCE, other)) is not None
        }
        for name, values in self.pair_scores().items():
            finite = [v for v in values if math.isfinite(v)]
            if finite:
                headline[f"mean_pair.{name}"] = sum(finite) / len(finite)
        return headline

    def tables(self) -> dict[str, list[dict]]:
        scores, per_class = self.scores(), self.per_class()
        pairs, by_class, summary = [], [], []
        for a, b in self.pairs():
            ids = self.models[a].fields("a") | self.models[b].fields("b")
            ids["differs"] = self.models[a].differs(self.models[b])
            pairs.append(ids | {name: _number(m[a, b]) for name, m in scores.items()})
            for c, name in enumerate(self.classes):
                by_class.append(ids | {"class": name} | {m: _number(v[a, b, c]) for m, v in per_class.items()})
        for differs in dict.fromkeys(row["differs"] for row in pairs):
            rows = [row for row in pairs if row["differs"] == differs]
            for name in METHODS:
                values = [row[name] for row in rows if row[name] is not None]
                if values:
                    mean = sum(values) / len(values)
                    summary.append(
                        {"differs": differs, "method": name, "pairs": len(values), "mean": mean}
                        | {"min": min(values), "max": max(values)}
                    )
        return {
            "compare_pairs.csv": pairs,
            "compare_per_class.csv": by_class,
            "compare_summary.csv": summary,
            "rank_agreement.csv": self.rank_agreement(),
        }


def _number(value: torch.Tensor | float) -> float | None:
    """A CSV cell: the value, or blank where the measure has none (NaN)."""
    value = float(value)
    return value if math.isfinite(value) else None


def rank_agreement(scores: Mapping[str, Sequence[float]]) -> list[dict]:
    """Spearman's rho and Kendall's tau-b between every two methods' scores of the same pairs, over the
    pairs both score (NaN: no score); blank when fewer than 3 such pairs or one method's scores are constant."""
    rows = []
    for first, second in itertools.combinations(scores, 2):
        both = [(x, y) for x, y in zip(scores[first], scores[second], strict=True) if math.isfinite(x + y)]
        spearman = kendall = None
        if len(both) >= 3:
            x, y = zip(*both, strict=True)
            with warnings.catch_warnings():  # a constant input: scipy warns and returns NaN, written blank
                warnings.simplefilter("ignore")
                spearman = _number(scipy_stats.spearmanr(x, y).statistic)
                kendall = _number(scipy_stats.kendalltau(x, y).statistic)
        rows.append(
            {"method_a": first, "method_b": second, "pairs": len(both), "spearman": spearman, "kendall": kendall}
        )
    return rows


def on_device(law: InputLaw, device: torch.device) -> InputLaw:
    return InputLaw(law.name, law.mean.to(device), law.cov.to(device))


def compare_models(
    models: Mapping[GridModel, torch.nn.Module], train_x: torch.Tensor, test_x: torch.Tensor, classes: Sequence[str]
) -> ModelComparison:
    """Every pair of `models` by every measure: exact under the law of train_x (N, inputs) in [0, 1] and the
    standard Gaussian, eigen, CKA over the images test_x, weight cosine."""
    order = sorted(models)
    device = next(models[order[0]].parameters()).device
    exact = {}
    for law in (InputLaw.of_data(train_x.to(device)), InputLaw.standard(train_x[0].numel())):
        law = on_device(law, device)
        exact[law.name] = _on_cpu(similarity_matrix([FormStats.of_model(models[k], law) for k in order]))
    return ModelComparison(
        models=order,
        classes=list(classes),
        exact=exact,
        eigen=eigen_matrix([top_eigenvectors(models[k]) for k in order]),
        cka=linear_cka_matrix([hidden_products(models[k], test_x) for k in order]),
        weight_cosine=weight_cosine_matrix([models[k] for k in order]),
        cka_samples=len(test_x),
    )


def _on_cpu(matrix: SimilarityMatrix) -> SimilarityMatrix:
    return SimilarityMatrix(**{name: t.cpu() for name, t in vars(matrix).items()})

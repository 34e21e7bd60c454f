"""What `bilin decompose` reads from one model: its per-class eigenvectors signed by the test images,
their spatial frequencies, and on request the input-space eigenvectors, figure 2 for both datasets
and one prediction explained (docs/science.md section 4)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

import torch

from bilin.analysis.decompose import SIGN_RULE, Eigen, Explanation, explain
from bilin.analysis.effective_rank import effective_rank_rows
from bilin.analysis.feature_spectra import TOP_FEATURES, FeatureSpectra, feature_spectra
from bilin.data import DATASETS
from bilin.errors import UserError
from bilin.running.command import TensorFile

PANEL_DATASETS = ("mnist", "fmnist")  # figure 2's two rows


@dataclass
class Decomposition:
    """eigen: the model's eigenvectors (u = E^T v), signed by orient_to_class; side: the images' side."""

    dataset: str
    eigen: Eigen
    side: int
    input_space: Eigen | None = None  # the eigenvectors of M_c = E^T Q_c E, signed the same way
    panel: Mapping[str, Eigen] | None = None  # PANEL_DATASETS -> that dataset's model's signed eigenvectors
    explanation: Explanation | None = None
    class_names: tuple[str, ...] | None = None  # the data's own (a planted rule's two); None: the dataset's

    @property
    def classes(self) -> tuple[str, ...]:
        return self.class_names or DATASETS[self.dataset].classes

    @cached_property
    def spectra(self) -> FeatureSpectra:
        return feature_spectra(self.eigen, self.side)

    def tables(self) -> dict[str, list[dict]]:
        """spectrum.csv (every eigenvalue), frequency.csv (summaries per class and rank),
        frequency_spectra.csv (the curves) and effective_rank.csv, then the optional parts' tables."""
        tables = {
            "spectrum.csv": self.eigen.spectrum_rows(self.classes),
            "frequency.csv": self.spectra.summary_rows(self.classes),
            "frequency_spectra.csv": self.spectra.spectrum_rows(self.classes),
            "effective_rank.csv": effective_rank_rows(self.eigen.values, self.classes),
        }
        if self.input_space is not None:
            tables["spectrum_input_space.csv"] = self.input_space.spectrum_rows(self.classes)
        if self.panel is not None:
            tables["panel.csv"] = [
                {"dataset": d, "class": name, "eigenvalue": float(values[c])}
                for d, (values, _) in self.panel_tops().items()
                for c, name in enumerate(DATASETS[d].classes)
            ]
        if self.explanation is not None:
            tables["explain.csv"] = self.explanation.rows(self.classes, self.eigen)
        return tables

    def panel_tops(self) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
        """Per panel dataset: the top eigenvalue of each class and its eigenvector (Eigen.top)."""
        return {d: eigen.top() for d, eigen in (self.panel or {}).items()}

    def tensors(self, source: str) -> dict[str, TensorFile]:
        """eigen.safetensors (source: where the model came from), and eigen_input_space.safetensors and
        panel.safetensors when computed."""
        layout = (
            "eigenvalues: classes x d ascending; eigenvectors: classes x d x inputs, row k = E^T v_k (input space); "
        )
        if self.eigen.constant:
            layout = (
                "model with biases, folded into the augmented input [x; 1]: eigenvalues: classes x (d + 1) "
                "ascending; eigenvectors: classes x (d + 1) x (inputs + 1), row k = E'^T v_k, its last coordinate "
                "the constant input's (logit_c = sum_k lambda_k (u_k . [x; 1])^2); "
            )
        files = {
            "eigen.safetensors": TensorFile(
                {"eigenvalues": self.eigen.values, "eigenvectors": self.eigen.vectors},
                {"source": source, "dataset": self.dataset, "layout": layout + SIGN_RULE},
            )
        }
        if self.input_space is not None:
            files["eigen_input_space.safetensors"] = TensorFile(
                {"eigenvalues": self.input_space.values, "eigenvectors": self.input_space.vectors},
                {"layout": f"as eigen.safetensors, eigenvectors of M_c = {_M(self.eigen)}; " + SIGN_RULE},
            )
        if self.panel is not None:
            files["panel.safetensors"] = TensorFile(
                {d: vectors for d, (_, vectors) in self.panel_tops().items()},
                {
                    "layout": f"per dataset: classes x {_inputs(self.eigen)}, the top positive eigenvector of each; "
                    + SIGN_RULE
                },
            )
        return files

    def headline(self) -> dict[str, float]:
        return {
            f"top{TOP_FEATURES}_centroid_cycles_per_image": float(self.spectra.top_centroid().mean()),
            "top_eigenvalue_mean": float(self.eigen.values.max(dim=1).values.mean()),
        }


def _M(eigen: Eigen) -> str:
    return "E'^T Q_c E' in [x; 1] (a model with biases)" if eigen.constant else "E^T Q_c E"


def _inputs(eigen: Eigen) -> str:
    return "(inputs + 1: the last the constant input's, a model with biases)" if eigen.constant else "inputs"


def explain_test_image(
    model: torch.nn.Module, eigen: Eigen, x: torch.Tensor, y: torch.Tensor, index: int
) -> Explanation:
    """explain() of test image `index` of x (N, inputs), labelled y[index]."""
    if not index < len(x):
        raise UserError(f"explain={index} is outside the test set (0..{len(x) - 1})")
    return explain(model, eigen, x[index], label=int(y[index]))

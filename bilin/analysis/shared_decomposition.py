"""What `bilin decompose method=hosvd|cp` reads from one model: a decomposition of its class tensor
(classes x inputs x inputs, T_c = M_c) shared across classes, the CP's reconstruction quality and
test accuracy with its top r components, and every class's effective rank (docs/science.md,
"Decompositions shared across classes")."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bilin.analysis.class_tensor import ClassTensor
from bilin.analysis.cp import CpFit, fit_cp
from bilin.analysis.cp_settings import SharedSettings
from bilin.analysis.decompose import quadratic_form
from bilin.analysis.effective_rank import effective_rank_rows
from bilin.analysis.hosvd import Hosvd, hosvd
from bilin.data import DATASETS
from bilin.running.command import TensorFile


@dataclass
class SharedDecomposition:
    """One model's HOSVD or CP (the other None); side: the images' side; spectra: (classes, k) its eigenvalues."""

    dataset: str
    side: int
    spectra: torch.Tensor
    hosvd: Hosvd | None = None
    cp: CpFit | None = None
    cp_accuracy: torch.Tensor | None = None  # (R,) with the top r components
    model_accuracy: float | None = None

    @property
    def classes(self) -> tuple[str, ...]:
        return DATASETS[self.dataset].classes

    @property
    def constant(self) -> bool:
        return (self.hosvd or self.cp).constant

    def tables(self) -> dict[str, list[dict]]:
        tables = {"effective_rank.csv": effective_rank_rows(self.spectra, self.classes)}
        if self.hosvd is not None:
            tables.update(self.hosvd.tables(self.classes))
        if self.cp is not None:
            cp = self.cp.tables(self.classes, self.cp_accuracy)
            for row in cp["cp.csv"]:
                row["model_accuracy"] = self.model_accuracy
            tables.update(cp)
        return tables

    def tensors(self, source: str) -> dict[str, TensorFile]:
        files = self.hosvd.tensors(source) if self.hosvd is not None else self.cp.tensors(source)
        for file in files.values():
            file.metadata = {**file.metadata, "dataset": self.dataset}
        return files

    def headline(self) -> dict[str, float]:
        if self.hosvd is not None:
            return {
                "hosvd_top_output_energy": float(self.hosvd.output_energy[0]),
                "hosvd_top10_input_energy": float(self.hosvd.input_energy[:10].sum()),
            }
        return {
            f"cp_cosine_r{self.cp.rank}": float(self.cp.cosine[-1]),
            f"cp_accuracy_r{self.cp.rank}": float(self.cp_accuracy[-1]),
        }


def shared_decomposition(
    model: torch.nn.Module, dataset: str, x: torch.Tensor, y: torch.Tensor, settings: SharedSettings
) -> SharedDecomposition:
    """settings.method's decomposition of the model; x (N, inputs) test images in [0, 1], y their labels."""
    tensor = ClassTensor.of_model(model)
    _, Q, _ = quadratic_form(model)
    spectra = torch.linalg.eigvalsh(Q.double().cpu())
    result = SharedDecomposition(dataset, round(x.shape[1] ** 0.5), spectra)
    if settings.method == "hosvd":
        result.hosvd = hosvd(tensor)
        return result
    result.cp = fit_cp(tensor, settings)
    inputs = x.double()
    if tensor.constant:
        inputs = torch.cat([inputs, inputs.new_ones(len(inputs), 1)], dim=1)
    result.cp_accuracy = result.cp.accuracy(inputs, y)
    with torch.no_grad():
        logits = model(x.to(next(model.parameters())))
    result.model_accuracy = float((logits.argmax(-1).cpu() == y.cpu()).float().mean())
    return result

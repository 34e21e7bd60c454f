"""HOSVD of the class tensor T (classes x inputs x inputs), for when no output directions are given
(docs/science.md, "Decompositions shared across classes").

    T = S x1 U_out x2 U_in x3 U_in,   S = T x1 U_out^T x2 U_in^T x3 U_in^T
U_out: the left singular vectors of the class-mode unfolding (classes x inputs^2), from its Gram
<T_c, T_c'>; U_in: those of the input-mode unfolding (inputs x classes inputs), the eigenvectors of
sum_c T_c^2 (T is symmetric in its two input modes: one input factor). Both work on K of
bilin.analysis.class_tensor (U_in = V W with W the eigenvectors of sum_c K_c^2): the m = rank(E)
input factors hold every bit of T, the inputs - m others none. The energies are the shares of ||T||^2
per output component (sigma_k^2) and per input component (the eigenvalues of sum_c T_c^2); each set
sums to 1.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import einsum

from bilin.analysis.class_tensor import ClassTensor
from bilin.running.command import TensorFile


@dataclass
class Hosvd:
    """output: (classes, classes) columns = output factors; inputs: (inputs, m) columns = input factors,
    both by decreasing energy; core: (classes, m, m); energies: shares of ||T||^2."""

    output: torch.Tensor
    inputs: torch.Tensor
    core: torch.Tensor
    output_energy: torch.Tensor  # (classes,)
    input_energy: torch.Tensor  # (m,)
    norm: float  # ||T||
    constant: bool

    def reconstruct(self) -> torch.Tensor:
        """(classes, inputs, inputs) S x1 U_out x2 U_in x3 U_in."""
        return einsum(self.core, self.output, self.inputs, self.inputs, "k a b, c k, i a, j b -> c i j")

    def core_energy(self) -> torch.Tensor:
        """(classes, m) share of ||T||^2 of output component k and input component i (summed over the third mode)."""
        return self.core.square().sum(-1) / self.norm**2

    def tables(self, classes: Sequence[str]) -> dict[str, list[dict]]:
        energy = [
            {"mode": mode, "component": k + 1, "energy": float(e), "cumulative": float(c)}
            for mode, shares in (("output", self.output_energy), ("input", self.input_energy))
            for k, (e, c) in enumerate(zip(shares, shares.cumsum(0), strict=True))
        ]
        factors = [
            {"class": name, "component": k + 1, "weight": float(self.output[c, k])}
            for c, name in enumerate(classes)
            for k in range(self.output.shape[1])
        ]
        core = self.core_energy()
        cells = [
            {"output_component": k + 1, "input_component": i + 1, "energy": float(core[k, i])}
            for k in range(core.shape[0])
            for i in range(core.shape[1])
        ]
        return {"hosvd_energy.csv": energy, "hosvd_output_factors.csv": factors, "hosvd_core_energy.csv": cells}

    def tensors(self, source: str) -> dict[str, TensorFile]:
        coordinates = "inputs + 1 ([x; 1], the last the constant input's)" if self.constant else "inputs"
        layout = (
            f"T (classes x n x n, n = {coordinates}) = core x1 output x2 input x3 input; output: classes x classes, "
            "column k = output factor k; input: n x m, column i = input factor i (m = rank of the embedding); "
            "core: classes x m x m; energies: shares of ||T||^2, decreasing; factors signed so their largest "
            "coordinate is > 0"
        )
        values = {
            "output": self.output,
            "input": self.inputs,
            "core": self.core,
            "output_energy": self.output_energy,
            "input_energy": self.input_energy,
        }
        return {
            "hosvd.safetensors": TensorFile(
                {k: v.float().contiguous() for k, v in values.items()}, {"source": source, "layout": layout}
            )
        }


def hosvd(tensor: ClassTensor) -> Hosvd:
    """The HOSVD of T (the module's note), float64 on the CPU."""
    K = tensor.forms
    total = K.square().sum()
    gram = einsum(K, K, "c a b, k a b -> c k")  # <T_c, T_k>
    output_power, output = _descending_eigh(gram)
    input_power, within = _descending_eigh(einsum(K, K, "c a b, c b e -> a e"))  # sum_c K_c^2
    output = output * _signs(output.mT)
    within = within * _signs(tensor.to_inputs(within.mT))  # each input factor signed in input space
    inputs = tensor.to_inputs(within.mT).mT
    core = einsum(K, output, within, within, "c a b, c k, a i, b j -> k i j")
    return Hosvd(
        output,
        inputs,
        core,
        output_power.clamp_min(0) / total,
        input_power.clamp_min(0) / total,
        float(total.sqrt()),
        tensor.constant,
    )


def _descending_eigh(matrix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    values, vectors = torch.linalg.eigh((matrix + matrix.mT) / 2)
    return values.flip(0), vectors.flip(1)


def _signs(rows: torch.Tensor) -> torch.Tensor:
    """(k,) +-1 per row of (k, n) that makes its largest-magnitude coordinate positive."""
    peak = rows.gather(-1, rows.abs().argmax(-1, keepdim=True))[:, 0]
    return torch.where(peak < 0, -1.0, 1.0).to(rows.dtype)

"""A rank-R symmetric CP decomposition of the class tensor, shared across classes
(docs/science.md, "Decompositions shared across classes"):

    T_c ~ T^_c = sum_r w_{c,r} a_r a_r^T,   ||a_r|| = 1,

fitted to maximise the cosine <T^, T> / (||T^|| ||T||). For fixed components the best weights are
the least-squares ones (T^ the projection of T on their span, per class), where the cosine is
    cos^2 = sum_c g_c^T H^-1 g_c / ||T||^2,   g_{c,r} = a_r^T T_c a_r,   H_{rs} = (a_r . a_s)^2,
so the fit maximises that over the components alone (variable projection; L-BFGS in float64 from a
seeded start, deterministic on the CPU; while fitting, a small ridge on w keeps components from
pairing up, see fit_cp). Every a_r lies in the embedding's row space (projecting on
it keeps <T^, T> and can only shrink ||T^||), so the fit runs on K of bilin.analysis.class_tensor:
m x m matrices, never inputs x inputs ones. Components are ranked by their share of the weights,
sum_c w_{c,r}^2 / sum w^2; for r = 1..R the weights of the top r are fitted again by least squares,
so the cosine with the top r can only grow with r.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from einops import einsum

from bilin.analysis.class_tensor import ClassTensor
from bilin.analysis.cp_settings import SharedSettings
from bilin.running.command import TensorFile

RIDGE = 1e-10  # least-squares refits: added to H's unit diagonal, which two components that meet leave singular


@dataclass
class CpFit:
    """components: (R, inputs) unit input-space a_r, ranked by share; weights: (classes, R) the
    least-squares w of all R; prefix_weights[r - 1]: (classes, r) those refitted for the top r;
    cosine: (R,) with the top r; steps: L-BFGS iterations run."""

    components: torch.Tensor
    weights: torch.Tensor
    share: torch.Tensor  # (R,)
    prefix_weights: list[torch.Tensor]
    cosine: torch.Tensor
    steps: int
    constant: bool

    @property
    def rank(self) -> int:
        return self.components.shape[0]

    def reconstruct(self, r: int | None = None) -> torch.Tensor:
        """(classes, inputs, inputs) T^ with the top r components (all by default)."""
        r = self.rank if r is None else r
        a = self.components[:r]
        return einsum(self.prefix_weights[r - 1], a, a, "c r, r i, r j -> c i j")

    def logits(self, x: torch.Tensor, r: int) -> torch.Tensor:
        """(batch, inputs) ([x; 1] with biases) -> (batch, classes): sum_{r' <= r} w_{c,r'} (a_r' . x)^2."""
        projections = x.to(self.components) @ self.components[:r].mT
        return projections.square() @ self.prefix_weights[r - 1].mT

    def accuracy(self, x: torch.Tensor, y: torch.Tensor, chunk: int = 2500) -> torch.Tensor:
        """(R,) test accuracy of the logits with the top r components, r = 1..R."""
        correct = torch.zeros(self.rank, dtype=torch.float64)
        for start in range(0, len(x), chunk):
            squares = (x[start : start + chunk].to(self.components) @ self.components.mT).square()
            labels = y[start : start + chunk].to(squares.device)
            for r in range(1, self.rank + 1):
                logits = squares[:, :r] @ self.prefix_weights[r - 1].mT  # = self.logits(x, r)
                correct[r - 1] += (logits.argmax(-1) == labels).sum().item()
        return correct / len(x)

    def tables(self, classes: Sequence[str], accuracy: torch.Tensor | None = None) -> dict[str, list[dict]]:
        quality = [
            {"r": r, "share": float(self.share[r - 1]), "cosine": float(self.cosine[r - 1])}
            | ({"accuracy": float(accuracy[r - 1])} if accuracy is not None else {})
            | ({"constant": float(self.components[r - 1, -1])} if self.constant else {})
            for r in range(1, self.rank + 1)
        ]
        weights = [
            {"class": name, "component": r + 1, "weight": float(self.weights[c, r])}
            for c, name in enumerate(classes)
            for r in range(self.rank)
        ]
        return {"cp.csv": quality, "cp_weights.csv": weights}

    def tensors(self, source: str) -> dict[str, TensorFile]:
        coordinates = "inputs + 1 ([x; 1], the last the constant input's)" if self.constant else "inputs"
        layout = (
            f"T_c ~ sum_r weights[c, r] a_r a_r^T; components: R x n unit a_r (n = {coordinates}), ranked by share "
            "(sum_c w_cr^2 / sum w^2), each signed so its largest coordinate is > 0; weights: classes x R "
            "(least squares, all R); cosine[r - 1]: with the top r, their weights fitted again"
        )
        values = {"components": self.components, "weights": self.weights, "share": self.share, "cosine": self.cosine}
        return {
            "cp.safetensors": TensorFile(
                {k: v.float().contiguous() for k, v in values.items()}, {"source": source, "layout": layout}
            )
        }


def least_squares(forms: torch.Tensor, b: torch.Tensor, ridge: float = RIDGE) -> tuple[torch.Tensor, torch.Tensor]:
    """(weights (classes, R), cosine * ||T||) for unit components b (R, m) of forms K (classes, m, m):
    the weights minimise ||T^ - T||^2 + ridge ||w||^2."""
    g = ((forms @ b.mT) * b.mT).sum(1)  # (classes, R): a_r^T K_c a_r
    H = (b @ b.mT).square()
    weights = torch.linalg.solve(H + ridge * torch.eye(len(b), dtype=b.dtype), g.mT).mT
    inner = (g * weights).sum()
    return weights, inner / ((weights @ H) * weights).sum().clamp_min(torch.finfo(b.dtype).tiny).sqrt()


def fit_cp(tensor: ClassTensor, settings: SharedSettings) -> CpFit:
    """The rank-R symmetric CP of T (the module's note): R = settings.rank, at most settings.cp_steps
    L-BFGS iterations from a start drawn with settings.cp_seed.

    settings.cp_ridge: while fitting, the weights minimise ||T^ - T||^2 + ridge ||w||^2 (H has a unit diagonal,
    so ridge is relative and scale-free). Without it the fit pairs nearly parallel components with
    large opposite weights (a classic CP degeneracy: their difference mimics a non-symmetric term);
    the ranked components and every reported cosine use plain least squares."""
    forms, rank, ridge = tensor.forms, settings.rank, settings.cp_ridge
    total = forms.square().sum()
    generator = torch.Generator().manual_seed(settings.cp_seed)
    raw = torch.randn(rank, forms.shape[-1], generator=generator, dtype=torch.float64).requires_grad_()
    optimiser = torch.optim.LBFGS(
        [raw], lr=1, max_iter=settings.cp_steps, history_size=20, tolerance_grad=1e-12, tolerance_change=1e-15,
        line_search_fn="strong_wolfe",
    )  # fmt: skip

    def closure() -> torch.Tensor:
        optimiser.zero_grad()
        b = raw / raw.norm(dim=1, keepdim=True)
        loss = 1 - least_squares(forms, b, ridge + RIDGE)[1] / total.sqrt()  # 1 - cosine
        loss.backward()
        return loss

    optimiser.step(closure)
    used = optimiser.state[raw].get("n_iter", 0)
    with torch.no_grad():
        b = raw / raw.norm(dim=1, keepdim=True)
    return _ranked(tensor, b, used)


def _ranked(tensor: ClassTensor, b: torch.Tensor, steps: int) -> CpFit:
    forms, total = tensor.forms, tensor.squared_norm()
    components = tensor.to_inputs(b)
    peak = components.gather(1, components.abs().argmax(1, keepdim=True))
    signs = torch.where(peak < 0, -1.0, 1.0).to(b.dtype)  # (R, 1); a_r a_r^T does not see the sign
    b, components = b * signs, components * signs
    weights, _ = least_squares(forms, b)
    share = weights.square().sum(0) / weights.square().sum().clamp_min(torch.finfo(torch.float64).tiny)
    order = share.argsort(descending=True, stable=True)
    b, components, weights, share = b[order], components[order], weights[:, order], share[order]
    prefix, cosine = [], []
    for r in range(1, len(b) + 1):
        w, explained = least_squares(forms, b[:r])
        prefix.append(w)
        cosine.append(float(explained.clamp_min(0)) / total**0.5 if total > 0 else 0.0)
    return CpFit(components, weights, share, prefix, torch.tensor(cosine, dtype=torch.float64), steps, tensor.constant)

"""The paper's single-hidden-layer MLPs (SPEC section 2). No biases anywhere.

    h = E x                       embed.weight (d x 784)
    bilinear: g = (L h) * (R h)   bilinear.weight = W (2d x d): L = W[:d], R = W[d:]
    gated:    g = act(L h) * (R h)
    relu:     g = relu(W1 h)      hidden.weight (d x d)
    logits = U g                  head.weight (10 x d)

W stays one 2d x d matrix, as in the paper (same init), so L h and R h come from one matmul;
`ElementwiseProduct` writes both halves of its gradient straight into one buffer instead of
concatenating them in the backward pass (the concatenation cost 7% of a CPU epoch).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from bilin.errors import UserError

GATE_FUNCTIONS = {"relu": nn.functional.relu, "silu": nn.functional.silu, "gelu": nn.functional.gelu}


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model; stored as model.json beside the weights."""

    kind: str  # "bilinear" | "relu"
    d_input: int
    d_hidden: int
    d_output: int
    gate: str | None = None
    input_shape: tuple[int, ...] = (1, 28, 28)
    classes: tuple[str, ...] = field(default_factory=tuple)

    def to_json(self) -> dict:
        record = asdict(self)
        record["format"] = "bilin-model/1"
        record["forward"] = FORWARD_DOC[self.kind]
        record["input"] = "images scaled to [0, 1] (uint8 / 255), flattened; no mean/std normalisation"
        return record

    @classmethod
    def from_json(cls, record: dict) -> "ModelSpec":
        try:
            return cls(
                kind=record["kind"], d_input=int(record["d_input"]), d_hidden=int(record["d_hidden"]),
                d_output=int(record["d_output"]), gate=record.get("gate"),
                input_shape=tuple(record.get("input_shape", (1, 28, 28))),
                classes=tuple(record.get("classes", ())),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"model.json is not a bilin model description: {exc!r}") from exc


FORWARD_DOC = {
    "bilinear": "h = embed.weight @ x; L, R = bilinear.weight[:d], bilinear.weight[d:]; "
    "g = act(L @ h) * (R @ h) (act = gate, or identity when gate is null); logits = head.weight @ g",
    "relu": "h = embed.weight @ x; g = relu(hidden.weight @ h); logits = head.weight @ g",
}


class ElementwiseProduct(torch.autograd.Function):
    """(batch, 2d) [L h | R h] -> (batch, d) (L h) * (R h), gradient written in place."""

    @staticmethod
    def forward(ctx, left_right: torch.Tensor) -> torch.Tensor:
        left, right = left_right.chunk(2, dim=-1)
        ctx.save_for_backward(left_right)
        return left * right

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (left_right,) = ctx.saved_tensors
        left, right = left_right.chunk(2, dim=-1)
        grad = torch.empty_like(left_right)
        grad_left, grad_right = grad.chunk(2, dim=-1)
        torch.mul(grad_output, right, out=grad_left)
        torch.mul(grad_output, left, out=grad_right)
        return grad


class BilinearMLP(nn.Module):
    def __init__(self, d_input: int, d_hidden: int, d_output: int, gate: str | None = None):
        super().__init__()
        self.embed = nn.Linear(d_input, d_hidden, bias=False)
        self.bilinear = nn.Linear(d_hidden, 2 * d_hidden, bias=False)
        self.head = nn.Linear(d_hidden, d_output, bias=False)
        self.gate = gate
        self._act = GATE_FUNCTIONS[gate] if gate else None

    @property
    def left(self) -> torch.Tensor:
        """L (d x d), the first half of W."""
        return self.bilinear.weight.chunk(2, dim=0)[0]

    @property
    def right(self) -> torch.Tensor:
        """R (d x d), the second half of W."""
        return self.bilinear.weight.chunk(2, dim=0)[1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, ...) flattened to (batch, d_input) -> logits (batch, d_output)."""
        left_right = self.bilinear(self.embed(x.flatten(1)))
        if self._act is None:
            return self.head(ElementwiseProduct.apply(left_right))
        left, right = left_right.chunk(2, dim=-1)
        return self.head(self._act(left) * right)


class ReluMLP(nn.Module):
    def __init__(self, d_input: int, d_hidden: int, d_output: int):
        super().__init__()
        self.embed = nn.Linear(d_input, d_hidden, bias=False)
        self.hidden = nn.Linear(d_hidden, d_hidden, bias=False)
        self.head = nn.Linear(d_hidden, d_output, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(nn.functional.relu(self.hidden(self.embed(x.flatten(1)))))


def build_model(spec: ModelSpec) -> nn.Module:
    """A freshly initialised model (nn.Linear's default init, from torch's global RNG)."""
    if spec.kind == "bilinear":
        if spec.gate is not None and spec.gate not in GATE_FUNCTIONS:
            raise UserError(f"unknown gate {spec.gate!r}; choose one of {', '.join(GATE_FUNCTIONS)} or none")
        return BilinearMLP(spec.d_input, spec.d_hidden, spec.d_output, spec.gate)
    if spec.kind == "relu":
        return ReluMLP(spec.d_input, spec.d_hidden, spec.d_output)
    raise UserError(f"unknown model kind {spec.kind!r}; choose bilinear or relu")

"""The paper's single-hidden-layer MLPs (docs/science.md section 2). No biases, as in the paper,
unless a bilinear MLP is built with bias=True (model.bias=true): then the bilinear layer and the head
have them (b_L, b_R = bilinear.bias[:d], [d:]; b_U = head.bias), the embedding still has none.

    h = E x                       embed.weight (d x 784)
    bilinear: g = (L h) * (R h)   bilinear.weight = W (2d x d): L = W[:d], R = W[d:]
    gated:    g = act(L h) * (R h)
    relu:     g = relu(W1 h)      hidden.weight (d x d)
    logits = U g                  head.weight (10 x d)
    with bias: g = (L h + b_L) * (R h + b_R), logits = U g + b_U

W stays one 2d x d matrix, as in the paper (same init), so L h and R h come from one matmul;
`ElementwiseProduct` writes both halves of its gradient straight into one buffer instead of
concatenating them in the backward pass (the concatenation cost 7% of a CPU epoch).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field

import torch
from einops import einsum
from torch import nn

from bilin.errors import UserError

GATE_FUNCTIONS = {"relu": nn.functional.relu, "silu": nn.functional.silu, "gelu": nn.functional.gelu}


@dataclass(frozen=True)
class ModelSpec:
    """Everything needed to rebuild a model; stored as model.json beside the weights."""

    kind: str  # "bilinear" | "relu" | "cnn"
    d_input: int
    d_hidden: int
    d_output: int
    gate: str | None = None
    input_shape: tuple[int, ...] = (1, 28, 28)
    classes: tuple[str, ...] = field(default_factory=tuple)
    decorrelate: bool = False  # cnn: whiten colours inside the model (colour_mean, colour_whiten buffers)
    bias: bool = False  # bilinear: biases on the bilinear layer and the head

    def to_json(self) -> dict:
        record = asdict(self)
        if not self.bias:  # the paper's model: model.json exactly as before biases existed
            del record["bias"]
        record["format"] = "bilin-model/1"
        record["forward"] = FORWARD_DOC[f"{self.kind}-bias" if self.bias else self.kind]
        record["input"] = "images scaled to [0, 1] (uint8 / 255), flattened; no mean/std normalisation"
        return record

    @classmethod
    def from_json(cls, record: dict) -> ModelSpec:
        try:
            return cls(
                kind=record["kind"],
                d_input=int(record["d_input"]),
                d_hidden=int(record["d_hidden"]),
                d_output=int(record["d_output"]),
                gate=record.get("gate"),
                input_shape=tuple(record.get("input_shape", (1, 28, 28))),
                classes=tuple(record.get("classes", ())),
                decorrelate=bool(record.get("decorrelate", False)),
                bias=_flag(record.get("bias", False)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise UserError(f"model.json is not a bilin model description: {exc!r}") from exc


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"bias must be true or false, not {value!r}")
    return value


FORWARD_DOC = {
    "bilinear": "h = embed.weight @ x; L, R = bilinear.weight[:d], bilinear.weight[d:]; "
    "g = act(L @ h) * (R @ h) (act = gate, or identity when gate is null); logits = head.weight @ g",
    "bilinear-bias": "h = embed.weight @ x; L, R = bilinear.weight[:d], bilinear.weight[d:]; "
    "b_L, b_R = bilinear.bias[:d], bilinear.bias[d:]; g = act(L @ h + b_L) * (R @ h + b_R) "
    "(act = gate, or identity when gate is null); logits = head.weight @ g + head.bias",
    "relu": "h = embed.weight @ x; g = relu(hidden.weight @ h); logits = head.weight @ g",
    "cnn": "x viewed as input_shape; if decorrelate: x = colour_whiten @ (x - colour_mean) per pixel; "
    "3 x [conv3x3 (features.{0,3,6}) + relu + maxpool2]; flatten; relu(hidden) ; head",
}


class ElementwiseProduct(torch.autograd.Function):
    """(batch, 2d) [L h | R h] -> (batch, d) (L h) * (R h), gradient written in place.

    In the setup_context form so that torch.func's vmap can stack several models (the trainer)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(left_right: torch.Tensor) -> torch.Tensor:
        left, right = left_right.chunk(2, dim=-1)
        return left * right

    @staticmethod
    def setup_context(ctx, inputs: tuple[torch.Tensor], output: torch.Tensor) -> None:
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad_output: torch.Tensor) -> torch.Tensor:
        (left_right,) = ctx.saved_tensors
        left, right = left_right.chunk(2, dim=-1)
        if torch._C._functorch.is_batchedtensor(grad_output):  # under vmap: no out= batching rule
            return torch.cat((grad_output * right, grad_output * left), dim=-1)
        grad = torch.empty_like(left_right)
        grad_left, grad_right = grad.chunk(2, dim=-1)
        torch.mul(grad_output, right, out=grad_left)
        torch.mul(grad_output, left, out=grad_right)
        return grad


class BilinearMLP(nn.Module):
    def __init__(self, d_input: int, d_hidden: int, d_output: int, gate: str | None = None, bias: bool = False):
        super().__init__()
        self.embed = nn.Linear(d_input, d_hidden, bias=False)
        self.bilinear = nn.Linear(d_hidden, 2 * d_hidden, bias=bias)
        self.head = nn.Linear(d_hidden, d_output, bias=bias)
        self.product = nn.Identity()  # the hidden layer g = (L h) * (R h), a named point for hooks (probes, featvis)
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
            return self.head(self.product(ElementwiseProduct.apply(left_right)))
        left, right = left_right.chunk(2, dim=-1)
        return self.head(self.product(self._act(left) * right))


class ReluMLP(nn.Module):
    def __init__(self, d_input: int, d_hidden: int, d_output: int):
        super().__init__()
        self.embed = nn.Linear(d_input, d_hidden, bias=False)
        self.hidden = nn.Linear(d_hidden, d_hidden, bias=False)
        self.activation = nn.ReLU()  # the hidden layer relu(W1 h), a named point for hooks
        self.head = nn.Linear(d_hidden, d_output, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.activation(self.hidden(self.embed(x.flatten(1)))))


class CifarCNN(nn.Module):
    """A small CNN for 32x32 colour images: three conv blocks (32, 64, 128 channels), a hidden
    layer of d_hidden units, a linear head. With decorrelate, the colours are whitened inside the
    model (buffers fitted on the training images), so it is trained on decorrelated images."""

    eval_chunk = 1000  # validation batch: conv activations of 10k images would take GBs

    def __init__(self, input_shape: tuple[int, ...], d_hidden: int, d_output: int, decorrelate: bool = False):
        super().__init__()
        channels, height, width = input_shape
        self.input_shape, self.decorrelate = tuple(input_shape), decorrelate
        blocks = []
        for c_in, c_out in ((channels, 32), (32, 64), (64, 128)):
            blocks += [nn.Conv2d(c_in, c_out, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
        self.features = nn.Sequential(*blocks)
        self.hidden = nn.Linear(128 * (height // 8) * (width // 8), d_hidden)
        self.head = nn.Linear(d_hidden, d_output)
        self.register_buffer("colour_mean", torch.zeros(channels))
        self.register_buffer("colour_whiten", torch.eye(channels))

    @torch.no_grad()
    def fit_whitening(self, images: torch.Tensor) -> None:
        """From training images (n, c, h, w) in [0, 1]: whiten = L^-1 with L L^T the colour covariance."""
        pixels = images.float().permute(1, 0, 2, 3).flatten(1)  # (c, n h w)
        self.colour_mean.copy_(pixels.mean(1))
        factor = torch.linalg.cholesky(torch.cov(pixels.double()))
        self.colour_whiten.copy_(torch.linalg.inv(factor).float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.reshape(-1, *self.input_shape)
        if self.decorrelate:
            x = einsum(self.colour_whiten, x - self.colour_mean.view(1, -1, 1, 1), "k c, n c h w -> n k h w")
        return self.head(nn.functional.relu(self.hidden(self.features(x).flatten(1))))


def build_model(spec: ModelSpec, generator: torch.Generator | None = None) -> nn.Module:
    """A freshly initialised model: PyTorch's default init, drawn from `generator` (a run's seed
    fixes it); without one, from torch's global generator."""
    model = _construct(spec)
    if generator is not None:
        initialise(model, generator)
    return model


def initialise(model: nn.Module, generator: torch.Generator) -> None:
    """nn.Linear's and nn.Conv2d's own default init (kaiming-uniform, a = sqrt(5); bias uniform in
    +-1/sqrt(fan_in)), module by module in registration order, from `generator`: the same numbers as
    that default after torch.manual_seed(seed), without touching the global generator."""
    for module in model.modules():
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=generator)
            if module.bias is not None:
                bound = 1 / math.sqrt(module.weight[0].numel())
                nn.init.uniform_(module.bias, -bound, bound, generator=generator)


def _construct(spec: ModelSpec) -> nn.Module:
    if spec.kind == "bilinear":
        if spec.gate is not None and spec.gate not in GATE_FUNCTIONS:
            raise UserError(f"unknown gate {spec.gate!r}; choose one of {', '.join(GATE_FUNCTIONS)} or none")
        return BilinearMLP(spec.d_input, spec.d_hidden, spec.d_output, spec.gate, spec.bias)
    if spec.bias:
        raise UserError(f"model.bias=true is for the bilinear MLP; model={spec.kind} does not take it")
    if spec.kind == "relu":
        return ReluMLP(spec.d_input, spec.d_hidden, spec.d_output)
    if spec.kind == "cnn":
        if len(spec.input_shape) != 3 or min(spec.input_shape[1:]) < 8:
            raise UserError(f"model=cnn needs images of at least 8 x 8 pixels, not {spec.input_shape}")
        return CifarCNN(spec.input_shape, spec.d_hidden, spec.d_output, spec.decorrelate)
    raise UserError(f"unknown model kind {spec.kind!r}; choose bilinear, relu or cnn")

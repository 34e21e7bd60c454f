"""Another bilinear MLP's state dict read as bilin's: which of its keys is the embedding, the left and right
matrices (or one stacked matrix, left rows first), the head and the biases. Pure: a state dict and a
mapping in, `BilinearWeights` out, or one line saying what does not fit.

A mapping names keys by role (docs/interop.md has a worked example):

    embed: encoder.weight            d x n_in
    left: mlp.left.weight            d x d    (or bilinear: one 2d x d matrix, L above R)
    right: mlp.right.weight          d x d
    head: classifier.weight          n_out x d
    left_bias / right_bias / bilinear_bias / head_bias   optional, 1-D
    ignore: [step, optimizer]        keys (or prefixes before a '.') that are not the model
    transposed: [embed]              roles stored as (in, out) rather than nn.Linear's (out, in)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import torch

from bilin.errors import UserError

MATRICES = ("embed", "bilinear", "left", "right", "head")
BIASES = ("bilinear_bias", "left_bias", "right_bias", "head_bias")
EXACT_TO_FLOAT32 = (torch.float32, torch.float16, torch.bfloat16)  # converted to float32 without rounding


@dataclass(frozen=True)
class KeyMapping:
    """The state dict's key of each role; None where the model has no such tensor."""

    embed: str
    head: str
    bilinear: str | None = None
    left: str | None = None
    right: str | None = None
    bilinear_bias: str | None = None
    left_bias: str | None = None
    right_bias: str | None = None
    head_bias: str | None = None
    ignore: tuple[str, ...] = ()
    transposed: tuple[str, ...] = ()

    @classmethod
    def from_record(cls, record: object, where: str) -> KeyMapping:
        """A mapping file's content (YAML or JSON), checked: known roles, names as strings, one way to give W."""
        if not isinstance(record, dict):
            raise UserError(f"{where} is not a mapping of roles to keys (embed: ..., left: ..., right: ..., head: ...)")
        known = [f.name for f in fields(cls)]
        unknown = [str(k) for k in record if k not in known]
        if unknown:
            raise UserError(f"{where}: {', '.join(unknown)} is not a role; the roles are {', '.join(known)}")
        values = {}
        for name, value in record.items():
            if name in ("ignore", "transposed"):
                value = [value] if isinstance(value, str) else value
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise UserError(f"{where}: {name} must be a list of key names")
                values[name] = tuple(value)
            elif value is not None:
                if not isinstance(value, str) or not value:
                    raise UserError(f"{where}: {name} must name a key of the state dict, not {value!r}")
                values[name] = value
        for role in ("embed", "head"):
            if role not in values:
                raise UserError(f"{where} does not name the {role} key ({role}: <key>)")
        mapping = cls(**values)
        mapping.check(where)
        return mapping

    def check(self, where: str) -> None:
        stacked, split = self.bilinear is not None, (self.left, self.right) != (None, None)
        if stacked == split or (split and None in (self.left, self.right)):
            raise UserError(f"{where}: give either bilinear: <2d x d key> or both left: and right:, not {self._ws()}")
        if self.bilinear_bias is not None and (self.left_bias, self.right_bias) != (None, None):
            raise UserError(f"{where}: give either bilinear_bias: or left_bias: and right_bias:, not both")
        if (self.left_bias is None) != (self.right_bias is None):
            raise UserError(f"{where}: left_bias: and right_bias: come together (the other is 0? give a zero tensor)")
        wrong = [r for r in self.transposed if r not in MATRICES]
        if wrong:
            raise UserError(f"{where}: transposed names roles ({', '.join(MATRICES)}), not {', '.join(wrong)}")
        roles = self.roles()
        keys = list(roles.values())
        repeated = next((k for k in keys if keys.count(k) > 1), None)
        if repeated is not None:
            raise UserError(f"{where}: the key {repeated} is given for two roles")

    def roles(self) -> dict[str, str]:
        """{role: key} of the tensors this mapping names."""
        return {n: getattr(self, n) for n in (*MATRICES, *BIASES) if getattr(self, n) is not None}

    def _ws(self) -> str:
        given = [n for n in ("bilinear", "left", "right") if getattr(self, n) is not None]
        return " and ".join(given) or "neither"


@dataclass
class BilinearWeights:
    """bilin's bilinear MLP as tensors (float32): embed (d x n_in), bilinear (2d x d: L over R), head (n_out x d),
    and the optional biases (bilinear_bias: 2d, b_L over b_R; head_bias: n_out)."""

    embed: torch.Tensor
    bilinear: torch.Tensor
    head: torch.Tensor
    bilinear_bias: torch.Tensor | None = None
    head_bias: torch.Tensor | None = None

    @property
    def bias(self) -> bool:
        return self.bilinear_bias is not None or self.head_bias is not None

    def bilin_state(self) -> dict[str, torch.Tensor]:
        """BilinearMLP's state dict, in its order; a bias the source lacks is 0 (bilin's biased model has both)."""
        d, n_out = self.embed.shape[0], self.head.shape[0]
        state = {"embed.weight": self.embed, "bilinear.weight": self.bilinear}
        if self.bias:
            state["bilinear.bias"] = self.bilinear_bias if self.bilinear_bias is not None else torch.zeros(2 * d)
        state["head.weight"] = self.head
        if self.bias:
            state["head.bias"] = self.head_bias if self.head_bias is not None else torch.zeros(n_out)
        return state


def map_state(state: Mapping[str, object], mapping: KeyMapping, where: str) -> BilinearWeights:
    """The weights `mapping` names in `state` (nested dicts are read as dotted keys), each checked: present,
    a floating tensor, finite, of a shape that fits the others; every other key must be ignored."""
    flat = flatten(state)
    roles = mapping.roles()
    missing = [f"{k} ({role})" for role, k in roles.items() if k not in flat]
    if missing:
        shown = ", ".join(list(flat)[:8]) + (", ..." if len(flat) > 8 else "")
        raise UserError(f"{where} has no key {missing[0]}; its keys: {shown or 'none'}")
    used = set(roles.values())
    extra = [k for k in flat if k not in used and not _ignored(k, mapping.ignore)]
    if extra:
        raise UserError(
            f"{where} has {len(extra)} key(s) no role names: {', '.join(extra[:5])}; map them, or list them "
            "under ignore: when they are not part of the model"
        )
    tensors = {role: _tensor(flat[k], f"{where}: {k} ({role})") for role, k in roles.items()}
    for role in mapping.transposed:
        if role in tensors:
            tensors[role] = tensors[role].T.contiguous()
    _check_shapes(tensors, roles, where)
    for pair, stacked in ((("left", "right"), "bilinear"), (("left_bias", "right_bias"), "bilinear_bias")):
        if pair[0] in tensors:
            tensors[stacked] = torch.cat([tensors.pop(pair[0]), tensors.pop(pair[1])])
    return BilinearWeights(**{k: tensors.get(k) for k in ("embed", "bilinear", "head", "bilinear_bias", "head_bias")})


def flatten(state: Mapping[str, object], prefix: str = "") -> dict[str, object]:
    """{a: {b: t}} -> {"a.b": t}: a checkpoint that keeps the model's state dict under a key."""
    flat: dict[str, object] = {}
    for name, value in state.items():
        full = f"{prefix}{name}"
        if isinstance(value, Mapping) and value and all(isinstance(k, str) for k in value):
            flat.update(flatten(value, f"{full}."))
        else:
            flat[full] = value
    return flat


def _ignored(name: str, ignore: tuple[str, ...]) -> bool:
    return any(name == i or name.startswith(f"{i}.") for i in ignore)


def _tensor(value: object, where: str) -> torch.Tensor:
    if not isinstance(value, torch.Tensor):
        raise UserError(f"{where} is a {type(value).__name__}, not a tensor")
    if value.dtype not in EXACT_TO_FLOAT32:
        raise UserError(f"{where} is {str(value.dtype).removeprefix('torch.')}; bilin reads float32 (or float16/bf16)")
    if value.dim() not in (1, 2) or value.numel() == 0:
        raise UserError(f"{where} has shape {_shape(value)}; a weight is a matrix, a bias a vector")
    value = value.detach().to("cpu", torch.float32).contiguous()
    if not torch.isfinite(value).all():
        raise UserError(f"{where} holds {int((~torch.isfinite(value)).sum())} non-finite values (NaN or inf)")
    return value


def _check_shapes(tensors: dict[str, torch.Tensor], roles: dict[str, str], where: str) -> None:
    """embed d x n_in sets d; W is 2d x d (L, R d x d each), head n_out x d, the biases 2d (d each) and n_out."""
    embed, head = tensors["embed"], tensors["head"]
    if embed.dim() != 2:
        raise UserError(f"{where}: {roles['embed']} (embed) is {_shape(embed)}, not a matrix d x n_in")
    d, n_out = embed.shape[0], head.shape[0]
    wanted = {"bilinear": (2 * d, d), "left": (d, d), "right": (d, d), "head": (n_out, d)}
    wanted |= {"bilinear_bias": (2 * d,), "left_bias": (d,), "right_bias": (d,), "head_bias": (n_out,)}
    for role, shape in wanted.items():
        if role in tensors and tuple(tensors[role].shape) != shape:
            hint = " (stored as in x out? list it under transposed:)" if role in MATRICES else ""
            raise UserError(
                f"{where}: {roles[role]} ({role}) is {_shape(tensors[role])}, but the embedding's d={d} makes it "
                f"{'x'.join(map(str, shape))}{hint}"
            )


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "a scalar"

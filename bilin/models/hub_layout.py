"""The layout the paper's authors published their MNIST models in (tdooms/bilinear-interp, image/model.py and
shared/hub.py), read as bilin's bilinear MLP and written from it. Pure: configs and state dicts in, typed
results out; bilin.models.hub_source reads the files, the commands' run folders write them.

A hub repo holds one folder per model: `{name}/config.json`, their Config as `json.dump(vars(config),
indent=2)`, and `{name}/model.safetensors`, their Model's state dict:

    embed.weight      d_hidden x d_input        bilin's embed.weight
    blocks.0.weight   2 d_hidden x d_hidden     bilin's bilinear.weight (L = first half of the rows, R = second)
    blocks.0.bias     2 d_hidden, when bias     bilin's bilinear.bias; their head has no bias, so bilin's head.bias = 0
    head.weight       d_output x d_hidden       bilin's head.weight

Their Model takes images scaled to [0, 1] and flattened, as bilin's does.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from bilin.data import DATASETS
from bilin.errors import UserError
from bilin.models.key_mapping import BilinearWeights, KeyMapping, map_state
from bilin.models.networks import ModelSpec

CONFIG = "config.json"
WEIGHTS = "model.safetensors"
# their Config's fields in its order, with the JSON types each takes (a float written as 0 is an int)
CONFIG_TYPES: dict[str, tuple[type, ...]] = {
    "lr": (float, int),
    "wd": (float, int),
    "epochs": (int,),
    "batch_size": (int,),
    "d_hidden": (int,),
    "n_layer": (int,),
    "d_input": (int,),
    "d_output": (int,),
    "bias": (bool,),
    "residual": (bool,),
    "seed": (int,),
}
TRAINING_KEYS = ("lr", "wd", "epochs", "batch_size")  # how it was trained: null when bilin does not know
AUTHORS_KEYS = KeyMapping(embed="embed.weight", bilinear="blocks.0.weight", head="head.weight")
AUTHORS_BIAS = "blocks.0.bias"


def check_config(record: object, where: str) -> dict[str, Any]:
    """Their Config as config.json holds it: every field, nothing else, each of its type; and a model bilin
    has: one bilinear block without a residual connection."""
    if not isinstance(record, dict):
        raise UserError(f"{where} is not a JSON object of the authors' Config ({', '.join(CONFIG_TYPES)})")
    missing = [k for k in CONFIG_TYPES if k not in record]
    if missing:
        raise UserError(
            f"{where} lacks {', '.join(missing)}: it is not the authors' Config ({', '.join(CONFIG_TYPES)})"
        )
    extra = [str(k) for k in record if k not in CONFIG_TYPES]
    if extra:
        raise UserError(f"{where} has {', '.join(extra)}, which the authors' Config does not")
    for name, types in CONFIG_TYPES.items():
        value = record[name]
        unknown = value is None and name in TRAINING_KEYS
        if not unknown and (isinstance(value, bool) != (bool in types) or not isinstance(value, types)):
            raise UserError(f"{where}: {name}={json.dumps(value)} is not {' or '.join(t.__name__ for t in types)}")
    small = next((k for k in ("d_hidden", "d_input", "d_output", "n_layer") if record[k] < 1), None)
    if small is not None:
        raise UserError(f"{where}: {small}={record[small]} must be at least 1")
    if record["n_layer"] != 1 or record["residual"]:
        what = f"n_layer={record['n_layer']}" if record["n_layer"] != 1 else "residual=true (x + block(x))"
        raise UserError(f"{where}: {what}; bilin's model is the single-layer bilinear MLP (n_layer=1, no residual)")
    return {k: record[k] for k in CONFIG_TYPES}


def from_authors(config: Mapping[str, Any], state: Mapping[str, object], where: str) -> BilinearWeights:
    """Their model (config checked by check_config) as bilin's weights: exactly their keys, the shapes the
    config gives, float, finite."""
    bias = AUTHORS_BIAS if config["bias"] else None
    mapping = KeyMapping(**{**AUTHORS_KEYS.__dict__, "bilinear_bias": bias})
    expected = set(mapping.roles().values())
    missing, extra = sorted(expected - set(state)), sorted(set(state) - expected)
    if missing or extra:
        said = [f"lacks {', '.join(missing)}"] if missing else []
        said += [f"has {', '.join(extra)}, which it has no place for"] if extra else []
        raise UserError(f"{where} {' and '.join(said)} (config: n_layer=1, bias={str(config['bias']).lower()})")
    weights = map_state(state, mapping, where)
    d, n_in, n_out = config["d_hidden"], config["d_input"], config["d_output"]
    found = (tuple(weights.embed.shape), tuple(weights.head.shape))
    if found != ((d, n_in), (n_out, d)):
        raise UserError(
            f"{where}: embed.weight is {'x'.join(map(str, found[0]))} and head.weight {'x'.join(map(str, found[1]))}, "
            f"but its config says d_hidden={d}, d_input={n_in}, d_output={n_out}"
        )
    return weights


def spec_for(weights: BilinearWeights, dataset: str) -> ModelSpec:
    """bilin's spec of these weights as a model of `dataset` (its image shape and classes), which they must fit."""
    info = DATASETS[dataset]
    pixels, n_in, n_out = math.prod(info.image_shape), weights.embed.shape[1], weights.head.shape[0]
    if n_in != pixels or n_out != len(info.classes):
        shape = " x ".join(map(str, info.image_shape))
        raise UserError(
            f"the model reads {n_in} inputs into {n_out} classes; data={dataset} has {shape} = {pixels} pixels and "
            f"{len(info.classes)} classes (the authors' MNIST models: d_input=784, d_output=10)"
        )
    d = weights.embed.shape[0]
    return ModelSpec("bilinear", n_in, d, n_out, None, info.image_shape, info.classes, bias=weights.bias)


def weights_of(spec: ModelSpec, state: Mapping[str, torch.Tensor]) -> BilinearWeights:
    """A bilin model's weights, or one line saying why the authors' layout cannot hold it."""
    if spec.kind != "bilinear" or spec.gate is not None:
        kind = f"a {spec.kind} model" if spec.kind != "bilinear" else f"a gated bilinear model (gate={spec.gate})"
        raise UserError(f"it is {kind}; the authors' layout holds only the ungated bilinear MLP")
    optional = {name: state[name].float() for name in ("bilinear.bias", "head.bias") if name in state}
    return BilinearWeights(
        state["embed.weight"].float(), state["bilinear.weight"].float(), state["head.weight"].float(),
        optional.get("bilinear.bias"), optional.get("head.bias"),
    )  # fmt: skip


@dataclass
class AuthorsModel:
    """One model in the authors' layout: config.json's record and model.safetensors' tensors."""

    config: dict[str, Any]
    tensors: dict[str, torch.Tensor]

    def config_text(self) -> str:
        return json.dumps(self.config, indent=2)  # as their json.dump(vars(config), f, indent=2)


def to_authors(weights: BilinearWeights, training: Mapping[str, Any], seed: int) -> AuthorsModel:
    """The weights in the authors' layout; `training` gives lr, wd, epochs and batch_size where known (else null)."""
    if weights.head_bias is not None and bool(weights.head_bias.ne(0).any()):
        raise UserError(
            "its head has a nonzero bias; the authors' model has none (only the bilinear block has biases), "
            "so its logits would change"
        )
    d, n_in = weights.embed.shape
    config = {k: training.get(k) for k in TRAINING_KEYS} | {"d_hidden": d, "n_layer": 1, "d_input": n_in}
    config |= {"d_output": weights.head.shape[0], "bias": weights.bilinear_bias is not None, "residual": False}
    config["seed"] = seed
    tensors = {"embed.weight": weights.embed, "blocks.0.weight": weights.bilinear}
    if weights.bilinear_bias is not None:
        tensors[AUTHORS_BIAS] = weights.bilinear_bias
    tensors["head.weight"] = weights.head
    return AuthorsModel({k: config[k] for k in CONFIG_TYPES}, {k: t.contiguous() for k, t in tensors.items()})

"""The authors' MNIST model as their code lays it out (tdooms/bilinear-interp, image/model.py), written here from
its description: Model(embed, blocks = [one Bilinear], head) with their key names, and a hub folder made the way
their push_to_hub makes one (json.dump(vars(config), indent=2) + safetensors' save_model)."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import save_model
from torch import nn
from torch.nn.functional import linear

CONFIG_FIELDS = ("lr", "wd", "epochs", "batch_size", "d_hidden", "n_layer", "d_input", "d_output", "bias", "residual")


class AuthorsModel(nn.Module):
    """embed (no bias) -> blocks.0 (2d x d, its bias when config.bias) chunked into left * right -> head (no bias)."""

    def __init__(self, config: dict):
        super().__init__()
        torch.manual_seed(config["seed"])
        d = config["d_hidden"]
        self.embed = nn.Linear(config["d_input"], d, bias=False)
        self.blocks = nn.ModuleList([nn.Linear(d, 2 * d, bias=config["bias"])])
        self.head = nn.Linear(d, config["d_output"], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        left, right = self.blocks[0](self.embed(x.flatten(start_dim=1))).chunk(2, dim=-1)
        return self.head(left * right)


def authors_config(d_hidden: int = 8, bias: bool = False, seed: int = 42, **changes) -> dict:
    """vars(Config(...)) in their field order, with their defaults (lr 1e-3, wd 0.5, ...) and n_layer=1."""
    config = {"lr": 1e-3, "wd": 0.5, "epochs": 100, "batch_size": 2048, "d_hidden": d_hidden, "n_layer": 1}
    config |= {"d_input": 784, "d_output": 10, "bias": bias, "residual": False, "seed": seed}
    return config | changes


def write_authors_model(repo: Path, name: str, config: dict, model: nn.Module | None = None) -> AuthorsModel:
    """`repo/name/config.json` + `repo/name/model.safetensors`, as their push_to_hub writes them (before uploading)."""
    folder = repo / name
    folder.mkdir(parents=True, exist_ok=True)
    model = model or AuthorsModel(config)
    with (folder / "config.json").open("w") as f:
        json.dump(config, f, indent=2)
    save_model(model, str(folder / "model.safetensors"))
    return model


def reference_logits(state: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Their forward from the formula: h = E x; left, right = (W h + b).chunk(2); logits = U (left * right)."""
    h = linear(x.flatten(1), state["embed.weight"])
    left, right = linear(h, state["blocks.0.weight"], state.get("blocks.0.bias")).chunk(2, dim=-1)
    return linear(left * right, state["head.weight"])

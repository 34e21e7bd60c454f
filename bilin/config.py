"""Typed schema of the `train` config and the range checks Hydra's types cannot express.

The dataclasses are registered in Hydra's ConfigStore as the base of configs/train.yaml, so
a wrong type (`seed=abc`) or an unknown key fails at composition time; `check_train_config`
covers value ranges and choices.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig

from bilin.errors import UserError

MODEL_NAMES = ("bilinear", "relu")
GATES = (None, "relu", "silu", "gelu")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "tf32", "bf16")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


@dataclass
class ModelConfig:
    name: str = MISSING
    gate: Optional[str] = None


@dataclass
class DataConfig:
    name: str = MISSING
    root: str = "${oc.env:BILIN_DATA,data}"
    download: bool = True
    train_limit: Optional[int] = None  # use the first N training images (smoke runs)
    test_limit: Optional[int] = None


@dataclass
class TrainConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    noise: float = 0.5
    d_hidden: int = 512
    seed: int = 420
    epochs: int = 100
    lr: float = 1e-3
    wd: float = 1.0
    batch_size: int = 2048
    device: str = "auto"
    precision: str = "fp32"
    compile: str = "none"
    quiet: bool = False
    checkpoint_every: int = 10
    resume: Optional[str] = None
    outputs_root: str = "outputs"


def register_schemas() -> None:
    ConfigStore.instance().store(name="train_schema", node=TrainConfig)


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise UserError(message)


def check_train_config(cfg: DictConfig | Any) -> None:
    """Raise UserError naming the first out-of-range or unknown value."""
    _require(cfg.model.name in MODEL_NAMES, f"model.name={cfg.model.name!r} is not one of {MODEL_NAMES}")
    _require(cfg.model.gate in GATES, f"model.gate={cfg.model.gate!r} is not one of {GATES}")
    _require(cfg.noise >= 0, f"noise={cfg.noise} must be >= 0")
    _require(cfg.d_hidden >= 1, f"d_hidden={cfg.d_hidden} must be >= 1")
    _require(cfg.epochs >= 1, f"epochs={cfg.epochs} must be >= 1")
    _require(cfg.batch_size >= 1, f"batch_size={cfg.batch_size} must be >= 1")
    _require(cfg.lr > 0, f"lr={cfg.lr} must be > 0")
    _require(cfg.wd >= 0, f"wd={cfg.wd} must be >= 0")
    _require(cfg.checkpoint_every >= 0, f"checkpoint_every={cfg.checkpoint_every} must be >= 0")
    _require(cfg.device in DEVICES, f"device={cfg.device!r} is not one of {DEVICES}")
    _require(cfg.precision in PRECISIONS, f"precision={cfg.precision!r} is not one of {PRECISIONS}")
    _require(cfg.compile in COMPILE_MODES, f"compile={cfg.compile!r} is not one of {COMPILE_MODES}")
    for key in ("train_limit", "test_limit"):
        limit = cfg.data[key]
        _require(limit is None or limit >= 1, f"data.{key}={limit} must be >= 1")

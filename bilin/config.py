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

MODEL_NAMES = ("bilinear", "relu", "cnn")
GATES = (None, "relu", "silu", "gelu")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("fp32", "tf32", "bf16")
COMPILE_MODES = ("none", "default", "reduce-overhead", "max-autotune")


@dataclass
class ModelConfig:
    name: str = MISSING
    gate: Optional[str] = None
    decorrelate: bool = False  # cnn: train on colour-whitened images (whitening stored in the model)


@dataclass
class DataConfig:
    name: str = MISSING
    root: str = "${oc.env:BILIN_DATA,data}"
    download: bool = True
    train_limit: Optional[int] = None  # use the first N training images (smoke runs)
    test_limit: Optional[int] = None


@dataclass
class RunOptions:
    """Keys every command has: where it runs, how much it prints, where it writes."""

    device: str = "auto"
    quiet: bool = False
    outputs_root: str = "outputs"


@dataclass
class CommonConfig(RunOptions):
    """Keys the training-based commands share: what to train and how."""

    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    noise: float = 0.5
    epochs: int = 100
    lr: float = 1e-3
    wd: float = 1.0
    batch_size: int = 2048
    precision: str = "fp32"


@dataclass
class TrainConfig(CommonConfig):
    d_hidden: int = 512
    seed: int = 420
    compile: str = "none"
    cuda_graph: bool = True
    checkpoint_every: int = 10
    resume: Optional[str] = None


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


# -- analysis commands ------------------------------------------------------------------------
@dataclass
class RecipeConfig(CommonConfig):
    """Analysis commands: models come from the cache, trained with these keys when missing."""

    cache_root: str = "${outputs_root}/cache"


@dataclass
class DecomposeConfig(RecipeConfig):
    run: Optional[str] = None  # a train run folder; else the model comes from the cache
    d_hidden: int = 512
    seed: int = 420
    input_space: bool = False  # also the eigenvectors of M_c = E^T Q_c E
    explain: Optional[int] = None  # test-set index for the single-input explanation figure
    panel: bool = False  # also the two-dataset (MNIST + Fashion-MNIST) figure 2 panel


@dataclass
class GridConfig(RecipeConfig):
    sizes: list[int] = field(default_factory=lambda: [30, 50, 100, 300, 500, 1000])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3, 4])
    k_max: int = 30  # truncate: k = 0..k_max
    ranks: int = 20  # similarity: eigenvectors per class compared
    order: str = "top"  # similarity: top | bottom | abs
    reference_size: int = 300  # similarity figure A compares every size with this one


@dataclass
class NoiseSweepConfig(RecipeConfig):
    noises: list[float] = field(default_factory=lambda: [0.0, 0.2, 0.4, 0.6, 0.8])
    datasets: list[str] = field(default_factory=lambda: ["mnist", "fmnist"])
    d_hidden: int = 512
    seed: int = 420
    target_class: int = 0  # digit 0 / t-shirt


@dataclass
class AccuracyConfig(RecipeConfig):
    models: list[str] = field(default_factory=lambda: ["bilinear", "bilinear_relu", "relu"])
    datasets: list[str] = field(default_factory=lambda: ["mnist", "fmnist"])
    d_hidden: int = 512
    seed: int = 420


@dataclass
class FeatvisConfig(RunOptions):
    """`bilin featvis`: the model is a bilin run (run=) or a torchvision one (net=tv:<name>)."""

    run: Optional[str] = None
    net: Optional[str] = None  # tv:<torchvision model name> (model= is the train config group)
    weights: str = "imagenet"  # torchvision models: imagenet | none | <state dict file>
    size: int = 224  # torchvision models: input height = width
    target: list[str] = field(default_factory=lambda: ["class:all"])
    steps: int = 512
    lr: float = 0.05
    optimizer: str = "adam"
    init: str = "noise"
    images_per_target: int = 1
    seed: int = 0
    mode: str = "free"  # free | sphere
    radius: float = 10.0  # mode=sphere: ||x|| = radius
    robustness: bool = True
    fourier: bool = True
    decorrelate: bool = True
    diversity: float = 0.0
    diversity_layer: Optional[str] = None
    l2: float = 0.0
    blur_every: int = 0
    blur_sigma: float = 0.5
    redirect_relu_steps: int = 16
    squash: str = "auto"
    colour_data: str = "auto"
    ladder: bool = False
    frames_every: int = 0
    data_root: str = "${oc.env:BILIN_DATA,data}"


@dataclass
class CsfConfig(RunOptions):
    """`bilin probe-csf`: a frozen extractor (torchvision net=tv:<name> or a bilin run=) and a linear probe."""

    run: Optional[str] = None
    net: Optional[str] = None  # null: tv:resnet50, unless run= is given
    weights: str = "imagenet"
    layer: str = "layer2"
    layers: list[str] = field(default_factory=list)  # a sweep: one CSF per layer in one figure
    size: int = 224
    pool: Optional[int] = None  # adaptive average pooling of the features to pool x pool
    pairs: int = 1000  # training pairs per epoch
    epochs: int = 10
    batch_size: int = 32
    lr: float = 0.1
    sfs: list[float] = field(default_factory=list)  # cycles/image; empty: divisors of size up to size/2
    trials: int = 26  # per tested contrast (13 orientations x 2 phases)
    max_steps: int = 20
    bootstrap: int = 200
    eval_batch: int = 256
    human_reference: bool = True
    seed: int = 0


ANALYSIS_SCHEMAS = {"decompose": DecomposeConfig, "grid": GridConfig, "noise_sweep": NoiseSweepConfig,
                    "accuracy": AccuracyConfig, "featvis": FeatvisConfig, "probe_csf": CsfConfig}


def check_csf_config(cfg: DictConfig | Any) -> None:
    _require(cfg.run is None or cfg.net is None, "give run=<bilin run> or net=tv:<torchvision model>, not both")
    _require(cfg.net is None or str(cfg.net).startswith("tv:"), f"net={cfg.net!r}: use net=tv:<torchvision model name>")
    for key in ("size", "pairs", "epochs", "batch_size", "trials", "max_steps", "bootstrap", "eval_batch"):
        _require(cfg[key] >= 1, f"{key}={cfg[key]} must be >= 1")
    _require(cfg.lr > 0, f"lr={cfg.lr} must be > 0")
    _require(cfg.pool is None or cfg.pool >= 1, f"pool={cfg.pool} must be >= 1 (or null)")
    _require(cfg.device in DEVICES, f"device={cfg.device!r} is not one of {DEVICES}")


def check_featvis_config(cfg: DictConfig | Any) -> None:
    _require((cfg.run is None) != (cfg.net is None),
             "give exactly one of run=<train run or cache folder> and net=tv:<torchvision model>")
    _require(cfg.net is None or str(cfg.net).startswith("tv:"),
             f"net={cfg.net!r}: featvis takes torchvision models as net=tv:<name>, bilin models as run=<dir>")
    _require(cfg.steps >= 1, f"steps={cfg.steps} must be >= 1")
    _require(cfg.lr > 0, f"lr={cfg.lr} must be > 0")
    _require(cfg.images_per_target >= 1, f"images_per_target={cfg.images_per_target} must be >= 1")
    _require(cfg.size >= 8, f"size={cfg.size} must be >= 8")
    _require(cfg.radius > 0, f"radius={cfg.radius} must be > 0")
    _require(cfg.optimizer in ("adam", "sgd"), f"optimizer={cfg.optimizer!r} is not one of ('adam', 'sgd')")
    _require(cfg.init in ("noise", "grey"), f"init={cfg.init!r} is not one of ('noise', 'grey')")
    _require(cfg.mode in ("free", "sphere"), f"mode={cfg.mode!r} is not one of ('free', 'sphere')")
    _require(cfg.squash in ("auto", "sigmoid", "none"), f"squash={cfg.squash!r} is not one of ('auto', 'sigmoid', 'none')")
    _require(cfg.diversity >= 0 and cfg.l2 >= 0, "diversity and l2 must be >= 0")
    _require(cfg.blur_every >= 0 and cfg.blur_sigma > 0, "blur_every must be >= 0 and blur_sigma > 0")
    _require(cfg.redirect_relu_steps >= 0 and cfg.frames_every >= 0, "redirect_relu_steps and frames_every must be >= 0")
    _require(cfg.device in DEVICES, f"device={cfg.device!r} is not one of {DEVICES}")


def register_analysis_schemas() -> None:
    for name, node in ANALYSIS_SCHEMAS.items():
        ConfigStore.instance().store(name=f"{name}_schema", node=node)


def check_recipe_config(cfg: DictConfig | Any) -> None:
    _require(cfg.noise >= 0, f"noise={cfg.noise} must be >= 0")
    _require(cfg.epochs >= 1, f"epochs={cfg.epochs} must be >= 1")
    _require(cfg.batch_size >= 1, f"batch_size={cfg.batch_size} must be >= 1")
    _require(cfg.lr > 0, f"lr={cfg.lr} must be > 0")
    _require(cfg.device in DEVICES, f"device={cfg.device!r} is not one of {DEVICES}")
    _require(cfg.precision in ("fp32", "bf16"), f"precision={cfg.precision!r}: the model cache trains fp32 or bf16")
    for key in ("d_hidden",):
        if key in cfg:
            _require(cfg[key] >= 1, f"{key}={cfg[key]} must be >= 1")
    if "sizes" in cfg:
        _require(len(cfg.sizes) > 0 and len(cfg.seeds) > 0, "the grid is empty: give at least one size and one seed")
        _require(all(s >= 1 for s in cfg.sizes), f"sizes={list(cfg.sizes)} must all be >= 1")
        _require(cfg.k_max >= 0, f"k_max={cfg.k_max} must be >= 0")
        _require(cfg.ranks >= 1, f"ranks={cfg.ranks} must be >= 1")
    if "noises" in cfg:
        _require(len(cfg.noises) > 0 and all(n >= 0 for n in cfg.noises), "noises must be a non-empty list of stds >= 0")

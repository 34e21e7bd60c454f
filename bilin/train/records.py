"""The plain records of training: its settings, a model's own seed, noise and augmentations, an epoch's
metrics, a stop request and a fit's result.

The settings are written here once, as schema fields (default, help, range): the commands' schemas
inherit them (bilin.settings.options.RecipeOptions, `bilin train`'s TrainConfig), so the Trainer takes a
command's config itself."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

from bilin.errors import Interrupted, UserError
from bilin.settings.schema import info, key, seed_key

Precision = Literal["fp32", "tf32", "bf16", "auto"]
CompileMode = Literal["none", "default", "reduce-overhead", "max-autotune"]
MODEL_SEED = 420  # the seed of a single model (train, accuracy, decompose, noise-sweep)


def model_seed_key() -> Any:
    """The seed of the one model a command trains or reads."""
    return seed_key(MODEL_SEED, "fixes init, data order and noise")


@dataclass
class TrainingSettings:
    """How a model is trained: the paper's recipe (docs/science.md section 3), every command's that trains."""

    noise: float = key(0.5, "std of the Gaussian noise added to each training batch (no clamp)", ge=0)
    epochs: int = key(100, "epochs (AdamW, cosine-annealed to 0)", ge=1)
    lr: float = key(1e-3, "AdamW learning rate", gt=0)
    wd: float = key(1.0, "AdamW weight decay", ge=0)
    batch_size: int = key(2048, "batch size (the last partial batch is dropped)", ge=1)
    precision: Precision = key(
        "fp32", "tf32: CUDA matmuls in TF32; bf16: autocast; auto: bf16 where the hardware has native bf16, else fp32"
    )


@dataclass
class HParams(TrainingSettings):
    """What the Trainer takes: the settings, the one model's seed, and how its steps run (precision
    is resolved by then: auto is fp32 or bf16)."""

    seed: int = model_seed_key()
    compile: CompileMode = key("none", "a torch.compile mode")
    cuda_graph: bool = key(True, "on CUDA with compile=none: replay each training step as one CUDA graph")


@dataclass(frozen=True)
class Augmentation:
    """The strengths of the augmentations applied to each training batch (bilin.train.augment), in the
    order applied, before the Gaussian input noise; 0 is off (every one is off by default)."""

    rotate: float = key(0.0, "rotation: each image by an angle drawn uniformly in ±rotate degrees", ge=0, le=180)
    translate: float = key(
        0.0, "translation: each image shifted by up to ±translate of its side along each axis", ge=0, le=0.5
    )
    blur: float = key(0.0, "Gaussian blur: its sigma in pixels, the same for every image", ge=0, le=5)
    salt_pepper: float = key(
        0.0, "salt-and-pepper: each pixel set to 0 or 1 (even odds) with this probability", ge=0, le=1
    )

    def __post_init__(self) -> None:  # floats, so that a recipe's key is the same for 1 and 1.0
        for f in fields(self):
            object.__setattr__(self, f.name, float(getattr(self, f.name)))

    @property
    def active(self) -> bool:
        return self != Augmentation()

    def label(self) -> str:
        """The strengths that are on, for a folder name: "rotate30-blur1" ("" when none is)."""
        return "-".join(
            f"{f.name.replace('_', '')}{getattr(self, f.name):g}" for f in fields(self) if getattr(self, f.name)
        )


AUGMENTATIONS = ("noise", *(f.name for f in fields(Augmentation)))  # what a grid's axis may be
AugmentationName = Literal[AUGMENTATIONS]  # type: ignore[valid-type]


def check_strengths(name: str, values: list[float]) -> None:
    """`name` is an augmentation (or the input noise) and every value a finite strength in its range."""
    if name not in AUGMENTATIONS:
        raise UserError(f"unknown augmentation {name!r}; one of {', '.join(AUGMENTATIONS)}")
    record = TrainingSettings if name == "noise" else Augmentation
    meta = info(next(f for f in fields(record) if f.name == name))
    for value in values:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise UserError(f"{name}={value!r} is not a finite number")
        if (meta.ge is not None and value < meta.ge) or (meta.le is not None and value > meta.le):
            high = "∞" if meta.le is None else f"{meta.le:g}"
            raise UserError(f"{name}={value:g} is outside its range [{meta.ge:g}, {high}]")


@dataclass(frozen=True)
class Member:
    """What differs between models trained together: each one's seed (init, batch order, noise and
    augmentation streams), its input-noise std and its augmentations."""

    seed: int
    noise: float
    augment: Augmentation = Augmentation()


@dataclass
class EpochMetrics:
    epoch: int
    train_loss: float
    train_acc: float
    val_loss: float
    val_acc: float
    seconds: float


@dataclass
class History:
    """A model's metrics so far: metrics.csv, one row per epoch (written after each: a running job can be followed)."""

    metrics: list[EpochMetrics]

    def tables(self) -> dict[str, list[dict[str, Any]]]:
        return {"metrics.csv": self.rows()}

    def rows(self) -> list[dict[str, Any]]:
        return [asdict(m) for m in self.metrics]

    def record(self) -> dict[str, Any]:
        """What run.json says of it: the epochs completed, the seconds they took, the last one's numbers."""
        done = {"epochs_completed": len(self.metrics), "train_seconds": sum(m.seconds for m in self.metrics)}
        if not self.metrics:
            return done
        last = self.metrics[-1]
        return done | {"final": {k: getattr(last, k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")}}

    def headline(self) -> dict[str, float]:
        return {"val_acc": self.metrics[-1].val_acc, "val_loss": self.metrics[-1].val_loss} if self.metrics else {}


@dataclass
class StopRequest:
    """Set by a signal handler; the loop polls it between steps (a Python bool, no sync)."""

    reason: str | None = None  # the signal's name
    message: str = ""

    def raise_if_set(self) -> None:
        if self.reason is not None:
            raise Interrupted(self.message or f"stopped by {self.reason}", self.reason)


@dataclass
class FitResult:
    status: str  # complete | interrupted | diverged
    metrics: list[EpochMetrics]
    checkpoint: dict  # state at the last good completed epoch
    message: str = ""
    stop_reason: str | None = None  # the signal's name when interrupted

"""featvis's settings records: how to optimise (`Settings`) and which tricks are on (`Tricks`).

Each field's default, help and range are written here once; `bilin featvis`'s schema inherits both
records (its keys stay flat: steps=, param=, ...), so `render` receives the command's config itself.
A caller that wants a trick off names it: the defaults are the command's, which switch most tricks on.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal, TypeVar, get_args

from bilin.settings.schema import key, seed_key

Optimizer = Literal["adam", "sgd"]
Init = Literal["noise", "grey"]
Mode = Literal["free", "sphere"]
Param = Literal["pixel", "fourier", "maco"]
Squash = Literal["auto", "sigmoid", "clip", "none"]
PARAMS: tuple[str, ...] = get_args(Param)
SQUASH: tuple[str, ...] = get_args(Squash)


@dataclass
class Settings:
    """How the images are optimised."""

    steps: int = key(512, "optimisation steps", ge=1)
    lr: float = key(0.05, "learning rate", gt=0)
    optimizer: Optimizer = key("adam", "sgd has momentum 0.9")
    init: Init = key("noise", "noise: N(0, 0.1); grey: 0.5 +- 0.005")
    images_per_target: int = key(1, "images optimised per target", ge=1)
    seed: int = seed_key(0, "fixes the start images and the random transforms")
    mode: Mode = key("free", "sphere: x = radius * p / ||p||, pixels only (the eigenvector oracle)")
    radius: float = key(10.0, "mode=sphere: the norm of the image", gt=0)
    diversity_layer: str | None = key(None, "layer whose Gram matrices it compares (default: last spatial layer)")
    frames_every: int = key(0, "keep the images every N steps for an animation (0: off)", ge=0)


@dataclass
class Tricks:
    """Which tricks are on. `param` is what the optimiser moves: pixel | fourier (the 1/f-scaled
    spectrum) | maco (the phase of a spectrum whose magnitude is fixed)."""

    robustness: bool = key(True, "pad 3, jitter +-3 px, rotate +-5 deg, scale 0.95-1.05 inside the forward")
    param: Param = key(
        "fourier", "what is optimised: pixel | fourier (the 1/f-scaled spectrum) | maco (the phase; magnitude fixed)"
    )
    decorrelate: bool = key(True, "colour images: optimise in the data's decorrelated colour basis")
    diversity: float = key(
        0.0, "weight of the diversity term, relative to the mean activation (images_per_target > 1)", ge=0
    )
    l2: float = key(0.0, "weight of the squared distance of the image from grey", ge=0)
    blur_every: int = key(0, "blur the parameters every N steps (0: never)", ge=0)
    blur_sigma: float = key(0.5, "blur width in pixels", gt=0)
    redirect_relu_steps: int = key(16, "redirected relu gradients for the first N steps (rescues dead targets)", ge=0)
    squash: Squash = key(
        "auto", "keep images in the data's range: auto (sigmoid; clip for maco) | sigmoid | clip | none (free)"
    )

    @property
    def range_mapping(self) -> str:
        """How the image is kept in the data's range: sigmoid, clip or none."""
        if self.squash != "auto":
            return self.squash
        return "clip" if self.param == "maco" else "sigmoid"


Record = TypeVar("Record", Settings, Tricks)


def narrowed(record: type[Record], source: Settings | Tricks) -> Record:
    """The `record` part of `source` (e.g. a command's config, which inherits it) as a record of its own."""
    return record(**{f.name: getattr(source, f.name) for f in fields(record)})

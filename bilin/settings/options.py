"""Config blocks that several commands share: the model and data groups, run options, the recipe.

Each command's own schema (in its module under bilin/commands/) builds on these. Defaults are written
here once; the yaml under bilin/configs/ holds only config-group options and presets.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args

from bilin.errors import UserError
from bilin.settings.schema import UNSET, group, key, rekey, seed_key
from bilin.trackers.settings import TrackerSettings
from bilin.train.records import Precision, TrainingSettings

if TYPE_CHECKING:
    from bilin.train.recipe import Recipe

Device = Literal["auto", "cpu", "cuda"]
CachePrecision = Literal[tuple(p for p in get_args(Precision) if p != "tf32")]  # type: ignore[valid-type]
GreyDataset = Literal["mnist", "fmnist"]
Gate = Literal["relu", "silu", "gelu"]


@dataclass
class ModelConfig:
    name: Literal["bilinear", "relu", "cnn"] = key(UNSET, "architecture (set by model=)")
    gate: Gate | None = key(None, "bilinear gate: g = gate(L h) * (R h); null is the pure bilinear layer")
    decorrelate: bool = key(False, "cnn: train on colour-whitened images (the whitening is stored in the model)")
    bias: bool = key(
        False,
        "bilinear: biases on the bilinear layer and the head, g = (L h + b_L) * (R h + b_R), logits = U g + b_U "
        "(false: the paper's model); the eigendecomposition folds them in exactly, in the augmented input [x; 1]",
    )


# The MLP options of the `model=` group (model=cnn, which brings its own recipe, is configs/model/cnn.yaml).
MLP_MODELS = {
    "bilinear": ModelConfig("bilinear"),  # g = (L h) * (R h): the model the eigendecomposition applies to
    "bilinear_bias": ModelConfig("bilinear", bias=True),  # the same with biases (model=bilinear model.bias=true)
    "bilinear_relu": ModelConfig("bilinear", "relu"),  # g = relu(L h) * (R h)
    "bilinear_silu": ModelConfig("bilinear", "silu"),  # SwiGLU-style
    "bilinear_gelu": ModelConfig("bilinear", "gelu"),  # GeGLU-style
    "relu": ModelConfig("relu"),  # g = relu(W1 h), the baseline
}
MlpModel = Literal[tuple(MLP_MODELS)]  # type: ignore[valid-type]  # the registry's names
OUTPUTS_ROOT = "outputs"  # where runs go, relative to the working folder
CACHE_FOLDER = "cache"  # the model cache, under the outputs root
DEFAULT_CACHE_ROOT = f"{OUTPUTS_ROOT}/{CACHE_FOLDER}"  # a command's cache_root when outputs_root is left as it is
D_HIDDEN = 512  # the paper's hidden size


def d_hidden_key(default: int = D_HIDDEN, help: str = "hidden size d") -> Any:
    return key(default, help, ge=1)


def datasets_key(help: str) -> Any:
    """The grey 28x28 datasets a study covers: all of them by default."""
    return key(list(get_args(GreyDataset)), help)


@dataclass
class DataConfig:
    name: Literal["mnist", "fmnist", "cifar10"] = key(UNSET, "dataset (set by data=)")
    root: str | None = key(
        None,
        "folder holding MNIST/raw, FashionMNIST/raw or cifar-10-batches-py; null: $BILIN_DATA, else the first "
        "of ./data and ../shared/data (beside the working folder, then beside bilin's source checkout) that "
        "holds the dataset; downloads go to ./data",
    )
    download: bool = key(True, "download missing files through torchvision (MD5-checked)")
    train_limit: int | None = key(None, "use the first N training images (smoke runs)", ge=1)
    test_limit: int | None = key(None, "use the first N test images", ge=1)


@dataclass
class RunOptions:
    """Keys every command has: where it runs, how much it prints, where it writes."""

    device: Device = key("auto", "where to compute; auto picks cuda when available")
    quiet: bool = key(
        False,
        "no progress on stderr (train: a plain line per epoch on stdout instead); without it, progress "
        "is a bar on a terminal and plain lines elsewhere (logs)",
    )
    outputs_root: str = key(OUTPUTS_ROOT, "runs go to <outputs_root>/<command>/DATE/TIME")

    def check(self) -> None:
        check_writable(self.outputs_root, "outputs_root")
        precision = getattr(self, "precision", "fp32")
        if self.device == "cuda" or precision == "tf32":  # only these need torch to check
            from bilin.device import check_precision, resolve_device

            check_precision(precision, resolve_device(self.device))


@dataclass
class RecipeOptions(TrainingSettings, TrackerSettings, RunOptions):
    """What to train (the model= and data= groups) and how (the training library's settings, inherited),
    and the trackers its models are also logged to (logger=)."""

    model: ModelConfig = group("bilinear", "architecture", ModelConfig)
    data: DataConfig = group("mnist", "dataset", DataConfig)

    def check(self) -> None:
        super().check()
        store = self.check_trackers(self.outputs_root)
        if store is not None:  # a local MLflow store (the default sqlite file) must take new files
            check_writable(store, "mlflow_uri", self.tracking_uri(self.outputs_root))
        if self.model.bias and self.model.name != "bilinear":
            raise UserError(
                f"model.bias=true adds biases to the bilinear MLP; model={self.model.name} does not take it"
            )


@dataclass
class ExecutorConfig:
    """Where the models a grid lacks are trained (the `executor=` group)."""

    name: Literal["inline", "local", "slurm"] = key(UNSET, "inline | local | slurm (set by executor=)")
    models_per_job: int = key(16, "models trained together in one job (one group of one size)", ge=1)
    partition: str | None = key(None, "slurm: the partition")
    gpus_per_node: int | None = key(
        None, "slurm: GPUs per job; null: none with device=cpu, else 1 (what fits a CPU or a GPU cluster)", ge=0
    )
    cpus_per_task: int = key(4, "slurm and local: CPU cores per job", ge=1)
    mem_gb: int = key(16, "slurm: memory per job in GB", ge=1)
    timeout_min: int = key(60, "slurm and local: time limit per job in minutes", ge=1)
    array_parallelism: int = key(64, "slurm: jobs of the array running at once", ge=1)
    folder: str = key("${outputs_root}/jobs", "submitit's job folders (scripts, logs, results)")

    def gpus(self, device: str) -> int:
        """GPUs each Slurm job asks for when the jobs run on `device` (the command's device= key)."""
        if self.gpus_per_node is not None:
            return self.gpus_per_node
        return 0 if device == "cpu" else 1


@dataclass
class CachedRecipe(RecipeOptions):
    """Analysis commands: models come from the model cache, trained with these keys when missing."""

    precision: CachePrecision = rekey(
        TrainingSettings,
        "precision",
        help="the model cache trains fp32 or bf16; auto: bf16 where the hardware has native bf16",
    )
    cache_root: str = key("${outputs_root}/" + CACHE_FOLDER, "the model cache: one folder per trained recipe")
    executor: ExecutorConfig = group("inline", "where missing models train", ExecutorConfig)

    def check(self) -> None:
        super().check()
        check_writable(self.cache_root, "cache_root")
        if self.executor.name != "inline":  # submitit writes its scripts, pickles and logs there
            check_writable(self.executor.folder, "executor.folder")

    def require_bilinear(self) -> None:
        if self.model.name != "bilinear" or self.model.gate is not None:
            gate = f" with gate={self.model.gate}" if self.model.gate else ""
            raise UserError(
                f"the eigendecomposition is only exact for the ungated bilinear model, not "
                f"{self.model.name}{gate}; use model=bilinear"
            )


@dataclass
class GridOptions(CachedRecipe):
    """A grid of models, hidden sizes x seeds, trained with one recipe (docs/science.md sections 5 and 6)."""

    noise: float = rekey(TrainingSettings, "noise", 0.4)
    sizes: list[int] = key([30, 50, 100, 300, 500, 1000], "hidden sizes of the grid", ge=1)
    seeds: list[int] = seed_key([0, 1, 2, 3, 4], "seeds of the grid")

    def check(self) -> None:
        super().check()
        self.require_bilinear()
        if not self.sizes or not self.seeds:
            raise UserError("the grid is empty: give at least one size and one seed")

    def require_per_model(self, count: int, name: str, what: str) -> None:
        """`name`=count things per class must exist in every model of the grid: a model of size d has d
        (d + 1 with biases, folded into [x; 1])."""
        extra = int(self.model.bias)
        small = [d for d in self.sizes if d + extra < count]
        if small:
            have = "d + 1" if extra else "d"
            raise UserError(
                f"{name}={count} is beyond {have}={small[0] + extra}: a model of size d has only {have} {what} per "
                f"class; lower {name} or drop that size"
            )

    def grid_recipes(self) -> dict[tuple[int, int], Recipe]:
        """The recipe of every (size, seed) of the grid."""
        from bilin.train.recipe import recipe_from_config

        return {(d, s): recipe_from_config(self, d_hidden=d, seed=s) for d in self.sizes for s in self.seeds}


def allow_incomplete_key() -> bool:
    """The key of commands that read a source run (run=)."""
    return key(False, "also use a run= that is not complete (failed, interrupted); run.json records it")


def source_run_status(folder: str, name: str = "run") -> str:
    """`complete` for a finished run or a model-cache entry; otherwise what its run.json says. name: the
    key that gave the folder, as errors say it."""
    path = Path(folder)
    if not path.is_dir():
        raise UserError(f"{name}={folder}: {'is a file, not a run folder' if path.exists() else 'does not exist'}")
    if (path / "recipe.json").is_file():  # a model-cache entry: written last, only when complete
        return "complete"
    record = path / "run.json"
    if not record.is_file():
        return "unknown (no run.json)"
    try:
        status = json.loads(record.read_text()).get("status")
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
        raise UserError(f"{name}={folder}: its run.json is damaged, so its status is unknown") from None
    return str(status)


def check_source_run(folder: str | None, allow_incomplete: bool, name: str = "run") -> None:
    """A source run must be complete unless the user allows otherwise; refuse it before any work. name:
    the key that gave the folder."""
    if folder is None:
        return
    status = source_run_status(folder, name)
    if status != "complete" and not allow_incomplete:
        raise UserError(
            f"{name}={folder} is {status}, not complete: its weights may be from an unfinished or diverged "
            "training; finish it (bilin train resume=...) or pass allow_incomplete=true"
        )


def check_writable(folder: str, name: str, value: str | None = None) -> None:
    """`folder` is, or can be made, a folder bilin can write in: the nearest existing folder on the
    way to it takes a new entry. Tried, not guessed from permission bits: root passes those on a
    read-only mount, and /proc or /sys refuse what their bits allow. `value`: the key's value as the
    user gave it, when the folder is derived from it (a log file's folder)."""
    shown = f"{name}={folder if value is None else value}"
    path = Path(folder).expanduser().absolute()
    existing = path
    try:
        while not existing.exists():
            existing = existing.parent
    except OSError as exc:  # e.g. a name longer than the filesystem allows
        raise UserError(f"{shown} cannot be written: {exc.strerror or exc}") from exc
    if not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"{shown} cannot be written: {existing} is not a writable folder")
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".bilin-write-check-", dir=existing))
    except OSError as exc:
        raise UserError(f"{shown} cannot be written: {existing} refuses new entries ({exc.strerror or exc})") from exc

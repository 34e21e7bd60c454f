"""`bilin diff`: what changed between two bilinear models, exactly: per class the eigendecomposition of
M_A - M_B, its top directions as images, the functional distance E[(f_A - f_B)^2] and the share of it the
top-k directions explain (bilin/analysis/model_diff.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bilin.errors import UserError
from bilin.running.command import Command, CommandResult, TensorFile
from bilin.settings.options import DataConfig, RunOptions, allow_incomplete_key, check_source_run
from bilin.settings.schema import key, rekey

if TYPE_CHECKING:
    import torch

    from bilin.analysis.model_diff import ModelDiff
    from bilin.running.lifecycle import RunContext

SIDES = ("run", "other")  # the keys naming model A and model B


@dataclass
class DiffConfig(RunOptions):
    run: str | None = key(None, "model A: a train run folder or a model-cache entry (an ungated bilinear MLP)")
    other: str | None = key(None, "model B, the same way (any hidden size, with or without biases): D = M_A − M_B")
    allow_incomplete: bool = allow_incomplete_key()
    components: int = key(
        6, "top directions of D per class (by |λ|) drawn, and the share explained for k up to it", ge=1
    )
    data_root: str | None = rekey(DataConfig, "root")
    download: bool = rekey(DataConfig, "download")

    def check(self) -> None:
        super().check()
        missing = [name for name in SIDES if getattr(self, name) is None]
        if missing:
            raise UserError(
                f"give {' and '.join(f'{m}=<train run or cache folder>' for m in missing)}: diff compares two models"
            )
        for name in SIDES:
            check_source_run(getattr(self, name), self.allow_incomplete, name)


@dataclass
class Side:
    """One of the two models and what its folder says about it."""

    model: torch.nn.Module
    input_shape: tuple[int, ...]
    classes: int
    dataset: str
    folder: str

    @property
    def biased(self) -> bool:
        return self.model.head.bias is not None


def _side(name: str, folder: str) -> Side:
    from bilin.analysis.decompose import bilinear_weights
    from bilin.data import DATASETS
    from bilin.models.checkpoint import load_model, load_spec, model_dataset

    try:
        spec, model = load_spec(folder), load_model(folder)
        bilinear_weights(model)  # an ungated bilinear MLP, or one line saying what it is
    except UserError as exc:
        raise UserError(f"{name}={folder}: {exc}") from exc
    dataset = model_dataset(folder)
    if dataset not in DATASETS:
        raise UserError(f"{name}={folder}: its model.json does not say which dataset the model was trained on")
    return Side(model, tuple(spec.input_shape), spec.d_output, dataset, folder)


def main(cfg: DiffConfig, ctx: RunContext) -> CommandResult:
    import math
    import time
    from pathlib import Path

    import torch

    from bilin.analysis.model_diff import model_diff
    from bilin.analysis.quadratic_moments import InputLaw
    from bilin.data import load_dataset
    from bilin.figures.diff import diff_figures
    from bilin.settings.options import source_run_status

    a, b = _side("run", cfg.run), _side("other", cfg.other)
    shapes = {s.input_shape for s in (a, b)}
    if len(shapes) > 1:
        raise UserError(
            f"run= reads {'x'.join(map(str, a.input_shape))} images, other= {'x'.join(map(str, b.input_shape))}: "
            "only models of the same input can be compared"
        )
    if a.classes != b.classes:
        raise UserError(f"run= has {a.classes} classes, other= {b.classes}: the forms are compared class by class")
    inputs = math.prod(a.input_shape)
    directions = inputs + int(a.biased or b.biased)  # with biases, D lives in [x; 1]
    if cfg.components > directions:
        raise UserError(f"components={cfg.components}: D has only {directions} directions per class")
    try:  # the data law: model A's training images
        data = load_dataset(a.dataset, cfg.data_root, cfg.download)
    except UserError as exc:  # its hints name the data group's keys; diff's are data_root= and download=
        raise UserError(str(exc).replace("data.root", "data_root").replace("data.download", "download")) from exc
    x, y = data.train_x.flatten(1).double() / 255, data.train_y
    if x.shape[1] != inputs:
        raise UserError(f"{a.dataset}'s images have {x.shape[1]} pixels, the models read {inputs}")
    class_means = torch.stack([x[y == c].mean(0) for c in range(a.classes)])
    laws = [InputLaw.standard(inputs), InputLaw.of_data(x)]
    started = time.perf_counter()
    ctx.stage("diff: eigendecomposition of M_A − M_B and the exact moments")
    diff = model_diff(a.model, b.model, laws, data.classes, cfg.components, sign_images=class_means)
    seconds = time.perf_counter() - started
    pair = f"A = {Path(a.folder).name}, B = {Path(b.folder).name}"
    metadata = {"run": a.folder, "other": b.folder, "constant": str(diff.constant).lower(), "order": "|λ| descending"}
    return CommandResult(
        tensors={"directions.safetensors": _tensor_file(diff, metadata)},
        figures=diff_figures(diff, a.input_shape, pair, a.dataset),
        headline=diff.headline(),
        record={
            "data": {a.dataset: data.provenance()},
            "other_run": {"path": b.folder, "status": source_run_status(b.folder, "other")},
            "datasets": {"run": a.dataset, "other": b.dataset, "data_law": a.dataset},
            "components": cfg.components,
            "diff_seconds": seconds,
        },
    ).add_tables(diff)


def _tensor_file(diff: ModelDiff, metadata: dict[str, str]) -> TensorFile:
    return TensorFile(
        {"directions": diff.directions.contiguous(), "eigenvalues": diff.top_values.contiguous()}, metadata
    )


COMMAND = Command(
    name="diff",
    summary="What changed between two bilinear models: eigenvectors of M_A − M_B per class, the exact distance.",
    schema=DiffConfig,
    main=main,
    panel="Read the weights",
    examples=(
        "bilin diff run=outputs/train/DATE/TIME other=outputs/train/DATE2/TIME2",
        "bilin diff run=outputs/cache/bilinear-mnist-d512-n0-s0-… other=outputs/cache/bilinear-mnist-d512-n0.5-s0-…",
    ),
    notes="Both models must read the same input; sizes may differ. The distance E[(f_A − f_B)²] is exact under "
    "standard Gaussian inputs and under the training images' mean and covariance (model A's dataset).",
)
